"""The OpenTelemetry bridge under threads that switch as often as CPython allows.

Two campaigns, each with the interpreter switching threads every microsecond
(``sys.setswitchinterval(1e-6)``): many fresh traces whose first spans come
from 8 threads at once (the "new trace" reset in ``on_start`` raced there),
and 8 threads recording many mixed Harn and OpenTelemetry spans into one
trace. No span may end up under another thread's span, or as a root.
"""

from __future__ import annotations

import contextvars
import random
import sys
import threading
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.trace import Tracer

from pytest_harn_trace import (
    SpanCollector,
    is_tracing_enabled,
    set_tracing_enabled,
    span,
    use_collector,
)
from pytest_harn_trace.otel.bridge import configure_capture, tracer_provider

THREADS = 8


@pytest.fixture
def fast_switching() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


@pytest.fixture
def tracer() -> Tracer:
    return tracer_provider().get_tracer("stress")


def run_threads(collector: SpanCollector, work: Callable[[int], None]) -> None:
    """Run ``work(i)`` on ``THREADS`` threads, each in a copy of a context bound to it."""
    with use_collector(collector):
        contexts = [contextvars.copy_context() for _ in range(THREADS)]
    was_enabled = is_tracing_enabled()
    set_tracing_enabled(True)
    try:
        threads = [
            threading.Thread(target=context.run, args=(work, index))
            for index, context in enumerate(contexts)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        set_tracing_enabled(was_enabled)


def misparented(collector: SpanCollector) -> list[str]:
    """Each span whose parent is not the span of its own thread named before ``-``."""
    spans = collector.spans()
    assert collector.open_spans() == []
    name_of = {done.span_id: done.name for done in spans}
    wrong = []
    for done in spans:
        owner, _, rest = done.name.partition("-")
        if not rest:  # a thread's own pipeline span: a root
            if done.parent_id is not None:
                wrong.append(f"{done.name} under {name_of.get(done.parent_id)}")
            continue
        parent = name_of.get(done.parent_id) if done.parent_id is not None else None
        if parent is None or parent.partition("-")[0] != owner:
            wrong.append(f"{done.name} under {parent}")
    return wrong


def test_the_first_spans_of_a_trace_from_8_threads_at_once_keep_their_parents(
    fast_switching, tracer
):
    wrong: list[str] = []
    for _ in range(500):
        collector = SpanCollector()
        configure_capture(collector)
        barrier = threading.Barrier(THREADS)

        def work(index: int, barrier: threading.Barrier = barrier) -> None:
            with span("pipeline", f"t{index}"):
                barrier.wait()
                with tracer.start_as_current_span(f"t{index}-otel"):
                    pass

        run_threads(collector, work)
        assert len(collector.spans()) == 2 * THREADS
        wrong += misparented(collector)
    assert wrong == []


def test_8_threads_recording_mixed_spans_into_one_trace_keep_their_parents(
    fast_switching, tracer
):
    wrong: list[str] = []
    for round_index in range(6):
        collector = SpanCollector()
        configure_capture(collector)
        barrier = threading.Barrier(THREADS)

        def work(
            index: int, seed: int = round_index, barrier: threading.Barrier = barrier
        ) -> None:
            choose = random.Random(seed * THREADS + index).random
            with span("pipeline", f"t{index}"):
                barrier.wait()
                for step in range(60):
                    name = f"t{index}-{step}"
                    if choose() < 0.5:
                        with tracer.start_as_current_span(name), span("step", f"{name}-inner"):
                            pass
                    else:
                        with span("step", name), tracer.start_as_current_span(f"{name}-otel"):
                            pass

        run_threads(collector, work)
        assert len(collector.spans()) == THREADS * (1 + 60 * 2)
        wrong += misparented(collector)
    assert wrong == []

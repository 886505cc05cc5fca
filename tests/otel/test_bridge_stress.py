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
from tests.unit.test_thread_stress import tiny_switch_interval

THREADS = 8


@pytest.fixture
def fast_switching() -> Iterator[None]:
    with tiny_switch_interval():
        yield


@pytest.fixture
def tracer() -> Tracer:
    return tracer_provider().get_tracer("stress")


def run_trace(work: Callable[[int, threading.Barrier], None]) -> SpanCollector:
    """Run ``work(i, barrier)`` on ``THREADS`` threads in a fresh trace; return its collector.

    Each thread runs in a copy of a context bound to the collector, and all
    of them wait at the barrier, once, so their next spans start at once.
    """
    collector = SpanCollector()
    configure_capture(collector)
    barrier = threading.Barrier(THREADS)
    with use_collector(collector):
        contexts = [contextvars.copy_context() for _ in range(THREADS)]
    was_enabled = is_tracing_enabled()
    set_tracing_enabled(True)
    try:
        threads = [
            threading.Thread(target=context.run, args=(work, index, barrier))
            for index, context in enumerate(contexts)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        set_tracing_enabled(was_enabled)
    return collector


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
    def work(index: int, barrier: threading.Barrier) -> None:
        with span("pipeline", f"t{index}"):
            barrier.wait()
            with tracer.start_as_current_span(f"t{index}-otel"):
                pass

    wrong: list[str] = []
    for _ in range(500):
        collector = run_trace(work)
        assert len(collector.spans()) == 2 * THREADS
        wrong += misparented(collector)
    assert wrong == []


def test_8_threads_recording_mixed_spans_into_one_trace_keep_their_parents(
    fast_switching, tracer
):
    steps = 60

    def work(index: int, barrier: threading.Barrier) -> None:
        choose = random.Random(index).random
        with span("pipeline", f"t{index}"):
            barrier.wait()
            for step in range(steps):
                name = f"t{index}-{step}"
                if choose() < 0.5:
                    with tracer.start_as_current_span(name), span("step", f"{name}-inner"):
                        pass
                else:
                    with span("step", name), tracer.start_as_current_span(f"{name}-otel"):
                        pass

    wrong: list[str] = []
    for _ in range(6):
        collector = run_trace(work)
        assert len(collector.spans()) == THREADS * (1 + steps * 2)
        wrong += misparented(collector)
    assert wrong == []

"""Stress tests: many threads with a 1 µs switch interval hammer the same spans.

Each test runs for at most about ``SECONDS`` seconds: the workers stop early
when the deadline passes, and the assertions hold for whatever they did.
Before the fixes they pin, each of them failed on every run.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pytest_harn_trace import span, timed

THREADS = 8
SECONDS = 2.0


@contextmanager
def tiny_switch_interval() -> Iterator[None]:
    """Let the interpreter switch threads every microsecond, as often as it can."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def hammer(work: Callable[[int, Callable[[], bool]], None], threads: int = THREADS) -> list[str]:
    """Run ``work(index, time_is_up)`` in ``threads`` threads at once; return their errors."""
    errors: list[str] = []
    barrier = threading.Barrier(threads)
    deadline = time.monotonic() + SECONDS

    def time_is_up() -> bool:
        return time.monotonic() > deadline

    def run(index: int) -> None:
        try:
            barrier.wait()
            work(index, time_is_up)
        except BaseException as exc:
            errors.append(f"thread {index}: {type(exc).__name__}: {exc}")

    workers = [threading.Thread(target=run, args=(index,)) for index in range(threads)]
    with tiny_switch_interval():
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    return errors


# -- issue 7, item 1: a span() scope shared by threads ---------------------------------------


def test_a_span_scope_shared_by_threads_ends_each_threads_own_span(tracing):
    scope = span("fn_call", "shared")
    pairs: list[tuple[int, int]] = []

    def work(index, time_is_up):
        for n in range(3_000):
            with scope as outer, span("tool_call", f"inner-{index}") as inner:
                pairs.append((outer.span_id, inner.span_id))
            if n % 100 == 0 and time_is_up():
                return

    assert hammer(work) == []
    assert tracing.open_spans() == []
    by_id = {s.span_id: s for s in tracing.spans()}
    assert len(by_id) == 2 * len(pairs)
    misplaced = [(outer, inner) for outer, inner in pairs if by_id[inner].parent_id != outer]
    assert misplaced == []
    assert {by_id[outer].name for outer, _ in pairs} == {"shared"}


def test_a_timed_scope_reentered_by_threads_ends_each_threads_own_spans(tracing_off):
    scope = timed("shared")
    pairs: list[tuple[int, int]] = []

    def work(index, time_is_up):
        for n in range(3_000):
            with scope as outer, scope as inner:
                pairs.append((outer.span_id, inner.span_id))
            if n % 100 == 0 and time_is_up():
                return

    assert hammer(work) == []
    assert tracing_off.open_spans() == []
    by_id = {s.span_id: s for s in tracing_off.spans()}
    assert len(by_id) == 2 * len(pairs)
    assert [(o, i) for o, i in pairs if by_id[i].parent_id != o] == []
    assert {s.metadata["status"] for s in by_id.values()} == {"ok"}

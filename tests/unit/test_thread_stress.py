"""Stress tests: many threads with a 1 µs switch interval hammer the same spans.

Each test runs for at most about ``SECONDS`` seconds: the workers stop early
when the deadline passes, and the assertions hold for whatever they did.
Before the fixes they pin, each of them failed on every run.

CPython with the GIL switches threads only at calls and loop jumps, so a few
tests also make every allocation of a container run a collection whose
callback yields the GIL: a switch wherever a free-threaded build could
interleave two threads.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from pytest_harn_trace import (
    Span,
    current_span_id,
    span,
    span_attach_metadata_if_absent,
    span_end,
    span_record_event,
    span_set_metadata,
    span_start,
    take_spans,
    timed,
)

THREADS = 8
SECONDS = 1.0
WRITERS = 3


@contextmanager
def tiny_switch_interval() -> Iterator[None]:
    """Let the interpreter switch threads every microsecond, as often as it can."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _yield_the_gil(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        time.sleep(0)


@contextmanager
def switch_at_every_allocation() -> Iterator[None]:
    """Make each new container collect the youngest generation and yield the GIL."""
    thresholds = gc.get_threshold()
    gc.callbacks.append(_yield_the_gil)
    gc.set_threshold(1)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.callbacks.remove(_yield_the_gil)


def hammer(
    work: Callable[[int, Callable[[], bool]], None],
    threads: int = THREADS,
    *,
    switch_at_allocations: bool = False,
) -> list[str]:
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
    with tiny_switch_interval(), ExitStack() as stack:
        if switch_at_allocations:
            stack.enter_context(switch_at_every_allocation())
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


# -- issue 7, item 2: a Span returned by end() never changes ---------------------------------


def race_writers_against_end(collector, write):
    """End spans in one thread while ``WRITERS`` threads ``write(span_id, n)`` to the newest.

    Returns the ``(span, metadata size when end returned it)`` of every span.
    """
    newest = [0]
    ended: list[tuple[object, int]] = []

    def work(index, time_is_up):
        if index == 0:
            for n in range(1_000_000):
                span_id = collector.start("step", "x")
                newest[0] = span_id
                done = collector.end(span_id)
                ended.append((done, len(done.metadata)))
                if n % 100 == 0 and time_is_up():
                    break
            newest[0] = -1
            return
        n = 0
        while newest[0] != -1:
            span_id = newest[0]
            if span_id > 0:
                write(span_id, n)
            n += 1

    assert hammer(work, threads=WRITERS + 1) == []
    return ended


def test_metadata_set_while_a_span_ends_never_reaches_the_returned_span(tracing):
    ended = race_writers_against_end(
        tracing, lambda span_id, n: tracing.set_metadata(span_id, f"k{n}", n)
    )
    grown = [done.span_id for done, size in ended if len(done.metadata) != size]
    assert grown == []
    assert tracing.spans() == [done for done, _ in ended]


def test_metadata_attached_while_a_span_ends_never_reaches_the_returned_span(tracing):
    ended = race_writers_against_end(
        tracing, lambda span_id, n: tracing.attach_metadata_if_absent(span_id, f"k{n}", n)
    )
    grown = [done.span_id for done, size in ended if len(done.metadata) != size]
    assert grown == []


def test_first_events_recorded_by_threads_at_once_are_all_kept(tracing):
    # The threads record the first event of each span together, in step.
    span_ids = [tracing.start("step", f"busy-{n}") for n in range(1_000)]
    attached: list[bool] = []
    in_step = threading.Barrier(4)

    def work(index, time_is_up):
        for n, span_id in enumerate(span_ids):
            in_step.wait()
            attached.append(tracing.record_event(span_id, f"e{index}"))
            if n % 100 == 0 and time_is_up():
                in_step.abort()  # the others stop at their next step
                return

    errors = hammer(work, threads=4, switch_at_allocations=True)
    assert [error for error in errors if "BrokenBarrierError" not in error] == []
    assert set(attached) == {True}
    recorded = sum(len(tracing.end(span_id).events) for span_id in span_ids)
    assert recorded == len(attached)


# -- the whole campaign at once ---------------------------------------------------------------


def test_threads_mixing_every_way_of_recording_spans_keep_the_trace_consistent(tracing):
    # Shared scopes and decorators, module functions, metadata and events from
    # other threads, late metadata on completed spans, and takes, all at once.
    shared = span("fn_call", "shared")
    user_timing = timed("timed")
    taken: list[Span] = []
    returned: list[tuple[Span, int, int]] = []
    expected_parent: list[tuple[int, int]] = []
    newest = [0]

    @span("tool_call", "decorated")
    def decorated(index: int) -> int:
        span_set_metadata(current_span_id() or 0, "index", index)
        return current_span_id() or 0

    def keep(done: Span | None) -> None:
        assert done is not None
        returned.append((done, len(done.metadata), len(done.events)))

    def work(index, time_is_up):
        for n in range(100_000):
            role = (index + n) % 5
            if role <= 1:
                with shared as outer, user_timing as inner:
                    inner.set("n", n)
                    inner.event("tick")
                    newest[0] = inner.span_id
                expected_parent.append((inner.span_id, outer.span_id))
            elif role == 2:
                outer_id = span_start("pipeline", f"module-{index}")
                inner_id = decorated(index)
                expected_parent.append((inner_id, outer_id))
                keep(span_end(outer_id))
            elif role == 3:
                target = newest[0]
                span_set_metadata(target, f"late-{index}", n)
                span_record_event(target, f"from-{index}")
                span_attach_metadata_if_absent(max(target - 1, 1), "attached", index)
            else:
                span_id = span_start("step", "short")
                span_set_metadata(span_id, "n", n)
                keep(span_end(span_id))
            if n % 50 == 0:
                if index == 0:
                    taken.extend(take_spans())
                if time_is_up():
                    return

    assert hammer(work) == []
    taken.extend(take_spans())
    assert tracing.open_spans() == []
    ids = [s.span_id for s in taken]
    assert len(ids) == len(set(ids))
    by_id = {s.span_id: s for s in taken}
    assert sorted(ids) == list(range(1, max(ids) + 1))
    assert [(i, p) for i, p in expected_parent if by_id[i].parent_id != p] == []
    changed = [
        done.span_id
        for done, metadata, events in returned
        if (len(done.metadata), len(done.events)) != (metadata, events)
    ]
    assert changed == []

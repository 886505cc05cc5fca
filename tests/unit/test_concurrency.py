from __future__ import annotations

import asyncio
import contextvars
import threading

from pytest_harn_trace import (
    current_span_id,
    peek_spans,
    span,
    span_end,
    span_set_metadata,
    span_start,
    take_spans,
)

THREADS = 8
SPANS_PER_THREAD = 2_000


def parents(collector):
    return {s.name: s.parent_id for s in collector.spans()}


# -- asyncio ------------------------------------------------------------------------


def test_gathered_tasks_parent_under_the_span_active_where_they_were_created(tracing):
    async def worker(name):
        own = span_start("fn_call", name)
        await asyncio.sleep(0)  # let the siblings start their spans in between
        child = span_start("tool_call", f"{name}.child")
        await asyncio.sleep(0)
        assert current_span_id() == child
        span_end(child)
        await asyncio.sleep(0)
        assert current_span_id() == own
        span_end(own)

    async def main():
        root = span_start("pipeline", "root")
        await asyncio.gather(*(worker(f"w{i}") for i in range(5)))
        assert current_span_id() == root
        span_end(root)

    asyncio.run(main())
    ids = {s.name: s.span_id for s in tracing.spans()}
    got = parents(tracing)
    for i in range(5):
        assert got[f"w{i}"] == ids["root"]
        assert got[f"w{i}.child"] == ids[f"w{i}"]
    assert got["root"] is None
    assert len(got) == 11


def test_tasks_created_under_different_spans_keep_their_own_parent(tracing):
    async def leaf(name, release):
        await release.wait()
        with span("tool_call", name):
            await asyncio.sleep(0)

    async def main():
        release = asyncio.Event()
        tasks = []
        with span("pipeline", "a"):
            tasks.append(asyncio.create_task(leaf("under-a", release)))
            with span("pipeline", "b"):
                tasks.append(asyncio.create_task(leaf("under-b", release)))
                tasks.append(asyncio.create_task(leaf("under-b-too", release)))
                await asyncio.sleep(0)
                release.set()
                await asyncio.gather(*tasks)

    asyncio.run(main())
    ids = {s.name: s.span_id for s in tracing.spans()}
    got = parents(tracing)
    assert got["under-a"] == ids["a"]
    assert got["under-b"] == ids["b"]
    assert got["under-b-too"] == ids["b"]  # not its sibling "under-b"


def test_task_starting_after_its_creating_span_ended_parents_under_the_next_open_one(tracing):
    # As in the seed, a span that has ended is never the parent of a new span:
    # the task skips it and nests under the nearest span still open.
    async def leaf():
        await asyncio.sleep(0)
        span_end(span_start("tool_call", "late"))

    async def main():
        with span("pipeline", "outer"):
            with span("fn_call", "short"):
                task = asyncio.create_task(leaf())
            await task

    asyncio.run(main())
    ids = {s.name: s.span_id for s in tracing.spans()}
    assert parents(tracing)["late"] == ids["outer"]


def test_span_ended_by_another_task_does_not_break_parents(tracing):
    async def main():
        root = span_start("pipeline", "root")
        handoff = span_start("fn_call", "handoff")

        async def closer():
            assert current_span_id() == handoff
            span_end(handoff)
            assert current_span_id() == root
            span_end(span_start("tool_call", "in-closer"))

        await asyncio.create_task(closer())
        # This context still had "handoff" on its stack; it must not parent under it.
        assert current_span_id() == root
        span_end(span_start("tool_call", "after"))
        span_end(root)

    asyncio.run(main())
    ids = {s.name: s.span_id for s in tracing.spans()}
    got = parents(tracing)
    assert got["handoff"] == ids["root"]
    assert got["in-closer"] == ids["root"]
    assert got["after"] == ids["root"]


def test_span_started_in_a_task_and_ended_by_its_parent(tracing):
    async def main():
        root = span_start("pipeline", "root")

        async def opener():
            return span_start("fn_call", "from-task")

        opened = await asyncio.create_task(opener())
        assert current_span_id() == root  # the task's span never became active here
        span_end(opened)
        span_end(span_start("tool_call", "next"))
        span_end(root)

    asyncio.run(main())
    ids = {s.name: s.span_id for s in tracing.spans()}
    got = parents(tracing)
    assert got["from-task"] == ids["root"]
    assert got["next"] == ids["root"]


# -- threads ------------------------------------------------------------------------------


def test_spans_from_many_threads_all_land_with_unique_ids(tracing):
    barrier = threading.Barrier(THREADS)
    errors = []

    def worker(index):
        try:
            barrier.wait()
            for n in range(SPANS_PER_THREAD // 2):
                outer = span_start("fn_call", f"t{index}")
                inner = span_start("tool_call", f"t{index}")
                span_set_metadata(inner, "n", n)
                done = span_end(inner)
                if done is None or done.parent_id != outer:
                    errors.append((index, n, done))
                span_end(outer)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    spans = peek_spans()
    total = THREADS * SPANS_PER_THREAD
    assert len(spans) == total
    assert sorted(s.span_id for s in spans) == list(range(1, total + 1))
    assert tracing.open_spans() == []
    by_id = {s.span_id: s for s in spans}
    for s in spans:
        if s.kind == "tool_call":
            parent = by_id[s.parent_id]
            assert parent.kind == "fn_call"
            assert parent.name == s.name  # the same thread's outer span
        else:
            assert s.parent_id is None  # threads start with an empty context
    for index in range(THREADS):
        assert sum(1 for s in spans if s.name == f"t{index}") == SPANS_PER_THREAD


def test_take_spans_while_threads_write_loses_nothing(tracing):
    total = 4 * 1_000
    taken = []
    done = threading.Event()

    def writer():
        for _ in range(1_000):
            span_end(span_start("fn_call", "w"))

    def taker():
        while not done.is_set():
            taken.extend(take_spans())

    take_thread = threading.Thread(target=taker)
    take_thread.start()
    writers = [threading.Thread(target=writer) for _ in range(4)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    take_thread.join()
    taken.extend(take_spans())
    assert sorted(s.span_id for s in taken) == list(range(1, total + 1))


def test_thread_run_in_a_copied_context_parents_under_the_callers_span(tracing):
    seen = []

    def work():
        with span("tool_call", "in-thread") as handle:
            seen.append(handle.span_id)

    with span("pipeline", "root") as root:
        context = contextvars.copy_context()
        thread = threading.Thread(target=context.run, args=(work,))
        thread.start()
        thread.join()
    got = parents(tracing)
    assert got["in-thread"] == root.span_id


def test_span_ended_in_another_thread_does_not_break_parents(tracing):
    root = span_start("pipeline", "root")
    handed = span_start("fn_call", "handed-off")
    results = []
    thread = threading.Thread(target=lambda: results.append(span_end(handed)))
    thread.start()
    thread.join()
    (ended,) = results
    assert ended is not None
    assert ended.parent_id == root
    assert current_span_id() == root
    after = span_start("tool_call", "after")
    assert span_end(after).parent_id == root
    assert span_end(root).parent_id is None

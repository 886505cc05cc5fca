"""Siblings whose order is the scheduler's: found, written in one order, matched in any order."""

from __future__ import annotations

import asyncio
import contextvars
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pytest_harn_trace import (
    SpanCollector,
    TraceCapture,
    assert_span_tree,
    set_tracing_enabled,
    span,
    use_collector,
)
from pytest_harn_trace.assertions.concurrency import canonical_dicts, concurrent_groups


def tool(name: str, seconds: float) -> str:
    with span("tool_call", name):
        time.sleep(seconds)
    return name


def pool_map_run() -> None:
    with span("pipeline", "main"):
        with span("step", "plan"):
            pass
        names, delays = ["a", "b", "c"], [0.003, 0.001, 0.002]
        contexts = [contextvars.copy_context() for _ in names]
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda ctx, n, d: ctx.run(tool, n, d), contexts, names, delays))
        with span("step", "report"):
            pass


async def to_thread_run() -> None:
    with span("pipeline", "main"):
        await asyncio.gather(
            asyncio.to_thread(tool, "slow", 0.003), asyncio.to_thread(tool, "fast", 0.001)
        )
        with span("llm_call", "model"):
            pass


async def tasks_around_threads_run() -> None:
    """pydantic-ai's shape: a task per tool, the tool's work in a thread, then the next call."""

    async def call(name: str, seconds: float) -> None:
        with span("tool_call", name):
            await asyncio.to_thread(time.sleep, seconds)

    with span("pipeline", "agent"):
        with span("llm_call", "model"):
            pass
        await asyncio.gather(call("tool_a", 0.002), call("tool_b", 0.001))
        with span("llm_call", "model"):
            pass


def capture(run: object) -> TraceCapture:
    collector = SpanCollector()
    with use_collector(collector):
        set_tracing_enabled(True)
        try:
            if asyncio.iscoroutinefunction(run):
                asyncio.run(run())
            else:
                run()  # type: ignore[operator]
        finally:
            set_tracing_enabled(False)
    return TraceCapture(collector, durations=False)


POOL_TEXT = """\
Trace: 6 spans

pipeline main
  step plan
  tool_call a
  tool_call b
  tool_call c
  step report
"""


def test_pool_map_siblings_are_written_in_one_order_on_every_run() -> None:
    texts = {capture(pool_map_run).snapshot_text() for _ in range(20)}
    assert texts == {POOL_TEXT}


def test_to_thread_siblings_are_written_in_one_order_on_every_run() -> None:
    texts = {capture(to_thread_run).snapshot_text() for _ in range(20)}
    assert texts == {
        "Trace: 4 spans\n\npipeline main\n  tool_call fast\n  tool_call slow\n  llm_call model\n"
    }


def test_tool_tasks_are_written_in_one_order_and_the_next_call_after_them() -> None:
    texts = {capture(tasks_around_threads_run).snapshot_text() for _ in range(20)}
    assert texts == {
        "Trace: 5 spans\n\npipeline agent\n  llm_call model\n  tool_call tool_a\n"
        "  tool_call tool_b\n  llm_call model\n"
    }


def test_groups_hold_only_the_siblings_that_ran_concurrently() -> None:
    trace = capture(tasks_around_threads_run)
    spans = trace.spans
    groups = concurrent_groups(spans, trace.collector.start_order())
    assert [sorted(spans[position].name for position in group) for group in groups] == [
        ["tool_a", "tool_b"]
    ]


@pytest.mark.parametrize("first, second", [("tool_a", "tool_b"), ("tool_b", "tool_a")])
def test_a_pasted_tree_matches_concurrent_siblings_in_either_order(
    first: str, second: str
) -> None:
    for _ in range(5):
        trace = capture(tasks_around_threads_run)
        trace.assert_tree(
            f"""
            pipeline agent
              llm_call model
              tool_call {first}
              tool_call {second}
              llm_call model
            """
        )


def test_the_call_after_the_gathered_tools_keeps_its_place() -> None:
    trace = capture(tasks_around_threads_run)
    with pytest.raises(AssertionError, match="span tree mismatch"):
        trace.assert_tree(
            """
            pipeline agent
              llm_call model
              llm_call model
              tool_call tool_a
              tool_call tool_b
            """
        )


def test_sequential_siblings_swapped_still_fail(tracing: SpanCollector) -> None:
    with span("pipeline", "main"):
        with span("step", "a"):
            pass
        with span("step", "b"):
            pass
    assert concurrent_groups(tracing.spans(), tracing.start_order()) == []
    assert_span_tree(tracing, "pipeline main\n  step a\n  step b")
    with pytest.raises(AssertionError, match="span tree mismatch"):
        assert_span_tree(tracing, "pipeline main\n  step b\n  step a")


def test_a_sequential_trace_records_no_start(tracing: SpanCollector) -> None:
    with span("pipeline", "main"):
        for index in range(3):
            with span("step", f"s{index}"), span("tool_call", "t"):
                pass
    assert tracing.start_order() == {}


def test_overlapping_spans_of_one_thread_are_concurrent(tracing: SpanCollector) -> None:
    async def work(name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        with span("tool_call", name):
            await asyncio.sleep(0.002)

    async def main() -> None:
        with span("pipeline", "main"):
            await asyncio.gather(work("x", 0), work("y", 0.001))

    asyncio.run(main())
    spans = tracing.spans()
    assert [
        [spans[position].name for position in group]
        for group in concurrent_groups(spans, tracing.start_order())
    ] == [["x", "y"]]


def test_placeholders_and_ids_follow_the_written_order() -> None:
    dicts = [
        {"trace_id": "trace_1", "span_id": 3, "parent_id": 1, "kind": "tool_call",
         "name": "b", "metadata": {"call": "<tool_call_id_1>"}},
        {"trace_id": "trace_1", "span_id": 2, "parent_id": 1, "kind": "tool_call",
         "name": "a", "metadata": {"call": "<tool_call_id_2>"}},
        {"trace_id": "trace_1", "span_id": 1, "parent_id": None, "kind": "pipeline",
         "name": "main", "links": [], "metadata": {"calls": ["<tool_call_id_2>"]}},
    ]  # fmt: skip
    written = canonical_dicts(dicts, [[0, 1]])
    assert [(data["name"], data["span_id"], data["parent_id"]) for data in written] == [
        ("a", 2, 1),
        ("b", 3, 1),
        ("main", 1, None),
    ]
    assert [data["metadata"] for data in written] == [
        {"call": "<tool_call_id_1>"},
        {"call": "<tool_call_id_2>"},
        {"calls": ["<tool_call_id_1>"]},
    ]

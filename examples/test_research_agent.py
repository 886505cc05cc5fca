"""The demo: every feature of pytest-harn-trace, exercised on the agent in ``research_agent.py``.

Read it top to bottom: looking spans up, the mock clock, tree assertions (text
and structured), the error paths, snapshots, the marker, and async tests.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import timedelta
from unittest.mock import ANY

import pytest
from dirty_equals import IsInt, IsPositiveFloat, IsStr
from research_agent import FLAKY_URL, LARGE, MINI, Answer, ResearchAgent, ToolError, rank_sources
from syrupy.assertion import SnapshotAssertion

from pytest_harn_trace import (
    MockClock,
    RealClockError,
    SpanKind,
    TraceCapture,
    assert_span_tree,
    format_summary,
    meta,
    node,
    run_virtual,
    span,
)

QUESTION = "What is the GIL?"


def ask(agent: ResearchAgent, expression: str | None = None) -> Answer:
    """Run the async agent from a sync test, on virtual time: ``asyncio.run`` whose
    loop clock is the mock clock, so the agent's sleeps take no real time."""
    return run_virtual(agent.answer(QUESTION, expression=expression))


# -- the trace fixture: spans, find, one, roots ------------------------------------


def test_trace_holds_the_spans_the_code_recorded(trace: TraceCapture, agent: ResearchAgent) -> None:
    answer = ask(agent)

    assert answer.model == LARGE
    assert len(trace.spans) == 11  # completed spans, in completion order
    assert trace.spans[-1].kind is SpanKind.PIPELINE  # the root ends last
    assert trace.open_spans == []

    pipeline = trace.one(SpanKind.PIPELINE)  # exactly one, or an error listing what is there
    assert pipeline.metadata["model"] == LARGE
    assert len(trace.find("tool_call", "fetch")) == 3
    assert trace.find(status="error") == trace.find("tool_call", "fetch", url=FLAKY_URL)
    large = trace.one("llm_call", model=LARGE)  # metadata criteria, by the canonical keys
    assert large.metadata[meta.COST_USD] == 0.00014

    [root] = trace.roots  # the tree format_summary draws
    assert [child.name for child in root.children] == [
        "tool_mount", "search", "fetch_sources", "rank_sources",
        MINI, "model_route", LARGE,
    ]
    first = trace.to_dicts()[0]  # Harn's dict layout
    assert (first["kind"], first["parent_id"]) == ("tool_mount", pipeline.span_id)
    stable = trace.to_dicts(normalize=True)[0]  # what trace_json_snapshot stores
    assert stable["trace_id"] == "trace_1"
    assert "start_ms" not in stable  # real-clock offset: dropped


def test_one_explains_what_it_found(trace: TraceCapture, agent: ResearchAgent) -> None:
    ask(agent)

    with pytest.raises(AssertionError, match=r"found 3:\n  span \d+: tool_call fetch"):
        trace.one("tool_call", "fetch")


def test_open_spans_and_clear(trace: TraceCapture, agent: ResearchAgent) -> None:
    ask(agent)
    trace.clear()  # forget the spans so far; only what follows counts

    with span("step", "review") as review:
        [still_open] = trace.open_spans
        assert (still_open.span_id, still_open.kind, still_open.name) == (
            review.span_id,
            SpanKind.STEP,
            "review",
        )
        review.set("verdict", "ok")
    assert trace.summary(durations=False) == 'Trace: 1 spans\n\nstep review (verdict="ok")'


# -- the mock clock -------------------------------------------------------------------


def test_durations_come_from_the_mock_clock(trace: TraceCapture, agent: ResearchAgent) -> None:
    ask(agent)

    # The three fetches (50, 30 and 20 ms) overlap: the fan-out takes the longest one.
    assert trace.one("parallel").duration_ms == 50
    mini = trace.one("llm_call", MINI)
    assert mini.duration_ms == 80 + 120
    assert [(e.name, e.offset_ms) for e in mini.events] == [("first_token", 80)]
    assert trace.one("pipeline").duration_ms == 40 + 50 + 200 + 800


def test_advance_the_clock_by_hand(trace: TraceCapture, mock_clock: MockClock) -> None:
    with span("step", "think"):
        mock_clock.advance(250)
        mock_clock.advance(timedelta(seconds=1))

    think = trace.one("step", "think")
    assert think.duration_ms == 1250
    assert think.start_unix_ms == 1_700_000_000_000  # the default wall time

    mock_clock.auto_advance_ms = 10  # from now on, every clock read moves it 10 ms
    with span("step", "reflect"):
        pass
    assert trace.one("step", "reflect").duration_ms == 10


# -- assert_span_tree: text form ------------------------------------------------------


def test_a_pasted_summary_is_an_expectation(
    trace: TraceCapture, make_agent: Callable[..., ResearchAgent]
) -> None:
    ask(make_agent(request_id=lambda: "req-0001"), expression="6 * 7")

    # Pasted as is from print(trace.summary()): the header and blank line are ignored.
    trace.assert_tree("""
        Trace: 13 spans, 1095ms total

        pipeline research 1095ms (model="echo-large", question="What is the GIL?", request_id="req-0001")
          tool_mount tool_mount 0ms (source="builtin", tool_count=2, tool_names=["search","fetch"])
          tool_call search 40ms (query="What is the GIL?", results=3)
          parallel fetch_sources 50ms (failed=1, tasks=3)
            tool_call fetch 20ms (error="ToolError: 503 from https://flaky.example/outage", status="error", url="https://flaky.example/outage")
            tool_call fetch 30ms (url="https://peps.python.org/pep-0703")
            tool_call fetch 50ms (url="https://docs.python.org/glossary")
          deferred_tool_load deferred_tool_load 0ms (query="arithmetic", score=0.92, tool_name="calculator")
          tool_call calculator 5ms (expression="6 * 7", result=42)
          user_timing rank_sources 0ms (candidates=2, status="ok")
          llm_call echo-mini 200ms (cache_read_tokens=0, cache_write_tokens=0, cost_usd=7e-6, input_tokens=8, model="echo-mini", output_tokens=5, provider="canned")
          model_route model_route 0ms (from_model="echo-mini", reason="answer cites no source", to_model="echo-large")
          llm_call echo-large 800ms (cache_read_tokens=0, cache_write_tokens=0, cost_usd=0.00014, input_tokens=8, model="echo-large", output_tokens=6, provider="canned")
    """)  # noqa: E501 - a pasted summary keeps its long lines


def test_text_wildcards_and_ellipsis(trace: TraceCapture, agent: ResearchAgent) -> None:
    ask(agent)

    # "*" is any kind or name, "..." any number of spans at its level, and the
    # metadata listed is a subset match (the random request_id is left out).
    assert_span_tree(trace, """
        pipeline research
          tool_mount *
          tool_call search (results=3)
          parallel fetch_sources 50ms
            ...
          ...
          * echo-large (model="echo-large")
    """)


# -- assert_span_tree: structured form with matchers -----------------------------------


def test_structured_nodes_with_matchers(trace: TraceCapture, agent: ResearchAgent) -> None:
    ask(agent)

    trace.assert_tree(
        node(
            SpanKind.PIPELINE, "research",
            node("tool_mount", "tool_mount", metadata={"tool_names": ["search", "fetch"]}),
            node("tool_call", "search", duration_ms=40),
            node(
                "parallel", "fetch_sources",
                ...,  # any spans here: the fetches get their own test
                metadata={"tasks": 3, "failed": 1},
            ),
            node("user_timing", "rank_sources", metadata={"status": "ok"}),
            node(
                "llm_call", re.compile(r"echo-\w+"),  # a regex must match the whole name
                metadata={
                    meta.INPUT_TOKENS: IsInt(gt=0),
                    meta.COST_USD: IsPositiveFloat,
                    meta.PROVIDER: ANY,
                },
                duration_ms=lambda ms: 0 < ms < 1000,  # a predicate
                events=["first_token"],
            ),
            node("model_route", "*", metadata={"reason": IsStr(regex=r".*no source")}),
            node("llm_call", LARGE, events=[{"name": "first_token", "offset_ms": 200}]),
            metadata={"request_id": IsStr(regex=r"[0-9a-f]{32}")},
        )
    )


def test_exact_false_allows_extra_spans(trace: TraceCapture, agent: ResearchAgent) -> None:
    ask(agent, expression="6 * 7")

    # Only the spans that matter; an expected child may match any descendant.
    trace.assert_tree(
        node(
            "pipeline", "research",
            node("tool_call", "fetch", metadata={"status": "error"}),
            node("tool_call", "calculator", metadata={"result": 42}),
            node("llm_call", LARGE),
        ),
        exact=False,
    )


def test_concurrent_fetches_match_in_any_order(trace: TraceCapture, agent: ResearchAgent) -> None:
    ask(agent)

    # The fetches ran concurrently (gathered tasks whose lifetimes overlap), so the
    # order they finished in is the scheduler's: expected in start order, they match
    # even with ordered=True. Siblings that ran one after the other keep their order.
    fetches = [
        node("tool_call", "fetch", metadata={"url": "https://docs.python.org/glossary"}),
        node("tool_call", "fetch", metadata={"url": "https://peps.python.org/pep-0703"}),
        node("tool_call", "fetch", metadata={"url": FLAKY_URL}),
    ]
    trace.assert_tree(node("parallel", "fetch_sources", *fetches), exact=False)
    swapped = node("pipeline", "research", node("tool_call", "search"), node("tool_mount", "*"))
    with pytest.raises(AssertionError, match="span tree mismatch"):
        trace.assert_tree(swapped, exact=False)


def test_a_mismatch_names_the_path_to_it(trace: TraceCapture, agent: ResearchAgent) -> None:
    ask(agent)

    expected = node("pipeline", "*", node("llm_call", MINI, metadata={"model": LARGE}))
    with pytest.raises(AssertionError) as failure:
        trace.assert_tree(expected, exact=False)
    # The first line names the path to the first difference; the actual tree follows,
    # marked line by line against the expectation.
    assert str(failure.value).splitlines()[0] == (
        'span tree mismatch at pipeline research > llm_call echo-mini: '
        'metadata["model"] expected "echo-large", got "echo-mini"'
    )


def test_malformed_tree_text_names_the_line(trace: TraceCapture) -> None:
    with pytest.raises(ValueError, match=r'line 2: bad metadata JSON .* e\.g\. model="gpt-4"'):
        trace.assert_tree("\npipeline main (model=gpt-4)")


# -- error paths ----------------------------------------------------------------------


def test_a_failed_fetch_is_recorded_and_skipped(trace: TraceCapture, agent: ResearchAgent) -> None:
    answer = ask(agent)

    assert FLAKY_URL not in answer.sources
    failed = trace.one("tool_call", "fetch", status="error")
    assert failed.metadata["error"] == f"ToolError: 503 from {FLAKY_URL}"
    assert "status" not in trace.one("pipeline").metadata  # the agent recovered


def test_a_calculator_error_propagates(trace: TraceCapture, agent: ResearchAgent) -> None:
    with pytest.raises(ToolError, match="division by zero"):
        ask(agent, expression="1 / 0")

    # Both the tool and the pipeline it escaped from record the error.
    trace.assert_tree(
        node(
            "pipeline", "research",
            node("tool_call", "calculator",
                 metadata={"status": "error", "error": "ToolError: division by zero in '1 / 0'"}),
            metadata={"status": "error"},
        ),
        exact=False,
    )
    assert trace.open_spans == []  # every span ended on the way out


# -- snapshots ------------------------------------------------------------------------


def test_trace_snapshot(
    trace: TraceCapture, agent: ResearchAgent, trace_snapshot: SnapshotAssertion
) -> None:
    ask(agent)
    # A readable .txt file under __snapshots__/; conftest.py's pytest_harn_trace_redact
    # hook has replaced the random request id with "<request_id>".
    assert trace == trace_snapshot


def test_trace_json_snapshot(
    trace: TraceCapture, agent: ResearchAgent, trace_json_snapshot: SnapshotAssertion
) -> None:
    ask(agent, expression="6 * 7")
    # Normalized dicts (trace ids -> "trace_1", start_ms dropped), redacted too.
    assert trace == trace_json_snapshot


def test_summary_with_stock_syrupy(
    trace: TraceCapture, make_agent: Callable[..., ResearchAgent], snapshot: SnapshotAssertion
) -> None:
    # A plain str in the .ambr file: the redact hook doesn't see it, so the
    # request id is made deterministic at the source instead.
    ask(make_agent(request_id=lambda: "req-0001"))
    assert trace.summary() == snapshot


def test_real_clock_snapshot_without_durations(
    trace: TraceCapture, trace_snapshot: SnapshotAssertion
) -> None:
    # No mock clock: timings change from run to run, so a snapshot with
    # durations is refused, and one without them is stable.
    # The loop runs on a clock of its own (no waiting), while spans read the real one.
    run_virtual(ResearchAgent().answer(QUESTION), clock=MockClock())
    assert trace.real_clock
    with pytest.raises(RealClockError, match="use the mock_clock fixture"):
        trace.snapshot_text()
    assert trace.without_durations() == trace_snapshot


# -- the marker ---------------------------------------------------------------------


@pytest.mark.harn_trace(wall_ms=1_750_000_000_000, auto_advance_ms=5)
class TestMarkedClass:
    """Every test here gets ``trace`` and a mock clock that moves 5 ms per read."""

    def test_auto_advance_times_code_without_sleeps(self, trace: TraceCapture) -> None:
        rank_sources({"b": "", "a": ""})  # a timed() block: two clock reads

        timing = trace.one("user_timing", "rank_sources")
        assert timing.duration_ms == 5
        assert timing.start_unix_ms == 1_750_000_000_000

    def test_fixtures_arrive_without_being_named(self) -> None:
        rank_sources({})
        # format_summary() with no spans reads the current collector: the test's.
        assert format_summary() == (
            "Trace: 1 spans, 5ms total\n\n"
            'user_timing rank_sources 5ms (candidates=0, status="ok")'
        )

    def test_snapshot_with_auto_advance(
        self, trace: TraceCapture, agent: ResearchAgent, trace_snapshot: SnapshotAssertion
    ) -> None:
        ask(agent)  # every span now also lasts 5 ms per clock read inside it
        assert trace == trace_snapshot


# -- async tests ----------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.harn_trace(virtual_time=True)  # the loop's clock is the mock clock
async def test_async_agents_side_by_side(
    trace: TraceCapture, make_agent: Callable[..., ResearchAgent]
) -> None:
    # Tasks made by asyncio.gather nest under the span active where they were created.
    async with span("parallel", "two_agents"):
        await asyncio.gather(make_agent().answer("first?"), make_agent().answer("second?"))

    trace.assert_tree("""
        parallel two_agents 1090ms
          pipeline research 1090ms (question="first?")
            ...
          pipeline research 1090ms (question="second?")
            ...
    """)


@pytest.mark.anyio
@pytest.mark.harn_trace(virtual_time=True)
async def test_anyio_sees_the_same_fixtures(trace: TraceCapture, agent: ResearchAgent) -> None:
    await agent.answer(QUESTION)
    assert trace.one("pipeline").duration_ms == 1090

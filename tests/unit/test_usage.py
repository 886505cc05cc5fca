"""trace.usage() and assert_within_budget: the counting rules and the messages."""

from __future__ import annotations

import dataclasses
import re

import pytest

from pytest_harn_trace import (
    MockClock,
    RealClockError,
    SpanCollector,
    TraceCapture,
    TraceUsage,
    install_override,
    node,
    span,
)
from pytest_harn_trace.assertions.usage import ModelUsage, money


def llm(name: str, **metadata: object):
    return span("llm_call", name, **{"model": name, **metadata})


@pytest.fixture
def capture(tracing: SpanCollector) -> TraceCapture:
    return TraceCapture(tracing)


def agent_run(input_tokens: int = 100, output_tokens: int = 20) -> None:
    """An agent span repeating its calls' sums, as strands-agents writes it."""
    with span("pipeline", "agent", input_tokens=2 * input_tokens, output_tokens=2 * output_tokens):
        with llm("gpt-4o", input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=0.01):
            pass
        with span("tool_call", "search"):
            pass
        with llm("gpt-4o", input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=0.02):
            pass


def test_usage_adds_up_llm_calls_tool_calls_tokens_and_cost(capture):
    agent_run()
    usage = capture.usage()
    assert (usage.llm_calls, usage.tool_calls) == (2, 1)
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (200, 40, 240)
    assert usage.cost_usd == pytest.approx(0.03)
    assert usage.by_model == {
        "gpt-4o": ModelUsage(
            llm_calls=2, input_tokens=200, output_tokens=40, cost_usd=pytest.approx(0.03)
        )
    }
    assert usage.notes == ()


def test_an_agent_span_repeating_its_childrens_sum_is_not_counted_twice(capture):
    agent_run()
    assert capture.usage().input_tokens == 200  # not 400: the pipeline's sum is left out


def test_an_llm_call_wrapping_llm_calls_with_usage_counts_through_them(capture):
    with llm("sdk", input_tokens=30), llm("http", input_tokens=30, output_tokens=3):
        pass
    usage = capture.usage()
    assert (usage.llm_calls, usage.total_tokens) == (1, 33)
    assert list(usage.by_model) == ["http"]
    assert usage.notes == (
        "span 1 llm_call sdk wraps llm_call spans with usage: counted through them",
    )


def test_an_llm_call_wrapping_calls_without_usage_keeps_its_own(capture):
    with llm("sdk", input_tokens=30, output_tokens=3), span("llm_call", "inner"):
        pass
    usage = capture.usage()
    assert (usage.llm_calls, usage.total_tokens) == (2, 33)


def test_open_llm_calls_count_and_are_flagged(capture, tracing):
    with span("pipeline", "agent"):
        scope = llm("gpt-4o", input_tokens=7)
        scope.__enter__()
        try:
            usage = capture.usage()
        finally:
            scope.__exit__(None, None, None)
    assert (usage.llm_calls, usage.open_llm_calls, usage.input_tokens) == (1, 1, 7)
    assert usage.calls[0].open
    assert usage.notes == (
        "1 llm_call span still open, its figures so far counted: span 2 llm_call gpt-4o",
    )


def test_cost_is_none_when_no_call_has_a_price(capture):
    with llm("a", input_tokens=1):
        pass
    with llm("b", input_tokens=1):
        pass
    usage = capture.usage()
    assert (usage.cost_usd, usage.unpriced_llm_calls) == (None, 2)
    assert usage.notes == ()


def test_cost_of_some_priced_calls_comes_with_a_note_naming_the_others(capture):
    with llm("a", cost_usd=0.5):
        pass
    with llm("b", input_tokens=4):
        pass
    usage = capture.usage()
    assert (usage.cost_usd, usage.unpriced_llm_calls) == (0.5, 1)
    assert usage.by_model["b"].cost_usd is None
    assert usage.notes == ("cost_usd covers 1 of 2 llm calls; no price: span 2 llm_call b",)


def test_the_price_function_prices_only_calls_without_cost_usd(tracing):
    priced = []

    def price(s):
        priced.append(s.name)
        return s.metadata["input_tokens"] * 0.001

    with llm("a", input_tokens=1000, cost_usd=5.0):
        pass
    with llm("b", input_tokens=2000):
        pass
    usage = TraceCapture(tracing, price=price).usage()
    assert priced == ["b"]
    assert usage.cost_usd == 7.0
    assert usage.by_model["b"].cost_usd == 2.0


@pytest.mark.parametrize(
    ("returned", "error", "problem"),
    [
        ("0.1", TypeError, "returned '0.1' for span 1 llm_call a: expected its cost in USD"),
        (-1.0, ValueError, "returned -1.0 for span 1 llm_call a: a cost is a finite number >= 0"),
    ],
)
def test_a_bad_price_is_an_error_naming_the_span(tracing, returned, error, problem):
    with llm("a", input_tokens=1):
        pass
    with pytest.raises(error, match=re.escape(problem)):
        TraceCapture(tracing, price=lambda s: returned).usage()


def test_token_values_that_are_not_counts_are_left_out_with_a_note(capture):
    with llm("a", input_tokens="12", output_tokens=3.0):
        pass
    usage = capture.usage()
    assert (usage.input_tokens, usage.output_tokens) == (0, 3)
    assert usage.notes == (
        'span 1 llm_call a: input_tokens="12" is not a token count, not counted',
    )


def nested_plan() -> None:
    with span("pipeline", "main"):
        with span("step", "plan", phase="plan"), llm("small", input_tokens=10, output_tokens=1):
            pass
        with span("step", "act", phase="act"), llm("big", input_tokens=100, output_tokens=10):
            pass


@pytest.mark.parametrize(
    "under",
    [
        node("step", "plan"),
        "step plan",
        "step plan (phase=\"plan\")",
        {"kind": "step", "name": "plan"},
        {"phase": "plan"},
        {"kind": "step", "name": re.compile("pl.*")},
    ],
)
def test_under_restricts_the_figures_to_the_matched_subtree(capture, under):
    nested_plan()
    usage = capture.usage(under=under)
    assert (usage.llm_calls, usage.total_tokens, list(usage.by_model)) == (1, 11, ["small"])


def test_under_takes_a_span_itself(capture):
    nested_plan()
    assert capture.usage(under=capture.one("step", "act")).total_tokens == 110


def test_under_matching_several_spans_adds_up_their_subtrees(capture):
    nested_plan()
    assert capture.usage(under={"kind": "step"}).total_tokens == 121


def test_under_matching_nothing_fails_listing_the_spans(capture):
    nested_plan()
    with pytest.raises(AssertionError, match=re.escape(
        'usage(under={"kind":"step","name":"review"}): no span matches; the spans:\n'
        "  span 3 llm_call small"
    )):
        capture.usage(under={"kind": "step", "name": "review"})


def test_under_refuses_a_node_with_children(capture):
    nested_plan()
    with pytest.raises(ValueError, match="the node has children"):
        capture.usage(under=node("step", "plan", node("llm_call", "small")))


def test_trace_usage_is_frozen_and_compares_by_value(capture):
    agent_run()
    usage = capture.usage()
    with pytest.raises(dataclasses.FrozenInstanceError):
        usage.llm_calls = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        usage.by_model["x"] = ModelUsage()  # type: ignore[index]
    assert usage == TraceUsage.of(capture.spans)
    assert repr(usage).startswith("TraceUsage(llm_calls=2, tool_calls=1, input_tokens=200,")


def test_within_budget_limits_are_inclusive(capture):
    agent_run()
    capture.assert_within_budget(
        llm_calls=2, tool_calls=1, input_tokens=200, output_tokens=40, total_tokens=240,
        cost_usd=0.03,
    )


def test_over_budget_names_each_limit_then_the_top_spans_with_their_paths(capture):
    agent_run()
    with pytest.raises(AssertionError) as failure:
        capture.assert_within_budget(llm_calls=1, total_tokens=200, cost_usd=0.025)
    assert str(failure.value) == (
        "trace over budget:\n"
        "  llm_calls: 2 > 1 allowed\n"
        "  total_tokens: 240 > 200 allowed\n"
        "  cost_usd: $0.03 > $0.025 allowed\n"
        "top llm_call spans by cost:\n"
        "  span 4 llm_call gpt-4o, 120 tokens (100 in, 20 out), $0.02 "
        "at pipeline agent > llm_call gpt-4o\n"
        "  span 2 llm_call gpt-4o, 120 tokens (100 in, 20 out), $0.01 "
        "at pipeline agent > llm_call gpt-4o"
    )


def test_over_the_tool_call_limit_lists_the_tool_calls(capture):
    agent_run()
    with pytest.raises(AssertionError) as failure:
        capture.assert_within_budget(tool_calls=0)
    assert str(failure.value) == (
        "trace over budget:\n"
        "  tool_calls: 1 > 0 allowed\n"
        "tool_call spans:\n"
        "  span 3 tool_call search at pipeline agent > tool_call search"
    )


def test_a_cost_limit_with_unpriced_calls_fails_naming_them(capture):
    with span("pipeline", "agent"):
        with llm("a", cost_usd=0.001):
            pass
        with llm("b", input_tokens=5):
            pass
    with pytest.raises(AssertionError) as failure:
        capture.assert_within_budget(cost_usd=1.0)
    assert str(failure.value).splitlines()[:3] == [
        "trace over budget:",
        "  cost_usd: unknown, 1 of 2 llm calls has no price (allowed $1); give them cost_usd "
        "metadata or price them with a pytest_harn_trace_price hook in conftest.py. Unpriced:",
        "    span 3 llm_call b, 5 tokens (5 in, 0 out) at pipeline agent > llm_call b",
    ]


@pytest.mark.parametrize(
    ("limits", "error", "message"),
    [
        ({"tokens": 3}, TypeError, "trace.assert_within_budget(): unknown limit 'tokens'; the "
         "limits are: llm_calls, tool_calls, input_tokens, output_tokens, total_tokens, "
         "cost_usd, duration_ms"),
        ({"llm_calls": -1}, ValueError, "trace.assert_within_budget(): llm_calls=-1: limits are "
         "finite numbers >= 0"),
        ({"cost_usd": "0.1"}, TypeError, "trace.assert_within_budget(): cost_usd='0.1' is not a "
         "number; give an int or float >= 0"),
        ({"llm_calls": True}, TypeError, "trace.assert_within_budget(): llm_calls=True is not a "
         "number; give an int or float >= 0"),
        ({"total_tokens": float("nan")}, ValueError, "total_tokens=nan: limits are finite"),
    ],
)
def test_bad_limits_are_clear_errors(capture, limits, error, message):
    with pytest.raises(error, match=re.escape(message)):
        capture.assert_within_budget(**limits)


def test_a_duration_limit_reads_the_mock_clock(capture):
    with install_override(MockClock.at_wall_ms(0)) as clock:
        with span("pipeline", "a"):
            clock.advance(300)
        with span("pipeline", "b"):
            clock.advance(50)
        capture.assert_within_budget(duration_ms=350)
        with pytest.raises(AssertionError, match=re.escape(
            "duration_ms: 350 > 349 allowed (summed root span durations)"
        )):
            capture.assert_within_budget(duration_ms=349)


def test_a_duration_limit_is_refused_on_the_real_clock(capture):
    with span("pipeline", "a"):
        pass
    with pytest.raises(RealClockError, match="a duration_ms limit needs exact durations"):
        capture.assert_within_budget(duration_ms=10_000)


def test_the_snapshot_text_gets_a_usage_line_only_when_asked(tracing):
    with install_override(MockClock.at_wall_ms(0)):
        agent_run()
        plain = TraceCapture(tracing).snapshot_text()
        with_usage = TraceCapture(tracing, usage_in_snapshot=True).snapshot_text()
    assert with_usage == (
        plain + "\nUsage: 2 llm calls, 1 tool call, 240 tokens (200 in, 40 out), $0.03\n"
    )
    assert "Usage" not in plain


def test_money_keeps_small_costs_readable():
    assert [
        money(0.0123), money(0.00002), money(3.6e-6), money(1.5), money(12.34567), money(0),
        money(1e-10),
    ] == ["$0.0123", "$0.00002", "$0.0000036", "$1.5", "$12.3457", "$0", "$1.00e-10"]

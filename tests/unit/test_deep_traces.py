"""Deep traces: assert_span_tree works at any depth format_summary can draw.

The search recurses a bounded number of levels at a time, so a chain a
thousand (or five thousand) spans deep matches, or fails with its message,
under Python's default recursion limit.
"""

from __future__ import annotations

import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_harn_trace import (
    ExpectedSpan,
    MockClock,
    SpanCollector,
    assert_span_tree,
    format_summary,
    install_override,
    node,
)


def chain(depth: int, *, clock_step: int = 0) -> SpanCollector:
    """A collector holding one chain of ``depth`` nested spans, ``s0`` outermost."""
    clock = MockClock.at_wall_ms(1_000, auto_advance_ms=clock_step)
    collector = SpanCollector()
    with install_override(clock):
        ids = [collector.start("step", f"s{level}") for level in range(depth)]
        collector.set_metadata(ids[-1], "deepest", True)
        for span_id in reversed(ids):
            collector.end(span_id)
    return collector


def chain_nodes(depth: int, *, last_name: str | None = None) -> ExpectedSpan:
    expected = node("step", last_name or f"s{depth - 1}")
    for level in range(depth - 2, -1, -1):
        expected = node("step", f"s{level}", expected)
    return expected


DEEP = chain(1_000, clock_step=1)


@pytest.fixture(autouse=True)
def default_recursion_limit():
    # The search must never need more: it used to raise the limit for deep expectations.
    limit = sys.getrecursionlimit()
    yield
    assert sys.getrecursionlimit() == limit


@pytest.mark.parametrize("durations", [True, False])
def test_a_1000_deep_summary_matches_its_own_trace(durations):
    assert_span_tree(DEEP, format_summary(DEEP.spans(), durations=durations))


def test_a_1000_deep_node_chain_matches():
    assert_span_tree(DEEP, chain_nodes(1_000))


@pytest.mark.parametrize(("ordered", "exact"), [(True, False), (False, True)])
def test_a_1000_deep_summary_matches_in_any_order_or_with_spans_between(ordered, exact):
    assert_span_tree(DEEP, format_summary(DEEP.spans()), ordered=ordered, exact=exact)


def test_a_deep_summary_matches_in_any_order_and_with_spans_between():
    # Both relaxations compare every node with every span below its parent's: quadratic.
    deep = chain(200)
    assert_span_tree(deep, format_summary(deep.spans()), ordered=False, exact=False)


def test_a_5000_deep_chain_matches_and_fails_without_recursion():
    deep = chain(5_000)
    assert_span_tree(deep, format_summary(deep.spans(), durations=False))
    with pytest.raises(AssertionError) as info:
        assert_span_tree(deep, chain_nodes(5_000, last_name="other"))
    assert str(info.value).split("\n")[0].endswith(
        'step s4998 > step s4999: name expected "other", got "s4999"'
    )


@pytest.mark.parametrize("ordered", [True, False])
def test_a_mismatch_at_the_bottom_of_a_1000_deep_chain_is_drawn(ordered):
    with pytest.raises(AssertionError) as info:
        assert_span_tree(DEEP, chain_nodes(1_000, last_name="other"), ordered=ordered)
    lines = str(info.value).split("\n")
    path = " > ".join(f"step s{level}" for level in range(1_000))
    if ordered:
        assert lines[0] == f'span tree mismatch at {path}: name expected "other", got "s999"'
        assert lines[-2] == "! " + "  " * 999 + "step s999 1ms (deepest=true)"
        assert lines[-1] == "? " + "  " * 1_000 + 'name expected "other", got "s999"'
    else:  # no position pairs spans by: the span is unexpected, the node missing
        assert lines[0] == f"span tree mismatch at {path}: unexpected span"
        assert "- " + "  " * 999 + "step other" in lines


def test_a_mismatch_at_the_bottom_of_a_deep_chain_with_spans_between():
    deep = chain(200)
    with pytest.raises(AssertionError) as info:
        assert_span_tree(deep, chain_nodes(200, last_name="other"), exact=False)
    assert str(info.value).split("\n")[0].endswith("step s198 > step other: missing span")


@st.composite
def deep_trees(draw):
    """Trees up to 300 spans whose parents are mostly the last span open: deep, with branches."""
    collector = SpanCollector()
    clock = MockClock.at_wall_ms(1_000)
    open_ids: list[int] = []
    with install_override(clock):
        for _ in range(draw(st.integers(1, 300))):
            if open_ids and draw(st.integers(0, 9)) == 0:
                collector.end(open_ids.pop(draw(st.integers(0, len(open_ids) - 1))))
            else:
                span_id = collector.start(draw(st.sampled_from(["step", "fn_call"])), "x")
                if draw(st.booleans()):
                    collector.set_metadata(span_id, "n", draw(st.integers(0, 3)))
                open_ids.append(span_id)
            clock.advance(draw(st.integers(0, 2)))
        for span_id in reversed(open_ids):
            collector.end(span_id)
    return collector


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deep_trees(), st.booleans())
def test_any_summary_of_a_deep_trace_round_trips(collector, durations):
    summary = format_summary(collector.spans(), durations=durations)
    assert_span_tree(collector, summary)
    assert_span_tree(collector, summary, ordered=False)

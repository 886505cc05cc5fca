"""assert_span_tree on large traces: bounded failure messages, searches that say when cut.

How fast it runs is for ``benchmarks/bench_tree.py``; these tests pin what it
says: a failure on thousands of siblings draws the differences with a few
spans of context and counts the rest, the marked lines still hold every span,
a search that had to stop says so, and 10,000-deep chains work on every path.
"""

from __future__ import annotations

import pytest

from pytest_harn_trace import assert_span_tree, node
from pytest_harn_trace.assertions import alignment
from pytest_harn_trace.assertions.mismatch import TreeMismatch
from pytest_harn_trace.tracing.model import Span, SpanKind

LEGEND = (
    "Actual span tree against the expected one ('!' mismatch, '-' missing, '+' unexpected, "
    "'~' extra span allowed; ordered=False):"
)


def span(span_id: int, parent: int | None, kind: SpanKind, name: str, **metadata: object) -> Span:
    return Span("t", span_id, parent, kind, name, 0, 0, 1, metadata, (), ())


def fan_out(n: int) -> list[Span]:
    """One ``pipeline main`` root with ``n`` ``tool_call tool`` children, ``i`` = 0..n-1."""
    spans = [span(i + 2, 1, SpanKind.TOOL_CALL, "tool", i=i) for i in range(n)]
    return [*spans, span(1, None, SpanKind.PIPELINE, "main")]


def test_a_failure_among_1000_siblings_draws_the_difference_with_context_only():
    spans = fan_out(1_000)
    children = [node("tool_call", "tool", metadata={"i": i}) for i in range(1_000)][::-1]
    children[500] = node("tool_call", "other", metadata={"i": 499})
    with pytest.raises(AssertionError) as info:
        assert_span_tree(spans, node("pipeline", "main", *children), ordered=False)
    assert str(info.value).splitlines() == [
        "span tree mismatch at pipeline main > tool_call tool: unexpected span",
        "",
        LEGEND,
        "  … 497 spans match …",
        "    tool_call tool 1ms (i=496)",
        "    tool_call tool 1ms (i=497)",
        "    tool_call tool 1ms (i=498)",
        "+   tool_call tool 1ms (i=499)",
        "    tool_call tool 1ms (i=500)",
        "    tool_call tool 1ms (i=501)",
        "    tool_call tool 1ms (i=502)",
        "    … 494 spans match …",
        "    tool_call tool 1ms (i=997)",
        "    tool_call tool 1ms (i=998)",
        "    tool_call tool 1ms (i=999)",
        "-   tool_call other (i=499)",
    ]
    # The marked lines (for the HTML report) still hold every span, and the missing one.
    lines = TreeMismatch.of(info.value).lines  # type: ignore[union-attr]
    assert len(lines) == 1_002
    assert [line.mark for line in lines].count(" ") == 1_000


def test_a_drawing_with_many_differences_stops_after_200_lines_and_counts_the_rest():
    spans = fan_out(1_000)
    children = [node("tool_call", "tool", metadata={"i": -1 if i % 2 else i}) for i in range(1_000)]
    with pytest.raises(AssertionError) as info:
        assert_span_tree(spans, node("pipeline", "main", *children), ordered=False)
    lines = str(info.value).splitlines()
    # Headline, blank, legend; 202 lines drawn (past 200, the entry being drawn ends),
    # the count of the rest; the note that the leftovers were paired quickly.
    assert len(lines) == 3 + 202 + 1 + 1
    assert lines[-2] == "  … 866 more spans not drawn (433 of them differ) …"


def test_a_short_drawing_is_not_collapsed():
    spans = fan_out(30)
    children = [node("tool_call", "tool", metadata={"i": i}) for i in range(30)]
    children[29] = node("tool_call", "other")
    with pytest.raises(AssertionError) as info:
        assert_span_tree(spans, node("pipeline", "main", *children))
    assert not any("…" in line for line in str(info.value).splitlines())


def matched_by_predicates(n: int) -> list[object]:
    """Children told apart only by a predicate on ``i``: no key to look them up by."""

    def equal_to(i: int):  # type: ignore[no-untyped-def]
        def value_is(value: object) -> bool:
            return value == i

        return value_is

    return [node("tool_call", "tool", metadata={"i": equal_to(i)}) for i in range(n)][::-1]


def test_an_unordered_search_that_runs_out_of_comparisons_says_so(monkeypatch):
    # Past the budget, the spans left go to the quick pairing (past its limit too here):
    # the first free span of the name, which is the wrong one in reverse.
    monkeypatch.setattr(alignment, "_COMPARISON_BUDGET", 100)
    monkeypatch.setattr(alignment, "_ASSIGNMENT_LIMIT", 100)
    spans = fan_out(40)
    with pytest.raises(AssertionError) as info:
        assert_span_tree(spans, node("pipeline", "main", *matched_by_predicates(40)), ordered=False)
    assert str(info.value).splitlines()[-2:] == [
        "  (ordered=False: stopped after 100 comparisons of 40 expected spans with 40 spans "
        "at one level, which their kind, name and plain metadata values do not tell apart; "
        "the spans not compared yet count as not matching. Give the values that tell them "
        "apart as plain values rather than matchers, or use ordered=True)",
        "  (ordered=False: 37 expected spans and 37 spans at one level match nothing in full, "
        "too many to find the closest pairing; each expected span is drawn against the first "
        "free span of its name)",
    ]


def test_the_same_search_within_the_budget_passes():
    spans = fan_out(40)
    assert_span_tree(spans, node("pipeline", "main", *matched_by_predicates(40)), ordered=False)


def test_too_many_unmatched_siblings_are_drawn_against_the_first_free_span_of_their_name(
    monkeypatch,
):
    monkeypatch.setattr(alignment, "_ASSIGNMENT_LIMIT", 4)
    spans = fan_out(3)
    children = [node("tool_call", "tool", metadata={"i": 10 + i}) for i in range(3)]
    with pytest.raises(AssertionError) as info:
        assert_span_tree(spans, node("pipeline", "main", *children), ordered=False)
    assert str(info.value).splitlines()[3:] == [
        "  pipeline main 1ms",
        "!   tool_call tool 1ms (i=0)",
        '?     metadata["i"] expected 10, got 0',
        "!   tool_call tool 1ms (i=1)",
        '?     metadata["i"] expected 11, got 1',
        "!   tool_call tool 1ms (i=2)",
        '?     metadata["i"] expected 12, got 2',
        "  (ordered=False: 3 expected spans and 3 spans at one level match nothing in full, "
        "too many to find the closest pairing; each expected span is drawn against the first "
        "free span of its name)",
    ]


DEPTH = 10_000


def chain() -> list[Span]:
    return [
        span(level + 1, level or None, SpanKind.FN_CALL, f"s{level}") for level in range(DEPTH)
    ][::-1]


def chain_nodes(*, last: str, step: int = 1) -> object:
    expected = None
    for level in range(DEPTH - 1, -1, -1):
        if level % step == 0 or level == DEPTH - 1:
            name = last if level == DEPTH - 1 else f"s{level}"
            expected = node("fn_call", name, *(() if expected is None else (expected,)))
    return expected


@pytest.mark.parametrize(
    ("ordered", "exact"), [(True, True), (False, True), (True, False), (False, False)]
)
def test_a_10000_deep_chain_matches_and_fails_on_every_path(ordered, exact):
    spans = chain()
    step = 1 if exact else 2  # with exact=False, every other level left out
    assert_span_tree(
        spans, chain_nodes(last=f"s{DEPTH - 1}", step=step), ordered=ordered, exact=exact
    )
    with pytest.raises(AssertionError) as info:
        assert_span_tree(spans, chain_nodes(last="other", step=step), ordered=ordered, exact=exact)
    lines = str(info.value).splitlines()
    assert lines[0].startswith("span tree mismatch at fn_call s0 > fn_call s")
    if exact:
        assert lines[3] == "  … 9,996 spans match …"
    else:  # the levels left out are extra spans allowed
        assert lines[3] == "  … 4,999 spans match, 4,998 extra spans allowed …"
    assert len(lines) < 12


def test_ordered_siblings_too_many_to_weigh_align_between_the_spans_that_match(monkeypatch):
    spans = fan_out(300)
    children = [node("tool_call", "tool", metadata={"i": i}) for i in range(300)]
    children[30] = node("tool_call", "other", metadata={"i": 30})
    children[270] = node("tool_call", "tool", metadata={"i": -5})
    del children[150]
    expected = node("pipeline", "main", *children)
    with pytest.raises(AssertionError) as closest:
        alignment._INDEXED = False  # the general algorithm weighs every pair
        try:
            assert_span_tree(spans, expected)
        finally:
            alignment._INDEXED = True
    monkeypatch.setattr(alignment, "_ALIGNMENT_CELLS", 1_000)
    with pytest.raises(AssertionError) as anchored:
        assert_span_tree(spans, expected)
    lines = str(anchored.value).splitlines()
    assert lines[:-1] == str(closest.value).splitlines()
    assert lines[-1] == (
        "  (ordered: 240 expected spans and 241 spans at one level differ in too many places "
        "to find the closest alignment; the spans that match in full anchor it, and what lies "
        "between them is aligned on its own)"
    )

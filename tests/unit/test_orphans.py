"""Spans the summary cannot draw, grouped by the missing parent they wait for."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pytest_harn_trace.assertions.orphans import Orphans, draw_orphans, find_orphans, open_spans_of
from pytest_harn_trace.tracing.model import Span, SpanKind
from pytest_harn_trace.tracing.summary import format_summary


def make_span(span_id, parent_id, kind="step", name="s"):
    return Span("trace-1", span_id, parent_id, SpanKind(kind), name, 0, 0, 1, {}, [], [])


def test_a_trace_with_every_span_drawn_has_no_orphans():
    spans = [make_span(2, 1), make_span(1, None)]
    assert find_orphans(spans, [(3, SpanKind.PIPELINE, "open")]) == []
    assert draw_orphans(spans) == ""


def test_orphans_are_grouped_by_the_parent_they_wait_for():
    child, grandchild = make_span(3, 2, name="child"), make_span(4, 3, name="grandchild")
    stray = make_span(9, 42, name="stray")
    spans = [make_span(1, None), grandchild, child, stray]

    groups = find_orphans(spans, [(2, SpanKind.PIPELINE, "main")])

    assert groups == [
        Orphans(2, "parent span 2 pipeline 'main' is still open", [grandchild, child]),
        Orphans(42, "parent span 42 is not among the spans", [stray]),
    ]


def test_spans_whose_ids_loop_are_orphans_too():
    spans = [make_span(1, 2), make_span(2, 1)]
    assert find_orphans(spans) == [
        Orphans(1, "span 1 is its own ancestor (repeated span ids)", spans)
    ]


def test_a_deep_chain_under_an_open_root_is_one_group():
    spans = [make_span(index, index - 1) for index in range(20_000, 1, -1)]
    (group,) = find_orphans(spans, [(1, SpanKind.PIPELINE, "root")])
    assert group.parent_id == 1
    assert len(group.spans) == len(spans)


def test_orphans_are_drawn_as_the_summary_would_under_their_reason():
    spans = [
        make_span(3, 2, "llm_call", "plan"),
        make_span(2, 1, "step", "think"),
        make_span(5, 4, "tool_call", "search"),
    ]
    assert draw_orphans(spans, [(1, SpanKind.PIPELINE, "main")]) == (
        "Not drawn, parent span 1 pipeline 'main' is still open:\n"
        "  step think 1ms\n"
        "    llm_call plan 1ms\n"
        "\n"
        "Not drawn, parent span 4 is not among the spans:\n"
        "  tool_call search 1ms"
    )


def test_open_spans_are_read_from_a_capture_or_a_collector_or_nothing():
    records = [(1, SpanKind.PIPELINE, "main")]

    class Capture:
        open_spans = records

    class Collector:
        def open_spans(self):
            return records

    assert open_spans_of(Capture()) == records
    assert open_spans_of(Collector()) == records
    assert open_spans_of([make_span(1, None)]) == []


@st.composite
def traces(draw):
    """Spans with unique ids whose parents are other spans, open spans or unknown ids."""
    count = draw(st.integers(0, 12))
    ids = draw(st.permutations(range(1, count + 1)))
    parents = st.none() | st.integers(1, count + 4)  # ids above count are not recorded
    return [make_span(span_id, draw(parents)) for span_id in ids]


@given(traces())
def test_orphans_are_exactly_the_spans_the_summary_leaves_out(spans):
    open_records = [(span_id, SpanKind.PIPELINE, "open") for span_id in range(1, 40, 3)]
    groups = find_orphans(spans, open_records)

    by_id = {span.span_id: span for span in spans}
    drawn = {span.span_id for span in spans if span.parent_id is None}
    grew = True
    while grew:
        grew = False
        for span in spans:
            if span.span_id not in drawn and span.parent_id in drawn:
                drawn.add(span.span_id)
                grew = True
    summary_lines = format_summary(spans).splitlines()[2:] if spans else []
    assert len(summary_lines) == len(drawn)

    expected: dict[int, list[Span]] = {}
    looping = []
    for span in spans:
        if span.span_id in drawn:
            continue
        top, seen = span, set()
        while top.parent_id in by_id and top.span_id not in seen:
            seen.add(top.span_id)
            top = by_id[top.parent_id]
        if top.span_id in seen:
            looping.append(span)  # hangs from a loop of parents, whichever span starts it
        else:
            expected.setdefault(top.parent_id, []).append(span)
    found = {group.parent_id: group.spans for group in groups if group.parent_id not in by_id}
    assert found == expected
    assert [
        span
        for span in spans
        for group in groups
        if group.parent_id in by_id and span in group.spans
    ] == looping
    for group in groups:
        if group.parent_id in by_id:
            assert group.reason.endswith("is its own ancestor (repeated span ids)")
        elif group.parent_id % 3 == 1:
            assert group.reason == f"parent span {group.parent_id} pipeline 'open' is still open"
        else:
            assert group.reason == f"parent span {group.parent_id} is not among the spans"

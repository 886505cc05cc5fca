"""Spans on one time axis, in tree order: what the waterfall and the Perfetto export draw."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_harn_trace import MockClock, Span, SpanCollector, SpanKind, install_override
from pytest_harn_trace.pictures.timeline import build_timeline
from pytest_harn_trace.tracing.summary import format_summary

WALL = 1_700_000_000_000


def make_span(span_id, parent_id, start, duration, name=None, start_ms=0):
    return Span(
        "trace_x", span_id, parent_id, SpanKind.FN_CALL, name or f"s{span_id}",
        start_ms, WALL + start, duration, {}, (), (),
    )


def test_rows_follow_the_summary_tree_with_depth_parent_and_subtree_end():
    spans = [
        make_span(2, 1, 0, 10),
        make_span(4, 3, 12, 3),
        make_span(3, 1, 10, 8),
        make_span(1, None, 0, 20),
    ]
    timeline = build_timeline(spans)
    assert [row.span.span_id for row in timeline.rows] == [1, 2, 3, 4]
    assert [(row.depth, row.parent, row.end) for row in timeline.rows] == [
        (0, -1, 4), (1, 0, 2), (1, 0, 4), (2, 2, 4),
    ]
    assert [(row.start_ms, row.duration_ms) for row in timeline.rows] == [
        (0, 20), (0, 10), (10, 8), (12, 3),
    ]
    assert timeline.total_ms == 20
    assert not timeline.real_clock


def test_open_spans_reach_the_end_of_the_trace_and_keep_their_children():
    clock = MockClock.at_wall_ms(WALL)
    collector = SpanCollector()
    with install_override(clock):
        root = collector.start("pipeline", "main")
        clock.advance(5)
        child = collector.start("tool_call", "search")
        clock.advance(10)
        collector.end(child)
        hanging = collector.start("llm_call", "slow")
        clock.advance(7)
        timeline = build_timeline(
            collector.spans(), collector.peek_open_spans(), real_clock=False
        )
    rows = {row.span.name: row for row in timeline.rows}
    assert [row.span.name for row in timeline.rows] == ["main", "search", "slow"]
    assert (rows["main"].open, rows["main"].start_ms, rows["main"].duration_ms) == (True, 0, 22)
    assert (rows["slow"].open, rows["slow"].start_ms, rows["slow"].duration_ms) == (True, 15, 7)
    assert not rows["search"].open
    assert rows["search"].parent == 0
    assert [record.span_id for record in collector.open_spans()] == [root, hanging]


def test_peek_open_spans_reads_an_auto_advancing_clock_without_moving_it():
    clock = MockClock.at_wall_ms(WALL, auto_advance_ms=5)
    collector = SpanCollector()
    with install_override(clock):
        span_id = collector.start("pipeline", "main")  # read at 0; the clock moves to 5
        (peeked,) = collector.peek_open_spans()
        (again,) = collector.peek_open_spans()
        assert clock.monotonic_ms == 5
        collector.set_metadata(span_id, "late", 1)
    assert peeked.duration_ms == again.duration_ms == 5
    assert peeked.metadata == {}  # a copy: later metadata does not reach it
    assert [(o.span_id, o.kind, o.name) for o in collector.open_spans()] == [
        (span_id, SpanKind.PIPELINE, "main")
    ]


def test_spans_whose_parent_was_not_recorded_are_drawn_as_roots():
    timeline = build_timeline([make_span(5, 99, 3, 1), make_span(1, None, 0, 10)])
    assert [(row.span.span_id, row.depth, row.parent) for row in timeline.rows] == [
        (5, 0, -1), (1, 0, -1),
    ]


def test_repeated_span_ids_are_drawn_once_each_and_never_loop():
    timeline = build_timeline([make_span(1, 2, 0, 1), make_span(2, 1, 0, 1)])
    assert sorted(row.span.span_id for row in timeline.rows) == [1, 2]


def test_real_clock_traces_are_placed_by_their_monotonic_start():
    spans = [make_span(1, None, 500, 4, start_ms=40), make_span(2, None, 0, 4, start_ms=42)]
    timeline = build_timeline(spans, real_clock=True)
    assert [row.start_ms for row in timeline.rows] == [0, 2]
    assert timeline.total_ms == 6
    assert timeline.real_clock


def test_an_empty_trace_has_no_rows():
    assert build_timeline([]).rows == ()
    assert build_timeline([]).total_ms == 0


@st.composite
def traces(draw):
    """Random completed traces recorded on a mock clock: (spans, names in summary order)."""
    clock = MockClock.at_wall_ms(WALL)
    collector = SpanCollector()
    open_ids: list[int] = []
    count = 0
    with install_override(clock):
        for action in draw(st.lists(st.sampled_from(["start", "end", "wait"]), max_size=40)):
            if action == "start":
                count += 1
                open_ids.append(collector.start("fn_call", f"s{count}"))
            elif action == "end" and open_ids:
                collector.end(open_ids.pop())
            else:
                clock.advance(draw(st.integers(0, 20)))
        while open_ids:
            collector.end(open_ids.pop())
    return collector.spans()


@settings(max_examples=150, deadline=None)
@given(traces())
def test_rows_are_the_lines_of_format_summary_and_subtrees_are_contiguous(spans):
    timeline = build_timeline(spans)
    summary_lines = format_summary(spans).splitlines()[2:] if spans else []
    assert [
        "  " * row.depth + f"fn_call {row.span.name} {row.duration_ms}ms" for row in timeline.rows
    ] == summary_lines
    rows = timeline.rows
    for index, row in enumerate(rows):
        inside = range(index + 1, row.end)
        assert all(rows[i].depth > row.depth for i in inside)
        assert row.end == len(rows) or rows[row.end].depth <= row.depth
        if row.parent >= 0:
            parent = rows[row.parent]
            assert parent.span.span_id == row.span.parent_id
            assert parent.start_ms <= row.start_ms
            assert row.start_ms + row.duration_ms <= parent.start_ms + parent.duration_ms

"""Perfetto export: Chrome trace-event JSON that Perfetto and chrome://tracing open."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_harn_trace import (
    MockClock,
    Span,
    SpanCollector,
    SpanKind,
    TraceCapture,
    install_override,
)
from pytest_harn_trace.pictures.perfetto import perfetto_events
from pytest_harn_trace.pictures.timeline import build_timeline

WALL = 1_700_000_000_000


def check_schema(events):
    """The checks of the issue: every event has ph, ts, pid, tid; a track's X events nest."""
    for event in events:
        assert {"ph", "ts", "pid", "tid"} <= event.keys(), event
        assert isinstance(event["ts"], int) and event["ts"] >= 0
        if event["ph"] == "X":
            assert isinstance(event["dur"], int) and event["dur"] >= 0
            assert isinstance(event["args"], dict)
    slices = [event for event in events if event["ph"] == "X"]
    for index, one in enumerate(slices):
        for other in slices[index + 1 :]:
            if (one["pid"], one["tid"]) != (other["pid"], other["tid"]):
                continue
            a = (one["ts"], one["ts"] + one["dur"])
            b = (other["ts"], other["ts"] + other["dur"])
            overlap = a[0] < b[1] and b[0] < a[1]
            nested = (a[0] <= b[0] and b[1] <= a[1]) or (b[0] <= a[0] and a[1] <= b[1])
            assert not overlap or nested, (one, other)


def record_fan_out(collector: SpanCollector, clock: MockClock) -> None:
    """A pipeline whose three tool calls run at once (started and ended out of order)."""
    root = collector.start("pipeline", "research")
    collector.set_metadata(root, "question", "why?")
    fan = collector.start("parallel", "fetch")
    calls = [collector.start_detached_with_links("tool_call", f"fetch{i}", []) for i in range(3)]
    clock.advance(20)
    collector.record_event(calls[0], "first_byte", {"bytes": 10})
    collector.end(calls[0])
    clock.advance(10)
    collector.end(calls[1])
    clock.advance(20)
    collector.end(calls[2])
    collector.end(fan)
    collector.end(root)


def spans_with_parent(spans, parent_of):
    return [span._replace(parent_id=parent_of.get(span.name, span.parent_id)) for span in spans]


def test_spans_are_complete_events_in_microseconds_with_metadata_as_args():
    clock = MockClock.at_wall_ms(WALL)
    collector = SpanCollector()
    with install_override(clock):
        record_fan_out(collector, clock)
    fan_id = next(span.span_id for span in collector.spans() if span.name == "fetch")
    spans = spans_with_parent(collector.spans(), {f"fetch{i}": fan_id for i in range(3)})
    events = perfetto_events(build_timeline(spans), title="test_fan_out")
    check_schema(events)
    by_name = {event["name"]: event for event in events if event["ph"] == "X"}
    assert by_name["research"] == {
        "ph": "X", "name": "research", "cat": "pipeline", "ts": 0, "dur": 50_000,
        "pid": 1, "tid": 1, "args": {"question": "why?", "harn.span_id": 1},
    }
    assert (by_name["fetch1"]["ts"], by_name["fetch1"]["dur"]) == (0, 30_000)
    [instant] = [event for event in events if event["ph"] == "i"]
    assert instant == {
        "ph": "i", "s": "t", "name": "first_byte", "cat": "tool_call", "ts": 20_000,
        "pid": 1, "tid": by_name["fetch0"]["tid"], "args": {"bytes": 10},
    }
    assert {"ph": "M", "name": "process_name", "ts": 0, "pid": 1, "tid": 0,
            "args": {"name": "test_fan_out"}} in events


def test_overlapping_siblings_get_tracks_of_their_own_named_after_the_root():
    clock = MockClock.at_wall_ms(WALL)
    collector = SpanCollector()
    with install_override(clock):
        record_fan_out(collector, clock)
    fan_id = next(span.span_id for span in collector.spans() if span.name == "fetch")
    spans = spans_with_parent(collector.spans(), {f"fetch{i}": fan_id for i in range(3)})
    events = perfetto_events(build_timeline(spans))
    tid = {event["name"]: event["tid"] for event in events if event["ph"] == "X"}
    assert tid["research"] == tid["fetch"] == tid["fetch0"]  # nested: one track
    assert len({tid["fetch0"], tid["fetch1"], tid["fetch2"]}) == 3
    names = {
        event["tid"]: event["args"]["name"] for event in events if event["name"] == "thread_name"
    }
    assert names == {1: "pipeline research", 2: "pipeline research (2)",
                     3: "pipeline research (3)"}


def test_each_root_starts_its_own_tracks_and_open_spans_are_flagged(tmp_path):
    clock = MockClock.at_wall_ms(WALL)
    collector = SpanCollector()
    with install_override(clock):
        collector.end(collector.start("vm_setup", "boot"))
        collector.start("pipeline", "main")
        clock.advance(4)
        path = TraceCapture(collector).to_perfetto(tmp_path / "trace.json", title="t")
    document = json.loads(path.read_text())
    events = document["traceEvents"]
    check_schema(events)
    names = [event["args"]["name"] for event in events if event["name"] == "thread_name"]
    assert names == ["vm_setup boot", "pipeline main"]
    [main] = [event for event in events if event.get("name") == "main"]
    assert main["args"]["harn.open"] is True
    assert main["dur"] == 4000
    assert document["displayTimeUnit"] == "ms"


def test_a_child_that_outlives_its_parent_leaves_the_parent_track():
    spans = [
        Span("t", 1, None, SpanKind.PIPELINE, "main", 0, WALL, 10, {}, (), ()),
        Span("t", 2, 1, SpanKind.TOOL_CALL, "late", 0, WALL + 5, 20, {}, (), ()),
    ]
    events = perfetto_events(build_timeline(spans))
    check_schema(events)
    tid = {event["name"]: event["tid"] for event in events if event["ph"] == "X"}
    assert tid["main"] != tid["late"]


@st.composite
def random_spans(draw):
    """Trees of spans with arbitrary intervals: children may overlap, or outlive their parent."""
    count = draw(st.integers(1, 25))
    spans = []
    for span_id in range(1, count + 1):
        parent = draw(st.one_of(st.none(), st.integers(1, span_id - 1))) if span_id > 1 else None
        low = 0 if parent is None else spans[parent - 1].start_unix_ms - WALL
        start = draw(st.integers(low, low + 30))
        duration = draw(st.integers(0, 40))
        spans.append(
            Span("t", span_id, parent, SpanKind.FN_CALL, f"s{span_id}", 0, WALL + start,
                 duration, {}, (), ())
        )
    return draw(st.permutations(spans))


@settings(max_examples=200, deadline=None)
@given(random_spans())
def test_no_two_overlapping_slices_share_a_track_unless_nested(spans):
    events = perfetto_events(build_timeline(spans))
    check_schema(events)
    assert sum(event["ph"] == "X" for event in events) == len(spans)

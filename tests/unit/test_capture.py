"""TraceCapture, the trace fixture's object, used directly on a collector."""

from __future__ import annotations

import json
import re
from unittest.mock import ANY

import pytest
from dirty_equals import IsOneOf, IsStr

from pytest_harn_trace import (
    MockClock,
    RealClockError,
    Span,
    SpanCollector,
    SpanKind,
    SpanLink,
    TraceCapture,
    TraceNode,
    install_override,
)

WALL = 1_700_000_000_000


@pytest.fixture
def clock():
    clock = MockClock.at_wall_ms(WALL)
    with install_override(clock):
        yield clock


def record_agent(collector: SpanCollector, clock: MockClock) -> None:
    main = collector.start("pipeline", "main")
    collector.set_metadata(main, "request_id", "req-1")
    plan = collector.start("llm_call", "plan")
    collector.set_metadata(plan, "model", "gpt-4")
    clock.advance(10)
    collector.end(plan)
    tool = collector.start("tool_call", "search")
    collector.record_event(tool, "hit", {"rank": 1})
    clock.advance(5)
    collector.end(tool)
    collector.end(main)


def test_spans_roots_and_walk_follow_completion_order(clock):
    collector = SpanCollector()
    record_agent(collector, clock)
    capture = TraceCapture(collector)
    assert [span.name for span in capture.spans] == ["plan", "search", "main"]
    (root,) = capture.roots
    assert (root.kind, root.name, root.duration_ms) == (SpanKind.PIPELINE, "main", 15)
    assert root.metadata == {"request_id": "req-1"}
    assert [child.name for child in root.children] == ["plan", "search"]
    assert [node.name for node in root.walk()] == ["main", "plan", "search"]
    assert repr(root) == "TraceNode(pipeline 'main', 2 child(ren))"
    assert len(capture) == 3


def test_roots_of_a_deep_chain_need_no_recursion(clock):
    collector = SpanCollector()
    ids = [collector.start("step", f"s{depth}") for depth in range(3_000)]
    for span_id in reversed(ids):
        collector.end(span_id)
    (root,) = TraceCapture(collector).roots
    assert sum(1 for _ in root.walk()) == 3_000


def test_roots_never_loop_on_spans_mixed_from_two_traces():
    def span(span_id, parent_id, name):
        return Span("t", span_id, parent_id, SpanKind.STEP, name, 0, 0, 0, {}, (), ())

    spans = [span(2, 1, "child of 1"), span(1, 2, "child of 2"), span(1, None, "root")]
    collector = SpanCollector()
    collector._completed.extend(spans)
    (root,) = TraceCapture(collector).roots
    assert [node.name for node in root.walk()] == ["root", "child of 1", "child of 2"]
    assert root.children[0].children[0].children == ()


def test_find_and_one_match_kind_name_and_metadata(clock):
    collector = SpanCollector()
    record_agent(collector, clock)
    capture = TraceCapture(collector)
    assert [span.name for span in capture.find("llm_call")] == ["plan"]
    assert [span.name for span in capture.find(model=ANY)] == ["plan"]
    assert capture.find(SpanKind.TOOL_CALL, "nope") == []
    assert capture.one(name="main").span_id == 1


def test_find_takes_the_same_matchers_as_node(clock):
    collector = SpanCollector()
    record_agent(collector, clock)
    capture = TraceCapture(collector)
    assert [span.name for span in capture.find(name=re.compile("s.*"))] == ["search"]
    assert [span.name for span in capture.find(model=re.compile("gpt-.*"))] == ["plan"]
    assert [span.name for span in capture.find(name=lambda name: len(name) == 4)] == [
        "plan",
        "main",
    ]
    assert [span.name for span in capture.find(kind=IsOneOf("llm_call", "tool_call"))] == [
        "plan",
        "search",
    ]
    assert capture.find(request_id=IsStr(regex=r"req-\d+"))[0].name == "main"
    with pytest.raises(ValueError, match="unknown span kind 'llm'"):
        capture.find("llm")


def test_one_lists_what_it_found_when_not_exactly_one(clock):
    collector = SpanCollector()
    record_agent(collector, clock)
    capture = TraceCapture(collector)
    with pytest.raises(AssertionError) as none:
        capture.one("llm_call", model="gpt-5")
    assert str(none.value) == (
        'expected exactly one span matching (kind="llm_call", model="gpt-5"), found none; '
        "completed spans:\n"
        '  span 2: llm_call plan (model="gpt-4")\n'
        "  span 3: tool_call search\n"
        '  span 1: pipeline main (request_id="req-1")'
    )
    with pytest.raises(AssertionError) as many:
        capture.one()
    assert str(many.value).startswith("expected exactly one span matching (anything), found 3:\n")


def test_one_lists_at_most_twenty_spans_those_of_the_asked_kind_and_name_first(clock):
    collector = SpanCollector()
    for index in range(30):
        span = collector.start("tool_call", f"tool_{index}")
        collector.end(span)
    wanted = collector.start("llm_call", "plan")
    collector.set_metadata(wanted, "model", "gpt-4")
    collector.end(wanted)
    with pytest.raises(AssertionError) as none:
        TraceCapture(collector).one("llm_call", "plan", model="gpt-5")
    lines = str(none.value).splitlines()
    assert lines[1:3] == ['  span 31: llm_call plan (model="gpt-4")', "  span 1: tool_call tool_0"]
    assert lines[-2:] == ["  span 19: tool_call tool_18", "  \u2026 11 more spans"]
    assert len(lines) == 22


def test_one_cuts_a_span_line_of_many_attributes_keeping_the_keys_asked_for(clock):
    collector = SpanCollector()
    span = collector.start("llm_call", "chat")
    for index in range(40):
        collector.set_metadata(span, f"gen_ai.attribute_{index:02}", "x" * 10)
    collector.set_metadata(span, "zz.model", "gpt-4")
    collector.end(span)
    with pytest.raises(AssertionError) as none:
        TraceCapture(collector).one("llm_call", **{"zz.model": "gpt-5"})
    (line,) = str(none.value).splitlines()[1:]
    assert line.startswith('  span 1: llm_call chat (gen_ai.attribute_00="xxxxxxxxxx", ')
    assert line.endswith(', zz.model="gpt-4", \u2026 38 more keys)')


def test_clear_drops_completed_spans_but_keeps_open_ones(clock):
    collector = SpanCollector()
    record_agent(collector, clock)
    still_open = collector.start("pipeline", "next")
    capture = TraceCapture(collector)
    capture.clear()
    assert capture.spans == []
    [open_span] = capture.open_spans
    assert (open_span.span_id, open_span.kind, open_span.name) == (
        still_open,
        SpanKind.PIPELINE,
        "next",
    )
    assert repr(capture) == f"<TraceCapture {collector.trace_id} with 0 span(s), 1 open>"


def test_normalized_dicts_rename_trace_ids_consistently_and_drop_start_ms(clock):
    collector = SpanCollector()
    first = collector.start("suspension", "suspend")
    link = collector.span_link(first)
    collector.end(first)
    elsewhere = SpanLink("trace_from_another_run", "9")
    resumed = collector.start_with_links("resume", "resume", [elsewhere, link])
    collector.end(resumed)
    dicts = TraceCapture(collector).to_dicts(normalize=True)
    assert [data["trace_id"] for data in dicts] == ["trace_1", "trace_1"]
    assert dicts[1]["links"] == [
        {"trace_id": "trace_2", "span_id": "9"},
        {"trace_id": "trace_1", "span_id": "1"},
    ]
    assert all("start_ms" not in data for data in dicts)
    raw = TraceCapture(collector).to_dicts()
    assert raw[0]["trace_id"] == collector.trace_id and "start_ms" in raw[0]


def test_snapshot_text_and_json_go_through_redact(clock):
    collector = SpanCollector()
    record_agent(collector, clock)

    def redact(span):
        if "request_id" in span.get("metadata", {}):
            span["metadata"]["request_id"] = "<id>"

    capture = TraceCapture(collector, redact=redact)
    assert capture.snapshot_text() == (
        "Trace: 3 spans, 15ms total\n"
        "\n"
        'pipeline main 15ms (request_id="<id>")\n'
        '  llm_call plan 10ms (model="gpt-4")\n'
        "  tool_call search 5ms\n"
    )
    stored = json.loads(capture.snapshot_json())
    assert stored[2]["metadata"] == {"request_id": "<id>"}
    assert stored[1]["events"] == [
        {"name": "hit", "time_unix_ms": WALL + 10, "offset_ms": 0, "attributes": {"rank": 1}}
    ]
    assert collector.spans()[2].metadata == {"request_id": "req-1"}


def test_real_clock_trace_refuses_to_snapshot_unless_durations_are_left_out():
    collector = SpanCollector()
    span_id = collector.start("pipeline", "main")
    collector.record_event(span_id, "tick")
    collector.end(span_id)
    capture = TraceCapture(collector)
    assert capture.real_clock
    with pytest.raises(RealClockError, match="timed by the real clock"):
        capture.snapshot_text()
    untimed = capture.without_durations()
    assert untimed.snapshot_text() == "Trace: 1 spans\n\npipeline main\n"
    assert json.loads(untimed.snapshot_json()) == [
        {
            "trace_id": "trace_1",
            "span_id": 1,
            "parent_id": None,
            "kind": "pipeline",
            "name": "main",
            "events": [{"name": "tick"}],
        }
    ]


def test_mock_clock_trace_is_not_real_clock(clock):
    collector = SpanCollector()
    collector.end(collector.start("pipeline", "main"))
    assert not TraceCapture(collector).real_clock


def test_one_quotes_criteria_and_metadata_as_json_like_every_other_message(clock):
    collector = SpanCollector()
    with_quote = collector.start("llm_call", "it's")
    collector.set_metadata(with_quote, "prompt", 'say "hi"')
    collector.set_metadata(with_quote, "tags", ["a", None, True])
    collector.end(with_quote)
    capture = TraceCapture(collector)
    with pytest.raises(AssertionError) as none:
        capture.one(SpanKind.LLM_CALL, name=re.compile("gpt-.*"), tags=["a", None, False])
    assert str(none.value) == (
        "expected exactly one span matching "
        '(kind="llm_call", name=re.compile(\'gpt-.*\'), tags=["a",null,false]), found none; '
        "completed spans:\n"
        '  span 1: llm_call it\'s (prompt="say \\"hi\\"", tags=["a",null,true])'
    )


def test_trace_capture_without_a_collector_is_a_type_error_at_construction():
    with pytest.raises(TypeError) as info:
        TraceCapture(None)  # type: ignore[arg-type]
    assert str(info.value) == "TraceCapture(collector): expected a SpanCollector, got NoneType"
    with pytest.raises(TypeError, match=r"TraceCapture\(redact=\.\.\.\): expected a function"):
        TraceCapture(SpanCollector(), redact="no")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"TraceCapture\(durations=\.\.\.\): expected True"):
        TraceCapture(SpanCollector(), durations=None)  # type: ignore[arg-type]


def test_trace_node_checks_its_span_and_children_at_construction():
    with pytest.raises(TypeError) as info:
        TraceNode(None, ())  # type: ignore[arg-type]
    assert str(info.value) == (
        "TraceNode(span, children): span must be a Span, got NoneType; "
        "trace.roots builds these nodes for you"
    )
    span = Span("t", 1, None, SpanKind.STEP, "x", 0, 0, 0, {}, (), ())
    with pytest.raises(TypeError, match="children must be a tuple of TraceNode, got list;"):
        TraceNode(span, [])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got a tuple holding NoneType;"):
        TraceNode(span, (None,))  # type: ignore[arg-type]
    leaf = TraceNode(span, ())
    assert TraceNode(span, (leaf,)).children == (leaf,)


def test_roots_builds_the_same_nodes_a_checked_construction_would(clock):
    collector = SpanCollector()
    record_agent(collector, clock)
    (root,) = TraceCapture(collector).roots
    rebuilt = TraceNode(root.span, tuple(TraceNode(c.span, c.children) for c in root.children))
    assert root == rebuilt
    assert repr(root) == repr(rebuilt)

from __future__ import annotations

import pathlib
import re
import runpy
import uuid

import pytest

from pytest_harn_trace import (
    MockClock,
    OpenSpan,
    Span,
    SpanCollector,
    SpanKind,
    SpanLink,
    current_collector,
    current_span_id,
    current_span_link,
    format_summary,
    install_override,
    is_tracing_enabled,
    peek_spans,
    reset_tracing,
    set_tracing_enabled,
    span_attach_metadata,
    span_attach_metadata_if_absent,
    span_end,
    span_link,
    span_record_event,
    span_set_metadata,
    span_start,
    span_start_detached_with_links,
    span_start_user_timing,
    span_start_with_links,
    take_spans,
    use_collector,
)

TRACE_ID = re.compile(
    r"^trace_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)


def assert_intact(collector, *, next_id, current=None):
    """The collector has no stray open span and hands out ``next_id`` next."""
    assert collector.current_span_id() == current
    probe = collector.start("pipeline", "probe")
    assert probe == next_id
    collector.end(probe)
    assert collector.spans()[-1].name == "probe"


# -- ids and trace ids -------------------------------------------------------


def test_ids_start_at_one_per_collector():
    first, second = SpanCollector(), SpanCollector()
    assert [first.start("pipeline", "a"), first.start("pipeline", "b")] == [1, 2]
    assert second.start("pipeline", "c") == 1


def test_reset_restarts_ids_and_forgets_everything():
    collector = SpanCollector()
    a = collector.start("pipeline", "a")
    collector.start("fn_call", "b")
    collector.end(a)
    old_trace = collector.trace_id
    collector.reset()
    assert collector.spans() == []
    assert collector.open_spans() == []
    assert collector.current_span_id() is None
    assert collector.trace_id != old_trace
    fresh = collector.start("pipeline", "c")
    assert fresh == 1
    assert collector.end(fresh).parent_id is None  # the old active stack is gone


def test_trace_id_is_trace_underscore_uuid7():
    collector = SpanCollector()
    assert TRACE_ID.match(collector.trace_id), collector.trace_id
    assert uuid.UUID(collector.trace_id.removeprefix("trace_")).version == 7


def test_spans_carry_the_collectors_trace_id():
    collector = SpanCollector()
    collector.end(collector.start("pipeline", "a"))
    assert collector.spans()[0].trace_id == collector.trace_id
    assert collector.span_link(collector.start("pipeline", "b")) == SpanLink(
        collector.trace_id, "2"
    )


def test_each_collector_gets_its_own_trace_id():
    assert SpanCollector().trace_id != SpanCollector().trace_id


# -- enabling ----------------------------------------------------------------


def test_set_tracing_enabled_true_resets_the_current_collector(tracing):
    span_end(span_start("pipeline", "before"))
    old_trace = tracing.trace_id
    set_tracing_enabled(True)
    assert peek_spans() == []
    assert tracing.trace_id != old_trace
    assert span_start("pipeline", "after") == 1


def test_set_tracing_enabled_false_keeps_spans(tracing):
    span_end(span_start("pipeline", "kept"))
    set_tracing_enabled(False)
    assert not is_tracing_enabled()
    assert [s.name for s in peek_spans()] == ["kept"]


def test_set_tracing_enabled_rejects_non_bool(tracing_off):
    with pytest.raises(TypeError) as info:
        set_tracing_enabled(1)  # type: ignore[arg-type]
    assert str(info.value) == "set_tracing_enabled expects a bool, got int"
    assert not is_tracing_enabled()


def test_span_start_functions_return_zero_when_tracing_off(tracing_off):
    link = SpanLink("t", "1")
    assert span_start("pipeline", "a") == 0
    assert span_start_with_links("pipeline", "a", [link]) == 0
    assert span_start_detached_with_links("pipeline", "a", [link]) == 0
    assert tracing_off.open_spans() == []
    assert peek_spans() == []


def test_id_zero_calls_are_noops_that_check_nothing(tracing):
    outer = span_start("pipeline", "outer")
    bad = object()
    span_set_metadata(0, bad, bad)  # type: ignore[arg-type]
    span_attach_metadata(0, bad, bad)  # type: ignore[arg-type]
    span_attach_metadata_if_absent(0, bad, bad)  # type: ignore[arg-type]
    assert span_record_event(0, bad, bad) is False  # type: ignore[arg-type]
    assert span_end(0) is None
    assert span_link(0) is None
    assert current_span_id() == outer
    assert span_end(outer).metadata == {}


def test_readers_return_none_when_tracing_off(tracing):
    open_id = span_start("pipeline", "open")
    set_tracing_enabled(False)
    assert tracing.current_span_id() == open_id  # the collector still knows ...
    assert current_span_id() is None  # ... but the module functions don't say
    assert current_span_link() is None
    assert span_link(open_id) is None


def test_user_timing_is_recorded_when_tracing_off(tracing_off):
    span_id, trace_id, parent, start_unix_ms = span_start_user_timing("work", {"n": 1})
    assert span_id == 1
    assert trace_id == tracing_off.trace_id
    assert parent is None
    assert start_unix_ms > 1_600_000_000_000
    done = span_end(span_id)
    assert done is not None
    assert done.kind is SpanKind.USER_TIMING
    assert done.metadata == {"n": 1}
    assert peek_spans() == [done]


def test_user_timing_nests_under_the_active_span(tracing):
    outer = span_start("pipeline", "outer")
    span_id, _, parent, _ = span_start_user_timing("inner")
    assert (span_id, parent) == (2, outer)
    assert current_span_id() == span_id


def test_user_timing_rejects_bad_attributes_before_starting(tracing_off):
    with pytest.raises(TypeError) as info:
        span_start_user_timing("work", {"when": {1, 2}})
    assert str(info.value) == (
        'span_start_user_timing("when"): set is not a JSON value '
        "(str, int, float, bool, None, list or dict); use sorted(...) or list(...)"
    )
    with pytest.raises(TypeError) as info:
        span_start_user_timing("work", [("a", 1)])  # type: ignore[arg-type]
    assert str(info.value) == (
        "span_start_user_timing: attributes must be a mapping of str to JSON values, got list"
    )
    assert_intact(tracing_off, next_id=1)


# -- ending --------------------------------------------------------------------


def test_end_returns_the_completed_span(tracing):
    span_id = span_start(SpanKind.TOOL_CALL, "read")
    span_set_metadata(span_id, "path", "/x")
    done = span_end(span_id)
    assert isinstance(done, Span)
    assert (done.span_id, done.parent_id, done.kind, done.name) == (
        1,
        None,
        SpanKind.TOOL_CALL,
        "read",
    )
    assert done.metadata == {"path": "/x"}
    assert done.duration_ms >= 0
    assert peek_spans() == [done]


def test_end_unknown_or_already_ended_span_returns_none(tracing):
    span_id = span_start("pipeline", "a")
    assert span_end(99) is None
    assert span_end(-1) is None
    assert span_end(span_id) is not None
    assert span_end(span_id) is None
    assert len(peek_spans()) == 1


def test_parent_may_end_before_child(tracing):
    parent = span_start("pipeline", "parent")
    child = span_start("fn_call", "child")
    assert span_end(parent).parent_id is None
    assert current_span_id() == child
    grandchild = span_start("fn_call", "grandchild")
    assert span_end(grandchild).parent_id == child
    assert span_end(child).parent_id == parent
    assert current_span_id() is None
    assert span_end(span_start("pipeline", "next")).parent_id is None
    assert [s.name for s in peek_spans()] == ["parent", "grandchild", "child", "next"]


def test_ending_a_middle_span_keeps_the_rest_of_the_stack(tracing):
    a = span_start("pipeline", "a")
    b = span_start("fn_call", "b")
    c = span_start("fn_call", "c")
    span_end(b)
    assert current_span_id() == c
    span_end(c)
    assert current_span_id() == a
    assert span_end(span_start("fn_call", "d")).parent_id == a


def test_completion_order_is_end_order(tracing):
    a = span_start("pipeline", "a")
    b = span_start("fn_call", "b")
    c = span_start_detached_with_links("drain", "c", [])
    span_end(c)
    span_end(a)
    span_end(b)
    assert [(s.span_id, s.parent_id) for s in peek_spans()] == [(3, None), (1, None), (2, 1)]


def test_start_ms_is_the_offset_from_the_collectors_epoch(tracing):
    first = span_start("pipeline", "a")
    second = span_start("pipeline", "b")
    spans = [span_end(second), span_end(first)]
    for span in spans:
        assert 0 <= span.start_ms < 5_000
    assert spans[0].start_ms >= spans[1].start_ms


def test_detached_span_is_a_root_but_becomes_active(tracing):
    outer = span_start("pipeline", "outer")
    detached = span_start_detached_with_links("drain", "drain", [SpanLink("t", "1")])
    assert current_span_id() == detached
    inner = span_start("drain_decision", "decide")
    assert span_end(inner).parent_id == detached
    assert span_end(detached).parent_id is None
    assert current_span_id() == outer


def test_links_are_kept_in_order(tracing):
    links = [SpanLink("t", "1"), SpanLink("t", "2", {"k": "v"})]
    done = span_end(span_start_with_links("resume", "r", iter(links)))
    assert done.links == tuple(links)


# -- metadata ----------------------------------------------------------------


def test_set_metadata_overwrites_and_only_applies_to_open_spans(tracing):
    span_id = span_start("llm_call", "m")
    span_set_metadata(span_id, "tokens", 1)
    span_attach_metadata(span_id, "tokens", 2)
    done = span_end(span_id)
    assert done.metadata == {"tokens": 2}
    span_set_metadata(span_id, "tokens", 3)
    span_set_metadata(span_id, "late", True)
    assert peek_spans()[0].metadata == {"tokens": 2}
    span_set_metadata(12345, "k", 1)  # unknown: no-op
    assert len(peek_spans()) == 1


def test_attach_metadata_if_absent_on_an_open_span_keeps_the_first_value(tracing):
    span_id = span_start("llm_call", "m")
    span_attach_metadata_if_absent(span_id, "first_token_ms", 10)
    span_attach_metadata_if_absent(span_id, "first_token_ms", 20)
    assert span_end(span_id).metadata == {"first_token_ms": 10}


def test_attach_metadata_if_absent_on_a_completed_span_leaves_handed_out_spans_alone(tracing):
    span_id = span_start("llm_call", "m")
    span_set_metadata(span_id, "model", "x")
    returned = span_end(span_id)
    peeked = peek_spans()[0]
    span_attach_metadata_if_absent(span_id, "first_token_ms", 125)
    span_attach_metadata_if_absent(span_id, "first_token_ms", 250)
    span_attach_metadata_if_absent(span_id, "model", "y")
    assert returned.metadata == {"model": "x"}
    assert peeked.metadata == {"model": "x"}
    assert peek_spans()[0].metadata == {"model": "x", "first_token_ms": 125}


def test_attach_metadata_if_absent_after_reset_targets_the_new_span(tracing):
    first = span_start("pipeline", "a")
    span_end(first)
    set_tracing_enabled(True)  # resets: ids restart, so id 1 names the new span
    again = span_start("pipeline", "b")
    span_end(again)
    span_attach_metadata_if_absent(1, "k", "v")
    assert [s.metadata for s in peek_spans()] == [{"k": "v"}]


def test_attach_metadata_if_absent_to_an_unknown_span_is_a_noop(tracing):
    span_end(span_start("pipeline", "a"))
    span_attach_metadata_if_absent(42, "k", "v")
    assert peek_spans()[0].metadata == {}


# -- events ---------------------------------------------------------------------


def test_record_event_on_open_span_only(tracing):
    span_id = span_start("llm_call", "m")
    assert span_record_event(span_id, "first_token", {"n": 1}) is True
    assert span_record_event(span_id, "done") is True
    done = span_end(span_id)
    assert [(e.name, e.attributes) for e in done.events] == [
        ("first_token", {"n": 1}),
        ("done", {}),
    ]
    assert span_record_event(span_id, "late") is False
    assert span_record_event(999, "never") is False
    assert len(peek_spans()[0].events) == 2


def test_event_times_come_from_the_real_clock_without_a_mock(tracing):
    span_id = span_start("llm_call", "m")
    span_record_event(span_id, "e")
    done = span_end(span_id)
    (event,) = done.events
    assert done.start_unix_ms <= event.time_unix_ms < done.start_unix_ms + 5_000
    assert 0 <= event.offset_ms <= done.duration_ms


# -- reading --------------------------------------------------------------------


def test_open_start_unix_ms_only_for_open_spans(tracing):
    span_id, _, _, start_unix_ms = span_start_user_timing("t")
    assert tracing.open_start_unix_ms(span_id) == start_unix_ms
    span_end(span_id)
    assert tracing.open_start_unix_ms(span_id) is None


def test_span_link_and_current_span_link(tracing):
    assert current_span_link() is None
    a = span_start("pipeline", "a")
    assert span_link(a) == SpanLink(tracing.trace_id, "1")
    assert current_span_link() == SpanLink(tracing.trace_id, "1")
    span_end(a)
    assert span_link(a) is None
    assert current_span_link() is None


def test_take_spans_drains_and_peek_copies(tracing):
    span_end(span_start("pipeline", "a"))
    peeked = peek_spans()
    peeked.clear()
    assert len(peek_spans()) == 1
    taken = take_spans()
    assert [s.name for s in taken] == ["a"]
    assert take_spans() == []
    assert peek_spans() == []
    assert span_start("pipeline", "b") == 2  # take does not reset ids


def test_open_spans_lists_open_spans_oldest_first(tracing):
    a = span_start("pipeline", "a")
    b = span_start("tool_call", "b")
    assert [(o.span_id, o.kind, o.name) for o in tracing.open_spans()] == [
        (a, SpanKind.PIPELINE, "a"),
        (b, SpanKind.TOOL_CALL, "b"),
    ]


def test_open_spans_are_records_with_parent_metadata_and_start(tracing):
    with install_override(MockClock.at_wall_ms(1_000)):
        outer = span_start("pipeline", "outer")
        inner = span_start("tool_call", "search")
    span_set_metadata(inner, "query", "why?")
    first, second = tracing.open_spans()
    assert second == OpenSpan(
        span_id=inner,
        kind=SpanKind.TOOL_CALL,
        name="search",
        parent_id=outer,
        metadata={"query": "why?"},
        start_ms=second.start_ms,
        start_unix_ms=1_000,
    )
    assert (first.name, first.parent_id, first.metadata) == ("outer", None, {})
    assert first.start_ms >= 0
    assert str(second) == f"span {inner} tool_call 'search'"
    second.metadata["query"] = "changed"  # a copy: the open span keeps its own
    assert span_end(inner).metadata == {"query": "why?"}


def test_reset_tracing_resets_the_current_collector(tracing):
    span_end(span_start("pipeline", "a"))
    span_start("pipeline", "open")
    reset_tracing()
    assert peek_spans() == []
    assert current_span_id() is None
    assert span_start("pipeline", "b") == 1


def test_collector_repr_counts_spans():
    collector = SpanCollector()
    collector.end(collector.start("pipeline", "a"))
    collector.start("pipeline", "b")
    assert (
        repr(collector) == f"<SpanCollector {collector.trace_id} with 1 completed, 1 open span(s)>"
    )


def test_format_summary_smoke(tracing):
    span_end(span_start("pipeline", "main"))
    assert format_summary().startswith("Trace: 1 spans, ")
    assert format_summary([]) == "No spans recorded."


# -- use_collector ---------------------------------------------------------------


def test_use_collector_swaps_and_restores_even_on_error():
    before = current_collector()
    mine = SpanCollector()
    with pytest.raises(RuntimeError), use_collector(mine) as got:
        assert got is mine
        assert current_collector() is mine
        raise RuntimeError
    assert current_collector() is before


def test_use_collector_rejects_non_collector():
    with pytest.raises(TypeError) as info, use_collector(object()):  # type: ignore[arg-type]
        pass
    assert str(info.value) == "use_collector expects a SpanCollector, got object"


# -- bad input -------------------------------------------------------------------


def test_unknown_kind_string_lists_the_accepted_kinds_and_consumes_no_id(tracing):
    with pytest.raises(ValueError) as info:
        span_start("llm", "x")
    assert str(info.value).startswith("unknown span kind 'llm'; use one of: pipeline, fn_call, ")
    assert str(info.value).endswith(", model_route, tool_mount, deferred_tool_load")
    assert_intact(tracing, next_id=1)


def test_kind_of_wrong_type_is_type_error(tracing):
    with pytest.raises(TypeError) as info:
        span_start(None, "x")  # type: ignore[arg-type]
    assert str(info.value) == "span kind must be a SpanKind or its name as str, got NoneType"
    assert_intact(tracing, next_id=1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: span_start("pipeline", 5), "span_start: span name must be str, got int"),
        (
            lambda: span_start_with_links("pipeline", b"x", []),
            "SpanCollector.start_with_links: span name must be str, got bytes",
        ),
        (
            lambda: span_start_user_timing(None),
            "span_start_user_timing: span name must be str, got NoneType",
        ),
        (
            lambda: current_collector().start("pipeline", ["x"]),
            "SpanCollector.start: span name must be str, got list",
        ),
    ],
)
def test_name_of_wrong_type_is_type_error(tracing, call, message):
    with pytest.raises(TypeError) as info:
        call()
    assert str(info.value) == message
    assert_intact(tracing, next_id=1)


@pytest.mark.parametrize(
    ("links", "message"),
    [
        (
            SpanLink("t", "1"),
            "SpanCollector.start_with_links: links must be a list of SpanLink, got SpanLink",
        ),
        ("1", "SpanCollector.start_with_links: links must be a list of SpanLink, got str"),
        (None, "SpanCollector.start_with_links: links must be a list of SpanLink, got NoneType"),
        (
            [SpanLink("t", "1"), {"trace_id": "t", "span_id": "2"}],
            "SpanCollector.start_with_links: links must be SpanLink objects, got dict",
        ),
    ],
)
def test_links_of_wrong_type_are_type_error(tracing, links, message):
    with pytest.raises(TypeError) as info:
        span_start_with_links("resume", "r", links)
    assert str(info.value) == message
    assert_intact(tracing, next_id=1)


def test_detached_links_of_wrong_type_are_type_error(tracing):
    with pytest.raises(TypeError) as info:
        span_start_detached_with_links("drain", "d", [1])  # type: ignore[list-item]
    assert str(info.value) == (
        "SpanCollector.start_detached_with_links: links must be SpanLink objects, got int"
    )
    assert_intact(tracing, next_id=1)


@pytest.mark.parametrize("bad_id", [True, 1.0, "1", [1], None])
def test_span_ids_of_wrong_type_are_type_error_and_touch_nothing(tracing, bad_id):
    span_id = span_start("pipeline", "a")
    assert span_id == 1
    name = type(bad_id).__name__
    for func, call in [
        ("span_end", lambda: span_end(bad_id)),
        ("span_set_metadata", lambda: span_set_metadata(bad_id, "k", 1)),
        ("span_attach_metadata_if_absent", lambda: span_attach_metadata_if_absent(bad_id, "k", 1)),
        ("span_record_event", lambda: span_record_event(bad_id, "e")),
        ("span_link", lambda: span_link(bad_id)),
        ("open_start_unix_ms", lambda: tracing.open_start_unix_ms(bad_id)),
    ]:
        with pytest.raises(TypeError) as info:
            call()
        assert str(info.value) == (
            f"{func}: span id must be an int (as returned by span_start), got {name}"
        )
    assert [(o.span_id, o.kind, o.name) for o in tracing.open_spans()] == [
        (1, SpanKind.PIPELINE, "a")
    ]
    done = span_end(span_id)
    assert done.span_id == 1
    assert type(done.span_id) is int
    assert done.metadata == {}
    assert done.events == ()


def test_int_subclass_span_id_is_stored_as_plain_int(tracing):
    class Id(int):
        pass

    span_id = span_start("pipeline", "a")
    span_set_metadata(Id(span_id), "k", 1)
    done = span_end(Id(span_id))
    assert type(done.span_id) is int
    assert done.metadata == {"k": 1}


def test_bad_metadata_key_is_type_error_and_stores_nothing(tracing):
    span_id = span_start("pipeline", "a")
    with pytest.raises(TypeError) as info:
        span_set_metadata(span_id, 5, "v")  # type: ignore[arg-type]
    assert str(info.value) == "span_set_metadata(span 1, 5): metadata key must be str, got int"
    assert span_end(span_id).metadata == {}


def test_record_event_bad_name_or_attributes_records_nothing(tracing):
    span_id = span_start("pipeline", "a")
    with pytest.raises(TypeError) as info:
        span_record_event(span_id, 7)  # type: ignore[arg-type]
    assert str(info.value) == "span_record_event: span name must be str, got int"
    with pytest.raises(TypeError) as info:
        span_record_event(span_id, "e", {"ok": 1, "bad": object()})
    assert str(info.value) == (
        'span_record_event(span 1, "bad"): object is not a JSON value; '
        "use str, int, float, bool, None, list or dict"
    )
    with pytest.raises(TypeError) as info:
        span_record_event(span_id, "e", "attrs")  # type: ignore[arg-type]
    assert str(info.value) == (
        "span_record_event: attributes must be a mapping of str to JSON values, got str"
    )
    assert span_end(span_id).events == ()


def test_typed_usage_file_runs():
    path = pathlib.Path(__file__).parents[1] / "typing" / "api_usage.py"
    before = current_collector()
    runpy.run_path(str(path), run_name="__main__")
    assert current_collector() is before
    assert not is_tracing_enabled()


def test_leaving_the_context_drops_only_that_collectors_spans_from_the_active_stack():
    import contextvars

    from pytest_harn_trace.tracing.collector import _active_spans

    def stack() -> list[int]:
        node, ids = _active_spans.get(), []
        while node is not None:
            ids.append(node[0])
            node = node[2]
        return ids

    def scenario() -> None:
        _active_spans.set(None)  # whatever earlier tests left on this context's stack
        kept, dropped = SpanCollector(), SpanCollector()
        outer = kept.start("pipeline", "outer")
        left_open = dropped.start("step", "left open")
        ended = dropped.start("step", "ended")
        dropped.end(ended)
        inner = kept.start("fn_call", "inner")
        kept.end(kept.start("step", "ended too"))
        assert stack() == [3, inner, left_open, outer]  # 3 ended: still there
        dropped._leave_context()
        assert stack() == [inner, outer]  # ended spans of any collector go too
        assert kept.current_span_id() == inner
        assert dropped.current_span_id() is None
        assert [(o.span_id, o.kind, o.name) for o in dropped.open_spans()] == [
            (left_open, SpanKind.STEP, "left open")
        ]
        kept.end(inner)
        assert kept.current_span_id() == outer

    contextvars.copy_context().run(scenario)

from __future__ import annotations

import pytest

from pytest_harn_trace import (
    MockClock,
    SpanLink,
    add_event_sink,
    emit_model_route,
    events,
    install_override,
    remove_event_sink,
    set_tracing_enabled,
    span,
    span_end,
    span_set_metadata,
    span_start,
    span_start_detached_with_links,
    span_start_user_timing,
    span_start_with_links,
)


class Recorder:
    def __init__(self):
        self.calls = []

    @events.hookimpl
    def harn_span_start(self, span_id, parent_id, name, kind, metadata):
        self.calls.append(("start", span_id, parent_id, name, kind, metadata))

    @events.hookimpl
    def harn_span_end(self, span_id, metadata):
        self.calls.append(("end", span_id, metadata))


@pytest.fixture
def recorder():
    sink = Recorder()
    add_event_sink(sink)
    try:
        yield sink
    finally:
        remove_event_sink(sink)
    assert not events.has_sinks()


def test_sinks_get_exactly_the_seeds_arguments(tracing, recorder):
    mock = MockClock.at_wall_ms(1_000)
    with install_override(mock):
        parent = span_start("pipeline", "main")
        child = span_start("llm_call", "gpt-4")
        span_set_metadata(child, "tokens", 12)
        mock.advance(5)
        span_end(child)
        span_end(parent)
    assert recorder.calls == [
        ("start", 1, None, "main", "pipeline", {}),
        ("start", 2, 1, "gpt-4", "llm_call", {}),
        ("end", 2, {"tokens": 12, "duration_ms": 5}),
        ("end", 1, {"duration_ms": 5}),
    ]
    start_kind = recorder.calls[0][4]
    assert type(start_kind) is str


def test_start_metadata_carries_links_as_dicts(tracing, recorder):
    links = [SpanLink("trace_a", "4"), SpanLink("trace_a", "5", {"why": "batch"})]
    span_start_with_links("channel_match", "m", links)
    span_start_detached_with_links("drain", "d", links[:1])
    assert recorder.calls == [
        (
            "start",
            1,
            None,
            "m",
            "channel_match",
            {
                "links": [
                    {"trace_id": "trace_a", "span_id": "4"},
                    {"trace_id": "trace_a", "span_id": "5", "attributes": {"why": "batch"}},
                ]
            },
        ),
        ("start", 2, None, "d", "drain", {"links": [{"trace_id": "trace_a", "span_id": "4"}]}),
    ]


def test_end_metadata_duration_overrides_a_metadata_key_of_that_name(tracing, recorder):
    with install_override(MockClock()):
        span_id = span_start("pipeline", "p")
        span_set_metadata(span_id, "duration_ms", "user value")
        done = span_end(span_id)
    assert recorder.calls[-1] == ("end", 1, {"duration_ms": 0})
    assert done.metadata == {"duration_ms": "user value"}


def test_end_metadata_is_a_copy_of_the_spans_metadata(tracing, recorder):
    span_id = span_start("pipeline", "p")
    span_set_metadata(span_id, "k", "v")
    done = span_end(span_id)
    recorder.calls[-1][2]["k"] = "changed by the sink"
    assert done.metadata == {"k": "v"}


def test_unknown_or_already_ended_span_emits_nothing(tracing, recorder):
    span_id = span_start("pipeline", "p")
    span_end(span_id)
    del recorder.calls[:]
    assert span_end(span_id) is None
    assert span_end(77) is None
    assert span_end(0) is None
    assert recorder.calls == []


def test_tracing_off_emits_nothing_except_user_timing(tracing, recorder):
    set_tracing_enabled(False)
    span_end(span_start("pipeline", "p"))
    emit_model_route("a", "b", "c")
    with span("tool_call", "t"):
        pass
    assert recorder.calls == []
    span_id = span_start_user_timing("timing")[0]
    span_end(span_id)
    assert [call[:5] for call in recorder.calls[:1]] == [
        ("start", 1, None, "timing", "user_timing")
    ]
    assert recorder.calls[1][:2] == ("end", 1)


def test_marker_spans_emit_start_and_end(tracing, recorder):
    with install_override(MockClock()):
        emit_model_route("cheap", "smart", "stuck")
    assert recorder.calls == [
        ("start", 1, None, "model_route", "model_route", {}),
        (
            "end",
            1,
            {"from_model": "cheap", "to_model": "smart", "reason": "stuck", "duration_ms": 0},
        ),
    ]


def test_remove_event_sink_stops_delivery(tracing):
    sink = Recorder()
    add_event_sink(sink)
    assert events.has_sinks()
    span_start("pipeline", "seen")
    remove_event_sink(sink)
    assert not events.has_sinks()
    span_start("pipeline", "unseen")
    assert [call[3] for call in sink.calls] == ["seen"]


def test_a_sink_may_implement_only_one_hook(tracing):
    class EndsOnly:
        def __init__(self):
            self.ended = []

        @events.hookimpl
        def harn_span_end(self, span_id, metadata):
            self.ended.append(span_id)

    sink = EndsOnly()
    add_event_sink(sink)
    try:
        span_end(span_start("pipeline", "p"))
    finally:
        remove_event_sink(sink)
    assert sink.ended == [1]


def test_a_sink_may_take_a_subset_of_the_arguments(tracing):
    class NamesOnly:
        def __init__(self):
            self.names = []

        @events.hookimpl
        def harn_span_start(self, name):
            self.names.append(name)

    sink = NamesOnly()
    add_event_sink(sink)
    try:
        span_start("pipeline", "p")
    finally:
        remove_event_sink(sink)
    assert sink.names == ["p"]


def test_several_sinks_all_receive(tracing):
    first, second = Recorder(), Recorder()
    add_event_sink(first)
    add_event_sink(second)
    try:
        span_end(span_start("pipeline", "p"))
    finally:
        remove_event_sink(first)
        remove_event_sink(second)
    assert [c[0] for c in first.calls] == [c[0] for c in second.calls] == ["start", "end"]


def test_sink_that_implements_nothing_is_rejected():
    class Plain:
        def harn_span_start(self, span_id, parent_id, name, kind, metadata):
            pass

        def __repr__(self):
            return "<Plain>"

    with pytest.raises(ValueError) as info:
        add_event_sink(Plain())
    assert str(info.value) == (
        "add_event_sink: <Plain> implements no hook; mark its harn_span_start "
        "and/or harn_span_end methods with @pytest_harn_trace.events.hookimpl"
    )
    assert not events.has_sinks()


def test_sink_with_a_misspelled_hook_is_rejected():
    class Misspelled:
        @events.hookimpl
        def harn_span_ended(self, span_id, metadata):
            pass

        def __repr__(self):
            return "<Misspelled>"

    with pytest.raises(ValueError) as info:
        add_event_sink(Misspelled())
    assert str(info.value) == (
        "add_event_sink: <Misspelled> implements unknown hook(s) harn_span_ended; mark its "
        "harn_span_start and/or harn_span_end methods with @pytest_harn_trace.events.hookimpl"
    )
    assert not events.has_sinks()


def test_sink_with_wrong_arguments_is_rejected_with_a_type_error_naming_them():
    class WrongArgs:
        @events.hookimpl
        def harn_span_end(self, span_id, metadata, extra):
            pass

        def __repr__(self):
            return "<WrongArgs>"

    with pytest.raises(TypeError) as info:
        add_event_sink(WrongArgs())
    assert str(info.value) == (
        "add_event_sink: <WrongArgs>.harn_span_end takes extra, which the hook does not pass; "
        "it may take any of: span_id, metadata"
    )
    assert not events.has_sinks()
    assert events._manager.get_plugins() == set()


def test_sink_class_instead_of_instance_is_told_to_pass_an_instance():
    with pytest.raises(TypeError) as info:
        add_event_sink(Recorder)
    assert str(info.value).endswith(
        "takes self, which the hook does not pass; it may take any of: span_id, metadata; "
        "pass an instance: add_event_sink(Recorder())"
    )
    assert events._manager.get_plugins() == set()


def test_sink_hook_named_by_specname_is_accepted(tracing):
    class BySpecname:
        def __init__(self):
            self.ended = []

        @events.hookimpl(specname="harn_span_end")
        def on_end(self, span_id):
            self.ended.append(span_id)

    sink = BySpecname()
    add_event_sink(sink)
    try:
        span_end(span_start("step", "x"))
    finally:
        remove_event_sink(sink)
    assert sink.ended == [1]
    assert events._manager.get_plugins() == set()


def test_none_as_sink_is_a_type_error_and_registers_nothing():
    with pytest.raises(TypeError) as info:
        add_event_sink(None)
    assert str(info.value) == (
        "add_event_sink: expected an object whose harn_span_start and/or harn_span_end "
        "methods are marked with @pytest_harn_trace.events.hookimpl, got None"
    )
    assert not events.has_sinks()
    assert events._manager.get_plugins() == set()


def test_nan_as_sink_is_rejected_and_not_left_registered():
    # pluggy finds a plugin again by ==, which NaN never satisfies: it must never get there.
    with pytest.raises(ValueError, match="add_event_sink: nan implements no hook"):
        add_event_sink(float("nan"))
    assert events._manager.get_plugins() == set()
    with pytest.raises(ValueError, match="add_event_sink: nan implements no hook"):
        add_event_sink(float("nan"))


def test_adding_a_sink_twice_or_removing_an_unknown_one_is_value_error():
    class Named(Recorder):
        def __repr__(self):
            return "<Named>"

    sink = Named()
    add_event_sink(sink)
    try:
        with pytest.raises(ValueError) as info:
            add_event_sink(sink)
        assert str(info.value) == "add_event_sink: <Named> is already registered"
    finally:
        remove_event_sink(sink)
    with pytest.raises(ValueError) as info:
        remove_event_sink(sink)
    assert str(info.value) == "remove_event_sink: <Named> is not registered"
    assert not events.has_sinks()


class Exploding:
    def __init__(self, on):
        self.on = on

    @events.hookimpl
    def harn_span_start(self, span_id, parent_id, name, kind, metadata):
        if self.on == "start":
            raise RuntimeError("sink broke on start")

    @events.hookimpl
    def harn_span_end(self, span_id, metadata):
        if self.on == "end":
            raise RuntimeError("sink broke on end")


def test_sink_raising_on_start_leaves_no_open_span(tracing):
    outer = span_start("pipeline", "outer")
    sink = Exploding("start")
    add_event_sink(sink)
    try:
        with pytest.raises(RuntimeError, match="sink broke on start"):
            span_start("fn_call", "doomed")
    finally:
        remove_event_sink(sink)
    assert [(o.span_id, o.kind, o.name) for o in tracing.open_spans()] == [
        (outer, "pipeline", "outer")
    ]
    assert tracing.current_span_id() == outer
    inner = span_start("fn_call", "after")
    assert span_end(inner).parent_id == outer
    assert span_end(outer).parent_id is None


def test_sink_raising_on_end_still_completes_the_span(tracing):
    outer = span_start("pipeline", "outer")
    inner = span_start("fn_call", "inner")
    sink = Exploding("end")
    add_event_sink(sink)
    try:
        with pytest.raises(RuntimeError, match="sink broke on end"):
            span_end(inner)
    finally:
        remove_event_sink(sink)
    assert [s.name for s in tracing.spans()] == ["inner"]
    assert tracing.current_span_id() == outer
    assert span_end(inner) is None
    assert span_end(outer) is not None

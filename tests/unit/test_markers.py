from __future__ import annotations

import datetime as dt
import math

import pytest

from pytest_harn_trace import (
    MockClock,
    SpanKind,
    emit_deferred_tool_load,
    emit_marker_span,
    emit_model_route,
    emit_tool_mount,
    install_override,
    set_tracing_enabled,
    span_end,
    span_start,
)


def only_span(collector):
    (span,) = collector.spans()
    return span


def test_marker_span_from_mapping_nests_under_the_active_span(tracing):
    parent = span_start("pipeline", "loop")
    emit_marker_span(SpanKind.MODEL_ROUTE, "switch", {"b": 1, "a": [1, 2]})
    span_end(parent)
    marker, _ = tracing.spans()
    assert (marker.span_id, marker.parent_id, marker.kind, marker.name) == (
        2,
        parent,
        SpanKind.MODEL_ROUTE,
        "switch",
    )
    assert marker.metadata == {"b": 1, "a": [1, 2]}
    assert tracing.current_span_id() is None


def test_marker_span_from_pairs_and_kind_string(tracing):
    emit_marker_span("tool_mount", "m", [("k", "v"), ("k", "last wins"), ("n", None)])
    span = only_span(tracing)
    assert span.kind is SpanKind.TOOL_MOUNT
    assert span.metadata == {"k": "last wins", "n": None}


def test_marker_span_is_zero_duration_under_a_mock_clock(tracing):
    mock = MockClock.at_wall_ms(5_000)
    with install_override(mock):
        mock.advance(10)
        emit_marker_span("model_route", "m", {})
    span = only_span(tracing)
    assert (span.start_unix_ms, span.duration_ms) == (5_010, 0)


def test_marker_span_is_a_noop_when_tracing_off(tracing):
    set_tracing_enabled(False)
    emit_marker_span("model_route", "m", {"k": 1})
    emit_model_route("a", "b", "c")
    emit_tool_mount(["x"], "mcp")
    emit_deferred_tool_load("t", "q", 1.0)
    assert tracing.spans() == []
    assert tracing.open_spans() == []


def test_marker_span_with_a_bad_value_leaves_no_span(tracing):
    parent = span_start("pipeline", "loop")
    with pytest.raises(TypeError) as info:
        emit_marker_span("model_route", "m", [("ok", 1), ("when", dt.time(1, 2))])
    assert str(info.value) == (
        'emit_marker_span("when"): time is not a JSON value '
        "(str, int, float, bool, None, list or dict); use .isoformat()"
    )
    assert tracing.spans() == []
    assert tracing.current_span_id() == parent
    assert span_start("fn_call", "next") == 2  # no id was used up


def test_marker_span_with_bad_metadata_shape_leaves_no_span(tracing):
    with pytest.raises(TypeError) as info:
        emit_marker_span("model_route", "m", [("k", 1, 2)])  # type: ignore[list-item]
    assert str(info.value) == (
        "emit_marker_span: metadata must be a mapping or (key, value) pairs, got item ('k', 1, 2)"
    )
    with pytest.raises(TypeError) as info:
        emit_marker_span("model_route", "m", 5)  # type: ignore[arg-type]
    assert str(info.value) == (
        "emit_marker_span: metadata must be a mapping or (key, value) pairs, got int"
    )
    with pytest.raises(TypeError) as info:
        emit_marker_span("model_route", "m", "ab")  # type: ignore[arg-type]
    assert str(info.value) == (
        "emit_marker_span: metadata must be a mapping or (key, value) pairs, got str"
    )
    with pytest.raises(TypeError) as info:
        emit_marker_span("model_route", "m", {3: "x"})  # type: ignore[dict-item]
    assert str(info.value) == "emit_marker_span(3): metadata key must be str, got int"
    assert tracing.spans() == []
    assert tracing.open_spans() == []


def test_marker_span_with_bad_kind_or_name_leaves_no_span(tracing):
    with pytest.raises(ValueError, match=r"^unknown span kind 'route'; use one of: "):
        emit_marker_span("route", "m", {})
    with pytest.raises(TypeError) as info:
        emit_marker_span("model_route", 1, {})  # type: ignore[arg-type]
    assert str(info.value) == "SpanCollector.start: span name must be str, got int"
    assert tracing.spans() == []
    assert tracing.open_spans() == []


def test_emit_model_route_metadata(tracing):
    emit_model_route("cheap", "smart", "no_progress")
    span = only_span(tracing)
    assert (span.kind, span.name) == (SpanKind.MODEL_ROUTE, "model_route")
    assert span.metadata == {"from_model": "cheap", "to_model": "smart", "reason": "no_progress"}


def test_emit_tool_mount_metadata(tracing):
    names = ["read", "write"]
    emit_tool_mount(names, "mcp", "filesystem")
    emit_tool_mount(iter(["grep"]), "search")
    mount, search = tracing.spans()
    assert (mount.kind, mount.name) == (SpanKind.TOOL_MOUNT, "tool_mount")
    assert mount.metadata == {
        "tool_names": ["read", "write"],
        "tool_count": 2,
        "source": "mcp",
        "detail": "filesystem",
    }
    assert search.metadata == {"tool_names": ["grep"], "tool_count": 1, "source": "search"}
    names.append("later")
    assert tracing.spans()[0].metadata["tool_names"] == ["read", "write"]


def test_emit_tool_mount_empty_is_a_noop(tracing):
    emit_tool_mount([], "mcp", "empty")
    emit_tool_mount(iter([]), "mcp")
    assert tracing.spans() == []


def test_emit_tool_mount_rejects_a_single_string(tracing):
    with pytest.raises(TypeError) as info:
        emit_tool_mount("read", "mcp")  # type: ignore[arg-type]
    assert str(info.value) == "emit_tool_mount: tool_names must be a list of str, not one str"
    assert tracing.spans() == []


def test_emit_deferred_tool_load_metadata(tracing):
    emit_deferred_tool_load("grep", "search files", 4.5)
    emit_deferred_tool_load("find", "q")
    emit_deferred_tool_load("nan", "q", math.nan)
    with_score, without, nan = tracing.spans()
    assert (with_score.kind, with_score.name) == (
        SpanKind.DEFERRED_TOOL_LOAD,
        "deferred_tool_load",
    )
    assert with_score.metadata == {"tool_name": "grep", "query": "search files", "score": 4.5}
    assert without.metadata == {"tool_name": "find", "query": "q"}
    assert nan.metadata == {"tool_name": "nan", "query": "q", "score": None}


def test_emit_deferred_tool_load_rejects_non_numeric_score(tracing):
    for bad in ("4.5", True):
        with pytest.raises(TypeError) as info:
            emit_deferred_tool_load("grep", "q", bad)  # type: ignore[arg-type]
        assert str(info.value) == f"emit_deferred_tool_load: score must be a float, got {bad!r}"
    assert tracing.spans() == []

"""The unit tests of the seed (harn-vm 0.9.4 ``tracing.rs``), ported one by one.

Names are the Rust test names; the seed's process-global ``set_tracing_enabled``
and ``reset_tracing`` calls run here against a fresh collector installed with
``use_collector``, and the flag is switched off again afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_harn_trace import (
    LlmCallUsage,
    MockClock,
    SpanCollector,
    SpanKind,
    emit_deferred_tool_load,
    emit_model_route,
    emit_tool_mount,
    install_override,
    meta,
    peek_spans,
    reset_tracing,
    set_tracing_enabled,
    span_end,
    span_record_event,
    span_start,
    span_start_user_timing,
    use_collector,
)


@pytest.fixture(autouse=True)
def fresh_collector() -> Iterator[SpanCollector]:
    with use_collector(SpanCollector()) as collector:
        try:
            yield collector
        finally:
            set_tracing_enabled(False)


def test_span_collector_basic() -> None:
    c = SpanCollector()
    id_ = c.start(SpanKind.PIPELINE, "main")
    assert id_ == 1
    assert c.current_span_id() == 1
    assert c.span_link(id_) is not None
    c.end(id_)
    assert c.current_span_id() is None
    assert len(c.spans()) == 1
    assert c.spans()[0].name == "main"
    assert c.spans()[0].parent_id is None


def test_span_parent_child() -> None:
    c = SpanCollector()
    parent = c.start(SpanKind.PIPELINE, "main")
    child = c.start(SpanKind.FN_CALL, "helper")
    c.end(child)
    c.end(parent)
    assert len(c.spans()) == 2
    assert c.spans()[0].parent_id == parent
    assert c.spans()[1].parent_id is None


def test_span_metadata() -> None:
    c = SpanCollector()
    id_ = c.start(SpanKind.LLM_CALL, "gpt-4")
    c.set_metadata(id_, "tokens", 100)
    c.end(id_)
    assert c.spans()[0].metadata["tokens"] == 100


def test_completed_span_metadata_can_be_attached_late() -> None:
    c = SpanCollector()
    id_ = c.start(SpanKind.LLM_CALL, "gpt-4")
    c.end(id_)

    c.attach_metadata_if_absent(id_, "first_token_ms", 125)
    c.attach_metadata_if_absent(id_, "first_token_ms", 250)

    assert c.spans()[0].metadata["first_token_ms"] == 125


def test_span_links_are_preserved() -> None:
    c = SpanCollector()
    parent = c.start(SpanKind.SUSPENSION, "suspend worker")
    link = c.span_link(parent)
    assert link is not None, "link for open span"
    c.end(parent)

    child = c.start_with_links(SpanKind.RESUME, "resume worker", [link])
    c.end(child)

    assert len(c.spans()) == 2
    assert c.spans()[1].parent_id is None
    assert len(c.spans()[1].links) == 1
    assert c.spans()[1].links[0].span_id == str(parent)


def test_detached_span_links_do_not_inherit_active_parent() -> None:
    c = SpanCollector()
    pipeline = c.start(SpanKind.PIPELINE, "pipeline")
    link = c.span_link(pipeline)
    assert link is not None, "pipeline link"
    drain_id = c.start_detached_with_links(SpanKind.DRAIN, "drain", [link])
    c.end(drain_id)
    c.end(pipeline)

    drain = next(span for span in c.spans() if span.kind == SpanKind.DRAIN)
    assert drain.parent_id is None
    assert len(drain.links) == 1
    assert drain.links[0].span_id == str(pipeline)


def test_noop_when_disabled() -> None:
    set_tracing_enabled(False)
    id_ = span_start(SpanKind.PIPELINE, "test")
    assert id_ == 0
    assert span_end(id_) is None


def test_user_timing_records_when_tracing_disabled() -> None:
    set_tracing_enabled(False)
    reset_tracing()
    id_, trace_id, parent, start_unix_ms = span_start_user_timing(
        "script.work", {"phase": "warmup"}
    )
    assert id_ != 0
    assert trace_id != ""
    assert parent is None
    assert start_unix_ms > 0

    assert span_record_event(id_, "checkpoint", {})

    closed = span_end(id_)
    assert closed is not None, "user timing always records"
    assert closed.kind == SpanKind.USER_TIMING
    assert len(closed.events) == 1
    assert closed.events[0].name == "checkpoint"
    assert closed.metadata["phase"] == "warmup"

    snapshot = peek_spans()
    assert any(
        span.kind == SpanKind.USER_TIMING and span.name == "script.work" for span in snapshot
    )


def test_new_span_kinds_stringify() -> None:
    assert SpanKind.MODEL_ROUTE.as_str() == "model_route"
    assert SpanKind.TOOL_MOUNT.as_str() == "tool_mount"
    assert SpanKind.DEFERRED_TOOL_LOAD.as_str() == "deferred_tool_load"


def test_llm_call_usage_metadata_pairs_carry_cache_tokens() -> None:
    usage = LlmCallUsage(
        model="claude-sonnet-4",
        provider="anthropic",
        input_tokens=100,
        output_tokens=20,
        cache_read_tokens=40,
        cache_write_tokens=8,
        cost_usd=0.0123,
    )
    pairs = dict(usage.metadata_pairs())
    assert pairs[meta.MODEL] == "claude-sonnet-4"
    assert pairs[meta.PROVIDER] == "anthropic"
    assert pairs[meta.INPUT_TOKENS] == 100
    assert pairs[meta.OUTPUT_TOKENS] == 20
    assert pairs[meta.CACHE_READ_TOKENS] == 40
    assert pairs[meta.CACHE_WRITE_TOKENS] == 8
    assert pairs[meta.COST_USD] == 0.0123


def test_llm_call_usage_omits_cost_when_unpriced() -> None:
    usage = LlmCallUsage(
        model="local-model",
        provider="local",
        input_tokens=5,
        output_tokens=1,
        cost_usd=None,
    )
    pairs = dict(usage.metadata_pairs())
    assert meta.COST_USD not in pairs
    # Token attribution is still present even when unpriced.
    assert pairs[meta.INPUT_TOKENS] == 5


def test_marker_spans_nest_under_active_span_and_carry_metadata() -> None:
    set_tracing_enabled(True)
    reset_tracing()
    parent = span_start(SpanKind.PIPELINE, "agent_loop")
    emit_model_route("cheap-model", "smart-model", "no_progress")
    emit_tool_mount(["read", "write"], "mcp", "filesystem")
    emit_deferred_tool_load("grep", "search files", 4.5)
    span_end(parent)

    spans = peek_spans()
    route = next(s for s in spans if s.kind == SpanKind.MODEL_ROUTE)
    assert route.parent_id == parent
    assert route.metadata[meta.TO_MODEL] == "smart-model"
    assert route.metadata[meta.FROM_MODEL] == "cheap-model"

    mount = next(s for s in spans if s.kind == SpanKind.TOOL_MOUNT)
    assert mount.metadata[meta.TOOL_COUNT] == 2
    assert mount.metadata[meta.SOURCE] == "mcp"
    assert mount.metadata[meta.DETAIL] == "filesystem"

    deferred = next(s for s in spans if s.kind == SpanKind.DEFERRED_TOOL_LOAD)
    assert deferred.metadata[meta.TOOL_NAME] == "grep"
    assert deferred.metadata[meta.SCORE] == 4.5
    set_tracing_enabled(False)


def test_empty_tool_mount_is_a_noop() -> None:
    set_tracing_enabled(True)
    reset_tracing()
    parent = span_start(SpanKind.PIPELINE, "loop")
    emit_tool_mount([], "mcp", "empty-server")
    span_end(parent)
    spans = peek_spans()
    assert not any(s.kind == SpanKind.TOOL_MOUNT for s in spans)
    # Guard against the check passing vacuously: the parent itself was recorded.
    assert [s.name for s in spans] == ["loop"]
    set_tracing_enabled(False)


def test_span_event_offset_is_monotonic() -> None:
    clock = MockClock.at_wall_ms(1_000_000_000_000)
    with install_override(clock):
        c = SpanCollector()
        id_ = c.start(SpanKind.USER_TIMING, "outer")
        assert c.record_event(id_, "before", {})
        clock.advance(10)
        assert c.record_event(id_, "after", {})
        closed = c.end(id_)
    assert closed is not None, "open span"
    assert len(closed.events) == 2
    assert closed.events[1].offset_ms > closed.events[0].offset_ms, (
        "second event should have a strictly greater offset after a 10ms advance; "
        f"before={closed.events[0].offset_ms} after={closed.events[1].offset_ms}"
    )

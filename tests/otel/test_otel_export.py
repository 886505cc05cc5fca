"""Harn spans exported to OpenTelemetry, and read back into the same tree."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from pytest_harn_trace import (
    LlmCallUsage,
    MockClock,
    TraceCapture,
    add_event_sink,
    assert_span_tree,
    remove_event_sink,
    span,
    span_end,
    span_start_with_links,
)
from pytest_harn_trace.otel import OtelExportSink, attach, spans_from_otel


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sink = OtelExportSink(provider)
    add_event_sink(sink)
    yield exporter
    remove_event_sink(sink)


def record_agent(mock_clock: MockClock) -> None:
    with span("pipeline", "research", question="why?") as root:
        with span("llm_call", "cheap-model") as call:
            for key, value in LlmCallUsage("cheap-model", "acme", 120, 8).metadata_pairs():
                call.set(key, value)
            mock_clock.advance(30)
            call.event("first_token", n=1)
            mock_clock.advance(5)
        link = root.link()
        assert link is not None
        tool = span_start_with_links("tool_call", "search", [link])
        mock_clock.advance(7)
        span_end(tool)
        with pytest.raises(ValueError), span("tool_call", "fetch", url="https://x"):
            raise ValueError("404")
        with span("step", "rank", scores=[1, 2], extra={"a": None}):
            mock_clock.advance(2)


def test_harn_spans_round_trip_through_the_otel_sdk(
    trace: TraceCapture, mock_clock: MockClock, exporter: InMemorySpanExporter
) -> None:
    record_agent(mock_clock)
    finished = exporter.get_finished_spans()
    assert [s.name for s in finished] == [s.name for s in trace.spans]
    back = spans_from_otel(finished)
    assert_span_tree(back, trace.summary())
    assert [s.span_id for s in back] == [s.span_id for s in trace.spans]
    assert [s.parent_id for s in back] == [s.parent_id for s in trace.spans]
    assert [(s.start_unix_ms, s.duration_ms) for s in back] == [
        (s.start_unix_ms, s.duration_ms) for s in trace.spans
    ]
    assert [e.to_dict() for e in back[0].events] == [e.to_dict() for e in trace.spans[0].events]
    assert back[1].links[0].span_id == trace.spans[1].links[0].span_id == "1"
    for original, read_back in zip(trace.spans, back, strict=True):
        if original.kind != "llm_call":  # which gains the GenAI usage attributes
            assert read_back.metadata == original.metadata


def test_export_sets_kind_usage_status_and_json_metadata(
    trace: TraceCapture, mock_clock: MockClock, exporter: InMemorySpanExporter
) -> None:
    record_agent(mock_clock)
    by_name = {s.name: s for s in exporter.get_finished_spans()}
    llm = by_name["cheap-model"].attributes or {}
    assert llm["harn.kind"] == "llm_call"
    assert (llm["gen_ai.request.model"], llm["gen_ai.provider.name"]) == ("cheap-model", "acme")
    assert (llm["gen_ai.usage.input_tokens"], llm["gen_ai.usage.output_tokens"]) == (120, 8)
    fetch = by_name["fetch"]
    assert fetch.status.status_code is StatusCode.ERROR
    assert fetch.status.description == "ValueError: 404"
    rank = by_name["rank"].attributes or {}
    assert rank["scores"] == (1, 2)
    assert rank["extra"] == '{"a": null}'
    assert rank["harn.json_keys"] == ("extra",)
    assert by_name["research"].parent is None
    assert by_name["search"].parent.span_id == by_name["research"].context.span_id  # type: ignore[union-attr]


def test_exporting_to_a_captured_provider_does_not_loop(
    trace: TraceCapture, mock_clock: MockClock
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    attach(provider)  # its spans would be captured into the trace too
    sink = OtelExportSink(provider)
    add_event_sink(sink)
    try:
        with span("pipeline", "main"), provider.get_tracer("app").start_as_current_span("child"):
            mock_clock.advance(1)
    finally:
        remove_event_sink(sink)
    trace.assert_tree("""
        pipeline main 1ms
          fn_call child 1ms
    """)
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["child", "main"]


def test_the_sink_rejects_what_is_not_a_provider() -> None:
    with pytest.raises(TypeError, match="expects an OpenTelemetry TracerProvider, got str"):
        OtelExportSink("provider")  # type: ignore[arg-type]

"""Typed use of the public API: ``mypy --strict`` must accept this file.

Every value below is annotated with the type a user would expect, so a
change that loosens or breaks a public signature fails the type check. Not
collected by pytest (no ``test_`` prefix); ``main()`` also runs it.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest_harn_trace as pht
from pytest_harn_trace import (
    ClockOverride,
    JsonValue,
    LlmCallUsage,
    MockClock,
    Span,
    SpanCollector,
    SpanEvent,
    SpanHandle,
    SpanKind,
    SpanLink,
    SpanScope,
    events,
    meta,
)


class PrintingSink:
    """A sink for span lifecycle events."""

    def __init__(self) -> None:
        self.ended: list[int] = []

    @events.hookimpl
    def harn_span_end(self, span_id: int, metadata: dict[str, Any]) -> None:
        self.ended.append(span_id)


def collector_api() -> list[Span]:
    collector: SpanCollector = SpanCollector()
    trace_id: str = collector.trace_id
    root: int = collector.start(SpanKind.PIPELINE, "main")
    link: SpanLink | None = collector.span_link(root)
    links: list[SpanLink] = [SpanLink(trace_id, str(root)).with_attributes({"why": "test"})]
    if link is not None:
        links.append(link)
    child: int = collector.start_with_links("tool_call", "read", links)
    detached: int = collector.start_detached_with_links(SpanKind.DRAIN, "drain", links)
    collector.set_metadata(child, meta.TOOL_NAME, "read")
    collector.attach_metadata_if_absent(child, "attempt", 1)
    attached: bool = collector.record_event(child, "opened", {"fd": 3})
    assert attached
    started: int | None = collector.open_start_unix_ms(child)
    assert started is not None
    current: int | None = collector.current_span_id()
    current_link: SpanLink | None = collector.current_span_link()
    assert current == detached and current_link is not None
    ended: Span | None = collector.end(detached)
    assert ended is not None
    collector.end(child)
    collector.end(root)
    spans: list[Span] = collector.spans()
    taken: list[Span] = collector.take_spans()
    collector.reset()
    assert spans == taken
    return taken


def module_api() -> str:
    sink = PrintingSink()
    with pht.use_collector(SpanCollector()) as collector:
        pht.set_tracing_enabled(True)
        pht.add_event_sink(sink)
        try:
            enabled: bool = pht.is_tracing_enabled()
            assert enabled
            root: int = pht.span_start("pipeline", "main")
            usage = LlmCallUsage("gpt-4", "openai", input_tokens=10, cost_usd=0.01)
            for key, value in usage.metadata_pairs():
                pht.span_set_metadata(root, key, value)
            pht.span_attach_metadata(root, "retries", 0)
            pht.span_attach_metadata_if_absent(root, "retries", 1)
            link: SpanLink | None = pht.span_link(root)
            current: int | None = pht.current_span_id()
            current_link: SpanLink | None = pht.current_span_link()
            assert link == current_link and current == root
            linked: int = pht.span_start_with_links(
                "resume", "resume", [] if link is None else [link]
            )
            pht.span_end(linked)
            detached: int = pht.span_start_detached_with_links(SpanKind.DRAIN, "drain", [])
            pht.span_end(detached)
            timing: tuple[int, str, int | None, int] = pht.span_start_user_timing(
                "work", {"phase": "warmup"}
            )
            recorded: bool = pht.span_record_event(timing[0], "checkpoint", {"n": 1})
            assert recorded
            pht.span_end(timing[0])
            pht.emit_marker_span(SpanKind.MODEL_ROUTE, "route", {"reason": "test"})
            pht.emit_marker_span("model_route", "route", [("reason", "test")])
            pht.emit_model_route("cheap", "smart", "stuck")
            pht.emit_tool_mount(["read"], "mcp", detail="filesystem")
            pht.emit_deferred_tool_load("grep", "search", score=0.5)
            done: Span | None = pht.span_end(root)
            assert done is not None
            as_dict: dict[str, Any] = pht.span_to_dict(done)
            again: Span = Span.from_dict(as_dict)
            assert again == done
            peeked: list[Span] = pht.peek_spans()
            summary: str = pht.format_summary()
            also: str = pht.format_summary(peeked)
            assert summary == also
            taken: list[Span] = pht.take_spans()
            assert taken == peeked and collector.spans() == []
            pht.reset_tracing()
        finally:
            pht.remove_event_sink(sink)
            pht.set_tracing_enabled(False)
    return summary


def records_api(span: Span) -> JsonValue:
    kind: SpanKind = span.kind
    wire: str = kind.as_str()
    parsed: SpanKind = SpanKind.parse(wire)
    events_: tuple[SpanEvent, ...] = span.events
    links: tuple[SpanLink, ...] = span.links
    event_dicts: list[dict[str, Any]] = [event.to_dict() for event in events_]
    link_dicts: list[dict[str, Any]] = [link.to_dict() for link in links]
    assert parsed is kind and len(event_dicts) + len(link_dicts) >= 0
    tokens: JsonValue = span.metadata.get(meta.INPUT_TOKENS)
    parent: int | None = span.parent_id
    duration: int = span.duration_ms + span.start_ms + span.start_unix_ms
    assert duration >= 0 and parent != span.span_id
    return tokens


def instrument_api() -> int:
    with pht.use_collector(SpanCollector()):
        pht.set_tracing_enabled(True)
        try:
            scope: SpanScope = pht.span(SpanKind.LLM_CALL, "gpt-4", model="gpt-4")
            with scope as handle:
                handle_type: SpanHandle = handle
                handle_type.set("tokens", 3)
                handle_type.update({"attempt": 1, "tags": ["a"]})
                handle_type.set_usage(LlmCallUsage("gpt-4", "openai", input_tokens=3))
                handle_type.event("first_token", at=1)
                maybe: SpanLink | None = handle_type.link()
                assert maybe is not None

            @pht.span("fn_call", "add")
            def add(a: int, b: int) -> int:
                return a + b

            @pht.timed("fetch", url="https://example.com")
            async def fetch(n: int) -> str:
                async with pht.span("tool_call", "get") as inner:
                    inner.set("n", n)
                return str(n)

            total: int = add(1, 2)
            fetched: str = asyncio.run(fetch(total))
            return int(fetched)
        finally:
            pht.set_tracing_enabled(False)


def clock_api() -> int:
    clock: MockClock = MockClock.at_wall_ms(1_700_000_000_000, auto_advance_ms=0)
    guard: ClockOverride = pht.install_override(clock)
    with guard as installed:
        same: MockClock = installed
        installed.advance(5)
        installed.advance(timedelta(milliseconds=5))
        active: MockClock | None = pht.active_mock_clock()
        assert active is same
        wall: int = clock.now_wall_ms()
        mono: int = clock.now_monotonic_ms()
    guard.restore()
    return wall + mono


def virtual_time_api() -> int:
    async def nap() -> int:
        async with pht.VirtualTime(MockClock()) as virtual:
            await asyncio.sleep(2)
            elapsed: int = virtual.elapsed_ms
        return elapsed

    slept: int = asyncio.run(nap())
    clock = MockClock()
    pht.run_virtual(asyncio.sleep(3), clock=clock)
    error: type[RuntimeError] = pht.VirtualTimeError
    assert issubclass(error, RuntimeError)
    return slept + clock.monotonic_ms


def pictures_api(folder: Path) -> tuple[Path, Path]:
    collector = SpanCollector()
    collector.end(collector.start(SpanKind.PIPELINE, "main"))
    still_open: list[Span] = collector.peek_open_spans()
    assert still_open == []
    capture = pht.TraceCapture(collector)
    try:
        pht.assert_span_tree(capture, "pipeline other")
    except AssertionError as error:
        page: Path = capture.to_html(folder / "trace.html", title="main", failure=error)
    trace_file: Path = capture.to_perfetto(str(folder / "trace.json"), title="main")
    return page, trace_file


def usage_api() -> float | None:
    collector = SpanCollector()
    call = collector.start(SpanKind.LLM_CALL, "gpt-4o")
    for key, value in LlmCallUsage("gpt-4o", "openai", input_tokens=10).metadata_pairs():
        collector.set_metadata(call, key, value)
    collector.end(call)

    def price(span: Span) -> float | None:
        tokens: int = span.metadata.get("input_tokens", 0)
        return tokens / 1_000_000

    capture = pht.TraceCapture(collector, price=price, usage_in_snapshot=True)
    usage: pht.TraceUsage = capture.usage(under={"kind": "llm_call"})
    calls: int = usage.llm_calls + usage.by_model["gpt-4o"].llm_calls
    tokens: int = usage.total_tokens + usage.by_model["gpt-4o"].total_tokens
    notes: tuple[str, ...] = usage.notes
    assert (calls, tokens, notes) == (2, 20, ())
    capture.assert_within_budget(llm_calls=1, total_tokens=10, cost_usd=0.01)
    same: pht.TraceUsage = pht.TraceUsage.of(capture.spans, price=price)
    assert same == usage
    return usage.cost_usd


def otel_api() -> list[Span]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from pytest_harn_trace.otel import bridge as otel
    from pytest_harn_trace.otel.mapping import OtelSpanMapping

    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sink = otel.OtelExportSink(provider)
    pht.add_event_sink(sink)
    collector = SpanCollector()
    was = pht.collector.swap_enabled(True)
    try:
        with pht.use_collector(collector), pht.span(SpanKind.PIPELINE, "main"):
            pass
    finally:
        pht.collector.swap_enabled(was)
        pht.remove_event_sink(sink)

    def rename(otel_span: Any, mapping: OtelSpanMapping) -> None:
        mapping.name = mapping.name.upper()

    otel.configure_capture(collector, keep_content=True, raw_ids=False, on_span=rename)
    wired: TracerProvider = otel.attach(otel.tracer_provider())
    assert wired is otel.tracer_provider()
    return otel.spans_from_otel(exporter.get_finished_spans())


if TYPE_CHECKING:
    # SpanScope is final: mypy must refuse a subclass (the ignore would be unused otherwise).
    class MyScope(SpanScope):  # type: ignore[misc]
        pass


def main() -> None:
    collector_api()
    module_api()
    instrument_api()
    clock_api()
    assert virtual_time_api() == 5000
    with tempfile.TemporaryDirectory() as folder:
        pictures_api(Path(folder))
    assert [span.name for span in otel_api()] == ["main"]
    assert usage_api() == 1e-5


if __name__ == "__main__":
    main()

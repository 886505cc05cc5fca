"""Harn spans to OpenTelemetry: an event sink that ships every recorded span to a provider.

Register it with :func:`~pytest_harn_trace.tracing.events.add_event_sink`; every span
recorded through this package then becomes an OpenTelemetry span on the given
``TracerProvider``, with its start and end times, parent, links, events,
``harn.kind``, metadata as attributes and, on ``llm_call`` spans, usage under
the GenAI attribute names. Spans the capture bridge took from OpenTelemetry
are not sent back.
"""

from __future__ import annotations

import json
import threading
import weakref
from typing import Any, final

from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Link, Status, StatusCode

from pytest_harn_trace.otel import state as otel_state
from pytest_harn_trace.tracing import meta
from pytest_harn_trace.tracing.collector import SpanCollector, current_collector
from pytest_harn_trace.tracing.events import hookimpl
from pytest_harn_trace.tracing.model import JsonValue, Span

__all__ = ["OtelExportSink"]

# Harn's canonical llm_call keys -> GenAI semantic-convention attribute names.
_GENAI_USAGE = {
    meta.MODEL: "gen_ai.request.model",
    meta.PROVIDER: "gen_ai.provider.name",
    meta.INPUT_TOKENS: "gen_ai.usage.input_tokens",
    meta.OUTPUT_TOKENS: "gen_ai.usage.output_tokens",
    meta.CACHE_READ_TOKENS: "gen_ai.usage.cache_read.input_tokens",
    meta.CACHE_WRITE_TOKENS: "gen_ai.usage.cache_creation.input_tokens",
}


@final
class _Pending:
    __slots__ = ("kind", "links", "name", "otel", "parent_id")

    def __init__(
        self, parent_id: int | None, name: str, kind: str, links: list[dict[str, Any]]
    ) -> None:
        self.parent_id = parent_id
        self.name = name
        self.kind = kind
        self.links = links
        self.otel: otel_trace.Span | None = None


@final
class OtelExportSink:
    """Sends each span recorded through this package to ``tracer_provider`` as it ends.

    An OpenTelemetry span is started when its first child ends (children
    need their parent's context) or when it ends itself, always with the
    Harn span's own start time, so the timestamps are exact. Spans are
    matched to the collector that is current when they start and end.

    Example::

        sink = OtelExportSink(provider)
        add_event_sink(sink)
    """

    def __init__(self, tracer_provider: TracerProvider | otel_trace.TracerProvider) -> None:
        __tracebackhide__ = True
        given: object = tracer_provider
        if not isinstance(given, otel_trace.TracerProvider):
            got = (
                f"the class {given.__qualname__}; pass an instance, such as TracerProvider()"
                if isinstance(given, type)
                else f"{type(given).__name__}; pass the provider your exporters are "
                "attached to, such as opentelemetry.sdk.trace.TracerProvider()"
            )
            raise TypeError(f"OtelExportSink expects an OpenTelemetry TracerProvider, got {got}")
        self._tracer = tracer_provider.get_tracer("pytest-harn-trace")
        self._spans: weakref.WeakKeyDictionary[SpanCollector, dict[int, _Pending]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def _table(self, collector: SpanCollector) -> dict[int, _Pending]:
        table = self._spans.get(collector)
        if table is None:
            with self._lock:
                table = self._spans.setdefault(collector, {})
        return table

    @hookimpl
    def harn_span_start(
        self,
        span_id: int,
        parent_id: int | None,
        name: str,
        kind: str,
        metadata: dict[str, Any],
    ) -> None:
        """Remember the span until its first child or itself ends."""
        if otel_state.capturing.get():
            return
        self._table(current_collector())[span_id] = _Pending(
            parent_id, name, kind, metadata.get("links", [])
        )

    @hookimpl
    def harn_span_end(self, span_id: int, metadata: dict[str, Any]) -> None:
        """Send the completed span, with its metadata, events and exact end time."""
        if otel_state.capturing.get():
            return
        collector = current_collector()
        table = self._table(collector)
        completed = collector.completed_span(span_id)
        if completed is None or span_id not in table:
            return
        token = otel_state.exporting.set(True)
        try:
            otel_span = self._started(collector, table, span_id, completed.start_unix_ms)
            if otel_span is not None:
                _finish(otel_span, completed)
        finally:
            otel_state.exporting.reset(token)

    def _started(
        self,
        collector: SpanCollector,
        table: dict[int, _Pending],
        span_id: int,
        start_unix_ms: int | None,
    ) -> otel_trace.Span | None:
        """Return span ``span_id``'s OpenTelemetry span, starting it (and its parents) if needed."""
        pending = table.get(span_id)
        if pending is None:
            return None
        if pending.otel is not None:
            return pending.otel
        if start_unix_ms is None:
            start_unix_ms = collector.open_start_unix_ms(span_id)
            if start_unix_ms is None:
                return None
        context = Context()
        if pending.parent_id is not None:
            parent = self._started(collector, table, pending.parent_id, None)
            if parent is not None:
                context = otel_trace.set_span_in_context(parent, context)
        links = []
        for link in pending.links:
            try:
                target_id = int(link["span_id"])
            except (KeyError, ValueError):
                continue
            target = self._started(collector, table, target_id, None)
            if target is not None:
                links.append(Link(target.get_span_context(), link.get("attributes")))
        pending.otel = self._tracer.start_span(
            pending.name,
            context=context,
            links=links,
            start_time=start_unix_ms * 1_000_000,
            attributes={"harn.kind": pending.kind},
        )
        return pending.otel


def _finish(otel_span: otel_trace.Span, span: Span) -> None:
    json_keys = []
    for key, value in span.metadata.items():
        attribute = _attribute(value)
        if attribute is not None:
            otel_span.set_attribute(key, attribute)
            if type(attribute) is str and type(value) is not str:
                json_keys.append(key)
    if json_keys:  # so that reading the span back restores the values
        otel_span.set_attribute("harn.json_keys", json_keys)
    if span.kind.value == "llm_call":
        for key, name in _GENAI_USAGE.items():
            value = span.metadata.get(key)
            if value is not None and not isinstance(value, (dict, list)):
                otel_span.set_attribute(name, value)
    for event in span.events:
        attributes = {
            key: attribute
            for key, value in event.attributes.items()
            if (attribute := _attribute(value)) is not None
        }
        otel_span.add_event(event.name, attributes, timestamp=event.time_unix_ms * 1_000_000)
    status = span.metadata.get("status")
    if status == "error":
        error = span.metadata.get("error")
        otel_span.set_status(Status(StatusCode.ERROR, error if isinstance(error, str) else None))
    elif status == "ok":
        otel_span.set_status(Status(StatusCode.OK))
    otel_span.end(end_time=(span.start_unix_ms + span.duration_ms) * 1_000_000)


def _attribute(value: JsonValue) -> Any:
    """Return a JSON value as an OpenTelemetry attribute value (``None``: leave it out).

    Primitives and lists of one primitive type stay as they are; anything else
    becomes JSON text, listed in ``harn.json_keys`` so reading it back restores it.
    """
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, list) and value:
        kinds = {type(item) for item in value}
        if len(kinds) == 1 and kinds <= {str, bool, int, float}:
            return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)

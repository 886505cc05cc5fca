"""OpenTelemetry spans as Harn spans: the capture bridge (optional extra ``[otel]``).

One :class:`HarnSpanProcessor` is attached, once, to each SDK
``TracerProvider`` the plugin finds (processors cannot be removed, so it stays
and does nothing while tracing is off). It routes every span to the collector
bound to the context where the span started, as ``use_collector`` does for
spans recorded through this package, so an OpenTelemetry span started inside
``with span(...)`` is its child and the other way round.

Kinds, names and metadata follow :mod:`pytest_harn_trace.otel.mapping`. The
other direction, Harn spans to OpenTelemetry, is :class:`OtelExportSink`.
This module reads and writes no private OpenTelemetry global; how the global
provider slot is shared with your suite is :mod:`pytest_harn_trace.otel.global_provider`.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from time import time_ns
from typing import Any, final

try:
    from opentelemetry import trace as otel_trace
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace import Span as SdkSpan
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
    from opentelemetry.trace import StatusCode
    from opentelemetry.util.types import Attributes
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without the extra
    raise ImportError(
        "pytest_harn_trace.otel.bridge needs OpenTelemetry's SDK, which is not installed; "
        "install the extra: pip install 'pytest-harn-trace[otel]'"
    ) from exc

from pytest_harn_trace.otel import state as otel_state
from pytest_harn_trace.otel.mapping import (
    OtelSpanMapping,
    ValueNormalizer,
    map_kind_and_name,
    map_span,
)
from pytest_harn_trace.tracing import clock as _clock
from pytest_harn_trace.tracing import collector as _collector
from pytest_harn_trace.tracing import events as _events
from pytest_harn_trace.tracing.collector import SpanCollector
from pytest_harn_trace.tracing.jsonvalue import json_value
from pytest_harn_trace.tracing.model import JsonValue, Span, SpanEvent, SpanKind, SpanLink

__all__ = [
    "HarnSpanProcessor",
    "OtelExportSink",
    "OtelProviderError",
    "OtelSpanHook",
    "attach",
    "configure_capture",
    "release_open_spans",
    "spans_from_otel",
    "tracer_provider",
]

OtelSpanHook = Callable[[ReadableSpan, OtelSpanMapping], object]
"""Called with each ended OpenTelemetry span and its mapping, to edit the mapping in place."""

_WHERE = "OpenTelemetry span"
_exporting = otel_state.exporting
_capturing = otel_state.capturing


class OtelProviderError(RuntimeError):
    """The global OpenTelemetry ``TracerProvider`` is not one whose spans can be captured."""


@final
class _CaptureState:
    """What the bridge knows about one collector: its settings and the ids it mapped."""

    __slots__ = (
        "by_otel",
        "keep_content",
        "normalizer",
        "on_span",
        "parents",
        "raw_ids",
        "trace_id",
    )

    def __init__(
        self, *, keep_content: bool = False, raw_ids: bool = False, on_span: OtelSpanHook | None
    ) -> None:
        self.keep_content = keep_content
        self.raw_ids = raw_ids
        self.on_span = on_span
        self.normalizer = ValueNormalizer()
        self.by_otel: dict[int, int] = {}
        """OpenTelemetry span id -> Harn span id."""
        self.parents: dict[int, int | None] = {}
        """Harn span id of each captured span -> the parent it was given."""
        self.trace_id = ""
        """The collector's trace id when the ids above were mapped; a reset changes it."""


_states: weakref.WeakKeyDictionary[SpanCollector, _CaptureState] = otel_state.states
_states_lock = otel_state.lock


def configure_capture(
    collector: SpanCollector,
    *,
    keep_content: bool = False,
    raw_ids: bool = False,
    on_span: OtelSpanHook | None = None,
    raw_times: bool = False,
) -> None:
    """Set how OpenTelemetry spans are captured into ``collector``.

    Args:
        collector: The collector (the ``trace`` fixture configures its own).
        keep_content: Keep bulky content attributes (messages, instructions,
            tool definitions) instead of leaving them out.
        raw_ids: Keep ids, UUIDs and ULIDs as they are instead of replacing
            them with placeholders such as ``<conversation_id_1>``.
        on_span: Called with each ended span and its mapping, to edit it.
        raw_times: Keep wall-clock readings and latencies as they are instead
            of replacing the readings with ``<time>`` and leaving latencies out.
    """
    # The state's raw_ids means "normalize nothing"; the normalizer does either part.
    state = _CaptureState(
        keep_content=keep_content, raw_ids=raw_ids and raw_times, on_span=on_span
    )
    state.normalizer = ValueNormalizer(ids=not raw_ids, times=not raw_times)
    with _states_lock:
        _states[collector] = state


def _state_for(collector: SpanCollector) -> _CaptureState:
    state = _states.get(collector)
    if state is None:
        with _states_lock:
            state = _states.setdefault(collector, _CaptureState(on_span=None))
    return state


@final
class HarnSpanProcessor(SpanProcessor):
    """Records each OpenTelemetry span in the collector of the context it started in.

    Inert while tracing is off: tests that don't use ``trace`` pay one flag test.
    """

    def __init__(self) -> None:
        # OpenTelemetry span id -> (collector, state, Harn id) of each open span.
        self._open: dict[int, tuple[SpanCollector, _CaptureState, int]] = {}
        self._last: tuple[SpanCollector, _CaptureState] | None = None
        # OpenTelemetry span id -> when each of its events was added, on the mock clock.
        self._event_times: dict[int, _EventTimes] = {}

    def on_start(self, span: SdkSpan, parent_context: Context | None = None) -> None:
        """Start the Harn span, under the right parent, in start order."""
        if not _collector._enabled or _exporting.get():
            return
        collector = _collector._bound.get() or _collector._unbound_collector()
        last = self._last
        if last is not None and last[0] is collector:
            state = last[1]
        else:
            state = _state_for(collector)
            self._last = (collector, state)
        if state.trace_id != collector.trace_id:  # first span, or the collector was reset
            _new_trace(state, collector)
        attributes = span.attributes
        if attributes:  # most instrumentation sets its attributes after the start
            plain = _plain(attributes)
            kind, name = map_kind_and_name(span.name, plain)
            if not state.raw_ids:
                # Ids known at the start take their placeholders in start order,
                # which concurrent work keeps more often than its end order.
                state.normalizer.reserve_ids(plain)
        else:
            kind, name = SpanKind.FN_CALL, span.name
        otel_parent = span.parent
        parent = None if otel_parent is None else state.by_otel.get(otel_parent.span_id)
        active = collector.current_span_id()
        nearest = active
        captured = state.parents
        # An OpenTelemetry span on our stack that is not OpenTelemetry's parent
        # was started without becoming current: look past it.
        while nearest is not None and nearest != parent and nearest in captured:
            above = captured[nearest]
            nearest = above if above is None or above < nearest else None
        if nearest is not None and (parent is None or nearest > parent):
            parent = nearest
        otel_links = span.links
        links = _links(otel_links, state, collector) if otel_links else ()
        if _events._sinks:
            token = _capturing.set(True)
            try:
                span_id = collector._start(kind, name, links, True, _WHERE)
            finally:
                _capturing.reset(token)
        else:
            span_id = collector._start(kind, name, links, True, _WHERE)
        if parent != active:
            collector._retag(span_id, kind, name, parent)
        context = span.context
        if context is not None:
            state.by_otel[context.span_id] = span_id
            self._open[context.span_id] = (collector, state, span_id)
            if _clock._active is not None:
                _time_events(span, self._event_times, context.span_id)
        captured[span_id] = parent

    def on_end(self, span: ReadableSpan) -> None:
        """Give the Harn span its kind, name, metadata, status and events, and end it."""
        context = span.context
        entry = None if context is None else self._open.pop(context.span_id, None)
        if entry is None:
            return
        collector, state, span_id = entry
        event_times = self._event_times
        times = event_times.pop(context.span_id, None) if event_times and context else None
        new_kind, new_name, metadata = map_span(
            span.name,
            span.attributes,
            state.keep_content,
            None if state.raw_ids else state.normalizer,
        )
        status = span.status.status_code
        if status is not StatusCode.UNSET:
            _set_status(metadata, span, status, None if state.raw_ids else state.normalizer)
        if state.on_span is not None:
            new_kind, new_name, metadata = _apply_hook(
                state.on_span, span, new_kind, new_name, metadata
            )
        collector._retag(span_id, new_kind, new_name, state.parents.get(span_id), metadata)
        events = span.events
        for event in events:
            event_attributes = dict(event.attributes or {})
            if not state.keep_content:
                event_attributes.pop("exception.stacktrace", None)
            if not state.raw_ids and event_attributes:
                event_attributes = {
                    key: json_value(value, _WHERE, span_id, key)
                    for key, value in event_attributes.items()
                }
                state.normalizer.normalize(event_attributes)
            _record_event(collector, span_id, event, event_attributes, times, span.start_time)
        if _events._sinks:
            token = _capturing.set(True)
            try:
                collector.end(span_id)
            finally:
                _capturing.reset(token)
        else:
            collector.end(span_id)

    def release(self, collector: SpanCollector) -> int:
        """Forget ``collector``'s spans still open; return how many there were.

        Their Harn spans stay open in ``collector``, where they are reported;
        if the OpenTelemetry spans end later, nothing is recorded.
        """
        # list() copies the table in one step, while other threads may add to it.
        stale = [key for key, entry in list(self._open.items()) if entry[0] is collector]
        for key in stale:
            self._open.pop(key, None)
            self._event_times.pop(key, None)
        last = self._last
        if last is not None and last[0] is collector:
            self._last = None
        return len(stale)

    def shutdown(self) -> None:
        """Nothing to release: spans went to their collectors as they ended."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered."""
        return True


_EventTimes = dict[tuple[str, int], list[tuple[int, int]]]
"""(event name, its timestamp) -> (monotonic ms, wall ms) of each such event, in order."""


def _time_events(span: SdkSpan, event_times: dict[int, _EventTimes], otel_id: int) -> None:
    """Note the mock clock's time, read without moving it, as each event is added to ``span``.

    OpenTelemetry stamps events with the real clock, which says nothing about
    the mock clock's time, and the processor sees them only when the span ends.
    The notes go to ``event_times[otel_id]``, made at the span's first event.
    The span is held weakly, so that it is freed as soon as it is dropped.
    """
    span.add_event = functools.partial(  # type: ignore[method-assign]
        _add_event_timed, weakref.ref(span), event_times, otel_id
    )


def _add_event_timed(
    span_ref: weakref.ref[SdkSpan],
    event_times: dict[int, _EventTimes],
    otel_id: int,
    name: str,
    attributes: Attributes = None,
    timestamp: int | None = None,
) -> None:
    stamp = time_ns() if timestamp is None else timestamp
    clock = _clock._active
    if clock is not None:
        times = event_times.get(otel_id)
        if times is None:
            times = event_times[otel_id] = {}
        times.setdefault((name, stamp), []).append((clock.monotonic_ms, clock.wall_ms))
    span = span_ref()
    if span is not None:
        type(span).add_event(span, name, attributes, stamp)


def _record_event(
    collector: SpanCollector,
    span_id: int,
    event: Any,
    attributes: Mapping[str, object],
    times: _EventTimes | None,
    start_ns: int | None,
) -> None:
    """Record an OpenTelemetry event at the time it was added; never move the mock clock for it.

    On the mock clock, an event whose addition was not seen (added before the
    mock clock was installed, or not through ``add_event``) is shown at the
    span's end; on the real clock, events keep their own timestamps.
    """
    noted = None if times is None else times.get((event.name, event.timestamp))
    if noted:
        monotonic_ms, wall_ms = noted.pop(0)
        collector._record_event_at(span_id, event.name, attributes, wall_ms, mock_ms=monotonic_ms)
        return
    clock = _clock._active
    if clock is not None:
        collector._record_event_at(
            span_id, event.name, attributes, clock.wall_ms, mock_ms=clock.monotonic_ms
        )
        return
    stamp: int = event.timestamp
    offset_ms = max(stamp - (start_ns or stamp), 0) // 1_000_000
    collector._record_event_at(
        span_id, event.name, attributes, stamp // 1_000_000, offset_ms=offset_ms
    )
_new_trace_lock = threading.Lock()


def _new_trace(state: _CaptureState, collector: SpanCollector) -> None:
    """Forget the ids ``state`` mapped for an earlier trace of ``collector``.

    Threads starting the first spans of a trace at once all see the old trace
    id; only the first may clear, or it would wipe the parents the others just
    recorded. The new id is set last, so a thread that sees it sees the clear.
    """
    with _new_trace_lock:
        if state.trace_id != collector.trace_id:
            state.by_otel.clear()
            state.parents.clear()
            state.trace_id = collector.trace_id


def release_open_spans(collector: SpanCollector) -> int:
    """Drop the bridge's references to ``collector``'s OpenTelemetry spans still open.

    Called when a test ends: an OpenTelemetry span the test started and never
    ended would otherwise keep the test's collector, and every span in it,
    alive for the rest of the session. The spans stay open in the collector,
    which reports them as it reports Harn spans left open.

    Returns:
        How many open spans were dropped.
    """
    return _PROCESSOR.release(collector)


def _plain(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """Copy the SDK's attribute mapping to a dict, the quickest way its interface allows."""
    return {key: attributes[key] for key in attributes} if attributes else {}


def _links(
    links: Sequence[Any], state: _CaptureState, collector: SpanCollector
) -> tuple[SpanLink, ...]:
    """Links to the captured spans among ``links``; links to spans never captured are left out."""
    out = []
    for link in links:
        target = state.by_otel.get(link.context.span_id)
        if target is not None:
            attributes = {str(k): _link_text(v) for k, v in (link.attributes or {}).items()}
            out.append(SpanLink(collector.trace_id, str(target), attributes))
    return tuple(out)


def _link_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _set_status(
    metadata: dict[str, JsonValue],
    span: ReadableSpan,
    status: StatusCode,
    normalizer: ValueNormalizer | None,
) -> None:
    if status is StatusCode.ERROR:
        metadata["status"] = "error"
        error = _error_text(span)
        metadata["error"] = error if normalizer is None else normalizer.replace_in_text(error)
    else:
        metadata["status"] = "ok"


def _error_text(span: ReadableSpan) -> str:
    """``"<ExceptionType>: <message>"`` from the last exception event, as ``span()`` writes it."""
    for event in reversed(span.events):
        if event.name == "exception" and event.attributes:
            exc_type = str(event.attributes.get("exception.type", "Exception")).rsplit(".", 1)[-1]
            message = str(event.attributes.get("exception.message", ""))
            return f"{exc_type}: {message}" if message else exc_type
    return span.status.description or "error"


def _apply_hook(
    hook: OtelSpanHook,
    span: ReadableSpan,
    kind: SpanKind,
    name: str,
    metadata: dict[str, JsonValue],
) -> tuple[SpanKind, str, dict[str, JsonValue]]:
    mapping = OtelSpanMapping(kind, name, metadata)
    hook(span, mapping)
    where = f"pytest_harn_trace_otel_span({span.name!r})"
    try:
        new_kind = SpanKind.parse(mapping.kind)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where} set kind: {exc}") from None
    new_name: object = mapping.name
    if not isinstance(new_name, str):
        raise TypeError(f"{where} set name to {type(new_name).__name__}; a span name is a str")
    if not isinstance(mapping.metadata, Mapping):
        raise TypeError(
            f"{where} set metadata to {type(mapping.metadata).__name__}; use a dict of JSON values"
        )
    checked = {key: json_value(value, where, None, key) for key, value in mapping.metadata.items()}
    return new_kind, str(new_name), checked


# -- providers --------------------------------------------------------------------

with otel_state.lock:
    _PROCESSOR: HarnSpanProcessor = otel_state.singletons.setdefault(
        "processor", HarnSpanProcessor()
    )
_attached: weakref.WeakSet[TracerProvider] = otel_state.attached
_attach_lock = otel_state.lock


def attach(provider: TracerProvider) -> TracerProvider:
    """Attach the capture processor to an SDK ``provider``, once; return ``provider``.

    Raises:
        TypeError: when ``provider`` is not an SDK ``TracerProvider``.
    """
    __tracebackhide__ = True
    if not isinstance(provider, TracerProvider):
        raise TypeError(
            f"attach expects an SDK TracerProvider (opentelemetry.sdk.trace.TracerProvider), "
            f"got {_type_name(provider)}; pass the SDK provider your code's tracers come from"
        )
    with _attach_lock:
        if provider not in _attached:
            provider.add_span_processor(_PROCESSOR)
            _attached.add(provider)
    return provider


@final
class _WhileTracing(Sampler):
    """Records spans only while tracing is on, so code outside ``trace`` tests pays nothing."""

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: otel_trace.SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[otel_trace.Link] | None = None,
        trace_state: otel_trace.TraceState | None = None,
    ) -> SamplingResult:
        # The sampler's result carries the span's attributes and trace state.
        parent_state = otel_trace.get_current_span(parent_context).get_span_context().trace_state
        if _collector._enabled:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, parent_state)
        return SamplingResult(Decision.DROP, None, parent_state)

    def get_description(self) -> str:
        return "HarnWhileTracing"


def tracer_provider() -> TracerProvider:
    """Return this package's SDK ``TracerProvider``, wired to the ``trace`` fixture.

    One per process: its spans land in the trace of the test (the collector of
    the context) that starts them, and it records nothing while tracing is
    off. Pass it to an instrumentor that takes a provider
    (``trace.otel_tracer_provider`` in a test).
    """
    with _attach_lock:
        provider: TracerProvider | None = otel_state.singletons.get("provider")
        if provider is None:
            provider = TracerProvider(sampler=_WhileTracing(), shutdown_on_exit=False)
            provider.add_span_processor(_PROCESSOR)
            _attached.add(provider)
            otel_state.singletons["provider"] = provider
        return provider


def _type_name(value: object) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


# -- reading finished spans ---------------------------------------------------------


def spans_from_otel(
    spans: Iterable[ReadableSpan], *, keep_content: bool = False, raw_ids: bool = False
) -> list[Span]:
    """Return finished OpenTelemetry spans (an ``InMemorySpanExporter``'s) as Harn spans.

    Timings come from the spans' own timestamps; ids are given in start order
    from 1; the list keeps the order given (completion order, for an
    exporter), which is the order siblings appear in a tree.

    Raises:
        TypeError: when ``spans`` is not an iterable of OpenTelemetry spans
            (an exporter, say, instead of its ``get_finished_spans()``).
    """
    __tracebackhide__ = True
    finished = _finished_spans(spans)
    trace_id = SpanCollector().trace_id
    parents = {
        otel_span.context.span_id: otel_span.parent.span_id
        for otel_span in finished
        if otel_span.context is not None and otel_span.parent is not None
    }

    def depth(otel_span: ReadableSpan) -> int:
        count, seen = 0, set()
        current = parents.get(otel_span.context.span_id) if otel_span.context else None
        while current is not None and current not in seen:
            seen.add(current)
            count += 1
            current = parents.get(current)
        return count

    # Start order; a parent started in the same nanosecond as its child still comes first.
    order = sorted(
        range(len(finished)),
        key=lambda index: (finished[index].start_time or 0, depth(finished[index])),
    )
    ids: dict[int, int] = {}
    for harn_id, index in enumerate(order, start=1):
        context = finished[index].context
        if context is not None:
            ids[context.span_id] = harn_id
    normalizer = ValueNormalizer()
    out = []
    for index, otel_span in enumerate(finished):
        context = otel_span.context
        span_id = ids[context.span_id] if context is not None else order.index(index) + 1
        start_ns = otel_span.start_time or 0
        end_ns = otel_span.end_time or start_ns
        kind, name, metadata = map_span(
            otel_span.name,
            otel_span.attributes or {},
            keep_content,
            None if raw_ids else normalizer,
        )
        status = otel_span.status.status_code
        if status is not StatusCode.UNSET:
            _set_status(metadata, otel_span, status, None if raw_ids else normalizer)
        parent = otel_span.parent
        links = tuple(
            SpanLink(trace_id, str(ids[link.context.span_id]))
            for link in otel_span.links
            if link.context.span_id in ids
        )
        events = tuple(
            SpanEvent(
                event.name,
                event.timestamp // 1_000_000,
                max(event.timestamp - start_ns, 0) // 1_000_000,
                {
                    key: json_value(value, "spans_from_otel", span_id, key)
                    for key, value in (event.attributes or {}).items()
                    if keep_content or key != "exception.stacktrace"
                },
            )
            for event in otel_span.events
        )
        out.append(
            Span(
                trace_id,
                span_id,
                None if parent is None else ids.get(parent.span_id),
                kind,
                name,
                0,
                start_ns // 1_000_000,
                (end_ns - start_ns) // 1_000_000,
                metadata,
                links,
                events,
            )
        )
    return out


def _finished_spans(spans: object) -> list[ReadableSpan]:
    __tracebackhide__ = True
    fix = "pass the finished spans, such as exporter.get_finished_spans()"
    if callable(getattr(spans, "get_finished_spans", None)):
        raise TypeError(f"spans_from_otel got the exporter {type(spans).__name__}; {fix}")
    if callable(spans) and not isinstance(spans, Iterable):
        name = getattr(spans, "__name__", "it")
        raise TypeError(
            f"spans_from_otel got {name} itself, not the spans it returns; call it: {name}()"
        )
    if not isinstance(spans, Iterable) or isinstance(spans, (str, bytes)):
        raise TypeError(
            f"spans_from_otel expects OpenTelemetry spans, got {type(spans).__name__}; {fix}"
        )
    finished = list(spans)
    for index, item in enumerate(finished):
        if not isinstance(item, ReadableSpan):
            raise TypeError(
                f"spans_from_otel expects OpenTelemetry spans (ReadableSpan), got "
                f"{type(item).__name__} at index {index}; {fix}"
            )
    return finished


from pytest_harn_trace.otel.export import OtelExportSink  # noqa: E402  (needs this module)

"""pytest-harn-trace: Harn VM tracing spans in Python, with pytest assertions.

Instrument your code with ``span()`` / ``timed()`` (or Harn's module-level
tracing functions such as ``span_start``), then assert on the trace in tests
with the ``trace`` fixture, ``mock_clock`` and ``assert_span_tree``::

    def test_agent(trace, mock_clock):
        run_agent()
        trace.assert_tree('''
            pipeline agent
              llm_call gpt-4 (model="gpt-4")
        ''')

Everything a test needs is importable from here. What is where:

- ``pytest_harn_trace.tracing``: the Harn port. Span model (``Span``,
  ``SpanKind``, ``LlmCallUsage``), collector and module-level functions,
  ``span()`` / ``timed()``, marker spans, ``MockClock``, lifecycle event
  sinks, ``format_summary``. Imports neither pytest nor any other part.
- ``pytest_harn_trace.assertions``: ``assert_span_tree``, ``node()`` and its
  matchers, the text form (``parse_tree_text``) and the failure report.
- ``pytest_harn_trace.otel``: OpenTelemetry spans captured into the trace, the
  mapping to Harn kinds, ``OtelExportSink`` (needs the ``[otel]`` extra).
- ``pytest_harn_trace.pictures``: the HTML waterfall and the Perfetto export.
- At the top, the pytest side: ``capture`` (``TraceCapture``, the ``trace``
  fixture's object), ``plugin`` (fixtures, the ``harn_trace`` marker, options,
  reports), ``otel_plugin``, ``snapshot`` (``trace_snapshot``), ``virtual_time``
  (``run_virtual``, the event loop on the mock clock) and ``isolation``.

Documentation: the site built from ``docs/`` in the source tree (``mkdocs
serve``), with a tutorial, how-to guides per agent framework, the reference of
every fixture, option and API, and the design. ``pytest --fixtures`` and
``pytest --help`` list the fixtures and options too.
"""

from __future__ import annotations

from importlib import metadata as _metadata

from pytest_harn_trace.assertions.tree import ExpectedSpan, assert_span_tree, node, parse_tree_text
from pytest_harn_trace.assertions.usage import TraceUsage
from pytest_harn_trace.capture import HarnTraceWarning, RealClockError, TraceCapture, TraceNode
from pytest_harn_trace.tracing import clock, collector, events, meta
from pytest_harn_trace.tracing.clock import (
    ClockOverride,
    MockClock,
    active_mock_clock,
    install_override,
)
from pytest_harn_trace.tracing.collector import (
    SpanCollector,
    current_collector,
    current_span_id,
    current_span_link,
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
    span_to_dict,
    take_spans,
    use_collector,
)
from pytest_harn_trace.tracing.events import add_event_sink, remove_event_sink
from pytest_harn_trace.tracing.instrument import SpanHandle, SpanScope, span, timed
from pytest_harn_trace.tracing.markers import (
    emit_deferred_tool_load,
    emit_marker_span,
    emit_model_route,
    emit_tool_mount,
)
from pytest_harn_trace.tracing.model import (
    JsonValue,
    LlmCallUsage,
    OpenSpan,
    Span,
    SpanEvent,
    SpanKind,
    SpanLink,
)
from pytest_harn_trace.tracing.summary import format_summary
from pytest_harn_trace.virtual_time import VirtualTime, VirtualTimeError, run_virtual

try:
    __version__: str = _metadata.version("pytest-harn-trace")
    """The installed version of pytest-harn-trace."""
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    # Modules
    "clock",
    "collector",
    "events",
    "meta",
    # Records
    "JsonValue",
    "LlmCallUsage",
    "OpenSpan",
    "Span",
    "SpanEvent",
    "SpanKind",
    "SpanLink",
    # Collector
    "SpanCollector",
    "current_collector",
    "use_collector",
    # Harn's module-level tracing functions
    "current_span_id",
    "current_span_link",
    "format_summary",
    "is_tracing_enabled",
    "peek_spans",
    "reset_tracing",
    "set_tracing_enabled",
    "span_attach_metadata",
    "span_attach_metadata_if_absent",
    "span_end",
    "span_link",
    "span_record_event",
    "span_set_metadata",
    "span_start",
    "span_start_detached_with_links",
    "span_start_user_timing",
    "span_start_with_links",
    "span_to_dict",
    "take_spans",
    # Marker spans
    "emit_deferred_tool_load",
    "emit_marker_span",
    "emit_model_route",
    "emit_tool_mount",
    # Pythonic instrumentation
    "SpanHandle",
    "SpanScope",
    "span",
    "timed",
    # Mock clock
    "ClockOverride",
    "MockClock",
    "active_mock_clock",
    "install_override",
    # Virtual time: an asyncio loop on the mock clock
    "VirtualTime",
    "VirtualTimeError",
    "run_virtual",
    # Span lifecycle events
    "add_event_sink",
    "remove_event_sink",
    # Testing: the trace fixture's capture and tree assertions
    "HarnTraceWarning",
    "RealClockError",
    "ExpectedSpan",
    "TraceCapture",
    "TraceNode",
    "TraceUsage",
    "assert_span_tree",
    "node",
    "parse_tree_text",
]

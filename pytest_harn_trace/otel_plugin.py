"""The plugin's OpenTelemetry part: the ``trace`` fixture captures OTel spans when it can.

With the ``[otel]`` extra installed, each test using ``trace`` gets the spans
of the global ``TracerProvider``, shared with the suite (see
:mod:`pytest_harn_trace.otel.global_provider`); without it, nothing changes
and nothing from OpenTelemetry is imported.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import pytest

# Imported at start-up so the bridge's process-wide state outlives re-imports of the bridge.
from pytest_harn_trace.otel import state as otel_state  # noqa: F401
from pytest_harn_trace.tracing.collector import SpanCollector

__all__ = ["start_otel_capture"]

_MODES = ("auto", "off")
_mode_key = pytest.StashKey[str]()


class _HookSpecs:
    @pytest.hookspec
    def pytest_harn_trace_otel_span(self, otel_span: Any, span: Any) -> None:
        """Edit how a captured OpenTelemetry span is recorded, in place.

        Called when each OpenTelemetry span of a ``trace`` test ends, after
        the mapping table, id placeholders and content removal, with the
        SDK's ``ReadableSpan`` and a :class:`~pytest_harn_trace.otel.mapping.OtelSpanMapping`:
        set ``span.kind``, ``span.name`` or change ``span.metadata``.
        """


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Declare the OpenTelemetry hook."""
    pluginmanager.add_hookspecs(_HookSpecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the OpenTelemetry ini options."""
    parser.addini(
        "harn_trace_otel",
        "Capture OpenTelemetry spans in the trace fixture: auto (default: when the [otel] "
        "extra is installed) or off.",
        default="auto",
    )
    parser.addini(
        "harn_trace_otel_keep_content",
        "Keep bulky OpenTelemetry content attributes (messages, instructions, tool "
        "definitions) in captured spans (default: left out).",
        type="bool",
        default=False,
    )
    parser.addini(
        "harn_trace_otel_raw_ids",
        "Keep ids, UUIDs and ULIDs of captured OpenTelemetry spans as they are (default: "
        "placeholders such as <conversation_id_1>).",
        type="bool",
        default=False,
    )
    parser.addini(
        "harn_trace_otel_raw_times",
        "Keep wall-clock readings (timestamps, traceparent headers) and latencies of captured "
        "OpenTelemetry spans as they are (default: <time> and <traceparent>, latencies left out).",
        type="bool",
        default=False,
    )


def pytest_configure(config: pytest.Config) -> None:
    """Check the capture options so a typo stops the run at once."""
    mode = str(config.getini("harn_trace_otel")).strip()
    if mode not in _MODES:
        raise pytest.UsageError(
            f"harn_trace_otel = {mode!r} is not a mode; use one of: {', '.join(_MODES)}"
        )
    config.stash[_mode_key] = mode
    for name in (
        "harn_trace_otel_keep_content",
        "harn_trace_otel_raw_ids",
        "harn_trace_otel_raw_times",
    ):
        check_bool_ini(config, name)


def check_bool_ini(config: pytest.Config, name: str) -> None:
    """Stop the run at once, naming the option, when a true/false ini option is neither."""
    try:
        config.getini(name)
    except (ValueError, pytest.UsageError) as error:
        raise pytest.UsageError(
            f"{name}: {error}; use true or false (or yes/no, on/off, 1/0)"
        ) from None


def start_otel_capture(request: pytest.FixtureRequest, collector: SpanCollector) -> None:
    """Route OpenTelemetry spans to ``collector`` for this test, when the extra is installed.

    Fails the test's setup, naming what was found, when the global
    ``TracerProvider`` is not one whose spans can be captured.
    """
    config = request.config
    if config.stash.get(_mode_key, "auto") == "off":
        return
    # Once imported, read from sys.modules: `from package import module` runs importlib's
    # Python-level fromlist handling on every call, a third of this function's cost.
    otel: Any = sys.modules.get("pytest_harn_trace.otel.bridge")
    shared: Any = sys.modules.get("pytest_harn_trace.otel.global_provider")
    if otel is None or shared is None:
        try:
            from pytest_harn_trace.otel import bridge as otel
            from pytest_harn_trace.otel import global_provider as shared
        except ImportError:  # the [otel] extra is not installed: the plugin works as before
            return
    try:
        shared.capture_global_provider()
    except otel.OtelProviderError as exc:
        pytest.fail(f"{request.node.nodeid}: {exc}", pytrace=False)
    hook = config.hook.pytest_harn_trace_otel_span
    on_span = None
    if hook.get_hookimpls():

        def on_span(otel_span: Any, span: Any) -> None:
            hook(otel_span=otel_span, span=span)

    # Registered before the capture's own teardown, so it runs after it: the spans
    # still open are reported first, then the bridge lets go of them.
    request.node.addfinalizer(functools.partial(otel.release_open_spans, collector))
    keep_content = bool(config.getini("harn_trace_otel_keep_content"))
    raw_ids = bool(config.getini("harn_trace_otel_raw_ids"))
    raw_times = bool(config.getini("harn_trace_otel_raw_times"))
    if not hook.get_hookimpls() and not keep_content and not raw_ids and not raw_times:
        # The default settings: the bridge makes them for the collector when its first
        # OpenTelemetry span starts, so a test that never touches OpenTelemetry skips it.
        return
    otel.configure_capture(
        collector, keep_content=keep_content, raw_ids=raw_ids, on_span=on_span, raw_times=raw_times
    )

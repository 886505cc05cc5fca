"""OpenTelemetry spans as Harn spans, and back (optional extra ``[otel]``).

``bridge`` captures the spans of SDK ``TracerProvider`` s into the collector of
the context they start in, ``global_provider`` shares the global provider with
the suite under test, ``mapping`` turns OpenTelemetry names and
attributes into Harn kinds and metadata, ``export`` sends Harn spans to a
provider, and ``state`` keeps the process-wide state that must outlive a
re-import. Only the Harn port is imported from this package.

The public names of the bridge are importable from here, as
``from pytest_harn_trace.otel import OtelExportSink, spans_from_otel``; they are
loaded on first use, so ``state`` imports without OpenTelemetry installed.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_harn_trace.otel.bridge import (
        HarnSpanProcessor,
        OtelExportSink,
        OtelProviderError,
        OtelSpanHook,
        attach,
        configure_capture,
        spans_from_otel,
        tracer_provider,
    )
    from pytest_harn_trace.otel.global_provider import capture_global_provider

__all__ = [
    "HarnSpanProcessor",
    "OtelExportSink",
    "OtelProviderError",
    "OtelSpanHook",
    "attach",
    "capture_global_provider",
    "configure_capture",
    "spans_from_otel",
    "tracer_provider",
]


def __getattr__(name: str) -> Any:
    if name == "capture_global_provider":
        return getattr(import_module("pytest_harn_trace.otel.global_provider"), name)
    if name in __all__:
        return getattr(import_module("pytest_harn_trace.otel.bridge"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

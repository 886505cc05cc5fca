"""The stand-in that holds OpenTelemetry's global slot works with every OpenTelemetry we support."""

from __future__ import annotations

import inspect

import pytest
from opentelemetry import trace as otel_trace

from pytest_harn_trace.otel.global_provider import _StandIn


def test_the_stand_in_makes_tracers_where_proxy_tracers_take_no_attributes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    newer = otel_trace.ProxyTracer.__init__

    def as_in_opentelemetry_1_25(
        self: otel_trace.ProxyTracer,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
    ) -> None:
        newer(self, instrumenting_module_name, instrumenting_library_version, schema_url)

    monkeypatch.setattr(otel_trace.ProxyTracer, "__init__", as_in_opentelemetry_1_25)
    tracer = _StandIn().get_tracer("app", "1.0")
    monkeypatch.undo()
    with tracer.start_as_current_span("handle") as span:
        span.set_attribute("request", "r1")


@pytest.mark.skipif(
    "attributes" not in inspect.signature(otel_trace.ProxyTracer).parameters,
    reason="this OpenTelemetry's tracers take no attributes (nox -s lowest: 1.25)",
)
def test_the_stand_in_passes_attributes_on_where_they_are_taken() -> None:
    tracer = _StandIn().get_tracer("app", "1.0", None, {"team": "search"})
    with tracer.start_as_current_span("handle"):
        pass

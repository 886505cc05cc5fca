"""OpenTelemetry spans left open when their test ends: reported there, then let go of."""

from __future__ import annotations

import gc
import weakref

from pytest_harn_trace import SpanCollector, set_tracing_enabled, use_collector
from pytest_harn_trace.otel.bridge import configure_capture, release_open_spans, tracer_provider


def test_release_drops_the_open_spans_of_one_collector_and_keeps_them_open_there():
    tracer = tracer_provider().get_tracer("open")
    collectors = [SpanCollector(), SpanCollector()]
    left = []
    set_tracing_enabled(True)
    try:
        for collector in collectors:
            configure_capture(collector)
            with use_collector(collector):
                left.append(tracer.start_span("forgotten"))
    finally:
        set_tracing_enabled(False)
    first, second = collectors
    assert release_open_spans(first) == 1
    assert release_open_spans(first) == 0
    assert [str(span) for span in first.open_spans()] == ["span 1 fn_call 'forgotten'"]
    # Ending it after the release records nothing and fails nothing.
    left[0].end()
    assert (first.spans(), len(first.open_spans())) == ([], 1)
    # The other collector's span is still captured when it ends.
    left[1].end()
    assert [span.name for span in second.spans()] == ["forgotten"]
    assert release_open_spans(second) == 0


def test_after_the_release_nothing_of_the_bridge_keeps_the_collector_alive():
    tracer = tracer_provider().get_tracer("open")
    collector = SpanCollector()
    configure_capture(collector)
    set_tracing_enabled(True)
    try:
        with use_collector(collector):
            tracer.start_span("forgotten")
    finally:
        set_tracing_enabled(False)
    release_open_spans(collector)
    ref = weakref.ref(collector)
    del collector
    gc.collect()
    assert ref() is None

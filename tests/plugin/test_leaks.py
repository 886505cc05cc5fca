"""What a test leaves behind costs later tests nothing."""

from __future__ import annotations

import contextvars

import pytest


def test_spans_a_test_leaves_open_are_not_kept_for_the_rest_of_the_session(
    pytester: pytest.Pytester,
) -> None:
    # Each failing test leaves a span open, as a Harn-style span_start without its
    # span_end does. Their active-stack nodes (and through them the spans and
    # their metadata) must not outlive the tests: later root spans walk that stack.
    pytester.makepyfile(
        """
        import pytest
        from pytest_harn_trace import span_start, span_set_metadata
        from pytest_harn_trace.tracing.collector import _active_spans

        def stack_depth():
            node, depth = _active_spans.get(), 0
            while node is not None:
                node, depth = node[2], depth + 1
            return depth

        @pytest.mark.parametrize("n", range(30))
        def test_leaves_a_span_open(trace, n):
            span_id = span_start("pipeline", "leak")
            span_set_metadata(span_id, "blob", "x" * 10_000)
            assert False

        def test_later(trace):
            assert stack_depth() == 0
            root = span_start("pipeline", "later")
            assert trace.collector.current_span_id() == root
            assert stack_depth() == 1
        """
    )
    # The inner run gets an empty context of its own: whatever earlier tests left on this
    # session's stack is not there, and even a leak could not reach this session.
    result = contextvars.Context().run(pytester.runpytest, "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=30)
    result.stdout.fnmatch_lines(["*HarnTraceWarning*left 1 span(s) open: span 1 pipeline 'leak'*"])


def test_otel_spans_a_test_leaves_open_release_its_trace_and_are_reported_as_open(
    pytester: pytest.Pytester,
) -> None:
    # Each test starts an OpenTelemetry span and never ends it, as a forgotten
    # tracer.start_span does. At the test's end the bridge must let go of them,
    # or each keeps its test's collector (and every span in it) alive.
    pytester.makepyfile(
        """
        import gc
        import weakref

        import pytest
        from pytest_harn_trace.otel.state import singletons

        collectors = []

        @pytest.mark.parametrize("n", range(5))
        def test_leaves_an_otel_span_open(trace, n):
            trace.otel_tracer_provider.get_tracer("t").start_span("forgotten")
            collectors.append(weakref.ref(trace.collector))

        def test_later(trace):
            gc.collect()
            live = sum(ref() is not None for ref in collectors)
            assert (live, singletons["processor"]._open) == (0, {})
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        ["*HarnTraceWarning*test_leaves_an_otel_span_open[[]0[]] left 1 span(s) open: "
         "span 1 fn_call 'forgotten'*"]
    )

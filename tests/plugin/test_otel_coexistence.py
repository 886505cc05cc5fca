"""The plugin shares OpenTelemetry with the suite: whatever the order, both get every span.

OpenTelemetry's global provider can be set once per process, so each case runs
in a fresh interpreter (``runpytest_subprocess``), with the tests in the order
given on the command line.
"""

from __future__ import annotations

import itertools

import pytest

# Plugins the inner runs don't need: each would only add start-up time.
FAST = ("-p", "no:hypothesispytest", "-p", "no:randomly", "-p", "no:cacheprovider")
NO_LOGFIRE = ("-p", "no:logfire", "-p", "no:pytest_logfire")

INI = """\
[pytest]
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""

APP = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

tracer = trace.get_tracer("app")  # module level: a proxy until a provider is set


def work():
    with tracer.start_as_current_span("work"):
        pass


def create_app():
    # An app factory: it sets up tracing unless something already did.
    exporter = InMemorySpanExporter()
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
    return exporter
"""

SESSION_PROVIDER = """
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@pytest.fixture(scope="session")
def exporter():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture
def spans(exporter):
    exporter.clear()
    return exporter
"""

ORDER_TESTS = """
import app


def test_trace_only(trace):
    app.work()
    assert [s.name for s in trace.spans] == ["work"]


def test_suite_only(spans):
    app.work()
    assert [s.name for s in spans.get_finished_spans()] == ["work"]


def test_both(spans, trace):
    app.work()
    assert [s.name for s in spans.get_finished_spans()] == ["work"]
    assert [s.name for s in trace.spans] == ["work"]
"""

NAMES = ("test_trace_only", "test_suite_only", "test_both")


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makepyfile(app=APP)
    return pytester


@pytest.mark.parametrize(
    "order", list(itertools.permutations(NAMES)), ids=lambda order: "-".join(order)
)
def test_a_session_fixtures_provider_gets_its_spans_in_every_order(
    suite: pytest.Pytester, order: tuple[str, ...]
) -> None:
    suite.makeconftest(SESSION_PROVIDER)
    suite.makepyfile(test_order=ORDER_TESTS)
    result = suite.runpytest_subprocess(*FAST, *NO_LOGFIRE, *(f"test_order.py::{n}" for n in order))
    result.assert_outcomes(passed=3)
    result.stdout.no_fnmatch_line("*Overriding of current TracerProvider*")


def test_a_session_fixtures_provider_gets_its_spans_on_xdist_workers(
    suite: pytest.Pytester,
) -> None:
    suite.makeconftest(SESSION_PROVIDER)
    # Each test three times, so that each worker runs some of them in some order.
    suite.makepyfile(
        test_order="import pytest\n\npytestmark = pytest.mark.parametrize('n', range(3))\n"
        + ORDER_TESTS.replace("(trace)", "(trace, n)")
        .replace("(spans)", "(spans, n)")
        .replace("(spans, trace)", "(spans, trace, n)")
    )
    result = suite.runpytest_subprocess(*FAST, *NO_LOGFIRE, "-n", "2")
    result.assert_outcomes(passed=9)


def test_an_app_factory_sets_its_provider_during_a_trace_test_after_another_trace_test(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        test_factory="""
        from opentelemetry import trace as otel_trace

        import app

        apps = {}


        def test_first_trace_test(trace):
            app.work()
            assert [s.name for s in trace.spans] == ["work"]


        def test_factory_inside_a_trace_test(trace):
            exporter = apps["exporter"] = app.create_app()
            app.work()
            assert [s.name for s in exporter.get_finished_spans()] == ["work"]
            assert [s.name for s in trace.spans] == ["work"]


        def test_the_apps_provider_stays_and_keeps_getting_spans():
            assert type(otel_trace.get_tracer_provider()).__module__ == "opentelemetry.sdk.trace"
            app.work()
            assert len(apps["exporter"].get_finished_spans()) == 2


        def test_and_trace_tests_still_capture(trace):
            app.work()
            assert [s.name for s in trace.spans] == ["work"]
            assert len(apps["exporter"].get_finished_spans()) == 3
    """
    )
    result = suite.runpytest_subprocess(*FAST, *NO_LOGFIRE)
    result.assert_outcomes(passed=4)
    result.stdout.no_fnmatch_line("*Overriding of current TracerProvider*")


LOGFIRE_TESTS = """
import logfire

import app


def test_trace_first(trace):
    app.work()
    assert [s.name for s in trace.spans] == ["work"]


def test_capfire_and_trace(capfire, trace):
    with logfire.span("checkout"):
        with logfire.span("charge"):
            pass
    assert [s["name"] for s in capfire.exporter.exported_spans_as_dict()] == ["charge", "checkout"]
    assert [s.name for s in trace.spans] == ["charge", "checkout"]


def test_capfire_again(capfire, trace):
    with logfire.span("refund"):
        pass
    assert [s["name"] for s in capfire.exporter.exported_spans_as_dict()] == ["refund"]
    assert [s.name for s in trace.spans] == ["refund"]
"""


@pytest.mark.parametrize(
    "order",
    [
        ("test_capfire_and_trace", "test_capfire_again", "test_trace_first"),
        ("test_trace_first", "test_capfire_and_trace", "test_capfire_again"),
    ],
    ids=["capfire-first", "trace-first"],
)
def test_logfire_capfire_and_trace_in_one_test_both_see_the_spans(
    suite: pytest.Pytester, order: tuple[str, ...]
) -> None:
    suite.makepyfile(test_logfire=LOGFIRE_TESTS)
    result = suite.runpytest_subprocess(*FAST, *(f"test_logfire.py::{n}" for n in order))
    result.assert_outcomes(passed=3)


def test_logfire_configured_after_a_trace_test_gets_its_spans_and_so_does_trace(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        test_late_logfire="""
        import logfire
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        import app

        exporter = InMemorySpanExporter()


        def test_trace_first(trace):
            app.work()


        def test_configure_logfire():
            logfire.configure(
                send_to_logfire=False,
                console=False,
                additional_span_processors=[SimpleSpanProcessor(exporter)],
            )
            app.work()  # the module-level tracer now starts its spans in Logfire's provider
            assert [s.name for s in exporter.get_finished_spans()] == ["work"]


        def test_trace_after(trace):
            with logfire.span("after"):
                app.work()
            assert [s.name for s in trace.spans] == ["work", "after"]
            assert [s.name for s in exporter.get_finished_spans()] == ["work", "work", "after"]
    """
    )
    suite.runpytest_subprocess(*FAST).assert_outcomes(passed=3)


NOOP_FIRST = """
from opentelemetry import trace as otel_trace

import app


def test_first(trace):
    app.work()
"""


def test_a_provider_trace_cannot_see_set_during_a_trace_test_fails_it_there(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        test_noop=NOOP_FIRST
        + """

def test_silences_opentelemetry(trace):
    otel_trace.set_tracer_provider(otel_trace.NoOpTracerProvider())


def test_later_trace_test(trace):
    pass


def test_without_trace():
    app.work()
"""
    )
    result = suite.runpytest_subprocess(*FAST, *NO_LOGFIRE)
    result.assert_outcomes(passed=2, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_later_trace_test*",
            "*test_later_trace_test: the global OpenTelemetry TracerProvider is "
            "opentelemetry.trace.NoOpTracerProvider, not an SDK TracerProvider*",
            "*def test_silences_opentelemetry(trace):",
            ">*otel_trace.set_tracer_provider(otel_trace.NoOpTracerProvider())",
            "E*OtelProviderError: set_tracer_provider(opentelemetry.trace.NoOpTracerProvider) "
            "while the trace fixture captures OpenTelemetry spans: the trace fixture cannot see "
            "the spans of a provider that is not an SDK TracerProvider; set an "
            "opentelemetry.sdk.trace.TracerProvider as the global provider, give your "
            "instrumentation trace.otel_tracer_provider, or turn OpenTelemetry capture off "
            "with the ini option harn_trace_otel = off",
        ]
    )


def test_a_provider_trace_cannot_see_set_outside_trace_tests_fails_no_other_test(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        test_noop=NOOP_FIRST
        + """

def test_silences_opentelemetry():
    otel_trace.set_tracer_provider(otel_trace.NoOpTracerProvider())
    app.work()
"""
    )
    suite.runpytest_subprocess(*FAST, *NO_LOGFIRE).assert_outcomes(passed=2)

"""Where the application's TracerProvider comes from, the trace fixture sees its spans.

OpenTelemetry's global provider can be set once per process, so each case runs
in a fresh interpreter (``runpytest_subprocess``).
"""

from __future__ import annotations

import textwrap

import pytest

# Plugins the inner runs don't need: each would only add start-up time.
FAST = ("-p", "no:hypothesispytest", "-p", "no:logfire", "-p", "no:pytest_logfire")

APP = """
from opentelemetry import trace

tracer = trace.get_tracer("app")  # a proxy until a provider is set


def handle(request):
    with tracer.start_as_current_span("handle") as span:
        span.set_attribute("request", request)
        with tracer.start_as_current_span("execute_tool search") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "search")
"""

TESTS = """
import app


def test_captures_the_app(trace, mock_clock):
    app.handle("r1")
    trace.assert_tree('''
        fn_call handle (request="r1")
          tool_call search
    ''')


def test_without_trace_records_nothing():
    app.handle("r2")
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*FAST, "-p", "no:cacheprovider", *args)


def test_provider_set_before_the_tests(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)


        def pytest_sessionfinish():
            # The application's own exporter still gets every span.
            assert len(exporter.get_finished_spans()) == 4
    """)
    pytester.makepyfile(app=APP, test_app=TESTS)
    run(pytester).assert_outcomes(passed=2)


def test_provider_set_while_collecting(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        app=APP,
        test_app=textwrap.dedent("""
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider

            import app

            trace.set_tracer_provider(TracerProvider())
        """) + TESTS.replace("import app\n", ""),
    )
    run(pytester).assert_outcomes(passed=2)


def test_no_provider_set_gets_a_stand_in_at_the_first_trace_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        app=APP,
        test_app=textwrap.dedent("""
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider

            import app


            def test_before_any_trace_test_nothing_is_installed():
                assert not isinstance(trace.get_tracer_provider(), TracerProvider)
                app.handle("r0")
        """) + TESTS.replace("import app\n", "") + textwrap.dedent("""

            def test_after_it_the_global_provider_records_only_in_trace_tests():
                # A stand-in, still a proxy to the application's "is one set?" checks.
                assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
                with app.tracer.start_as_current_span("outside") as span:
                    assert not span.is_recording()
        """),
    )
    run(pytester).assert_outcomes(passed=4)


def test_logfire_proxy_provider(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        import logfire

        logfire.configure(send_to_logfire=False, console=False)
    """)
    pytester.makepyfile("""
        import logfire


        def test_logfire_spans(trace, mock_clock):
            with logfire.span("checkout {order}", order=7):
                with logfire.span("charge"):
                    pass
            trace.assert_tree('''
                fn_call checkout {order} (order=7)
                  fn_call charge
            ''')
    """)
    run(pytester).assert_outcomes(passed=1)


def test_a_global_provider_that_is_not_from_the_sdk_is_a_clear_setup_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest("""
        from opentelemetry import trace

        trace.set_tracer_provider(trace.NoOpTracerProvider())
    """)
    pytester.makepyfile("""
        def test_uses_trace(trace):
            pass


        def test_does_not():
            pass
    """)
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([
        "*test_uses_trace: the global OpenTelemetry TracerProvider is "
        "opentelemetry.trace.NoOpTracerProvider, not an SDK TracerProvider, so the trace "
        "fixture cannot see its spans; set an opentelemetry.sdk.trace.TracerProvider*"
        "trace.otel_tracer_provider*harn_trace_otel = off",
    ])
    assert "Traceback" not in result.stdout.str()
    pytester.makeini("[pytest]\nharn_trace_otel = off\n")
    run(pytester).assert_outcomes(passed=2)


def test_unknown_capture_mode_stops_the_run(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nharn_trace_otel = sometimes\n")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*harn_trace_otel = 'sometimes' is not a mode; use one of: auto, off"]
    )


BLOCK_OTEL = """
import sys


class BlockOpenTelemetry:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


BRIDGE = ("pytest_harn_trace.otel.bridge", "pytest_harn_trace.otel.export")
for name in list(sys.modules):
    if name.startswith("opentelemetry") or name in BRIDGE:
        del sys.modules[name]
sys.meta_path.insert(0, BlockOpenTelemetry())
"""


def test_without_the_extra_the_plugin_works_and_otel_capture_names_the_extra(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(BLOCK_OTEL)
    pytester.makepyfile("""
        import pytest

        from pytest_harn_trace import span


        def test_harn_spans_still_work(trace, mock_clock):
            with span("pipeline", "main"):
                pass
            trace.assert_tree("pipeline main 0ms")


        def test_asking_for_otel_capture(trace):
            trace.otel_tracer_provider


        def test_importing_the_bridge():
            with pytest.raises(ImportError, match=r"pip install 'pytest-harn-trace\\[otel\\]'"):
                import pytest_harn_trace.otel.bridge
    """)
    result = run(pytester)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "E*ImportError: trace.otel_tracer_provider needs OpenTelemetry's SDK, which is not "
        "installed; install the extra: pip install 'pytest-harn-trace[[]otel]'",
    ])


def test_xdist_workers_each_capture_their_own_tests(pytester: pytest.Pytester) -> None:
    tests = "\n".join(
        textwrap.dedent(f"""
            def test_worker_{index}(trace, mock_clock, trace_snapshot):
                with tracer.start_as_current_span("job-{index}"):
                    mock_clock.advance({index})
                assert trace == trace_snapshot
        """)
        for index in range(6)
    )
    pytester.makepyfile(
        test_jobs='from opentelemetry import trace\n\ntracer = trace.get_tracer("jobs")\n' + tests
    )
    run(pytester, "-n", "2", "--snapshot-update").assert_outcomes(passed=6)
    for index in range(6):
        snapshot = pytester.path / "__snapshots__" / "test_jobs" / f"test_worker_{index}.txt"
        assert snapshot.read_text() == (
            f"Trace: 1 spans, {index}ms total\n\nfn_call job-{index} {index}ms\n"
        )

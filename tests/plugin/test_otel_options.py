"""The OpenTelemetry hook and ini options, as a conftest and a pytest.ini set them."""

from __future__ import annotations

import pytest

AGENT = """
def run_agent(trace):
    tracer = trace.otel_tracer_provider.get_tracer("agent")
    with tracer.start_as_current_span("chat model-x") as chat:
        chat.set_attribute("gen_ai.operation.name", "chat")
        chat.set_attribute("gen_ai.request.model", "model-x")
        chat.set_attribute("gen_ai.input.messages", '[{"role": "user"}]')
        chat.set_attribute("gen_ai.response.id", "resp_81f3c2a9d0e7")
        chat.set_attribute("note", "run 0190a2b4-7f00-7c3d-ad8d-9efbcffeb92f done")
        chat.set_attribute("gen_ai.event.start_time", "2026-12-07T17:44:35.854947+00:00")
        chat.set_attribute("gen_ai.server.time_to_first_token", 12)
"""


def test_a_conftest_hook_overrides_the_mapping(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        def pytest_harn_trace_otel_span(otel_span, span):
            if span.name == "model-x":
                span.kind = "model_route"
                span.name = "routed"
                span.metadata = {"spans_name": otel_span.name}
    """)
    pytester.makepyfile(agent=AGENT, test_agent="""
        from agent import run_agent


        def test_hook(trace):
            run_agent(trace)
            trace.assert_tree('model_route routed (spans_name="chat model-x")')
            assert trace.one().metadata == {"spans_name": "chat model-x"}
    """)
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_hook_that_sets_a_bad_kind_fails_naming_the_span(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        def pytest_harn_trace_otel_span(otel_span, span):
            span.kind = "llm-call"
    """)
    pytester.makepyfile(agent=AGENT, test_agent="""
        from agent import run_agent


        def test_hook(trace):
            run_agent(trace)
    """)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E*ValueError: pytest_harn_trace_otel_span('chat model-x') set kind: unknown span kind "
        "'llm-call'; did you mean 'llm_call'?",
    ])


def test_content_and_ids_are_left_out_and_replaced_by_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(agent=AGENT, test_agent="""
        from agent import run_agent


        def test_defaults(trace):
            run_agent(trace)
            metadata = trace.one().metadata
            assert "gen_ai.input.messages" not in metadata
            assert metadata["gen_ai.response.id"] == "<response_id_1>"
            assert metadata["note"] == "run <uuid_1> done"
            assert metadata["gen_ai.event.start_time"] == "<time>"
            assert "gen_ai.server.time_to_first_token" not in metadata
    """)
    pytester.runpytest().assert_outcomes(passed=1)


def test_ini_options_keep_content_and_raw_ids(pytester: pytest.Pytester, inner_ini: str) -> None:
    pytester.makeini(
        inner_ini + "harn_trace_otel_keep_content = true\nharn_trace_otel_raw_ids = true\n"
    )
    pytester.makepyfile(agent=AGENT, test_agent="""
        from agent import run_agent


        def test_kept(trace):
            run_agent(trace)
            metadata = trace.one().metadata
            assert metadata["gen_ai.input.messages"] == '[{"role": "user"}]'
            assert metadata["gen_ai.response.id"] == "resp_81f3c2a9d0e7"
            assert metadata["note"] == "run 0190a2b4-7f00-7c3d-ad8d-9efbcffeb92f done"
            assert metadata["gen_ai.event.start_time"] == "<time>"
    """)
    pytester.runpytest().assert_outcomes(passed=1)


def test_ini_option_raw_times_keeps_clock_readings(
    pytester: pytest.Pytester, inner_ini: str
) -> None:
    pytester.makeini(inner_ini + "harn_trace_otel_raw_times = true\n")
    pytester.makepyfile(agent=AGENT, test_agent="""
        from agent import run_agent


        def test_kept(trace):
            run_agent(trace)
            metadata = trace.one().metadata
            assert metadata["gen_ai.event.start_time"] == "2026-12-07T17:44:35.854947+00:00"
            assert metadata["gen_ai.server.time_to_first_token"] == 12
            assert metadata["gen_ai.response.id"] == "<response_id_1>"
    """)
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize(
    "option",
    ["harn_trace_otel_keep_content", "harn_trace_otel_raw_ids", "harn_trace_otel_raw_times"],
)
def test_a_capture_option_that_is_not_a_bool_stops_the_run(
    pytester: pytest.Pytester, inner_ini: str, option: str
) -> None:
    pytester.makeini(inner_ini + f"{option} = perhaps\n")
    pytester.makepyfile("def test_nothing(trace): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        f"ERROR: {option}: invalid truth value 'perhaps'; "
        "use true or false (or yes/no, on/off, 1/0)"
    ])


def test_otel_helpers_given_the_wrong_thing_say_what_to_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_helpers="""
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        from pytest_harn_trace.otel import OtelExportSink, attach, spans_from_otel

        exporter = InMemorySpanExporter()


        def test_sink_given_the_class():
            OtelExportSink(TracerProvider)

        def test_attach_given_nothing():
            attach(None)

        def test_spans_from_the_exporter():
            spans_from_otel(exporter)

        def test_spans_from_the_uncalled_method():
            spans_from_otel(exporter.get_finished_spans)

        def test_spans_from_names():
            spans_from_otel(["chat"])
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines([
        ">       OtelExportSink(TracerProvider)",
        "E       TypeError: OtelExportSink expects an OpenTelemetry TracerProvider, got the class "
        "TracerProvider; pass an instance, such as TracerProvider()",
        "test_helpers.py:10: TypeError",
        ">       attach(None)",
        "E       TypeError: attach expects an SDK TracerProvider *, got builtins.NoneType; "
        "pass the SDK provider your code's tracers come from",
        "test_helpers.py:13: TypeError",
        ">       spans_from_otel(exporter)",
        "E       TypeError: spans_from_otel got the exporter InMemorySpanExporter; pass the "
        "finished spans, such as exporter.get_finished_spans()",
        "test_helpers.py:16: TypeError",
        ">       spans_from_otel(exporter.get_finished_spans)",
        "E       TypeError: spans_from_otel got get_finished_spans itself, not the spans it "
        "returns; call it: get_finished_spans()",
        "test_helpers.py:19: TypeError",
        ">       spans_from_otel([[]\"chat\"[]])",
        "E       TypeError: spans_from_otel expects OpenTelemetry spans (ReadableSpan), got str at "
        "index 0; pass the finished spans, such as exporter.get_finished_spans()",
        "test_helpers.py:22: TypeError",
    ])
    result.stdout.no_fnmatch_line("*pytest_harn_trace/*")

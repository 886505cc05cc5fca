"""OpenTelemetry spans land in the trace fixture, mixed with spans of this package."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Link, Status, StatusCode, Tracer

from pytest_harn_trace import MockClock, TraceCapture, node, span
from pytest_harn_trace.otel.bridge import HarnSpanProcessor, attach, tracer_provider


@pytest.fixture
def tracer(trace: TraceCapture) -> Tracer:
    return trace.otel_tracer_provider.get_tracer("tests")


def test_otel_span_inside_harn_span_is_its_child_and_the_other_way_round(
    trace: TraceCapture, tracer: Tracer, mock_clock: MockClock
) -> None:
    with span("pipeline", "main"), tracer.start_as_current_span("outer"):
        mock_clock.advance(5)
        with span("step", "inner"), tracer.start_as_current_span("leaf"):
            mock_clock.advance(2)
    trace.assert_tree("""
        pipeline main 7ms
          fn_call outer 7ms
            step inner 2ms
              fn_call leaf 2ms
    """)


def test_ids_follow_start_order_and_timing_comes_from_the_mock_clock(
    trace: TraceCapture, tracer: Tracer, mock_clock: MockClock
) -> None:
    mock_clock.auto_advance_ms = 1
    with tracer.start_as_current_span("a"):
        with tracer.start_as_current_span("b"):
            pass
        with tracer.start_as_current_span("c"):
            pass
    by_name = {s.name: s for s in trace.spans}
    assert [by_name[n].span_id for n in "abc"] == [1, 2, 3]
    assert [by_name[n].parent_id for n in "abc"] == [None, 1, 1]
    assert [by_name[n].duration_ms for n in "abc"] == [5, 1, 1]
    assert by_name["a"].start_unix_ms == mock_clock.wall_ms - 6
    assert not trace.real_clock


def test_genai_attributes_map_to_harn_kinds_and_canonical_usage(
    trace: TraceCapture, tracer: Tracer
) -> None:
    with tracer.start_as_current_span(
        "invoke_agent support", attributes={"gen_ai.operation.name": "invoke_agent",
                                            "gen_ai.agent.name": "support"}
    ):
        with tracer.start_as_current_span("chat gpt-4o") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.request.model", "gpt-4o")
            chat.set_attribute("gen_ai.provider.name", "openai")
            chat.set_attribute("gen_ai.usage.input_tokens", 12)
            chat.set_attribute("gen_ai.usage.output_tokens", 3)
            chat.set_attribute("gen_ai.input.messages", '[{"role": "user"}]')
        with tracer.start_as_current_span(
            "execute_tool search",
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search",
                        "gen_ai.tool.call.id": "call_8f2aK31xQ", "tags": ("a", "b")},
        ):
            pass
    trace.assert_tree("""
        pipeline support
          llm_call gpt-4o (model="gpt-4o", provider="openai", input_tokens=12, output_tokens=3)
          tool_call search (gen_ai.tool.call.id="<tool_call_id_1>", tags=["a", "b"])
    """)
    assert "gen_ai.input.messages" not in trace.one("llm_call").metadata


def test_openinference_and_harn_kind_attributes_are_mapped(
    trace: TraceCapture, tracer: Tracer
) -> None:
    with tracer.start_as_current_span("agent", attributes={"openinference.span.kind": "AGENT"}):
        with tracer.start_as_current_span("ChatOpenAI", attributes={
            "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
            "llm.token_count.prompt": 7, "llm.token_count.completion": 2,
        }):
            pass
        with tracer.start_as_current_span("lookup", attributes={"openinference.span.kind": "TOOL",
                                                                "tool.name": "lookup"}):
            pass
        with tracer.start_as_current_span("retrieve", attributes={
            "openinference.span.kind": "RETRIEVER"
        }):
            pass
        with tracer.start_as_current_span("plan", attributes={"openinference.span.kind": "CHAIN"}):
            pass
        with tracer.start_as_current_span("route", attributes={"harn.kind": "model_route"}):
            pass
        with tracer.start_as_current_span("helper", attributes={"harn.kind": "no-such-kind"}):
            pass
    trace.assert_tree("""
        pipeline agent
          llm_call gpt-4o-mini (model="gpt-4o-mini", input_tokens=7, output_tokens=2)
          tool_call lookup
          tool_call retrieve
          step plan
          model_route route
          fn_call helper (harn.kind="no-such-kind")
    """)


def test_error_status_takes_the_exception_event(trace: TraceCapture, tracer: Tracer) -> None:
    with pytest.raises(KeyError), tracer.start_as_current_span("lookup"):
        raise KeyError("user 7")
    with tracer.start_as_current_span("manual") as manual:
        manual.set_status(Status(StatusCode.ERROR, "quota exceeded"))
    with tracer.start_as_current_span("fine") as fine:
        fine.set_status(Status(StatusCode.OK))
    assert trace.one(name="lookup").metadata["status"] == "error"
    assert trace.one(name="lookup").metadata["error"] == "KeyError: 'user 7'"
    assert trace.one(name="manual").metadata["error"] == "quota exceeded"
    assert trace.one(name="fine").metadata["status"] == "ok"
    (event,) = trace.one(name="lookup").events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "KeyError"
    assert "exception.stacktrace" not in event.attributes


def test_events_and_links_carry_over(
    trace: TraceCapture, tracer: Tracer, mock_clock: MockClock
) -> None:
    with tracer.start_as_current_span("submit") as submit:
        submit_context = submit.get_span_context()
    outside = otel_trace.SpanContext(0xABC, 0xDEF, is_remote=True)
    with tracer.start_as_current_span(
        "work", links=[Link(submit_context, {"why": "queued"}), Link(outside)]
    ) as work:
        mock_clock.advance(4)
        work.add_event("first_token", {"n": 1, "ids": (1, 2)})
    spans = {s.name: s for s in trace.spans}
    (link,) = spans["work"].links
    assert (link.trace_id, link.span_id, dict(link.attributes)) == (
        trace.collector.trace_id, str(spans["submit"].span_id), {"why": "queued"}
    )
    (event,) = spans["work"].events
    assert (event.name, event.offset_ms, event.attributes) == (
        "first_token", 4, {"n": 1, "ids": [1, 2]}
    )
    trace.assert_tree([
        node("fn_call", "submit"),
        node("fn_call", "work", events=[{"name": "first_token"}], links=[{"span_id": "1"}]),
    ])


def test_concurrent_tool_calls_nest_under_the_span_that_started_them(
    trace: TraceCapture, tracer: Tracer, mock_clock: MockClock
) -> None:
    async def tool(name: str, turns: int) -> str:
        attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}
        with tracer.start_as_current_span(f"execute_tool {name}", attributes=attributes):
            for _ in range(turns):  # finish after this many turns of the event loop
                await asyncio.sleep(0)
            with span("llm_call", f"summarize-{name}"):
                await asyncio.sleep(0)
            return name

    async def pipeline() -> list[str]:
        with tracer.start_as_current_span(
            "workflow", attributes={"gen_ai.operation.name": "invoke_workflow"}
        ):
            return await asyncio.gather(
                tool("search", 4), tool("fetch", 0), tool("rank", 2)
            )

    assert asyncio.run(pipeline()) == ["search", "fetch", "rank"]
    trace.assert_tree("""
        pipeline workflow
          tool_call fetch
            llm_call summarize-fetch
          tool_call rank
            llm_call summarize-rank
          tool_call search
            llm_call summarize-search
    """)


def test_thread_without_the_context_starts_a_root_and_with_it_nests(
    trace: TraceCapture, tracer: Tracer
) -> None:
    def work(name: str) -> None:
        with tracer.start_as_current_span(name):
            pass

    with tracer.start_as_current_span("main"):
        # An empty context, as a bare thread has (on free-threaded builds it inherits one).
        bare = threading.Thread(target=contextvars.Context().run, args=(work, "bare"))
        bare.start()
        bare.join()
        context = contextvars.copy_context()
        copied = threading.Thread(target=context.run, args=(work, "copied"))
        copied.start()
        copied.join()
    trace.assert_tree("""
        fn_call bare
        fn_call main
          fn_call copied
    """)


def test_otel_context_carried_to_a_thread_by_hand_gives_the_parent(
    trace: TraceCapture, tracer: Tracer
) -> None:
    def work(parent: otel_context.Context) -> None:
        token = otel_context.attach(parent)
        try:
            with tracer.start_as_current_span("child"):
                pass
        finally:
            otel_context.detach(token)

    with span("pipeline", "main"), tracer.start_as_current_span("request"):
        thread = threading.Thread(target=work, args=(otel_context.get_current(),))
        thread.start()
        thread.join()
    trace.assert_tree("""
        pipeline main
          fn_call request
            fn_call child
    """)


def test_a_span_started_without_becoming_current_is_not_a_parent_of_otel_spans(
    trace: TraceCapture, tracer: Tracer
) -> None:
    with span("pipeline", "main"):
        background = tracer.start_span("background")
        with tracer.start_as_current_span("request"):
            pass
        background.end()
    trace.assert_tree("""
        pipeline main
          fn_call request
          fn_call background
    """)


def test_spans_outside_a_trace_test_are_not_recorded() -> None:
    tracer = tracer_provider().get_tracer("tests")
    with tracer.start_as_current_span("outside") as outside:
        assert not outside.is_recording()


def test_the_processor_ignores_spans_while_tracing_is_off() -> None:
    provider = TracerProvider(shutdown_on_exit=False)
    processor = HarnSpanProcessor()
    provider.add_span_processor(processor)
    with provider.get_tracer("tests").start_as_current_span("outside") as outside:
        assert outside.is_recording()
    assert processor._open == {}


def test_attach_is_once_per_provider_and_checks_its_argument(trace: TraceCapture) -> None:
    provider = TracerProvider(shutdown_on_exit=False)
    assert attach(provider) is attach(provider)
    with provider.get_tracer("tests").start_as_current_span("once"):
        pass
    assert [s.name for s in trace.spans] == ["once"]
    with pytest.raises(TypeError, match=r"expects an SDK TracerProvider .*got builtins\.str"):
        attach("provider")  # type: ignore[arg-type]


def test_the_helper_provider_is_one_per_process(trace: TraceCapture) -> None:
    assert trace.otel_tracer_provider is tracer_provider()


def test_ids_known_at_the_start_are_numbered_in_start_order(
    trace: TraceCapture, tracer: Tracer
) -> None:
    first_started, first_may_end = threading.Event(), threading.Event()

    def tool(call_id: str, wait: threading.Event | None) -> None:
        with tracer.start_as_current_span(call_id, attributes={"gen_ai.tool.call.id": call_id}):
            if wait is not None:
                first_started.set()
                assert wait.wait(5)

    first = threading.Thread(target=tool, args=("call_1stXq82Lm", first_may_end))
    first.start()
    assert first_started.wait(5)
    tool("call_2ndZp47Wd", None)  # ends before the first one
    first_may_end.set()
    first.join()
    assert [(s.name, s.metadata["gen_ai.tool.call.id"]) for s in trace.spans] == [
        ("call_2ndZp47Wd", "<tool_call_id_2>"),
        ("call_1stXq82Lm", "<tool_call_id_1>"),
    ]


def test_a_collector_reset_forgets_the_spans_mapped_before(
    trace: TraceCapture, tracer: Tracer
) -> None:
    from pytest_harn_trace import reset_tracing

    with tracer.start_as_current_span("before") as before:
        reset_tracing()
        with tracer.start_as_current_span("after", context=otel_trace.set_span_in_context(before)):
            pass
    assert [(s.span_id, s.name, s.parent_id) for s in trace.spans] == [(1, "after", None)]

"""Usage accounting on real instrumented frameworks, offline.

- pydantic-ai's ``TestModel`` reports usage on its ``chat`` spans, and its
  agent span repeats their sum (which must not count twice);
- the OpenAI SDK traced by ``opentelemetry-instrumentation-openai-v2``, over a
  mock transport whose responses carry ``usage``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

from pytest_harn_trace import TraceCapture
from tests.plugin.conftest import INNER_INI

openai = pytest.importorskip("openai")  # the test extra installs it
httpx2 = pytest.importorskip("httpx2")  # what openai 3 sends requests with
openai_v2 = pytest.importorskip("opentelemetry.instrumentation.openai_v2")


@pytest.fixture
def instrumented() -> Iterator[None]:
    Agent.instrument_all(True)
    yield
    Agent.instrument_all(False)


def weather_agent() -> Agent[None, str]:
    agent = Agent(TestModel(), name="weather_agent", instructions="Answer in one word.")

    @agent.tool_plain
    async def get_weather(city: str) -> str:
        return f"sunny in {city}"

    return agent


def test_pydantic_ai_usage_counts_its_model_calls_once(
    trace: TraceCapture, instrumented: None
) -> None:
    result = asyncio.run(weather_agent().run("What is the weather in Paris?"))
    reported = result.usage
    usage = trace.usage()
    assert (usage.llm_calls, usage.tool_calls) == (reported.requests, 1)
    assert (usage.input_tokens, usage.output_tokens) == (
        reported.input_tokens,
        reported.output_tokens,
    )
    assert list(usage.by_model) == ["test"]
    # The agent span carries the run's totals too: counted once, through its calls.
    agent_span = trace.one("pipeline", "weather_agent")
    assert agent_span.metadata["gen_ai.aggregated_usage.input_tokens"] == reported.input_tokens
    assert usage.cost_usd is None
    trace.assert_within_budget(llm_calls=2, tool_calls=1, total_tokens=reported.total_tokens)
    with pytest.raises(AssertionError, match=r"llm_calls: 2 > 1 allowed"):
        trace.assert_within_budget(llm_calls=1)


def test_strands_style_agent_spans_repeating_their_calls_usage_count_once(
    trace: TraceCapture,
) -> None:
    # strands-agents writes the run's summed usage on its invoke_agent and cycle spans too.
    tracer = trace.otel_tracer_provider.get_tracer("strands.telemetry.tracer")
    summed = {"gen_ai.usage.input_tokens": 30, "gen_ai.usage.output_tokens": 6}
    with tracer.start_as_current_span(
        "invoke_agent helper",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper",
                    **summed},
    ), tracer.start_as_current_span("execute_event_loop_cycle", attributes=summed):
        for _ in range(2):
            with tracer.start_as_current_span(
                "chat",
                attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "nova",
                            "gen_ai.usage.input_tokens": 15, "gen_ai.usage.output_tokens": 3},
            ):
                pass
    assert trace.one("pipeline", "helper").metadata["input_tokens"] == 30
    usage = trace.usage()
    assert (usage.llm_calls, usage.input_tokens, usage.output_tokens) == (2, 30, 6)


def chat_completion(request: Any) -> Any:
    return httpx2.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Sunny."},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
        },
    )


@pytest.fixture
def openai_client(trace: TraceCapture) -> Iterator[Any]:
    instrumentor = openai_v2.OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=trace.otel_tracer_provider)
    try:
        yield openai.OpenAI(
            api_key="test",
            http_client=httpx2.Client(transport=httpx2.MockTransport(chat_completion)),
        )
    finally:
        instrumentor.uninstrument()


def test_openai_sdk_usage_through_the_openai_v2_instrumentation(
    trace: TraceCapture, openai_client: Any
) -> None:
    for question in ("Weather in Paris?", "And in Rome?"):
        openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
        )
    usage = trace.usage()
    assert (usage.llm_calls, usage.input_tokens, usage.output_tokens) == (2, 24, 6)
    assert usage.by_model["gpt-4o-mini"].total_tokens == 30
    assert [span.metadata["provider"] for span in trace.find("llm_call")] == ["openai"] * 2
    with pytest.raises(AssertionError) as failure:
        trace.assert_within_budget(total_tokens=20, cost_usd=0.01)
    assert str(failure.value).splitlines()[:3] == [
        "trace over budget:",
        "  total_tokens: 30 > 20 allowed",
        "  cost_usd: unknown, 2 of 2 llm calls have no price (allowed $0.01); give them cost_usd "
        "metadata or price them with a pytest_harn_trace_price hook in conftest.py. Unpriced:",
    ]


def test_openai_sdk_calls_priced_by_a_conftest_hook(pytester: pytest.Pytester) -> None:
    pytester.makeini(INNER_INI)
    pytester.makeconftest("""
def pytest_harn_trace_price(span):
    if span.metadata.get("model") == "gpt-4o-mini":
        return span.metadata["input_tokens"] * 0.15e-6 + span.metadata["output_tokens"] * 0.6e-6
""")
    pytester.makepyfile(f"""
import httpx2, openai
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from test_helpers import chat_completion

def test_priced(trace):
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=trace.otel_tracer_provider)
    try:
        client = openai.OpenAI(
            api_key="test",
            http_client=httpx2.Client(transport=httpx2.MockTransport(chat_completion)),
        )
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
    finally:
        instrumentor.uninstrument()
    assert trace.usage().cost_usd == {12 * 0.15e-6 + 3 * 0.6e-6!r}
    trace.assert_within_budget(cost_usd=0.0001)
""")
    pytester.makepyfile(test_helpers="import httpx2\n" + _source(chat_completion))
    result = pytester.runpytest("--harn-trace-usage")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["  gpt-4o-mini: 1 llm call, 15 tokens (12 in, 3 out), $0.0000036"]
    )


def _source(function: Any) -> str:
    import inspect

    return "from typing import Any\n" + inspect.getsource(function)

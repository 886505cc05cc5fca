"""A real instrumented agent framework, offline: pydantic-ai's TestModel with instrument_all."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pydantic_ai  # imported here so in-process inner runs reuse it
import pytest
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

from pytest_harn_trace import MockClock, TraceCapture, node

assert pydantic_ai


@pytest.fixture
def instrumented() -> Iterator[None]:
    Agent.instrument_all(True)
    yield
    Agent.instrument_all(False)


def weather_agent() -> Agent[None, str]:
    agent = Agent(TestModel(), name="weather_agent", instructions="Answer in one word.")

    # Async tools run on the event loop, in a fixed order; pydantic-ai runs sync
    # tools in worker threads, which finish in whatever order the OS decides.
    @agent.tool_plain
    async def get_weather(city: str) -> str:
        return f"sunny in {city}"

    @agent.tool_plain
    async def get_time(city: str) -> str:
        return "noon"

    return agent


def test_a_pydantic_ai_run_is_captured_as_a_tree(
    trace: TraceCapture, mock_clock: MockClock, instrumented: None
) -> None:
    mock_clock.auto_advance_ms = 1
    asyncio.run(weather_agent().run("What is the weather in Paris?"))
    trace.assert_tree("""
        pipeline weather_agent
          llm_call test (model="test", provider="test", input_tokens=56, output_tokens=10)
          tool_call get_weather (gen_ai.tool.call.arguments="{\\"city\\":\\"a\\"}")
          tool_call get_time (gen_ai.tool.call.result="noon")
          llm_call test (model="test", input_tokens=60, output_tokens=18)
    """)
    agent_span = trace.one("pipeline")
    assert agent_span.metadata["gen_ai.conversation.id"] == "<conversation_id_1>"
    assert agent_span.metadata["gen_ai.agent.call.id"] == "<agent_call_id_1>"
    for key in ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
                "gen_ai.tool.definitions", "pydantic_ai.all_messages"):
        assert all(key not in s.metadata for s in trace.spans), key


def test_harn_instrumented_and_pydantic_ai_runs_meet_one_expected_tree(
    trace: TraceCapture, instrumented: None
) -> None:
    from pytest_harn_trace import LlmCallUsage, span

    expected = node(
        "pipeline", "weather_agent",
        node("llm_call", "test", metadata={"model": "test", "provider": "test"}),
        ...,
    )
    asyncio.run(weather_agent().run("What is the weather in Paris?"))
    trace.assert_tree(expected)
    trace.clear()
    with span("pipeline", "weather_agent"), span("llm_call", "test") as call:
        for key, value in LlmCallUsage("test", "test", input_tokens=58).metadata_pairs():
            call.set(key, value)
    trace.assert_tree(expected)

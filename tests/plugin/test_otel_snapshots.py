"""Snapshots of a captured pydantic-ai run are byte-identical from run to run."""

from __future__ import annotations

import asyncio
import textwrap

import hypothesis  # the inner runs' hypothesis plugin imports it: once here, not once per run
import pytest
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

from pytest_harn_trace import SpanCollector, use_collector

assert hypothesis


def warm_up() -> None:
    """Run an agent here once, so in-process inner runs don't import pydantic-ai's lazy parts."""
    Agent.instrument_all(True)
    try:
        with use_collector(SpanCollector()):
            asyncio.run(Agent(TestModel(), name="warm_up").run("hi"))
    finally:
        Agent.instrument_all(False)


AGENT_TEST = """
import asyncio

from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel


def test_agent_snapshot(trace, mock_clock, trace_snapshot, trace_json_snapshot):
    mock_clock.auto_advance_ms = 3
    Agent.instrument_all(True)
    try:
        agent = Agent(TestModel(), name="weather_agent", instructions="Be brief.")

        @agent.tool_plain
        async def get_weather(city: str) -> str:
            return f"sunny in {city}"

        @agent.tool_plain
        async def get_time(city: str) -> str:
            return "noon"

        asyncio.run(agent.run("What is the weather in Paris?"))
    finally:
        Agent.instrument_all(False)
    assert trace == trace_snapshot
    assert trace == trace_json_snapshot
"""


def test_twenty_runs_of_an_agent_give_byte_identical_snapshots(pytester: pytest.Pytester) -> None:
    warm_up()
    pytester.makepyfile(test_agent=textwrap.dedent(AGENT_TEST))
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    snapshots = sorted(pytester.path.glob("__snapshots__/test_agent/*"))
    assert [path.suffix for path in snapshots] == [".json", ".txt"]
    first = [path.read_bytes() for path in snapshots]
    assert b"<conversation_id_1>" in first[0]
    assert b"gen_ai.input.messages" not in first[0] + first[1]
    for _ in range(20):
        pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
        assert [path.read_bytes() for path in snapshots] == first

"""Snapshots of work the scheduler orders are the same on every run (issue 17, item 2)."""

from __future__ import annotations

import textwrap

import pytest

DEF_TOOLS_TEST = """
import time

import pytest
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel


@pytest.fixture(autouse=True)
def instrumented():
    Agent.instrument_all(True)
    yield
    Agent.instrument_all(False)


def make_agent():
    agent = Agent(TestModel())

    @agent.tool_plain
    def tool_a(x: str) -> str:
        time.sleep(0.002)
        return "a"

    @agent.tool_plain
    def tool_b(x: str) -> str:
        time.sleep(0.001)
        return "b"

    return agent


@pytest.mark.asyncio
@pytest.mark.harn_trace(virtual_time=True)
async def test_agent(trace, trace_snapshot):
    await make_agent().run("hi")
    assert trace == trace_snapshot


@pytest.mark.asyncio
@pytest.mark.harn_trace(virtual_time=True)
@pytest.mark.parametrize("first, second", [("tool_a", "tool_b"), ("tool_b", "tool_a")])
async def test_pasted_summary(trace, first, second):
    await make_agent().run("hi")
    trace.assert_tree(f'''
        pipeline agent
          llm_call test
          tool_call {first}
          tool_call {second}
          llm_call test
    ''')
"""


def test_pydantic_ai_def_tools_give_the_same_snapshot_on_every_run(
    pytester: pytest.Pytester,
) -> None:
    from tests.plugin.test_otel_snapshots import warm_up  # pydantic-ai: not in nox's lowest

    warm_up()
    pytester.makepyfile(test_agent=DEF_TOOLS_TEST)
    pytester.runpytest("--snapshot-update", "test_agent.py::test_agent").assert_outcomes(passed=1)
    (stored,) = pytester.path.glob("__snapshots__/test_agent/*.txt")
    text = stored.read_text()
    assert text.index("tool_call tool_a") < text.index("tool_call tool_b")
    for _ in range(20):
        pytester.runpytest().assert_outcomes(passed=3)


GATHER_TEST = """
import asyncio

import pytest

from pytest_harn_trace import span


async def tool(name, seconds):
    with span("tool_call", name):
        await asyncio.sleep(seconds)


@pytest.mark.asyncio
@pytest.mark.harn_trace(virtual_time=True)
@pytest.mark.parametrize("run", range(20))
async def test_gather(run, trace, trace_snapshot):
    with span("pipeline", "main"):
        await asyncio.gather(tool("fetch", 0.03), tool("search", 0.01), tool("rank", 0.02))
        with span("llm_call", "model"):
            await asyncio.sleep(0.005)
    assert trace == trace_snapshot
"""


def test_gathered_tasks_on_virtual_time_are_written_in_one_order_with_their_durations(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_gather=GATHER_TEST)
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=20)
    texts = {path.read_text() for path in pytester.path.glob("__snapshots__/test_gather/*.txt")}
    assert texts == {
        textwrap.dedent(
            """\
            Trace: 5 spans, 35ms total

            pipeline main 35ms
              tool_call fetch 30ms
              tool_call rank 20ms
              tool_call search 10ms
              llm_call model 5ms
            """
        )
    }


STRANDS_TEST = '''
import json
import time

import pytest
from strands import Agent, tool
from strands.models.model import Model


class FakeModel(Model):
    """Asks for both tools at once, then answers."""

    def __init__(self):
        self.turns = [["tool_a", "tool_b"], "done"]
        self.config = {"model_id": "fake"}

    def update_config(self, **config):
        self.config.update(config)

    def get_config(self):
        return self.config

    def structured_output(self, *args, **kwargs):
        raise NotImplementedError

    async def stream(self, messages, tool_specs=None, system_prompt=None, **kwargs):
        turn = self.turns.pop(0)
        yield {"messageStart": {"role": "assistant"}}
        if isinstance(turn, str):
            yield {"contentBlockStart": {"start": {}}}
            yield {"contentBlockDelta": {"delta": {"text": turn}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "end_turn"}}
        else:
            for name in turn:
                start = {"toolUse": {"toolUseId": f"tooluse_{time.time_ns()}", "name": name}}
                yield {"contentBlockStart": {"start": start}}
                yield {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps({"x": 1})}}}}
                yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "tool_use"}}
        usage = {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}
        yield {"metadata": {"usage": usage, "metrics": {"latencyMs": 1}}}


@tool
def tool_a(x: int) -> str:
    """Tool a."""
    time.sleep(0.002)
    return "a"


@tool
def tool_b(x: int) -> str:
    """Tool b."""
    time.sleep(0.001)
    return "b"


@pytest.mark.asyncio
@pytest.mark.harn_trace(virtual_time=True)
@pytest.mark.parametrize("run", range(20))
async def test_strands(run, trace, trace_snapshot):
    agent = Agent(model=FakeModel(), tools=[tool_a, tool_b], callback_handler=None)
    await agent.invoke_async("hi")
    assert trace == trace_snapshot
'''


def test_strands_concurrent_tools_give_the_same_snapshot_on_every_run(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_strands=STRANDS_TEST)
    # In a subprocess: strands instruments threading process-wide when its tracer starts.
    pytester.runpytest_subprocess("--snapshot-update").assert_outcomes(passed=20)
    texts = {path.read_text() for path in pytester.path.glob("__snapshots__/test_strands/*.txt")}
    assert len(texts) == 1
    (text,) = texts
    assert "2026-" not in text and "gen_ai.event.start_time=\"<time>\"" in text
    assert text.index("tool_call tool_a") < text.index("tool_call tool_b")
    tool_line = next(line for line in text.splitlines() if "tool_call tool_a" in line)
    assert "provider=" not in tool_line and 'gen_ai.tool.call.id="<tool_call_id_' in tool_line

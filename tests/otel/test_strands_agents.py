"""A real agent framework whose spans carry many events, offline: strands-agents, scripted model.

strands-agents adds its message events to each chat span just before ending
it; recording them must not move the mock clock.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from strands import Agent, tool
from strands.models.model import Model

from pytest_harn_trace import TraceCapture


class ScriptedModel(Model):
    """Answers each call with the next turn: a tool call ``(name, id, args)`` or text."""

    def __init__(self, turns: list[tuple[str, str, dict[str, str]] | str]) -> None:
        self.turns = list(turns)

    def update_config(self, **model_config: Any) -> None:
        pass

    def get_config(self) -> Any:
        return {"model_id": "scripted"}

    async def structured_output(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError
        yield  # pragma: no cover - an async generator, as the interface asks

    async def stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        turn = self.turns.pop(0)
        yield {"messageStart": {"role": "assistant"}}
        if isinstance(turn, str):
            yield {"contentBlockDelta": {"delta": {"text": turn}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "end_turn"}}
        else:
            name, call_id, arguments = turn
            call = {"name": name, "toolUseId": call_id}
            yield {"contentBlockStart": {"start": {"toolUse": call}}}
            yield {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps(arguments)}}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "tool_use"}}
        usage = {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}
        yield {"metadata": {"usage": usage, "metrics": {"latencyMs": 0}}}


@tool
def weather(city: str) -> str:
    """Weather in a city."""
    return f"sunny in {city}"


@pytest.mark.harn_trace(auto_advance_ms=1)
def test_strands_chat_spans_last_one_tick_however_many_events_they_carry(
    trace: TraceCapture,
) -> None:
    model = ScriptedModel([
        ("weather", "call_1", {"city": "Paris"}),
        ("weather", "call_2", {"city": "Rome"}),
        "Sunny in both.",
    ])
    agent = Agent(model=model, tools=[weather], callback_handler=None)
    agent("Weather in Paris and Rome?")
    chats = [span for span in trace.spans if span.name == "chat"]
    assert [len(chat.events) for chat in chats] == [2, 4, 6]
    assert [chat.duration_ms for chat in chats] == [1, 1, 1]
    # Each event was added after the span's start read moved the clock on by one tick.
    assert {event.offset_ms for chat in chats for event in chat.events} == {1}

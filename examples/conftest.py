"""Demo fixtures: an agent whose sleeps move the mock clock, and snapshot redaction."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from research_agent import ResearchAgent

from pytest_harn_trace import MockClock


def pytest_harn_trace_redact(span: dict[str, Any]) -> None:
    """Hide the random request id before ``trace_snapshot`` / ``trace_json_snapshot`` store it."""
    metadata = span.get("metadata", {})
    if "request_id" in metadata:
        metadata["request_id"] = "<request_id>"


class ClockSleeper:
    """A ``sleep(ms)`` for the agent that moves the mock clock instead of waiting.

    Concurrent sleeps overlap as they would in real time: once every runnable
    task is waiting, the earliest sleeper wakes and the clock jumps to its
    deadline. Three fetches of 50, 30 and 20 ms under ``asyncio.gather`` take
    50 ms in all and finish in the order 20, 30, 50, as on a real event loop.
    """

    _SETTLE = 10  # event-loop turns that let every runnable task reach its next sleep

    def __init__(self, clock: MockClock) -> None:
        self._clock = clock
        self._now = 0
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._driver: asyncio.Task[None] | None = None

    async def __call__(self, ms: int) -> None:
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + ms, next(self._order), wake))
        if self._driver is None or self._driver.done():  # none yet, or one per event loop
            self._driver = asyncio.create_task(self._drive())
        await wake

    async def _drive(self) -> None:
        while True:
            for _ in range(self._SETTLE):
                await asyncio.sleep(0)
            if not self._sleepers:
                self._driver = None
                return
            deadline, _, wake = heapq.heappop(self._sleepers)
            self._clock.advance(deadline - self._now)
            self._now = deadline
            if not wake.done():
                wake.set_result(None)


@pytest.fixture
def make_agent(mock_clock: MockClock) -> Callable[..., ResearchAgent]:
    """Build ``ResearchAgent``s whose tool and model latencies move the mock clock."""
    sleeper = ClockSleeper(mock_clock)  # shared: agents running side by side overlap in time

    def make(**options: Any) -> ResearchAgent:
        return ResearchAgent(sleep=sleeper, **options)

    return make


@pytest.fixture
def agent(make_agent: Callable[..., ResearchAgent]) -> ResearchAgent:
    """A ``ResearchAgent`` on the mock clock, with random request ids."""
    return make_agent()

"""Demo fixtures: agents on the mock clock, and snapshot redaction."""

from __future__ import annotations

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


@pytest.fixture
def make_agent(mock_clock: MockClock) -> Callable[..., ResearchAgent]:
    """Build ``ResearchAgent``s for tests on the mock clock.

    The agent sleeps with plain ``asyncio.sleep``; the tests run it on virtual
    time (``run_virtual`` or the ``virtual_time`` marker), so its latencies
    move the mock clock exactly, with no real waiting.
    """

    def make(**options: Any) -> ResearchAgent:
        return ResearchAgent(**options)

    return make


@pytest.fixture
def agent(make_agent: Callable[..., ResearchAgent]) -> ResearchAgent:
    """A ``ResearchAgent`` on the mock clock, with random request ids."""
    return make_agent()

"""Fixtures for the core's unit tests, which don't rely on the plugin's ``trace`` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_harn_trace import SpanCollector, set_tracing_enabled, use_collector


@pytest.fixture
def tracing() -> Iterator[SpanCollector]:
    """A fresh current collector with tracing on; tracing off again afterwards."""
    with use_collector(SpanCollector()) as collector:
        set_tracing_enabled(True)
        try:
            yield collector
        finally:
            set_tracing_enabled(False)
            collector._leave_context()  # spans a test left open must not parent the next's


@pytest.fixture
def tracing_off() -> Iterator[SpanCollector]:
    """A fresh current collector with tracing off."""
    with use_collector(SpanCollector()) as collector:
        set_tracing_enabled(False)
        yield collector

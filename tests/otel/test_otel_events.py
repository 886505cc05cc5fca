"""OpenTelemetry span events keep the time they were added at, and never move the clock."""

from __future__ import annotations

import pytest
from opentelemetry.trace import Tracer

from pytest_harn_trace import MockClock, TraceCapture


@pytest.fixture
def tracer(trace: TraceCapture) -> Tracer:
    return trace.otel_tracer_provider.get_tracer("tests")


@pytest.mark.harn_trace(auto_advance_ms=1)
@pytest.mark.parametrize("count", [0, 2, 4, 6])
def test_a_spans_duration_does_not_depend_on_its_number_of_events(
    trace: TraceCapture, tracer: Tracer, count: int
) -> None:
    # As strands-agents does: a chat span's events are added just before it ends.
    with tracer.start_as_current_span("chat") as chat:
        for index in range(count):
            chat.add_event(f"gen_ai.message.{index}", {"index": index})
    (captured,) = trace.spans
    assert captured.duration_ms == 1
    assert [(event.name, event.offset_ms) for event in captured.events] == [
        (f"gen_ai.message.{index}", 1) for index in range(count)
    ]


def test_an_event_shows_the_mock_time_it_was_added_at(
    trace: TraceCapture, tracer: Tracer, mock_clock: MockClock
) -> None:
    start_wall_ms = mock_clock.wall_ms
    with tracer.start_as_current_span("chat") as chat:
        mock_clock.advance(5)
        chat.add_event("first token")
        mock_clock.advance(3)
        # A timestamp of its own (a real-clock reading) says nothing of the mock time.
        chat.add_event("last token", timestamp=1_234_567_890)
        mock_clock.advance(2)
    (captured,) = trace.spans
    assert captured.duration_ms == 10
    assert [(e.name, e.offset_ms, e.time_unix_ms) for e in captured.events] == [
        ("first token", 5, start_wall_ms + 5),
        ("last token", 8, start_wall_ms + 8),
    ]


def test_a_recorded_exception_is_an_event_at_the_time_it_was_recorded(
    trace: TraceCapture, tracer: Tracer, mock_clock: MockClock
) -> None:
    with tracer.start_as_current_span("tool") as tool:
        mock_clock.advance(4)
        tool.record_exception(ValueError("bad city"))
        mock_clock.advance(1)
    (captured,) = trace.spans
    assert [(e.name, e.offset_ms, e.attributes["exception.message"]) for e in captured.events] == [
        ("exception", 4, "bad city")
    ]
    assert captured.duration_ms == 5


def test_on_the_real_clock_events_keep_their_own_timestamps(
    trace: TraceCapture, tracer: Tracer
) -> None:
    start_ns = 1_700_000_000_000_000_000
    chat = tracer.start_span("chat", start_time=start_ns)
    chat.add_event("first token", timestamp=start_ns + 7_000_000)
    chat.add_event("last token", timestamp=start_ns + 12_500_000)
    chat.end()
    (captured,) = trace.spans
    assert [(e.name, e.offset_ms, e.time_unix_ms) for e in captured.events] == [
        ("first token", 7, 1_700_000_000_007),
        ("last token", 12, 1_700_000_000_012),
    ]

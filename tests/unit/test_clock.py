from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from pytest_harn_trace import (
    ClockOverride,
    MockClock,
    active_mock_clock,
    clock,
    install_override,
    span,
    span_end,
    span_record_event,
    span_start,
    timed,
)

WALL = 1_700_000_000_000


@pytest.fixture(autouse=True)
def no_leaked_override():
    assert active_mock_clock() is None
    yield
    assert active_mock_clock() is None


# -- MockClock -----------------------------------------------------------------


def test_mock_clock_starts_at_wall_ms_and_monotonic_zero():
    mock = MockClock.at_wall_ms(WALL)
    assert mock.now_wall_ms() == WALL
    assert mock.now_monotonic_ms() == 0
    assert mock.read() == (0, WALL)
    assert MockClock().read() == (0, 0)


def test_advance_moves_both_readings_by_ms_or_timedelta():
    mock = MockClock.at_wall_ms(WALL)
    mock.advance(250)
    assert mock.read() == (250, WALL + 250)
    mock.advance(timedelta(seconds=2, milliseconds=5))
    assert mock.read() == (2_255, WALL + 2_255)
    mock.advance(0)
    assert mock.now_monotonic_ms() == 2_255


def test_advance_by_a_fraction_of_a_millisecond_is_value_error_and_moves_nothing():
    mock = MockClock.at_wall_ms(WALL)
    with pytest.raises(ValueError) as info:
        mock.advance(timedelta(microseconds=1_999))
    assert str(info.value) == (
        "MockClock.advance(datetime.timedelta(microseconds=1999)): the mock clock counts whole "
        "milliseconds; use a multiple of timedelta(milliseconds=1)"
    )
    assert mock.read() == (0, WALL)


def test_reading_the_properties_does_not_auto_advance():
    mock = MockClock.at_wall_ms(WALL, auto_advance_ms=3)
    assert (mock.monotonic_ms, mock.wall_ms) == (0, WALL)
    assert (mock.monotonic_ms, mock.wall_ms) == (0, WALL)
    assert mock.now_monotonic_ms() == 0
    assert (mock.monotonic_ms, mock.wall_ms) == (3, WALL + 3)


def test_negative_advance_is_value_error_and_moves_nothing():
    mock = MockClock.at_wall_ms(WALL)
    with pytest.raises(ValueError) as info:
        mock.advance(-1)
    assert str(info.value) == "MockClock.advance: -1 is negative; milliseconds must be >= 0"
    with pytest.raises(ValueError) as info:
        mock.advance(timedelta(milliseconds=-5))
    assert str(info.value) == (
        "MockClock.advance(datetime.timedelta(days=-1, seconds=86399, microseconds=995000)): "
        "cannot move the clock backwards"
    )
    assert mock.read() == (0, WALL)


@pytest.mark.parametrize("bad", [1.5, "10", None, True])
def test_advance_of_wrong_type_is_type_error(bad):
    mock = MockClock()
    with pytest.raises(TypeError) as info:
        mock.advance(bad)
    assert str(info.value) == (
        "MockClock.advance: expected milliseconds as int (or a timedelta), "
        f"got {type(bad).__name__}"
    )
    assert mock.read() == (0, 0)


def test_mock_clock_rejects_bad_construction():
    with pytest.raises(ValueError) as info:
        MockClock.at_wall_ms(-1)
    assert str(info.value) == "MockClock(wall_ms): -1 is negative; milliseconds must be >= 0"
    with pytest.raises(TypeError):
        MockClock.at_wall_ms(1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        MockClock(auto_advance_ms=-3)


def test_auto_advance_moves_the_clock_after_each_read():
    mock = MockClock.at_wall_ms(WALL, auto_advance_ms=5)
    assert mock.auto_advance_ms == 5
    assert mock.read() == (0, WALL)
    assert mock.read() == (5, WALL + 5)
    assert mock.now_monotonic_ms() == 10
    assert mock.now_wall_ms() == WALL + 15
    mock.auto_advance_ms = 0
    assert mock.read() == (20, WALL + 20)
    assert mock.read() == (20, WALL + 20)
    with pytest.raises(ValueError):
        mock.auto_advance_ms = -1


def test_mock_clock_repr():
    assert repr(MockClock.at_wall_ms(7)) == "<MockClock wall_ms=7 monotonic_ms=0>"
    assert (
        repr(MockClock(auto_advance_ms=2))
        == "<MockClock wall_ms=0 monotonic_ms=0, auto_advance_ms=2>"
    )


# -- overrides -----------------------------------------------------------------


def test_install_override_guard_is_a_context_manager_returning_the_clock():
    mock = MockClock.at_wall_ms(WALL)
    guard = install_override(mock)
    assert isinstance(guard, ClockOverride)
    assert guard.clock is mock
    with guard as entered:
        assert entered is mock
        assert active_mock_clock() is mock
        assert clock.active_mock_clock() is mock
    assert active_mock_clock() is None


def test_overrides_stack_innermost_wins():
    outer, inner = MockClock(), MockClock()
    with install_override(outer):
        with install_override(inner):
            assert active_mock_clock() is inner
        assert active_mock_clock() is outer
    assert active_mock_clock() is None


def test_overrides_restore_out_of_order():
    first, second, third = MockClock(), MockClock(), MockClock()
    g1, g2, g3 = install_override(first), install_override(second), install_override(third)
    try:
        g2.restore()
        assert active_mock_clock() is third
        g3.restore()
        assert active_mock_clock() is first
    finally:
        g1.restore()
        g2.restore()
        g3.restore()
    assert active_mock_clock() is None


def test_restore_twice_is_harmless():
    outer, inner = MockClock(), MockClock()
    with install_override(outer):
        guard = install_override(inner)
        guard.restore()
        guard.restore()
        assert active_mock_clock() is outer
        assert repr(guard).startswith("<ClockOverride restored <MockClock")


def test_same_clock_installed_twice_needs_both_restored():
    mock = MockClock()
    g1 = install_override(mock)
    g2 = install_override(mock)
    g1.restore()
    assert active_mock_clock() is mock
    g2.restore()
    assert active_mock_clock() is None


def test_install_override_rejects_non_clock():
    with pytest.raises(TypeError) as info:
        install_override(time)  # type: ignore[arg-type]
    assert str(info.value) == "install_override expects a MockClock, got module"


# -- spans under a mock clock ----------------------------------------------------


def test_durations_and_start_unix_ms_come_from_the_mock(tracing):
    mock = MockClock.at_wall_ms(WALL)
    with install_override(mock):
        outer = span_start("pipeline", "outer")
        mock.advance(100)
        inner = span_start("llm_call", "inner")
        mock.advance(timedelta(milliseconds=250))
        inner_done = span_end(inner)
        mock.advance(50)
        outer_done = span_end(outer)
    assert (inner_done.start_unix_ms, inner_done.duration_ms) == (WALL + 100, 250)
    assert (outer_done.start_unix_ms, outer_done.duration_ms) == (WALL, 400)


def test_event_offset_and_time_come_from_the_mock(tracing):
    mock = MockClock.at_wall_ms(WALL)
    with install_override(mock):
        mock.advance(1_000)
        span_id = span_start("llm_call", "m")
        mock.advance(30)
        span_record_event(span_id, "first_token")
        mock.advance(70)
        span_record_event(span_id, "done", {"n": 2})
        done = span_end(span_id)
    assert [(e.name, e.time_unix_ms, e.offset_ms) for e in done.events] == [
        ("first_token", WALL + 1_030, 30),
        ("done", WALL + 1_100, 100),
    ]
    assert done.start_unix_ms == WALL + 1_000
    assert done.duration_ms == 100


def test_start_ms_stays_on_the_real_monotonic_clock(tracing):
    mock = MockClock.at_wall_ms(WALL)
    with install_override(mock):
        first = span_start("pipeline", "a")
        mock.advance(3_600_000)
        second = span_start("pipeline", "b")
        done = [span_end(second), span_end(first)]
    assert all(0 <= span.start_ms < 5_000 for span in done)


def test_span_started_before_the_mock_keeps_real_timing(tracing):
    real_start = time.time_ns() // 1_000_000
    span_id = span_start("pipeline", "real")
    mock = MockClock.at_wall_ms(WALL)
    with install_override(mock):
        mock.advance(60_000)
        span_record_event(span_id, "e")
        done = span_end(span_id)
    assert done.duration_ms < 5_000
    assert real_start <= done.start_unix_ms < real_start + 5_000
    (event,) = done.events
    assert event.offset_ms < 5_000  # real offset ...
    assert (
        event.time_unix_ms == WALL + 60_000
    )  # ... but the wall time is the mock's, as in the seed


def test_span_started_under_the_mock_and_ended_after_it_uses_real_elapsed(tracing):
    mock = MockClock.at_wall_ms(WALL)
    with install_override(mock):
        span_id = span_start("pipeline", "a")
        mock.advance(60_000)
    done = span_end(span_id)
    assert done.start_unix_ms == WALL
    assert done.duration_ms < 5_000


def test_auto_advance_gives_deterministic_durations(tracing):
    mock = MockClock.at_wall_ms(WALL, auto_advance_ms=7)
    with install_override(mock):
        outer = span_start("pipeline", "outer")  # reads 0
        inner = span_start("fn_call", "inner")  # reads 7
        inner_done = span_end(inner)  # reads 14
        outer_done = span_end(outer)  # reads 21
    assert (inner_done.duration_ms, outer_done.duration_ms) == (7, 21)
    assert (inner_done.start_unix_ms, outer_done.start_unix_ms) == (WALL + 7, WALL)


def test_timed_and_span_read_the_mock(tracing):
    mock = MockClock.at_wall_ms(WALL)
    with install_override(mock):
        with timed("t"):
            mock.advance(12)
        with span("tool_call", "s"):
            mock.advance(3)
    assert [(s.name, s.duration_ms) for s in tracing.spans()] == [("t", 12), ("s", 3)]


def test_spans_ended_in_worker_threads_see_the_tests_clock(tracing):
    mock = MockClock.at_wall_ms(WALL)
    results = []
    with install_override(mock):
        span_id = span_start("pipeline", "main")
        mock.advance(40)

        def worker():
            own = span_start("tool_call", "in-thread")
            mock.advance(2)
            results.append(span_end(own))
            results.append(span_end(span_id))

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
    in_thread, main = results
    assert (in_thread.start_unix_ms, in_thread.duration_ms) == (WALL + 40, 2)
    assert main.duration_ms == 42

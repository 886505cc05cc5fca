"""The virtual-time core without the plugin: VirtualTime, run_virtual, trace.wait_for."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_harn_trace import (
    MockClock,
    SpanCollector,
    TraceCapture,
    format_summary,
    install_override,
    span,
    use_collector,
)
from pytest_harn_trace.virtual_time import VirtualTime, VirtualTimeError, run_virtual


def test_run_virtual_drives_the_loop_from_the_given_clock() -> None:
    clock = MockClock(1_000)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(12.5)
        return loop.time() - started

    assert run_virtual(main(), clock=clock) == pytest.approx(12.5, abs=1e-6)
    assert (clock.monotonic_ms, clock.wall_ms) == (12_500, 13_500)


def test_run_virtual_reads_the_installed_mock_clock() -> None:
    with install_override(MockClock()) as clock:
        run_virtual(asyncio.sleep(3))
    assert clock.monotonic_ms == 3000


def test_run_virtual_without_a_mock_clock_says_how_to_get_one() -> None:
    main = asyncio.sleep(1)
    with pytest.raises(VirtualTimeError, match="run_virtual needs a mock clock: use the mock"):
        run_virtual(main)


def test_uninstall_puts_the_loop_seams_back() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        selector = loop._selector  # type: ignore[attr-defined]
        before = (dict(vars(loop)), dict(vars(selector)))
        async with VirtualTime(MockClock()):
            with pytest.raises(VirtualTimeError, match="already on virtual time"):
                VirtualTime(MockClock()).install()
        # No virtual time passed: nothing to skew, every patched attribute is gone.
        assert (dict(vars(loop)), dict(vars(selector))) == before

    asyncio.run(main())


def test_after_virtual_time_the_loop_clock_never_goes_back() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with VirtualTime(MockClock()):
            await asyncio.sleep(600)
            reached = loop.time()
        assert loop.time() >= reached  # real pace from here, shifted by the skipped time
        assert loop.time() - time.monotonic() == pytest.approx(600, abs=1)

    asyncio.run(main())


def test_virtual_time_options_are_checked() -> None:
    with pytest.raises(ValueError, match=r"VirtualTime\(limit_ms=-1\): expected an int >= 0"):
        VirtualTime(MockClock(), limit_ms=-1)
    with pytest.raises(
        TypeError, match="VirtualTime expects a MockClock, got an int; pass the mock_clock fixture"
    ):
        VirtualTime(5)  # type: ignore[arg-type]


def test_a_lower_limit_stops_the_code_at_it() -> None:
    async def main() -> None:
        await asyncio.sleep(61)

    with pytest.raises(VirtualTimeError, match=r"has run 0 ms .* next timer is 61,000 ms later"):
        asyncio.run(VirtualTime(MockClock(), limit_ms=60_000).run(main()))


def test_wait_for_blocks_until_a_thread_ends_the_span(tracing: SpanCollector) -> None:
    capture = TraceCapture(tracing)

    def worker() -> None:
        time.sleep(0.05)
        with span("tool_call", "background", job=7):
            pass

    thread = threading.Thread(target=worker)
    thread.start()
    found = capture.wait_for("tool_call", "background", job=7, timeout=5)
    thread.join()
    assert found.metadata == {"job": 7}
    assert capture.wait_for("tool_call", timeout=0) is found  # already there: no wait


def test_wait_for_times_out_listing_the_spans(tracing: SpanCollector) -> None:
    capture = TraceCapture(tracing)
    with span("step", "plan"):
        pass
    with pytest.raises(
        TimeoutError,
        match=r'no span matching \(kind="llm_call", name="gpt"\) ended within 0.01 s; '
        r"completed spans:\n  span 1: step plan",
    ):
        capture.wait_for("llm_call", "gpt", timeout=0.01)


def test_wait_for_refuses_to_block_an_event_loop(tracing: SpanCollector) -> None:
    async def main() -> None:
        TraceCapture(tracing).wait_for("step")

    with pytest.raises(RuntimeError, match=r"use `await trace.wait_for_async\(...\)`"):
        asyncio.run(main())


def test_wait_for_async_sees_spans_ended_in_threads(tracing: SpanCollector) -> None:
    capture = TraceCapture(tracing)

    def worker() -> None:
        time.sleep(0.02)
        with span("tool_call", "threaded"):
            pass

    async def main() -> str:
        thread = threading.Thread(target=worker)
        thread.start()
        found = await capture.wait_for_async("tool_call", timeout=5)
        thread.join()
        return found.name

    assert asyncio.run(main()) == "threaded"


def test_a_loop_without_asyncio_seams_is_refused_by_name() -> None:
    class CompiledLoop(asyncio.SelectorEventLoop):  # stands in for uvloop.Loop
        pass

    async def main() -> None:
        loop = asyncio.get_running_loop()
        selector = loop._selector  # type: ignore[attr-defined]
        loop._selector = None  # type: ignore[attr-defined]
        try:
            with pytest.raises(
                VirtualTimeError,
                match=r"virtual time needs asyncio's own event loop, got .*CompiledLoop; run "
                r"this test on the default loop \(no uvloop loop factory\)",
            ):
                VirtualTime(MockClock()).install()
        finally:
            loop._selector = selector  # type: ignore[attr-defined]

    with asyncio.Runner(loop_factory=CompiledLoop) as runner:
        runner.run(main())


@pytest.mark.parametrize("patience", [-0.5, float("nan"), float("inf"), "1"])
def test_idle_patience_is_checked(patience: object) -> None:
    with pytest.raises(ValueError) as raised:
        VirtualTime(MockClock(), idle_patience_s=patience)  # type: ignore[arg-type]
    assert str(raised.value) == (
        f"VirtualTime(idle_patience_s={patience!r}): expected seconds as a finite number >= 0"
    )


@pytest.mark.parametrize("field", ["io_quiet_ms", "io_answer_ms"])
@pytest.mark.parametrize("value", [-1, 10**15, 2.5, True])
def test_io_milliseconds_are_checked_against_their_range(field: str, value: object) -> None:
    with pytest.raises(ValueError) as raised:
        VirtualTime(MockClock(), **{field: value})  # type: ignore[arg-type]
    assert str(raised.value) == (
        f"VirtualTime({field}={value!r}): expected real milliseconds as an int from 0 to "
        "86,400,000 (a day)"
    )


@settings(max_examples=60, deadline=None)
@given(
    plans=st.lists(
        st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=4),
        min_size=1,
        max_size=12,
    )
)
def test_tasks_finish_as_a_model_of_deadlines_says(plans: list[list[int]]) -> None:
    # Each task sleeps its steps in turn (ms, ties likely); it finishes at the sum.
    # The model: finish order by (finish time, task index), the clock at the last one.
    finished: list[int] = []

    async def task(index: int, steps: list[int]) -> None:
        for ms in steps:
            await asyncio.sleep(ms / 1000)
        finished.append(index)

    async def main() -> None:
        await asyncio.gather(*(task(index, steps) for index, steps in enumerate(plans)))

    clock = MockClock()
    run_virtual(main(), clock=clock)
    ends = [sum(steps) for steps in plans]
    assert clock.monotonic_ms == max(ends)
    assert [ends[index] for index in finished] == sorted(ends)


@settings(max_examples=60, deadline=None)
@given(delays=st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=30))
def test_equal_deadlines_finish_in_the_order_they_slept(delays: list[int]) -> None:
    finished: list[int] = []

    async def task(index: int, ms: int) -> None:
        await asyncio.sleep(ms / 1000)
        finished.append(index)

    async def main() -> None:
        await asyncio.gather(*(task(index, ms) for index, ms in enumerate(delays)))

    run_virtual(main(), clock=MockClock())
    assert finished == sorted(range(len(delays)), key=lambda index: (delays[index], index))


@pytest.mark.parametrize(
    ("timeout", "error", "message"),
    [
        ("5", TypeError, r"wait_for\(timeout=...\) takes seconds as an int or float, got str '5'"),
        (True, TypeError, r"got bool True"),
        (-1, ValueError, r"trace.wait_for\(timeout=-1\): expected a finite number of seconds >= 0"),
        (float("nan"), ValueError, r"timeout=nan"),
    ],
)
def test_wait_for_rejects_a_timeout_that_is_not_seconds(
    tracing: SpanCollector, timeout: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        TraceCapture(tracing).wait_for("step", timeout=timeout)  # type: ignore[arg-type]


def test_wait_for_rejects_an_unknown_kind_before_waiting(tracing: SpanCollector) -> None:
    with pytest.raises(ValueError, match="unknown span kind 'tool_cal'; use one of: "):
        TraceCapture(tracing).wait_for("tool_cal", timeout=60)


def test_wait_for_async_rejects_a_bad_timeout(tracing: SpanCollector) -> None:
    with pytest.raises(TypeError, match=r"trace.wait_for_async\(timeout=...\)"):
        asyncio.run(TraceCapture(tracing).wait_for_async("step", timeout=None))  # type: ignore[arg-type]


def _tie_program_summary(origin: float) -> str:
    """The summary of 500 tasks sleeping random chains of ms, on a loop started at ``origin``.

    Many finish at the same virtual ms by different float sums (0.665 + 0.054 against 0.719).
    """
    rng = random.Random(18)
    plans = [[rng.randint(1, 999) for _ in range(rng.randint(1, 3))] for _ in range(500)]

    async def task(index: int, steps: list[int]) -> None:
        async with span("tool_call", f"t{index}", steps=steps):
            for ms in steps:
                await asyncio.sleep(ms / 1000)

    async def main() -> None:
        await asyncio.gather(*(task(index, steps) for index, steps in enumerate(plans)))

    def loop_at_origin() -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        loop.time = lambda: origin  # type: ignore[method-assign]  # as if up for `origin` s
        return loop

    with (
        use_collector(SpanCollector()) as collector,
        install_override(MockClock()) as clock,
        asyncio.Runner(loop_factory=loop_at_origin) as runner,
    ):
        runner.run(VirtualTime(clock).run(main()))
    return format_summary(collector.spans())


def test_ties_do_not_depend_on_the_loop_time_origin(tracing: SpanCollector) -> None:
    summaries = {origin: _tie_program_summary(origin) for origin in (0, 3_600, 86_400, 10**6)}
    assert summaries[0].count("\n") >= 499
    assert summaries[3_600] == summaries[0]
    assert summaries[86_400] == summaries[0]
    assert summaries[10**6] == summaries[0]


def test_a_tie_runs_in_scheduling_order_whatever_the_float_sums() -> None:
    done: list[str] = []

    async def b() -> None:
        await asyncio.sleep(0.719)
        done.append("B")

    async def a() -> None:
        await asyncio.sleep(0.665)
        await asyncio.sleep(0.054)
        done.append("A")

    async def main() -> None:
        await asyncio.gather(b(), a())  # B's timer is scheduled first

    for origin in (0, 1_000, 3_600, 86_400, 10**6):
        done.clear()
        loop = asyncio.new_event_loop()
        loop.time = lambda origin=origin: origin  # type: ignore[method-assign]
        try:
            loop.run_until_complete(VirtualTime(MockClock()).run(main()))
        finally:
            loop.close()
        assert done == ["B", "A"], origin


@pytest.mark.parametrize("ahead", [1e-7, "a float step past 719 ms"])
def test_a_timer_never_fires_before_loop_time_reaches_it(ahead: float | str) -> None:
    # Code that re-checks loop.time() and sets the timer again when it fired early
    # (aiohttp's keep-alive, aiohttp#10149) must not spin at one virtual instant.
    fired: list[float] = []

    async def main() -> float:
        loop = asyncio.get_running_loop()
        if isinstance(ahead, float):
            when = loop.time() + ahead
        else:
            await asyncio.sleep(0.665)
            when = loop.time() + 0.054  # one float step above the 719 ms the clock lands on
        done = loop.create_future()

        def check() -> None:
            fired.append(loop.time())
            if loop.time() < when and len(fired) < 100:
                loop.call_at(when, check)
            else:
                done.set_result(None)

        loop.call_at(when, check)
        await done
        return when

    def loop_at_zero() -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        loop.time = lambda: 0.0  # type: ignore[method-assign]
        return loop

    with asyncio.Runner(loop_factory=loop_at_zero) as runner:
        when = runner.run(VirtualTime(MockClock()).run(main()))
    assert len(fired) <= 2
    assert fired[-1] >= when

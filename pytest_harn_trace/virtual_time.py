"""Virtual time: an asyncio event loop whose clock is the mock clock.

While :class:`VirtualTime` is installed on a running loop, ``loop.time()``
reads the :class:`~pytest_harn_trace.tracing.clock.MockClock`, and whenever the loop
has nothing to do but wait for a timer, the clock jumps straight to that timer
instead of waiting for it. ``asyncio.sleep(2)`` then returns at once and moves
the mock clock (and so every span's duration) by exactly 2,000 ms.

When the clock jumps:

- never while a callback is ready to run or a socket is ready (the loop polls
  its sockets first);
- never while work handed to a thread with ``loop.run_in_executor`` or
  ``asyncio.to_thread`` is running: the loop waits for it in real time, and
  the clock stands still, unless the thread takes longer in real time than the
  delay to the next timer, which then fires as it would on a real clock;
- never within ``io_quiet_ms`` of real time (50 ms) after the last socket
  event: I/O that is making progress is never jumped past, while an idle
  socket (a listening server, a keep-alive connection) costs nothing;
- when no timer is left, nothing is running in a thread and no socket event
  has come for ``idle_patience_s`` of real time (0.5 s), no task can ever wake:
  the test is stopped with :class:`VirtualTimeError`, naming the virtual time
  reached, instead of hanging. So is a test whose virtual time passes
  ``limit_ms`` (24 hours), such as one waiting on an event nobody sets while a
  heartbeat ticks.

Timers due at the same virtual time run in the order they were scheduled.

This uses the loop's own seams: ``loop.time()``, ``loop.call_at()``,
``loop.run_in_executor()`` and the ``select()`` of the selector the loop polls
(the same seam looptime and aiotools use), patched on the one loop instance and
put back afterwards. It needs asyncio's own loop: ``SelectorEventLoop`` (tested),
or ``ProactorEventLoop``, which polls through the same seam (untested here);
uvloop's loop is compiled and has no such seams.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, NoReturn, ParamSpec, TypeVar, final

from pytest_harn_trace.tracing import clock as _clock
from pytest_harn_trace.tracing.clock import MockClock

__all__ = [
    "DEFAULT_LIMIT_MS",
    "IO_QUIET_MS",
    "VirtualTime",
    "VirtualTimeError",
    "run_virtual",
    "virtual_test",
]

DEFAULT_LIMIT_MS = 24 * 3_600_000
"""How much virtual time one test may pass before it is stopped: 24 hours."""

IO_QUIET_MS = 50
"""Real milliseconds without socket events before the clock may jump again."""

IDLE_PATIENCE_S = 0.5
"""Real seconds a loop with no timer, no thread job and no I/O waits before giving up."""

_THREAD_POLL_S = 0.05
_PRUNE_AT = 256
# Timers within this many seconds of the loop's time are due. asyncio's own
# resolution (1e-9 s) is below a float's step at large loop times (cpython#116342),
# which would leave a timer due "now" pending forever under a clock that only
# moves in jumps.
_RESOLUTION_S = 1e-6

_P = ParamSpec("_P")
_T = TypeVar("_T")


class VirtualTimeError(RuntimeError):
    """A test on virtual time can never finish: every task waits and nothing can wake one."""


_installed: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, VirtualTime] = (
    weakref.WeakKeyDictionary()
)


@final
class _SkewedTime:
    """A loop's clock after virtual time: real pace, ahead by the virtual time skipped.

    So a loop shared between tests never sees its time go back.
    """

    __slots__ = ("_real", "_skew")

    def __init__(self, real: Callable[[], float], skew: float) -> None:
        self._real = real
        self._skew = skew

    def __call__(self) -> float:
        return self._real() + self._skew


def _format_virtual_ms(ms: int) -> str:
    """Return ``ms`` as ``3,600,000 ms (1:00:00.000)`` for messages."""
    seconds, millis = divmod(ms, 1000)
    minutes, secs = divmod(seconds, 60)
    hours, mins = divmod(minutes, 60)
    return f"{ms:,} ms ({hours}:{mins:02}:{secs:02}.{millis:03})"


@final
class VirtualTime:
    """Drives one running asyncio loop's clock from ``clock`` (see the module docs).

    Use it around the code to run on virtual time, inside the loop::

        async with VirtualTime(mock_clock):
            await agent.run()

    Args:
        clock: The mock clock the loop reads; jumps advance it.
        limit_ms: Virtual time the code may pass before it is stopped.
        io_quiet_ms: Real time without socket events before the clock may jump.
        idle_patience_s: Real time an idle loop with no timer waits for another
            thread or process before the code is stopped as stuck.
    """

    __slots__ = (
        "_base_ms",
        "_call_at_real",
        "_clock",
        "_executor_real",
        "_failure",
        "_idle_patience_s",
        "_idle_since",
        "_io_quiet_s",
        "_jobs",
        "_last_io",
        "_last_tie",
        "_limit_ms",
        "_loop",
        "_origin",
        "_prune_at",
        "_real_select",
        "_real_time",
        "_saved",
        "_selector",
        "_task",
        "_thread_waited",
        "_used_whens",
    )

    def __init__(
        self,
        clock: MockClock,
        *,
        limit_ms: int = DEFAULT_LIMIT_MS,
        io_quiet_ms: int = IO_QUIET_MS,
        idle_patience_s: float = IDLE_PATIENCE_S,
    ) -> None:
        __tracebackhide__ = True
        _check_clock("VirtualTime", clock)
        given: dict[str, object] = {"limit_ms": limit_ms, "io_quiet_ms": io_quiet_ms}
        for name, value in given.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"VirtualTime({name}={value!r}): expected an int >= 0")
        self._clock = clock
        self._limit_ms = limit_ms
        self._io_quiet_s = io_quiet_ms / 1000
        patience: object = idle_patience_s
        if isinstance(patience, bool) or not isinstance(patience, (int, float)) or patience < 0:
            raise ValueError(
                f"VirtualTime(idle_patience_s={idle_patience_s!r}): expected seconds as a "
                "number >= 0"
            )
        self._idle_patience_s = float(idle_patience_s)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failure: str | None = None

    @property
    def clock(self) -> MockClock:
        """The mock clock the loop reads."""
        return self._clock

    @property
    def elapsed_ms(self) -> int:
        """Virtual milliseconds passed since this was installed."""
        return self._clock.monotonic_ms - self._base_ms if self._loop is not None else 0

    @property
    def failure(self) -> str | None:
        """Why the code was stopped, once it has been (else ``None``)."""
        return self._failure

    # -- installing ------------------------------------------------------------------

    def install(self) -> None:
        """Put the running loop on virtual time; call from a coroutine on that loop.

        Raises:
            VirtualTimeError: for a loop without asyncio's seams (uvloop), or
                one already on virtual time.
        """
        __tracebackhide__ = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise VirtualTimeError(
                "VirtualTime needs a running asyncio event loop: use `async with "
                "VirtualTime(clock):` inside a coroutine; from sync code call "
                "run_virtual(coro) instead"
            ) from None
        selector = getattr(loop, "_selector", None)
        if not isinstance(loop, asyncio.BaseEventLoop) or selector is None:
            raise VirtualTimeError(
                f"virtual time needs asyncio's own event loop, got {type(loop).__module__}."
                f"{type(loop).__qualname__}; run this test on the default loop "
                "(no uvloop loop factory) or leave virtual time off for it"
            )
        if loop in _installed:
            raise VirtualTimeError(
                "this event loop is already on virtual time (the harn_trace(virtual_time=True) "
                "marker, the harn_trace_virtual_time ini option or an outer VirtualTime put it "
                "there); drop the inner VirtualTime, or turn the other one off"
            )
        own = vars(loop)
        self._saved: dict[str, Any] = {
            name: own[name] for name in ("call_at", "run_in_executor") if name in own
        }
        if "time" in own and not isinstance(own["time"], _SkewedTime):
            self._saved["time"] = own["time"]
        self._saved["_clock_resolution"] = loop._clock_resolution  # type: ignore[attr-defined]
        real_time = self._saved.get("time") or functools.partial(type(loop).time, loop)
        self._real_time: Callable[[], float] = real_time
        self._call_at_real: Callable[..., asyncio.TimerHandle] = loop.call_at
        self._executor_real: Callable[..., asyncio.Future[Any]] = loop.run_in_executor
        self._origin = loop.time()
        self._base_ms = self._clock.monotonic_ms
        self._loop = loop
        self._task = asyncio.current_task(loop)
        self._selector = selector
        self._real_select: Callable[[float | None], list[Any]] = selector.select
        self._jobs: set[asyncio.Future[Any]] = set()
        self._used_whens: set[float] = set()
        self._last_tie: dict[float, float] = {}
        self._prune_at = _PRUNE_AT
        self._last_io = -math.inf
        self._idle_since: float | None = None
        self._thread_waited = 0.0
        self._failure = None
        _installed[loop] = self

        origin, base_ms, clock = self._origin, self._base_ms, self._clock

        def virtual_loop_time() -> float:
            return origin + (clock.monotonic_ms - base_ms) / 1000

        loop.time = virtual_loop_time  # type: ignore[method-assign]
        loop.call_at = self._call_at  # type: ignore[method-assign, assignment]
        loop.run_in_executor = self._run_in_executor  # type: ignore[method-assign, assignment]
        loop._clock_resolution = max(  # type: ignore[attr-defined]
            self._saved["_clock_resolution"], _RESOLUTION_S
        )
        selector.select = self._select

    def uninstall(self) -> None:
        """Put the loop back on real time, never earlier than the virtual time it reached.

        A loop shared with later tests keeps running at real pace from there.
        Calling it twice is harmless.
        """
        loop = self._loop
        if loop is None:
            return
        virtual_now = loop.time()
        del self._selector.select
        own = vars(loop)
        for name in ("time", "call_at", "run_in_executor"):
            if name in self._saved:
                own[name] = self._saved[name]
            else:
                own.pop(name, None)
        loop._clock_resolution = self._saved["_clock_resolution"]  # type: ignore[attr-defined]
        skew = virtual_now - self._real_time()
        if skew > 0:
            loop.time = _SkewedTime(self._real_time, skew)  # type: ignore[method-assign]
        del _installed[loop]
        self._loop = None

    async def __aenter__(self) -> VirtualTime:
        __tracebackhide__ = True
        self.install()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstall()

    async def run(self, awaitable: Awaitable[_T]) -> _T:
        """Await ``awaitable`` on virtual time and return its result.

        Raises:
            VirtualTimeError: when the code could never finish (see the module docs).
        """
        __tracebackhide__ = True
        self.install()
        try:
            result = await awaitable
        except asyncio.CancelledError as cancelled:
            if self._failure is None:
                raise
            # Keep the traceback down to the await the test was stuck in.
            self._raise_failure(cancelled.__traceback__)
        except TimeoutError as error:
            error.add_note(f"(virtual time had reached {_format_virtual_ms(self.elapsed_ms)})")
            raise
        finally:
            self.uninstall()
        if self._failure is not None:  # the code swallowed the cancellation
            self._raise_failure()
        return result

    def _raise_failure(self, traceback: TracebackType | None = None) -> NoReturn:
        __tracebackhide__ = True
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            task.uncancel()
        raise VirtualTimeError(self._failure).with_traceback(traceback) from None

    # -- the loop's seams ------------------------------------------------------------

    def _call_at(
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: Any = None,
    ) -> asyncio.TimerHandle:
        # Equal deadlines become distinct by a float step each, well within the
        # resolution, so the timer heap releases them in the order scheduled.
        used = self._used_whens
        if when in used:
            asked = when
            when = self._last_tie.get(asked, asked)
            while when in used:
                when = math.nextafter(when, math.inf)
            self._last_tie[asked] = when
        used.add(when)
        return self._call_at_real(when, callback, *args, context=context)

    def _run_in_executor(
        self, executor: Any, func: Callable[..., _T], *args: Any
    ) -> asyncio.Future[_T]:
        future = self._executor_real(executor, func, *args)
        self._jobs.add(future)
        future.add_done_callback(self._jobs.discard)
        return future

    def _select(self, timeout: float | None) -> list[Any]:
        events = self._real_select(0)
        if events:
            return self._io(events)
        if timeout is not None and timeout <= 0:
            return events  # callbacks are ready: this was only a poll
        if self._jobs:
            return self._wait_for_threads(timeout)
        quiet_left = self._io_quiet_s - (time.perf_counter() - self._last_io)
        if quiet_left > 0:  # sockets were busy a moment ago: give them time to go on
            events = self._real_select(quiet_left)
            return self._io(events) if events else events
        if timeout is None:
            return self._wait_idle()
        self._jump(timeout)
        return events

    def _io(self, events: list[Any]) -> list[Any]:
        self._last_io = time.perf_counter()
        self._idle_since = None
        self._thread_waited = 0.0
        return events

    def _wait_for_threads(self, timeout: float | None) -> list[Any]:
        step = _THREAD_POLL_S if timeout is None else min(_THREAD_POLL_S, timeout)
        started = time.perf_counter()
        events = self._real_select(max(step, 0.0))
        if events:
            return self._io(events)
        self._thread_waited += time.perf_counter() - started
        if timeout is not None and self._thread_waited >= timeout:
            self._thread_waited = 0.0
            self._jump(timeout)
        return events

    def _wait_idle(self) -> list[Any]:
        now = time.perf_counter()
        if self._idle_since is None:
            self._idle_since = now
        left = self._idle_patience_s - (now - self._idle_since)
        if left > 0:  # another thread or process may still write to a socket
            events = self._real_select(min(left, _THREAD_POLL_S))
            return self._io(events) if events else events
        self._idle_since = None
        self._fail(
            "the test would wait forever: every task is waiting and no timer, socket or "
            f"thread job is left to wake one (virtual time reached "
            f"{_format_virtual_ms(self.elapsed_ms)}); set the event or result the test "
            "awaits, or give the wait a timeout such as asyncio.timeout(...)"
        )
        return []

    def _jump(self, timeout: float) -> None:
        ms = math.ceil(round(timeout * 1000, 3))
        if ms <= 0:
            return
        elapsed = self.elapsed_ms
        if elapsed + ms > self._limit_ms:
            self._fail(
                f"virtual time limit reached: the test has run {_format_virtual_ms(elapsed)} "
                f"of virtual time and its next timer is {ms:,} ms later, past the limit of "
                f"{_format_virtual_ms(self._limit_ms)}; is something waiting for an event "
                "nobody sets while a timer keeps ticking?"
            )
            return
        self._clock.advance(ms)
        if len(self._used_whens) > self._prune_at:  # forget deadlines now past, now and then
            now = self._origin + (elapsed + ms) / 1000 - _RESOLUTION_S
            self._used_whens = {when for when in self._used_whens if when >= now}
            self._last_tie = {
                asked: when for asked, when in self._last_tie.items() if when >= now
            }
            self._prune_at = max(_PRUNE_AT, 2 * len(self._used_whens))

    def _fail(self, message: str) -> None:
        self._failure = message
        if self._task is not None and not self._task.done():
            self._task.cancel(message)


def _describe(value: object) -> str:
    """Name what a user passed: ``the function agent``, ``an int``."""
    if inspect.isfunction(value) or inspect.ismethod(value):
        return f"the function {value.__qualname__}"
    if isinstance(value, type):
        return f"the class {value.__qualname__}"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _check_clock(caller: str, clock: object) -> None:
    """Raise ``TypeError`` unless ``clock`` is a :class:`MockClock`, saying where to get one."""
    __tracebackhide__ = True
    if not isinstance(clock, MockClock):
        raise TypeError(
            f"{caller} expects a MockClock, got {_describe(clock)}; pass the mock_clock "
            "fixture, or MockClock() outside pytest"
        )


def virtual_test(
    func: Callable[_P, Coroutine[Any, Any, _T]],
    clock: MockClock,
    *,
    io_quiet_ms: int = IO_QUIET_MS,
    required: bool = True,
) -> Callable[_P, Coroutine[Any, Any, _T]]:
    """Wrap an async test function so its body runs on virtual time driven by ``clock``.

    Run by another async library than asyncio (trio), the test fails when virtual
    time was ``required``, else it runs on that library's own clock.
    """

    @functools.wraps(func)
    async def on_virtual_time(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        __tracebackhide__ = True
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if required:
                raise VirtualTimeError(
                    "virtual time drives asyncio event loops, and this test runs under "
                    "another async library; under trio use its own "
                    "trio.testing.MockClock(autojump_threshold=0), or mark this test "
                    "@pytest.mark.harn_trace(virtual_time=False)"
                ) from None
            return await func(*args, **kwargs)
        virtual = VirtualTime(clock, io_quiet_ms=io_quiet_ms)
        return await virtual.run(func(*args, **kwargs))

    return on_virtual_time


def run_virtual(main: Coroutine[Any, Any, _T], *, clock: MockClock | None = None) -> _T:
    """``asyncio.run(main)`` on virtual time: for sync tests that start their own loop.

    ``clock`` defaults to the installed mock clock (the ``mock_clock`` fixture's).

    Raises:
        VirtualTimeError: with no mock clock installed, or when ``main`` could
            never finish.
    """
    __tracebackhide__ = True
    given: object = main
    if not inspect.iscoroutine(given):
        fix = (
            f"call it: run_virtual({getattr(given, '__name__', 'main')}(...))"
            if inspect.iscoroutinefunction(given)
            else "pass the coroutine an async def function returns, such as run_virtual(main())"
        )
        raise TypeError(f"run_virtual expects a coroutine, got {_describe(given)}; {fix}")
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        main.close()
        raise VirtualTimeError(
            "run_virtual starts an event loop of its own and cannot run inside a running one; "
            "in async code await the coroutine under `async with VirtualTime(clock):`, or mark "
            "the test @pytest.mark.harn_trace(virtual_time=True)"
        )
    if clock is None:
        clock = _clock.active_mock_clock()
        if clock is None:
            main.close()
            raise VirtualTimeError(
                "run_virtual needs a mock clock: use the mock_clock fixture (or mark the "
                "test @pytest.mark.harn_trace), or pass clock=MockClock(...)"
            )
    else:
        try:
            _check_clock("run_virtual", clock)
        except TypeError:
            main.close()
            raise
    with asyncio.Runner() as runner:
        return runner.run(VirtualTime(clock).run(main))

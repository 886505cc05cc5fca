"""Virtual time: an asyncio event loop whose clock is the mock clock.

While :class:`VirtualTime` is installed on a running loop, ``loop.time()``
reads the :class:`~pytest_harn_trace.tracing.clock.MockClock`, and whenever the loop
has nothing to do but wait for a timer, the clock jumps straight to that timer
instead of waiting for it. ``asyncio.sleep(2)`` then returns at once and moves
the mock clock (and so every span's duration) by exactly 2,000 ms.

When the clock jumps, and when it runs at real speed:

- never while a callback is ready to run or a socket is ready (the loop polls
  its sockets first);
- while a request to a peer outside the loop is in flight, the clock runs at
  real speed: timers fire at their real deadlines, and the wait lasts in
  virtual time what it lasted in real time. A request is in flight from the
  moment the test's side writes to a connection it opened (one whose other end
  is not served by this same loop) until data comes back on it, and on for
  ``io_quiet_ms`` (50 ms) of real time after the last data came, while the
  answer may still be streaming. A child process started with a pipe for its
  stdout is asked by being started and by each write to its stdin, and answers
  with output on stdout (stderr carries logs, which answer nothing); while a
  task awaits its exit it is in flight too. A request left unanswered for
  ``io_answer_ms`` of real time (60 s) stops holding the clock. Idle
  connections (a keep-alive pool, a listening server, a connection nobody
  writes to) never hold it. Datagram (UDP) transports and
  ``loop.sock_sendall()`` are not followed;
- never while work handed to a thread with ``loop.run_in_executor`` or
  ``asyncio.to_thread`` is running: the loop waits for it in real time, and
  the clock stands still, unless the thread takes longer in real time than the
  delay to the next timer, which then fires as it would on a real clock;
- never within ``io_quiet_ms`` of real time after the last socket event of any
  kind, while the clock stands still: traffic inside the loop is never jumped
  past, while an idle socket costs nothing;
- when no timer is left, nothing is in flight, nothing is running in a thread
  and no socket event has come for ``idle_patience_s`` of real time (0.5 s), no
  task can ever wake: the test is stopped with :class:`VirtualTimeError`,
  naming the virtual time reached, instead of hanging. So is a test whose
  virtual time passes ``limit_ms`` (24 hours), such as one waiting on an event
  nobody sets while a heartbeat ticks.

Timers due at the same virtual time run in the order they were scheduled:
each deadline is kept as whole microseconds since the loop went on virtual
time (rounded, so float sums such as ``0.665 + 0.054`` and ``0.719`` meet)
plus its place in scheduling order, and compared exactly, whatever the loop's
time was when virtual time began.

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
import os
import selectors
import time
import weakref
from asyncio import base_subprocess
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, NoReturn, ParamSpec, TypeVar, final

from pytest_harn_trace.tracing import clock as _clock
from pytest_harn_trace.tracing.clock import MockClock
from pytest_harn_trace.tracing.shown import shown

__all__ = [
    "DEFAULT_LIMIT_MS",
    "IO_ANSWER_MS",
    "IO_QUIET_MS",
    "MAX_IO_MS",
    "VirtualTime",
    "VirtualTimeError",
    "run_virtual",
    "virtual_test",
]

DEFAULT_LIMIT_MS = 24 * 3_600_000
"""How much virtual time one test may pass before it is stopped: 24 hours."""

IO_QUIET_MS = 50
"""Real milliseconds without socket events before the clock may jump again."""

IO_ANSWER_MS = 60_000
"""Real milliseconds an unanswered request to an outside peer holds the clock at real speed."""

MAX_IO_MS = 86_400_000
"""The largest ``io_quiet_ms`` and ``io_answer_ms`` accepted: a day of real time."""

IDLE_PATIENCE_S = 0.5
"""Real seconds a loop with no timer, no thread job and no I/O waits before giving up."""

_THREAD_POLL_S = 0.05
_IO_POLL_S = 0.05
# Deadlines sit on a grid of whole microseconds since the origin; timers within
# half a step of the loop's time are due. asyncio's own resolution (1e-9 s) is
# below a float's step at large loop times (cpython#116342), which would leave a
# timer due "now" pending forever under a clock that only moves in jumps.
_RESOLUTION_S = 5e-7
_US_PER_S = 1_000_000
_ORDER_SHIFT = 40  # a deadline's order: its microsecond, then up to 2**40 timers within it

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


@final
class _Deadline(float):
    """A timer's deadline: the loop's float, ordered exactly by (microsecond, scheduling order).

    asyncio's timer heap compares deadlines with ``<``; between two of these that
    compares the integer ``order``, so equal deadlines never depend on float
    rounding, and so on the machine's uptime.
    """

    __slots__ = ("order",)

    order: int

    def __lt__(self, other: object) -> bool:
        if type(other) is _Deadline:
            return self.order < other.order
        return float.__lt__(self, other)  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        if type(other) is _Deadline:
            return self.order > other.order
        return float.__gt__(self, other)  # type: ignore[operator]


@final
class _Peer:
    """Something outside the loop the test talks to: a connection it opened, or a child process.

    ``asked_at`` is the real time of its oldest unanswered request, ``heard_at``
    the real time data last came from it.
    """

    __slots__ = (
        "_alive",
        "asked_at",
        "exit_awaited",
        "heard_at",
        "label",
        "local",
        "talked",
        "transport",
    )

    def __init__(
        self,
        label: str,
        alive: Callable[[], bool],
        exit_awaited: Callable[[], bool] | None = None,
    ) -> None:
        self.label = label
        self._alive = alive
        self.exit_awaited = exit_awaited
        self.asked_at: float | None = None
        self.heard_at = -math.inf
        self.talked = False
        self.local = False
        self.transport: weakref.ref[asyncio.BaseTransport] | None = None

    def alive(self) -> bool:
        return self._alive()

    def ask(self) -> None:
        self.talked = True
        if self.asked_at is None:
            self.asked_at = time.perf_counter()

    def hear(self, now: float) -> None:
        self.asked_at = None
        self.heard_at = now


def _socket_label(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"the connection to {f'[{host}]' if ':' in str(host) else host}:{port}"
    return f"the connection to {peer}" if peer else "a connection"


def _process_label(process: Any) -> str:
    popen = getattr(process, "_proc", None)
    args = getattr(popen, "args", None)
    program = args[0] if isinstance(args, list | tuple) and args else args
    name = os.path.basename(os.fsdecode(program)) if isinstance(program, str | bytes) else ""
    pid = process.get_pid()
    return f"the child process {pid} ({name})" if name else f"the child process {pid}"


def _check_io_ms(owner: str, name: str, value: object) -> int:
    """Return ``value`` if it is whole milliseconds from 0 to ``MAX_IO_MS``, else raise."""
    __tracebackhide__ = True
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_IO_MS:
        raise ValueError(
            f"{owner}({name}={shown(value)}): expected real milliseconds as an int from 0 to "
            f"{MAX_IO_MS:,} (a day)"
        )
    return value


_LOOP_SEAMS = (
    "call_at",
    "run_in_executor",
    "_make_socket_transport",
    "_make_ssl_transport",
    "_make_read_pipe_transport",
    "_make_write_pipe_transport",
    "_make_subprocess_transport",
)
"""The loop's methods virtual time replaces on the loop instance while installed."""


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
        io_quiet_ms: Real time after the last socket event before the clock
            may jump (and, for an answer from an outside peer, the time the
            clock keeps running at real speed after its last data).
        io_answer_ms: Real time an unanswered request to an outside peer keeps
            the clock running at real speed.
        idle_patience_s: Real time an idle loop with no timer waits for another
            thread or process before the code is stopped as stuck.

    Raises:
        ValueError: for an option out of its range (a negative or non-finite
            patience, milliseconds past :data:`MAX_IO_MS`).
    """

    __slots__ = (
        "_base_ms",
        "_by_fd",
        "_call_at_real",
        "_clock",
        "_executor_real",
        "_failure",
        "_idle_patience_s",
        "_idle_since",
        "_io_answer_ms",
        "_io_quiet_ms",
        "_io_seen",
        "_jobs",
        "_last_io",
        "_limit_ms",
        "_loop",
        "_origin",
        "_peers",
        "_processes",
        "_real_select",
        "_real_time",
        "_saved",
        "_selector",
        "_seq",
        "_synced_at",
        "_task",
        "_thread_waited",
        "_unanswered",
        "_wrapped",
    )

    def __init__(
        self,
        clock: MockClock,
        *,
        limit_ms: int = DEFAULT_LIMIT_MS,
        io_quiet_ms: int = IO_QUIET_MS,
        io_answer_ms: int = IO_ANSWER_MS,
        idle_patience_s: float = IDLE_PATIENCE_S,
    ) -> None:
        __tracebackhide__ = True
        _check_clock("VirtualTime", clock)
        limit: object = limit_ms
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"VirtualTime(limit_ms={shown(limit_ms)}): expected an int >= 0")
        self._clock = clock
        self._limit_ms = limit_ms
        self._io_quiet_ms = _check_io_ms("VirtualTime", "io_quiet_ms", io_quiet_ms)
        self._io_answer_ms = _check_io_ms("VirtualTime", "io_answer_ms", io_answer_ms)
        patience: object = idle_patience_s
        if (
            isinstance(patience, bool)
            or not isinstance(patience, int | float)
            or not 0 <= patience < math.inf  # NaN fails this too
        ):
            raise ValueError(
                f"VirtualTime(idle_patience_s={shown(idle_patience_s)}): expected seconds as a "
                "finite number >= 0"
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
        self._saved: dict[str, Any] = {name: own[name] for name in _LOOP_SEAMS if name in own}
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
        self._seq = 0
        self._last_io = -math.inf
        self._idle_since: float | None = None
        self._thread_waited = 0.0
        self._synced_at = -math.inf
        self._peers: set[_Peer] = set()
        self._by_fd: dict[int, _Peer] = {}
        self._processes: weakref.WeakKeyDictionary[Any, _Peer] = weakref.WeakKeyDictionary()
        self._wrapped: weakref.WeakSet[Any] = weakref.WeakSet()  # transports, protocols
        self._unanswered: _Peer | None = None
        self._io_seen = False
        self._failure = None
        _installed[loop] = self

        origin, base_ms, clock = self._origin, self._base_ms, self._clock

        def virtual_loop_time() -> float:
            return origin + (clock.monotonic_ms - base_ms) / 1000

        loop.time = virtual_loop_time  # type: ignore[method-assign]
        loop.call_at = self._call_at  # type: ignore[method-assign, assignment]
        loop.run_in_executor = self._run_in_executor  # type: ignore[method-assign, assignment]
        self._watch_transports(loop, own)
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
        for name in ("time", *_LOOP_SEAMS):
            if name in self._saved:
                own[name] = self._saved[name]
            else:
                own.pop(name, None)
        for wrapped in tuple(self._wrapped):
            for name in ("write", "writelines", "data_received", "eof_received"):
                vars(wrapped).pop(name, None)
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
            error.add_note(
                f"(virtual time had reached {_format_virtual_ms(self.elapsed_ms)}){self._io_note()}"
            )
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
        origin = self._origin
        micros = round((when - origin) * _US_PER_S)
        now_ms = self._clock.monotonic_ms - self._base_ms
        if micros <= now_ms * 1000 and when > origin + now_ms / 1000:
            # Less than half a microsecond ahead: due at the next step, never
            # before loop.time() reaches it (code that re-checks the time and
            # sets the timer again would spin, as in aiohttp#10149).
            micros = now_ms * 1000 + 1
        deadline = _Deadline(origin + micros / _US_PER_S)
        deadline.order = (micros << _ORDER_SHIFT) + self._seq
        self._seq += 1
        return self._call_at_real(deadline, callback, *args, context=context)

    def _run_in_executor(
        self, executor: Any, func: Callable[..., _T], *args: Any
    ) -> asyncio.Future[_T]:
        future = self._executor_real(executor, func, *args)
        self._jobs.add(future)
        future.add_done_callback(self._jobs.discard)
        return future

    def _watch_transports(self, loop: asyncio.AbstractEventLoop, own: dict[str, Any]) -> None:
        """Wrap the loop's transport factories to learn whom the test talks to (module docs)."""
        make_socket = getattr(loop, "_make_socket_transport", None)
        if make_socket is not None:

            def make_socket_transport(*args: Any, **kwargs: Any) -> Any:
                transport = make_socket(*args, **kwargs)
                self._io_seen = True
                if kwargs.get("server") is None:  # not accepted by a server: the test's side
                    self._track_connection(transport)
                return transport

            own["_make_socket_transport"] = make_socket_transport
        make_tls = getattr(loop, "_make_ssl_transport", None)
        if make_tls is not None:

            def make_ssl_transport(raw_socket: Any, protocol: Any, *args: Any, **kw: Any) -> Any:
                transport = make_tls(raw_socket, protocol, *args, **kw)
                self._io_seen = True
                if not kw.get("server_side") and kw.get("server") is None:
                    # The TLS layer writes through the socket transport it registered;
                    # bytes read are not an answer until they decrypt to data for the
                    # protocol (TLS 1.3 session tickets come after the handshake).
                    raw = getattr(loop, "_transports", {}).get(raw_socket.fileno())
                    if raw is not None:
                        self._track_connection(raw, hear_from=protocol)
                return transport

            own["_make_ssl_transport"] = make_ssl_transport
        for transport in tuple(getattr(loop, "_transports", {}).values()):  # a pool from a fixture
            if getattr(transport, "_server", None) is None and not transport.is_closing():
                self._track_connection(transport)
        make_read = getattr(loop, "_make_read_pipe_transport", None)
        make_write = getattr(loop, "_make_write_pipe_transport", None)
        make_process = getattr(loop, "_make_subprocess_transport", None)
        if make_read is None or make_write is None or make_process is None:
            return

        def make_read_pipe_transport(pipe: Any, protocol: Any, *args: Any, **kwargs: Any) -> Any:
            transport = make_read(pipe, protocol, *args, **kwargs)
            # Its stdout answers; stderr carries logs, which answer nothing.
            stdout = getattr(protocol, "fd", None) == 1
            if isinstance(protocol, base_subprocess.ReadSubprocessPipeProto) and stdout:
                peer = self._process_peer(protocol.proc)  # type: ignore[attr-defined]
                if not peer.talked:  # being started asks it: its first output answers
                    peer.ask()
                self._by_fd[pipe.fileno()] = peer
            return transport

        def make_write_pipe_transport(pipe: Any, protocol: Any, *args: Any, **kwargs: Any) -> Any:
            transport = make_write(pipe, protocol, *args, **kwargs)
            if isinstance(protocol, base_subprocess.WriteSubprocessPipeProto):
                process = protocol.proc  # type: ignore[attr-defined]
                self._wrap_writes(transport, self._process_peer(process))
            return transport

        async def make_subprocess_transport(*args: Any, **kwargs: Any) -> Any:
            transport = await make_process(*args, **kwargs)
            self._process_peer(transport)  # one without pipes still has an exit to await
            return transport

        own["_make_read_pipe_transport"] = make_read_pipe_transport
        own["_make_write_pipe_transport"] = make_write_pipe_transport
        own["_make_subprocess_transport"] = make_subprocess_transport

    def _track_connection(self, transport: Any, hear_from: Any = None) -> None:
        """Follow a connection the test opened: writes ask, data read answers.

        With ``hear_from`` (the protocol above a TLS layer), only data reaching
        that protocol answers; a buffered protocol can't be followed so, and
        then any bytes read answer.
        """
        fd = getattr(transport, "_sock_fd", None)
        if not isinstance(fd, int) or fd < 0:
            return
        ref = weakref.ref(transport)

        def alive() -> bool:
            current = ref()
            return current is not None and not current.is_closing()

        peer = _Peer(_socket_label(transport), alive)
        peer.transport = ref
        self._peers.add(peer)
        if hear_from is None or not self._wrap_reads(hear_from, peer):
            self._by_fd[fd] = peer
        self._wrap_writes(transport, peer)

    def _wrap_reads(self, protocol: Any, peer: _Peer) -> bool:
        """Make data reaching ``protocol`` answer ``peer``; False if it can't be wrapped."""
        if isinstance(protocol, asyncio.BufferedProtocol):
            return False  # the TLS layer keeps its own bound methods of those
        data_received, eof_received = protocol.data_received, protocol.eof_received

        def data_answering(data: Any) -> None:
            peer.hear(time.perf_counter())
            data_received(data)

        def eof_answering() -> bool | None:
            peer.hear(time.perf_counter())
            return eof_received()  # type: ignore[no-any-return]

        try:
            protocol.data_received, protocol.eof_received = data_answering, eof_answering
        except AttributeError:  # a protocol with __slots__
            return False
        self._wrapped.add(protocol)
        return True

    def _process_peer(self, process: Any) -> _Peer:
        peer = self._processes.get(process)
        if peer is None:
            ref = weakref.ref(process)

            def alive() -> bool:
                current = ref()
                return current is not None and current.get_returncode() is None

            def exit_awaited() -> bool:
                return bool(getattr(ref(), "_exit_waiters", None))

            peer = self._processes[process] = _Peer(_process_label(process), alive, exit_awaited)
            self._peers.add(peer)
            self._io_seen = True
        return peer

    def _wrap_writes(self, transport: Any, peer: _Peer) -> None:
        write, writelines = transport.write, transport.writelines

        def write_asking(data: Any) -> None:
            peer.ask()
            self._io_seen = True
            write(data)

        def writelines_asking(lines: Any) -> None:
            peer.ask()
            self._io_seen = True
            writelines(lines)

        transport.write, transport.writelines = write_asking, writelines_asking
        self._wrapped.add(transport)

    def _in_flight(self, now: float) -> _Peer | None:
        """The first peer outside the loop whose answer is awaited, if any."""
        answer_s, quiet_s = self._io_answer_ms / 1000, self._io_quiet_ms / 1000
        for peer in tuple(self._peers):
            if not peer.alive():
                self._forget(peer)
                continue
            if peer.exit_awaited is not None and peer.exit_awaited():
                return peer
            if not peer.talked or peer.local:
                continue
            asked = peer.asked_at
            if asked is not None:
                if now - asked >= answer_s:  # given up on: it holds the clock no longer
                    self._unanswered = peer
                    continue
            elif now - peer.heard_at >= quiet_s:  # answered, and quiet since
                continue
            if self._outside(peer):
                return peer
        return None

    def _outside(self, peer: _Peer) -> bool:
        """Whether ``peer`` is not served by this same loop (whose answer needs no real time)."""
        if peer.transport is None:
            return True  # a child process
        transport = peer.transport()
        if transport is None:
            return False
        ends = (transport.get_extra_info("peername"), transport.get_extra_info("sockname"))
        for other in tuple(getattr(self._loop, "_transports", {}).values()):
            if other is not transport and (
                other.get_extra_info("sockname"),
                other.get_extra_info("peername"),
            ) == ends:
                peer.local = True
                return False
        return True

    def _forget(self, peer: _Peer) -> None:
        self._peers.discard(peer)
        for fd in [fd for fd, known in self._by_fd.items() if known is peer]:
            del self._by_fd[fd]

    def _select(self, timeout: float | None) -> list[Any]:
        events = self._real_select(0)
        if events:
            return self._io(events)
        if timeout is not None and timeout <= 0:
            return events  # callbacks are ready: this was only a poll
        if self._peers:
            peer = self._in_flight(time.perf_counter())
            if peer is not None:
                return self._wait_in_flight(timeout, peer)
        if self._jobs:
            return self._wait_for_threads(timeout)
        quiet_left = self._io_quiet_ms / 1000 - (time.perf_counter() - self._last_io)
        if quiet_left > 0:  # sockets were busy a moment ago: give them time to go on
            events = self._real_select(quiet_left)
            return self._io(events) if events else events
        if timeout is None:
            return self._wait_idle()
        self._jump(timeout)
        return events

    def _io(self, events: list[Any]) -> list[Any]:
        now = self._last_io = time.perf_counter()
        self._idle_since = None
        self._thread_waited = 0.0
        by_fd = self._by_fd
        if by_fd:
            for key, mask in events:
                peer = by_fd.get(key.fd)
                if peer is not None and mask & selectors.EVENT_READ:
                    peer.hear(now)
        return events

    def _wait_in_flight(self, timeout: float | None, peer: _Peer) -> list[Any]:
        """Wait for real, the clock running at real speed: ``peer`` owes an answer.

        The clock counts real time from when the request was made (or the
        answer's last data came), or from where it last caught up, whichever
        is later: so a wait lasts in virtual time what it lasted in real time.
        """
        step = _IO_POLL_S if timeout is None else min(_IO_POLL_S, timeout)
        before = time.perf_counter()
        since = peer.asked_at
        if since is None:  # an answer streaming in, or a child process's exit awaited
            heard = peer.heard_at
            since = heard if before - heard < self._io_quiet_ms / 1000 else before
        start = max(self._synced_at, since)
        events = self._real_select(step)
        self._idle_since = None
        ms = int((time.perf_counter() - start) * 1000)
        self._synced_at = start + ms / 1000
        if ms > 0:
            self._advance(ms)
        return self._io(events) if events else events

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
            "awaits, or give the wait a timeout such as asyncio.timeout(...)" + self._io_note()
        )
        return []

    def _jump(self, timeout: float) -> None:
        """Move the clock to the next timer, ``timeout`` seconds away by the loop's floats."""
        scheduled = getattr(self._loop, "_scheduled", None)
        head = scheduled[0]._when if scheduled else None
        if type(head) is _Deadline:  # exact: whole ms up to its microsecond
            micros = (head.order >> _ORDER_SHIFT) - self.elapsed_ms * 1000
            ms = -(-micros // 1000)
        else:  # a timer set before virtual time began
            ms = math.ceil(round(timeout * 1000, 3))
        if ms > 0:
            self._advance(ms)

    def _advance(self, ms: int) -> None:
        elapsed = self.elapsed_ms
        if elapsed + ms > self._limit_ms:
            self._fail(
                f"virtual time limit reached: the test has run {_format_virtual_ms(elapsed)} "
                f"of virtual time and its next timer is {ms:,} ms later, past the limit of "
                f"{_format_virtual_ms(self._limit_ms)}; is something waiting for an event "
                "nobody sets while a timer keeps ticking?" + self._io_note()
            )
            return
        self._clock.advance(ms)

    def _io_note(self) -> str:
        """What to know about real I/O, for a message; empty when the test did none."""
        if not self._io_seen:
            return ""
        note = (
            "; the test did real I/O, and the clock runs at real speed only while a request "
            "to a peer outside this event loop awaits its answer (for at most "
            f"harn_trace_io_answer_ms = {self._io_answer_ms:,} ms of real time, and on for "
            f"harn_trace_io_quiet_ms = {self._io_quiet_ms:,} ms after its last data), jumping "
            "to the next timer otherwise"
        )
        if self._unanswered is not None:
            note += (
                f"; {self._unanswered.label} left a request unanswered for "
                f"{self._io_answer_ms:,} ms of real time, so the clock jumped on: raise "
                "harn_trace_io_answer_ms for a slower peer"
            )
        return note

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
    io_answer_ms: int = IO_ANSWER_MS,
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
        virtual = VirtualTime(clock, io_quiet_ms=io_quiet_ms, io_answer_ms=io_answer_ms)
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

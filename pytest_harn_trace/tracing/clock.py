"""A mock clock that spans read instead of the real one, for deterministic timings.

While a :class:`MockClock` is installed with :func:`install_override`, spans
take their wall-clock start, event times, durations and event offsets from it
(as Harn's ``clock_mock``). Overrides are process-wide, like the collector, so
spans ended in worker threads see the test's clock too.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from types import TracebackType
from typing import final

__all__ = [
    "REAL_CLOCK_ADVICE",
    "ClockOverride",
    "MockClock",
    "RealClockError",
    "active_mock_clock",
    "install_override",
]


class RealClockError(ValueError):
    """Raised when durations timed by the real clock would be snapshotted or checked exactly.

    Real-clock readings change from run to run, so such a snapshot or
    expectation would pass or fail by chance.
    """

    __module__ = "pytest_harn_trace"  # where users import it from, as tracebacks name it


REAL_CLOCK_ADVICE = "use the mock_clock fixture (or mark the test @pytest.mark.harn_trace)"
"""How to time spans deterministically, as every real-clock message says it."""


@final
class MockClock:
    """A clock that only moves when told to.

    Its monotonic reading starts at 0 and its wall reading at the given
    UNIX-epoch milliseconds; :meth:`advance` moves both. With
    ``auto_advance_ms`` set, every read moves it forward by that much after
    reading, which gives non-zero, deterministic durations without manual
    ``advance`` calls.
    """

    __slots__ = ("_auto_advance_ms", "_lock", "_monotonic_ms", "_wall_ms")

    def __init__(self, wall_ms: int = 0, *, auto_advance_ms: int = 0) -> None:
        self._wall_ms = _check_ms("MockClock(wall_ms)", wall_ms)
        self._monotonic_ms = 0
        self._auto_advance_ms = _check_ms("MockClock(auto_advance_ms)", auto_advance_ms)
        self._lock = threading.Lock()

    @classmethod
    def at_wall_ms(cls, wall_ms: int, *, auto_advance_ms: int = 0) -> MockClock:
        """Return a clock whose wall time is ``wall_ms`` and monotonic time 0."""
        return cls(wall_ms, auto_advance_ms=auto_advance_ms)

    @property
    def auto_advance_ms(self) -> int:
        """How far each read moves the clock forward (0: it never moves by itself)."""
        return self._auto_advance_ms

    @auto_advance_ms.setter
    def auto_advance_ms(self, ms: int) -> None:
        self._auto_advance_ms = _check_ms("MockClock.auto_advance_ms", ms)

    def advance(self, delta: int | timedelta) -> None:
        """Move the clock forward by ``delta`` milliseconds (or a ``timedelta``).

        Raises:
            ValueError: for a negative amount; a clock never goes back.
            TypeError: for anything but an int or a ``timedelta``.
        """
        if isinstance(delta, timedelta):
            if delta < timedelta(0):
                raise ValueError(f"MockClock.advance({delta!r}): cannot move the clock backwards")
            ms, rest = divmod(delta, timedelta(milliseconds=1))
            if rest:
                raise ValueError(
                    f"MockClock.advance({delta!r}): the mock clock counts whole milliseconds; "
                    "use a multiple of timedelta(milliseconds=1)"
                )
        else:
            ms = _check_ms("MockClock.advance", delta)
        with self._lock:
            self._wall_ms += ms
            self._monotonic_ms += ms

    @property
    def wall_ms(self) -> int:
        """The wall time in UNIX-epoch ms, read without moving an auto-advancing clock."""
        return self._wall_ms

    @property
    def monotonic_ms(self) -> int:
        """The monotonic time in ms, read without moving an auto-advancing clock."""
        return self._monotonic_ms

    def now_wall_ms(self) -> int:
        """Return the wall time in milliseconds since the UNIX epoch (a read: auto-advances)."""
        return self.read()[1]

    def now_monotonic_ms(self) -> int:
        """Return the monotonic time in milliseconds, 0 at first (a read: auto-advances)."""
        return self.read()[0]

    def read(self) -> tuple[int, int]:
        """Return ``(monotonic_ms, wall_ms)`` from one read (one auto-advance step)."""
        with self._lock:
            now = (self._monotonic_ms, self._wall_ms)
            step = self._auto_advance_ms
            if step:
                self._monotonic_ms += step
                self._wall_ms += step
            return now

    def __repr__(self) -> str:
        auto = f", auto_advance_ms={self._auto_advance_ms}" if self._auto_advance_ms else ""
        return f"<MockClock wall_ms={self._wall_ms} monotonic_ms={self._monotonic_ms}{auto}>"


def _check_ms(where: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{where}: expected milliseconds as int (or a timedelta), got {type(value).__name__}"
        )
    if value < 0:
        raise ValueError(f"{where}: {value} is negative; milliseconds must be >= 0")
    return value


_overrides: list[MockClock] = []
# The innermost override, kept apart from the list so the span hot path reads
# one global instead of indexing a list.
_active: MockClock | None = None
_overrides_lock = threading.Lock()


def active_mock_clock() -> MockClock | None:
    """Return the innermost installed mock clock, or ``None`` when spans use the real clock."""
    return _active


@final
class ClockOverride:
    """Guard for an installed mock clock: a context manager, or call :meth:`restore`."""

    __slots__ = ("_clock", "_restored")

    def __init__(self, clock: MockClock) -> None:
        if not isinstance(clock, MockClock):
            raise TypeError(
                f"ClockOverride expects a MockClock, got {type(clock).__name__}; "
                "install one with install_override(clock), which returns its guard"
            )
        self._clock = clock
        self._restored = False

    @property
    def clock(self) -> MockClock:
        """The clock this guard installed."""
        return self._clock

    def restore(self) -> None:
        """Uninstall this guard's clock; the previous override (if any) becomes active again.

        Calling it twice is harmless. Guards may be restored out of order: only
        this guard's own entry is removed.
        """
        global _active
        with _overrides_lock:
            if self._restored:
                return
            self._restored = True
            for index in range(len(_overrides) - 1, -1, -1):
                if _overrides[index] is self._clock:
                    del _overrides[index]
                    break
            _active = _overrides[-1] if _overrides else None

    def __enter__(self) -> MockClock:
        return self._clock

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore()

    def __repr__(self) -> str:
        state = "restored" if self._restored else "active"
        return f"<ClockOverride {state} {self._clock!r}>"


def install_override(clock: MockClock) -> ClockOverride:
    """Make ``clock`` the clock spans read until the returned guard is restored.

    Overrides stack: the innermost wins, and restoring it brings back the one
    before.
    """
    global _active
    if not isinstance(clock, MockClock):
        raise TypeError(f"install_override expects a MockClock, got {type(clock).__name__}")
    with _overrides_lock:
        _overrides.append(clock)
        _active = clock
    return ClockOverride(clock)

"""Keeping a test's spans in that test's trace, and nobody else's.

An :class:`Isolation` installs a test's collector (and turns tracing on) for
the test's whole run, from its first fixture's setup to its last fixture's
teardown, then puts the previous state back. The threads the test leaves
running stay bound to its collector for good (:func:`bind_thread`): whatever
they record later, raw span ids included, lands in that test's trace. Threads
that were already running when the test started (a server from a session
fixture) are not the test's: they feed whichever test is running.

A thread pool created during one test and reused by a later one is such a
left-over thread: the later test's work submitted to it without the test's
context lands in the first test's trace, and the later test is told so.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import FrameType
from typing import final

from pytest_harn_trace.tracing import collector as _collector
from pytest_harn_trace.tracing.collector import SpanCollector, bind_thread, use_collector
from pytest_harn_trace.tracing.instrument import leave_entries

__all__ = ["Isolation"]

# How long the threads a test leaves behind get, together, to finish on their own
# (a timer just cancelled, a worker on its last line) before they count as left running.
_GRACE_S = 0.02
_SUBMIT_WITH_CONTEXT = (
    "asyncio.to_thread(fn, ...), or executor.submit(contextvars.copy_context().run, fn, ...)"
)


@dataclass
class _LeftRunning:
    """Threads a test left running, bound to its collector."""

    test: str
    threads: list[threading.Thread]
    collector: SpanCollector

    def alive(self) -> list[threading.Thread]:
        return [thread for thread in self.threads if thread.is_alive()]

    def pooled(self) -> bool:
        """Whether one of the threads is a ``concurrent.futures`` pool worker.

        Only a pool takes work from later tests; a heartbeat or server thread
        the test left running records its own work, which its test was told of.
        """
        return any(_is_pool_worker(thread) for thread in self.threads)

    def recorded(self) -> int:
        """How many spans the collector holds, open or completed."""
        return len(self.collector.spans()) + len(self.collector.open_spans())


# Tests whose threads are still running, oldest first.
_left_running: list[_LeftRunning] = []


@final
class Isolation:
    """One test's run: its collector installed, and what the test leaves behind.

    Args:
        collector: The test's collector.
        test: How messages name the test (its node id).
    """

    __test__ = False
    __slots__ = ("_collector", "_installed", "_others", "_test", "_threads_before", "_was_enabled")

    def __init__(self, collector: SpanCollector, test: str) -> None:
        self._collector = collector
        self._test = test
        self._installed: AbstractContextManager[SpanCollector] | None = None
        self._was_enabled = False
        self._threads_before: list[threading.Thread] = []
        self._others: list[tuple[_LeftRunning, int]] = []

    def start(self) -> None:
        """Make the collector current, with tracing on, and note the threads running now."""
        self._threads_before = threading.enumerate()
        if _left_running:
            _left_running[:] = [left for left in _left_running if left.alive()]
            self._others = [(left, left.recorded()) for left in _left_running if left.pooled()]
        self._was_enabled = _collector.swap_enabled(True)
        self._installed = use_collector(self._collector)
        self._installed.__enter__()

    def stop(self) -> list[str]:
        """Put the previous collector and enabled state back; return what to warn about."""
        # Bound before the collector stops being current, so that no span of theirs
        # can reach the next collector in between.
        strays = _left_behind(self._threads_before)
        for thread in strays:
            bind_thread(thread, self._collector)
        if self._installed is not None:
            self._installed.__exit__(None, None, None)
            self._installed = None
            _collector.swap_enabled(self._was_enabled)
        self._threads_before = []

        messages = []
        left_open = self._collector.open_spans()
        # Spans left open would otherwise stay on this context's active stack for the
        # rest of the session, kept alive and walked past by every later root span.
        self._collector._leave_context()
        leave_entries(self._collector)
        if left_open:
            names = ", ".join(str(span) for span in left_open)
            messages.append(
                f"{self._test} left {len(left_open)} span(s) open: {names}; "
                "end them (span_end, or `with span(...)`) so the trace is complete"
            )
        if strays:
            _left_running.append(_LeftRunning(self._test, strays, self._collector))
        running = _busy(strays)
        if running:
            one = len(running) == 1
            messages.append(
                f"{self._test} left {_threads(running)} running; started during the test, "
                f"{'it stays' if one else 'they stay'} bound to this test's trace (now "
                f"{_spans(len(self._collector.spans()))}, {len(left_open)} open), so whatever "
                f"{'it records' if one else 'they record'} from now on, raw span ids included, "
                "lands there and never in another test's trace; stop and join "
                f"{'it' if one else 'them'} before the test ends (in the test, or in a "
                "fixture's teardown)"
            )
        for left, before in self._others:
            late = left.recorded() - before
            if late > 0:
                messages.append(
                    f"{self._test}: {_spans(late)} recorded while this test ran went to the "
                    f"trace of {left.test}, which left {_threads(left.threads)} running, "
                    "bound to its trace. If that was this test's work, submitted to a thread "
                    "pool that test created, submit it with this test's context: "
                    + _SUBMIT_WITH_CONTEXT
                )
        self._others = []
        return messages


# Threads the threading module did not start (it only made a stand-in for them)
# can't be joined and never look finished: they are not the test's.
_FOREIGN: type | tuple[()] = getattr(threading, "_DummyThread", ())


def _left_behind(before: list[threading.Thread]) -> list[threading.Thread]:
    """Return the threads started since ``before`` that are still running."""
    running = threading.enumerate()
    if running == before:  # the same thread objects: nothing started, nothing ended
        return []
    # The calling thread was running at the start too, so it is in ``before``.
    known = set(before)
    started = [thread for thread in running if thread not in known]
    if not started:
        return started
    started = [thread for thread in started if not isinstance(thread, _FOREIGN)]
    deadline = time.monotonic() + _GRACE_S
    for thread in started:
        thread.join(max(deadline - time.monotonic(), 0))
    return [thread for thread in started if thread.is_alive()]


def _is_pool_worker(thread: threading.Thread) -> bool:
    # ``_target`` is the function the thread runs, kept until it returns.
    target = getattr(thread, "_target", None)
    return getattr(target, "__module__", None) == "concurrent.futures.thread"


def _busy(threads: list[threading.Thread]) -> list[threading.Thread]:
    """The threads that are doing something: all but the idle pool workers.

    A pool left open (asyncio's default executor, on a loop that was not shut
    down, or an executor never shut down) keeps its workers waiting for work.
    They run none of the test's code, and the test has no handle to stop them.
    """
    if not any(_is_pool_worker(thread) for thread in threads):
        return threads
    frames = sys._current_frames()
    return [thread for thread in threads if not _is_idle_pool_worker(thread, frames)]


def _is_idle_pool_worker(thread: threading.Thread, frames: dict[int, FrameType]) -> bool:
    """Whether ``thread`` is a ``concurrent.futures`` worker waiting for work on an empty queue.

    Waiting, its innermost Python frame is the worker loop itself (it blocks in
    the queue's C code); running a work item, the item's frames are above it.
    """
    if not _is_pool_worker(thread) or thread.ident is None:
        return False
    frame = frames.get(thread.ident)
    loop = getattr(getattr(thread, "_target", None), "__code__", None)
    if frame is None or frame.f_code is not loop:
        return False
    # Between two items the loop is on top too: idle only if no item is queued.
    queues = [arg for arg in getattr(thread, "_args", ()) if isinstance(arg, _QUEUES)]
    return bool(queues) and all(work.empty() for work in queues)


_QUEUES = (queue.SimpleQueue, queue.Queue)


def _threads(threads: list[threading.Thread]) -> str:
    names = ", ".join(repr(thread.name) for thread in threads)
    return f"thread {names}" if len(threads) == 1 else f"threads {names}"


def _spans(count: int) -> str:
    return f"{count} span" if count == 1 else f"{count} spans"

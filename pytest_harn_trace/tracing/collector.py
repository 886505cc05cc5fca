"""The span collector and the module-level tracing functions of Harn's ``tracing``.

A :class:`SpanCollector` numbers spans from 1, tracks which are open and
which completed, and gives each new span the active span as parent. Unlike
Harn's thread-local collector, the current collector and the enabled flag are
process-wide (spans from every thread land in one trace) while the *active
span* follows the execution context: each asyncio task and each thread sees
the spans its own context opened, so concurrent tasks never parent under a
sibling's span.

The module-level functions (:func:`span_start`, :func:`span_end`, ...) act on
the current collector and are no-ops while tracing is disabled, exactly as in
Harn; :func:`use_collector` swaps the current collector for a block.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, TypeAlias, final

from pytest_harn_trace.tracing import clock as _clock
from pytest_harn_trace.tracing import events as _events
from pytest_harn_trace.tracing.jsonvalue import _PLAIN_TYPES, check_key, json_value
from pytest_harn_trace.tracing.model import JsonValue, OpenSpan, Span, SpanEvent, SpanKind, SpanLink

if sys.version_info >= (3, 14):
    from uuid import uuid7
else:
    from uuid6 import uuid7

__all__ = [
    "SpanCollector",
    "current_collector",
    "current_span_id",
    "current_span_link",
    "is_tracing_enabled",
    "peek_spans",
    "reset_tracing",
    "set_tracing_enabled",
    "span_attach_metadata",
    "span_attach_metadata_if_absent",
    "span_end",
    "span_link",
    "span_record_event",
    "span_set_metadata",
    "span_start",
    "span_start_detached_with_links",
    "span_start_user_timing",
    "span_start_with_links",
    "span_to_dict",
    "swap_enabled",
    "take_spans",
    "use_collector",
]

__tracebackhide__ = True  # pytest shows the user's call, not the plugin's frames

# Nanoseconds per millisecond. The hot paths write the literal 1_000_000 instead:
# a constant is cheaper to load than a global.
_NS_PER_MS = 1_000_000
_perf_ns = time.perf_counter_ns
_wall_ns = time.time_ns
_new_span = tuple.__new__
# The registered event sinks; events.py only ever mutates this list in place.
_sinks = _events._sinks

# The active-span stack of one execution context: a linked list of
# ``(span_id, owner, rest)`` nodes, newest first, where ``owner`` is the open-span
# dict of the collector that started the span. It is immutable, so a task that
# copies the context at creation never sees spans its siblings push later. One
# variable serves every collector: each one looks only at the nodes it owns.
# Nodes are not removed when their span ends; a node whose span is no longer in
# its owner's open dict is dead, and dead nodes are dropped from the top when
# the next span starts. Skipping ended spans is exactly Harn's "remove the
# last occurrence from the stack", without touching the variable on ``end``.
_Stack: TypeAlias = "tuple[int, dict[int, Any], _Stack] | None"
_active_spans: ContextVar[_Stack] = ContextVar("harn_active_spans", default=None)


def _newest_open(stack: _Stack, open_spans: dict[int, Any]) -> int | None:
    """Return the newest span on ``stack`` that is still open in ``open_spans``."""
    while stack is not None:
        span_id, owner, stack = stack
        if owner is open_spans and span_id in open_spans:
            return span_id
    return None


# An in-flight span is a plain list (cheaper to build than any object, and
# unpacked in one step at ``end``), laid out as:
#   [parent_id, kind, name, started_ns, mock_start_ms, start_unix_ms,
#    metadata, links, events]
# ``mock_start_ms`` is the mock clock's monotonic reading at start, only when
# one was installed: a span started on the real clock keeps real timing.
# ``events`` stays an empty tuple until the first event.
_OpenSpan: TypeAlias = list[Any]
_PARENT_ID = 0
_KIND = 1
_NAME = 2
_STARTED_NS = 3
_MOCK_START_MS = 4
_START_UNIX_MS = 5
_METADATA = 6
_LINKS = 7
_EVENTS = 8


class _EndedMetadata(dict[str, Any]):
    """The metadata slot of an ended span: whatever a late writer sets is dropped."""

    def __setitem__(self, key: str, value: Any) -> None:
        pass

    def update(self, *args: Any, **kwargs: Any) -> None:
        pass

    def setdefault(self, key: str, default: Any = None) -> Any:
        return default


_ENDED_METADATA = _EndedMetadata()


def _new_trace_id() -> str:
    return f"trace_{uuid7()}"


def _check_span_id(func: str, span_id: object) -> int:
    """Return ``span_id`` as a plain int, or raise ``TypeError``.

    ``True`` and ``1.0`` hash like ``1``, so without this check they would
    reach span 1 and end up as the ``span_id`` of a completed span.
    """
    if isinstance(span_id, bool) or not isinstance(span_id, int):
        raise TypeError(
            f"{func}: span id must be an int (as returned by span_start), "
            f"got {type(span_id).__name__}"
        )
    return int.__index__(span_id)


def _check_name(func: str, name: object) -> str:
    if isinstance(name, str):
        return str.__str__(name)
    raise TypeError(f"{func}: span name must be str, got {type(name).__name__}")


def _check_links(func: str, links: Iterable[SpanLink]) -> tuple[SpanLink, ...]:
    if isinstance(links, (str, bytes, SpanLink)) or not isinstance(links, Iterable):
        raise TypeError(f"{func}: links must be a list of SpanLink, got {type(links).__name__}")
    checked = tuple(links)
    for link in checked:
        if not isinstance(link, SpanLink):
            raise TypeError(f"{func}: links must be SpanLink objects, got {type(link).__name__}")
    return checked


def _check_attributes(
    func: str, span_id: int | None, attributes: Mapping[str, object] | None
) -> dict[str, JsonValue]:
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise TypeError(
            f"{func}: attributes must be a mapping of str to JSON values, "
            f"got {type(attributes).__name__}"
        )
    return {
        check_key(key, func, span_id): json_value(value, func, span_id, key)
        for key, value in attributes.items()
    }


@final
class SpanCollector:
    """Accumulates completed spans and assigns parents from the active span.

    Thread-safe: spans may start and end in any thread, ids stay unique and
    none is lost. The hot path takes no lock; it relies on single dict, list
    and counter operations being atomic.
    """

    def __init__(self) -> None:
        self._trace_id = _new_trace_id()
        self._ids = itertools.count(1)
        self._open: dict[int, _OpenSpan] = {}
        self._completed: list[Span] = []
        self._epoch_ns = _perf_ns()
        self._used_real_clock = False
        # The last start time given to a span, shared with the next one when equal.
        self._last_unix_ms = 0
        # Guards only rare operations: rewriting the completed list, a first event.
        self._lock = threading.Lock()

    @property
    def used_real_clock(self) -> bool:
        """Whether a span started with no mock clock installed (so its timings vary by run)."""
        return self._used_real_clock

    @property
    def trace_id(self) -> str:
        """The trace id, ``trace_<uuid7>``; a new one after :meth:`reset`."""
        return self._trace_id

    # -- starting --------------------------------------------------------

    def start(self, kind: SpanKind | str, name: str) -> int:
        """Start a span under the active span and make it active. Returns its id."""
        return self._start(kind, name, (), True, "SpanCollector.start")

    def start_with_links(
        self, kind: SpanKind | str, name: str, links: Iterable[SpanLink]
    ) -> int:
        """Start a span under the active span, with causal links to other spans."""
        func = "SpanCollector.start_with_links"
        return self._start(kind, name, _check_links(func, links), True, func)

    def start_detached_with_links(
        self, kind: SpanKind | str, name: str, links: Iterable[SpanLink]
    ) -> int:
        """Start a root span (no parent, whatever is active) with causal links."""
        func = "SpanCollector.start_detached_with_links"
        return self._start(kind, name, _check_links(func, links), False, func)

    def _start(
        self,
        kind: SpanKind | str,
        name: str,
        links: tuple[SpanLink, ...],
        nest: bool,
        func: str,
        metadata: dict[str, JsonValue] | None = None,
    ) -> int:
        if type(kind) is not SpanKind:
            kind = SpanKind.parse(kind)
        if type(name) is not str:
            name = _check_name(func, name)
        open_spans = self._open
        stack = _active_spans.get()
        if stack is None:
            parent_id = None
        elif stack[1] is open_spans and stack[0] in open_spans:
            parent_id = stack[0] if nest else None
        else:
            while stack is not None and stack[0] not in stack[1]:
                stack = stack[2]  # drop ended spans off the top
            parent_id = _newest_open(stack, open_spans) if nest else None
        span_id = next(self._ids)
        mock = _clock._active
        if mock is None:
            started_ns = _perf_ns()
            mock_start_ms = None
            start_unix_ms = _wall_ns() // 1_000_000
            if start_unix_ms == self._last_unix_ms:
                # Spans started in the same millisecond share one int: 32 bytes less each.
                start_unix_ms = self._last_unix_ms
            else:
                self._last_unix_ms = start_unix_ms
            self._used_real_clock = True
        else:
            started_ns = _perf_ns()
            mock_start_ms, start_unix_ms = mock.read()
        if _sinks:
            # Before the span is registered, as in Harn: a sink that raises
            # leaves no open span behind to become every later span's parent.
            _events.emit_span_start(
                span_id,
                parent_id,
                name,
                kind.value,
                {"links": [link.to_dict() for link in links]} if links else {},
            )
        open_spans[span_id] = [
            parent_id,
            kind,
            name,
            started_ns,
            mock_start_ms,
            start_unix_ms,
            metadata.copy() if metadata else {},
            links,
            (),
        ]
        _active_spans.set((span_id, open_spans, stack))
        return span_id

    # -- metadata and events ----------------------------------------------

    def set_metadata(self, span_id: int, key: str, value: object) -> None:
        """Set ``key`` on an open span; a no-op for a span that is not open.

        Raises:
            TypeError: if ``key`` is not a str or ``value`` is not a JSON value.
        """
        if span_id.__class__ is not int:
            span_id = _check_span_id("span_set_metadata", span_id)
        if key.__class__ is not str:
            key = check_key(key, "span_set_metadata", span_id)
        if value.__class__ not in _PLAIN_TYPES or (
            # jsonvalue's 64-bit bounds, written as literals so they fold to constants
            value.__class__ is int and not -(2**63) <= value < 2**64
        ):
            value = json_value(value, "span_set_metadata", span_id, key)
        span = self._open.get(span_id)
        if span is not None:
            span[_METADATA][key] = value

    def _add_checked_metadata(self, span_id: int, metadata: dict[str, JsonValue]) -> None:
        """Merge metadata already checked by ``json_value`` into a span, if it is open."""
        span = self._open.get(span_id)
        if span is not None:
            span[_METADATA].update(metadata)

    def attach_metadata_if_absent(self, span_id: int, key: str, value: object) -> None:
        """Set ``key`` on an open *or completed* span unless it is already there.

        A completed span is replaced by a copy carrying the key, so ``Span``
        objects handed out earlier never change under their holder.
        """
        func = "span_attach_metadata_if_absent"
        span_id = _check_span_id(func, span_id)
        key = check_key(key, func, span_id)
        value = json_value(value, func, span_id, key)
        span = self._open.get(span_id)
        if span is not None:
            span[_METADATA].setdefault(key, value)
            if span_id in self._open:
                return  # ``end`` has yet to copy the metadata, key included
            # It ended meanwhile, maybe before taking our key: set it on the completed span.
        with self._lock:
            completed = self._completed
            for index in range(len(completed) - 1, -1, -1):
                done = completed[index]
                if done.span_id == span_id:
                    if key not in done.metadata:
                        completed[index] = done._replace(metadata={**done.metadata, key: value})
                    return

    def record_event(
        self, span_id: int, name: str, attributes: Mapping[str, object] | None = None
    ) -> bool:
        """Append a named checkpoint to an open span.

        Returns:
            ``True`` if attached; ``False`` if ``span_id`` is not an open span.
        """
        func = "span_record_event"
        span_id = _check_span_id(func, span_id)
        name = _check_name(func, name)
        checked = _check_attributes(func, span_id, attributes)
        span = self._open.get(span_id)
        if span is None:
            return False
        mock = _clock._active
        if mock is None:
            now_ns = _perf_ns()
            time_unix_ms = _wall_ns() // _NS_PER_MS
            offset_ms = (now_ns - span[_STARTED_NS]) // _NS_PER_MS
        else:
            mock_now_ms, time_unix_ms = mock.read()
            if span[_MOCK_START_MS] is None:
                offset_ms = (_perf_ns() - span[_STARTED_NS]) // _NS_PER_MS
            else:
                offset_ms = max(mock_now_ms - span[_MOCK_START_MS], 0)
        event = SpanEvent(name, time_unix_ms, offset_ms, checked)
        events = span[_EVENTS]
        if events.__class__ is not list:
            # The first event swaps the empty tuple for a list: one thread at a time,
            # or two threads recording at once would each swap in their own list.
            with self._lock:
                events = span[_EVENTS]
                if events.__class__ is not list:
                    events = span[_EVENTS] = []
        events.append(event)
        return True

    def _retag(
        self,
        span_id: int,
        kind: SpanKind,
        name: str,
        parent_id: int | None,
        metadata: dict[str, JsonValue] | None = None,
    ) -> None:
        """Change an open span's kind, name and parent, and merge checked metadata into it.

        For bridges (OpenTelemetry) that learn a span's kind and name only from
        attributes set after it started, and whose parent comes from their own
        context. A no-op for a span that is not open.
        """
        span = self._open.get(span_id)
        if span is not None:
            span[_PARENT_ID] = parent_id
            span[_KIND] = kind
            span[_NAME] = name
            if metadata:
                if span[_METADATA]:
                    span[_METADATA].update(metadata)
                else:
                    span[_METADATA] = metadata

    def open_start_unix_ms(self, span_id: int) -> int | None:
        """Return the wall-clock start of an open span, or ``None``."""
        span = self._open.get(_check_span_id("open_start_unix_ms", span_id))
        return None if span is None else span[_START_UNIX_MS]

    # -- ending -----------------------------------------------------------

    def end(self, span_id: int) -> Span | None:
        """End an open span and return it completed; ``None`` if it was not open.

        A parent may end before its child: the child keeps its parent id, and
        the ended span is never again taken as a parent.
        """
        if span_id.__class__ is not int:
            span_id = _check_span_id("span_end", span_id)
        span = self._open.pop(span_id, None)
        if span is None:
            return None
        return self._finish(span_id, span)

    def _finish(self, span_id: int, span: _OpenSpan) -> Span:
        """Complete ``span``, just taken out of the open spans, on any clock, telling the sinks."""
        (
            parent_id, kind, name, started_ns, mock_start_ms, start_unix_ms,
            metadata, links, events,
        ) = span  # fmt: skip
        # A writer that looked the span up just before the pop reads the metadata
        # slot again as it writes (one step, which no other thread can split with
        # the GIL), so from here on it writes nowhere: the Span's dict never changes.
        span[_METADATA] = _ENDED_METADATA
        mock = _clock._active
        if mock is not None and mock_start_ms is not None:
            duration_ms = max(mock.read()[0] - mock_start_ms, 0)
        else:
            duration_ms = (_perf_ns() - started_ns) // 1_000_000
        completed: Span = _new_span(
            Span,
            (
                self._trace_id,
                span_id,
                parent_id,
                kind,
                name,
                (started_ns - self._epoch_ns) // 1_000_000,
                start_unix_ms,
                duration_ms,
                metadata,
                links,
                tuple(events) if events else (),
            ),
        )
        self._completed.append(completed)
        if _sinks:
            _events.emit_span_end(span_id, {**metadata, "duration_ms": duration_ms})
        return completed

    # -- reading ----------------------------------------------------------

    def current_span_id(self) -> int | None:
        """Return the active span of the calling context, if one is open."""
        return _newest_open(_active_spans.get(), self._open)

    def _leave_context(self) -> None:
        """Take this collector's spans off the calling context's active-span stack.

        For a collector being dropped with spans still open (a test that failed
        before ending them): their stack nodes would otherwise outlive it in
        this context, keeping its spans alive, and every later root span would
        walk past them. Spans of other collectors stay, in order; nodes of
        spans that already ended go too.
        """
        open_spans = self._open
        stack = _active_spans.get()
        kept: list[tuple[int, dict[int, Any]]] = []
        while stack is not None:
            span_id, owner, stack = stack
            if owner is not open_spans and span_id in owner:
                kept.append((span_id, owner))
        rebuilt: _Stack = None
        for span_id, owner in reversed(kept):
            rebuilt = (span_id, owner, rebuilt)
        _active_spans.set(rebuilt)

    def span_link(self, span_id: int) -> SpanLink | None:
        """Return a link to an open span, or ``None``."""
        span_id = _check_span_id("span_link", span_id)
        span = self._open.get(span_id)
        return None if span is None else SpanLink(self._trace_id, str(span_id))

    def current_span_link(self) -> SpanLink | None:
        """Return a link to the active span, or ``None``."""
        span_id = self.current_span_id()
        return None if span_id is None else self.span_link(span_id)

    def spans(self) -> list[Span]:
        """Return the completed spans in completion order (a copy)."""
        return self._completed[:]

    def completed_span(self, span_id: int) -> Span | None:
        """Return the completed span ``span_id``, looking from the newest; ``None`` if absent.

        For sinks at ``harn_span_end``, where the span just ended is the newest.
        """
        completed = self._completed
        for index in range(len(completed) - 1, -1, -1):
            try:
                span = completed[index]
            except IndexError:  # taken meanwhile by another thread
                return None
            if span.span_id == span_id:
                return span
        return None

    def open_spans(self) -> list[OpenSpan]:
        """Return a record of each span started and not yet ended, oldest first."""
        if not self._open:
            return []
        epoch_ns = self._epoch_ns
        return [
            OpenSpan(
                span_id,
                span[_KIND],
                span[_NAME],
                span[_PARENT_ID],
                dict(span[_METADATA]),
                (span[_STARTED_NS] - epoch_ns) // _NS_PER_MS,
                span[_START_UNIX_MS],
            )
            for span_id, span in sorted(self._open.copy().items())
        ]

    def peek_open_spans(self) -> list[Span]:
        """Return each open span as if it ended now, oldest first; the spans stay open.

        For pictures of a trace that is still running (the HTML waterfall, the
        Perfetto export): ``duration_ms`` is the time so far, read without
        moving an auto-advancing mock clock.
        """
        if not self._open:
            return []
        mock = _clock._active
        now_ns = _perf_ns()
        peeked = []
        for span_id, span in sorted(self._open.copy().items()):
            started_ns = span[_STARTED_NS]
            mock_start_ms = span[_MOCK_START_MS]
            if mock_start_ms is None:
                duration_ms = (now_ns - started_ns) // _NS_PER_MS
            elif mock is not None:
                duration_ms = max(mock.monotonic_ms - mock_start_ms, 0)
            else:  # started on a mock clock that is gone: no reading to compare with
                duration_ms = 0
            peeked.append(
                Span(
                    self._trace_id,
                    span_id,
                    span[_PARENT_ID],
                    span[_KIND],
                    span[_NAME],
                    (started_ns - self._epoch_ns) // _NS_PER_MS,
                    span[_START_UNIX_MS],
                    duration_ms,
                    dict(span[_METADATA]),
                    span[_LINKS],
                    tuple(span[_EVENTS]),
                )
            )
        return peeked

    def take_spans(self) -> list[Span]:
        """Remove and return the completed spans."""
        with self._lock:
            completed = self._completed
            count = len(completed)
            taken = completed[:count]
            # Spans other threads append meanwhile stay for the next take.
            del completed[:count]
        return taken

    def reset(self) -> None:
        """Forget every span: ids restart at 1, with a new trace id and epoch."""
        with self._lock:
            # A new open dict disowns every stack node of the old generation,
            # so a context that still holds one never takes it for a parent.
            ended, self._open = self._open, {}
            ended.clear()
            self._completed.clear()
            self._ids = itertools.count(1)
            self._trace_id = _new_trace_id()
            self._epoch_ns = _perf_ns()
            self._used_real_clock = False

    def __repr__(self) -> str:
        return (
            f"<SpanCollector {self._trace_id} with {len(self._completed)} completed, "
            f"{len(self._open)} open span(s)>"
        )


# -- the process-wide collector ------------------------------------------------

_current = SpanCollector()
_enabled = False
# The collector bound to this execution context by ``use_collector``; when
# set it wins over the process-wide ``_current``.
_bound: ContextVar[SpanCollector | None] = ContextVar("harn_collector", default=None)
# Threads bound to a collector by ``bind_thread``, by ident. The thread object is
# kept to tell a bound thread from a later one that reuses its ident.
_thread_collectors: dict[int, tuple[threading.Thread, SpanCollector]] = {}


def current_collector() -> SpanCollector:
    """Return the collector the module-level functions act on."""
    return _bound.get() or _unbound_collector()


def _unbound_collector() -> SpanCollector:
    """Return the collector of a context that ``use_collector`` bound none to.

    That is the calling thread's collector if ``bind_thread`` gave it one, else
    the process-wide current collector. Only threads that did not inherit a
    context (a plain ``threading.Thread``, a thread-pool worker) get here.
    """
    if _thread_collectors:
        bound = _thread_collectors.get(threading.get_ident())
        if bound is not None and bound[0] is threading.current_thread():
            return bound[1]
    return _current


def bind_thread(thread: threading.Thread, collector: SpanCollector) -> None:
    """Make ``collector`` the one ``thread`` records into for as long as it runs.

    Whatever collector is current later, the module-level functions called from
    ``thread`` (outside a ``use_collector`` block of its own) act on
    ``collector``, so the spans it starts and the raw span ids it ends all land
    there. The ``trace`` fixture binds the threads a test leaves running to that
    test's collector.
    """
    given: object = thread
    if not isinstance(given, threading.Thread) or given.ident is None:
        raise TypeError(f"bind_thread expects a started threading.Thread, got {given!r}")
    if not isinstance(collector, SpanCollector):
        raise TypeError(f"bind_thread expects a SpanCollector, got {type(collector).__name__}")
    for ident, (bound, _) in list(_thread_collectors.items()):
        if not bound.is_alive():
            _thread_collectors.pop(ident, None)
    _thread_collectors[given.ident] = (given, collector)


@contextlib.contextmanager
def use_collector(collector: SpanCollector) -> Iterator[SpanCollector]:
    """Make ``collector`` current for the block, then restore the previous one.

    It becomes current process-wide, and stays bound to the tasks and
    context-copying threads (``asyncio.to_thread``) started in the block: a
    span such a task ends after the block still lands in ``collector``, never
    in whichever collector is current by then.
    """
    global _current
    if not isinstance(collector, SpanCollector):
        raise TypeError(f"use_collector expects a SpanCollector, got {type(collector).__name__}")
    previous = _current
    _current = collector
    token = _bound.set(collector)
    try:
        yield collector
    finally:
        _current = previous
        try:
            _bound.reset(token)
        except ValueError:  # exited in another context than it was entered in
            _bound.set(None)


def swap_enabled(enabled: bool) -> bool:
    """Set the enabled flag *without* resetting the collector; return the previous flag.

    For fixtures that restore an earlier state, where ``set_tracing_enabled``
    would wipe the spans of the collector they bring back.
    """
    global _enabled
    if not isinstance(enabled, bool):
        raise TypeError(f"swap_enabled expects a bool, got {type(enabled).__name__}")
    previous = _enabled
    _enabled = enabled
    return previous


def set_tracing_enabled(enabled: bool) -> None:
    """Turn tracing on or off; turning it on resets the current collector."""
    global _enabled
    if not isinstance(enabled, bool):
        raise TypeError(f"set_tracing_enabled expects a bool, got {type(enabled).__name__}")
    _enabled = enabled
    if enabled:
        current_collector().reset()


def is_tracing_enabled() -> bool:
    """Return whether tracing is enabled."""
    return _enabled


def span_start(kind: SpanKind | str, name: str) -> int:
    """Start a span under the active one. Returns its id, or 0 when tracing is off."""
    if not _enabled:
        return 0
    # The work is in another function: a frame with two locals is what keeps the
    # call nearly free with tracing off, where instrumented code mostly runs.
    return _start_current(kind, name)


def _start_current(kind: SpanKind | str, name: str) -> int:
    """Start a span in the current collector: ``span_start`` with tracing on."""
    collector = _bound.get() or _unbound_collector()
    # SpanCollector._start inlined for the common case (real clock, no sinks, a
    # SpanKind and a str); anything else goes there.
    if (
        kind.__class__ is SpanKind
        and name.__class__ is str
        and _clock._active is None
        and not _sinks
    ):
        open_spans = collector._open
        stack = _active_spans.get()
        while stack is not None and stack[0] not in stack[1]:
            stack = stack[2]  # drop ended spans off the top
        if stack is None:
            parent_id = None
        elif stack[1] is open_spans:
            parent_id = stack[0]
        else:
            parent_id = _newest_open(stack, open_spans)
        span_id = next(collector._ids)
        started_ns = _perf_ns()
        start_unix_ms = _wall_ns() // 1_000_000
        if start_unix_ms == collector._last_unix_ms:
            start_unix_ms = collector._last_unix_ms
        else:
            collector._last_unix_ms = start_unix_ms
        collector._used_real_clock = True
        open_spans[span_id] = [
            parent_id, kind, name, started_ns, None, start_unix_ms, {}, (), ()
        ]  # fmt: skip
        _active_spans.set((span_id, open_spans, stack))
        return span_id
    return collector._start(kind, name, (), True, "span_start")


def span_start_with_links(kind: SpanKind | str, name: str, links: Iterable[SpanLink]) -> int:
    """Start a span with causal links. Returns its id, or 0 when tracing is off."""
    if not _enabled:
        return 0
    return current_collector().start_with_links(kind, name, links)


def span_start_detached_with_links(
    kind: SpanKind | str, name: str, links: Iterable[SpanLink]
) -> int:
    """Start a root span with causal links. Returns its id, or 0 when tracing is off."""
    if not _enabled:
        return 0
    return current_collector().start_detached_with_links(kind, name, links)


def span_set_metadata(span_id: int, key: str, value: object) -> None:
    """Set metadata on an open span; a no-op for span id 0."""
    if span_id == 0:
        return
    collector = _bound.get() or _unbound_collector()
    if (
        span_id.__class__ is not int
        or key.__class__ is not str
        or value.__class__ not in _PLAIN_TYPES
        # jsonvalue's 64-bit bounds, written as literals so they fold to constants
        or (value.__class__ is int and not -(2**63) <= value < 2**64)
    ):
        collector.set_metadata(span_id, key, value)  # checks, converts or refuses
        return
    span = collector._open.get(span_id)
    if span is not None:
        span[_METADATA][key] = value


def span_attach_metadata(span_id: int, key: str, value: object) -> None:
    """Attach metadata to an open span: Harn's other name for :func:`span_set_metadata`.

    A no-op for span id 0 or a span that already ended; to add to a completed
    span, use :func:`span_attach_metadata_if_absent`.
    """
    span_set_metadata(span_id, key, value)


def span_attach_metadata_if_absent(span_id: int, key: str, value: object) -> None:
    """Set metadata on an open or completed span unless the key exists; no-op for id 0."""
    if span_id == 0:
        return
    current_collector().attach_metadata_if_absent(span_id, key, value)


def span_end(span_id: int) -> Span | None:
    """End a span and return it; ``None`` for id 0 or a span that is not open."""
    if span_id == 0:
        return None
    collector = _bound.get() or _unbound_collector()
    if span_id.__class__ is not int:
        span_id = _check_span_id("span_end", span_id)
    span = collector._open.pop(span_id, None)
    if span is None:
        return None
    # SpanCollector._finish inlined for a span on the real clock with no sinks to tell.
    (
        parent_id, kind, name, started_ns, mock_start_ms, start_unix_ms,
        metadata, links, events,
    ) = span  # fmt: skip
    if mock_start_ms is not None or _sinks:
        return collector._finish(span_id, span)
    span[_METADATA] = _ENDED_METADATA
    completed: Span = _new_span(
        Span,
        (
            collector._trace_id,
            span_id,
            parent_id,
            kind,
            name,
            (started_ns - collector._epoch_ns) // 1_000_000,
            start_unix_ms,
            (_perf_ns() - started_ns) // 1_000_000,
            metadata,
            links,
            tuple(events) if events else (),
        ),
    )
    collector._completed.append(completed)
    return completed


def span_start_user_timing(
    name: str, attributes: Mapping[str, object] | None = None
) -> tuple[int, str, int | None, int]:
    """Start a ``user_timing`` span, recorded even when tracing is off.

    Returns:
        ``(span_id, trace_id, parent_id, start_unix_ms)``.
    """
    func = "span_start_user_timing"
    checked = _check_attributes(func, None, attributes)
    collector = current_collector()
    span_id = collector._start(SpanKind.USER_TIMING, name, (), True, func)
    collector._add_checked_metadata(span_id, checked)
    span = collector._open[span_id]
    return span_id, collector.trace_id, span[_PARENT_ID], span[_START_UNIX_MS]


def span_record_event(
    span_id: int, name: str, attributes: Mapping[str, object] | None = None
) -> bool:
    """Record a named checkpoint on an open span; ``False`` for id 0 or a closed span."""
    if span_id == 0:
        return False
    return current_collector().record_event(span_id, name, attributes)


def current_span_id() -> int | None:
    """Return the active span's id, or ``None`` when tracing is off or none is open."""
    if not _enabled:
        return None
    return current_collector().current_span_id()


def span_link(span_id: int) -> SpanLink | None:
    """Return a link to an open span; ``None`` for id 0 or when tracing is off."""
    if span_id == 0 or not _enabled:
        return None
    return current_collector().span_link(span_id)


def current_span_link() -> SpanLink | None:
    """Return a link to the active span; ``None`` when tracing is off or none is open."""
    if not _enabled:
        return None
    return current_collector().current_span_link()


def take_spans() -> list[Span]:
    """Remove and return the current collector's completed spans."""
    return current_collector().take_spans()


def peek_spans() -> list[Span]:
    """Return the current collector's completed spans without removing them."""
    return current_collector().spans()


def reset_tracing() -> None:
    """Reset the current collector."""
    current_collector().reset()


def span_to_dict(span: Span) -> dict[str, Any]:
    """Return Harn's dict layout of ``span`` (its ``trace_spans()`` entry)."""
    if not isinstance(span, Span):
        raise TypeError(f"span_to_dict expects a Span, got {type(span).__name__}")
    return span.to_dict()

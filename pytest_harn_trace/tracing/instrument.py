"""The Pythonic way to instrument code: ``span()`` and ``timed()``.

Both work as ``with`` / ``async with`` blocks and as decorators of sync and
async functions, over the same current collector as the module-level
functions::

    with span(SpanKind.LLM_CALL, "gpt-4", model="gpt-4") as call:
        call.set("input_tokens", 120)
        call.event("first_token")

When the body raises, the span still ends, with ``status="error"`` and
``error="<ExceptionType>: <message>"`` in its metadata, and the exception
propagates.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeAlias, TypeVar, cast, final

from pytest_harn_trace.tracing import clock as _clock
from pytest_harn_trace.tracing import collector as _collector
from pytest_harn_trace.tracing.collector import (
    _ENDED_METADATA,
    _METADATA,
    SpanCollector,
    _get_ident,
    _new_span,
    _newest_open,
    _perf_ns,
    _sinks,
    _wall_ns,
)
from pytest_harn_trace.tracing.jsonvalue import _PLAIN_TYPES, check_key, json_value
from pytest_harn_trace.tracing.model import JsonValue, LlmCallUsage, Span, SpanKind, SpanLink

__all__ = ["SpanHandle", "SpanScope", "span", "timed"]

__tracebackhide__ = True  # pytest shows the user's call, not the plugin's frames

P = ParamSpec("P")
R = TypeVar("R")

# Assigned rather than imported: Python 3.11 and 3.12 compile a method call on
# an imported name as an attribute load (it expects a module there), which the
# interpreter can't specialise, and span() blocks call these on every entry.
_active_spans = _collector._active_spans
_bound = _collector._bound

# SpanHandle and SpanScope refuse direct construction: handles are made here
# without their ``__init__``, and scopes by span() and timed() as the private
# _Scope; span() and timed() check every argument.
_new = object.__new__


class SpanHandle:
    """The span opened by a ``span()`` or ``timed()`` block.

    With tracing off (for ``span()``), ``span_id`` is 0 and every method is a
    no-op, so instrumented code never has to check.
    """

    __slots__ = ("_collector", "span_id")

    _collector: SpanCollector
    span_id: int
    """The span's id (0 when tracing was off).

    On a scope that was never the handle of a block it is 0, or -1 once other
    entries opened spans (or its own span failed to start).
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise TypeError(
            "SpanHandle cannot be created directly; it is what `with span(kind, name) as "
            "handle:` or `with timed(name) as handle:` gives"
        )

    def set(self, key: str, value: object) -> None:
        """Set metadata ``key`` to a JSON ``value`` while the span is open."""
        span_id = self.span_id
        if span_id > 0:
            # Only a key or value of another type than the plain ones needs the full check.
            if key.__class__ is not str:
                key = check_key(key, "SpanHandle.set", span_id)
            if value.__class__ not in _PLAIN_TYPES or (
                # jsonvalue's 64-bit bounds, written as literals so they fold to constants
                value.__class__ is int and not -(2**63) <= value < 2**64
            ):
                value = json_value(value, "SpanHandle.set", span_id, key)
            record = self._collector._open.get(span_id)
            if record is not None:
                record[_METADATA][key] = value
            elif getattr(self, "_reentered", False):
                raise _not_a_handle(self, "set")
        else:
            raise _not_a_handle(self, "set")

    def update(self, metadata: Mapping[str, object], /) -> None:
        """Set several metadata keys at once, each checked as :meth:`set` checks it.

        Nothing is set when any key or value is refused.
        """
        span_id = self.span_id
        if span_id > 0:
            func = "SpanHandle.update"
            if not isinstance(metadata, Mapping):
                raise TypeError(
                    f"{func}(span {span_id}): metadata must be a mapping of str to JSON "
                    f"values, got {type(metadata).__name__}; for one key use set(key, value)"
                )
            checked = {
                check_key(key, func, span_id): json_value(value, func, span_id, key)
                for key, value in metadata.items()
            }
            if span_id not in self._collector._open and getattr(self, "_reentered", False):
                raise _not_a_handle(self, "update")
            self._collector._add_checked_metadata(span_id, checked)
        else:
            raise _not_a_handle(self, "update")

    def set_usage(self, usage: LlmCallUsage) -> None:
        """Record an LLM call's token and cost ``usage`` under Harn's metadata keys."""
        span_id = self.span_id
        if span_id > 0:
            if span_id not in self._collector._open and getattr(self, "_reentered", False):
                raise _not_a_handle(self, "set_usage")
            self._collector._add_checked_metadata(
                span_id, _usage_metadata(usage, "SpanHandle.set_usage", span_id)
            )
        else:
            raise _not_a_handle(self, "set_usage")

    def event(self, name: str, **attributes: object) -> bool:
        """Record a named checkpoint; returns whether it was attached."""
        if self.span_id <= 0:
            raise _not_a_handle(self, "event")
        if self._collector.record_event(self.span_id, name, attributes):
            return True
        if getattr(self, "_reentered", False):
            raise _not_a_handle(self, "event")
        return False

    def link(self) -> SpanLink | None:
        """Return a link to this span while it is open, for ``span_start_with_links``."""
        if self.span_id <= 0:
            raise _not_a_handle(self, "link")
        link = self._collector.span_link(self.span_id)
        if link is None and getattr(self, "_reentered", False):
            raise _not_a_handle(self, "link")
        return link

    def __repr__(self) -> str:
        return f"<SpanHandle span_id={self.span_id}>"


def _not_a_handle(scope: SpanHandle, method: str) -> TypeError:
    """The error for a handle method called on a ``span()`` itself, with no span of its own.

    The scope stands for the span of its first block only: called before that
    block, or once the scope is used again, the call would reach no span.
    """
    call = cast(SpanScope, scope)._call()
    if scope.span_id <= 0:
        return TypeError(
            f"{scope!r} has no open span to {method}: call {method}() on the handle that "
            f"`with {call} as handle:` gives"
        )
    return TypeError(
        f"{call}.{method}(): the scope itself stands only for the span of its first block "
        f"(span {scope.span_id}), which has ended; call {method}() on the handle each "
        f"block's `with {call} as handle:` gives"
    )


def _usage_metadata(usage: object, func: str, span_id: int | None) -> dict[str, JsonValue]:
    if not isinstance(usage, LlmCallUsage):
        where = f"{func}(span {span_id})" if span_id is not None else func
        raise TypeError(
            f"{where}: usage must be an LlmCallUsage, got {type(usage).__name__}; "
            "for other metadata use set(key, value) or update({...})"
        )
    return {key: json_value(value, func, span_id, key) for key, value in usage.metadata_pairs()}


def _error_text(exc: BaseException) -> str:
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


@final
class SpanScope(SpanHandle):
    """A span to open on ``with`` entry or around each call of a decorated function.

    Made by :func:`span` and :func:`timed`; arguments are checked when it is
    made, so mistakes surface where the span is declared.

    Record into a block's span through the handle ``with ... as handle`` gives,
    never through the scope: the first block's handle is the scope itself (it
    saves an object per block), but later and concurrent blocks each get their
    own, and calling ``set`` on the scope then says so.
    """

    __slots__ = ("_kind", "_metadata", "_name", "_reentered", "_user_timing")

    _reentered: bool
    """Entered other than by the first entry that opened a span: while tracing
    was off, or again (recursion, threads, tasks, a later block)."""
    _kind: SpanKind
    _name: str
    _metadata: dict[str, JsonValue]
    _user_timing: bool

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise TypeError(
            "SpanScope cannot be created directly; make one with span(kind, name, **metadata) "
            "or timed(name, **attributes), which check the kind, name and metadata"
        )

    def _open(self) -> SpanHandle:
        """Open the span of a decorated call, which has its handle to itself."""
        if not (_collector._enabled or self._user_timing):
            return _OFF
        collector = _bound.get() or _collector.current_collector()
        handle = _new(SpanHandle)
        handle._collector = collector
        handle.span_id = collector._start(self._kind, self._name, (), True, "span", self._metadata)
        return handle

    def _close(self, handle: SpanHandle, exc: BaseException | None) -> None:
        span_id = handle.span_id
        if span_id:
            if exc is not None or self._user_timing:
                record = handle._collector._open.get(span_id)
                if record is not None:
                    metadata = record[_METADATA]
                    if exc is not None:
                        metadata["status"] = "error"
                        metadata["error"] = _error_text(exc)
                    else:
                        metadata["status"] = "ok"
            handle._collector.end(span_id)

    def __enter__(self) -> SpanHandle:
        if not (_collector._enabled or self._user_timing):
            self._reentered = True
            if self.span_id:
                # An entry opened a span: this entry's exit must not end it.
                _push_entry(self, _OFF)
            return _OFF
        # What current_collector() returns, without the call when use_collector bound one.
        collector = _bound.get() or _collector.current_collector()
        handle: SpanHandle
        # The first entry claims the scope as its handle, unless an entry while tracing
        # was off came first (whose exit must not end this span). No call comes between
        # the test and the claim, so under the GIL two threads can't both claim it;
        # without the GIL, _claim makes it one step.
        if self.span_id == 0 and not self._reentered and (_GIL or _claim(self)):
            self.span_id = -1
            handle = self
        else:
            # Flagged before this entry's span opens, so no exit can miss it; a span_id
            # of -1 says that entries which opened spans are listed, none as the scope.
            self._reentered = True
            if self.span_id == 0:
                self.span_id = -1
            handle = _new(SpanHandle)
        handle._collector = collector
        if _clock._active is None and not _sinks:
            # SpanCollector._start inlined for the common case: the real clock, no sinks.
            open_spans = collector._open
            stack = _active_spans.get()
            while stack is not None and stack[0] not in stack[1]:
                stack = stack[2]  # drop ended spans off the top
            thread = _get_ident()
            if stack is None:
                parent_id = None
                depth = 0
                home = collector._home_thread
            elif stack[1] is open_spans:
                parent_id, _, _, depth, home = stack
            else:  # under spans of another collector
                parent_id = _newest_open(stack, open_spans)
                depth, home = (0, collector._home_thread) if parent_id is None else (-1, thread)
            span_id = handle.span_id = next(collector._ids)
            if thread != home or len(open_spans) != depth:
                # Not alone beside its ancestors, or on another thread than its parent.
                collector._note_start(span_id, thread != home)
            started_ns = _perf_ns()
            start_unix_ms = _wall_ns() // 1_000_000
            if start_unix_ms == collector._last_unix_ms:
                start_unix_ms = collector._last_unix_ms
            else:
                collector._last_unix_ms = start_unix_ms
            collector._used_real_clock = True
            metadata = self._metadata
            if handle is self:
                # The first span takes the scope's own dict, and the scope keeps a copy
                # (or nothing, when it is empty) for later entries.
                self._metadata = metadata.copy() if metadata else _NO_METADATA
            else:
                metadata = metadata.copy() if metadata else {}
            open_spans[span_id] = [
                parent_id, self._kind, self._name, started_ns, None, start_unix_ms,
                metadata, (), (),
            ]  # fmt: skip
            _active_spans.set((span_id, open_spans, stack, depth + 1, thread))
        else:
            handle.span_id = collector._start(
                self._kind, self._name, (), True, "span", self._metadata
            )
        if handle is not self:
            _push_entry(self, handle)
        return handle

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._reentered:
            # Entered again, possibly before this exit (recursion), or by concurrent
            # tasks and threads, whose exits need not come in reverse order of their
            # entries, or while tracing was off: the calling context's own list of
            # entries says which one exits here.
            if self.span_id == 0:
                return  # no entry opened a span: nothing to end
            handle = _pop_entry(self)
            if handle is None:  # not listed: the first entry, the scope itself
                span_id = self.span_id
                if span_id < 0:
                    return  # no entry is the scope, or its span failed to start
                collector = self._collector
                self._collector = _RELEASED
            else:
                span_id = handle.span_id
                if span_id == 0:
                    return  # entered while tracing was off
                collector = handle._collector
        else:
            # Only the first entry opened a span: this is its exit.
            span_id = self.span_id
            if span_id <= 0:
                raise ValueError(
                    f"{self!r} was exited without being entered; use it as "
                    f"`with {self._call()}:` or decorate a function with @{self._call()}"
                )
            collector = self._collector
            # A scope kept at module level must not keep its first test's spans alive.
            self._collector = _RELEASED
        record = collector._open.pop(span_id, None)
        if record is None:
            return  # ended by other means (span_end, another thread)
        (
            parent_id, kind, name, started_ns, mock_start_ms, start_unix_ms,
            metadata, links, events,
        ) = record  # fmt: skip
        if exc is not None:
            metadata["status"] = "error"
            metadata["error"] = _error_text(exc)
        elif self._user_timing:
            metadata["status"] = "ok"
        if mock_start_ms is not None or _sinks:
            collector._finish(span_id, record)
            return
        # SpanCollector._finish inlined for a span on the real clock with no sinks.
        record[_METADATA] = _ENDED_METADATA
        collector._completed.append(
            _new_span(
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
        )

    async def __aenter__(self) -> SpanHandle:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``func`` so each call runs inside a fresh span."""
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(
                f"cannot decorate generator function {func.__qualname__} with a span: the span "
                "would end before the generator runs; open the span inside it with `with`"
            )
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                handle = self._open()
                try:
                    result = await func(*args, **kwargs)
                except BaseException as exc:
                    self._close(handle, exc)
                    raise
                self._close(handle, None)
                return result

            return cast(Callable[P, R], run_async)

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            handle = self._open()
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                self._close(handle, exc)
                raise
            self._close(handle, None)
            return result

        return run

    def _call(self) -> str:
        if self._user_timing:
            return f"timed({self._name!r})"
        return f"span({self._kind.value!r}, {self._name!r})"

    def __repr__(self) -> str:
        if self.span_id > 0:  # in use as the handle of its first entry
            return SpanHandle.__repr__(self)
        what = "timed" if self._user_timing else "span"
        return f"<{what} {self._kind.value} {self._name!r}>"


# The scopes span() and timed() make: made by a plain class call, the cheapest
# way to make an object (it takes no arguments; span() and timed() fill it in).
# SpanScope stays final for users: nothing else subclasses it.
@final
class _Scope(SpanScope):  # type: ignore[misc]
    __slots__ = ()
    if TYPE_CHECKING:

        def __init__(self) -> None: ...

    else:
        __init__ = object.__init__


_Scope.__name__ = "SpanScope"  # what messages name ("got SpanScope"); pickled by __qualname__


@final
class _OffHandle(SpanHandle):
    """The handle of every ``span()`` entered while tracing is off: ``span_id`` 0.

    Its methods do nothing and check nothing, so untraced code pays only for the call.
    """

    __slots__ = ()

    def set(self, key: str, value: object) -> None:
        return None

    def update(self, metadata: Mapping[str, object], /) -> None:
        return None

    def set_usage(self, usage: LlmCallUsage) -> None:
        return None

    def event(self, name: str, **attributes: object) -> bool:
        return False

    def link(self) -> SpanLink | None:
        return None


_OffHandle.__name__ = "SpanHandle"  # as _Scope's
_OFF: SpanHandle = _new(_OffHandle)
_OFF.span_id = 0

# Whether a GIL makes SpanScope.__enter__'s first-entry claim one step; on a
# free-threaded build running without it, the claim takes _claim_lock.
_GIL: bool = getattr(sys, "_is_gil_enabled", lambda: True)()
_claim_lock = threading.Lock()


def _claim(scope: SpanScope) -> bool:
    """Claim ``scope`` as the handle of its first entry, atomically without a GIL."""
    with _claim_lock:
        if scope.span_id == 0 and not scope._reentered:
            scope.span_id = -1
            return True
        return False


# What a scope's first span came from, once that span's block has exited: no
# spans, so the handle methods find nothing, and nothing of a test is kept alive.
_RELEASED: SpanCollector = object.__new__(SpanCollector)
_RELEASED._open = {}

# The metadata a scope keeps once its first span took its empty dict: never
# handed out (entries copy non-empty metadata and start empty ones afresh).
_NO_METADATA: dict[str, JsonValue] = {}


# The entries of span() scopes in one execution context, other than each scope's
# first (which is the scope itself): a linked list of ``(scope, handle, rest)``
# nodes, newest first, immutable like the active-span stack, so a task that
# copies the context keeps its own. An exit takes its scope's newest node.
_Entries: TypeAlias = "tuple[SpanScope, SpanHandle, _Entries] | None"
_scope_entries: ContextVar[_Entries] = ContextVar("harn_scope_entries", default=None)


def _push_entry(scope: SpanScope, handle: SpanHandle) -> None:
    _scope_entries.set((scope, handle, _scope_entries.get()))


def _pop_entry(scope: SpanScope) -> SpanHandle | None:
    """Take the newest entry of ``scope`` off the calling context's list and return its handle."""
    entries = _scope_entries.get()
    newer: list[tuple[SpanScope, SpanHandle]] = []
    while entries is not None:
        entered, handle, rest = entries
        if entered is scope:
            for node in reversed(newer):
                rest = (*node, rest)
            _scope_entries.set(rest)
            return handle
        newer.append((entered, handle))
        entries = rest
    return None


def leave_entries(collector: SpanCollector) -> None:
    """Drop the calling context's entries of re-entered scopes whose spans ``collector`` holds.

    For a test's teardown: entries whose exit never ran (a block left by hand, an
    exit stack never closed) would otherwise keep the test's spans alive.
    """
    entries = _scope_entries.get()
    if entries is None:
        return  # the usual case: leave the context as it is
    kept: list[tuple[SpanScope, SpanHandle]] = []
    while entries is not None:
        scope, handle, entries = entries
        if handle is _OFF or handle._collector is not collector:
            kept.append((scope, handle))
    rebuilt: _Entries = None
    for node in reversed(kept):
        rebuilt = (*node, rebuilt)
    _scope_entries.set(rebuilt)


def _checked_name(func: str, name: object) -> str:
    if isinstance(name, str):
        return str.__str__(name)
    raise TypeError(f"{func}: span name must be str, got {type(name).__name__}")


def _checked_metadata(func: str, metadata: dict[str, object]) -> dict[str, JsonValue]:
    for key, value in metadata.items():
        if (
            key.__class__ is not str  # a str subclass, from span(..., **{Tag("k"): v})
            or value.__class__ not in _PLAIN_TYPES
            # jsonvalue's 64-bit bounds, written as literals so they fold to constants
            or (value.__class__ is int and not -(2**63) <= value < 2**64)
        ):
            break
    else:
        return metadata  # the ** dict is ours and holds only plain values: nothing to convert
    checked: dict[str, JsonValue] = {}
    for key, value in metadata.items():
        if key == "usage" and isinstance(value, LlmCallUsage):
            checked.update(_usage_metadata(value, func, None))
        else:
            checked[check_key(key, func, None)] = json_value(value, func, None, key)
    return checked


def span(kind: SpanKind | str, name: str, /, **metadata: object) -> SpanScope:
    """Open a span of ``kind`` named ``name`` with ``metadata``, around a block or a function.

    No-op (the handle's ``span_id`` is 0) while tracing is disabled.

    Args:
        kind: A :class:`SpanKind` or its name (``"llm_call"``).
        name: The span's name.
        **metadata: JSON values to set on the span when it starts;
            ``usage=LlmCallUsage(...)`` sets the usage's keys, as
            :meth:`SpanHandle.set_usage` does.
    """
    if kind.__class__ is not SpanKind:
        kind = SpanKind.parse(kind)
    if name.__class__ is not str:
        name = _checked_name("span", name)
    if metadata:
        metadata = _checked_metadata("span", metadata)
    # Built here rather than by a helper: one call less on every span() block.
    scope = _Scope()
    scope._kind = kind
    scope._name = name
    scope._metadata = metadata
    scope._user_timing = scope._reentered = False
    scope.span_id = 0
    return scope


def timed(name: str, /, **attributes: object) -> SpanScope:
    """Open a ``user_timing`` span, recorded even while tracing is disabled.

    Ends with ``status="ok"``, or ``status="error"`` and ``error`` when the
    body raises.
    """
    if name.__class__ is not str:
        name = _checked_name("timed", name)
    scope = _Scope()
    scope._kind = SpanKind.USER_TIMING
    scope._name = name
    scope._metadata = _checked_metadata("timed", attributes) if attributes else attributes
    scope._user_timing = True
    scope._reentered = False
    scope.span_id = 0
    return scope

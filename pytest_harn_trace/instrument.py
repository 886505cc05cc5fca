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
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast, final

from pytest_harn_trace import collector as _collector
from pytest_harn_trace.collector import SpanCollector
from pytest_harn_trace.jsonvalue import _PLAIN_TYPES, check_key, json_value
from pytest_harn_trace.model import JsonValue, LlmCallUsage, Span, SpanKind, SpanLink

__all__ = ["SpanHandle", "SpanScope", "span", "timed"]

__tracebackhide__ = True  # pytest shows the user's call, not the plugin's frames

P = ParamSpec("P")
R = TypeVar("R")

# SpanHandle and SpanScope refuse direct construction: they are made here,
# without their ``__init__``, by span() and timed(), which check every argument.
_new = object.__new__


@final
class SpanHandle:
    """The span opened by a ``span()`` or ``timed()`` block.

    With tracing off (for ``span()``), ``span_id`` is 0 and every method is a
    no-op, so instrumented code never has to check.
    """

    __slots__ = ("_collector", "span_id")

    _collector: SpanCollector
    span_id: int
    """The span's id (0 when tracing was off)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise TypeError(
            "SpanHandle cannot be created directly; it is what `with span(kind, name) as "
            "handle:` or `with timed(name) as handle:` gives"
        )

    def set(self, key: str, value: object) -> None:
        """Set metadata ``key`` to a JSON ``value`` while the span is open."""
        if self.span_id:
            key = check_key(key, "SpanHandle.set", self.span_id)
            value = json_value(value, "SpanHandle.set", self.span_id, key)
            self._collector._add_checked_metadata(self.span_id, {key: value})

    def update(self, metadata: Mapping[str, object], /) -> None:
        """Set several metadata keys at once, each checked as :meth:`set` checks it.

        Nothing is set when any key or value is refused.
        """
        span_id = self.span_id
        if span_id:
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
            self._collector._add_checked_metadata(span_id, checked)

    def set_usage(self, usage: LlmCallUsage) -> None:
        """Record an LLM call's token and cost ``usage`` under Harn's metadata keys."""
        span_id = self.span_id
        if span_id:
            self._collector._add_checked_metadata(
                span_id, _usage_metadata(usage, "SpanHandle.set_usage", span_id)
            )

    def event(self, name: str, **attributes: object) -> bool:
        """Record a named checkpoint; returns whether it was attached."""
        if not self.span_id:
            return False
        return self._collector.record_event(self.span_id, name, attributes)

    def link(self) -> SpanLink | None:
        """Return a link to this span while it is open, for ``span_start_with_links``."""
        if not self.span_id:
            return None
        return self._collector.span_link(self.span_id)

    def __repr__(self) -> str:
        return f"<SpanHandle span_id={self.span_id}>"


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
class SpanScope:
    """A span to open on ``with`` entry or around each call of a decorated function.

    Made by :func:`span` and :func:`timed`; arguments are checked when it is
    made, so mistakes surface where the span is declared.
    """

    __slots__ = ("_entered", "_kind", "_metadata", "_name", "_user_timing")

    _entered: bool
    _kind: SpanKind
    _name: str
    _metadata: dict[str, JsonValue]
    _user_timing: bool

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise TypeError(
            "SpanScope cannot be created directly; make one with span(kind, name, **metadata) "
            "or timed(name, **attributes), which check the kind, name and metadata"
        )

    def _open(self, entered: bool = False) -> SpanHandle:
        collector = _collector.current_collector()
        handle = _new(SpanHandle)
        handle._collector = collector
        handle.span_id = 0
        if not (self._user_timing or _collector.is_tracing_enabled()):
            return handle
        # A ``with`` entry is recorded on the span itself, for ``__exit__`` to find.
        handle.span_id = collector._start(
            self._kind, self._name, (), True, "span", (self, handle) if entered else None
        )
        if self._metadata:
            collector._add_checked_metadata(handle.span_id, self._metadata)
        return handle

    def _close(self, handle: SpanHandle, exc: BaseException | None) -> Span | None:
        if not handle.span_id:
            return None
        if exc is not None:
            handle.set("status", "error")
            handle.set("error", _error_text(exc))
        elif self._user_timing:
            handle.set("status", "ok")
        return handle._collector.end(handle.span_id)

    def __enter__(self) -> SpanHandle:
        self._entered = True
        return self._open(entered=True)

    def _own_entry(self) -> SpanHandle | None:
        """Return the handle of the innermost span this scope opened in the calling context.

        The scope holds no per-entry state: it may be entered again before it
        exits (recursion), or by concurrent tasks and threads, whose exits
        need not come in reverse order of their entries. Each context's own
        active-span stack says which of the open spans is its own.
        """
        stack = _collector._active_spans.get()
        while stack is not None:
            span_id, owner, stack = stack
            record = owner.get(span_id)
            if record is not None:
                entry = record[_collector._ENTRY]
                if entry is not None and entry[0] is self:
                    handle: SpanHandle = entry[1]
                    return handle
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        handle = self._own_entry()
        if handle is not None:
            self._close(handle, exc)
        elif not self._entered:
            raise ValueError(
                f"{self!r} was exited without being entered; use it as `with {self._call()}:` "
                f"or decorate a function with @{self._call()}"
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
        what = "timed" if self._user_timing else "span"
        return f"<{what} {self._kind.value} {self._name!r}>"


def _scope(
    kind: SpanKind, name: str, metadata: dict[str, JsonValue], user_timing: bool
) -> SpanScope:
    scope = _new(SpanScope)
    scope._entered = False
    scope._kind = kind
    scope._name = name
    scope._metadata = metadata
    scope._user_timing = user_timing
    return scope


def _checked(func: str, name: object, metadata: dict[str, object]) -> tuple[str, dict[str, Any]]:
    if not isinstance(name, str):
        raise TypeError(f"{func}: span name must be str, got {type(name).__name__}")
    plain_name = name if type(name) is str else str.__str__(name)
    for value in metadata.values():
        if type(value) not in _PLAIN_TYPES:
            break
    else:
        # Keyword names are always plain str and the ** dict is ours: nothing to convert.
        return plain_name, metadata
    checked: dict[str, JsonValue] = {}
    for key, value in metadata.items():
        if key == "usage" and isinstance(value, LlmCallUsage):
            checked.update(_usage_metadata(value, func, None))
        else:
            checked[check_key(key, func, None)] = json_value(value, func, None, key)
    return plain_name, checked


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
    parsed = kind if type(kind) is SpanKind else SpanKind.parse(kind)
    checked_name, checked = _checked("span", name, metadata)
    return _scope(parsed, checked_name, checked, False)


def timed(name: str, /, **attributes: object) -> SpanScope:
    """Open a ``user_timing`` span, recorded even while tracing is disabled.

    Ends with ``status="ok"``, or ``status="error"`` and ``error`` when the
    body raises.
    """
    checked_name, checked = _checked("timed", name, attributes)
    return _scope(SpanKind.USER_TIMING, checked_name, checked, True)

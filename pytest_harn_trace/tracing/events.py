"""Span lifecycle events (Harn's ``crate::events``), delivered to sinks through pluggy.

A sink is any object with methods marked :data:`hookimpl`, named after the
hook specs below::

    class Printer:
        @events.hookimpl
        def harn_span_end(self, span_id, metadata):
            print(span_id, metadata["duration_ms"])

    events.add_event_sink(Printer())

With no sink registered the collector skips emitting altogether, so the
events cost nothing until someone listens.
"""

from __future__ import annotations

import inspect
from typing import Any

import pluggy

__all__ = [
    "HookSpecs",
    "add_event_sink",
    "emit_span_end",
    "emit_span_start",
    "has_sinks",
    "hookimpl",
    "hookspec",
    "remove_event_sink",
]

PROJECT_NAME = "harn_trace"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a sink's ``harn_span_start`` / ``harn_span_end`` methods."""


class HookSpecs:
    """The span lifecycle hooks a sink may implement."""

    @hookspec
    def harn_span_start(
        self,
        span_id: int,
        parent_id: int | None,
        name: str,
        kind: str,
        metadata: dict[str, Any],
    ) -> None:
        """Receive the start of a span.

        Args:
            span_id: The new span's id.
            parent_id: The active span it nests under, or ``None`` at a root.
            name: The span's name.
            kind: The span's kind as its string name (``"llm_call"``).
            metadata: ``{"links": [link dicts]}`` when the span has links, else ``{}``.
        """

    @hookspec
    def harn_span_end(self, span_id: int, metadata: dict[str, Any]) -> None:
        """Receive the end of a span.

        Args:
            span_id: The span's id.
            metadata: The span's metadata plus ``duration_ms``.
        """


_manager = pluggy.PluginManager(PROJECT_NAME)
_manager.add_hookspecs(HookSpecs)
# Each hook and the arguments it passes, in order.
_HOOK_ARGUMENTS: dict[str, tuple[str, ...]] = {
    name: tuple(inspect.signature(getattr(HookSpecs, name)).parameters)[1:]
    for name in ("harn_span_start", "harn_span_end")
}
# The registered sinks, mirrored here so the collector's hot path can test a
# plain list instead of asking pluggy.
_sinks: list[object] = []


def has_sinks() -> bool:
    """Return whether any sink is registered."""
    return bool(_sinks)


def add_event_sink(sink: object) -> None:
    """Register ``sink`` to receive span lifecycle events.

    Raises:
        TypeError: if ``sink`` is ``None``, or a hook method's arguments are not
            among those its hook passes.
        ValueError: if ``sink`` is already registered, implements no hook, or
            marks a method whose name is not one of the hooks.
    """
    if sink is None:
        raise TypeError(
            "add_event_sink: expected an object whose harn_span_start and/or harn_span_end "
            "methods are marked with @pytest_harn_trace.events.hookimpl, got None"
        )
    if any(existing is sink for existing in _sinks):
        raise ValueError(f"add_event_sink: {sink!r} is already registered")
    # Checked before pluggy sees the sink, so a rejected one is never registered
    # (pluggy finds a plugin again by ``==``, which a NaN never satisfies).
    hooks: dict[str, str] = {}  # method name: hook name
    for attribute in dir(sink):
        options = _manager.parse_hookimpl_opts(sink, attribute)
        if options is not None:
            hooks[attribute] = options.get("specname") or attribute
    unknown = sorted(hook for hook in hooks.values() if hook not in _HOOK_ARGUMENTS)
    if unknown or not hooks:
        problem = (
            f"implements unknown hook(s) {', '.join(unknown)}"
            if unknown
            else "implements no hook"
        )
        raise ValueError(
            f"add_event_sink: {sink!r} {problem}; mark its harn_span_start "
            "and/or harn_span_end methods with @pytest_harn_trace.events.hookimpl"
        )
    for attribute, hook in hooks.items():
        _check_arguments(sink, attribute, hook)
    name = _sink_name(sink)
    try:
        _manager.register(sink, name=name)
    except pluggy.PluginValidationError as exc:
        if _manager.has_plugin(name):  # older pluggy registers before it validates
            _manager.unregister(sink, name=name)
        raise TypeError(f"add_event_sink: {sink!r}: {exc}") from None
    _sinks.append(sink)


def _check_arguments(sink: object, attribute: str, hook: str) -> None:
    """Raise ``TypeError`` unless the sink's method takes only arguments its hook passes."""
    accepted = _HOOK_ARGUMENTS[hook]
    try:
        parameters = inspect.signature(getattr(sink, attribute)).parameters
    except (TypeError, ValueError):
        return  # no signature to read: pluggy has the last word
    unknown = [name for name in parameters if name not in accepted]
    if unknown:
        hint = (
            f"; pass an instance: add_event_sink({sink.__name__}())"
            if isinstance(sink, type) and "self" in unknown
            else ""
        )
        raise TypeError(
            f"add_event_sink: {sink!r}.{attribute} takes {', '.join(unknown)}, which the hook "
            f"does not pass; it may take any of: {', '.join(accepted)}{hint}"
        )


def _sink_name(sink: object) -> str:
    """The name a sink is registered under: by identity, never by ``==``."""
    return f"harn_trace_sink_{id(sink)}"


def remove_event_sink(sink: object) -> None:
    """Unregister ``sink``; it receives no further events.

    Raises:
        ValueError: if ``sink`` is not registered.
    """
    for index, existing in enumerate(_sinks):
        if existing is sink:
            del _sinks[index]
            _manager.unregister(sink, name=_sink_name(sink))
            return
    raise ValueError(f"remove_event_sink: {sink!r} is not registered")


def emit_span_start(
    span_id: int, parent_id: int | None, name: str, kind: str, metadata: dict[str, Any]
) -> None:
    """Deliver a span-start event to every sink."""
    _manager.hook.harn_span_start(
        span_id=span_id, parent_id=parent_id, name=name, kind=kind, metadata=metadata
    )


def emit_span_end(span_id: int, metadata: dict[str, Any]) -> None:
    """Deliver a span-end event to every sink."""
    _manager.hook.harn_span_end(span_id=span_id, metadata=metadata)

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
# The registered sinks, mirrored here so the collector's hot path can test a
# plain list instead of asking pluggy.
_sinks: list[object] = []


def has_sinks() -> bool:
    """Return whether any sink is registered."""
    return bool(_sinks)


def add_event_sink(sink: object) -> None:
    """Register ``sink`` to receive span lifecycle events.

    Raises:
        ValueError: if ``sink`` is already registered, implements no hook, or
            marks a method whose name is not one of the hooks.
        pluggy.PluginValidationError: if a hook method's arguments don't match its spec.
    """
    if any(existing is sink for existing in _sinks):
        raise ValueError(f"add_event_sink: {sink!r} is already registered")
    _manager.register(sink)
    callers = _manager.get_hookcallers(sink) or []
    # pluggy accepts hooks it has no spec for; a misspelled one would never be called.
    unknown = sorted(caller.name for caller in callers if caller.spec is None)
    if unknown or not callers:
        _manager.unregister(sink)
        problem = (
            f"implements unknown hook(s) {', '.join(unknown)}"
            if unknown
            else "implements no hook"
        )
        raise ValueError(
            f"add_event_sink: {sink!r} {problem}; mark its harn_span_start "
            "and/or harn_span_end methods with @pytest_harn_trace.events.hookimpl"
        )
    _sinks.append(sink)


def remove_event_sink(sink: object) -> None:
    """Unregister ``sink``; it receives no further events.

    Raises:
        ValueError: if ``sink`` is not registered.
    """
    for index, existing in enumerate(_sinks):
        if existing is sink:
            del _sinks[index]
            _manager.unregister(sink)
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

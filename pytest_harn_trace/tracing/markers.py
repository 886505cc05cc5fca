"""Marker spans: zero-duration spans for point-in-time agent decisions.

Model routing, tool mounts and deferred tool loads have no meaningful
duration but belong in the trace tree at their causal position, under the
active span (Harn's ``emit_marker_span`` and friends).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pytest_harn_trace.tracing import collector as _collector
from pytest_harn_trace.tracing import meta
from pytest_harn_trace.tracing.jsonvalue import check_key, describe_int, json_value
from pytest_harn_trace.tracing.model import JsonValue, SpanKind

__all__ = ["emit_deferred_tool_load", "emit_marker_span", "emit_model_route", "emit_tool_mount"]

__tracebackhide__ = True  # pytest shows the user's call, not the plugin's frames


def emit_marker_span(
    kind: SpanKind | str,
    name: str,
    metadata: Mapping[str, object] | Iterable[tuple[str, object]] = (),
) -> None:
    """Emit a zero-duration span of ``kind`` carrying ``metadata``; a no-op with tracing off.

    ``metadata`` is a mapping or ``(key, value)`` pairs. Every value is checked
    before the span starts, so a bad one raises and leaves no span behind.
    """
    if not _collector.is_tracing_enabled():
        return
    func = "emit_marker_span"
    kind = SpanKind.parse(kind)
    given: object = metadata
    if isinstance(given, (str, bytes)) or not isinstance(given, Iterable):
        raise TypeError(
            f"{func}: metadata must be a mapping or (key, value) pairs, "
            f"got {type(given).__name__}"
        )
    pairs = metadata.items() if isinstance(metadata, Mapping) else metadata
    checked: list[tuple[str, JsonValue]] = []
    for item in pairs:
        pair: object = item
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise TypeError(
                f"{func}: metadata must be a mapping or (key, value) pairs, got item {pair!r}"
            )
        key = check_key(pair[0], func, None)
        checked.append((key, json_value(pair[1], func, None, key)))
    collector = _collector.current_collector()
    span_id = collector.start(kind, name)
    for key, value in checked:
        collector.set_metadata(span_id, key, value)
    collector.end(span_id)


def _check_str(func: str, **values: object) -> None:
    for name, value in values.items():
        if not isinstance(value, str):
            raise TypeError(f"{func}: {name} must be str, got {type(value).__name__}")


def emit_model_route(from_model: str, to_model: str, reason: str) -> None:
    """Emit a ``model_route`` marker: the agent switched its serving model."""
    _check_str("emit_model_route", from_model=from_model, to_model=to_model, reason=reason)
    emit_marker_span(
        SpanKind.MODEL_ROUTE,
        "model_route",
        [(meta.FROM_MODEL, from_model), (meta.TO_MODEL, to_model), (meta.REASON, reason)],
    )


def emit_tool_mount(tool_names: Sequence[str], source: str, detail: str | None = None) -> None:
    """Emit a ``tool_mount`` marker for tools promoted into the active surface.

    ``source`` is where they came from (``"mcp"``, ``"skill"``, ``"search"``);
    ``detail`` optionally names it (an MCP server). No-op for an empty list.
    """
    if isinstance(tool_names, str):
        raise TypeError("emit_tool_mount: tool_names must be a list of str, not one str")
    if not isinstance(tool_names, Iterable):
        raise TypeError(
            f"emit_tool_mount: tool_names must be a list of str, got {type(tool_names).__name__}"
        )
    names = list(tool_names)  # also takes an iterator, which has no len()
    for name in names:
        if not isinstance(name, str):
            raise TypeError(
                f"emit_tool_mount: tool_names must be a list of str, got a {type(name).__name__} "
                f"in it: {name!r}"
            )
    _check_str("emit_tool_mount", source=source)
    if detail is not None:
        _check_str("emit_tool_mount", detail=detail)
    if not names:
        return
    metadata: list[tuple[str, object]] = [
        (meta.TOOL_NAMES, names),
        (meta.TOOL_COUNT, len(names)),
        (meta.SOURCE, source),
    ]
    if detail is not None:
        metadata.append((meta.DETAIL, detail))
    emit_marker_span(SpanKind.TOOL_MOUNT, "tool_mount", metadata)


def emit_deferred_tool_load(tool_name: str, query: str, score: float | None = None) -> None:
    """Emit a ``deferred_tool_load`` marker for one tool schema found by tool search."""
    _check_str("emit_deferred_tool_load", tool_name=tool_name, query=query)
    metadata: list[tuple[str, object]] = [(meta.TOOL_NAME, tool_name), (meta.QUERY, query)]
    if score is not None:
        given: object = score
        if isinstance(given, bool) or not isinstance(given, (int, float)):
            raise TypeError(f"emit_deferred_tool_load: score must be a float, got {score!r}")
        try:
            plain = float(score)
        except OverflowError:
            raise ValueError(
                f"emit_deferred_tool_load: score is an {describe_int(int(score))}, too large "
                "for a float (Harn's score is an f64)"
            ) from None
        metadata.append((meta.SCORE, plain))
    emit_marker_span(SpanKind.DEFERRED_TOOL_LOAD, "deferred_tool_load", metadata)

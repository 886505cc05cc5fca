"""Expected spans: what ``assert_span_tree`` compares a trace against.

:func:`node` builds an :class:`ExpectedSpan` whose fields are values or
matchers; the text form (:mod:`pytest_harn_trace.assertions.tree_text`) parses into the
same nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import EllipsisType
from typing import Final

from pytest_harn_trace.tracing.model import SpanKind
from pytest_harn_trace.tracing.shown import shown

__all__ = ["ExpectedSpan", "node"]


class _Wildcard:
    """The ``*`` of the text form: matches any kind or any name."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'*'"


WILDCARD: Final = _Wildcard()
"""What ``"*"`` becomes in a node's ``kind`` or ``name``: anything matches."""


@dataclass(frozen=True, slots=True, repr=False)
class ExpectedSpan:
    """One expected span and its expected children; build it with :func:`node`.

    Every field except ``children`` is either a plain value or a matcher (see
    :func:`node`); ``None`` means "not checked".
    """

    kind: object
    """A :class:`SpanKind`, the wildcard ``"*"``, or a matcher."""
    name: object
    """The span name, the wildcard ``"*"``, or a matcher."""
    children: tuple[ExpectedSpan | EllipsisType, ...] = ()
    """The expected children, in order; ``...`` stands for any number of spans."""
    metadata: object = None
    """A dict of key to value or matcher (a subset match), or a matcher for the whole dict."""
    duration_ms: object = None
    """The duration in milliseconds, or a matcher."""
    events: object = None
    """A tuple of per-event expectations (same length), or a matcher for the whole list."""
    links: object = None
    """A tuple of per-link expectations (same length), or a matcher for the whole list."""

    def __post_init__(self) -> None:
        if self.kind is None or self.name is None:
            missing = "kind" if self.kind is None else "name"
            raise TypeError(
                f"ExpectedSpan(): {missing} is required; build nodes with node(kind, name, ...)"
            )
        children: object = self.children
        if not isinstance(children, tuple):
            raise TypeError(
                "ExpectedSpan(children=...): expected a tuple of ExpectedSpan or ..., "
                f"got {type(children).__name__}; build nodes with node(kind, name, *children)"
            )
        for index, child in enumerate(children):
            if not isinstance(child, ExpectedSpan) and child is not Ellipsis:
                raise TypeError(
                    f"ExpectedSpan(children=...): child {index} must be an ExpectedSpan or ... "
                    f"(Ellipsis), got {type(child).__name__} {shown(child)}"
                )

    def __repr__(self) -> str:
        kind = repr(self.kind.value) if isinstance(self.kind, SpanKind) else shown(self.kind)
        parts = [kind, shown(self.name)]
        parts += ["..." if child is Ellipsis else repr(child) for child in self.children]
        for field in ("metadata", "duration_ms", "events", "links"):
            value = getattr(self, field)
            if value is not None:
                parts.append(f"{field}={shown(value)}")
        return f"node({', '.join(parts)})"


def node(
    kind: object,
    name: object,
    *children: ExpectedSpan | EllipsisType,
    metadata: object = None,
    duration_ms: object = None,
    events: object = None,
    links: object = None,
) -> ExpectedSpan:
    """Build an expected span for :func:`assert_span_tree`.

    Each field takes a plain value or a matcher: a compiled ``re.Pattern``
    (must fullmatch a str), a type (``isinstance``), a predicate function
    (truthy result), or any object with ``__eq__`` such as
    ``unittest.mock.ANY`` or a dirty-equals matcher (compared as
    ``expected == actual``). Plain JSON values compare as JSON does: ``1.0``
    equals ``1`` but ``True`` does not.

    Args:
        kind: A :class:`SpanKind` or its name (``"llm_call"``), ``"*"`` for any kind,
            or a matcher.
        name: The span name, ``"*"`` for any name, or a matcher (a name that
            is literally ``*``: ``re.compile("[*]")``).
        *children: The expected children, each a ``node(...)`` or ``...``
            (any number of further spans at that place).
        metadata: ``None`` (not checked), a dict of key to value or matcher
            (listed keys must be present and match; other keys are ignored),
            or a matcher for the whole dict.
        duration_ms: ``None`` (not checked), an int, or a matcher.
        events: ``None`` (not checked), a matcher for the whole list, or a list
            with one item per event: an event name (str), a ``SpanEvent``, a dict
            (a subset of the event's ``to_dict()``) or a matcher.
        links: ``None`` (not checked), a matcher for the whole list, or a list
            with one item per link: the linked ``span_id`` (str), a ``SpanLink``,
            a dict (a subset of the link's ``to_dict()``) or a matcher.

    Returns:
        The node.

    Raises:
        TypeError: for a missing kind or name, a child that is not a node or
            ``...``, or metadata keys that are not str.
        ValueError: for a kind name that is not a span kind.
    """
    __tracebackhide__ = True
    if kind is None:
        raise TypeError("node(): kind is required: a SpanKind, its name, '*' or a matcher")
    if name is None:
        raise TypeError("node(): name is required: a str, '*' or a matcher")
    given: tuple[object, ...] = children  # checked at run time too: callers may be untyped
    for index, child in enumerate(given):
        if not isinstance(child, ExpectedSpan) and child is not Ellipsis:
            hint = " (pass metadata as metadata={...})" if isinstance(child, Mapping) else ""
            raise TypeError(
                f"node({shown(kind)}, {shown(name)}): child {index} must be node(...) or ... "
                "(Ellipsis), "
                f"got {type(child).__name__} {shown(child)}{hint}"
            )
    if isinstance(metadata, Mapping):
        for key in metadata:
            if not isinstance(key, str):
                raise TypeError(
                    f"node({shown(kind)}, {shown(name)}): metadata keys must be str, "
                    f"got {type(key).__name__} {shown(key)}"
                )
        metadata = dict(metadata)
    try:
        expected_kind = _normalize_kind(kind)
    except ValueError as unknown:  # the message starts at node(...), the traceback ends here
        raise ValueError(f"node({shown(kind)}, {shown(name)}): {unknown}") from None
    return ExpectedSpan(
        kind=expected_kind,
        name=WILDCARD if isinstance(name, str) and name == "*" else name,
        children=tuple(children),
        metadata=metadata,
        duration_ms=duration_ms,
        events=_normalize_items(events),
        links=_normalize_items(links),
    )


def _normalize_kind(kind: object) -> object:
    if isinstance(kind, SpanKind):
        return kind
    if isinstance(kind, str):
        return WILDCARD if kind == "*" else SpanKind.parse(kind)
    return kind


def _normalize_items(items: object) -> object:
    return tuple(items) if isinstance(items, list | tuple) else items

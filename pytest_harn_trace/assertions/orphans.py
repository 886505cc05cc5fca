"""Spans the summary cannot draw, and why: their parent is still open, or not in the trace.

``format_summary`` draws the tree under the root spans, so a span whose parent
never completed (it is still open) or was never recorded here (taken away, or
from another trace) has no place in it. Rather than leave such spans out in
silence, failures and reports name the parent they are waiting for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from pytest_harn_trace.tracing.model import Span, SpanKind
from pytest_harn_trace.tracing.summary import format_summary

__all__ = ["Orphans", "draw_orphans", "find_orphans", "open_spans_of"]


class Orphans(NamedTuple):
    """The undrawn spans that wait for one missing parent."""

    parent_id: int
    reason: str
    """Why they are not drawn: ``parent span 1 pipeline 'main' is still open``."""
    spans: list[Span]
    """Every undrawn span under that parent, in completion order."""


def find_orphans(spans: Sequence[Span], open_spans: Iterable[Sequence[Any]] = ()) -> list[Orphans]:
    """Group the spans not reachable from a root by the missing parent they hang from.

    Args:
        spans: The completed spans.
        open_spans: The spans still open, as ``trace.open_spans`` lists them
            (records whose first three items are the id, kind and name).

    Returns:
        One group per missing parent, in order of the group's first span.
    """
    by_id = {span.span_id: span for span in spans}
    # For each span id: the id of the missing ancestor it hangs from, or None when it
    # reaches a root. Memoized along each walk up, so a deep trace takes linear time.
    missing: dict[int, int | None] = {}
    groups: dict[int, list[Span]] = {}
    for span in spans:
        chain: list[int] = []
        on_chain: set[int] = set()
        current: Span | None = span
        found: int | None = None
        while current is not None:
            if current.span_id in missing:
                found = missing[current.span_id]
                break
            if current.span_id in on_chain:  # ids that loop back: hang it from itself
                found = current.span_id
                break
            chain.append(current.span_id)
            on_chain.add(current.span_id)
            parent = current.parent_id
            if parent is None:
                found = None
                break
            current = by_id.get(parent)
            if current is None:
                found = parent
        for span_id in chain:
            missing[span_id] = found
        if found is not None:
            groups.setdefault(found, []).append(span)
    if not groups:
        return []
    opened = {record[0]: record for record in open_spans}
    result = []
    for parent_id, members in groups.items():
        record = opened.get(parent_id)
        if parent_id in by_id:  # the walk up came back to it
            reason = f"span {parent_id} is its own ancestor (repeated span ids)"
        elif record is not None:
            kind = record[1].value if isinstance(record[1], SpanKind) else record[1]
            reason = f"parent span {parent_id} {kind} {record[2]!r} is still open"
        else:
            reason = f"parent span {parent_id} is not among the spans"
        result.append(Orphans(parent_id, reason, members))
    return result


def open_spans_of(actual: object) -> list[Sequence[Any]]:
    """The open spans of a capture or collector (``open_spans``), or ``[]`` if it has none."""
    records = getattr(actual, "open_spans", None)
    if callable(records):
        records = records()
    if not isinstance(records, list | tuple):
        return []
    return [record for record in records if isinstance(record, tuple) and len(record) >= 3]


def draw_orphans(spans: Sequence[Span], open_spans: Iterable[Sequence[Any]] = ()) -> str:
    """Draw the undrawn spans as ``format_summary`` would, under the reason for each group.

    Returns ``""`` when every span is drawn.
    """
    blocks = []
    for orphans in find_orphans(spans, open_spans):
        rooted = [
            span._replace(parent_id=None) if span.parent_id == orphans.parent_id else span
            for span in orphans.spans
        ]
        lines = format_summary(rooted).split("\n")[2:]  # without the header
        drawn = "\n".join(f"  {line}" for line in lines)
        blocks.append(f"Not drawn, {orphans.reason}:\n{drawn}")
    return "\n\n".join(blocks)

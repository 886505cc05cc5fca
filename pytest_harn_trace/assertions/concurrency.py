"""Siblings whose order the program does not fix, and how snapshots and tree assertions treat them.

Siblings appear in completion order (as in Harn's ``format_summary``). For
siblings that ran concurrently, say two tools a framework ran in worker
threads, that order is the scheduler's and may change from run to run. This
module finds them, from what each span's start saw
(:meth:`~pytest_harn_trace.tracing.collector.SpanCollector.start_order`).

Two siblings ran **concurrently** when their lifetimes overlapped (one started
before the other ended), or when both were started on another thread than
their parent's (for roots: than the test's thread), as work handed to
``asyncio.to_thread`` or a ``ThreadPoolExecutor`` is, whether or not the two
overlapped this time. Other siblings ran one after the other, in an order
that does not depend on timing: code that runs them in sequence, asyncio
tasks on one thread, which the event loop runs in a fixed order (with virtual
time, in order of their deadlines), or a thread's work and what its caller
did before handing it over or after waiting for it, such as the next model
call after ``await asyncio.gather(...)`` of the tools.

Siblings that ran concurrently with each other, directly or through one
another, form a *group*; a group always occupies consecutive places among
its siblings in completion order.

A snapshot writes each group's members in a canonical order (by their
content, placeholders' numbers aside), and renumbers the placeholders and
span ids so they follow the written order. Tree assertions let each group's
members match the expected siblings in any order; everything else keeps its
order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from types import EllipsisType
from typing import Any, Final

from pytest_harn_trace.assertions.expected import ExpectedSpan
from pytest_harn_trace.assertions.matching import match_value
from pytest_harn_trace.tracing.collector import SpanCollector, StartRecord
from pytest_harn_trace.tracing.model import Span
from pytest_harn_trace.tracing.summary import to_json

__all__ = [
    "canonical_dicts",
    "concurrent_groups",
    "fit_to_expected",
    "start_order_of",
]

_PLACEHOLDER: Final = re.compile(r"<([A-Za-z][A-Za-z0-9_]*?)_(\d+)>")
"""A placeholder the OpenTelemetry capture writes for an id: ``<tool_call_id_2>``."""


def start_order_of(actual: object) -> Mapping[int, StartRecord] | None:
    """The start records behind ``actual`` (a collector or the ``trace`` fixture), if any."""
    collector = actual if isinstance(actual, SpanCollector) else getattr(actual, "collector", None)
    if isinstance(collector, SpanCollector):
        return collector.start_order()
    return None


def concurrent_groups(spans: Sequence[Span], starts: Mapping[int, StartRecord]) -> list[list[int]]:
    """Return the groups of siblings that ran concurrently, as positions in ``spans``.

    ``spans`` are a collector's completed spans in completion order (its
    ``spans()``) and ``starts`` its :meth:`~SpanCollector.start_order`. Each
    group has two members or more, listed in the order of ``spans``.
    """
    if not starts:
        return []
    siblings: dict[int | None, list[int]] = {}
    seen: set[int] = set()
    for position, span in enumerate(spans):
        if span.span_id in seen:
            return []  # repeated ids (spans of several collectors): no safe answer
        seen.add(span.span_id)
        siblings.setdefault(span.parent_id, []).append(position)
    groups: list[list[int]] = []
    for positions in siblings.values():
        current = [positions[0]]
        for position in positions[1:]:
            if any(
                _concurrent(earlier, spans[earlier], spans[position], starts) for earlier in current
            ):
                current.append(position)
                continue
            if len(current) > 1:
                groups.append(current)
            current = [position]
        if len(current) > 1:
            groups.append(current)
    return groups


def _concurrent(
    first_end: int,
    first: Span,
    second: Span,
    starts: Mapping[int, StartRecord],
) -> bool:
    """Whether sibling ``first`` (which ended first) and ``second`` ran concurrently."""
    first_start = starts.get(first.span_id)
    second_start = starts.get(second.span_id)
    if (
        first_start is not None
        and second_start is not None
        and first_start.forked
        and second_start.forked
    ):
        return True  # two threads' work: their order is the scheduler's
    if second.span_id < first.span_id:
        return True  # second started first and ended last: first ran inside it
    # second started after first: before first ended only if its start saw first open
    # (a start that sees only its ancestors open is not listed in starts).
    return second_start is not None and first_end >= second_start.ended_before


# -- snapshots --------------------------------------------------------------


def canonical_dicts(
    dicts: list[dict[str, Any]], groups: Sequence[Sequence[int]]
) -> list[dict[str, Any]]:
    """Return span dicts (in the order of the spans ``groups`` was found in) in canonical order.

    Each group's members trade places so they come in order of their content
    (their subtree as the snapshot writes it, placeholders' numbers aside);
    then, so the numbers follow the written order too, placeholders are
    renumbered in order of first appearance in the drawn tree, and span ids
    (with the parent ids and links that name them) are given out again in
    that order. Without groups, ``dicts`` is returned unchanged.
    """
    if not groups:
        return dicts
    children: dict[object, list[int]] = {}
    for position, data in enumerate(dicts):
        children.setdefault(data.get("parent_id"), []).append(position)
    order = list(range(len(dicts)))  # order[position] = the dict written there
    member_groups = [sorted(group) for group in groups]
    signatures: dict[int, str] = {}
    # Deepest groups first, so a member's signature draws its children in their final order.
    depth = _depths(dicts)
    for group in sorted(member_groups, key=lambda group: -depth[group[0]]):
        keyed = sorted(
            group,
            key=lambda position: (
                _signature(position, dicts, children, order, signatures),
                position,
            ),
        )
        for place, member in zip(group, keyed, strict=True):
            order[place] = member
        for position in group:
            for ancestor in _ancestors(position, dicts):
                signatures.pop(ancestor, None)
    result = [dicts[position] for position in order]
    _renumber(result)
    return result


def _depths(dicts: Sequence[Mapping[str, Any]]) -> list[int]:
    position_of = {data.get("span_id"): position for position, data in enumerate(dicts)}
    depths: list[int] = []
    for data in dicts:
        depth = 0
        parent = data.get("parent_id")
        while parent in position_of and depth <= len(dicts):
            depth += 1
            parent = dicts[position_of[parent]].get("parent_id")
        depths.append(depth)
    return depths


def _ancestors(position: int, dicts: Sequence[Mapping[str, Any]]) -> list[int]:
    position_of = {data.get("span_id"): index for index, data in enumerate(dicts)}
    found: list[int] = []
    parent = dicts[position].get("parent_id")
    while parent in position_of and len(found) <= len(dicts):
        index = position_of[parent]
        found.append(index)
        parent = dicts[index].get("parent_id")
    return found


def _signature(
    position: int,
    dicts: Sequence[Mapping[str, Any]],
    children: Mapping[object, list[int]],
    order: Sequence[int],
    memo: dict[int, str],
) -> str:
    """The content of a span's subtree as text, with placeholder numbers masked."""
    known = memo.get(position)
    if known is not None:
        return known
    # Children in their current written order: positions are refilled in place.
    placed = {member: place for place, member in enumerate(order)}
    stack: list[tuple[int, bool]] = [(position, False)]
    while stack:
        current, expanded = stack.pop()
        if current in memo:
            continue
        data = dicts[current]
        kids = sorted(children.get(data.get("span_id"), ()), key=lambda kid: placed[kid])
        if not expanded:
            stack.append((current, True))
            stack.extend((kid, False) for kid in kids if kid not in memo)
            continue
        # Kind and name first: a group reads in order of them, then of the rest.
        rest = {key: value for key, value in data.items() if key not in _IDS}
        head = [rest.pop("kind", None), rest.pop("name", None)]
        text = to_json([*head, _plain(rest), [memo[kid] for kid in kids]])
        memo[current] = _PLACEHOLDER.sub(r"<\1>", text)
    return memo[position]


_IDS: Final = frozenset({"span_id", "parent_id", "trace_id"})


def _plain(value: object) -> object:
    """``value`` with dict keys sorted and non-finite floats as ``None``, for a stable text."""
    if isinstance(value, Mapping):
        return {key: _plain(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _renumber(dicts: list[dict[str, Any]]) -> None:
    """Renumber placeholders and span ids in the order the tree draws them, in place."""
    walk = _drawn_order(dicts)
    numbers: dict[tuple[str, str], str] = {}
    counts: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        key = (match[1], match[2])
        if key not in numbers:
            counts[match[1]] = counts.get(match[1], 0) + 1
            numbers[key] = str(counts[match[1]])
        return f"<{match[1]}_{numbers[key]}>"

    for position in walk:
        _visit_strings(dicts[position], lambda text: _PLACEHOLDER.sub(number, text))
    old_ids: list[int] = []
    for position in walk:
        span_id = dicts[position].get("span_id")
        if not isinstance(span_id, int) or isinstance(span_id, bool):
            return  # a redact hook changed the ids: leave them
        old_ids.append(span_id)
    if len(set(old_ids)) != len(old_ids):
        return
    new_ids = dict(zip(old_ids, sorted(old_ids), strict=True))
    for data in dicts:
        data["span_id"] = new_ids[data["span_id"]]
        if data.get("parent_id") in new_ids:
            data["parent_id"] = new_ids[data["parent_id"]]
    by_text = {str(old): str(new) for old, new in new_ids.items()}
    own_traces = {data.get("trace_id") for data in dicts}
    for data in dicts:
        for link in data.get("links", ()):
            if link.get("trace_id") in own_traces and link.get("span_id") in by_text:
                link["span_id"] = by_text[link["span_id"]]


def _drawn_order(dicts: Sequence[Mapping[str, Any]]) -> list[int]:
    """Positions in the order ``format_summary`` draws them, then any it does not draw."""
    children: dict[object, list[int]] = {}
    for position, data in enumerate(dicts):
        children.setdefault(data.get("parent_id"), []).append(position)
    drawn: list[int] = []
    seen: set[int] = set()
    stack = list(reversed(children.get(None, [])))
    while stack:
        position = stack.pop()
        if position in seen:
            continue
        seen.add(position)
        drawn.append(position)
        stack.extend(reversed(children.get(dicts[position].get("span_id"), [])))
    drawn += [position for position in range(len(dicts)) if position not in seen]
    return drawn


def _visit_strings(data: dict[str, Any], edit: Any) -> None:
    """Apply ``edit`` to every string value in a span dict's metadata, events and links."""

    def fix(value: object) -> object:
        if isinstance(value, str):
            return edit(value)
        if isinstance(value, list):
            return [fix(item) for item in value]
        if isinstance(value, dict):
            return {key: fix(item) for key, item in value.items()}
        return value

    for key in ("metadata",):
        if key in data:
            data[key] = fix(data[key])
    for item in (*data.get("events", ()), *data.get("links", ())):
        if "attributes" in item:
            item["attributes"] = fix(item["attributes"])


# -- tree assertions ----------------------------------------------------------


def fit_to_expected(
    spans: Sequence[Span],
    groups: Sequence[Sequence[int]],
    roots: Sequence[ExpectedSpan | EllipsisType],
) -> list[Span]:
    """Return ``spans`` with each group's members in the order the expectation lists them.

    A member goes where the first expected span it matches (kind, name,
    metadata, duration) comes in the expected tree, read top to bottom; each
    expected span is taken by one member at most, and members that match
    none keep their order, after the others.
    """
    result = list(spans)
    if not groups:
        return result
    expected: list[ExpectedSpan] = []
    stack: list[ExpectedSpan | EllipsisType] = list(reversed(roots))
    while stack:
        item = stack.pop()
        if isinstance(item, ExpectedSpan):
            expected.append(item)
            stack.extend(reversed(item.children))
    for group in groups:
        taken: set[int] = set()
        keys: dict[int, tuple[int, int]] = {}
        for position in group:
            fits = [index for index, item in enumerate(expected) if _fits(item, spans[position])]
            free = [index for index in fits if index not in taken]
            choice = free[0] if free else (fits[0] if fits else len(expected))
            taken.add(choice)
            keys[position] = (choice, position)
        places = sorted(group)
        for place, member in zip(places, sorted(group, key=keys.__getitem__), strict=True):
            result[place] = spans[member]
    return result


def _fits(expected: ExpectedSpan, span: Span) -> bool:
    """Whether ``span`` itself (children aside) matches ``expected``."""
    if not (match_value(expected.kind, span.kind)[0] and match_value(expected.name, span.name)[0]):
        return False
    wanted = expected.metadata
    if isinstance(wanted, dict):
        if not all(
            key in span.metadata and match_value(value, span.metadata[key])[0]
            for key, value in wanted.items()
        ):
            return False
    elif wanted is not None and not match_value(wanted, span.metadata)[0]:
        return False
    return expected.duration_ms is None or match_value(expected.duration_ms, span.duration_ms)[0]

"""Tree matching: assert the shape of a trace, as ``format_summary`` draws it.

:func:`assert_span_tree` compares the span tree of a trace (completed spans
reachable from the roots, children in completion order) with an expectation
written either as text, in the layout of ``format_summary``::

    assert_span_tree(trace.spans, '''
        pipeline main
          llm_call gpt-4 (model="gpt-4")
          ...
    ''')

or as structured nodes built with :func:`node`, whose fields may be matchers::

    assert_span_tree(trace.spans, node("pipeline", "main", node("llm_call", re.compile("gpt-.*"))))

On a mismatch it raises ``AssertionError`` with a message built here (pytest's
assertion rewriting never sees the package): a first line naming the path to
the first difference, then the actual tree marked line by line against the
expectation.

How the search works: first a yes/no pass, memoized per (expected node,
actual span), with fast exact algorithms: greedy glob matching for ordered
siblings (``...`` as the star), bipartite matching for ``ordered=False``, and
an earliest-ending embedding into the descendants for ``exact=False``. With
both ``ordered=False`` and ``exact=False`` (unordered tree inclusion,
NP-complete in general) it backtracks, but only after a bipartite relaxation
found a matching whose spans nest. A passing assertion runs only that pass.
On failure, a second pass scores every candidate pairing by the differences in
it and below it, aligns siblings by dynamic programming (or an assignment), and
draws the cheapest alignment.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import EllipsisType
from typing import Final, NamedTuple, cast

from pytest_harn_trace.expected import _WILDCARD, ExpectedSpan, node
from pytest_harn_trace.model import Span, SpanEvent, SpanKind, SpanLink
from pytest_harn_trace.summary import to_json
from pytest_harn_trace.tree_text import _Expected, _parse_text, parse_tree_text

__all__ = ["ExpectedSpan", "assert_span_tree", "matches", "node", "parse_tree_text"]


# --- matching values --------------------------------------------------------------

_FUNCTION_TYPES: Final = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.MethodWrapperType,
    types.ClassMethodDescriptorType,
    functools.partial,
)


def _is_predicate(value: object) -> bool:
    """True for a callable compared by calling it: a function, or an object without ``__eq__``."""
    if isinstance(value, type) or not callable(value):
        return False
    return isinstance(value, _FUNCTION_TYPES) or type(value).__eq__ is object.__eq__


def matches(expected: object, actual: object) -> bool:
    """Return whether ``actual`` satisfies ``expected``, a value or matcher as in :func:`node`."""
    return _match(expected, actual)[0]


def _match(expected: object, actual: object) -> tuple[bool, str]:
    """Return whether ``actual`` satisfies ``expected``, and a note on why not (or ``""``)."""
    if expected is _WILDCARD:
        return True, ""
    if isinstance(expected, re.Pattern):
        return isinstance(actual, str) and expected.fullmatch(actual) is not None, ""
    if isinstance(expected, type) and type(expected).__eq__ is type.__eq__:
        return isinstance(actual, expected), ""
    if _is_predicate(expected):
        try:
            return bool(expected(actual)), ""  # type: ignore[operator]  # checked callable
        except Exception as exc:
            return False, f" (predicate raised {type(exc).__name__}: {exc})"
    if expected is None or isinstance(expected, bool):
        return actual is expected or (isinstance(actual, bool) and actual == expected), ""
    if isinstance(expected, int | float):
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            return False, ""
        return expected == actual, ""
    if isinstance(expected, str):
        return isinstance(actual, str) and expected == actual, ""
    if isinstance(expected, list | tuple):
        if not isinstance(actual, list | tuple) or len(actual) != len(expected):
            return False, ""
        return all(_match(e, a)[0] for e, a in zip(expected, actual, strict=True)), ""
    if isinstance(expected, dict):
        if not isinstance(actual, Mapping) or set(actual) != set(expected):
            return False, ""
        return all(_match(value, actual[key])[0] for key, value in expected.items()), ""
    try:
        return bool(expected == actual), ""
    except Exception as exc:
        return False, f" (comparison raised {type(exc).__name__}: {exc})"


def _show(value: object) -> str:
    """Render a value as JSON where possible, a matcher by its repr."""
    if value is _WILDCARD:
        return "*"
    if isinstance(value, type) and type(value).__eq__ is type.__eq__:
        return f"<instance of {value.__qualname__}>"
    if _is_predicate(value):
        return f"<predicate {getattr(value, '__name__', None) or repr(value)}>"
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    try:
        return to_json(value)
    except (TypeError, ValueError):
        return repr(value)


def _match_item(expected: object, actual: SpanEvent | SpanLink) -> tuple[bool, str]:
    if isinstance(expected, str):
        key = actual.name if isinstance(actual, SpanEvent) else actual.span_id
        return expected == key, ""
    if isinstance(expected, Mapping):
        data = actual.to_dict()
        for key, value in expected.items():
            if key not in data:
                return False, ""
            ok, note = _match(value, data[key])
            if not ok:
                return False, note
        return True, ""
    return _match(expected, actual)


def _show_item(expected: object, actual: SpanEvent | SpanLink) -> str:
    """Show an actual event or link the way its expectation is written."""
    if isinstance(expected, str):
        return _show(actual.name if isinstance(actual, SpanEvent) else actual.span_id)
    if isinstance(expected, SpanEvent | SpanLink):
        return repr(actual)
    return _show(actual.to_dict())


_REAL_CLOCK_HINT: Final = (
    " (durations came from the real clock: use the mock_clock fixture, "
    "or leave the Nms out of the expectation)"
)


def _local_diffs(
    expected: ExpectedSpan, span: Span, *, need_name: bool, real_clock: bool = False
) -> tuple[bool, list[str]]:
    """Compare one node with one span, children aside.

    Args:
        expected: The node.
        span: The span.
        need_name: Only a matching name makes the pair drawable (with
            ``exact=False``, where any descendant is a candidate); otherwise a
            matching kind or name does.
        real_clock: The durations came from the real clock: a duration
            mismatch says so, and how to avoid it.

    Returns:
        Whether the pair may be drawn as one (mismatching) line, and the
        differences found (empty when it may not).
    """
    kind_ok, kind_note = _match(expected.kind, span.kind)
    name_ok, name_note = _match(expected.name, span.name)
    if not name_ok and (need_name or not kind_ok):
        return False, []
    diffs: list[str] = []
    if not kind_ok:
        diffs.append(f"kind expected {_show(expected.kind)}, got {_show(span.kind)}{kind_note}")
    if not name_ok:
        diffs.append(f"name expected {_show(expected.name)}, got {_show(span.name)}{name_note}")
    if expected.duration_ms is not None:
        ok, note = _match(expected.duration_ms, span.duration_ms)
        if not ok:
            diffs.append(
                f"duration_ms expected {_show(expected.duration_ms)}, "
                f"got {_show(span.duration_ms)}{note}{_REAL_CLOCK_HINT if real_clock else ''}"
            )
    meta = expected.metadata
    if isinstance(meta, dict):
        for key, value in meta.items():
            label = f"metadata[{_show(key)}]"
            if key not in span.metadata:
                diffs.append(f"{label} expected {_show(value)}, key missing")
                continue
            ok, note = _match(value, span.metadata[key])
            if not ok:
                diffs.append(
                    f"{label} expected {_show(value)}, got {_show(span.metadata[key])}{note}"
                )
    elif meta is not None:
        ok, note = _match(meta, span.metadata)
        if not ok:
            diffs.append(f"metadata expected {_show(meta)}, got {_show(span.metadata)}{note}")
    fields: tuple[tuple[str, Sequence[SpanEvent | SpanLink]], ...] = (
        ("events", span.events),
        ("links", span.links),
    )
    for field, items in fields:
        wanted = getattr(expected, field)
        if wanted is not None:
            diffs += _item_diffs(field, wanted, items)
    return True, diffs


def _item_diffs(field: str, wanted: object, items: Sequence[SpanEvent | SpanLink]) -> list[str]:
    if not isinstance(wanted, tuple):
        ok, note = _match(wanted, list(items))
        if ok:
            return []
        got = _show([item.to_dict() for item in items])
        return [f"{field} expected {_show(wanted)}, got {got}{note}"]
    if len(wanted) != len(items):
        shown_wanted = "[" + ", ".join(_show(item) for item in wanted) + "]"
        by_name = wanted and all(isinstance(item, str) for item in wanted)
        if by_name or (not wanted and field == "events"):
            shown_items = [_show_item("", item) for item in items]
        else:
            shown_items = [_show(item.to_dict()) for item in items]
        return [
            f"{field} expected {len(wanted)} item(s) {shown_wanted}, "
            f"got {len(items)} [{', '.join(shown_items)}]"
        ]
    diffs = []
    for index, (want, item) in enumerate(zip(wanted, items, strict=True)):
        ok, note = _match_item(want, item)
        if not ok:
            diffs.append(
                f"{field}[{index}] expected {_show(want)}, got {_show_item(want, item)}{note}"
            )
    return diffs


# --- the actual tree --------------------------------------------------------------


class _Forest:
    """The drawn tree of a trace, flattened in pre-order (the lines of ``format_summary``)."""

    __slots__ = ("depth", "end", "kids", "parent", "roots", "spans", "undrawn")

    def __init__(self, spans: Sequence[Span]) -> None:
        roots: list[Span] = []
        by_parent: dict[int, list[Span]] = {}
        for span in spans:
            if span.parent_id is None:
                roots.append(span)
            else:
                by_parent.setdefault(span.parent_id, []).append(span)
        self.spans: list[Span] = []
        self.depth: list[int] = []
        self.end: list[int] = []
        self.kids: list[list[int]] = []
        self.parent: list[int] = []
        self.roots: list[int] = []
        # Iterative pre-order walk; a span whose id is already on its own path
        # (only possible when ids repeat) is drawn but not descended into.
        stack: list[tuple[Span, int, int]] = [(span, 0, -1) for span in reversed(roots)]
        path: list[int] = []  # flat indices of the open ancestors
        while stack:
            span, depth, parent = stack.pop()
            while len(path) > depth:
                closed = path.pop()
                self.end[closed] = len(self.spans)
            index = len(self.spans)
            self.spans.append(span)
            self.depth.append(depth)
            self.end.append(index + 1)
            self.kids.append([])
            self.parent.append(parent)
            if parent < 0:
                self.roots.append(index)
            else:
                self.kids[parent].append(index)
            path.append(index)
            if any(self.spans[i].span_id == span.span_id for i in path[:-1]):
                continue
            for child in reversed(by_parent.get(span.span_id, ())):
                stack.append((child, depth + 1, index))
        for closed in path:
            self.end[closed] = len(self.spans)
        self.undrawn = len(spans) - len({id(span) for span in self.spans})


def _actual_line(span: Span) -> str:
    """The span's ``format_summary`` line, without indent."""
    kind = getattr(span.kind, "value", span.kind)
    text = f"{kind} {span.name} {span.duration_ms}ms"
    if span.metadata:
        parts = [f"{key}={_show(span.metadata[key])}" for key in sorted(span.metadata)]
        text += f" ({', '.join(parts)})"
    return text


def _expected_line(expected: ExpectedSpan) -> str:
    kind = expected.kind.value if isinstance(expected.kind, SpanKind) else _show(expected.kind)
    name = expected.name if isinstance(expected.name, str) else _show(expected.name)
    text = f"{kind} {name}"
    duration = expected.duration_ms
    if isinstance(duration, int) and not isinstance(duration, bool):
        text += f" {duration}ms"
    elif duration is not None:
        text += f" duration_ms={_show(duration)}"
    if isinstance(expected.metadata, dict):
        if expected.metadata:
            parts = [f"{key}={_show(value)}" for key, value in expected.metadata.items()]
            text += f" ({', '.join(parts)})"
    elif expected.metadata is not None:
        text += f" metadata={_show(expected.metadata)}"
    for field in ("events", "links"):
        wanted = getattr(expected, field)
        if isinstance(wanted, tuple):
            text += f" {field}=[{', '.join(_show(item) for item in wanted)}]"
        elif wanted is not None:
            text += f" {field}={_show(wanted)}"
    return text


def _label(kind: object, name: object) -> str:
    kind_text = kind.value if isinstance(kind, SpanKind) else _show(kind)
    return f"{kind_text} {name if isinstance(name, str) else _show(name)}"


# --- alignment --------------------------------------------------------------------


class _Step(NamedTuple):
    """One entry of a sibling alignment."""

    op: str
    """``pair``, ``missing`` (expected only), ``unexpected`` or ``extra`` (actual only)."""
    node: ExpectedSpan | None
    span: int
    """The actual span's flat index, or -1."""


@dataclass(slots=True)
class _Pair:
    cost: int
    diffs: list[str]
    steps: list[_Step]


_Pattern = Sequence[ExpectedSpan | EllipsisType]


class _Aligner:
    """Scores and aligns expected nodes against the flattened actual tree.

    Two passes. :meth:`perfect` answers "does this node match that span,
    subtree and all?" with fast exact algorithms (greedy glob matching,
    bipartite matching, earliest-ending embedding), which is all a passing
    assertion runs. Only on failure, :meth:`pair` and :meth:`align` find the
    cheapest alignment to draw: a cost is ``defects * weight - perfect_pairs``,
    so defects (missing nodes, unexpected spans, differing fields) dominate and,
    among equally bad alignments, the one pairing more spans perfectly wins.
    ``weight`` exceeds any count of pairs, so a cost ``<= 0`` means a match.
    """

    def __init__(
        self,
        forest: _Forest,
        roots: _Pattern,
        *,
        ordered: bool,
        exact: bool,
        readings: Mapping[int, tuple[ExpectedSpan, ...]] | None = None,
        real_clock: bool = False,
    ) -> None:
        self.forest = forest
        self.ordered = ordered
        self.exact = exact
        self.readings = readings or {}
        self.real_clock = real_clock
        self.sizes: dict[int, int] = {}
        self.pairs: dict[tuple[int, int], _Pair | None] = {}
        self.perfects: dict[tuple[int, int], list[_Step] | None] = {}
        self.weight = sum(self.size(item) for item in roots if item is not Ellipsis) + 1

    def size(self, expected: ExpectedSpan) -> int:
        size = self.sizes.get(id(expected))
        if size is None:
            size = 1 + sum(self.size(c) for c in expected.children if c is not Ellipsis)
            self.sizes[id(expected)] = size
        return size

    def local(self, expected: ExpectedSpan, index: int) -> tuple[bool, list[str]]:
        """Compare a node with a span, children aside (see :func:`_local_diffs`).

        A node read from a line that reads several ways matches when any
        reading does; otherwise it is compared as its first reading.
        """
        span = self.forest.spans[index]
        options = {"need_name": not self.exact, "real_clock": self.real_clock}
        pairable, diffs = _local_diffs(expected, span, **options)
        if diffs or not pairable:
            for reading in self.readings.get(id(expected), ()):
                other_pairable, other_diffs = _local_diffs(reading, span, **options)
                if other_pairable and not other_diffs:
                    return other_pairable, other_diffs
        return pairable, diffs

    def other_name(self, expected: ExpectedSpan, index: int) -> int:
        """With ``ordered=False``: the extra cost of drawing ``expected`` as a span named otherwise.

        Siblings in any order have no position to pair them by, so a span
        with another name is a different span: drawn against it only when its
        subtree makes up for the cost, more than leaving ``expected`` missing and
        the span unexpected. Spans of the same kind and name pair first, then
        those of the same name (a wrong kind).
        """
        if _match(expected.name, self.forest.spans[index].name)[0]:
            return 0
        return self.weight + 1

    def missing_cost(self, expected: ExpectedSpan) -> int:
        return self.size(expected) * self.weight

    def unexpected_cost(self, index: int) -> int:
        return (self.forest.end[index] - index) * self.weight

    def span_range(self, parent: int) -> tuple[int, int]:
        """The flat indices of the descendants of ``parent`` (-1: every span)."""
        if parent < 0:
            return 0, len(self.forest.spans)
        return parent + 1, self.forest.end[parent]

    # -- pass 1: does it match? ---------------------------------------------------

    def perfect(self, expected: ExpectedSpan, index: int) -> list[_Step] | None:
        """The children's alignment when ``expected`` matches span ``index`` in full, else None."""
        key = (id(expected), index)
        if key in self.perfects:
            return self.perfects[key]
        self.perfects[key] = None  # a span never contains itself; guards against repeated ids
        pairable, diffs = self.local(expected, index)
        steps = None
        if pairable and not diffs:
            steps = self.perfect_children(expected.children, index)
        self.perfects[key] = steps
        return steps

    def perfect_children(self, pattern: _Pattern, parent: int) -> list[_Step] | None:
        """An alignment of ``pattern`` under ``parent`` with every node matched in full."""
        if self.exact:
            cands = self.forest.roots if parent < 0 else self.forest.kids[parent]
            if self.ordered:
                return self._glob(pattern, cands)
            return self._perfect_assignment(pattern, cands)
        nodes = [item for item in pattern if isinstance(item, ExpectedSpan)]
        low, high = self.span_range(parent)
        if self.ordered:
            return self._earliest_embedding(nodes, low, high)
        ends = [end - low for end in self.forest.end[low:high]]
        candidates = [
            [pos - low for pos in range(low, high) if self.perfect(item, pos) is not None]
            for item in nodes
        ]
        chosen = _disjoint_assignment(candidates, ends, high - low)
        if chosen is None:
            return None
        return sorted(
            (_Step("pair", item, low + p) for item, p in zip(nodes, chosen, strict=True)),
            key=lambda step: step.span,
        )

    def _glob(self, pattern: _Pattern, cands: list[int]) -> list[_Step] | None:
        """Wildcard matching, ``...`` as the star: greedy, back to the last star on failure."""
        i = k = 0
        star_i, star_k = -1, 0
        taken: list[_Step] = []
        mark = 0
        while k < len(cands):
            item = pattern[i] if i < len(pattern) else None
            if isinstance(item, ExpectedSpan) and self.perfect(item, cands[k]) is not None:
                taken.append(_Step("pair", item, cands[k]))
                i, k = i + 1, k + 1
            elif item is Ellipsis:
                star_i, star_k, mark = i, k, len(taken)
                i += 1
            elif star_i >= 0:
                del taken[mark:]
                star_k += 1
                i, k = star_i + 1, star_k
            else:
                return None
        while i < len(pattern) and pattern[i] is Ellipsis:
            i += 1
        if i < len(pattern):
            return None
        paired = {step.span for step in taken}
        steps = list(taken)
        steps += [_Step("extra", None, index) for index in cands if index not in paired]
        return sorted(steps, key=lambda step: step.span)

    def _perfect_assignment(self, pattern: _Pattern, cands: list[int]) -> list[_Step] | None:
        nodes = [item for item in pattern if isinstance(item, ExpectedSpan)]
        extra_ok = len(nodes) < len(pattern)
        if len(nodes) > len(cands) or (not extra_ok and len(nodes) != len(cands)):
            return None
        if all(
            self.perfect(item, index) is not None for item, index in zip(nodes, cands, strict=False)
        ):
            assigned = list(range(len(nodes)))  # already in order
        else:
            adjacency = [
                [k for k, index in enumerate(cands) if self.perfect(item, index) is not None]
                for item in nodes
            ]
            assigned = _max_matching(adjacency, len(cands))
            if -1 in assigned:
                return None
        owner = {k: item for item, k in zip(nodes, assigned, strict=True)}
        return [
            _Step("pair", owner[k], index) if k in owner else _Step("extra", None, index)
            for k, index in enumerate(cands)
        ]

    def _earliest_embedding(
        self, nodes: list[ExpectedSpan], low: int, high: int
    ) -> list[_Step] | None:
        """Each node in turn on the matching span whose subtree ends first: optimal."""
        end = self.forest.end
        steps = []
        cursor = low
        for item in nodes:
            best = -1
            pos = cursor
            while pos < high and (best < 0 or pos < end[best]):
                if (best < 0 or end[pos] < end[best]) and self.perfect(item, pos) is not None:
                    best = pos
                pos += 1
            if best < 0:
                return None
            steps.append(_Step("pair", item, best))
            cursor = end[best]
        return steps

    # -- pass 2: the cheapest alignment, to draw -----------------------------------

    def pair(self, expected: ExpectedSpan, index: int) -> _Pair | None:
        """Score ``expected`` drawn as the actual span at ``index``; None if unrelated."""
        key = (id(expected), index)
        if key in self.pairs:
            return self.pairs[key]
        self.pairs[key] = None  # guards against repeated ids
        result = None
        steps = self.perfect(expected, index)
        if steps is not None:
            result = _Pair(-self.size(expected), [], steps)
        else:
            pairable, diffs = self.local(expected, index)
            if pairable:
                cost, steps = self.align(expected.children, index)
                cost += len(diffs) * self.weight - (0 if diffs else 1)
                result = _Pair(cost, diffs, steps)
        self.pairs[key] = result
        return result

    def align(self, pattern: _Pattern, parent: int) -> tuple[int, list[_Step]]:
        """Align ``pattern`` with the children of ``parent`` (-1: the roots)."""
        steps = self.perfect_children(pattern, parent)
        if steps is not None:
            return -sum(
                self.size(item) for item in pattern if isinstance(item, ExpectedSpan)
            ), steps
        forest = self.forest
        if self.exact:
            cands = forest.roots if parent < 0 else forest.kids[parent]
            if self.ordered:
                return self._exact_ordered(pattern, cands)
            return self._exact_unordered(pattern, cands)
        nodes = [item for item in pattern if isinstance(item, ExpectedSpan)]
        low, high = self.span_range(parent)
        if self.ordered:
            return self._loose_ordered(nodes, low, high)
        return self._loose_unordered(nodes, low, high)

    def _exact_ordered(self, pattern: _Pattern, cands: list[int]) -> tuple[int, list[_Step]]:
        # Like difflib, pair the equal ends first and align only what lies between.
        head = 0
        limit = min(len(pattern), len(cands))
        while head < limit and self._perfect_at(pattern[head], cands[head]):
            head += 1
        tail = 0
        while tail < limit - head and self._perfect_at(pattern[-1 - tail], cands[-1 - tail]):
            tail += 1
        if head or tail:
            cost, steps = self._exact_ordered(
                pattern[head : len(pattern) - tail], cands[head : len(cands) - tail]
            )
            first = [self._pair_step(pattern[i], cands[i]) for i in range(head)]
            last = [self._pair_step(pattern[-i], cands[-i]) for i in range(tail, 0, -1)]
            cost -= sum(self.size(step.node) for step in first + last if step.node is not None)
            return cost, first + steps + last
        n_pat, n_act = len(pattern), len(cands)
        # best[i][k]: cheapest alignment of pattern[i:] with cands[k:].
        best = [[0] * (n_act + 1) for _ in range(n_pat + 1)]
        choice = [[""] * (n_act + 1) for _ in range(n_pat + 1)]
        for i in range(n_pat, -1, -1):
            for k in range(n_act, -1, -1):
                if i == n_pat and k == n_act:
                    continue
                # Ties go to the first option listed.
                options: list[tuple[int, str]] = []
                item: ExpectedSpan | EllipsisType | None = pattern[i] if i < n_pat else None
                if isinstance(item, ExpectedSpan):
                    if k < n_act:
                        pair = self.pair(item, cands[k])
                        if pair is not None:
                            options.append((pair.cost + best[i + 1][k + 1], "pair"))
                    options.append((self.missing_cost(item) + best[i + 1][k], "missing"))
                elif item is Ellipsis:
                    options.append((best[i + 1][k], "skip"))  # lazy: let the next node pair
                    if k < n_act:
                        options.append((best[i][k + 1], "extra"))
                if k < n_act:
                    options.append((self.unexpected_cost(cands[k]) + best[i][k + 1], "unexpected"))
                best[i][k], choice[i][k] = min(options, key=lambda option: option[0])
        steps = []
        i = k = 0
        while i < n_pat or k < n_act:
            op = choice[i][k]
            at = pattern[i] if i < n_pat else None
            if op == "pair":
                assert isinstance(at, ExpectedSpan)
                steps.append(_Step("pair", at, cands[k]))
                i, k = i + 1, k + 1
            elif op == "missing":
                assert isinstance(at, ExpectedSpan)
                steps.append(_Step("missing", at, -1))
                i += 1
            elif op == "skip":
                i += 1
            else:  # extra, unexpected
                steps.append(_Step(op, None, cands[k]))
                k += 1
        return best[0][0], steps

    @staticmethod
    def _pair_step(item: ExpectedSpan | EllipsisType, index: int) -> _Step:
        assert isinstance(item, ExpectedSpan)
        return _Step("pair", item, index)

    def _perfect_at(self, item: ExpectedSpan | EllipsisType, index: int) -> bool:
        return isinstance(item, ExpectedSpan) and self.perfect(item, index) is not None

    def _exact_unordered(self, pattern: _Pattern, cands: list[int]) -> tuple[int, list[_Step]]:
        """Perfect pairs by maximum matching, then the cheapest assignment of the rest."""
        nodes = [item for item in pattern if isinstance(item, ExpectedSpan)]
        extra_ok = len(nodes) < len(pattern)
        adjacency = [
            [k for k, index in enumerate(cands) if self.perfect(item, index) is not None]
            for item in nodes
        ]
        assigned = _max_matching(adjacency, len(cands))
        total = -sum(self.size(item) for item, k in zip(nodes, assigned, strict=True) if k >= 0)
        rest_nodes = [i for i, k in enumerate(assigned) if k < 0]
        used = set(assigned)
        rest_cands = [k for k in range(len(cands)) if k not in used]
        spare = {k: 0 if extra_ok else self.unexpected_cost(cands[k]) for k in rest_cands}
        total += sum(spare.values())
        if rest_nodes:
            # Hungarian method over the leftovers: a node may pair, or stay missing
            # (the extra columns); a span left over costs its `spare`.
            matrix = []
            for i in rest_nodes:
                missing = self.missing_cost(nodes[i])
                row = []
                for k in rest_cands:
                    pair = self.pair(nodes[i], cands[k])
                    cost = missing
                    if pair is not None:
                        paired = pair.cost + self.other_name(nodes[i], cands[k])
                        if paired <= missing + spare[k]:
                            cost = paired - spare[k]
                    row.append(cost)
                matrix.append(row + [missing] * len(rest_nodes))
            for i, column in zip(rest_nodes, _hungarian(matrix), strict=True):
                missing = self.missing_cost(nodes[i])
                if column < len(rest_cands):
                    k = rest_cands[column]
                    pair = self.pair(nodes[i], cands[k])
                    if pair is not None:
                        paired = pair.cost + self.other_name(nodes[i], cands[k])
                        if paired <= missing + spare[k]:
                            assigned[i] = k
                            total += paired - spare[k]
                            continue
                total += missing
        owner = {k: i for i, k in enumerate(assigned) if k >= 0}
        steps = []
        for k, index in enumerate(cands):
            if k in owner:
                steps.append(_Step("pair", nodes[owner[k]], index))
            else:
                steps.append(_Step("extra" if extra_ok else "unexpected", None, index))
        steps += [_Step("missing", nodes[i], -1) for i, k in enumerate(assigned) if k < 0]
        return total, steps

    def _loose_ordered(
        self, nodes: list[ExpectedSpan], low: int, high: int
    ) -> tuple[int, list[_Step]]:
        end = self.forest.end
        width = high - low + 1
        # best[i][p]: cheapest embedding of nodes[i:] into the spans low+p..high-1.
        best = [[0] * width for _ in range(len(nodes) + 1)]
        choice = [[""] * width for _ in range(len(nodes) + 1)]
        for i in range(len(nodes) - 1, -1, -1):
            missing = self.missing_cost(nodes[i])
            for p in range(width - 1, -1, -1):
                # Ties go to the first option: pair, then look further, then give up.
                options = []
                pos = low + p
                if pos < high:
                    pair = self.pair(nodes[i], pos)
                    if pair is not None:
                        options.append((pair.cost + best[i + 1][end[pos] - low], "pair"))
                    options.append((best[i][p + 1], "skip"))
                options.append((missing + best[i + 1][p], "missing"))
                best[i][p], choice[i][p] = min(options, key=lambda option: option[0])
        steps = []
        i = p = 0
        while i < len(nodes):
            op = choice[i][p]
            if op == "pair":
                steps.append(_Step("pair", nodes[i], low + p))
                p = end[low + p] - low
                i += 1
            elif op == "missing":
                steps.append(_Step("missing", nodes[i], -1))
                i += 1
            else:
                p += 1
        return best[0][0], steps

    def _loose_unordered(
        self, nodes: list[ExpectedSpan], low: int, high: int
    ) -> tuple[int, list[_Step]]:
        """No perfect embedding exists: greedily give each node its cheapest free span."""
        forest = self.forest
        blocked = [False] * (high - low)
        total, picks = 0, []
        for item in nodes:
            best_pos, best_cost = -1, self.missing_cost(item)
            for pos in range(low, high):
                if not blocked[pos - low]:
                    pair = self.pair(item, pos)
                    if pair is not None and pair.cost < best_cost:
                        best_pos, best_cost = pos, pair.cost
            total += best_cost
            picks.append(best_pos)
            if best_pos >= 0:
                for inside in range(best_pos, forest.end[best_pos]):
                    blocked[inside - low] = True
                above = forest.parent[best_pos]
                while above >= low:
                    blocked[above - low] = True
                    above = forest.parent[above]
        steps = sorted(
            (_Step("pair", item, pos) for item, pos in zip(nodes, picks, strict=True) if pos >= 0),
            key=lambda step: step.span,
        )
        steps += [
            _Step("missing", item, -1) for item, pos in zip(nodes, picks, strict=True) if pos < 0
        ]
        return total, steps


def _max_matching(adjacency: list[list[int]], n_right: int) -> list[int]:
    """Maximum bipartite matching (augmenting paths); the right vertex of each left one, or -1."""
    match_left = [-1] * len(adjacency)
    match_right = [-1] * n_right
    for start in range(len(adjacency)):
        came_from: dict[int, int] = {}
        frontier = [start]
        found = -1
        while frontier and found < 0:
            following = []
            for left in frontier:
                for right in adjacency[left]:
                    if right in came_from:
                        continue
                    came_from[right] = left
                    if match_right[right] < 0:
                        found = right
                        break
                    following.append(match_right[right])
                if found >= 0:
                    break
            frontier = following
        right = found
        while right >= 0:
            left = came_from[right]
            previous = match_left[left]
            match_left[left] = right
            match_right[right] = left
            right = previous
    return match_left


def _hungarian(cost: list[list[int]]) -> list[int]:
    """Minimum-cost assignment of every row to a distinct column (rows <= columns)."""
    n_rows, n_cols = len(cost), len(cost[0])
    infinity = math.inf
    u = [0.0] * (n_rows + 1)
    v = [0.0] * (n_cols + 1)
    owner = [0] * (n_cols + 1)
    way = [0] * (n_cols + 1)
    for row in range(1, n_rows + 1):
        owner[0] = row
        col0 = 0
        min_v = [infinity] * (n_cols + 1)
        used = [False] * (n_cols + 1)
        while True:
            used[col0] = True
            row0, delta, col1 = owner[col0], infinity, 0
            for col in range(1, n_cols + 1):
                if not used[col]:
                    current = cost[row0 - 1][col - 1] - u[row0] - v[col]
                    if current < min_v[col]:
                        min_v[col], way[col] = current, col0
                    if min_v[col] < delta:
                        delta, col1 = min_v[col], col
            for col in range(n_cols + 1):
                if used[col]:
                    u[owner[col]] += delta
                    v[col] -= delta
                else:
                    min_v[col] -= delta
            col0 = col1
            if owner[col0] == 0:
                break
        while col0:
            col1 = way[col0]
            owner[col0] = owner[col1]
            col0 = col1
    result = [-1] * n_rows
    for col in range(1, n_cols + 1):
        if owner[col]:
            result[owner[col] - 1] = col - 1
    return result


def _disjoint_assignment(
    candidates: list[list[int]], ends: list[int], n_spans: int
) -> list[int] | None:
    """Give each node one candidate span, no span inside another's subtree, or None.

    Tries the bipartite relaxation first (which settles the common cases), then
    backtracks over the nodes with the fewest candidates first.
    """
    relaxed = _max_matching(candidates, n_spans)
    if -1 in relaxed:
        return None

    def disjoint(a: int, b: int) -> bool:
        return not (a <= b < ends[a] or b <= a < ends[b])

    if all(disjoint(a, b) for i, a in enumerate(relaxed) for b in relaxed[i + 1 :]):
        return relaxed
    order = sorted(range(len(candidates)), key=lambda i: len(candidates[i]))
    picks = [-1] * len(candidates)

    def search(depth: int) -> bool:
        if depth == len(order):
            return True
        node_index = order[depth]
        taken = [picks[i] for i in order[:depth]]
        for cand in candidates[node_index]:
            if all(disjoint(cand, other) for other in taken):
                picks[node_index] = cand
                if search(depth + 1):
                    return True
        picks[node_index] = -1
        return False

    return picks if search(0) else None


# --- the failure message ----------------------------------------------------------


class _Report:
    """Draws the actual tree marked against the chosen alignment."""

    def __init__(self, aligner: _Aligner) -> None:
        self.aligner = aligner
        forest = aligner.forest
        self.marks: list[str] = ["~"] * len(forest.spans)
        self.hints: dict[int, list[str]] = {}
        self.paths: dict[int, list[str]] = {}
        self.matched: set[int] = set()
        """The ``id`` of every node drawn against a span it matches (children aside)."""
        # (position, -depth, order, node, path, note): missing subtrees drawn before `position`.
        self.inserts: list[tuple[int, int, int, ExpectedSpan, list[str], str]] = []

    def _hint(self, expected: ExpectedSpan, steps: list[_Step], parent: int) -> str:
        """Why a missing node may be missing: it matches a span elsewhere at this place."""
        aligner, forest = self.aligner, self.aligner.forest
        paired = {step.span for step in steps if step.op == "pair"}
        low, high = aligner.span_range(parent)
        if aligner.exact:
            level: Iterable[int] = forest.roots if parent < 0 else forest.kids[parent]
        else:
            level = range(low, high)
        if aligner.ordered:
            for index in level:
                if index not in paired and aligner.perfect(expected, index) is not None:
                    return (
                        f"out of order: it matches '{_actual_line(forest.spans[index])}' "
                        "at another place; ordered=False allows any order"
                    )
        if aligner.exact:
            taken = [range(index, forest.end[index]) for index in paired]
            level_depth = 0 if parent < 0 else forest.depth[parent] + 1
            for index in range(low, high):
                deeper = forest.depth[index] > level_depth
                free = not any(index in block for block in taken)
                if deeper and free and aligner.perfect(expected, index) is not None:
                    return (
                        f"it matches '{_actual_line(forest.spans[index])}' deeper in the "
                        "tree; exact=False allows spans in between"
                    )
        return ""

    def plan(self, steps: list[_Step], parent: int, path: list[str]) -> None:
        forest = self.aligner.forest
        high = len(forest.spans) if parent < 0 else forest.end[parent]
        depth = 0 if parent < 0 else forest.depth[parent] + 1
        for position, step in enumerate(steps):
            if step.op == "missing":
                assert step.node is not None
                following = [s.span for s in steps[position + 1 :] if s.span >= 0]
                where = following[0] if following else high
                while where < len(forest.spans) and forest.depth[where] > depth:
                    where = forest.parent[where]  # exact=False: before the branch holding it
                label = _label(step.node.kind, step.node.name)
                note = self._hint(step.node, steps, parent)
                self.inserts.append(
                    (where, -depth, len(self.inserts), step.node, [*path, label], note)
                )
                continue
            index = step.span
            span = forest.spans[index]
            here = [*path, _label(span.kind, span.name)]
            if step.op == "pair":
                assert step.node is not None
                pair = self.aligner.pair(step.node, index)
                assert pair is not None
                if pair.diffs:
                    # Compare again, so matchers that show their last value show this one.
                    self.hints[index] = self.aligner.local(step.node, index)[1]
                else:
                    self.matched.add(id(step.node))
                self.marks[index] = "!" if pair.diffs else " "
                self.paths[index] = here
                self.plan(pair.steps, index, here)
            else:
                mark = "+" if step.op == "unexpected" else "~"
                for inside in range(index, forest.end[index]):
                    self.marks[inside] = mark
                self.paths[index] = here

    def render(self) -> tuple[str, list[str]]:
        forest = self.aligner.forest
        lines: list[str] = []
        first: tuple[list[str], str] | None = None
        inserts = sorted(self.inserts, key=lambda item: item[:3])
        cursor = 0
        for index in range(len(forest.spans) + 1):
            while cursor < len(inserts) and inserts[cursor][0] == index:
                _, neg_depth, _, missing, path, note = inserts[cursor]
                cursor += 1
                if first is None:
                    first = (path, f"missing span ({note})" if note else "missing span")
                for depth, item in _walk(missing, -neg_depth):
                    lines.append(f"- {'  ' * depth}{_expected_line(item)}")
                    if note and item is missing:
                        lines.append(f"? {'  ' * (depth + 1)}{note}")
            if index == len(forest.spans):
                break
            mark = self.marks[index]
            depth = forest.depth[index]
            lines.append(f"{mark} {'  ' * depth}{_actual_line(forest.spans[index])}")
            hints = self.hints.get(index, [])
            lines += [f"? {'  ' * (depth + 1)}{hint}" for hint in hints]
            if first is None and mark == "!":
                first = (self.paths[index], "; ".join(hints))
            elif first is None and mark == "+" and index in self.paths:
                first = (self.paths[index], "unexpected span")
        if first is None:  # pragma: no cover - a failed alignment always marks a line
            first = ([], "no alignment without differences")
        return f"span tree mismatch at {' > '.join(first[0])}: {first[1]}", lines


def _walk(root: ExpectedSpan, depth: int) -> Iterable[tuple[int, ExpectedSpan]]:
    stack: list[tuple[int, ExpectedSpan]] = [(depth, root)]
    while stack:
        level, item = stack.pop()
        yield level, item
        stack += [(level + 1, c) for c in reversed(item.children) if isinstance(c, ExpectedSpan)]


# --- the public assertion ---------------------------------------------------------


def _spans_of(actual: object) -> Sequence[Span]:
    __tracebackhide__ = True
    accepted = (
        "pass a list or tuple of Span, or an object with a `spans` attribute "
        "(a list of Span, or a method returning one) such as a SpanCollector "
        "or the `trace` fixture"
    )
    if isinstance(actual, Span):
        raise TypeError(f"assert_span_tree() got a single Span; {accepted}, e.g. [span]")
    source = "actual"
    spans: object = actual
    if not isinstance(actual, list | tuple):
        if not hasattr(actual, "spans"):
            raise TypeError(
                f"assert_span_tree() cannot read spans from {type(actual).__name__}; {accepted}"
            )
        spans = getattr(actual, "spans")  # noqa: B009 - hasattr above, any object
        source = f"{type(actual).__name__}.spans"
        if callable(spans):
            spans = spans()
            source += "()"
        if not isinstance(spans, list | tuple):
            raise TypeError(
                f"assert_span_tree(): {source} gave {type(spans).__name__}, not a list of Span; "
                f"{accepted}"
            )
    for position, item in enumerate(cast("Sequence[object]", spans)):
        if not isinstance(item, Span):
            raise TypeError(
                f"assert_span_tree(): item {position} of {source} is "
                f"{type(item).__name__}, not a Span; {accepted}"
            )
    return cast("Sequence[Span]", spans)


def _expected_roots(expected: object) -> _Expected:
    __tracebackhide__ = True
    if isinstance(expected, str):
        return _parse_text(expected, strict=False)
    if isinstance(expected, ExpectedSpan) or expected is Ellipsis:
        return _Expected([expected], {}, [])
    if isinstance(expected, list | tuple):
        for position, item in enumerate(expected):
            if not isinstance(item, ExpectedSpan) and item is not Ellipsis:
                raise TypeError(
                    f"assert_span_tree(): expected root {position} must be node(...) or ..., "
                    f"got {type(item).__name__} {item!r}"
                )
        return _Expected(list(expected), {}, [])
    raise TypeError(
        "assert_span_tree(): expected must be tree text (str), a node(...), or a list of "
        f"node(...) roots, got {type(expected).__name__}"
    )


def assert_span_tree(
    actual: object,
    expected: str | ExpectedSpan | EllipsisType | Sequence[ExpectedSpan | EllipsisType],
    *,
    ordered: bool = True,
    exact: bool = True,
) -> None:
    """Assert that the span tree of a trace matches ``expected``.

    The tree is the one ``format_summary`` draws: root spans (no parent) and,
    under each span, the spans whose ``parent_id`` is its ``span_id``, in
    completion order. Spans whose parent is not among the spans are not part
    of it.

    Args:
        actual: The spans: a list or tuple of :class:`Span`, or an object with
            a ``spans`` attribute that is such a list or a method returning one
            (a ``SpanCollector``, the ``trace`` fixture).
        expected: Tree text in the layout of ``format_summary`` (see
            :func:`parse_tree_text`), a :func:`node`, or a list of root nodes
            (``...`` allowed among them).
        ordered: ``False`` lets siblings match in any order.
        exact: ``False`` allows extra spans anywhere: an expected child may match
            any descendant of its parent's span, an expected root any span.

    Raises:
        AssertionError: when the tree does not match; the message names the
            first difference and draws the actual tree marked against the
            expectation. A duration that differs while ``actual`` says its
            durations came from the real clock (a true ``real_clock`` or
            ``used_real_clock``) is flagged as such.
        TypeError: for arguments of the wrong type.
        ValueError: for malformed tree text. A line that only looks malformed
            (no duration, and bad metadata JSON or unbalanced parentheses) may
            still be a span's name as ``format_summary`` draws it: it is an
            error only when the tree fails to match and no span matched that
            line as written.
    """
    __tracebackhide__ = True
    flags: tuple[object, object] = (ordered, exact)  # checked: callers may be untyped
    if not all(isinstance(flag, bool) for flag in flags):
        raise TypeError(
            "assert_span_tree(): ordered and exact must be True or False, got "
            f"ordered={ordered!r}, exact={exact!r}"
        )
    spans = _spans_of(actual)
    try:
        roots, readings, doubts = _expected_roots(expected)
    except ValueError as malformed:
        # Malformed text: the traceback starts here, not deep in the parser.
        raise malformed.with_traceback(None) from None
    real_clock = any(getattr(actual, flag, False) is True for flag in _REAL_CLOCK_FLAGS)
    failure = _mismatch(spans, roots, ordered, exact, readings, real_clock)
    if failure is not None:
        message, matched = failure
        for done, doubt in doubts:
            if id(done) not in matched:  # no span spells the doubtful line: it is a mistake
                raise doubt
        raise AssertionError(message)


_REAL_CLOCK_FLAGS: Final = ("real_clock", "used_real_clock")
"""True when the durations came from the real clock (``TraceCapture``, ``SpanCollector``)."""


def _mismatch(
    spans: Sequence[Span],
    roots: list[ExpectedSpan | EllipsisType],
    ordered: bool,
    exact: bool,
    readings: Mapping[int, tuple[ExpectedSpan, ...]],
    real_clock: bool,
) -> tuple[str, set[int]] | None:
    """Return the failure message and the matched nodes' ids, or None when the tree matches."""
    forest = _Forest(spans)
    aligner = _Aligner(
        forest, roots, ordered=ordered, exact=exact, readings=readings, real_clock=real_clock
    )
    # The search recurses a few frames per level of the expected tree: make room
    # for deep expectations (a chain of hundreds of nodes), then put the limit back.
    depth = max(
        (level for root in roots if root is not Ellipsis for level, _ in _walk(root, 1)), default=0
    )
    limit = sys.getrecursionlimit()
    frame: types.FrameType | None = sys._getframe()
    frames = 0
    while frame is not None:
        frames, frame = frames + 1, frame.f_back
    needed = frames + 8 * depth + 200
    if needed > limit:
        sys.setrecursionlimit(needed)
    try:
        cost, steps = aligner.align(roots, -1)
        if cost <= 0:
            return None
        report = _Report(aligner)
        report.plan(steps, -1, [])
        headline, lines = report.render()
    finally:
        if needed > limit:
            sys.setrecursionlimit(limit)
    mode = [] if ordered else ["ordered=False"]
    mode += [] if exact else ["exact=False"]
    legend = (
        "Actual span tree against the expected one "
        "('!' mismatch, '-' missing, '+' unexpected, '~' extra span allowed"
        + (f"; {', '.join(mode)}" if mode else "")
        + "):"
    )
    out = [headline, "", legend, *lines]
    if not forest.spans:
        out.append("  (no spans recorded)")
    if forest.undrawn:
        out.append(f"  ({forest.undrawn} span(s) not drawn: their parent is not among the spans)")
    return "\n".join(out), report.matched

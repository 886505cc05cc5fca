"""Aligning an expected span tree with a trace, sibling by sibling.

How the search works: first a yes/no pass, memoized per (expected node,
actual span), with fast exact algorithms: greedy glob matching for ordered
siblings (``...`` as the star), bipartite matching for ``ordered=False``, and
an earliest-ending embedding into the descendants for ``exact=False``. With
both ``ordered=False`` and ``exact=False`` (unordered tree inclusion,
NP-complete in general) it backtracks, but only after a bipartite relaxation
found a matching whose spans nest. A passing assertion runs only that pass.
On failure, a second pass scores every candidate pairing by the differences in
it and below it, aligns siblings by dynamic programming (or an assignment), and
the report (:mod:`pytest_harn_trace.assertions.tree_report`) draws the cheapest alignment.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import EllipsisType
from typing import NamedTuple, TypeVar, overload

from pytest_harn_trace.assertions.assignment import (
    disjoint_assignment,
    hungarian,
    lazy_max_matching,
    max_matching,
)
from pytest_harn_trace.assertions.expected import ExpectedSpan
from pytest_harn_trace.assertions.matching import (
    expected_key,
    local_diffs,
    local_ok,
    match_value,
    plain_key,
    span_key,
    unplain,
    value_key,
)
from pytest_harn_trace.tracing.model import Span

__all__ = ["Aligner", "Forest", "Pair", "Pattern", "Step"]


class Forest:
    """The drawn tree of a trace, flattened in pre-order (the lines of ``format_summary``)."""

    __slots__ = ("depth", "end", "kids", "parent", "roots", "spans")

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
        on_path: set[int] = set()  # the span ids they descend from
        descended: list[bool] = []  # per entry of `path`: whether it added its id
        while stack:
            span, depth, parent = stack.pop()
            while len(path) > depth:
                closed = path.pop()
                self.end[closed] = len(self.spans)
                if descended.pop():
                    on_path.discard(self.spans[closed].span_id)
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
            if span.span_id in on_path:
                descended.append(False)
                continue
            descended.append(True)
            on_path.add(span.span_id)
            for child in reversed(by_parent.get(span.span_id, ())):
                stack.append((child, depth + 1, index))
        for closed in path:
            self.end[closed] = len(self.spans)


class Step(NamedTuple):
    """One entry of a sibling alignment."""

    op: str
    """``pair``, ``missing`` (expected only), ``unexpected`` or ``extra`` (actual only)."""
    node: ExpectedSpan | None
    span: int
    """The actual span's flat index, or -1."""


@dataclass(slots=True)
class Pair:
    """An expected node drawn as one actual span: its cost, differences and children's alignment."""

    cost: int
    diffs: list[str]
    steps: list[Step]


Pattern = Sequence[ExpectedSpan | EllipsisType]

_T = TypeVar("_T")
_MAX_LEVELS = 40
"""How many levels of the trees one stretch of the search recurses through."""


_INDEXED = True
"""Private switch: False runs the general algorithm (every node against every candidate).

The tests that pin the fast paths against the general one turn it off.
"""
_COMPARISON_BUDGET = 3_000_000
"""How many node-span comparisons one ``ordered=False`` sibling group may take (see
:meth:`Aligner.matching`); a few seconds of work. Past it the search stops and says so."""
_ASSIGNMENT_LIMIT = 10_000
"""The most (unmatched nodes x unmatched spans) of one sibling group drawn with the optimal
assignment (Hungarian method, cubic); beyond it, each node takes the first free span of its
kind and name."""
_ALIGNMENT_CELLS = 250_000
"""The most (expected x actual) siblings aligned in order by the full table (quadratic);
beyond it, anchored on the spans that match in full (:meth:`Aligner._anchored_ordered`)."""
_ANCHOR_WINDOW = 1_000
"""How far past the last anchor a node looks for a span to anchor on."""
_UNKNOWN: object = object()
"""Not in the memo yet."""
_MAX_SHAPES = 8
"""How many different sets of plain metadata keys one sibling group indexes by."""


class _Shifted(Sequence[int]):
    """``[value - offset for value in values[offset:]]``, read without copying."""

    __slots__ = ("offset", "values")

    def __init__(self, values: list[int], offset: int) -> None:
        self.values = values
        self.offset = offset

    def __len__(self) -> int:
        return len(self.values) - self.offset

    @overload
    def __getitem__(self, position: int) -> int: ...
    @overload
    def __getitem__(self, position: slice) -> Sequence[int]: ...
    def __getitem__(self, position: int | slice) -> int | Sequence[int]:
        if isinstance(position, slice):
            raise TypeError("_Shifted reads single items")
        return self.values[self.offset + position] - self.offset


class _Deeper(Exception):
    """A call of the search that would nest too deep: compute it first, from the top."""

    def __init__(
        self, method: Callable[[ExpectedSpan, int], object], expected: ExpectedSpan, index: int
    ) -> None:
        super().__init__()
        self.call = (method, expected, index)


class Aligner:
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
        forest: Forest,
        roots: Pattern,
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
        self.pairs: dict[tuple[int, int], Pair | None] = {}
        self.perfects: dict[tuple[int, int], list[Step] | None] = {}
        self.level = 0
        """How many :meth:`perfect` / :meth:`pair` calls are open (see :meth:`settle`)."""
        self.matchings: dict[tuple[int, int], list[int]] = {}
        """:meth:`matching`'s answers, by the ids of the nodes' pattern and of the spans' list."""
        self.notes: list[str] = []
        """What the search had to cut short, for the failure message to say."""
        self._by_name: tuple[dict[object, list[int]], list[int]] | None = None
        self.verified: list[ExpectedSpan | None] = []
        """Per node of the last :meth:`pools`: the one reading whose key all its pool's spans
        have (no other reading's key), or None."""
        self.rests: dict[int, ExpectedSpan] = {}
        """Per node (by id), what :func:`unplain` leaves of it."""
        self.weight = sum(self.size(item) for item in roots if item is not Ellipsis) + 1

    def size(self, expected: ExpectedSpan) -> int:
        """The number of nodes in ``expected``'s subtree (counted without recursion)."""
        sizes = self.sizes
        size = sizes.get(id(expected))
        if size is not None:
            return size
        # Post-order over the nodes not counted yet: a node is counted once its children are.
        stack: list[tuple[ExpectedSpan, bool]] = [(expected, False)]
        while stack:
            item, children_done = stack.pop()
            if id(item) in sizes:
                continue
            children = [c for c in item.children if isinstance(c, ExpectedSpan)]
            if children_done:
                sizes[id(item)] = 1 + sum(sizes[id(c)] for c in children)
            else:
                stack.append((item, True))
                stack += [(c, False) for c in children if id(c) not in sizes]
        return sizes[id(expected)]

    def settle(self, compute: Callable[..., _T], *args: object) -> _T:
        """Return ``compute(*args)``, however deep the trees: the search never nests too far.

        :meth:`perfect` and :meth:`pair` recurse a level of the trees at a time.
        A call that would descend past :data:`_MAX_LEVELS` open calls is thrown
        back here (``_Deeper``) and computed first, from the top; its result is
        memoized, so the calls above it find it when they run again. Each pair
        is still computed once (the calls interrupted on the way redo only
        their memoized steps), and the recursion stays a few frames deep.
        """
        if self.level:
            return compute(*args)
        deferred: list[tuple[Callable[[ExpectedSpan, int], object], ExpectedSpan, int]] = []
        while True:
            self.level = 1
            try:
                if not deferred:
                    return compute(*args)
                method, expected, index = deferred[-1]
                method(expected, index)
                deferred.pop()
            except _Deeper as deeper:
                deferred.append(deeper.call)
            finally:
                self.level = 0

    def local(self, expected: ExpectedSpan, index: int) -> tuple[bool, list[str]]:
        """Compare a node with a span, children aside (see :func:`local_diffs`).

        A node read from a line that reads several ways matches when any
        reading does; otherwise it is compared as its first reading.
        """
        span = self.forest.spans[index]
        options = {"need_name": not self.exact, "real_clock": self.real_clock}
        pairable, diffs = local_diffs(expected, span, **options)
        if diffs or not pairable:
            for reading in self.readings.get(id(expected), ()):
                other_pairable, other_diffs = local_diffs(reading, span, **options)
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
        if match_value(expected.name, self.forest.spans[index].name)[0]:
            return 0
        return self.weight + 1

    def missing_cost(self, expected: ExpectedSpan) -> int:
        """The cost of leaving ``expected`` and its subtree unmatched."""
        return self.size(expected) * self.weight

    def unexpected_cost(self, index: int) -> int:
        """The cost of a span, and its subtree, that nothing expects."""
        return (self.forest.end[index] - index) * self.weight

    def span_range(self, parent: int) -> tuple[int, int]:
        """The flat indices of the descendants of ``parent`` (-1: every span)."""
        if parent < 0:
            return 0, len(self.forest.spans)
        return parent + 1, self.forest.end[parent]

    # -- candidates: index by what must match exactly -------------------------------

    def fits(self, expected: ExpectedSpan, index: int) -> bool:
        """Whether ``expected`` matches span ``index`` in full: :meth:`perfect`, cheaper on a no.

        A pair that differs on the span itself is rejected without remembering
        it (no message built, no memo entry), which is what most of the pairs
        an ``ordered=False`` search tries do.
        """
        steps = self.perfects.get((id(expected), index), _UNKNOWN)
        if steps is not _UNKNOWN:
            return steps is not None
        return self.local_ok(expected, index) and self.perfect(expected, index) is not None

    def fits_rest(self, expected: ExpectedSpan, reading: ExpectedSpan, index: int) -> bool:
        """:meth:`fits` for a span that has the key of ``reading`` and of no other reading.

        As :meth:`pools` found it (``verified``): only ``reading`` can match the
        span, and only what its key leaves out is compared.
        """
        steps = self.perfects.get((id(expected), index), _UNKNOWN)
        if steps is not _UNKNOWN:
            return steps is not None
        rest = self.rests.get(id(reading))
        if rest is None:
            rest = self.rests[id(reading)] = unplain(reading)
        return (
            local_ok(rest, self.forest.spans[index]) and self.perfect(expected, index) is not None
        )

    def local_ok(self, expected: ExpectedSpan, index: int) -> bool:
        """Whether :meth:`local` finds no difference: ``expected`` or a reading of it matches."""
        span = self.forest.spans[index]
        return local_ok(expected, span) or any(
            local_ok(reading, span) for reading in self.readings.get(id(expected), ())
        )

    def pools(self, nodes: Sequence[ExpectedSpan], spans: Sequence[int]) -> list[list[int]]:
        """Per node, the positions in ``spans`` (ascending) of the spans it may match in full.

        Looked up by what must be equal for a match (see
        :func:`~pytest_harn_trace.assertions.matching.expected_key`): the kind, the
        name and the plain metadata values. A node whose kind or name is a matcher
        may match any span. Nodes with equal keys share one list.
        """
        everything = list(range(len(spans)))
        if not _INDEXED:
            return [everything] * len(nodes)
        keyed: list[list[tuple[tuple[object, ...], tuple[object, ...]]] | None] = []
        shapes: dict[tuple[object, ...], int] = {}
        for item in nodes:
            found: list[tuple[tuple[object, ...], tuple[object, ...]]] | None = []
            for reading in (item, *self.readings.get(id(item), ())):
                key = expected_key(reading)
                if key is None or found is None:
                    found = None
                    break
                found.append(key)
                shapes[key[0]] = shapes.get(key[0], 0) + 1
            keyed.append(found)
        # Each set of metadata keys costs a pass over the spans: index by the commonest few.
        allowed = set(sorted(shapes, key=shapes.__getitem__, reverse=True)[:_MAX_SHAPES])
        allowed.add(())
        indexes: dict[tuple[object, ...], tuple[dict[tuple[object, ...], list[int]], list[int]]]
        indexes = {}
        buckets: dict[tuple[tuple[object, ...], tuple[object, ...]], list[int]] = {}

        def bucket(keys: tuple[object, ...], values: tuple[object, ...]) -> list[int]:
            if (keys, values) in buckets:
                return buckets[keys, values]
            if keys not in indexes:
                index: dict[tuple[object, ...], list[int]] = {}
                wild: list[int] = []  # spans with a value of their own kind: may match any key
                for position, flat in enumerate(spans):
                    span_values = span_key(self.forest.spans[flat], keys)
                    if span_values is None:
                        wild.append(position)
                    else:
                        index.setdefault(span_values, []).append(position)
                indexes[keys] = index, wild
            index, wild = indexes[keys]
            found = index.get(values, [])
            if wild:
                found = sorted(found + wild)
            buckets[keys, values] = found
            return found

        pools = []
        self.verified = []
        for item, found in zip(nodes, keyed, strict=True):
            if found is None:
                pools.append(everything)
                self.verified.append(None)
                continue
            parts = [
                bucket(keys, values) if keys in allowed else bucket((), values[:2])
                for keys, values in found
            ]
            filled = [position for position, part in enumerate(parts) if part]
            if len(filled) > 1:
                pools.append(sorted(set().union(*parts)))
                self.verified.append(None)
                continue
            # One reading (or none) has spans with its key: only that reading can match them.
            at = filled[0] if filled else 0
            pools.append(parts[at])
            keys = found[at][0]
            verified = keys in allowed and not indexes[keys][1]
            readings = (item, *self.readings.get(id(item), ()))
            self.verified.append(readings[at] if verified else None)
        return pools

    def matching(
        self, pattern: Pattern, nodes: Sequence[ExpectedSpan], cands: list[int]
    ) -> list[int]:
        """The maximum matching of ``nodes`` to ``cands`` (positions in it, or -1) by full match.

        The matching :func:`max_matching` finds over every pair, found by
        looking up each node's candidates (:meth:`pools`) and asking only
        those (:func:`lazy_max_matching`). Remembered per pattern and level,
        for the second pass.
        """
        key = (id(pattern), id(cands))
        if key in self.matchings:
            return self.matchings[key]
        if not _INDEXED:
            adjacency = [
                [k for k, index in enumerate(cands) if self.perfect(item, index) is not None]
                for item in nodes
            ]
            assigned = max_matching(adjacency, len(cands))
        else:
            pools = self.pools(nodes, cands)
            verified = self.verified

            def fits(left: int, right: int) -> bool:
                reading = verified[left]
                if reading is not None:
                    return self.fits_rest(nodes[left], reading, cands[right])
                return self.fits(nodes[left], cands[right])

            assigned, cut = lazy_max_matching(pools, fits, len(cands), _COMPARISON_BUDGET)
            if cut:
                self.notes.append(
                    f"ordered=False: stopped after {_COMPARISON_BUDGET:,} comparisons of "
                    f"{len(nodes):,} expected spans with {len(cands):,} spans at one level, "
                    "which their kind, name and plain metadata values do not tell apart; "
                    "the spans not compared yet count as not matching. Give the values "
                    "that tell them apart as plain values rather than matchers, or use "
                    "ordered=True"
                )
        self.matchings[key] = assigned
        return assigned

    def near(self, expected: ExpectedSpan, low: int, high: int) -> Sequence[int]:
        """The spans in ``low..high-1`` that may pair with ``expected`` with ``exact=False``.

        Those of its name (ascending): with ``exact=False`` a span pairs with a
        node only if the name matches. All of them when a name is a matcher.
        """
        if not _INDEXED:
            return range(low, high)
        keys = [plain_key(expected.name)]
        keys += [plain_key(reading.name) for reading in self.readings.get(id(expected), ())]
        if None in keys:
            return range(low, high)
        if self._by_name is None:
            by_name: dict[object, list[int]] = {}
            wild: list[int] = []  # names with an __eq__ of their own
            for index, span in enumerate(self.forest.spans):
                key = value_key(span.name)
                if key is None:
                    wild.append(index)
                else:
                    by_name.setdefault(key, []).append(index)
            self._by_name = by_name, wild
        by_name, wild = self._by_name
        parts = [
            found[bisect.bisect_left(found, low) : bisect.bisect_left(found, high)]
            for found in [*(by_name.get(key, []) for key in dict.fromkeys(keys)), wild]
        ]
        parts = [part for part in parts if part]
        if len(parts) <= 1:
            return parts[0] if parts else []
        return list(heapq.merge(*parts))

    # -- pass 1: does it match? ---------------------------------------------------

    def perfect(self, expected: ExpectedSpan, index: int) -> list[Step] | None:
        """The children's alignment when ``expected`` matches span ``index`` in full, else None."""
        key = (id(expected), index)
        if key in self.perfects:
            return self.perfects[key]
        if not self.level:
            return self.settle(self.perfect, expected, index)
        self.level += 1
        try:
            steps = None
            if self.local_ok(expected, index):
                if self.level > _MAX_LEVELS:
                    raise _Deeper(self.perfect, expected, index)
                steps = self.perfect_children(expected.children, index)
        finally:
            self.level -= 1
        self.perfects[key] = steps
        return steps

    def perfect_children(self, pattern: Pattern, parent: int) -> list[Step] | None:
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
        ends = _Shifted(self.forest.end, low)
        candidates = [
            [pos - low for pos in self.near(item, low, high) if self.fits(item, pos)]
            for item in nodes
        ]
        chosen = disjoint_assignment(candidates, ends, high - low)
        if chosen is None:
            return None
        return sorted(
            (Step("pair", item, low + p) for item, p in zip(nodes, chosen, strict=True)),
            key=lambda step: step.span,
        )

    def _glob(self, pattern: Pattern, cands: list[int]) -> list[Step] | None:
        """Wildcard matching, ``...`` as the star: greedy, back to the last star on failure."""
        i = k = 0
        star_i, star_k = -1, 0
        taken: list[Step] = []
        mark = 0
        while k < len(cands):
            item = pattern[i] if i < len(pattern) else None
            if isinstance(item, ExpectedSpan) and self.perfect(item, cands[k]) is not None:
                taken.append(Step("pair", item, cands[k]))
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
        steps += [Step("extra", None, index) for index in cands if index not in paired]
        return sorted(steps, key=lambda step: step.span)

    def _perfect_assignment(self, pattern: Pattern, cands: list[int]) -> list[Step] | None:
        nodes = [item for item in pattern if isinstance(item, ExpectedSpan)]
        extra_ok = len(nodes) < len(pattern)
        if len(nodes) > len(cands) or (not extra_ok and len(nodes) != len(cands)):
            return None
        if all(
            self.perfect(item, index) is not None for item, index in zip(nodes, cands, strict=False)
        ):
            assigned = list(range(len(nodes)))  # already in order
        else:
            assigned = self.matching(pattern, nodes, cands)
            if -1 in assigned:
                return None
        owner = {k: item for item, k in zip(nodes, assigned, strict=True)}
        return [
            Step("pair", owner[k], index) if k in owner else Step("extra", None, index)
            for k, index in enumerate(cands)
        ]

    def _earliest_embedding(
        self, nodes: list[ExpectedSpan], low: int, high: int
    ) -> list[Step] | None:
        """Each node in turn on the matching span whose subtree ends first: optimal."""
        end = self.forest.end
        steps = []
        cursor = low
        for item in nodes:
            best = -1
            # Only spans of its name can match: walk those (all spans, for a matcher).
            for pos in self.near(item, cursor, high):
                if best >= 0 and pos >= end[best]:
                    break
                if (best < 0 or end[pos] < end[best]) and self.fits(item, pos):
                    best = pos
            if best < 0:
                return None
            steps.append(Step("pair", item, best))
            cursor = end[best]
        return steps

    # -- pass 2: the cheapest alignment, to draw -----------------------------------

    def pair(self, expected: ExpectedSpan, index: int) -> Pair | None:
        """Score ``expected`` drawn as the actual span at ``index``; None if unrelated."""
        key = (id(expected), index)
        if key in self.pairs:
            return self.pairs[key]
        if not self.level:
            return self.settle(self.pair, expected, index)
        self.level += 1
        try:
            result = None
            steps = self.perfect(expected, index)
            if steps is not None:
                result = Pair(-self.size(expected), [], steps)
            else:
                pairable, diffs = self.local(expected, index)
                if pairable:
                    if self.level > _MAX_LEVELS:
                        raise _Deeper(self.pair, expected, index)
                    cost, steps = self.align(expected.children, index)
                    cost += len(diffs) * self.weight - (0 if diffs else 1)
                    result = Pair(cost, diffs, steps)
        finally:
            self.level -= 1
        self.pairs[key] = result
        return result

    def align(self, pattern: Pattern, parent: int) -> tuple[int, list[Step]]:
        """Align ``pattern`` with the children of ``parent`` (-1: the roots)."""
        if not self.level:
            return self.settle(self.align, pattern, parent)
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

    def _exact_ordered(self, pattern: Pattern, cands: list[int]) -> tuple[int, list[Step]]:
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
        if (
            _INDEXED
            and n_pat * n_act > _ALIGNMENT_CELLS
            and not any(item is Ellipsis for item in pattern)
        ):
            return self._anchored_ordered(
                [item for item in pattern if isinstance(item, ExpectedSpan)], cands
            )
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
                steps.append(Step("pair", at, cands[k]))
                i, k = i + 1, k + 1
            elif op == "missing":
                assert isinstance(at, ExpectedSpan)
                steps.append(Step("missing", at, -1))
                i += 1
            elif op == "skip":
                i += 1
            else:  # extra, unexpected
                steps.append(Step(op, None, cands[k]))
                k += 1
        return best[0][0], steps

    def _anchored_ordered(
        self, nodes: list[ExpectedSpan], cands: list[int]
    ) -> tuple[int, list[Step]]:
        """Too many pairs for :meth:`_exact_ordered`'s table: align between anchors instead.

        Each node in turn anchors on the first span after the last anchor (at
        most :data:`_ANCHOR_WINDOW` further) that it matches in full; the spans
        between two anchors are aligned on their own. Without any anchor, the
        nodes are drawn against the spans position by position. Notes that the
        alignment was cut short.
        """
        if not any("closest alignment" in note for note in self.notes):
            self.notes.append(
                f"ordered: {len(nodes):,} expected spans and {len(cands):,} spans at one level "
                "differ in too many places to find the closest alignment; the spans that match "
                "in full anchor it, and what lies between them is aligned on its own"
            )
        pools = self.pools(nodes, cands)
        anchors: list[tuple[int, int]] = []
        after = 0  # the first span an anchor may take
        for i, (item, pool) in enumerate(zip(nodes, pools, strict=True)):
            for k in pool[bisect.bisect_left(pool, after) :]:
                if k - after > _ANCHOR_WINDOW:
                    break
                if self.fits(item, cands[k]):
                    anchors.append((i, k))
                    after = k + 1
                    break
        if not anchors:
            return self._positional(nodes, cands)
        total, steps = 0, []
        last_i = last_k = 0
        for i, k in [*anchors, (len(nodes), len(cands))]:
            if i > last_i or k > last_k:
                cost, between = self._exact_ordered(nodes[last_i:i], cands[last_k:k])
                total += cost
                steps += between
            if i < len(nodes):
                total -= self.size(nodes[i])
                steps.append(Step("pair", nodes[i], cands[k]))
            last_i, last_k = i + 1, k + 1
        return total, steps

    def _positional(self, nodes: list[ExpectedSpan], cands: list[int]) -> tuple[int, list[Step]]:
        """Each node against the span at its position, when that costs less than not pairing."""
        total, steps = 0, []
        for item, index in zip(nodes, cands, strict=False):
            missing, unexpected = self.missing_cost(item), self.unexpected_cost(index)
            pair = self.pair(item, index)
            if pair is not None and pair.cost <= missing + unexpected:
                total += pair.cost
                steps.append(Step("pair", item, index))
            else:
                total += missing + unexpected
                steps += [Step("missing", item, -1), Step("unexpected", None, index)]
        for item in nodes[len(cands) :]:
            total += self.missing_cost(item)
            steps.append(Step("missing", item, -1))
        for index in cands[len(nodes) :]:
            total += self.unexpected_cost(index)
            steps.append(Step("unexpected", None, index))
        return total, steps

    @staticmethod
    def _pair_step(item: ExpectedSpan | EllipsisType, index: int) -> Step:
        assert isinstance(item, ExpectedSpan)
        return Step("pair", item, index)

    def _perfect_at(self, item: ExpectedSpan | EllipsisType, index: int) -> bool:
        return isinstance(item, ExpectedSpan) and self.perfect(item, index) is not None

    def _exact_unordered(self, pattern: Pattern, cands: list[int]) -> tuple[int, list[Step]]:
        """Perfect pairs by maximum matching, then the cheapest assignment of the rest."""
        nodes = [item for item in pattern if isinstance(item, ExpectedSpan)]
        extra_ok = len(nodes) < len(pattern)
        assigned = list(self.matching(pattern, nodes, cands))
        total = -sum(self.size(item) for item, k in zip(nodes, assigned, strict=True) if k >= 0)
        rest_nodes = [i for i, k in enumerate(assigned) if k < 0]
        used = set(assigned)
        rest_cands = [k for k in range(len(cands)) if k not in used]
        spare = {k: 0 if extra_ok else self.unexpected_cost(cands[k]) for k in rest_cands}
        total += sum(spare.values())
        if rest_nodes and _INDEXED and len(rest_nodes) * len(rest_cands) > _ASSIGNMENT_LIMIT:
            total += self._quick_assignment(nodes, cands, rest_nodes, rest_cands, spare, assigned)
        elif rest_nodes:
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
            for i, column in zip(rest_nodes, hungarian(matrix), strict=True):
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
                steps.append(Step("pair", nodes[owner[k]], index))
            else:
                steps.append(Step("extra" if extra_ok else "unexpected", None, index))
        steps += [Step("missing", nodes[i], -1) for i, k in enumerate(assigned) if k < 0]
        return total, steps

    def _quick_assignment(
        self,
        nodes: list[ExpectedSpan],
        cands: list[int],
        rest_nodes: list[int],
        rest_cands: list[int],
        spare: dict[int, int],
        assigned: list[int],
    ) -> int:
        """Too many leftovers for the Hungarian method: each takes the first free span of its name.

        Fills ``assigned`` and returns the cost; notes that the drawing was cut short.
        """
        spans = self.forest.spans
        by_name: dict[object, list[int]] = {}
        wild: list[int] = []
        for k in rest_cands:
            name = value_key(spans[cands[k]].name)
            if name is None:
                wild.append(k)
            else:
                by_name.setdefault(name, []).append(k)
        taken: set[int] = set()
        heads: dict[int, int] = {}
        total = 0
        for i in rest_nodes:
            missing = self.missing_cost(nodes[i])
            name = plain_key(nodes[i].name)
            pool = rest_cands if name is None else by_name.get(name, [])
            head = heads.get(id(pool), 0)
            while head < len(pool) and pool[head] in taken:
                head += 1
            heads[id(pool)] = head
            cost = missing
            for k in [*pool[head:], *wild]:
                if k in taken:
                    continue
                pair = self.pair(nodes[i], cands[k])
                if pair is not None:
                    paired = pair.cost + self.other_name(nodes[i], cands[k])
                    if paired <= missing + spare[k]:
                        assigned[i] = k
                        taken.add(k)
                        cost = paired - spare[k]
                        break
            total += cost
        self.notes.append(
            f"ordered=False: {len(rest_nodes):,} expected spans and {len(rest_cands):,} spans "
            "at one level match nothing in full, too many to find the closest pairing; each "
            "expected span is drawn against the first free span of its name"
        )
        return total

    def _loose_ordered(
        self, nodes: list[ExpectedSpan], low: int, high: int
    ) -> tuple[int, list[Step]]:
        """The cheapest embedding of ``nodes``, in order, into the spans ``low..high-1``.

        ``best[i][j]``: the cheapest embedding of ``nodes[i:]`` into the spans
        from ``places[j]`` on. The table is kept only where a span may pair
        with a node (:meth:`near`) and at ``high``: between two such places it
        does not change (a span nothing can pair with is always skipped:
        looking further never costs more than giving up there). The general
        algorithm (``_INDEXED`` off) keeps it at every span.
        """
        end = self.forest.end
        near = [self.near(item, low, high) for item in nodes]
        places = sorted({pos for found in near for pos in found})
        places.append(high)
        at = {pos: j for j, pos in enumerate(places)}

        def place(pos: int) -> int:  # the first kept place at or after pos
            return at[pos] if pos in at else bisect.bisect_left(places, pos)

        width = len(places)
        best = [[0] * width for _ in range(len(nodes) + 1)]
        choice = [[""] * width for _ in range(len(nodes) + 1)]
        for i in range(len(nodes) - 1, -1, -1):
            missing = self.missing_cost(nodes[i])
            own = set(near[i])
            row, below = best[i], best[i + 1]
            for j in range(width - 1, -1, -1):
                pos = places[j]
                # Ties go to the first option: pair, then look further, then give up.
                options = []
                if pos < high:
                    if pos in own:
                        pair = self.pair(nodes[i], pos)
                        if pair is not None:
                            options.append((pair.cost + below[place(end[pos])], "pair"))
                    options.append((row[j + 1], "skip"))
                options.append((missing + below[j], "missing"))
                row[j], choice[i][j] = min(options, key=lambda option: option[0])
        steps = []
        i, j = 0, place(low)
        while i < len(nodes):
            op = choice[i][j]
            if op == "pair":
                steps.append(Step("pair", nodes[i], places[j]))
                j = place(end[places[j]])
                i += 1
            elif op == "missing":
                steps.append(Step("missing", nodes[i], -1))
                i += 1
            else:
                j += 1
        return best[0][place(low)], steps

    def _loose_unordered(
        self, nodes: list[ExpectedSpan], low: int, high: int
    ) -> tuple[int, list[Step]]:
        """No perfect embedding exists: greedily give each node its cheapest free span."""
        end = self.forest.end
        taken: list[int] = []  # the picked spans, ascending: their subtrees are disjoint

        def blocked(pos: int) -> bool:  # inside a picked subtree, or above a picked span
            after = bisect.bisect_right(taken, pos)
            inside = after > 0 and pos < end[taken[after - 1]]
            return inside or (after < len(taken) and taken[after] < end[pos])

        total, picks = 0, []
        for item in nodes:
            best_pos, best_cost = -1, self.missing_cost(item)
            for pos in self.near(item, low, high):
                if not blocked(pos):
                    pair = self.pair(item, pos)
                    if pair is not None and pair.cost < best_cost:
                        best_pos, best_cost = pos, pair.cost
            total += best_cost
            picks.append(best_pos)
            if best_pos >= 0:
                bisect.insort(taken, best_pos)
        steps = sorted(
            (Step("pair", item, pos) for item, pos in zip(nodes, picks, strict=True) if pos >= 0),
            key=lambda step: step.span,
        )
        steps += [
            Step("missing", item, -1) for item, pos in zip(nodes, picks, strict=True) if pos < 0
        ]
        return total, steps

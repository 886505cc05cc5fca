"""The failure report of a span tree mismatch: the actual tree, marked line by line.

Each line of the trace is drawn as ``format_summary`` draws it, marked against
the alignment :class:`~pytest_harn_trace.assertions.alignment.Aligner` chose: ``!`` a
mismatch (with ``?`` lines saying what differs), ``-`` a missing expected span,
``+`` an unexpected span, ``~`` an extra span the expectation allows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Final, TypeAlias

from pytest_harn_trace.assertions.alignment import Aligner, Step
from pytest_harn_trace.assertions.expected import ExpectedSpan
from pytest_harn_trace.assertions.matching import match_value, show
from pytest_harn_trace.assertions.mismatch import Mark, MarkedLine
from pytest_harn_trace.tracing.model import Span, SpanKind

__all__ = [
    "Report",
    "actual_line",
    "collapse_runs",
    "expected_line",
    "metadata_text",
    "span_label",
    "walk",
]


METADATA_WIDTH: Final = 100
"""How many characters of metadata a drawn span line shows before it cuts the rest to a count."""


def actual_line(span: Span, named: Collection[str] = (), width: int | None = None) -> str:
    """The span's ``format_summary`` line, without indent.

    With a ``width``, metadata longer than that shows the ``named`` keys (those
    the expectation names) and then as many others as fit, in key order,
    followed by ``… N more keys``: a captured GenAI span's dozens of attributes
    would otherwise fill the line. The summary and the HTML page keep them all.
    """
    kind = getattr(span.kind, "value", span.kind)
    text = f"{kind} {span.name} {span.duration_ms}ms"
    if not span.metadata:
        return text
    return f"{text} ({metadata_text(span.metadata, named, width)})"


def metadata_text(
    metadata: Mapping[str, object], named: Collection[str] = (), width: int | None = None
) -> str:
    """``key=value, ...`` in key order, cut to ``width`` as :func:`actual_line` says."""
    parts = {key: f"{key}={show(metadata[key])}" for key in sorted(metadata)}
    if width is None or sum(len(part) + 2 for part in parts.values()) - 2 <= width:
        return ", ".join(parts.values())
    chosen = {key for key in parts if key in named}
    used = sum(len(parts[key]) + 2 for key in chosen)
    for key, part in parts.items():
        if key not in chosen and used + len(part) + 2 <= width:
            chosen.add(key)
            used += len(part) + 2
    rest = len(parts) - len(chosen)
    shown = [part for key, part in parts.items() if key in chosen]
    shown.append(f"\u2026 {rest} more key{'' if rest == 1 else 's'}")
    return ", ".join(shown)


def _named_keys(expected: ExpectedSpan | None) -> Collection[str]:
    """The metadata keys an expectation names (none for a whole-dict matcher)."""
    if expected is None or not isinstance(expected.metadata, dict):
        return ()
    return expected.metadata.keys()


def expected_line(expected: ExpectedSpan) -> str:
    """An expected span written as a line of tree text, matchers shown by their repr."""
    kind = expected.kind.value if isinstance(expected.kind, SpanKind) else show(expected.kind)
    name = expected.name if isinstance(expected.name, str) else show(expected.name)
    text = f"{kind} {name}"
    duration = expected.duration_ms
    if isinstance(duration, int) and not isinstance(duration, bool):
        text += f" {duration}ms"
    elif duration is not None:
        text += f" duration_ms={show(duration)}"
    if isinstance(expected.metadata, dict):
        if expected.metadata:
            parts = [f"{key}={show(value)}" for key, value in expected.metadata.items()]
            text += f" ({', '.join(parts)})"
    elif expected.metadata is not None:
        text += f" metadata={show(expected.metadata)}"
    for field in ("events", "links"):
        wanted = getattr(expected, field)
        if isinstance(wanted, tuple):
            text += f" {field}=[{', '.join(show(item) for item in wanted)}]"
        elif wanted is not None:
            text += f" {field}={show(wanted)}"
    return text


def span_label(kind: object, name: object) -> str:
    """``kind name``: one step of the path a failure's first line names."""
    kind_text = kind.value if isinstance(kind, SpanKind) else show(kind)
    return f"{kind_text} {name if isinstance(name, str) else show(name)}"


_Path: TypeAlias = "tuple[str, _Path] | None"
"""The labels from a span up to its root, linked (a list per span would cost depth squared)."""


def _unlink(path: _Path) -> list[str]:
    labels = []
    while path is not None:
        label, path = path
        labels.append(label)
    return labels[::-1]


_LOST_CONTEXT: Final = (
    " (its parent context was lost: started in a fresh context or a bare thread?)"
)


class Report:
    """Draws the actual tree marked against the chosen alignment."""

    def __init__(self, aligner: Aligner, open_spans: Sequence[Sequence[Any]] = ()) -> None:
        self.aligner = aligner
        self.open_spans = open_spans
        """The spans still open, as ``trace.open_spans`` lists them."""
        forest = aligner.forest
        self.marks: list[str] = ["~"] * len(forest.spans)
        self.hints: dict[int, list[str]] = {}
        self.paths: dict[int, _Path] = {}
        self.expected_of: dict[int, ExpectedSpan] = {}
        """The node each paired span was drawn against, by flat index."""
        self.matched: set[int] = set()
        """The ``id`` of every node drawn against a span it matches (children aside)."""
        # (position, -depth, order, node, path, note): missing subtrees drawn before `position`.
        self.inserts: list[tuple[int, int, int, ExpectedSpan, _Path, str]] = []
        self.marked: list[MarkedLine] = []
        """The drawn lines as data, for pictures of the failure (``TreeMismatch``)."""
        self.insert_parents: list[int] = []
        """The flat index of the span each insert was expected under (-1: a root)."""

    def _line(self, index: int, expected: ExpectedSpan | None) -> str:
        """The drawn line of the span at ``index``, its metadata cut to the expected keys."""
        span = self.aligner.forest.spans[index]
        return actual_line(span, _named_keys(expected), METADATA_WIDTH)

    def _hint(self, expected: ExpectedSpan, steps: list[Step], parent: int) -> str:
        """Why a missing node may be missing: it matches a span elsewhere at this place."""
        aligner, forest = self.aligner, self.aligner.forest
        for record in self.open_spans:
            span_id, kind, name = record[:3]
            if match_value(expected.kind, kind)[0] and match_value(expected.name, name)[0]:
                kind_text = getattr(kind, "value", kind)
                return f"span {span_id} {kind_text} {name!r} is still open: end it before asserting"
        paired = {step.span for step in steps if step.op == "pair"}
        low, high = aligner.span_range(parent)
        if aligner.exact:
            level: Iterable[int] = forest.roots if parent < 0 else forest.kids[parent]
        else:
            level = range(low, high)
        if aligner.ordered:
            for index in level:
                if index not in paired and aligner.fits(expected, index):
                    return (
                        f"out of order: it matches '{self._line(index, expected)}' "
                        "at another place; ordered=False allows any order"
                    )
        if aligner.exact:
            level_depth = 0 if parent < 0 else forest.depth[parent] + 1
            index = low
            while index < high:
                if index in paired:  # a sibling at this level, paired: skip its subtree
                    index = forest.end[index]
                    continue
                if forest.depth[index] > level_depth and aligner.fits(expected, index):
                    return (
                        f"it matches '{self._line(index, expected)}' deeper in the "
                        "tree; exact=False allows spans in between"
                    )
                index += 1
        return ""

    def plan(self, steps: list[Step], parent: int, path: list[str]) -> None:
        """Mark the spans of one level of the alignment, and below it, and note what is missing.

        Depth first, in the order of the steps, with a stack of its own (no recursion).
        """
        forest = self.aligner.forest
        linked: _Path = None
        for label in path:
            linked = (label, linked)
        # (steps, their parent span, the path to it, the next step to plan)
        stack: list[tuple[list[Step], int, _Path, int]] = [(steps, parent, linked, 0)]
        while stack:
            steps, parent, path_to, start = stack.pop()
            high = len(forest.spans) if parent < 0 else forest.end[parent]
            depth = 0 if parent < 0 else forest.depth[parent] + 1
            for position in range(start, len(steps)):
                step = steps[position]
                if step.op == "missing":
                    assert step.node is not None
                    following = [s.span for s in steps[position + 1 :] if s.span >= 0]
                    where = following[0] if following else high
                    while where < len(forest.spans) and forest.depth[where] > depth:
                        where = forest.parent[where]  # exact=False: before the branch holding it
                    label = span_label(step.node.kind, step.node.name)
                    note = self._hint(step.node, steps, parent)
                    self.inserts.append(
                        (where, -depth, len(self.inserts), step.node, (label, path_to), note)
                    )
                    self.insert_parents.append(parent)
                    continue
                index = step.span
                span = forest.spans[index]
                here = (span_label(span.kind, span.name), path_to)
                self.paths[index] = here
                if step.op == "pair":
                    assert step.node is not None
                    pair = self.aligner.pair(step.node, index)
                    assert pair is not None
                    self.expected_of[index] = step.node
                    if pair.diffs:
                        # Compare again, so matchers that show their last value show this one.
                        self.hints[index] = self.aligner.local(step.node, index)[1]
                    else:
                        self.matched.add(id(step.node))
                    self.marks[index] = "!" if pair.diffs else " "
                    # The rest of this level after the whole subtree of this pair.
                    stack.append((steps, parent, path_to, position + 1))
                    stack.append((pair.steps, index, here, 0))
                    break
                mark = "+" if step.op == "unexpected" else "~"
                for inside in range(index, forest.end[index]):
                    self.marks[inside] = mark

    def _where(self, index: int) -> str:
        """Where the span at ``index`` stands: ``as a root`` or ``under kind name > ...``."""
        forest = self.aligner.forest
        labels = []
        above = forest.parent[index]
        while above >= 0:
            labels.append(span_label(forest.spans[above].kind, forest.spans[above].name))
            above = forest.parent[above]
        return f"under {' > '.join(reversed(labels))}" if labels else "as a root"

    def _pair_moved(self) -> str:
        """Pair each missing node with a span elsewhere that matches it: a span that moved.

        Marks both ends of each pair and returns what the first line of the
        failure says of the first one, or ``""`` when no span moved.
        """
        aligner, forest = self.aligner, self.aligner.forest
        loose = [index for index, mark in enumerate(self.marks) if mark in "+~"]
        # Nodes with a plain kind and name (the usual case) look up only spans with both.
        by_label: dict[tuple[object, str], list[int]] = {}
        for index in loose:
            span = forest.spans[index]
            by_label.setdefault((span.kind, span.name), []).append(index)
        claimed: set[int] = set()
        headline = ""
        for position, (where, neg_depth, order, node, path, note) in enumerate(self.inserts):
            parent = self.insert_parents[position]
            if note or (parent < 0 and not aligner.exact):
                # Explained at its own level already; or an expected root with
                # exact=False, which may be any span, so none stands elsewhere.
                continue
            if isinstance(node.kind, SpanKind) and isinstance(node.name, str):
                candidates = by_label.get((node.kind, node.name), [])
            else:
                candidates = loose
            # Elsewhere: outside the expected parent's subtree (inside, _hint explains).
            low, high = aligner.span_range(parent)
            elsewhere = [
                i
                for i in candidates
                if i not in claimed and (not low <= i < high or forest.parent[i] >= 0 > parent)
            ]
            found = next((i for i in elsewhere if aligner.perfect(node, i) is not None), -1)
            if found < 0:
                found = next((i for i in elsewhere if aligner.local(node, i) == (True, [])), -1)
            if found < 0:
                continue
            claimed.add(found)
            labels = _unlink(path)
            expected_at = f"under {' > '.join(labels[:-1])}" if len(labels) > 1 else "as a root"
            found_at = self._where(found)
            lost = _LOST_CONTEXT if len(labels) > 1 and forest.parent[found] < 0 else ""
            self.inserts[position] = (where, neg_depth, order, node, path, f"found {found_at}")
            self.hints.setdefault(found, []).append(f"expected {expected_at}{lost}")
            if not headline:
                headline = f"{labels[-1]} expected {expected_at}, found {found_at}{lost}"
        return headline

    def render(self) -> tuple[str, list[str]]:
        """The failure's first line and the marked drawing."""
        moved = self._pair_moved()
        forest = self.aligner.forest
        lines: list[str] = []
        headline = _Headline()
        inserts = sorted(self.inserts, key=lambda item: item[:3])
        cursor = 0
        for index in range(len(forest.spans) + 1):
            while cursor < len(inserts) and inserts[cursor][0] == index:
                _, neg_depth, order, missing, path, note = inserts[cursor]
                cursor += 1
                what = f"missing span ({note})" if note else "missing span"
                headline.structural(self.insert_parents[order], (path, what))
                for depth, item in walk(missing, -neg_depth):
                    text = expected_line(item)
                    lines.append(f"- {'  ' * depth}{text}")
                    notes = (note,) if note and item is missing else ()
                    lines += [f"? {'  ' * (depth + 1)}{note}" for note in notes]
                    self.marked.append(MarkedLine("-", depth, text, None, notes))
            if index == len(forest.spans):
                break
            mark = self.marks[index]
            depth = forest.depth[index]
            span = forest.spans[index]
            text = self._line(index, self.expected_of.get(index))
            lines.append(f"{mark} {'  ' * depth}{text}")
            hints = self.hints.get(index, [])
            lines += [f"? {'  ' * (depth + 1)}{hint}" for hint in hints]
            self.marked.append(MarkedLine(_MARKS[mark], depth, text, span.span_id, tuple(hints)))
            if mark == "!":
                found = (self.paths[index], "; ".join(hints))
                if all(hint.startswith("duration_ms ") for hint in hints):
                    headline.duration(index, forest.end[index], found)
                else:
                    headline.value(found)
            elif mark == "+" and index in self.paths:
                headline.structural(index, (self.paths[index], "unexpected span"))
        lines = collapse_runs(lines) + [f"  ({note})" for note in self.aligner.notes]
        if moved:
            return f"span tree mismatch: {moved}", lines
        first = headline.first()
        if first is None:  # pragma: no cover - a failed alignment always marks a line
            first = (None, "no alignment without differences")
        return f"span tree mismatch at {' > '.join(_unlink(first[0]))}: {first[1]}", lines


class _Headline:
    """Chooses the difference a failure's first line names, as the drawing meets them.

    The first difference in drawing order, except that a differing duration
    alone gives way to a missing or unexpected span inside that span's subtree:
    an extra child lengthens its parent, and the child is the cause to name.
    """

    def __init__(self) -> None:
        self.found: tuple[_Path, str] | None = None
        self.pending: tuple[tuple[_Path, str], int, int] | None = None
        """A duration-only mismatch and the flat index range of its subtree."""

    def first(self) -> tuple[_Path, str] | None:
        return self.found or (self.pending[0] if self.pending else None)

    def duration(self, low: int, high: int, found: tuple[_Path, str]) -> None:
        if self.found is None and self.pending is None:
            self.pending = (found, low, high)

    def value(self, found: tuple[_Path, str]) -> None:
        if self.found is None:
            self.found = self.pending[0] if self.pending else found

    def structural(self, at: int, found: tuple[_Path, str]) -> None:
        """A missing (``at``: its expected parent) or unexpected (``at``: itself) span."""
        if self.found is not None:
            return
        inside = self.pending is not None and self.pending[1] <= at < self.pending[2]
        self.found = found if self.pending is None or inside else self.pending[0]


_MARKS: Final[dict[str, Mark]] = {"!": "!", "-": "-", "+": "+", "~": "~", " ": " "}


def walk(root: ExpectedSpan, depth: int) -> Iterable[tuple[int, ExpectedSpan]]:
    """Each node of ``root``'s subtree in pre-order, with its depth (``root`` at ``depth``)."""
    stack: list[tuple[int, ExpectedSpan]] = [(depth, root)]
    while stack:
        level, item = stack.pop()
        yield level, item
        stack += [(level + 1, c) for c in reversed(item.children) if isinstance(c, ExpectedSpan)]


FULL_DRAWING: Final = 100
"""A drawing of at most this many lines is shown whole."""
CONTEXT: Final = 3
"""Lines shown on each side of a difference when a longer drawing is collapsed."""
MAX_LINES: Final = 200
"""The most lines of a collapsed drawing; the rest is counted in one last line."""


def collapse_runs(lines: list[str]) -> list[str]:
    """Collapse runs of spans that match into one line each, as a unified diff does.

    A drawing of more than :data:`FULL_DRAWING` lines keeps each difference
    (a line marked ``!``, ``-`` or ``+``, or one with ``?`` notes under it)
    and :data:`CONTEXT` spans on each side of it; each run of two or more
    other spans (matching, or extras ``~`` the expectation allows) becomes one
    line such as ``… 9,990 spans match …``. Past :data:`MAX_LINES` lines, the
    rest is counted in a last line. The marked lines of the
    :class:`~pytest_harn_trace.assertions.mismatch.TreeMismatch` keep every span.
    """
    if len(lines) <= FULL_DRAWING:
        return lines
    # One entry per drawn span: its line and the `?` notes under it.
    entries: list[list[str]] = []
    for line in lines:
        if line.startswith("?") and entries:
            entries[-1].append(line)
        else:
            entries.append([line])
    changed = [len(entry) > 1 or entry[0][:1] in "!-+" for entry in entries]
    shown = [False] * len(entries)
    last = -CONTEXT - 1  # the latest difference seen, walking forwards
    for position, is_changed in enumerate(changed):
        if is_changed:
            last = position
        shown[position] = position - last <= CONTEXT
    last = len(entries) + CONTEXT + 1  # walking backwards
    for position in range(len(entries) - 1, -1, -1):
        if changed[position]:
            last = position
        shown[position] = shown[position] or last - position <= CONTEXT
    out: list[str] = []
    position = 0
    while position < len(entries):
        run_end = position
        while run_end < len(entries) and not shown[run_end]:
            run_end += 1
        if run_end - position >= 2:
            out.append(_collapsed(entries[position:run_end]))
            position = run_end
        else:
            out += entries[position]
            position += 1
        if len(out) > MAX_LINES:
            rest = entries[position:]
            differing = sum(changed[position:])
            if rest:
                out.append(
                    f"  … {_count(len(rest), 'more span')} not drawn "
                    f"({differing:,} of them differ) …"
                )
            break
    return out


def _collapsed(run: list[list[str]]) -> str:
    """One line standing for a run of spans that match (or are allowed extras)."""
    first = run[0][0]
    indent = first[2:][: len(first[2:]) - len(first[2:].lstrip(" "))]
    allowed = sum(entry[0].startswith("~") for entry in run)
    parts = []
    if len(run) > allowed:
        parts.append(
            _count(len(run) - allowed, "span")
            + (" match" if len(run) - allowed > 1 else " matches")
        )
    if allowed:
        parts.append(_count(allowed, "extra span") + " allowed")
    return f"  {indent}… {', '.join(parts)} …"


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"

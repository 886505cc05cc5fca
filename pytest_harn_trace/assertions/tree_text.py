"""The text form of an expected span tree: the layout ``format_summary`` draws."""

from __future__ import annotations

import json
import re
from types import EllipsisType
from typing import Final, NamedTuple

from pytest_harn_trace.assertions.expected import WILDCARD, ExpectedSpan
from pytest_harn_trace.tracing.jsonvalue import MAX_DEPTH
from pytest_harn_trace.tracing.model import SpanKind, kind_hint
from pytest_harn_trace.tracing.summary import int_from_text, to_json

__all__ = ["parse_tree_text"]


# --- the text form ----------------------------------------------------------------
#
# A line is `kind name [Nms] [(k=json, ...)]`, and a name may hold anything but a
# line break: spaces at either end, parentheses, `=`, `ms`, `...`. So a line is read
# from the right: the metadata is the last ` (` from which the rest of the line
# parses as `(k=json, ...)`, the duration is a ` Nms` right before it, and the name
# is all that lies between `kind ` and those. Some lines read two ways (`step x 5ms`
# is also a span named "x 5ms", as `format_summary(durations=False)` draws it), so a
# parsed line keeps its other readings, and assert_span_tree accepts a span that
# matches any of them. A line that looks like a mistake (bad metadata JSON, unbalanced
# parentheses) is an error, unless assert_span_tree finds a span whose name it spells.

_GROUP: Final = " ("
"""What starts a candidate metadata group."""
_LOOKS_LIKE_METADATA: Final = re.compile(r" \((?=[^=(),]*=)")
"""A ` (key=` in a name: most likely metadata written wrongly."""
_META_KEY: Final = re.compile(r"([^=(),]*)=\s*")
"""A key and its ``=``; the key's spaces are stripped afterwards: optional spaces on both
sides of a lazy key in the pattern would backtrack cubically over a run of spaces."""
_DURATION: Final = re.compile(r"(.*) ([0-9]+)ms", re.DOTALL)
_PADDING: Final = " \t"
"""Trailing characters dropped from a name with no duration after it (editors drop them)."""
_DURATION_FIRST: Final = "write the duration before the metadata"
_PYTHON_CONSTANTS: Final = {"True": "true", "False": "false", "None": "null"}
_EMPTY: Final = "No spans recorded."
_HINT_MAX: Final = 200
"""How far past a bad value a hint looks (every candidate group of a line may get one)."""
_QUOTE_MAX: Final = 400
"""The longest line an error quotes whole; a longer one is cut."""


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")


_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant, parse_int=int_from_text)


_UNESCAPED_QUOTES: Final = (
    "; the string's quotes look unescaped: in a normal string literal Python turns \\\" "
    'into ", so a pasted summary with JSON-escaped strings loses its backslashes; '
    'paste it into a raw string, r"""..."""'
)


class _LineError(ValueError):
    def __init__(self, problem: str, detail: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.detail = detail


class Expectation(NamedTuple):
    """An expectation ready to match."""

    roots: list[ExpectedSpan | EllipsisType]
    readings: dict[int, tuple[ExpectedSpan, ...]]
    """By ``id`` of a node parsed from text: the other ways to read its line."""
    doubts: list[tuple[ExpectedSpan, ValueError]]
    """Nodes whose line looks malformed, in line order, with the error to raise."""


def parse_tree_text(text: str) -> list[ExpectedSpan | EllipsisType]:
    """Parse tree text (the layout of ``format_summary``) into root nodes.

    Common indentation is removed first, so an indented triple-quoted block
    works; when the text starts on the line of the opening quotes, that first
    line's own indent is ignored (as ``inspect.cleandoc`` does) and it is read
    as the parent of the least indented lines below it, or as their sibling
    when those have no indent. Blank lines and a leading ``Trace: ...``
    header are ignored; ``No spans recorded.`` means no spans. Each other line
    is one span, indented two spaces per level below its parent::

        kind name [12ms] [(key=json, key=json)]

    A line is read from the right: the metadata is the last `` (...)`` that
    parses to the end of the line, the duration a `` 12ms`` right before it,
    and the name exactly what lies between ``kind`` and those (after one
    space; with no duration, trailing spaces are dropped). So any name
    ``format_summary`` prints reads back, parentheses, ``=`` and all. Keys are
    written bare and cannot hold ``=``, ``(``, ``)``, ``,`` or spaces at
    either end.

    ``*`` as the kind or the name matches anything (so a span literally named
    ``*`` can only be told apart with ``node()`` and a matcher); the
    duration, when given, must be equal; the metadata listed must be present
    and equal (other keys are ignored), values written as JSON. A line ``...``
    matches any number of further spans at its level.

    Some lines read two ways: with no duration, ``step x (k=1)`` is also a span
    named ``x (k=1)``, and ``step x 5ms`` one named ``x 5ms``, as
    ``format_summary(durations=False)`` draws them. This function returns the
    first reading; :func:`assert_span_tree`, given the text, accepts either.

    Args:
        text: The expected tree.

    Returns:
        The root nodes (and ``...``), in order.

    Raises:
        ValueError: for a malformed line, naming its 1-based line number in
            ``text`` as given and quoting it. (:func:`assert_span_tree` raises
            it only for a line that looks malformed but is not the name of a
            span there.)
        TypeError: when ``text`` is not a str.
    """
    __tracebackhide__ = True
    if not isinstance(text, str):
        raise TypeError(f"parse_tree_text() expects a str, got {type(text).__name__}")
    return parse_text(text, strict=True).roots


def parse_text(text: str, *, strict: bool) -> Expectation:
    """Parse tree text; ``strict=False`` keeps doubtful lines for later (see `Expectation`)."""
    __tracebackhide__ = True
    raw_lines = [line.removesuffix("\r") for line in text.split("\n")]
    entries: list[tuple[int, int]] = []  # (line number, indent)
    empty_line = 0
    for number, raw in enumerate(raw_lines, start=1):
        stripped = raw.strip()
        if not stripped:
            continue
        indent = len(raw) - len(raw.lstrip())
        if "\t" in raw[:indent]:
            raise _error(number, raw, "tab in indentation", "indent with two spaces per level")
        if stripped.startswith("Trace:") and not entries and not empty_line:
            continue
        if stripped == _EMPTY:
            empty_line = number
            continue
        entries.append((number, indent))
    if empty_line and entries:
        number, _ = entries[0]
        raise _error(number, raw_lines[number - 1], f"a span after {_EMPTY!r} (line {empty_line})")
    base = _base_indent(entries) if entries else 0
    readings: dict[int, tuple[ExpectedSpan, ...]] = {}
    doubts: list[tuple[int, ExpectedSpan, _LineError]] = []
    roots: list[ExpectedSpan | EllipsisType] = []
    # Open ancestors, one per level: (line, children, line number).
    stack: list[tuple[_ParsedLine | None, list[ExpectedSpan | EllipsisType], int]] = []

    def close(count: int) -> None:
        for _ in range(count):
            line, children, number = stack.pop()
            done: ExpectedSpan | EllipsisType = Ellipsis
            if line is not None:
                fields = line.fields
                done = ExpectedSpan(
                    fields.kind, fields.name, tuple(children), fields.metadata, fields.duration_ms
                )
                if line.readings:
                    readings[id(done)] = line.readings
                if line.doubt is not None:
                    doubts.append((number, done, line.doubt))
            (stack[-1][1] if stack else roots).append(done)

    for position, (number, indent) in enumerate(entries):
        raw = raw_lines[number - 1]
        level = 0
        if position:
            level = _level(number, raw, indent - base, len(stack), entries[0][0])
        close(len(stack) - level)
        if stack and stack[-1][0] is None:
            raise _error(number, raw, "'...' cannot have children", f"see line {stack[-1][2]}")
        parsed = None
        if raw.strip() != "...":
            try:
                parsed = _parse_line(raw[indent:], indent)
            except _LineError as exc:
                raise _error(number, raw, exc.problem, exc.detail) from None
            if parsed.doubt is not None and strict:
                raise _error(number, raw, parsed.doubt.problem, parsed.doubt.detail)
        stack.append((parsed, [], number))
    close(len(stack))
    doubts.sort(key=lambda doubt: doubt[0])
    return Expectation(
        roots,
        readings,
        [
            (done, _error(number, raw_lines[number - 1], doubt.problem, doubt.detail))
            for number, done, doubt in doubts
        ],
    )


def _base_indent(entries: list[tuple[int, int]]) -> int:
    """The indent of level 0: the first span line's."""
    first_number, base = entries[0]
    if first_number == 1 and len(entries) > 1:
        # The text starts on the line of the opening quotes, so that line's indent
        # says nothing: the least indented lines below it are its children (or,
        # unindented, its siblings), as inspect.cleandoc reads a docstring.
        below = min(indent for _, indent in entries[1:])
        if base < below:
            base = max(below - 2, base)
    return base


def _level(number: int, raw: str, spaces: int, depth: int, first_number: int) -> int:
    """The level of a span line ``spaces`` beyond level 0, at most ``depth``."""
    __tracebackhide__ = True
    if spaces < 0:
        raise _error(
            number,
            raw,
            "line indented less than the first span line",
            f"line {first_number} starts the tree; indent every span line at least as much",
        )
    if spaces % 2:
        raise _error(
            number,
            raw,
            "indent is not a multiple of 2 spaces",
            f"{spaces} beyond the common indent; indent two spaces per level",
        )
    level = spaces // 2
    if level > depth:
        raise _error(
            number,
            raw,
            f"line indented {level - depth + 1} levels deeper than its parent",
            "indent a child two spaces more than its parent",
        )
    return level


def _error(number: int, raw: str, problem: str, detail: str = "") -> ValueError:
    __tracebackhide__ = True
    quoted = repr(raw)
    if len(raw) > _QUOTE_MAX:
        quoted = f"{raw[: _QUOTE_MAX // 2]!r}...({len(raw)} characters)"
    return ValueError(f"line {number}: {problem} in {quoted}" + (f": {detail}" if detail else ""))


class _ParsedLine(NamedTuple):
    fields: ExpectedSpan
    """The first reading (childless)."""
    readings: tuple[ExpectedSpan, ...]
    """The other readings."""
    doubt: _LineError | None
    """Why the line looks malformed (when the name in its first reading is not meant)."""


def _parse_line(content: str, offset: int) -> _ParsedLine:
    """Parse ``kind name [Nms] [(k=v, ...)]`` (no indent; ``offset`` is its column, 0-based)."""
    __tracebackhide__ = True
    kind_text, space, rest = content.partition(" ")
    if not space:
        raise _LineError("missing span name", "write `kind name`, e.g. `llm_call gpt-4`")
    if kind_text == "*":
        kind: object = WILDCARD
    else:
        try:
            kind = SpanKind.parse(kind_text)
        except ValueError:
            raise _LineError(f"unknown span kind {kind_text!r}", kind_hint(kind_text)) from None
    offset += len(kind_text) + 1  # where `rest` starts

    metadata: dict[str, object] | None = None
    head = rest
    end = len(rest)
    while (start := rest.rfind(_GROUP, 0, end)) >= 0:
        try:
            metadata = _parse_metadata(rest, start + 1, offset)
        except _LineError:
            end = start + 1  # the next candidate to the left
            continue
        head = rest[:start]
        break
    body = head.rstrip(_PADDING)
    name, duration = body, None
    found = _DURATION.fullmatch(body)
    if found is not None:
        name, duration = found.group(1), int(found.group(2))

    def reading(
        name: str, duration: int | None, metadata: dict[str, object] | None
    ) -> ExpectedSpan:
        return ExpectedSpan(
            kind=kind,
            name=WILDCARD if name == "*" else name,
            metadata=metadata,
            duration_ms=duration,
        )

    # The other readings, as format_summary(durations=False) could draw the line:
    # "x 5ms" is a name, and so are trailing spaces and "x (k=1)" with no metadata.
    others = [(body, metadata), (head, metadata)]
    if metadata is not None:
        others += [(rest.rstrip(_PADDING), None), (rest, None)]
    seen = {(name, duration, metadata is None)}
    readings = []
    for other_name, other_metadata in others:
        key = (other_name, None, other_metadata is None)
        if key not in seen:
            seen.add(key)
            readings.append(reading(other_name, None, other_metadata))
    doubt = _doubt(rest, name, offset, pasted=duration is not None)
    return _ParsedLine(reading(name, duration, metadata), tuple(readings), doubt)


def _doubt(rest: str, name: str, offset: int, *, pasted: bool) -> _LineError | None:
    """What looks wrong in ``name`` (a prefix of ``rest``), or None.

    A line with a duration (``pasted``) has the shape of a summary line, so
    its name is meant as written, unless it ends with metadata: a duration
    written after the metadata.
    """
    __tracebackhide__ = True
    opener = _LOOKS_LIKE_METADATA.search(" " + name)
    if opener is not None:
        start = opener.start()  # the "(" in rest
        try:
            _parse_metadata(rest, start, offset)
        except _LineError as exc:
            if not pasted or exc.detail == _DURATION_FIRST:
                return exc
        if start == 0:
            name = ""  # `kind (k=v)`: metadata where the name should be
    if pasted:
        return None
    if not name:
        return _LineError("missing span name", "write `kind name`, e.g. `llm_call gpt-4`")
    if name.count("(") != name.count(")"):
        return _LineError(
            "unbalanced parentheses", "write metadata as (key=json, key=json) after the name"
        )
    return None


def _parse_metadata(rest: str, start: int, offset: int) -> dict[str, object]:
    """Parse ``(k=json, ...)`` from ``rest[start]`` to the end (``rest`` starts at ``offset``)."""
    __tracebackhide__ = True
    metadata: dict[str, object] = {}
    pos = start + 1
    while True:
        found = _META_KEY.match(rest, pos)
        if found is None:
            raise _LineError(
                "bad metadata",
                f"expected key=value at column {offset + pos + 1}, "
                "write metadata as (key=json, key=json)",
            )
        key, pos = found.group(1).strip(), found.end()
        value_at = pos
        try:
            value, pos = _DECODER.raw_decode(rest, pos)
            if _too_deep(value):
                raise RecursionError
        except RecursionError:
            raise _LineError(
                "bad metadata JSON",
                f"value of {key!r} at column {offset + value_at + 1} is nested more than "
                f"{MAX_DEPTH} levels deep, deeper than any span's metadata",
            ) from None
        except ValueError as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise _LineError(
                "bad metadata JSON",
                f"value of {key!r} at column {offset + pos + 1}: {reason}"
                + _json_hint(key, rest[pos : pos + _HINT_MAX]),
            ) from None
        if key in metadata:
            raise _LineError("bad metadata", f"key {key!r} given twice")
        metadata[key] = value
        while pos < len(rest) and rest[pos] == " ":
            pos += 1
        if pos >= len(rest):
            raise _LineError(
                "unbalanced parentheses",
                f"the '(' at column {offset + start + 1} is never closed",
            )
        if rest[pos] == ",":
            pos += 1
            continue
        if rest[pos] == ")":
            pos += 1
            break
        raise _LineError(
            "bad metadata",
            f"expected ',' or ')' after the value of {key!r} at column {offset + pos + 1}"
            + (_UNESCAPED_QUOTES if isinstance(value, str) else ""),
        )
    trailing = rest[pos:].strip()
    if trailing:
        if re.fullmatch(r"[0-9]+ms", trailing):
            problem, detail = "bad metadata", _DURATION_FIRST
        else:
            problem = "unbalanced parentheses" if ")" in trailing else "bad metadata"
            detail = f"unexpected {trailing!r} after the metadata"
        raise _LineError(problem, detail)
    return metadata


def _too_deep(value: object) -> bool:
    """Whether lists and dicts in ``value`` nest more than ``MAX_DEPTH`` levels (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            if depth > MAX_DEPTH:
                return True
            stack += [(child, depth + 1) for child in item]
    return False


def _json_hint(key: str, text: str) -> str:
    """How to write the value at the start of ``text`` (which is not JSON) as JSON."""
    quoted = re.match(r"'([^']*)'", text)
    if quoted is not None:
        return f"; strings need double quotes, e.g. {key}={to_json(quoted.group(1))}"
    bare = re.match(r"[^,)]*", text)
    if bare is None or bare.end() >= _HINT_MAX:
        return ""  # no hint spelling out a value that long
    shown = bare.group().strip()
    if shown in _PYTHON_CONSTANTS:
        spelled = _PYTHON_CONSTANTS[shown]
        return f"; JSON spells it {spelled}, e.g. {key}={spelled}"
    if shown and not shown.startswith('"'):
        return f"; strings need double quotes, e.g. {key}={to_json(shown)}"
    return ""

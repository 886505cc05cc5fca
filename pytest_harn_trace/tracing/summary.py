"""Text summaries of a trace, as Harn's ``tracing::format_summary`` prints them.

:func:`format_summary` draws the span tree, one line per span, with metadata
values rendered by :func:`to_json`, which prints a JSON value byte for byte as
Rust's ``serde_json`` (with ``preserve_order``) displays a ``serde_json::Value``.

Harn walks the tree by scanning every span for the children of every span
it draws (quadratic) and recursing per level. Here the children are indexed
once and the walk uses an explicit stack, so a trace renders in linear time
(in its spans and in its output) at any depth. Note that the output itself
holds two spaces of indent per level: a chain ``D`` spans deep prints about
``D**2`` characters, whatever the walk costs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from json.encoder import encode_basestring
from typing import Final

from pytest_harn_trace.tracing.model import Span, SpanKind
from pytest_harn_trace.tracing.shown import shown

__all__ = ["format_summary", "int_from_text", "int_text", "to_json"]

_KIND_NAMES: Final[dict[SpanKind, str]] = {kind: kind.value for kind in SpanKind}
"""Each kind's wire name, looked up once per line instead of ``kind.value``."""

_escape_str = encode_basestring
"""Quote and escape a string exactly as serde_json does.

CPython's ``json.encoder.encode_basestring`` escapes ``"``, ``\\``, ``\\b``,
``\\f``, ``\\n``, ``\\r``, ``\\t`` with their two-character escapes and every
other code point below U+0020 as ``\\u00XX`` (lowercase hex), and copies every
other code point (U+007F, U+2028, all non-ASCII) unchanged: the same bytes as
serde_json's ``ESCAPE`` table (``src/ser.rs``); the unit tests check every code
point. A lone surrogate, which a Rust ``String`` cannot hold, is copied
unchanged too, so the result then cannot be encoded as UTF-8.
"""


def to_json(value: object) -> str:
    """Render ``value`` as compact JSON, exactly as ``serde_json`` prints a ``Value``.

    The layout is that of serde_json's ``Display`` for ``Value`` (``to_string``)
    with the ``preserve_order`` feature: no whitespace (``[1,2]``, ``{"a":1}``),
    object keys in insertion order, serde_json's string escapes, and floats in
    the ``ryu`` crate's shortest form (``1.0``, ``0.00001``, ``1e-6``, ``1e16``,
    ``1.2345e20``, ``-0.0``). Non-finite floats render ``null``, as serde_json
    turns them into ``Value::Null``.

    Args:
        value: ``None``, a bool, int, float or str, or a list, tuple or mapping
            (with str keys) of such values, nested to any depth.

    Returns:
        The JSON text.

    Raises:
        TypeError: for a value of another type or a mapping key that is not a str.
        ValueError: for a container that contains itself.

    """
    kind = type(value)
    if kind is str:
        return _escape_str(value)  # type: ignore[arg-type]  # type(value) is str
    if kind is int:
        return int_text(value)  # type: ignore[arg-type]  # type(value) is int
    if kind is float:
        return _format_float(value)  # type: ignore[arg-type]  # type(value) is float
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    parts: list[str] = []
    _render(value, parts, set())
    return "".join(parts)


_CHUNK_DIGITS: Final = 600
"""Digits per piece when an int is too long for ``str``: below any limit Python allows (640)."""
_CHUNK: Final = 10**_CHUNK_DIGITS


def int_text(value: int) -> str:
    """Return the decimal digits of ``value``, however many.

    ``str`` refuses ints longer than ``sys.get_int_max_str_digits()`` (4300
    digits by default); such an int is printed a piece at a time instead, so a
    trace holding one still renders (serde_json itself never holds one).
    """
    try:
        return int.__repr__(value)
    except ValueError:
        pass
    sign = "-" if value < 0 else ""
    rest = abs(int(value))
    pieces: list[int] = []
    while rest:
        rest, piece = divmod(rest, _CHUNK)
        pieces.append(piece)
    head = int.__repr__(pieces.pop())
    return sign + head + "".join(str(piece).zfill(_CHUNK_DIGITS) for piece in reversed(pieces))


def int_from_text(text: str) -> int:
    """Read the int :func:`int_text` writes (JSON's ``-?digits``), however many digits."""
    try:
        return int(text)
    except ValueError:
        pass
    digits = text.removeprefix("-")
    value = 0
    for start in range(0, len(digits), _CHUNK_DIGITS):
        piece = digits[start : start + _CHUNK_DIGITS]
        value = value * 10 ** len(piece) + int(piece)
    return -value if text.startswith("-") else value


def _format_float(value: float) -> str:
    """Format a float as ``ryu::Buffer::format_finite`` does; ``null`` when not finite.

    ``repr`` already gives Ryu's digits (both pick the fewest digits that read
    back as the same float, and of those the closest to it); only the layout
    differs. Ryu's
    ``format64`` (``src/pretty/mod.rs``), with ``kk`` the decimal exponent such
    that ``10**(kk-1) <= |value| < 10**kk``, writes

    * ``kk`` in ``1..=16`` with no fraction digits: the integer plus ``.0``;
    * ``kk`` in ``1..=16`` otherwise: the digits with the point inside;
    * ``kk`` in ``-4..=0``: ``0.`` then ``-kk`` zeros then the digits;
    * otherwise ``d.ddde<kk-1>`` (``de<kk-1>`` for one digit), with no ``+``
      and no leading zeros in the exponent.

    ``repr`` uses the fixed forms for ``kk`` in ``-3..=16``, identical to the
    above, and ``d.ddde-05``-style exponents otherwise. So only ``kk == -4``
    (``1e-5 <= |value| < 1e-4``) and the exponent's spelling need changing.
    """
    text = float.__repr__(value)
    if "e" not in text:
        # "inf", "-inf" and "nan" hold no "e" either; every finite repr ends in a digit.
        return "null" if text[-1] in "fn" else text
    mantissa, _, exponent = text.partition("e")
    power = int(exponent)
    if power == -5:
        if mantissa[0] == "-":
            return "-0.0000" + mantissa[1:].replace(".", "")
        return "0.0000" + mantissa.replace(".", "")
    return f"{mantissa}e{power}"


def _render(value: object, out: list[str], active: set[int]) -> None:
    """Append the JSON pieces of ``value`` to ``out``; ``active`` holds the open containers."""
    kind = type(value)
    if kind is str:
        out.append(_escape_str(value))  # type: ignore[arg-type]  # type(value) is str
    elif kind is int:
        try:
            out.append(int.__repr__(value))
        except ValueError:  # more digits than str() prints
            out.append(int_text(value))  # type: ignore[arg-type]  # type(value) is int
    elif kind is float:
        out.append(_format_float(value))  # type: ignore[arg-type]  # type(value) is float
    elif value is None:
        out.append("null")
    elif isinstance(value, bool):  # before int: bool is an int subclass
        out.append("true" if value else "false")
    elif isinstance(value, str):
        out.append(_escape_str(value))
    elif isinstance(value, int):
        out.append(int_text(value))  # an IntEnum prints its number, as json.dumps does
    elif isinstance(value, float):
        out.append(_format_float(value))
    elif isinstance(value, (list, tuple, Mapping)):
        key = id(value)
        if key in active:
            raise ValueError(
                "to_json: circular reference, a container holds itself; JSON values must be trees"
            )
        active.add(key)
        if isinstance(value, Mapping):
            _render_object(value, out, active)
        else:
            out.append("[")
            first = True
            for item in value:
                if not first:
                    out.append(",")
                first = False
                _render(item, out, active)
            out.append("]")
        active.discard(key)
    else:
        raise TypeError(
            f"to_json: cannot render {kind.__name__} value {shown(value)} as JSON; use None, "
            "bool, int, float, str, or a list, tuple or dict of those"
        )


def _render_object(value: Mapping[object, object], out: list[str], active: set[int]) -> None:
    """Append a JSON object, keys in the mapping's own order (serde_json's ``preserve_order``)."""
    out.append("{")
    first = True
    for key, item in value.items():
        if not isinstance(key, str):
            raise TypeError(
                f"to_json: object keys must be str, got {type(key).__name__} key {shown(key)}; "
                "convert the keys with str() first"
            )
        if not first:
            out.append(",")
        first = False
        out.append(_escape_str(key))
        out.append(":")
        _render(item, out, active)
    out.append("}")


def format_summary(spans: Iterable[Span] | None = None, *, durations: bool = True) -> str:
    """Render a trace as Harn's ``format_summary``: a header, then the span tree.

    ``No spans recorded.`` when there are no spans. Otherwise the header
    ``Trace: N spans, Tms total`` (``N`` counts every span given, ``T`` sums the
    durations of the root spans), a blank line, and one line per span,
    ``{kind} {name} {duration}ms`` plus `` (k=v, ...)`` when it has metadata
    (keys sorted, values as :func:`to_json` renders them). Each root (a span
    with no parent), in the order given (the collector's completion order),
    is followed depth first by its children, indented two spaces per level.
    A span whose parent is not among the spans is counted but not drawn.

    As in Harn, a span draws every span whose ``parent_id`` is its
    ``span_id``, so spans mixed from two collectors (repeating ids) may be
    drawn more than once; a span whose id is already drawn above it on its own
    path has its children left out, so such a mix never loops.

    Args:
        spans: The completed spans, in completion order. ``None`` means the
            current collector's spans (``collector.peek_spans()``).
        durations: ``False`` leaves out every duration (the header becomes
            ``Trace: N spans``, lines ``{kind} {name}``), for output that stays
            the same from run to run.

    Returns:
        The summary, lines joined with newlines, with no trailing newline.

    """
    given: object = durations
    if not isinstance(given, bool):
        raise TypeError(
            f"format_summary(durations=...): expected True or False, got {shown(given)}"
        )
    if spans is None:
        # Imported on use, so this module never needs the collector (nor forms an import
        # cycle with it); the ignore covers type checks run while collector.py is absent.
        from pytest_harn_trace.tracing.collector import peek_spans  # type: ignore[import-not-found, unused-ignore]

        spans = peek_spans()

    if not isinstance(spans, (list, tuple)):
        spans = list(spans)
    try:
        return _draw(spans, durations)
    except ValueError:
        # An int in the metadata with more digits than str() prints (a plain int skips the
        # value check when set): draw again with those ints wrapped to print in pieces.
        wrapped = _wrap_long_ints(spans)
        if wrapped is None:
            raise
        return _draw(wrapped, durations)


class _LongInt(int):
    """An int too long for ``str``: not a plain int, so it is drawn by :func:`int_text`."""


def _wrap_long_ints(spans: Sequence[Span]) -> list[Span] | None:
    """``spans`` with each metadata int ``str`` refuses as a :class:`_LongInt`; None if none."""
    out, found = [], False
    for span in spans:
        metadata = span.metadata
        if any(type(value) is int for value in metadata.values()):
            wide = {}
            for key, value in metadata.items():
                if type(value) is int:
                    try:
                        int.__repr__(value)
                    except ValueError:
                        value, found = _LongInt(value), True
                wide[key] = value
            span = span._replace(metadata=wide)
        out.append(span)
    return out if found else None


def _draw(spans: Sequence[Span], durations: bool) -> str:
    if not spans:
        return "No spans recorded."
    try:
        first_child, next_sibling = _index(spans)
    except AttributeError:
        given: Sequence[object] = spans  # checked: callers may be untyped
        bad = next(item for item in given if not isinstance(item, Span))
        raise TypeError(
            f"format_summary expects Span objects (as trace.spans or peek_spans() give), "
            f"got {type(bad).__name__}"
        ) from None
    total_ms = 0
    root = first_child.get(None, -1)
    while root >= 0:
        total_ms += spans[root].duration_ms
        root = next_sibling[root]
    header = (
        f"Trace: {len(spans)} spans, {total_ms}ms total"
        if durations
        else f"Trace: {len(spans)} spans"
    )
    lines = [header, ""]
    append = lines.append
    kind_names = _KIND_NAMES
    escape = _escape_str
    format_float = _format_float
    get_child = first_child.get
    # A depth-first walk with an explicit stack, so any depth works: from each
    # span to its first child, else to its next sibling, else back up to the
    # nearest ancestor that has one.
    position = first_child.get(None, -1)
    open_levels: list[int] = []  # the position of each ancestor of the current span
    on_path: set[int] = set()  # and their span ids
    indents = [""]
    indent = ""
    depth = 0
    while position >= 0:
        span = spans[position]
        span_id = span.span_id
        kind = span.kind
        kind_name = kind_names.get(kind)
        if kind_name is None:  # not a SpanKind (a str, say): print it as Harn would its name
            kind_name = str(getattr(kind, "value", kind))
        metadata = span.metadata
        if metadata:
            parts = []
            for key in sorted(metadata):
                value = metadata[key]
                value_type = type(value)
                if value_type is str:
                    parts.append(f"{key}={escape(value)}")
                elif value_type is int:
                    parts.append(f"{key}={value}")
                elif value_type is float:
                    parts.append(f"{key}={format_float(value)}")
                else:
                    parts.append(f"{key}={to_json(value)}")
            meta = ", ".join(parts)
            if durations:
                append(f"{indent}{kind_name} {span.name} {span.duration_ms}ms ({meta})")
            else:
                append(f"{indent}{kind_name} {span.name} ({meta})")
        elif durations:
            append(f"{indent}{kind_name} {span.name} {span.duration_ms}ms")
        else:
            append(f"{indent}{kind_name} {span.name}")

        child = get_child(span_id, -1)
        if child >= 0 and span_id not in on_path:
            # Repeated ids (spans from two collectors) could lead back to an
            # ancestor: Harn would loop forever there; this walk draws the span
            # but not its children again.
            on_path.add(span_id)
            open_levels.append(position)
            position = child
            depth += 1
            try:
                indent = indents[depth]
            except IndexError:  # one level deeper than any line so far
                indent = "  " * depth
                indents.append(indent)
            continue
        position = next_sibling[position]
        while position < 0 and depth:
            depth -= 1
            parent = open_levels.pop()
            on_path.discard(spans[parent].span_id)
            position = next_sibling[parent]
        indent = indents[depth]
    return "\n".join(lines)


def _index(spans: Sequence[Span]) -> tuple[dict[int | None, int], list[int]]:
    """Index the tree: each parent's first child, and each span's next sibling.

    Returns ``(first_child, next_sibling)``: ``first_child[p]`` is the position
    in ``spans`` of the first span whose ``parent_id`` is ``p`` (``None`` for
    the first root), and ``next_sibling[i]`` the position of the next span
    after ``spans[i]`` with the same ``parent_id``, or ``-1``.

    Linked positions rather than a list of children per parent: a list per
    parent (a million in a deep trace) would survive long enough to set off
    the cyclic garbage collector's full passes over every span, doubling the
    render time; ints in a list and a dict are not tracked.

    """
    first_child: dict[int | None, int] = {}
    last_child: dict[int | None, int] = {}
    next_sibling = [-1] * len(spans)
    for position, span in enumerate(spans):
        parent = span.parent_id
        previous = last_child.get(parent)
        if previous is None:
            first_child[parent] = position
        else:
            next_sibling[previous] = position
        last_child[parent] = position
    return first_child, next_sibling

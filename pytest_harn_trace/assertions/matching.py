"""Matching one expected span against one actual span: values, matchers, differences.

:func:`matches` says whether a value satisfies a value or matcher written in
:func:`~pytest_harn_trace.node` (a regex, a type, a predicate, an object with its
own ``__eq__`` such as dirty-equals); :func:`local_diffs` lists what differs
between a node and a span, children aside, in the words a failure shows.
"""

from __future__ import annotations

import functools
import math
import re
import types
from collections.abc import Mapping, Sequence
from typing import Final, cast

from pytest_harn_trace.assertions.expected import WILDCARD, ExpectedSpan
from pytest_harn_trace.tracing.model import Span, SpanEvent, SpanLink
from pytest_harn_trace.tracing.shown import shown
from pytest_harn_trace.tracing.summary import to_json

__all__ = [
    "expected_key",
    "is_predicate",
    "local_diffs",
    "local_ok",
    "match_value",
    "matches",
    "plain_key",
    "show",
    "span_key",
    "unplain",
    "value_key",
]

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


def is_predicate(value: object) -> bool:
    """True for a callable compared by calling it: a function, or an object without ``__eq__``."""
    if isinstance(value, type) or not callable(value):
        return False
    return isinstance(value, _FUNCTION_TYPES) or type(value).__eq__ is object.__eq__


def matches(expected: object, actual: object) -> bool:
    """Return whether ``actual`` satisfies ``expected``, a value or matcher as in :func:`node`."""
    return match_value(expected, actual)[0]


def match_value(expected: object, actual: object) -> tuple[bool, str]:
    """Return whether ``actual`` satisfies ``expected``, and a note on why not (or ``""``)."""
    if expected is WILDCARD:
        return True, ""
    if isinstance(expected, re.Pattern):
        return isinstance(actual, str) and expected.fullmatch(actual) is not None, ""
    if isinstance(expected, type) and type(expected).__eq__ is type.__eq__:
        return isinstance(actual, expected), ""
    if is_predicate(expected):
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
        return all(match_value(e, a)[0] for e, a in zip(expected, actual, strict=True)), ""
    if isinstance(expected, dict):
        if not isinstance(actual, Mapping) or set(actual) != set(expected):
            return False, ""
        return all(match_value(value, actual[key])[0] for key, value in expected.items()), ""
    try:
        return bool(expected == actual), ""
    except Exception as exc:
        return False, f" (comparison raised {type(exc).__name__}: {exc})"


def show(value: object) -> str:
    """Render a value as JSON where possible, a matcher by its repr."""
    if value is WILDCARD:
        return "*"
    if isinstance(value, type) and type(value).__eq__ is type.__eq__:
        return f"<instance of {value.__qualname__}>"
    if is_predicate(value):
        return f"<predicate {getattr(value, '__name__', None) or shown(value)}>"
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    try:
        return to_json(value)
    except (TypeError, ValueError, RecursionError):  # not JSON, or nested past any stored value
        return shown(value)


def _match_item(expected: object, actual: SpanEvent | SpanLink) -> tuple[bool, str]:
    if isinstance(expected, str):
        key = actual.name if isinstance(actual, SpanEvent) else actual.span_id
        return expected == key, ""
    if isinstance(expected, Mapping):
        data = actual.to_dict()
        for key, value in expected.items():
            if key not in data:
                return False, ""
            ok, note = match_value(value, data[key])
            if not ok:
                return False, note
        return True, ""
    return match_value(expected, actual)


def _show_item(expected: object, actual: SpanEvent | SpanLink) -> str:
    """Show an actual event or link the way its expectation is written."""
    if isinstance(expected, str):
        return show(actual.name if isinstance(actual, SpanEvent) else actual.span_id)
    if isinstance(expected, SpanEvent | SpanLink):
        return repr(actual)
    return show(actual.to_dict())


_REAL_CLOCK_HINT: Final = (
    " (durations came from the real clock: use the mock_clock fixture, "
    "or leave the Nms out of the expectation)"
)
_STILL_CLOCK_HINT: Final = (
    " (the mock clock never moved during this span: real sleeps, such as time.sleep or "
    "asyncio.sleep in a loop not on virtual time, don't move it; run the code on virtual "
    "time, with run_virtual(coro) in a sync test, or move it with mock_clock.advance(ms))"
)


def _duration_hint(span: Span, real_clock: bool) -> str:
    if real_clock:
        return _REAL_CLOCK_HINT
    return _STILL_CLOCK_HINT if span.duration_ms == 0 else ""


def local_diffs(
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
    kind_ok, kind_note = match_value(expected.kind, span.kind)
    name_ok, name_note = match_value(expected.name, span.name)
    if not name_ok and (need_name or not kind_ok):
        return False, []
    diffs: list[str] = []
    if not kind_ok:
        diffs.append(f"kind expected {show(expected.kind)}, got {show(span.kind)}{kind_note}")
    if not name_ok:
        diffs.append(f"name expected {show(expected.name)}, got {show(span.name)}{name_note}")
    if expected.duration_ms is not None:
        ok, note = match_value(expected.duration_ms, span.duration_ms)
        if not ok:
            diffs.append(
                f"duration_ms expected {show(expected.duration_ms)}, "
                f"got {show(span.duration_ms)}{note}{_duration_hint(span, real_clock)}"
            )
    meta = expected.metadata
    if isinstance(meta, dict):
        for key, value in meta.items():
            label = f"metadata[{show(key)}]"
            if key not in span.metadata:
                diffs.append(f"{label} expected {show(value)}, key missing")
                continue
            ok, note = match_value(value, span.metadata[key])
            if not ok:
                diffs.append(
                    f"{label} expected {show(value)}, got {show(span.metadata[key])}{note}"
                )
    elif meta is not None:
        ok, note = match_value(meta, span.metadata)
        if not ok:
            diffs.append(f"metadata expected {show(meta)}, got {show(span.metadata)}{note}")
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
        ok, note = match_value(wanted, list(items))
        if ok:
            return []
        got = show([item.to_dict() for item in items])
        return [f"{field} expected {show(wanted)}, got {got}{note}"]
    if len(wanted) != len(items):
        shown_wanted = "[" + ", ".join(show(item) for item in wanted) + "]"
        by_name = wanted and all(isinstance(item, str) for item in wanted)
        if by_name or (not wanted and field == "events"):
            shown_items = [_show_item("", item) for item in items]
        else:
            shown_items = [show(item.to_dict()) for item in items]
        return [
            f"{field} expected {len(wanted)} item(s) {shown_wanted}, "
            f"got {len(items)} [{', '.join(shown_items)}]"
        ]
    diffs = []
    for index, (want, item) in enumerate(zip(wanted, items, strict=True)):
        ok, note = _match_item(want, item)
        if not ok:
            diffs.append(
                f"{field}[{index}] expected {show(want)}, got {_show_item(want, item)}{note}"
            )
    return diffs


def local_ok(expected: ExpectedSpan, span: Span) -> bool:
    """Whether :func:`local_diffs` would find ``span`` drawable as ``expected`` with no difference.

    The same answer, faster where it is no: no message is built for what differs.
    """
    if not match_value(expected.kind, span.kind)[0] or not match_value(expected.name, span.name)[0]:
        return False
    if (
        expected.duration_ms is not None
        and not match_value(expected.duration_ms, span.duration_ms)[0]
    ):
        return False
    meta = expected.metadata
    if isinstance(meta, dict):
        actual = span.metadata
        for key, value in meta.items():
            if key not in actual or not match_value(value, actual[key])[0]:
                return False
    elif meta is not None and not match_value(meta, span.metadata)[0]:
        return False
    if expected.events is not None and _item_diffs("events", expected.events, span.events):
        return False
    return expected.links is None or not _item_diffs("links", expected.links, span.links)


# -- index keys: what must be equal for a plain expected value to match --------------

_NEVER: Final = ("never",)
"""The key of an expected value that matches nothing (NaN): no actual value has it."""
_OTHER: Final = ("other",)
"""The key of an actual value no plain expected value matches (a list, a dict, NaN, absent)."""
_SINGLETONS: Final[dict[bool | None, tuple[str, bool | None]]] = {
    True: ("bool", True),
    False: ("bool", False),
    None: ("null", None),
}
"""The keys of ``True``, ``False`` and ``None``: tuples, so never the key of a number."""


def plain_key(expected: object) -> object | None:
    """A hashable key for a plain expected value, or None for a matcher (or anything else).

    For a plain value (str, int, float, bool, None), :func:`match_value`
    ``(expected, actual)`` can hold only when ``value_key(actual)`` equals this
    key (or is None), so candidates can be looked up by it.
    """
    kind = type(expected)
    if kind is str:
        return expected  # a str is its own key; so is a number; the rest are tuples
    if isinstance(expected, str) and kind.__eq__ is str.__eq__:
        return str.__str__(expected)
    if kind is int:
        return expected  # 1 and 1.0 are one key, as they are equal
    if kind is float:
        return _NEVER if math.isnan(cast(float, expected)) else expected
    if expected is None or kind is bool:
        return _SINGLETONS[cast(bool | None, expected)]
    return None


def value_key(actual: object) -> object | None:
    """The key :func:`plain_key` gives every plain value ``actual`` matches; None if unknown.

    None means the value has an ``__eq__`` of its own, so it may match any key.
    """
    key = plain_key(actual)
    if key is _NEVER:
        return _OTHER  # NaN matches no plain value
    if key is not None:
        return key
    kind = type(actual)
    return _OTHER if kind is list or kind is dict or kind is tuple else None


def expected_key(expected: ExpectedSpan) -> tuple[tuple[object, ...], tuple[object, ...]] | None:
    """What a span must equal for ``expected`` to match it: (metadata keys, values), or None.

    The values are the keys of the kind, the name and the plain metadata values
    (under the metadata keys given first, sorted), as :func:`span_key` computes
    them for a span. None when the kind or name is a matcher or the wildcard.
    """
    kind, name = plain_key(expected.kind), plain_key(expected.name)
    if kind is None or name is None:
        return None
    values: list[object] = [kind, name]
    keys: list[object] = []
    meta = expected.metadata
    if isinstance(meta, dict) and meta:
        found = [(key, plain_key(value)) for key, value in meta.items()]
        plain = sorted(((k, v) for k, v in found if v is not None), key=lambda item: repr(item[0]))
        keys = [key for key, _ in plain]
        values += [value for _, value in plain]
    return tuple(keys), tuple(values)


def span_key(span: Span, keys: tuple[object, ...]) -> tuple[object, ...] | None:
    """The key :func:`expected_key` gives the nodes with metadata ``keys`` that may match ``span``.

    None when one of its values has an ``__eq__`` of its own (it may match any key).
    """
    values = [value_key(span.kind), value_key(span.name)]
    metadata = span.metadata
    values += [value_key(metadata[key]) if key in metadata else _OTHER for key in keys]
    return None if None in values else tuple(values)


def unplain(expected: ExpectedSpan) -> ExpectedSpan:
    """``expected`` without what :func:`expected_key` indexes (children aside too).

    Any kind and name, and only the metadata values that are not plain. For a
    span whose :func:`span_key` equals ``expected``'s key, :func:`local_ok` of this
    node answers as :func:`local_ok` of ``expected``.
    """
    metadata = expected.metadata
    if isinstance(metadata, dict):
        metadata = {key: value for key, value in metadata.items() if plain_key(value) is None}
    return ExpectedSpan(
        WILDCARD,
        WILDCARD,
        metadata=metadata or None,
        duration_ms=expected.duration_ms,
        events=expected.events,
        links=expected.links,
    )

"""Checking that metadata values and event attributes are JSON values.

Harn stores ``serde_json::Value``; we accept the Python values that map onto
it and reject everything else at the moment it is set, naming the key and
the type and saying how to convert the value, so a bad value never reaches
a span. As in serde_json, an int must fit in 64 bits (``i64`` or ``u64``),
and a value nests at most :data:`MAX_DEPTH` levels deep: the most serde_json
reads back.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import math
import uuid
from collections.abc import Iterable, Mapping
from pathlib import PurePath

from pytest_harn_trace.tracing.model import JsonValue
from pytest_harn_trace.tracing.shown import shown

__all__ = ["MAX_DEPTH", "check_key", "describe_int", "json_value"]

__tracebackhide__ = True  # pytest shows the user's call, not these checks

_ACCEPTED = "use str, int, float, bool, None, list or dict"
_JSON_TYPES = "str, int, float, bool, None, list or dict"
_PLAIN_TYPES = frozenset({str, int, bool, type(None)})

MAX_DEPTH = 127
"""How deep lists and dicts may nest: serde_json stops reading at 128 levels."""
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
"""A serde_json number holds an ``i64``, a ``u64`` or an ``f64``: ints span both."""


def _subject(func: str, span_id: int | None, key: object) -> str:
    label = json.dumps(key, ensure_ascii=False) if isinstance(key, str) else shown(key)
    return f"{func}(span {span_id}, {label})" if span_id is not None else f"{func}({label})"


def check_key(key: object, func: str, span_id: int | None) -> str:
    """Return ``key`` as a plain ``str``, or raise ``TypeError`` saying it must be one."""
    if type(key) is str:
        return key
    if isinstance(key, str):
        return str.__str__(key)
    raise TypeError(
        f"{_subject(func, span_id, key)}: metadata key must be str, got {type(key).__name__}"
    )


def json_value(value: object, func: str, span_id: int | None, key: object) -> JsonValue:
    """Return ``value`` as a JSON value owned by the caller.

    Containers are copied (tuples become lists), ``str``/``int``/``float``
    subclasses such as enums become their plain base type, and non-finite
    floats become ``None``, as serde_json stores them.

    Raises:
        TypeError: naming ``func``, ``span_id`` and ``key`` when ``value`` is,
            or contains, something that is not a JSON value.
        ValueError: likewise, for an int beyond 64 bits or a value nested
            more than :data:`MAX_DEPTH` levels deep.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int and _INT_MIN <= value <= _INT_MAX:  # type: ignore[operator]  # an int
        return value
    try:
        return _convert(value, func, span_id, key, "", set())
    except _NotJson as error:
        # Raised from here, so a plain traceback does not walk the nesting.
        raise error.error_type(str(error)) from None


class _NotJson(Exception):
    """What ``_convert`` raises, wherever the bad value is nested."""

    def __init__(self, message: str, error_type: type[Exception] = TypeError) -> None:
        super().__init__(message)
        self.error_type = error_type


def _convert(
    value: object, func: str, span_id: int | None, key: object, path: str, seen: set[int]
) -> JsonValue:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        return _check_int(value, func, span_id, key, path)  # type: ignore[arg-type]  # an int
    if kind is float:
        return value if math.isfinite(value) else None  # type: ignore[arg-type]
    if isinstance(value, (list, tuple, dict)):
        if id(value) in seen:
            raise _NotJson(
                f"{_subject(func, span_id, key)}: {kind.__name__}{_at(path)} contains "
                "itself; JSON values cannot be cyclic"
            )
        if len(seen) >= MAX_DEPTH:  # ``seen`` holds the containers around this one
            raise _NotJson(
                f"{_subject(func, span_id, key)}: value nested more than {MAX_DEPTH} levels "
                f"deep; serde_json, which reads Harn's traces, stops at {MAX_DEPTH + 1}: "
                "flatten it",
                ValueError,
            )
        seen.add(id(value))
        try:
            if isinstance(value, dict):
                out: dict[str, JsonValue] = {}
                for item_key, item in value.items():
                    if not isinstance(item_key, str):
                        raise _NotJson(
                            f"{_subject(func, span_id, key)}: dict key {shown(item_key)} "
                            f"({type(item_key).__name__}){_at(path)} is not a str; "
                            f"JSON object keys must be str; {_key_fix(item_key)}"
                        )
                    sub = f"{path}[{json.dumps(item_key, ensure_ascii=False)}]"
                    out[str.__str__(item_key)] = _convert(item, func, span_id, key, sub, seen)
                return out
            return [
                _convert(item, func, span_id, key, f"{path}[{index}]", seen)
                for index, item in enumerate(value)
            ]
        finally:
            seen.discard(id(value))
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return _check_int(int.__index__(value), func, span_id, key, path)
    if isinstance(value, float):
        plain = float.__float__(value)
        return plain if math.isfinite(plain) else None
    fix = _fix(value)
    raise _NotJson(
        f"{_subject(func, span_id, key)}: {kind.__name__}{_at(path)} is not a JSON value"
        + (f" ({_JSON_TYPES}); {fix}" if fix else f"; {_ACCEPTED}")
    )


def _fix(value: object) -> str:
    """The usual way to turn ``value`` into a JSON value, or ``""`` when there is none."""
    if isinstance(value, type):
        return ""
    if isinstance(value, datetime.date | datetime.time):
        return "use .isoformat()"
    if isinstance(value, datetime.timedelta):
        return "use .total_seconds()"
    if isinstance(value, set | frozenset):
        return "use sorted(...) or list(...)"
    if isinstance(value, uuid.UUID | PurePath):
        return "use str(...)"
    if isinstance(value, decimal.Decimal):
        return "use str(...), or float(...) if rounding is fine"
    if isinstance(value, enum.Enum):
        return "use .value"
    if isinstance(value, bytes | bytearray | memoryview):
        return "use .decode() for text, or base64 for binary data"
    if isinstance(value, Mapping):
        return "convert it with dict(...)"
    if dataclasses.is_dataclass(value):
        return "use dataclasses.asdict(...)"
    for method, fix in _CONVERTERS:
        if callable(getattr(value, method, None)):
            return fix
    if isinstance(value, Iterable):
        return "use list(...)"
    return ""


_CONVERTERS = (
    ("model_dump", 'use .model_dump(mode="json")'),  # pydantic
    ("tolist", "use .tolist()"),  # numpy arrays
    ("item", "use .item()"),  # numpy scalars
    ("isoformat", "use .isoformat()"),  # other date and time types
)


def _key_fix(key: object) -> str:
    if isinstance(key, tuple):
        return "use a list of [key, value] pairs instead, e.g. list(d.items())"
    return "convert the keys with str(...)"


def _check_int(value: int, func: str, span_id: int | None, key: object, path: str) -> int:
    if _INT_MIN <= value <= _INT_MAX:
        return value
    raise _NotJson(
        f"{_subject(func, span_id, key)}: {describe_int(value)}{_at(path)} does not fit in "
        "64 bits, and a JSON number in Harn is an i64, a u64 or an f64 (serde_json); "
        "store it as a str or a float",
        ValueError,
    )


def describe_int(value: int) -> str:
    """Name an int in a message: its digits when short, else its size (``str`` has a limit)."""
    if value.bit_length() <= 256:
        return f"int {value}"
    return f"int of {value.bit_length()} bits"


def _at(path: str) -> str:
    return f" at {path}" if path else ""

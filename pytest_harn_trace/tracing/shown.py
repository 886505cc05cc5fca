"""A user's value as an error message shows it: ``repr`` with its depth and length bounded.

``repr()`` of a list nested 10,000 deep raises ``RecursionError``, and a value
of a million items makes a message nobody reads, so a message that shows what
it was given must never call ``repr()`` on it. :func:`shown` draws the value
as ``repr`` does, down to :data:`MAX_LEVEL` levels of lists, tuples, dicts and
sets and up to a handful of items each (``[[[[...]]]]``, ``[1, 2, 3, ...]``),
cuts long strings (and the whole text, past :data:`MAX_LENGTH`) in the middle,
names huge ints by their size, and falls back to ``<TypeName object>`` for an
object whose own ``repr`` fails.
"""

from __future__ import annotations

import reprlib
from typing import final

__all__ = ["MAX_LENGTH", "MAX_LEVEL", "shown"]

MAX_LEVEL = 4
"""How many levels of containers are drawn; deeper ones show as ``[...]``, ``{...}``."""
MAX_LENGTH = 300
"""How long the whole text may get before it is cut in the middle."""
_MAX_STRING = 120
"""How long one string, or another object's own ``repr``, may get within it."""
_MAX_ITEMS = 6
_MAX_INT_BITS = 256


@final
class _Bounded(reprlib.Repr):
    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = MAX_LEVEL
        self.maxtuple = self.maxlist = self.maxarray = self.maxdeque = _MAX_ITEMS
        self.maxdict = self.maxset = self.maxfrozenset = _MAX_ITEMS
        self.maxstring = self.maxother = _MAX_STRING
        self.maxlong = 80

    def repr_int(self, x: int, level: int) -> str:
        # repr() of an int past 4,300 digits raises ValueError: name its size instead.
        if x.bit_length() > _MAX_INT_BITS:
            return f"<int of {x.bit_length()} bits>"
        return super().repr_int(x, level)

    def repr_instance(self, x: object, level: int) -> str:
        # reprlib catches a failing __repr__ but then shows the object's address,
        # which changes from run to run; the type alone is enough to go on.
        try:
            text = repr(x)
        except Exception:  # any error, RecursionError included: the message must still be built
            return f"<{type(x).__name__} object>"
        return _cut(text, _MAX_STRING)


def _cut(text: str, limit: int) -> str:
    """``text``, or its two ends joined by ``...`` when it is longer than ``limit``."""
    if len(text) <= limit:
        return text
    half = (limit - 3) // 2
    return text[:half] + "..." + text[len(text) - half :]


_REPR = _Bounded()


def shown(value: object) -> str:
    """Return ``value`` as ``repr`` would, bounded in depth and length, for an error message.

    Args:
        value: Whatever the user passed, however deep, long or broken its ``repr``.

    Returns:
        At most :data:`MAX_LENGTH` characters; it never raises.
    """
    try:
        return _cut(_REPR.repr(value), MAX_LENGTH)
    except Exception:  # a container of a type whose iteration or len() fails
        return f"<{type(value).__name__} object>"

"""What a failed ``assert_span_tree`` found, as data: the marked lines of its message.

The failure message draws the actual tree against the expected one, a mark
per line (``!`` mismatch, ``-`` missing, ``+`` unexpected, ``~`` extra span
allowed, blank for a match). The same lines travel with the
``AssertionError`` as a :class:`TreeMismatch`, so the HTML waterfall can
highlight the rows without parsing the message:
``TreeMismatch.of(error)`` returns it (or ``None`` for any other error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, final

from pytest_harn_trace.tracing.shown import shown

__all__ = ["MarkedLine", "TreeMismatch"]

Mark = Literal["!", "-", "+", "~", " "]

_ATTRIBUTE: Final = "harn_tree_mismatch"
"""The attribute of the ``AssertionError`` that carries its :class:`TreeMismatch`."""


@final
@dataclass(frozen=True, slots=True)
class MarkedLine:
    """One line of the drawn tree, with its mark and the ``?`` notes under it."""

    mark: Mark
    depth: int
    text: str
    """The line as drawn, without mark and indentation: ``kind name 12ms (key=value)``."""
    span_id: int | None
    """The actual span drawn on this line; ``None`` for an expected span that is missing."""
    notes: tuple[str, ...] = ()


@final
@dataclass(frozen=True, slots=True)
class TreeMismatch:
    """The failure of ``assert_span_tree``: its first line and the marked tree."""

    headline: str
    """The first line of the message: ``span tree mismatch at <path>: <what differs>``."""
    lines: tuple[MarkedLine, ...]

    def attach(self, error: AssertionError) -> AssertionError:
        """Return ``error`` carrying this mismatch (its type and message unchanged)."""
        setattr(error, _ATTRIBUTE, self)
        return error

    @staticmethod
    def of(error: BaseException | None) -> TreeMismatch | None:
        """Return the mismatch a failed ``assert_span_tree`` raised, if ``error`` is one.

        Follows ``raise ... from`` and exceptions raised while handling one, so
        a helper that wraps the assertion still leads back to it.

        Raises:
            TypeError: when ``error`` is not an exception (a message string, say).
        """
        __tracebackhide__ = True
        given: object = error
        if given is not None and not isinstance(given, BaseException):
            raise TypeError(
                f"failure= takes the exception assert_span_tree raised, got "
                f"{type(given).__name__} {shown(given)}; pass the error itself, such as "
                "excinfo.value from pytest.raises(AssertionError)"
            )
        seen: set[int] = set()
        while error is not None and id(error) not in seen:
            seen.add(id(error))
            found = getattr(error, _ATTRIBUTE, None)
            if isinstance(found, TreeMismatch):
                return found
            error = error.__cause__ or error.__context__
        return None

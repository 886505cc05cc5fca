"""Spans placed on one time axis, in tree order: what the waterfall and Perfetto exports draw.

The rows come in the order ``format_summary`` draws the tree (roots, then each
span's children, in completion order), so a row lines up with the line of an
``assert_span_tree`` failure that names the same span. Spans still open are
drawn too, after their completed siblings, reaching to the end of the trace;
a span whose parent is in neither list is drawn as a root.

Under a mock clock spans are placed by their wall-clock start, which the mock
clock sets exactly; on the real clock by their monotonic start, which agrees
with their measured durations.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, final

from pytest_harn_trace.tracing.model import Span
from pytest_harn_trace.tracing.shown import shown

__all__ = [
    "Row",
    "Timeline",
    "build_timeline",
    "check_title",
    "unicode_safe",
    "write_picture",
]


class Row(NamedTuple):
    """One span on the time axis (a tuple: a page may hold tens of thousands)."""

    span: Span
    start_ms: int
    """Start, in milliseconds from the start of the trace."""
    duration_ms: int
    """Duration; for an open span, up to the end of the trace."""
    depth: int
    parent: int
    """Index of the parent's row, ``-1`` for a root."""
    end: int
    """Index just past this span's subtree: rows ``[index + 1, end)`` are its descendants."""
    open: bool
    """Whether the span had not ended when the picture was taken."""

    @property
    def error(self) -> bool:
        """Whether the span ended with an error (``status="error"`` in its metadata)."""
        return self.span.metadata.get("status") == "error"


@final
@dataclass(frozen=True, slots=True)
class Timeline:
    """A trace's spans in tree order, with the length of the trace."""

    rows: tuple[Row, ...]
    total_ms: int
    """From the earliest start to the latest end."""
    real_clock: bool
    """Whether the timings came from the real clock (so they vary from run to run)."""


def build_timeline(
    spans: Sequence[Span], open_spans: Sequence[Span] = (), *, real_clock: bool = False
) -> Timeline:
    """Place ``spans`` (completed) and ``open_spans`` (peeked while open) on one time axis.

    Args:
        spans: Completed spans, in completion order.
        open_spans: Spans not ended yet, as ``SpanCollector.peek_open_spans`` gives them.
        real_clock: Whether the spans were timed by the real clock.
    """
    everything = [*spans, *open_spans]
    open_ids = {id(span) for span in open_spans}

    def start_of(span: Span) -> int:
        return span.start_ms if real_clock else span.start_unix_ms

    origin = min((start_of(span) for span in everything), default=0)
    end = max((start_of(span) + span.duration_ms for span in everything), default=origin)
    known = {span.span_id for span in everything}
    children: dict[int, list[Span]] = {}
    roots: list[Span] = []
    for span in everything:
        if span.parent_id is None or span.parent_id not in known or span.parent_id == span.span_id:
            roots.append(span)
        else:
            children.setdefault(span.parent_id, []).append(span)

    placed: list[tuple[Span, int, int, int, int, bool]] = []
    ends: list[int] = []
    drawn: set[int] = set()
    seen: set[int] = set()
    pending = roots
    while True:
        # Iterative pre-order walk; a repeated span id (mixed traces) is descended into once.
        stack: list[tuple[Span, int, int]] = [(span, 0, -1) for span in reversed(pending)]
        path: list[int] = []
        while stack:
            span, depth, parent = stack.pop()
            if id(span) in seen:  # reached again through a repeated id: drawn already
                continue
            while len(path) > depth:
                ends[path.pop()] = len(placed)
            index = len(placed)
            start = start_of(span) - origin
            is_open = id(span) in open_ids
            duration = max(span.duration_ms, end - origin - start) if is_open else span.duration_ms
            placed.append((span, start, duration, depth, parent, is_open))
            ends.append(index + 1)
            path.append(index)
            seen.add(id(span))
            if span.span_id in drawn:
                continue
            drawn.add(span.span_id)
            for child in reversed(children.get(span.span_id, ())):
                stack.append((child, depth + 1, index))
        for index in path:
            ends[index] = len(placed)
        # Spans whose parents form a loop (only possible when ids repeat) are roots too.
        pending = [span for span in everything if id(span) not in seen][:1]
        if not pending:
            break
    rows = tuple(
        Row(span, start, duration, depth, parent, ends[index], is_open)
        for index, (span, start, duration, depth, parent, is_open) in enumerate(placed)
    )
    return Timeline(rows, end - origin, real_clock)


def write_picture(path: object, text: str, what: str) -> Path:
    """Write ``text`` (a waterfall page or a Perfetto file) to ``path``; return the path.

    The file is replaced at once: the text goes to a temporary file in the same
    directory, which then takes the file's name, so a failure leaves whatever
    file was there before as it was. A path that is not one, or a file that
    cannot be written, raises an error that names the path and the fix, at the
    caller's line.

    Raises:
        TypeError: when ``path`` is not a ``str`` or ``os.PathLike``.
        OSError: when the file cannot be written (its directory is missing,
            it is a directory, permission is denied).
    """
    __tracebackhide__ = True
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"the {what} path must be a file path (str or pathlib.Path), got "
            f"{type(path).__name__} {shown(path)}; such as tmp_path / 'trace{_SUFFIX[what]}'"
        )
    target = Path(path)
    # Encoded before any file is touched; the pictures escape what UTF-8 cannot hold,
    # and anything left (a caller's own text) is escaped the same way here.
    data = text.encode("utf-8", "backslashreplace")
    try:
        if target.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        _replace(target, data)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"cannot write the {what} to {str(target)!r}: its directory "
            f"{str(target.parent)!r} does not exist; create it first "
            "(path.parent.mkdir(parents=True)) or write into tmp_path"
        ) from None
    except IsADirectoryError:
        raise IsADirectoryError(
            f"cannot write the {what} to {str(target)!r}: it is a directory; give a file "
            f"path in it, such as {str(target / ('trace' + _SUFFIX[what]))!r}"
        ) from None
    except OSError as error:
        raise type(error)(
            f"cannot write the {what} to {str(target)!r}: {error.strerror or error}; "
            "give a path you can write to, such as one under tmp_path"
        ) from None
    return target


def _replace(target: Path, data: bytes) -> None:
    """Write ``data`` to a new file beside ``target``, then rename it to ``target``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        # A short name of its own: the target's name may already be as long as names get.
        temporary = target.with_name(f".harn-{secrets.token_hex(6)}.tmp")
        try:
            descriptor = os.open(temporary, flags, 0o666)  # as open() makes files: umask applies
        except FileExistsError:
            continue
        break
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


_SURROGATE = re.compile("[\ud800-\udfff]")


def unicode_safe(text: str, *, json_string: bool = False) -> str:
    r"""Return ``text`` with each lone surrogate written as its Python escape, ``\udcff``.

    UTF-8 cannot hold a lone surrogate, which is what ``os.fsdecode`` makes of
    a byte that is not UTF-8 (a file name, an environment variable): the
    pictures show it as ``repr`` does, so ``os.fsdecode(b"r\xff")`` reads
    ``r\udcff``. ``json_string``: ``text`` is JSON, whose strings hold such
    characters only inside string literals, where the backslash is doubled.
    """
    if text.isascii() or not _SURROGATE.search(text):
        return text
    slash = "\\\\" if json_string else "\\"
    return _SURROGATE.sub(lambda found: f"{slash}u{ord(found.group()):04x}", text)


def check_title(title: object, func: str) -> str:
    """Return ``title`` if it is a ``str``; else raise ``TypeError`` naming ``title=``."""
    __tracebackhide__ = True
    if not isinstance(title, str):
        raise TypeError(
            f"{func}(title=...): expected the title as a str, got {type(title).__name__} "
            f"{shown(title)}; such as title=request.node.nodeid"
        )
    return title


_SUFFIX = {"waterfall page": ".html", "Perfetto trace": ".trace.json"}

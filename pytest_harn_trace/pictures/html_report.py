"""The HTML waterfall: one self-contained page that shows a trace on a timeline.

The page is the template ``waterfall.html`` (shipped in the package, inline
CSS and JavaScript, nothing fetched from the network) with the trace filled in
as JSON: one row per span in tree order, bars on a shared time axis, the
failure of ``assert_span_tree`` highlighted when there was one. It opens from
disk in any browser, and draws only the rows on screen, so a trace of tens of
thousands of spans scrolls smoothly.
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from pytest_harn_trace.pictures.timeline import Row, Timeline, write_picture

__all__ = ["waterfall_data", "waterfall_html", "write_waterfall"]



class MarkedLine(Protocol):
    """A line of a failed tree assertion's drawing (``assertions.mismatch.MarkedLine``)."""

    @property
    def mark(self) -> str: ...
    @property
    def depth(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def span_id(self) -> int | None: ...
    @property
    def notes(self) -> tuple[str, ...]: ...


class TreeMismatch(Protocol):
    """What the page highlights: a failed tree assertion (``assertions.mismatch.TreeMismatch``).

    A protocol, so drawing pictures needs nothing from the assertions.
    """

    @property
    def headline(self) -> str: ...
    @property
    def lines(self) -> Sequence[MarkedLine]: ...


_PLACEHOLDER = re.compile(r"__HARN_(TITLE|DATA)__")


@functools.cache
def _template() -> str:
    page = resources.files("pytest_harn_trace.pictures").joinpath("waterfall.html")
    return page.read_text("utf-8")


def waterfall_data(
    timeline: Timeline,
    *,
    title: str = "Trace",
    trace_id: str = "",
    mismatch: TreeMismatch | None = None,
) -> dict[str, Any]:
    """Return the JSON document the page draws (short keys: it holds every span)."""
    rows = timeline.rows
    row_of_span: dict[int, int] = {}
    for index, row in enumerate(rows):
        row_of_span.setdefault(row.span.span_id, index)
    marks: dict[int, tuple[str, tuple[str, ...]]] = {}
    missing: list[dict[str, Any]] = []
    if mismatch is not None:
        waiting: list[dict[str, Any]] = []  # missing lines until the next drawn span
        previous: int | None = None  # the row of the last drawn span
        for line in mismatch.lines:
            if line.span_id is None:
                item: dict[str, Any] = {"d": line.depth, "t": line.text, "before": None}
                if line.notes:
                    item["h"] = list(line.notes)
                waiting.append(item)
                missing.append(item)
                continue
            marks.setdefault(line.span_id, (line.mark, line.notes))
            previous = row_of_span.get(line.span_id)
            for item in waiting:
                item["before"] = previous
            waiting = []
        for item in waiting:  # missing at the end: after the subtree they would close
            item["before"] = _after(rows, previous, item["d"]) if previous is not None else None
    out_rows: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        span = row.span
        data: dict[str, Any] = {
            "i": span.span_id,
            "d": row.depth,
            "k": span.kind.value,
            "n": span.name,
            "s": row.start_ms,
            "u": row.duration_ms,
            "x": row.end,
        }
        if span.parent_id is not None:
            data["pi"] = span.parent_id
        if row.open:
            data["o"] = 1
        if row.error:
            data["e"] = 1
        if span.metadata:
            data["m"] = span.metadata
        if span.events:
            data["v"] = [
                [event.name, event.offset_ms, event.attributes or None] for event in span.events
            ]
        if span.links:
            data["l"] = [link.to_dict() for link in span.links]
        mark = marks.get(span.span_id) if row_of_span[span.span_id] == index else None
        if mark is not None:
            data["mk"] = mark[0]
            if mark[1]:
                data["h"] = list(mark[1])
        out_rows.append(data)
    return {
        "title": title,
        "heading": mismatch.headline if mismatch is not None else None,
        "traceId": trace_id,
        "realClock": timeline.real_clock,
        "total": timeline.total_ms,
        "rows": out_rows,
        "missing": missing,
    }


def _after(rows: Sequence[Row], index: int, depth: int) -> int:
    """The row just past the subtree, at ``depth``, that holds row ``index``."""
    while rows[index].depth > depth and rows[index].parent >= 0:
        index = rows[index].parent
    return rows[index].end


def waterfall_html(
    timeline: Timeline,
    *,
    title: str = "Trace",
    trace_id: str = "",
    mismatch: TreeMismatch | None = None,
) -> str:
    """Return the waterfall page for ``timeline`` as one HTML document.

    Args:
        timeline: The spans, placed on the time axis.
        title: What the trace is, such as the test's node id.
        trace_id: The trace's id, shown under the title.
        mismatch: The failure of ``assert_span_tree`` on this trace, if any:
            its first line becomes the page's heading and its marked rows are
            highlighted.
    """
    data = waterfall_data(timeline, title=title, trace_id=trace_id, mismatch=mismatch)
    # "<" only ever occurs inside JSON strings, where \u003c means the same:
    # no "</script>" or "<!--" in the data can end the script element.
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    heading = mismatch.headline if mismatch is not None else title
    values = {"TITLE": html.escape(heading), "DATA": payload}
    return _PLACEHOLDER.sub(lambda found: values[found.group(1)], _template())


def write_waterfall(
    path: Path | str,
    timeline: Timeline,
    *,
    title: str = "Trace",
    trace_id: str = "",
    mismatch: TreeMismatch | None = None,
) -> Path:
    """Write the waterfall page (see :func:`waterfall_html`) to ``path``; return the path.

    Raises:
        TypeError: when ``path`` is not a file path.
        OSError: when the file cannot be written; the message says why and the fix.
    """
    __tracebackhide__ = True
    page = waterfall_html(timeline, title=title, trace_id=trace_id, mismatch=mismatch)
    return write_picture(path, page, "waterfall page")

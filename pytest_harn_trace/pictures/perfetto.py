"""A trace as Chrome trace-event JSON, for Perfetto (ui.perfetto.dev) and chrome://tracing.

Each span is a complete event (``"ph": "X"``, ``ts`` and ``dur`` in
microseconds from the start of the trace) with its metadata as ``args``; each
span event is an instant event (``"ph": "i"``) on its span's track. Perfetto
draws the slices of one track as a stack, so a span shares its parent's track
only when it fits inside the parent and overlaps no sibling already there:
concurrent tool calls get tracks of their own instead of collapsing into one
lane. Every root span starts its own group of tracks, named after it
(``pipeline research``, then ``pipeline research (2)``, ...).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_harn_trace.pictures.timeline import (
    Timeline,
    check_title,
    unicode_safe,
    write_picture,
)

__all__ = ["perfetto_events", "write_perfetto"]

_PID = 1
_US_PER_MS = 1000


def perfetto_events(timeline: Timeline, *, title: str = "harn trace") -> list[dict[str, Any]]:
    """Return the trace events for ``timeline``: metadata first, then one per span and event.

    Args:
        timeline: The spans, placed on the time axis.
        title: The process name Perfetto shows above the tracks.
    """
    rows = timeline.rows
    track_of, names = _assign_tracks(timeline)
    events: list[dict[str, Any]] = [
        {
            "ph": "M",
            "name": "process_name",
            "ts": 0,
            "pid": _PID,
            "tid": 0,
            "args": {"name": title},
        },
    ]
    for track, name in enumerate(names):
        tid = track + 1
        events.append(
            {
                "ph": "M",
                "name": "thread_name",
                "ts": 0,
                "pid": _PID,
                "tid": tid,
                "args": {"name": name},
            }
        )
        events.append(
            {
                "ph": "M",
                "name": "thread_sort_index",
                "ts": 0,
                "pid": _PID,
                "tid": tid,
                "args": {"sort_index": tid},
            }
        )
    for index, row in enumerate(rows):
        span = row.span
        tid = track_of[index] + 1
        args: dict[str, Any] = dict(span.metadata)
        args["harn.span_id"] = span.span_id
        if span.parent_id is not None:
            args["harn.parent_id"] = span.parent_id
        if span.links:
            args["harn.links"] = [link.to_dict() for link in span.links]
        if row.open:
            args["harn.open"] = True
        ts = row.start_ms * _US_PER_MS
        events.append(
            {
                "ph": "X",
                "name": span.name,
                "cat": span.kind.value,
                "ts": ts,
                "dur": row.duration_ms * _US_PER_MS,
                "pid": _PID,
                "tid": tid,
                "args": args,
            }
        )
        for event in span.events:
            events.append(
                {
                    "ph": "i",
                    "s": "t",
                    "name": event.name,
                    "cat": span.kind.value,
                    "ts": ts + event.offset_ms * _US_PER_MS,
                    "pid": _PID,
                    "tid": tid,
                    "args": dict(event.attributes),
                }
            )
    return events


def _assign_tracks(timeline: Timeline) -> tuple[list[int], list[str]]:
    """Return each row's track and each track's name.

    Spans are placed in order of start (tree order breaks ties, so a parent
    comes before its children). A span goes on its parent's track when it
    fits inside the parent with no running sibling there, else on the first
    track of its root span where nothing is running, else on a new track.
    """
    rows = timeline.rows
    root_of = [0] * len(rows)
    for index, row in enumerate(rows):  # tree order: a parent's row comes first
        root_of[index] = index if row.parent < 0 else root_of[row.parent]
    track_of = [0] * len(rows)
    running: list[list[int]] = []  # per track: rows that may still contain a later span
    names: list[str] = []
    tracks_of_root: dict[int, list[int]] = {}

    def end_of(index: int) -> int:
        return rows[index].start_ms + rows[index].duration_ms

    for index in sorted(range(len(rows)), key=lambda i: rows[i].start_ms):
        row = rows[index]
        start, end = row.start_ms, end_of(index)
        own = tracks_of_root.setdefault(root_of[index], [])
        candidates = own
        if row.parent >= 0:
            parent_track = track_of[row.parent]
            candidates = [parent_track, *(track for track in own if track != parent_track)]
        chosen = -1
        for track in candidates:
            stack = running[track]
            while stack and end_of(stack[-1]) <= start and stack[-1] != row.parent:
                stack.pop()
            if not stack or (stack[-1] == row.parent and end <= end_of(row.parent)):
                chosen = track
                break
        if chosen < 0:
            chosen = len(running)
            running.append([])
            root = rows[root_of[index]].span
            label = f"{root.kind.value} {root.name}"
            names.append(f"{label} ({len(own) + 1})" if own else label)
            own.append(chosen)
        track_of[index] = chosen
        running[chosen].append(index)
    return track_of, names


def write_perfetto(path: Path | str, timeline: Timeline, *, title: str = "harn trace") -> Path:
    r"""Write ``timeline`` as a Chrome trace-event JSON file at ``path``; return the path.

    Text that UTF-8 cannot hold (a lone surrogate, as ``os.fsdecode`` makes of
    bytes that are not UTF-8) is written as its Python escape, ``\udcff``.

    Raises:
        TypeError: when ``path`` is not a file path, or ``title`` not a str.
        OSError: when the file cannot be written; the message says why and the fix.
    """
    __tracebackhide__ = True
    check_title(title, "to_perfetto")
    document = {
        "traceEvents": perfetto_events(timeline, title=title),
        "displayTimeUnit": "ms",
        "otherData": {"real_clock": timeline.real_clock},
    }
    text = unicode_safe(json.dumps(document, ensure_ascii=False), json_string=True)
    return write_picture(path, text, "Perfetto trace")

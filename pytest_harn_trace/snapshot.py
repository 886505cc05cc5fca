"""Syrupy extensions that store a trace as a readable file per snapshot.

``TraceSummarySnapshotExtension`` writes the seed's summary as ``.txt``;
``TraceJsonSnapshotExtension`` writes the normalized span dicts as ``.json``.
Both refuse a trace timed by the real clock (see
:meth:`TraceCapture.snapshot_dicts`), so a snapshot is never silently flaky.
"""

from __future__ import annotations

import json
from typing import Any

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.types import PropertyFilter, PropertyMatcher, SerializableData, SerializedData

from pytest_harn_trace.capture import TraceCapture

__all__ = ["TraceJsonSnapshotExtension", "TraceSummarySnapshotExtension"]


class TraceSummarySnapshotExtension(SingleFileSnapshotExtension):
    """Stores a :class:`TraceCapture` (or a summary string) as a ``.txt`` file."""

    _write_mode = WriteMode.TEXT
    file_extension = "txt"

    def serialize(
        self,
        data: SerializableData,
        *,
        exclude: PropertyFilter | None = None,
        include: PropertyFilter | None = None,
        matcher: PropertyMatcher | None = None,
    ) -> SerializedData:
        """Render ``data`` as the text stored in the snapshot file."""
        if isinstance(data, TraceCapture):
            return data.snapshot_text()
        if isinstance(data, str):
            return data if data.endswith("\n") else data + "\n"
        raise TypeError(
            f"trace_snapshot stores a trace: compare it with the trace fixture "
            f"(assert trace == trace_snapshot) or a summary str, not {type(data).__name__}"
        )


class TraceJsonSnapshotExtension(SingleFileSnapshotExtension):
    """Stores a :class:`TraceCapture` (or span dicts) as a ``.json`` file."""

    _write_mode = WriteMode.TEXT
    file_extension = "json"

    def serialize(
        self,
        data: SerializableData,
        *,
        exclude: PropertyFilter | None = None,
        include: PropertyFilter | None = None,
        matcher: PropertyMatcher | None = None,
    ) -> SerializedData:
        """Render ``data`` as the JSON stored in the snapshot file."""
        if isinstance(data, TraceCapture):
            return data.snapshot_json()
        if isinstance(data, list):
            dicts: list[Any] = data
            return json.dumps(dicts, indent=2, ensure_ascii=False) + "\n"
        raise TypeError(
            f"trace_json_snapshot stores a trace: compare it with the trace fixture "
            f"(assert trace == trace_json_snapshot) or a list of span dicts, "
            f"not {type(data).__name__}"
        )

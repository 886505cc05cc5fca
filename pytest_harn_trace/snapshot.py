"""Syrupy extensions that store a trace as a readable file per snapshot.

``TraceSummarySnapshotExtension`` writes the seed's summary as ``.txt``;
``TraceJsonSnapshotExtension`` writes the normalized span dicts as ``.json``.
Both take only a :class:`TraceCapture`, and refuse one timed by the real clock
(see :meth:`TraceCapture.snapshot_dicts`), so a snapshot is never silently
flaky and always goes through the ``pytest_harn_trace_redact`` hook.
"""

from __future__ import annotations

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.types import PropertyFilter, PropertyMatcher, SerializableData, SerializedData

from pytest_harn_trace.capture import TraceCapture

__all__ = ["TraceJsonSnapshotExtension", "TraceSummarySnapshotExtension"]


class TraceSummarySnapshotExtension(SingleFileSnapshotExtension):
    """Stores a :class:`TraceCapture`'s summary as a ``.txt`` file."""

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
        return _capture("trace_snapshot", data).snapshot_text()


class TraceJsonSnapshotExtension(SingleFileSnapshotExtension):
    """Stores a :class:`TraceCapture`'s normalized span dicts as a ``.json`` file."""

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
        return _capture("trace_json_snapshot", data).snapshot_json()


def _capture(fixture: str, data: SerializableData) -> TraceCapture:
    if isinstance(data, TraceCapture):
        return data
    # A summary string or dicts made elsewhere would skip the real-clock check
    # and the redact hook, so the trace itself is the only thing accepted.
    raise TypeError(
        f"{fixture} stores a trace: compare the trace fixture itself "
        f"(assert trace == {fixture}, or trace.without_durations() without a mock "
        f"clock), not {type(data).__name__}"
    )

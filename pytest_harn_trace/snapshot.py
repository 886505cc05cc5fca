"""Syrupy extensions that store a trace as a readable file per snapshot.

``TraceSummarySnapshotExtension`` writes Harn's summary as ``.txt``;
``TraceJsonSnapshotExtension`` writes the normalized span dicts as ``.json``.
Both take only a :class:`TraceCapture`, and refuse one timed by the real clock
(see :meth:`TraceCapture.snapshot_dicts`), so a snapshot is never silently
flaky and always goes through the ``pytest_harn_trace_redact`` hook.

The ``trace_snapshot`` fixtures are a :class:`TraceSnapshotAssertion`, which
fails as the mistake itself (a real-clock trace, something other than a
trace) rather than as a snapshot diff, and shows a mismatch as a full line
diff that pytest does not cut short.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import ClassVar

from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.types import PropertyFilter, PropertyMatcher, SerializableData, SerializedData

from pytest_harn_trace.capture import TraceCapture
from pytest_harn_trace.tracing.clock import RealClockError

__all__ = [
    "TraceJsonSnapshotExtension",
    "TraceSnapshotAssertion",
    "TraceSummarySnapshotExtension",
    "trace_snapshot_assertion",
]


class _TraceExtension(SingleFileSnapshotExtension):
    """A single-file extension that stores a :class:`TraceCapture`, and nothing else."""

    _write_mode = WriteMode.TEXT
    fixture: ClassVar[str]
    """The fixture that uses it, as error messages name it."""

    def capture(self, data: object) -> TraceCapture:
        """Return ``data`` if it is a trace; raise ``TypeError`` saying what to compare instead."""
        __tracebackhide__ = True
        if isinstance(data, TraceCapture):
            return data
        # A summary string or dicts made elsewhere would skip the real-clock check
        # and the redact hook, so the trace itself is the only thing accepted.
        raise TypeError(
            f"{self.fixture} stores a trace: compare the trace fixture itself "
            f"(assert trace == {self.fixture}, or trace.without_durations() without a mock "
            f"clock), not {type(data).__name__}"
        )


class TraceSummarySnapshotExtension(_TraceExtension):
    """Stores a :class:`TraceCapture`'s summary as a ``.txt`` file."""

    file_extension = "txt"
    fixture = "trace_snapshot"

    def serialize(
        self,
        data: SerializableData,
        *,
        exclude: PropertyFilter | None = None,
        include: PropertyFilter | None = None,
        matcher: PropertyMatcher | None = None,
    ) -> SerializedData:
        """Render ``data`` as the text stored in the snapshot file."""
        return self.capture(data).snapshot_text()


class TraceJsonSnapshotExtension(_TraceExtension):
    """Stores a :class:`TraceCapture`'s normalized span dicts as a ``.json`` file."""

    file_extension = "json"
    fixture = "trace_json_snapshot"

    def serialize(
        self,
        data: SerializableData,
        *,
        exclude: PropertyFilter | None = None,
        include: PropertyFilter | None = None,
        matcher: PropertyMatcher | None = None,
    ) -> SerializedData:
        """Render ``data`` as the JSON stored in the snapshot file."""
        return self.capture(data).snapshot_json()


class TraceSnapshotAssertion(SnapshotAssertion):
    """A syrupy snapshot of a trace whose failures speak for themselves.

    Comparing anything but a trace raises ``TypeError``, and a trace timed by
    the real clock raises ``RealClockError``, each with its own message. (Syrupy
    still records the failed assertion, so the stored snapshot counts as used
    and ``--snapshot-update`` never deletes it.) A trace that differs from the
    stored snapshot raises ``AssertionError`` with the whole line diff, which
    pytest shows in full without ``-vv``.
    """

    __hash__ = SnapshotAssertion.__hash__

    def __eq__(self, other: object) -> bool:
        __tracebackhide__ = True
        extension = self.extension
        if not isinstance(extension, _TraceExtension):  # switched by use_extension()
            return super().__eq__(other)
        mistake: Exception | None = None
        try:
            extension.capture(other).check_snapshot()
        except (TypeError, RealClockError) as error:
            mistake = error
        if super().__eq__(other):
            return True
        if mistake is not None:
            raise mistake.with_traceback(None)
        result = self.executions[self.num_executions - 1]
        if result.exception is not None:
            return False  # syrupy's own trouble (a tainted file...): its report explains
        received = str(result.asserted_data or "").splitlines()
        if result.recalled_data is None:
            raise AssertionError(
                f"trace snapshot {result.snapshot_name!r} does not exist; "
                "pytest --snapshot-update writes it:\n"
                + "\n".join(f"+ {line}" for line in received)
            )
        stored = str(result.recalled_data).splitlines()
        raise AssertionError(
            f"trace snapshot {result.snapshot_name!r} differs from the trace "
            "('-' snapshot, '+' trace; pytest --snapshot-update accepts the trace):\n"
            + "\n".join(_line_diff(stored, received))
        )


def _line_diff(stored: list[str], received: list[str]) -> list[str]:
    """Every line of both, marked ``-`` (stored only), ``+`` (received only) or `` ``."""
    lines = []
    matcher = difflib.SequenceMatcher(a=stored, b=received, autojunk=False)
    for op, a_low, a_high, b_low, b_high in matcher.get_opcodes():
        if op == "equal":
            lines += [f"  {line}" for line in stored[a_low:a_high]]
            continue
        lines += [f"- {line}" for line in stored[a_low:a_high]]
        lines += [f"+ {line}" for line in received[b_low:b_high]]
    return lines


def trace_snapshot_assertion(
    snapshot: SnapshotAssertion, extension: type[_TraceExtension]
) -> TraceSnapshotAssertion:
    """The ``snapshot`` fixture as a :class:`TraceSnapshotAssertion` that uses ``extension``.

    Copies every init field, as syrupy's own ``use_extension`` does.
    """
    fields = {
        field.name: getattr(snapshot, field.name)
        for field in dataclasses.fields(snapshot)
        if field.init
    }
    fields["extension_class"] = extension
    return TraceSnapshotAssertion(**fields)

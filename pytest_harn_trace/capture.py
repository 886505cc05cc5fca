"""``TraceCapture``: a test's view of the spans its code recorded.

This is what the ``trace`` fixture returns, in the spirit of pytest's
``caplog``: read-only views for assertions (``spans``, ``roots``, ``find``,
``one``), Harn's text summary, and the normalized dicts that snapshots store.
It knows nothing about pytest.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import EllipsisType
from typing import Any, Final, Never, NoReturn, final

from pytest_harn_trace.assertions.concurrency import canonical_dicts, concurrent_groups
from pytest_harn_trace.assertions.matching import show
from pytest_harn_trace.assertions.mismatch import TreeMismatch
from pytest_harn_trace.assertions.tree import ExpectedSpan, assert_span_tree, matches
from pytest_harn_trace.assertions.tree_report import METADATA_WIDTH, metadata_text
from pytest_harn_trace.assertions.usage import (
    Price,
    TraceUsage,
    budget_report,
    check_limits,
    trace_duration_ms,
)
from pytest_harn_trace.pictures.html_report import write_waterfall
from pytest_harn_trace.pictures.perfetto import write_perfetto
from pytest_harn_trace.pictures.timeline import Timeline, build_timeline
from pytest_harn_trace.tracing import events as _events
from pytest_harn_trace.tracing.clock import REAL_CLOCK_ADVICE, RealClockError
from pytest_harn_trace.tracing.collector import SpanCollector
from pytest_harn_trace.tracing.model import JsonValue, OpenSpan, Span, SpanKind
from pytest_harn_trace.tracing.shown import shown
from pytest_harn_trace.tracing.summary import format_summary

__all__ = ["HarnTraceWarning", "RealClockError", "TraceCapture", "TraceNode"]


class HarnTraceWarning(UserWarning):
    """Warns about how a test used tracing, such as spans it left open."""


@final
@dataclass(frozen=True, slots=True)
class TraceNode:
    """A completed span with its completed children, in completion order."""

    span: Span
    children: tuple[TraceNode, ...]

    def __post_init__(self) -> None:
        span: object = self.span
        children: object = self.children
        if not isinstance(span, Span):
            raise TypeError(
                f"TraceNode(span, children): span must be a Span, got {type(span).__name__}; "
                "trace.roots builds these nodes for you"
            )
        if not isinstance(children, tuple) or not all(
            isinstance(child, TraceNode) for child in children
        ):
            raise TypeError(
                "TraceNode(span, children): children must be a tuple of TraceNode, got "
                f"{_describe(children)}; trace.roots builds these nodes for you"
            )

    @property
    def kind(self) -> SpanKind:
        """The span's kind."""
        return self.span.kind

    @property
    def name(self) -> str:
        """The span's name."""
        return self.span.name

    @property
    def metadata(self) -> dict[str, JsonValue]:
        """The span's metadata."""
        return self.span.metadata

    @property
    def duration_ms(self) -> int:
        """The span's duration in milliseconds."""
        return self.span.duration_ms

    def walk(self) -> Iterator[TraceNode]:
        """Yield this node and its descendants, depth first, in summary order."""
        stack = [self]
        while stack:
            current = stack.pop()
            yield current
            stack.extend(reversed(current.children))

    def __repr__(self) -> str:
        return (
            f"TraceNode({self.span.kind.value} {self.span.name!r}, {len(self.children)} child(ren))"
        )


_set_span = TraceNode.__dict__["span"].__set__
_set_children = TraceNode.__dict__["children"].__set__


def _new_node(span: Span, children: tuple[TraceNode, ...]) -> TraceNode:
    """Build a node from parts known to be right, skipping the checks (one node per span)."""
    node = object.__new__(TraceNode)
    _set_span(node, span)
    _set_children(node, children)
    return node


@final
class TraceCapture:
    """The spans recorded during one test, with helpers to assert on them.

    Args:
        collector: The collector the test's code records into.
        redact: Called with each span dict before it is snapshotted, to
            rewrite it in place (the ``pytest_harn_trace_redact`` hook).
        durations: Whether snapshots of this capture include durations and
            times (see :meth:`without_durations`).
        price: Prices ``llm_call`` spans without ``cost_usd`` for :meth:`usage`
            (the ``pytest_harn_trace_price`` hook).
        usage_in_snapshot: Whether the text snapshot ends with a usage line.
    """

    __test__ = False

    def __init__(
        self,
        collector: SpanCollector,
        *,
        redact: Callable[[dict[str, Any]], object] | None = None,
        durations: bool = True,
        price: Price | None = None,
        usage_in_snapshot: bool = False,
    ) -> None:
        given: tuple[object, object, object] = (collector, redact, durations)
        if not isinstance(given[0], SpanCollector):
            raise TypeError(
                f"TraceCapture(collector): expected a SpanCollector, got {type(collector).__name__}"
            )
        if given[1] is not None and not callable(given[1]):
            raise TypeError(
                "TraceCapture(redact=...): expected a function taking a span dict, or None, "
                f"got {type(redact).__name__}"
            )
        if not isinstance(given[2], bool):
            raise TypeError(
                f"TraceCapture(durations=...): expected True or False, got {shown(durations)}"
            )
        if price is not None and not callable(price):
            raise TypeError(
                "TraceCapture(price=...): expected a function taking a span and returning its "
                f"cost in USD or None, got {type(price).__name__}"
            )
        self._collector = collector
        self._redact = redact
        self._durations = durations
        self._price = price
        self._usage_in_snapshot = usage_in_snapshot is True

    def without_durations(self) -> TraceCapture:
        """Return a view of this capture whose snapshots leave out every duration and time.

        For snapshots that stay the same from run to run without a mock clock:
        ``assert trace.without_durations() == trace_snapshot``.
        """
        return TraceCapture(
            self._collector,
            redact=self._redact,
            durations=False,
            price=self._price,
            usage_in_snapshot=self._usage_in_snapshot,
        )

    @property
    def collector(self) -> SpanCollector:
        """The collector behind this capture."""
        return self._collector

    @property
    def spans(self) -> list[Span]:
        """The completed spans, in completion order."""
        return self._collector.spans()

    @property
    def open_spans(self) -> list[OpenSpan]:
        """Each span started but not yet ended, oldest first, as an :class:`OpenSpan`.

        Records with ``span_id``, ``kind``, ``name``, ``parent_id``, ``metadata``,
        ``start_ms`` and ``start_unix_ms``.
        """
        return self._collector.open_spans()

    @property
    def real_clock(self) -> bool:
        """Whether any span was started on the real clock, so its timings vary by run."""
        return self._collector.used_real_clock

    @property
    def otel_tracer_provider(self) -> Any:
        """An OpenTelemetry SDK ``TracerProvider`` whose spans land in this trace.

        For instrumentation that takes a provider instead of using the global
        one. Needs the ``[otel]`` extra.
        """
        __tracebackhide__ = True
        try:
            from pytest_harn_trace.otel.bridge import tracer_provider
        except ImportError:
            raise ImportError(
                "trace.otel_tracer_provider needs OpenTelemetry's SDK, which is not installed; "
                "install the extra: pip install 'pytest-harn-trace[otel]'"
            ) from None
        return tracer_provider()

    def clear(self) -> None:
        """Drop the completed spans; open spans carry on."""
        self._collector.take_spans()

    def summary(self, *, durations: bool = True) -> str:
        """Return Harn's ``format_summary`` of this capture.

        ``durations=False`` leaves out every ``Nms`` (header ``Trace: N spans``),
        for output that is the same on every run without a mock clock.
        """
        return format_summary(self.spans, durations=durations)

    @property
    def roots(self) -> list[TraceNode]:
        """The tree ``summary()`` draws: completed roots with their completed children."""
        children: dict[int | None, list[Span]] = {}
        for span in self.spans:
            children.setdefault(span.parent_id, []).append(span)
        return [_build_node(root, children) for root in children.get(None, ())]

    def find(
        self,
        kind: object = None,
        name: object = None,
        *,
        metadata: Mapping[str, object] | None = None,
        **keys: object,
    ) -> list[Span]:
        """Return the completed spans matching every criterion given.

        Each criterion is a value or a matcher, as in :func:`node`: a compiled
        regex (full match), a type, a predicate, or anything with ``__eq__``
        such as ``unittest.mock.ANY`` or a dirty-equals object. A ``kind``
        string must name a kind. Each metadata key, given as a keyword or in
        ``metadata={...}`` (for keys that are no Python names, such as
        ``gen_ai.tool.name``), must be present on the span and match.
        """
        __tracebackhide__ = True
        return _select(self.spans, kind, name, _metadata_criteria("find", metadata, keys))

    def one(
        self,
        kind: object = None,
        name: object = None,
        *,
        metadata: Mapping[str, object] | None = None,
        **keys: object,
    ) -> Span:
        """Return the one completed span matching, as :meth:`find`.

        Raises:
            AssertionError: when none or several match; the message lists them.
        """
        __tracebackhide__ = True
        metadata = _metadata_criteria("one", metadata, keys)
        found = self.find(kind, name, metadata=metadata)
        if len(found) == 1:
            return found[0]
        criteria = _describe_criteria(kind, name, metadata)
        if not found:
            listing = self._listing(kind, name, metadata)
            raise AssertionError(
                f"expected exactly one span matching {criteria}, found none; "
                f"completed spans:\n{listing}"
            )
        listing = _span_lines(found, metadata)
        raise AssertionError(
            f"expected exactly one span matching {criteria}, found {len(found)}:\n{listing}"
        )

    def wait_for(
        self,
        kind: object = None,
        name: object = None,
        *,
        timeout: float = 5.0,
        metadata: Mapping[str, object] | None = None,
        **keys: object,
    ) -> Span:
        """Block until a span matching as :meth:`find` has ended, and return the first one.

        For work that finishes in a background thread. ``timeout`` is in real
        seconds; in async code use :meth:`wait_for_async`, whose timeout is virtual
        under virtual time.

        Raises:
            TimeoutError: when no matching span ends within ``timeout``; the
                message lists the spans that did.
            RuntimeError: when called on a running event loop, which it would block.
        """
        __tracebackhide__ = True
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "trace.wait_for() would block the running event loop; "
                "use `await trace.wait_for_async(...)` in async code"
            )
        metadata = _metadata_criteria("wait_for", metadata, keys)
        _check_timeout("wait_for", timeout)
        found = self.find(kind, name, metadata=metadata)  # a bad kind fails here, not while waiting
        if found:
            return found[0]
        ended = threading.Condition()

        def wake() -> None:
            with ended:
                ended.notify_all()

        with _EndSink(wake), ended:
            found = ended.wait_for(lambda: self.find(kind, name, metadata=metadata), timeout)
        if found:
            return found[0]
        self._timed_out(kind, name, metadata, f"{timeout} s")

    async def wait_for_async(
        self,
        kind: object = None,
        name: object = None,
        *,
        timeout: float = 5.0,
        metadata: Mapping[str, object] | None = None,
        **keys: object,
    ) -> Span:
        """Wait until a span matching as :meth:`find` has ended, and return the first one.

        For work that finishes in other tasks or threads. ``timeout`` is in
        seconds of the event loop's clock: virtual under virtual time.

        Raises:
            TimeoutError: when no matching span ends within ``timeout``; the
                message lists the spans that did.
        """
        __tracebackhide__ = True
        metadata = _metadata_criteria("wait_for_async", metadata, keys)
        _check_timeout("wait_for_async", timeout)
        found = self.find(kind, name, metadata=metadata)
        if found:
            return found[0]
        loop = asyncio.get_running_loop()
        loop_thread = threading.get_ident()
        changed = asyncio.Event()

        def wake() -> None:
            if threading.get_ident() == loop_thread:
                changed.set()
            else:
                loop.call_soon_threadsafe(changed.set)

        with _EndSink(wake):
            try:
                async with asyncio.timeout(timeout):
                    while not found:
                        await changed.wait()
                        changed.clear()
                        found = self.find(kind, name, metadata=metadata)
            except TimeoutError:
                pass
        if found:
            return found[0]
        self._timed_out(kind, name, metadata, f"{timeout} s")

    def _listing(self, kind: object, name: object, metadata: dict[str, object]) -> str:
        """The completed spans, those of the kind and name asked for first, for a message."""
        spans = self.spans
        if not spans:
            return "  (none)"
        near = _select(spans, kind, name, {}) if metadata else []
        seen = {id(span) for span in near}
        rest = [span for span in spans if id(span) not in seen]
        return _span_lines([*near, *rest], metadata)

    def _timed_out(
        self, kind: object, name: object, metadata: dict[str, object], waited: str
    ) -> NoReturn:
        __tracebackhide__ = True
        listing = self._listing(kind, name, metadata)
        raise TimeoutError(
            f"no span matching {_describe_criteria(kind, name, metadata)} ended within "
            f"{waited}; completed spans:\n{listing}"
        )

    def assert_tree(
        self,
        expected: str | ExpectedSpan | EllipsisType | Sequence[ExpectedSpan | EllipsisType],
        *,
        ordered: bool = True,
        exact: bool = True,
    ) -> None:
        """Assert this capture's span tree matches ``expected`` (see ``assert_span_tree``)."""
        __tracebackhide__ = True
        assert_span_tree(self, expected, ordered=ordered, exact=exact)

    def usage(self, *, under: object = None) -> TraceUsage:
        """Return the tokens, cost and calls of this trace's ``llm_call`` and ``tool_call`` spans.

        Open spans count too (``open_llm_calls`` says how many); an ``llm_call``
        wrapping other ``llm_call`` spans with usage counts through them only,
        and agent or pipeline spans repeating their children's sums add nothing.

        Args:
            under: Count only the subtrees of the spans this selects: a span
                (``trace.one(...)``), a ``node(...)`` or one line of tree text,
                or a dict of :meth:`find` criteria.
        """
        __tracebackhide__ = True
        return TraceUsage.of(
            self.spans,
            open_spans=self._collector.peek_open_spans(),
            price=self._price,
            under=under,
        )

    def assert_within_budget(
        self,
        *,
        llm_calls: int | None = None,
        tool_calls: int | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        total_tokens: int | None = None,
        cost_usd: float | None = None,
        duration_ms: int | None = None,
        under: object = None,
        **unknown: Never,
    ) -> None:
        """Assert the trace stays within every limit given, each inclusive.

        The figures are those of :meth:`usage` (``under`` as there);
        ``duration_ms`` is the trace's total (its root spans' summed durations)
        and needs the mock clock or virtual time.

        Raises:
            AssertionError: naming each limit exceeded, actual against allowed,
                then the spans that contributed most with the path to each. A
                ``cost_usd`` limit fails when calls have no price, naming them.
            TypeError: for an unknown limit or a value that is not a number.
            ValueError: for a negative limit.
            RealClockError: for a ``duration_ms`` limit on a trace timed by the real clock.
        """
        __tracebackhide__ = True
        where = "trace.assert_within_budget()"
        limits = check_limits(
            {
                **unknown,
                "llm_calls": llm_calls,
                "tool_calls": tool_calls,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": total_tokens,
                "cost_usd": cost_usd,
                "duration_ms": duration_ms,
            },
            where=where,
        )
        duration = None
        if duration_ms is not None:
            duration = trace_duration_ms(self.spans, real_clock=self.real_clock, where=where)
        report = budget_report(self.usage(under=under), limits, duration_ms=duration)
        if report is not None:
            raise AssertionError(f"trace over budget:\n{report}")

    def to_dicts(self, *, normalize: bool = False) -> list[dict[str, Any]]:
        """Return the completed spans as Harn's dicts (``span_to_dict``).

        With ``normalize=True`` the result is the same on every run: trace ids
        become ``trace_1``, ``trace_2``... in order of first appearance (link
        references renamed consistently), and ``start_ms``, which always comes
        from the real clock, is dropped.
        """
        dicts = [span.to_dict() for span in self.spans]
        if normalize:
            _normalize(dicts)
        return dicts

    def check_snapshot(self) -> None:
        """Raise ``RealClockError`` if a snapshot of this capture would change from run to run.

        That is, when durations are kept but spans were timed by the real clock.
        """
        __tracebackhide__ = True
        if self._durations and self.real_clock:
            raise RealClockError(
                "this trace was timed by the real clock, so its durations and times change "
                f"from run to run and a snapshot of it would be flaky; {REAL_CLOCK_ADVICE}, "
                "or leave durations out: assert trace.without_durations() == trace_snapshot"
            )

    def snapshot_dicts(self) -> list[dict[str, Any]]:
        """Return the normalized, redacted dicts a snapshot stores.

        Raises:
            RealClockError: when durations are kept but spans were timed by the
                real clock, whose readings change from run to run.
        """
        self.check_snapshot()
        spans = self.spans
        dicts = [span.to_dict() for span in spans]
        _normalize(dicts)
        if not self._durations:
            for data in dicts:
                _drop_timings(data)
        if self._redact is not None:
            for data in dicts:
                self._redact(data)
        # Siblings that ran concurrently are written in a canonical order.
        return canonical_dicts(dicts, concurrent_groups(spans, self._collector.start_order()))

    def snapshot_text(self) -> str:
        """Return the summary a text snapshot stores, rendered from the redacted dicts."""
        spans = [Span.from_dict(data) for data in self.snapshot_dicts()]
        text = format_summary(spans, durations=self._durations) + "\n"
        if self._usage_in_snapshot:
            text += "\n" + TraceUsage.of(spans, price=self._price).summary_line + "\n"
        return text

    def snapshot_json(self) -> str:
        """Return the JSON a JSON snapshot stores."""
        return json.dumps(self.snapshot_dicts(), indent=2, ensure_ascii=False) + "\n"

    def timeline(self) -> Timeline:
        """Return the spans so far on one time axis, open ones included (for pictures)."""
        return build_timeline(
            self._collector.spans(),
            self._collector.peek_open_spans(),
            real_clock=self.real_clock,
        )

    def to_html(
        self, path: Path | str, *, title: str = "Trace", failure: BaseException | None = None
    ) -> Path:
        """Write this trace as a self-contained HTML waterfall page; return its path.

        Args:
            path: The file to write.
            title: What the page is about, such as the test's name.
            failure: An error raised by ``assert_span_tree`` (or ``assert_tree``)
                on this trace: the page then highlights the spans it marks and
                shows its first line as the heading. Other errors are ignored.
        """
        __tracebackhide__ = True
        return write_waterfall(
            path,
            self.timeline(),
            title=title,
            trace_id=self._collector.trace_id,
            mismatch=TreeMismatch.of(failure),
        )

    def to_perfetto(self, path: Path | str, *, title: str = "harn trace") -> Path:
        """Write this trace as Chrome trace-event JSON, for ui.perfetto.dev; return its path.

        Each span is a slice with its metadata as arguments; concurrent
        siblings get tracks of their own.
        """
        __tracebackhide__ = True
        return write_perfetto(path, self.timeline(), title=title)

    def __len__(self) -> int:
        return len(self._collector.spans())

    def __repr__(self) -> str:
        return (
            f"<TraceCapture {self._collector.trace_id} with {len(self)} span(s), "
            f"{len(self.open_spans)} open>"
        )


@final
class _EndSink:
    """While entered, calls ``wake`` whenever any span ends (a span lifecycle sink)."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    @_events.hookimpl
    def harn_span_end(self, span_id: int, metadata: dict[str, Any]) -> None:
        self._wake()

    def __enter__(self) -> None:
        _events.add_event_sink(self)

    def __exit__(self, *exc_info: object) -> None:
        _events.remove_event_sink(self)


def _build_node(root: Span, children: dict[int | None, list[Span]]) -> TraceNode:
    """Build ``root``'s subtree without recursion, so deep traces can't overflow the stack."""
    on_path = {root.span_id}
    # Each frame: a span, its child spans, and the child nodes built so far.
    stack: list[tuple[Span, list[Span], list[TraceNode]]] = [
        (root, children.get(root.span_id, []), [])
    ]
    while True:
        span, pending, built = stack[-1]
        if len(built) < len(pending):
            child = pending[len(built)]
            if child.span_id in on_path:  # repeated ids from mixed traces: never loop
                built.append(_new_node(child, ()))
            else:
                on_path.add(child.span_id)
                stack.append((child, children.get(child.span_id, []), []))
            continue
        stack.pop()
        on_path.discard(span.span_id)
        node = _new_node(span, tuple(built))
        if not stack:
            return node
        stack[-1][2].append(node)


def _describe(items: object) -> str:
    if not isinstance(items, tuple):
        return type(items).__name__
    bad = next(item for item in items if not isinstance(item, TraceNode))
    return f"a tuple holding {type(bad).__name__}"


def _metadata_criteria(
    func: str, metadata: Mapping[str, object] | None, keys: dict[str, object]
) -> dict[str, object]:
    """The metadata criteria of ``find`` and its kin: ``metadata={...}`` and keywords together."""
    __tracebackhide__ = True
    if metadata is None:
        return keys
    if not isinstance(metadata, Mapping):
        raise TypeError(
            f"trace.{func}(metadata=...): expected a dict of metadata key to value or matcher, "
            f"got {type(metadata).__name__}"
        )
    given: list[object] = list(metadata)  # typed str, but a caller may pass anything
    bad = [key for key in given if not isinstance(key, str)]
    if bad:
        raise TypeError(
            f"trace.{func}(metadata=...): keys are metadata keys (str), got "
            f"{type(bad[0]).__name__} {show(bad[0])}"
        )
    twice = sorted(set(metadata) & set(keys))
    if twice:
        raise TypeError(
            f"trace.{func}(): metadata key {twice[0]!r} given both as a keyword and in "
            "metadata={...}; give it once"
        )
    return {**metadata, **keys}


def _select(
    spans: Sequence[Span], kind: object, name: object, metadata: Mapping[str, object]
) -> list[Span]:
    """The spans matching every criterion given, as :meth:`TraceCapture.find` says."""
    __tracebackhide__ = True
    if isinstance(kind, str):
        kind = SpanKind.parse(kind)
    return [
        span
        for span in spans
        if (kind is None or matches(kind, span.kind))
        and (name is None or matches(name, span.name))
        and all(
            key in span.metadata and matches(value, span.metadata[key])
            for key, value in metadata.items()
        )
    ]


def _describe_criteria(kind: object, name: object, metadata: dict[str, object]) -> str:
    """The criteria as written, values as JSON (matchers by their repr), as every message shows."""
    parts = []
    if kind is not None:
        parts.append(f"kind={show(kind)}")
    if name is not None:
        parts.append(f"name={show(name)}")
    parts.extend(f"{key}={show(value)}" for key, value in metadata.items())
    return "(" + ", ".join(parts) + ")" if parts else "(anything)"


_LISTED: Final = 20
"""How many spans a message of ``one`` or ``wait_for`` lists before it counts the rest."""


def _span_lines(spans: Sequence[Span], named: Collection[str]) -> str:
    """One line per span, metadata cut to a line (the keys asked for kept), at most _LISTED."""
    lines = []
    for span in spans[:_LISTED]:
        meta = metadata_text(span.metadata, named, METADATA_WIDTH) if span.metadata else ""
        lines.append(
            f"  span {span.span_id}: {span.kind.value} {span.name}" + (f" ({meta})" if meta else "")
        )
    if len(spans) > _LISTED:
        more = len(spans) - _LISTED
        lines.append(f"  \u2026 {more} more span{'' if more == 1 else 's'}")
    return "\n".join(lines)


def _normalize(dicts: Sequence[dict[str, Any]]) -> None:
    placeholders: dict[str, str] = {}

    def rename(trace_id: str) -> str:
        if trace_id not in placeholders:
            placeholders[trace_id] = f"trace_{len(placeholders) + 1}"
        return placeholders[trace_id]

    for data in dicts:
        data["trace_id"] = rename(data["trace_id"])
        data.pop("start_ms", None)
    for data in dicts:
        for link in data.get("links", ()):
            link["trace_id"] = rename(link["trace_id"])


def _drop_timings(data: dict[str, Any]) -> None:
    data.pop("start_unix_ms", None)
    data.pop("duration_ms", None)
    for event in data.get("events", ()):
        event.pop("time_unix_ms", None)
        event.pop("offset_ms", None)


def _check_timeout(func: str, timeout: object) -> None:
    __tracebackhide__ = True
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            f"trace.{func}(timeout=...) takes seconds as an int or float, "
            f"got {type(timeout).__name__} {shown(timeout)}"
        )
    if not 0 <= timeout < float("inf"):
        raise ValueError(
            f"trace.{func}(timeout={shown(timeout)}): expected a finite number of seconds >= 0"
        )

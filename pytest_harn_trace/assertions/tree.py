"""Tree matching: assert the shape of a trace, as ``format_summary`` draws it.

:func:`assert_span_tree` compares the span tree of a trace (completed spans
reachable from the roots, children in completion order) with an expectation
written either as text, in the layout of ``format_summary``::

    assert_span_tree(trace.spans, '''
        pipeline main
          llm_call gpt-4 (model="gpt-4")
          ...
    ''')

or as structured nodes built with :func:`node`, whose fields may be matchers::

    assert_span_tree(trace.spans, node("pipeline", "main", node("llm_call", re.compile("gpt-.*"))))

On a mismatch it raises ``AssertionError`` with a message built here (pytest's
assertion rewriting never sees the package): a first line naming the path to
the first difference, then the actual tree marked line by line against the
expectation.

The pieces: :mod:`~pytest_harn_trace.assertions.matching` compares values and single
spans, :mod:`~pytest_harn_trace.assertions.alignment` aligns siblings, and
:mod:`~pytest_harn_trace.assertions.tree_report` draws the failure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import EllipsisType
from typing import Any, Final, cast

from pytest_harn_trace.assertions.alignment import Aligner, Forest
from pytest_harn_trace.assertions.concurrency import (
    concurrent_groups,
    fit_to_expected,
    start_order_of,
)
from pytest_harn_trace.assertions.expected import ExpectedSpan, node
from pytest_harn_trace.assertions.matching import matches
from pytest_harn_trace.assertions.mismatch import TreeMismatch
from pytest_harn_trace.assertions.orphans import find_orphans, open_spans_of
from pytest_harn_trace.assertions.tree_report import Report, expected_line, walk
from pytest_harn_trace.assertions.tree_text import Expectation, parse_text, parse_tree_text
from pytest_harn_trace.tracing.clock import REAL_CLOCK_ADVICE, RealClockError
from pytest_harn_trace.tracing.model import Span
from pytest_harn_trace.tracing.shown import shown

__all__ = ["ExpectedSpan", "assert_span_tree", "matches", "node", "parse_tree_text"]


def _spans_of(actual: object) -> Sequence[Span]:
    __tracebackhide__ = True
    accepted = (
        "pass a list or tuple of Span, or an object with a `spans` attribute "
        "(a list of Span, or a method returning one) such as a SpanCollector "
        "or the `trace` fixture"
    )
    if isinstance(actual, Span):
        raise TypeError(f"assert_span_tree() got a single Span; {accepted}, e.g. [span]")
    source = "actual"
    spans: object = actual
    if not isinstance(actual, list | tuple):
        if not hasattr(actual, "spans"):
            raise TypeError(
                f"assert_span_tree() cannot read spans from {type(actual).__name__}; {accepted}"
            )
        spans = getattr(actual, "spans")  # noqa: B009 - hasattr above, any object
        source = f"{type(actual).__name__}.spans"
        if callable(spans):
            spans = spans()
            source += "()"
        if not isinstance(spans, list | tuple):
            raise TypeError(
                f"assert_span_tree(): {source} gave {type(spans).__name__}, not a list of Span; "
                f"{accepted}"
            )
    for position, item in enumerate(cast("Sequence[object]", spans)):
        if not isinstance(item, Span):
            raise TypeError(
                f"assert_span_tree(): item {position} of {source} is "
                f"{type(item).__name__}, not a Span; {accepted}"
            )
    return cast("Sequence[Span]", spans)


def _expected_roots(expected: object) -> Expectation:
    __tracebackhide__ = True
    if isinstance(expected, str):
        return parse_text(expected, strict=False)
    if isinstance(expected, ExpectedSpan) or expected is Ellipsis:
        return Expectation([expected], {}, [])
    if isinstance(expected, list | tuple):
        for position, item in enumerate(expected):
            if not isinstance(item, ExpectedSpan) and item is not Ellipsis:
                raise TypeError(
                    f"assert_span_tree(): expected root {position} must be node(...) or ..., "
                    f"got {type(item).__name__} {shown(item)}"
                )
        return Expectation(list(expected), {}, [])
    raise TypeError(
        "assert_span_tree(): expected must be tree text (str), a node(...), or a list of "
        f"node(...) roots, got {type(expected).__name__}"
    )


def assert_span_tree(
    actual: object,
    expected: str | ExpectedSpan | EllipsisType | Sequence[ExpectedSpan | EllipsisType],
    *,
    ordered: bool = True,
    exact: bool = True,
) -> None:
    """Assert that the span tree of a trace matches ``expected``.

    The tree is the one ``format_summary`` draws: root spans (no parent) and,
    under each span, the spans whose ``parent_id`` is its ``span_id``, in
    completion order. Spans whose parent is not among the spans are not part
    of it.

    Args:
        actual: The spans: a list or tuple of :class:`Span`, or an object with
            a ``spans`` attribute that is such a list or a method returning one
            (a ``SpanCollector``, the ``trace`` fixture).
        expected: Tree text in the layout of ``format_summary`` (see
            :func:`parse_tree_text`), a :func:`node`, or a list of root nodes
            (``...`` allowed among them).
        ordered: ``False`` lets siblings match in any order.
        exact: ``False`` allows extra spans anywhere: an expected child may match
            any descendant of its parent's span, an expected root any span.

    Raises:
        AssertionError: when the tree does not match; the message names the
            first difference and draws the actual tree marked against the
            expectation. A duration matcher that fails while ``actual`` says
            its durations came from the real clock (a true ``real_clock`` or
            ``used_real_clock``) is flagged as such.
        RealClockError: when ``expected`` gives an exact duration (``Nms``
            or ``duration_ms=N``) and the durations came from the real clock,
            whose readings change from run to run: whatever the readings, so
            the test never passes or fails by chance.
        TypeError: for arguments of the wrong type.
        ValueError: for malformed tree text. A line that only looks malformed
            (no duration, and bad metadata JSON or unbalanced parentheses) may
            still be a span's name as ``format_summary`` draws it: it is an
            error only when the tree fails to match and no span matched that
            line as written.
    """
    __tracebackhide__ = True
    flags: tuple[object, object] = (ordered, exact)  # checked: callers may be untyped
    if not all(isinstance(flag, bool) for flag in flags):
        raise TypeError(
            "assert_span_tree(): ordered and exact must be True or False, got "
            f"ordered={shown(ordered)}, exact={shown(exact)}"
        )
    spans = _spans_of(actual)
    try:
        roots, readings, doubts = _expected_roots(expected)
    except ValueError as malformed:
        # Malformed text: the traceback starts here, not deep in the parser.
        raise malformed.with_traceback(None) from None
    starts = start_order_of(actual)
    if starts:  # siblings that ran concurrently may come in any order
        spans = fit_to_expected(spans, concurrent_groups(spans, starts), roots)
    real_clock = any(getattr(actual, flag, False) is True for flag in _REAL_CLOCK_FLAGS)
    if real_clock:
        timed = _exact_duration(spans, roots, readings)
        if timed is not None:
            raise RealClockError(
                f"assert_span_tree(): {expected_line(timed)!r} expects an exact duration, but "
                "this trace was timed by the real clock, so its durations change from run to "
                f"run and the check would pass or fail by chance; {REAL_CLOCK_ADVICE}, or "
                "leave the duration out of the expectation"
            )
    failure = _mismatch(spans, roots, ordered, exact, readings, real_clock, open_spans_of(actual))
    if failure is not None:
        message, matched, mismatch = failure
        for done, doubt in doubts:
            if id(done) not in matched:  # no span spells the doubtful line: it is a mistake
                raise doubt
        raise mismatch.attach(AssertionError(message))


_REAL_CLOCK_FLAGS: Final = ("real_clock", "used_real_clock")
"""True when the durations came from the real clock (``TraceCapture``, ``SpanCollector``)."""


def _exact_duration(
    spans: Sequence[Span],
    roots: list[ExpectedSpan | EllipsisType],
    readings: Mapping[int, tuple[ExpectedSpan, ...]],
) -> ExpectedSpan | None:
    """The first expected span with an exact duration, or None.

    A text line such as ``step x 5ms`` also reads as a span named ``x 5ms``
    with no duration (as ``format_summary(durations=False)`` draws it); when
    a span has that name, the line is not taken as a duration.
    """
    names: set[str] | None = None
    for root in roots:
        if root is Ellipsis:
            continue
        for _, item in walk(root, 0):
            duration = item.duration_ms
            if not isinstance(duration, int | float) or isinstance(duration, bool):
                continue
            if names is None:
                names = {span.name for span in spans}
            if not any(
                other.duration_ms is None and isinstance(other.name, str) and other.name in names
                for other in readings.get(id(item), ())
            ):
                return item
    return None


def _mismatch(
    spans: Sequence[Span],
    roots: list[ExpectedSpan | EllipsisType],
    ordered: bool,
    exact: bool,
    readings: Mapping[int, tuple[ExpectedSpan, ...]],
    real_clock: bool,
    open_spans: Sequence[Sequence[Any]],
) -> tuple[str, set[int], TreeMismatch] | None:
    """Return the failure message, the matched nodes' ids and the marked lines, or None."""
    forest = Forest(spans)
    aligner = Aligner(
        forest, roots, ordered=ordered, exact=exact, readings=readings, real_clock=real_clock
    )
    cost, steps = aligner.align(roots, -1)
    if cost <= 0:
        return None
    report = Report(aligner, open_spans)
    report.plan(steps, -1, [])
    headline, lines = report.render()
    mode = [] if ordered else ["ordered=False"]
    mode += [] if exact else ["exact=False"]
    legend = (
        "Actual span tree against the expected one "
        "('!' mismatch, '-' missing, '+' unexpected, '~' extra span allowed"
        + (f"; {', '.join(mode)}" if mode else "")
        + "):"
    )
    out = [headline, "", legend, *lines]
    if not spans:
        out.append("  (no spans recorded)")
    for orphans in find_orphans(spans, open_spans):
        out.append(f"  ({len(orphans.spans)} span(s) not drawn: {orphans.reason})")
    return "\n".join(out), report.matched, TreeMismatch(headline, tuple(report.marked))

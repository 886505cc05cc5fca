"""The fast paths of assert_span_tree give the answers of the general algorithm.

The fast paths look candidates up by what must match exactly (kind, name,
plain metadata values), ask only those, and skip the spans no node can pair
with. The private switch ``alignment._INDEXED = False`` runs the general
algorithm (every node against every candidate); on random trees, random
permutations and random mismatches both must agree on pass or fail and on
the whole message and marked lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from types import EllipsisType

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_harn_trace import ExpectedSpan, assert_span_tree, format_summary, node
from pytest_harn_trace.assertions import alignment
from pytest_harn_trace.assertions.matching import (
    local_diffs,
    local_ok,
    match_value,
    plain_key,
    value_key,
)
from pytest_harn_trace.assertions.mismatch import TreeMismatch
from pytest_harn_trace.tracing.model import Span, SpanKind

KINDS = [SpanKind.FN_CALL, SpanKind.TOOL_CALL]
NAMES = ["a", "b", "c 2ms"]  # "c 2ms" as text reads two ways: name "c" and 2ms, or the name
VALUES: list[object] = [1, 2, 1.0, "x", True, False, None, [1], {"v": 1}, float("nan")]


@contextmanager
def general_algorithm() -> Iterator[None]:
    alignment._INDEXED = False
    try:
        yield
    finally:
        alignment._INDEXED = True


def outcome(spans: list[Span], expected: object, **options: bool) -> object:
    """What assert_span_tree says: None when it passes, else the message and marked lines."""
    try:
        assert_span_tree(spans, expected, **options)  # type: ignore[arg-type]
    except AssertionError as error:
        return str(error), TreeMismatch.of(error)
    except ValueError as error:
        return "ValueError", str(error)
    return None


def agree(spans: list[Span], expected: object, **options: bool) -> object:
    fast = outcome(spans, expected, **options)
    with general_algorithm():
        general = outcome(spans, expected, **options)
    assert fast == general
    return fast


@st.composite
def forests(draw: st.DrawFn) -> list[Span]:
    """Up to 14 spans: random parents, kinds, names and metadata, in completion order."""
    spans: list[Span] = []
    for span_id in range(1, draw(st.integers(1, 14)) + 1):
        parent = draw(st.sampled_from([None, *(span.span_id for span in spans)]))
        metadata = draw(
            st.dictionaries(st.sampled_from(["k", "j"]), st.sampled_from(VALUES), max_size=2)
        )
        kind, name = draw(st.sampled_from(KINDS)), draw(st.sampled_from(NAMES))
        spans.append(Span("t", span_id, parent, kind, name, 0, 0, 1, metadata, (), ()))
    # Children end before their parents: list them deepest first, siblings in creation order.
    depth: dict[int, int] = {}
    for span in spans:
        depth[span.span_id] = 0 if span.parent_id is None else depth[span.parent_id] + 1
    return sorted(spans, key=lambda span: -depth[span.span_id])


def _any(value: object) -> bool:
    return True


@st.composite
def expectations(draw: st.DrawFn, spans: list[Span]) -> list[ExpectedSpan | EllipsisType]:
    """The tree of ``spans`` as nodes, children shuffled, with random mismatches and ``...``."""
    children: dict[int | None, list[Span]] = {}
    for span in spans:
        children.setdefault(span.parent_id, []).append(span)

    def build(span: Span) -> ExpectedSpan | None:
        change = draw(st.integers(0, 14))
        if change == 0:
            return None  # dropped: the span is unexpected
        kids: list[ExpectedSpan | EllipsisType] = []
        for child in children.get(span.span_id, []):
            built = build(child)
            if built is not None:
                kids.append(built)
        kids = draw(st.permutations(kids))
        if draw(st.integers(0, 5)) == 0:
            kids.insert(draw(st.integers(0, len(kids))), ...)
        if draw(st.integers(0, 8)) == 0:
            kids.append(node("step", "added"))
        kind: object = span.kind
        name: object = span.name
        metadata: object = dict(span.metadata)
        if change == 1:
            name = draw(st.sampled_from([*NAMES, "z"]))
        elif change == 2:
            kind = draw(st.sampled_from(KINDS))
        elif change == 3:
            name = draw(st.sampled_from([re.compile("a|b"), "*"]))
        elif change == 4 and span.metadata:
            key = draw(st.sampled_from(sorted(span.metadata)))
            metadata = {key: draw(st.sampled_from([*VALUES, int, _any, re.compile("x")]))}
        elif change == 5:
            metadata = None
        return node(kind, name, *kids, metadata=metadata)

    roots: list[ExpectedSpan | EllipsisType] = []
    for root in children.get(None, []):
        built = build(root)
        if built is not None:
            roots.append(built)
    roots = draw(st.permutations(roots))
    if draw(st.integers(0, 5)) == 0:
        roots.append(...)
    return roots


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), forests(), st.booleans(), st.booleans())
def test_fast_and_general_paths_agree_on_nodes(data, spans, ordered, exact):
    expected = data.draw(expectations(spans))
    agree(spans, expected, ordered=ordered, exact=exact)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), forests(), st.booleans(), st.booleans())
def test_fast_and_general_paths_agree_on_the_pasted_summary(data, spans, ordered, exact):
    lines = format_summary(spans, durations=False).splitlines()
    if lines and data.draw(st.booleans()):
        at = data.draw(st.integers(0, len(lines) - 1))
        lines[at] = lines[at].replace(" a", " z", 1)
    if len(lines) > 1 and data.draw(st.booleans()):
        del lines[data.draw(st.integers(1, len(lines) - 1))]
    agree(spans, "\n".join(lines), ordered=ordered, exact=exact)


def test_a_permuted_summary_of_many_siblings_matches_and_agrees():
    spans = [
        Span("t", i + 2, 1, SpanKind.TOOL_CALL, "t", 0, 0, 1, {"i": i % 7}, (), ())
        for i in range(60)
    ]
    spans.append(Span("t", 1, None, SpanKind.PIPELINE, "main", 0, 0, 1, {}, (), ()))
    lines = format_summary(spans, durations=False).splitlines()
    root = lines.index("pipeline main")
    shuffled = [lines[root], *reversed(lines[root + 1 :])]
    assert agree(spans, "\n".join(shuffled), ordered=False) is None
    shuffled[5] = shuffled[5].replace("i=", "j=")
    assert agree(spans, "\n".join(shuffled), ordered=False) is not None


plain_values = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True), st.text(max_size=2)
)
any_values = st.one_of(
    plain_values,
    st.lists(st.integers(0, 2), max_size=2),
    st.sampled_from([SpanKind.FN_CALL, "fn_call", 1.0, 0.0, True, 1]),
)


@given(plain_values, any_values)
def test_a_plain_value_matches_only_values_with_its_key(expected, actual):
    key = plain_key(expected)
    assert key is not None
    if match_value(expected, actual)[0]:
        assert value_key(actual) in (key, None)


@settings(max_examples=300)
@given(forests(), st.data())
def test_the_quick_local_check_agrees_with_the_differences(spans, data):
    span = spans[0]
    expected = data.draw(expectations(spans))
    for item in expected:
        if isinstance(item, ExpectedSpan):
            pairable, diffs = local_diffs(item, span, need_name=False)
            assert local_ok(item, span) == (pairable and not diffs)

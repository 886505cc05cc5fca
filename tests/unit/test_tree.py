"""Unit tests for pytest_harn_trace.assertions.tree: tree assertions and their failure messages."""

from __future__ import annotations

import itertools
import re
from unittest.mock import ANY

import pytest
from dirty_equals import IsInt, IsPositiveInt, IsStr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_harn_trace.assertions.tree import ExpectedSpan, assert_span_tree, node, parse_tree_text
from pytest_harn_trace.tracing.clock import RealClockError
from pytest_harn_trace.tracing.collector import SpanCollector
from pytest_harn_trace.tracing.model import Span, SpanEvent, SpanKind, SpanLink
from pytest_harn_trace.tracing.summary import format_summary

LEGEND = (
    "Actual span tree against the expected one "
    "('!' mismatch, '-' missing, '+' unexpected, '~' extra span allowed):"
)


def make_span(
    span_id,
    parent_id,
    kind,
    name,
    duration_ms=0,
    metadata=None,
    *,
    events=(),
    links=(),
):
    return Span(
        trace_id="trace-1",
        span_id=span_id,
        parent_id=parent_id,
        kind=SpanKind(kind),
        name=name,
        start_ms=0,
        start_unix_ms=1_700_000_000_000,
        duration_ms=duration_ms,
        metadata=dict(metadata or {}),
        links=list(links),
        events=list(events),
    )


def pipeline_spans(model="gpt-4"):
    """The trace of format_summary's example, in completion order (children first)."""
    return [
        make_span(2, 1, "llm_call", "gpt-4", 10, {"model": model, "tokens": 100}),
        make_span(3, 1, "tool_call", "search", 5),
        make_span(1, None, "pipeline", "main", 15),
    ]


def failure(actual, expected, **options):
    with pytest.raises(AssertionError) as info:
        assert_span_tree(actual, expected, **options)
    return str(info.value)


# --- passing expectations ---------------------------------------------------------


def test_format_summary_output_pasted_as_is_passes():
    spans = pipeline_spans()
    summary = (
        "Trace: 3 spans, 15ms total\n"
        "\n"
        "pipeline main 15ms\n"
        '  llm_call gpt-4 10ms (model="gpt-4", tokens=100)\n'
        "  tool_call search 5ms"
    )
    assert format_summary(spans) == summary

    assert_span_tree(spans, summary)


def test_indented_triple_quoted_text_passes():
    assert_span_tree(
        pipeline_spans(),
        """
        Trace: 3 spans, 15ms total

        pipeline main 15ms
          llm_call gpt-4 10ms (model="gpt-4", tokens=100)
          tool_call search 5ms
        """,
    )


def test_text_without_durations_or_metadata_checks_only_kinds_and_names():
    assert_span_tree(
        pipeline_spans(),
        """
        pipeline main
          llm_call gpt-4
          tool_call search
        """,
    )


def test_metadata_in_text_is_a_subset_match():
    assert_span_tree(pipeline_spans(), 'pipeline main\n  llm_call gpt-4 (model="gpt-4")\n  ...')


def test_no_spans_recorded_means_an_empty_tree():
    assert_span_tree([], "No spans recorded.")
    assert_span_tree([], "")
    assert_span_tree([], [])


def test_names_with_spaces_parse_up_to_the_duration():
    spans = [make_span(1, None, "resume", "resume worker 7", 3)]

    assert_span_tree(spans, "resume resume worker 7 3ms")
    assert parse_tree_text("resume resume worker 7 3ms") == [
        node("resume", "resume worker 7", duration_ms=3)
    ]


def test_metadata_json_may_hold_commas_parens_and_equals_signs():
    metadata = {"query": 'a, (b=c) "d"', "args": {"x": [1, 2]}, "none": None, "ok": True}
    spans = [make_span(1, None, "tool_call", "search", 1, metadata)]

    assert_span_tree(spans, format_summary(spans))
    assert_span_tree(spans, 'tool_call search (query="a, (b=c) \\"d\\"", args={"x":[1, 2]})')


@pytest.mark.parametrize(
    ("value", "written"),
    [(1e-06, "1e-6"), (1e16, "1e16"), (1.0, "1.0"), (1, "1.0"), (1.0, "1"), (0.00001, "1e-5")],
)
def test_metadata_numbers_compare_numerically(value, written):
    spans = [make_span(1, None, "llm_call", "gpt-4", 1, {"cost_usd": value})]

    assert_span_tree(spans, f"llm_call gpt-4 (cost_usd={written})")
    assert_span_tree(spans, format_summary(spans))


def test_json_true_does_not_match_the_number_one():
    spans = [make_span(1, None, "llm_call", "gpt-4", 1, {"cached": 1})]

    message = failure(spans, "llm_call gpt-4 (cached=true)")

    assert message.splitlines()[0] == (
        'span tree mismatch at llm_call gpt-4: metadata["cached"] expected true, got 1'
    )


def test_spans_whose_parent_is_missing_are_not_part_of_the_tree():
    spans = [*pipeline_spans(), make_span(9, 42, "tool_call", "orphan")]

    assert_span_tree(spans, "pipeline main\n  llm_call gpt-4\n  tool_call search")
    message = failure(spans, "pipeline main")
    assert message.splitlines()[-1] == (
        "  (1 span(s) not drawn: parent span 42 is not among the spans)"
    )


def test_spans_under_an_open_root_name_it_in_the_first_line_and_below():
    collector = SpanCollector()
    collector.start("pipeline", "never-closed")
    collector.end(collector.start("llm_call", "plan"))

    message = failure(collector, "pipeline never-closed\n  llm_call plan")

    assert message.splitlines() == [
        "span tree mismatch at pipeline never-closed: missing span (span 1 pipeline "
        "'never-closed' is still open: end it before asserting)",
        "",
        LEGEND,
        "- pipeline never-closed",
        "?   span 1 pipeline 'never-closed' is still open: end it before asserting",
        "-   llm_call plan",
        "  (1 span(s) not drawn: parent span 1 pipeline 'never-closed' is still open)",
    ]


def test_actual_may_be_a_tuple_or_an_object_with_spans():
    class Collector:
        def __init__(self, spans):
            self._spans = spans

        def spans(self):
            return list(self._spans)

    class Capture:
        def __init__(self, spans):
            self._spans = spans

        @property
        def spans(self):
            return list(self._spans)

    expected = "pipeline main\n  llm_call gpt-4\n  tool_call search"
    assert_span_tree(tuple(pipeline_spans()), expected)
    assert_span_tree(Collector(pipeline_spans()), expected)
    assert_span_tree(Capture(pipeline_spans()), expected)


# --- failure messages -------------------------------------------------------------


def test_metadata_mismatch_names_the_path_and_the_values():
    message = failure(
        pipeline_spans(model="gpt-3.5"),
        """
        pipeline main
          llm_call gpt-4 (model="gpt-4")
          tool_call search
        """,
    )

    assert message == "\n".join(
        [
            'span tree mismatch at pipeline main > llm_call gpt-4: metadata["model"] '
            'expected "gpt-4", got "gpt-3.5"',
            "",
            LEGEND,
            "  pipeline main 15ms",
            '!   llm_call gpt-4 10ms (model="gpt-3.5", tokens=100)',
            '?     metadata["model"] expected "gpt-4", got "gpt-3.5"',
            "    tool_call search 5ms",
        ]
    )


def test_missing_metadata_key_is_reported():
    message = failure(
        pipeline_spans(), 'pipeline main\n  llm_call gpt-4 (provider="openai")\n  ...'
    )

    assert message.splitlines()[0] == (
        'span tree mismatch at pipeline main > llm_call gpt-4: metadata["provider"] '
        'expected "openai", key missing'
    )


def test_missing_child_is_drawn_where_it_was_expected():
    message = failure(
        pipeline_spans(),
        """
        pipeline main
          llm_call gpt-4
          tool_call fetch (url="https://x")
          tool_call search
        """,
    )

    assert message == "\n".join(
        [
            "span tree mismatch at pipeline main > tool_call fetch: missing span",
            "",
            LEGEND,
            "  pipeline main 15ms",
            '    llm_call gpt-4 10ms (model="gpt-4", tokens=100)',
            '-   tool_call fetch (url="https://x")',
            "    tool_call search 5ms",
        ]
    )


def test_missing_subtree_draws_every_expected_line():
    message = failure(
        pipeline_spans(), "pipeline main\n  ...\n  step plan\n    fn_call helper\n      ...\n"
    )

    assert message.splitlines()[3:] == [
        "  pipeline main 15ms",
        '~   llm_call gpt-4 10ms (model="gpt-4", tokens=100)',
        "~   tool_call search 5ms",
        "-   step plan",
        "-     fn_call helper",
    ]


def test_unexpected_child_is_marked_with_its_subtree():
    spans = [
        *pipeline_spans(),
        make_span(5, 4, "llm_call", "summarize", 2),
        make_span(4, 1, "fn_call", "helper", 3),
    ]

    message = failure(spans, "pipeline main\n  llm_call gpt-4\n  tool_call search")

    assert message == "\n".join(
        [
            "span tree mismatch at pipeline main > fn_call helper: unexpected span",
            "",
            LEGEND,
            "  pipeline main 15ms",
            '    llm_call gpt-4 10ms (model="gpt-4", tokens=100)',
            "    tool_call search 5ms",
            "+   fn_call helper 3ms",
            "+     llm_call summarize 2ms",
        ]
    )


def test_wrong_kind_is_reported_on_the_span_with_the_same_name():
    message = failure(pipeline_spans(), "pipeline main\n  fn_call gpt-4\n  tool_call search")

    assert message.splitlines()[0] == (
        'span tree mismatch at pipeline main > llm_call gpt-4: kind expected "fn_call", '
        'got "llm_call"'
    )
    assert message.splitlines()[4:6] == [
        '!   llm_call gpt-4 10ms (model="gpt-4", tokens=100)',
        '?     kind expected "fn_call", got "llm_call"',
    ]


def test_wrong_name_and_duration_are_reported_together():
    message = failure(pipeline_spans(), "pipeline main\n  llm_call gpt-5 12ms\n  tool_call search")

    assert message.splitlines()[0] == (
        'span tree mismatch at pipeline main > llm_call gpt-4: name expected "gpt-5", '
        'got "gpt-4"; duration_ms expected 12, got 10'
    )


def test_wrong_order_fails_and_points_to_ordered_false():
    expected = "pipeline main\n  tool_call search\n  llm_call gpt-4"

    message = failure(pipeline_spans(), expected)

    hint = (
        "out of order: it matches 'tool_call search 5ms' at another place; "
        "ordered=False allows any order"
    )
    assert message == "\n".join(
        [
            f"span tree mismatch at pipeline main > tool_call search: missing span ({hint})",
            "",
            LEGEND,
            "  pipeline main 15ms",
            "-   tool_call search",
            f"?     {hint}",
            '    llm_call gpt-4 10ms (model="gpt-4", tokens=100)',
            "+   tool_call search 5ms",
        ]
    )


def test_wrong_order_passes_with_ordered_false():
    assert_span_tree(
        pipeline_spans(), "pipeline main\n  tool_call search\n  llm_call gpt-4", ordered=False
    )


def test_unordered_uses_each_span_once():
    spans = [make_span(2, 1, "tool_call", "search"), make_span(1, None, "pipeline", "main")]

    message = failure(spans, "pipeline main\n  tool_call search\n  tool_call search", ordered=False)

    assert message.splitlines()[0] == (
        "span tree mismatch at pipeline main > tool_call search: missing span"
    )
    assert message.splitlines()[2].endswith("extra span allowed; ordered=False):")


def test_exact_false_skips_intermediate_spans():
    spans = [
        make_span(3, 2, "llm_call", "gpt-4", 10),
        make_span(2, 1, "step", "plan", 12),
        make_span(4, 1, "tool_call", "search", 5),
        make_span(1, None, "pipeline", "main", 15),
    ]
    expected = "pipeline main\n  llm_call gpt-4\n  tool_call search"

    hint = (
        "it matches 'llm_call gpt-4 10ms' deeper in the tree; exact=False allows spans in between"
    )
    assert failure(spans, expected).splitlines() == [
        f"span tree mismatch at pipeline main > llm_call gpt-4: missing span ({hint})",
        "",
        LEGEND,
        "  pipeline main 15ms",
        "-   llm_call gpt-4",
        f"?     {hint}",
        "+   step plan 12ms",
        "+     llm_call gpt-4 10ms",
        "    tool_call search 5ms",
    ]
    assert_span_tree(spans, expected, exact=False)
    assert_span_tree(spans, "llm_call gpt-4", exact=False)  # a root matches any span


def test_exact_false_failure_marks_ignored_spans():
    spans = [
        make_span(3, 2, "llm_call", "gpt-4", 10),
        make_span(2, 1, "step", "plan", 12),
        make_span(4, 1, "tool_call", "search", 5),
        make_span(1, None, "pipeline", "main", 15),
    ]

    message = failure(spans, "pipeline main\n  llm_call gpt-4 11ms\n  tool_call fetch", exact=False)

    assert message == "\n".join(
        [
            "span tree mismatch at pipeline main > llm_call gpt-4: duration_ms expected 11, got 10",
            "",
            "Actual span tree against the expected one ('!' mismatch, '-' missing, "
            "'+' unexpected, '~' extra span allowed; exact=False):",
            "  pipeline main 15ms",
            "~   step plan 12ms",
            "!     llm_call gpt-4 10ms",
            "?       duration_ms expected 11, got 10",
            "~   tool_call search 5ms",
            "-   tool_call fetch",
        ]
    )


def test_exact_false_keeps_expected_siblings_apart():
    nested = [
        make_span(3, 2, "tool_call", "c"),
        make_span(2, 1, "tool_call", "b"),
        make_span(1, None, "pipeline", "main"),
    ]
    expected = "pipeline main\n  tool_call b\n  tool_call c"

    for ordered in (True, False):
        with pytest.raises(AssertionError, match="missing span"):
            assert_span_tree(nested, expected, exact=False, ordered=ordered)
    assert_span_tree(nested, "pipeline main\n  tool_call c", exact=False)


def test_exact_false_keeps_order_unless_told_otherwise():
    spans = pipeline_spans()
    expected = "pipeline main\n  tool_call search\n  llm_call gpt-4"

    with pytest.raises(AssertionError, match="out of order"):
        assert_span_tree(spans, expected, exact=False)
    assert_span_tree(spans, expected, exact=False, ordered=False)


def test_ellipsis_at_root_matches_any_number_of_roots():
    spans = [
        make_span(10, None, "vm_setup", "boot"),
        *pipeline_spans(),
        make_span(11, None, "drain", "settle"),
    ]

    assert_span_tree(spans, "...\npipeline main\n  ...\n...")
    assert_span_tree(spans, [..., node("pipeline", "main", ...), ...])
    message = failure(spans, "pipeline main\n  ...\n...")
    assert message.splitlines()[0] == "span tree mismatch at vm_setup boot: unexpected span"


def test_nested_ellipsis_matches_zero_or_more_spans():
    spans = pipeline_spans()

    assert_span_tree(spans, "pipeline main\n  ...\n  tool_call search")
    assert_span_tree(spans, "pipeline main\n  llm_call gpt-4\n  ...\n  tool_call search")
    assert_span_tree(spans, node("pipeline", "main", ..., node("llm_call", "gpt-4"), ...))


def test_spans_matched_by_ellipsis_are_marked_extra():
    message = failure(pipeline_spans(), "pipeline main\n  ...\n  tool_call fetch")

    assert message.splitlines()[3:] == [
        "  pipeline main 15ms",
        '~   llm_call gpt-4 10ms (model="gpt-4", tokens=100)',
        "!   tool_call search 5ms",
        '?     name expected "fetch", got "search"',
    ]


def test_star_matches_any_kind_or_name():
    spans = pipeline_spans()

    assert_span_tree(spans, "* main\n  llm_call *\n  * *")
    assert_span_tree(spans, node("*", "main", node("llm_call", "*"), node("*", "*")))
    message = failure(spans, "* main\n  llm_call *")
    assert message.splitlines()[0] == (
        "span tree mismatch at pipeline main > tool_call search: unexpected span"
    )


# --- matchers ---------------------------------------------------------------------


def test_structured_nodes_accept_matchers_in_every_field():
    spans = pipeline_spans()

    assert_span_tree(
        spans,
        node(
            SpanKind.PIPELINE,
            IsStr,
            node(
                "llm_call",
                re.compile(r"gpt-\d"),
                metadata={"model": ANY, "tokens": IsInt(gt=50)},
                duration_ms=lambda duration: duration < 60_000,
            ),
            node(ANY, str, metadata=dict),
        ),
    )


def test_matcher_mismatch_shows_the_matcher():
    message = failure(
        pipeline_spans(),
        node(
            "pipeline",
            "main",
            node("llm_call", re.compile(r"claude-.*"), metadata={"tokens": IsInt(gt=500)}),
            node("tool_call", IsStr(regex="s.*"), duration_ms=IsPositiveInt & IsInt(gt=9)),
        ),
    )

    assert message.splitlines()[3:] == [
        "  pipeline main 15ms",
        '!   llm_call gpt-4 10ms (model="gpt-4", tokens=100)',
        "?     name expected re.compile('claude-.*'), got \"gpt-4\"",
        '?     metadata["tokens"] expected IsInt(gt=500), got 100',
        "!   tool_call search 5ms",
        "?     duration_ms expected IsPositiveInt & IsInt(gt=9), got 5",
    ]


def test_predicate_mismatch_and_exception_are_reported():
    def is_even(value):
        return value % 2 == 0

    spans = [make_span(1, None, "llm_call", "gpt-4", 5, {"model": "gpt-4"})]

    message = failure(
        spans, node("llm_call", "gpt-4", duration_ms=is_even, metadata={"model": is_even})
    )

    assert message.splitlines()[4:] == [
        "?   duration_ms expected <predicate is_even>, got 5",
        '?   metadata["model"] expected <predicate is_even>, got "gpt-4" '
        "(predicate raised TypeError: not all arguments converted during string formatting)",
    ]


def test_type_matches_by_isinstance():
    spans = [make_span(1, None, "llm_call", "gpt-4", 5, {"tokens": 3})]

    assert_span_tree(spans, node("llm_call", str, metadata={"tokens": int}))
    message = failure(spans, node("llm_call", str, metadata={"tokens": float}))
    assert message.splitlines()[0] == (
        'span tree mismatch at llm_call gpt-4: metadata["tokens"] expected '
        "<instance of float>, got 3"
    )


def test_metadata_matcher_for_the_whole_dict():
    spans = pipeline_spans()

    assert_span_tree(spans, [node("pipeline", "main", ..., metadata={})])
    message = failure(spans, [node("pipeline", "main", ..., metadata=lambda meta: bool(meta))])
    assert message.splitlines()[0] == (
        "span tree mismatch at pipeline main: metadata expected <predicate <lambda>>, got {}"
    )


# --- events and links -------------------------------------------------------------


def events_span():
    return [
        make_span(
            1,
            None,
            "llm_call",
            "gpt-4",
            9,
            events=[
                SpanEvent("request_sent", 1_700_000_000_001, 1),
                SpanEvent("first_token", 1_700_000_000_004, 4, {"tokens": 1}),
            ],
            links=[SpanLink("trace-0", "17", {"reason": "retry"})],
        )
    ]


def test_events_and_links_match_by_name_dict_record_or_matcher():
    spans = events_span()

    assert_span_tree(
        spans,
        node(
            "llm_call",
            "gpt-4",
            events=["request_sent", {"name": "first_token", "attributes": {"tokens": 1}}],
            links=["17"],
        ),
    )
    assert_span_tree(
        spans,
        node(
            "llm_call",
            "gpt-4",
            events=[SpanEvent("request_sent", 1_700_000_000_001, 1), ANY],
            links=[SpanLink("trace-0", "17", {"reason": "retry"})],
        ),
    )
    assert_span_tree(spans, node("llm_call", "gpt-4", events=lambda events: len(events) == 2))


def test_event_mismatches_name_the_index_or_the_count():
    spans = events_span()

    message = failure(spans, node("llm_call", "gpt-4", events=["request_sent", "done"]))
    assert message.splitlines()[0] == (
        'span tree mismatch at llm_call gpt-4: events[1] expected "done", got "first_token"'
    )

    message = failure(spans, node("llm_call", "gpt-4", events=["request_sent"]))
    assert message.splitlines()[0] == (
        'span tree mismatch at llm_call gpt-4: events expected 1 item(s) ["request_sent"], '
        'got 2 ["request_sent", "first_token"]'
    )


def test_link_mismatch_shows_the_link_as_its_expectation_is_written():
    spans = events_span()

    message = failure(spans, node("llm_call", "gpt-4", links=[{"span_id": "18"}]))
    assert message.splitlines()[0] == (
        'span tree mismatch at llm_call gpt-4: links[0] expected {"span_id":"18"}, '
        'got {"trace_id":"trace-0","span_id":"17","attributes":{"reason":"retry"}}'
    )

    message = failure(spans, node("llm_call", "gpt-4", links=[]))
    assert message.splitlines()[0] == (
        "span tree mismatch at llm_call gpt-4: links expected 0 item(s) [], "
        'got 1 [{"trace_id":"trace-0","span_id":"17","attributes":{"reason":"retry"}}]'
    )

    message = failure(spans, node("llm_call", "gpt-4", links=["17", "18"]))
    assert message.splitlines()[0] == (
        'span tree mismatch at llm_call gpt-4: links expected 2 item(s) ["17", "18"], got 1 ["17"]'
    )


def test_unordered_siblings_pair_by_name_before_drawing_a_mismatch():
    spans = [
        make_span(2, 1, "tool_call", "a", 0, {"q": "a"}),
        make_span(3, 1, "tool_call", "b", 0, {"q": "b"}),
        make_span(4, 1, "tool_call", "c"),
        make_span(1, None, "pipeline", "main"),
    ]
    expected = 'pipeline main\n  tool_call c\n  tool_call x\n  tool_call a (q="b")'

    message = failure(spans, expected, ordered=False)

    assert message == "\n".join(
        [
            'span tree mismatch at pipeline main > tool_call a: metadata["q"] expected "b", '
            'got "a"',
            "",
            LEGEND.removesuffix("):") + "; ordered=False):",
            "  pipeline main 0ms",
            '!   tool_call a 0ms (q="a")',
            '?     metadata["q"] expected "b", got "a"',
            '+   tool_call b 0ms (q="b")',
            "    tool_call c 0ms",
            "-   tool_call x",
        ]
    )


def test_unordered_siblings_still_report_a_wrong_kind_on_the_same_name():
    message = failure(
        pipeline_spans(), "pipeline main\n  tool_call search\n  fn_call gpt-4", ordered=False
    )

    assert message.splitlines()[0] == (
        'span tree mismatch at pipeline main > llm_call gpt-4: kind expected "fn_call", '
        'got "llm_call"'
    )


REAL_CLOCK_HINT = (
    "(durations came from the real clock: use the mock_clock fixture, "
    "or leave the Nms out of the expectation)"
)


class RealClockCapture:
    real_clock = True

    def __init__(self, spans):
        self.spans = spans


REAL_CLOCK_REFUSAL = (
    "expects an exact duration, but this trace was timed by the real clock, so its durations "
    "change from run to run and the check would pass or fail by chance; use the mock_clock "
    "fixture (or mark the test @pytest.mark.harn_trace), or leave the duration out of the "
    "expectation"
)


@pytest.mark.parametrize(
    "expected",
    [
        "pipeline main 15ms\n  llm_call gpt-4 10ms\n  ...",  # the readings match
        "pipeline main 15ms\n  llm_call gpt-4 12ms\n  ...",  # they don't
        node("pipeline", "main", node("llm_call", "gpt-4", duration_ms=10), ...),
    ],
    ids=["same", "different", "node"],
)
def test_exact_duration_on_the_real_clock_fails_whatever_the_reading(expected):
    with pytest.raises(RealClockError) as info:
        assert_span_tree(RealClockCapture(pipeline_spans()), expected)
    line = "llm_call gpt-4 10ms" if isinstance(expected, ExpectedSpan) else "pipeline main 15ms"
    assert str(info.value) == f"assert_span_tree(): {line!r} {REAL_CLOCK_REFUSAL}"


def test_exact_duration_on_a_collector_on_the_real_clock_fails_too():
    collector = SpanCollector()
    collector.end(collector.start("pipeline", "main"))
    assert collector.used_real_clock
    duration = collector.spans()[0].duration_ms

    with pytest.raises(RealClockError, match="expects an exact duration"):
        assert_span_tree(collector, f"pipeline main {duration}ms")
    assert_span_tree(collector, "pipeline main")


def test_a_name_ending_in_ms_is_no_duration_on_the_real_clock():
    # format_summary(durations=False) draws the span named "main 15ms" as this line.
    assert_span_tree(
        RealClockCapture([make_span(1, None, "pipeline", "main 15ms")]), "pipeline main 15ms"
    )


def test_duration_matcher_mismatch_on_the_real_clock_says_to_use_mock_clock():
    expected = node("pipeline", "main", node("llm_call", "gpt-4", duration_ms=IsInt(gt=10)), ...)

    message = failure(RealClockCapture(pipeline_spans()), expected)

    assert message.splitlines()[0] == (
        "span tree mismatch at pipeline main > llm_call gpt-4: duration_ms expected "
        f"IsInt(gt=10), got 10 {REAL_CLOCK_HINT}"
    )


def test_duration_mismatch_from_the_mock_clock_has_no_clock_hint():
    class Capture:
        real_clock = False

        def __init__(self, spans):
            self.spans = spans

    message = failure(Capture(pipeline_spans()), "pipeline main 16ms\n  ...")

    assert message.splitlines()[0] == (
        "span tree mismatch at pipeline main: duration_ms expected 16, got 15"
    )


# --- names that look like syntax --------------------------------------------------

AWKWARD_NAMES = [
    "",
    "  ",
    "trailing ",
    " leading",
    "x (y=1)",
    'x (q="why")',
    "x (flag=True)",
    "a (k=1) 3ms",
    "x (",
    "f(x",
    ")",
    "a=b",
    "a, b",
    "5ms",
    "x 5ms",
    "...",
    "*",
    "\u00e9t\u00e9 \u2028",
]


@pytest.mark.parametrize("durations", [True, False], ids=["durations", "no-durations"])
@pytest.mark.parametrize("metadata", [{"k": "v"}, {}], ids=["metadata", "no-metadata"])
@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_pasted_summary_passes_whatever_the_span_names(name, metadata, durations):
    spans = [
        make_span(2, 1, "step", name, 7, metadata),
        make_span(3, 1, "step", name, 8),
        make_span(1, None, "pipeline", "main", 15),
    ]

    assert_span_tree(spans, format_summary(spans, durations=durations))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("step  leading 7ms", node("step", " leading", duration_ms=7)),
        ("step trailing  7ms", node("step", "trailing ", duration_ms=7)),
        ("step  7ms", node("step", "", duration_ms=7)),
        ('step  7ms (k="v")', node("step", "", duration_ms=7, metadata={"k": "v"})),
        ("step x (y) 7ms", node("step", "x (y)", duration_ms=7)),
        (
            'step x (y=1) 7ms (k="v")',
            node("step", "x (y=1)", duration_ms=7, metadata={"k": "v"}),
        ),
        (
            'step a (k=1) 3ms 7ms (k="v (j=2)")',
            node("step", "a (k=1) 3ms", duration_ms=7, metadata={"k": "v (j=2)"}),
        ),
        ("step x 5ms 7ms", node("step", "x 5ms", duration_ms=7)),
        ("step x ( 7ms", node("step", "x (", duration_ms=7)),
        ("step ... 7ms", node("step", "...", duration_ms=7)),
        ("step  leading  ", node("step", " leading")),
        ("step * 7ms", node("step", "*", duration_ms=7)),
    ],
)
def test_line_is_read_from_the_right(line, expected):
    assert parse_tree_text(line) == [expected]


def test_star_name_is_still_a_wildcard():
    spans = [make_span(1, None, "step", "anything", 7)]

    assert_span_tree(spans, "step * 7ms")
    assert_span_tree(spans, "step *")


def test_line_without_duration_may_read_as_metadata_or_as_a_name():
    named = [make_span(1, None, "step", "x (y=1)")]
    with_metadata = [make_span(1, None, "step", "x", 0, {"y": 1})]

    assert_span_tree(named, "step x (y=1)")
    assert_span_tree(with_metadata, "step x (y=1)")
    assert_span_tree([make_span(1, None, "step", "x 5ms", 3)], "step x 5ms")
    message = failure([make_span(1, None, "step", "x")], "step x (y=1)")
    assert message.splitlines()[0] == (
        'span tree mismatch at step x: metadata["y"] expected 1, key missing'
    )


def test_malformed_line_is_an_error_unless_a_span_has_that_name():
    text = "llm_call gpt (model=gpt-4)"

    assert_span_tree([make_span(1, None, "llm_call", "gpt (model=gpt-4)")], text)
    with pytest.raises(ValueError) as info:
        assert_span_tree([make_span(1, None, "llm_call", "gpt", 0, {"model": "gpt-4"})], text)
    assert str(info.value) == (
        "line 1: bad metadata JSON in 'llm_call gpt (model=gpt-4)': value of 'model' at "
        'column 21: Expecting value; strings need double quotes, e.g. model="gpt-4"'
    )


# --- parsing ----------------------------------------------------------------------


def test_parse_tree_text_builds_nodes():
    roots = parse_tree_text(
        """
        Trace: 3 spans, 15ms total

        pipeline main 15ms
          llm_call gpt-4 10ms (model="gpt-4", tokens=100)
          ...
        * *
        """
    )

    assert roots == [
        node(
            "pipeline",
            "main",
            node("llm_call", "gpt-4", metadata={"model": "gpt-4", "tokens": 100}, duration_ms=10),
            ...,
            duration_ms=15,
        ),
        node("*", "*"),
    ]


def test_node_repr_reads_like_the_call():
    tree = node("pipeline", "main", node("llm_call", "*", metadata={"model": ANY}), ...)

    assert repr(tree) == (
        "node('pipeline', 'main', node('llm_call', '*', metadata={'model': <ANY>}), ...)"
    )
    assert isinstance(tree, ExpectedSpan)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "\n    pipeline main\n       llm_call gpt-4\n",
            "line 3: indent is not a multiple of 2 spaces in '       llm_call gpt-4': "
            "3 beyond the common indent; indent two spaces per level",
        ),
        (
            "\n    pipeline main\n        llm_call gpt-4\n",
            "line 3: line indented 2 levels deeper than its parent in "
            "'        llm_call gpt-4': indent a child two spaces more than its parent",
        ),
        (
            "pipeline main\n  llm_call\n",
            "line 2: missing span name in '  llm_call': write `kind name`, e.g. `llm_call gpt-4`",
        ),
        (
            "\n  pipeline main\n    llm_call gpt (model=gpt-4)\n",
            "line 3: bad metadata JSON in '    llm_call gpt (model=gpt-4)': value of 'model' "
            'at column 25: Expecting value; strings need double quotes, e.g. model="gpt-4"',
        ),
        (
            'pipeline main\n  llm_call gpt (model="gpt-4"',
            "line 2: unbalanced parentheses in '  llm_call gpt (model=\"gpt-4\"': "
            "the '(' at column 16 is never closed",
        ),
        (
            'pipeline main\n  llm_call gpt (model="gpt-4"))',
            "line 2: unbalanced parentheses in '  llm_call gpt (model=\"gpt-4\"))': "
            "unexpected ')' after the metadata",
        ),
        (
            "pipeline main\n  llm_call gpt(4",
            "line 2: unbalanced parentheses in '  llm_call gpt(4': "
            "write metadata as (key=json, key=json) after the name",
        ),
        (
            "pipeline main\n  ...\n    llm_call gpt-4",
            "line 3: '...' cannot have children in '    llm_call gpt-4': see line 2",
        ),
        (
            "\n\npipelin main",
            "line 3: unknown span kind 'pipelin' in 'pipelin main': use one of: pipeline, "
            "fn_call, llm_call, tool_call, import, parallel, spawn, step, vm_setup, "
            "suspension, resume, drain, drain_decision, pool_submit, pool_dequeue, "
            "channel_emit, channel_match, user_timing, model_route, tool_mount, "
            "deferred_tool_load",
        ),
        (
            "llm_call gpt (a=1 b=2)",
            "line 1: bad metadata in 'llm_call gpt (a=1 b=2)': expected ',' or ')' after the "
            "value of 'a' at column 19",
        ),
        (
            "llm_call gpt (a=1, a=2)",
            "line 1: bad metadata in 'llm_call gpt (a=1, a=2)': key 'a' given twice",
        ),
        (
            "llm_call gpt (a=NaN)",
            "line 1: bad metadata JSON in 'llm_call gpt (a=NaN)': value of 'a' at column 17: "
            'NaN is not a JSON value; strings need double quotes, e.g. a="NaN"',
        ),
        (
            "No spans recorded.\npipeline main",
            "line 2: a span after 'No spans recorded.' (line 1) in 'pipeline main'",
        ),
        (
            "pipeline main\n\t llm_call gpt-4",
            "line 2: tab in indentation in '\\t llm_call gpt-4': indent with two spaces per level",
        ),
        (
            'llm_call gpt (model="gpt-4") 10ms',
            "line 1: bad metadata in 'llm_call gpt (model=\"gpt-4\") 10ms': "
            "write the duration before the metadata",
        ),
        (
            'llm_call (model="gpt-4")',
            "line 1: missing span name in 'llm_call (model=\"gpt-4\")': "
            "write `kind name`, e.g. `llm_call gpt-4`",
        ),
    ],
)
def test_malformed_text_names_the_line(text, message):
    with pytest.raises(ValueError) as info:
        parse_tree_text(text)

    assert str(info.value) == message


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ("True", "JSON spells it true, e.g. flag=true"),
        ("False", "JSON spells it false, e.g. flag=false"),
        ("None", "JSON spells it null, e.g. flag=null"),
        ("'why?'", 'strings need double quotes, e.g. flag="why?"'),
        ("'a, (b)'", 'strings need double quotes, e.g. flag="a, (b)"'),
    ],
)
def test_python_values_in_metadata_get_their_json_spelling(written, hint):
    with pytest.raises(ValueError) as info:
        parse_tree_text(f"step check (flag={written})")

    assert str(info.value) == (
        f"line 1: bad metadata JSON in {f'step check (flag={written})'!r}: value of 'flag' "
        f"at column 18: Expecting value; {hint}"
    )


def test_line_indented_less_than_the_first_is_blamed_itself():
    with pytest.raises(ValueError) as info:
        parse_tree_text("\n        pipeline agent\n      llm_call x\n")

    assert str(info.value) == (
        "line 3: line indented less than the first span line in '      llm_call x': "
        "line 2 starts the tree; indent every span line at least as much"
    )


def test_text_starting_on_the_line_of_the_quotes_is_dedented_like_cleandoc():
    spans = [
        make_span(3, 2, "fn_call", "y"),
        make_span(2, 1, "llm_call", "x"),
        make_span(4, 1, "tool_call", "z"),
        make_span(1, None, "pipeline", "agent"),
    ]

    assert_span_tree(
        spans[:2] + spans[3:],
        """pipeline agent
          llm_call x
            fn_call y
    """,
    )
    assert_span_tree(
        spans,
        """pipeline agent
          llm_call x
            fn_call y
          tool_call z
    """,
    )
    # Lines below with no indent stay siblings of the first.
    assert parse_tree_text("pipeline a\npipeline b") == [
        node("pipeline", "a"),
        node("pipeline", "b"),
    ]


def test_malformed_text_fails_before_any_comparison():
    with pytest.raises(ValueError, match=r"^line 2: missing span name"):
        assert_span_tree(pipeline_spans(), "pipeline main\n  llm_call")


# --- bad arguments ----------------------------------------------------------------


def test_actual_of_the_wrong_type_raises_type_error():
    accepted = (
        "pass a list or tuple of Span, or an object with a `spans` attribute "
        "(a list of Span, or a method returning one) such as a SpanCollector or the "
        "`trace` fixture"
    )

    with pytest.raises(TypeError) as info:
        assert_span_tree(42, "pipeline main")
    assert str(info.value) == f"assert_span_tree() cannot read spans from int; {accepted}"

    with pytest.raises(TypeError) as info:
        assert_span_tree(pipeline_spans()[0], "llm_call gpt-4")
    assert str(info.value) == f"assert_span_tree() got a single Span; {accepted}, e.g. [span]"

    with pytest.raises(TypeError) as info:
        assert_span_tree([{"name": "x"}], "pipeline main")
    assert str(info.value) == (
        f"assert_span_tree(): item 0 of actual is dict, not a Span; {accepted}"
    )


def test_expected_of_the_wrong_type_raises_type_error():
    with pytest.raises(TypeError) as info:
        assert_span_tree(pipeline_spans(), 42)
    assert str(info.value) == (
        "assert_span_tree(): expected must be tree text (str), a node(...), or a list of "
        "node(...) roots, got int"
    )

    with pytest.raises(TypeError) as info:
        assert_span_tree(pipeline_spans(), [node("pipeline", "main"), "tool_call x"])
    assert str(info.value) == (
        "assert_span_tree(): expected root 1 must be node(...) or ..., got str 'tool_call x'"
    )


def test_ordered_and_exact_must_be_bools():
    with pytest.raises(TypeError) as info:
        assert_span_tree(pipeline_spans(), "...", ordered=1)  # type: ignore[arg-type]

    assert str(info.value) == (
        "assert_span_tree(): ordered and exact must be True or False, got ordered=1, exact=True"
    )


def test_node_rejects_children_that_are_not_nodes():
    with pytest.raises(TypeError) as info:
        node("pipeline", "main", {"model": "gpt-4"})  # type: ignore[arg-type]

    assert str(info.value) == (
        "node('pipeline', 'main'): child 0 must be node(...) or ... (Ellipsis), got dict "
        "{'model': 'gpt-4'} (pass metadata as metadata={...})"
    )


def test_node_rejects_unknown_kinds_and_missing_names():
    with pytest.raises(
        ValueError, match=r"^node\('llm', 'gpt-4'\): unknown span kind 'llm'; use one of: pipeline"
    ):
        node("llm", "gpt-4")
    with pytest.raises(TypeError, match=r"^node\(\): name is required"):
        node("llm_call", None)


# --- against a brute-force reference ---------------------------------------------

KINDS = ["fn_call", "tool_call"]
NAMES = ["a", "b"]


@st.composite
def small_traces(draw):
    count = draw(st.integers(0, 6))
    spans = []
    for span_id in range(1, count + 1):
        parent = draw(st.sampled_from([None, *range(1, span_id)]))
        kind = draw(st.sampled_from(KINDS))
        spans.append(make_span(span_id, parent, kind, draw(st.sampled_from(NAMES))))
    return draw(st.permutations(spans))


def small_patterns():
    def build(kind, name, children=()):
        return node(kind, name, *children)

    leaf = st.builds(build, st.sampled_from([*KINDS, "*"]), st.sampled_from([*NAMES, "*"]))
    tree = st.recursive(
        leaf,
        lambda children: st.builds(
            build,
            st.sampled_from([*KINDS, "*"]),
            st.sampled_from([*NAMES, "*"]),
            st.lists(children | st.just(...), max_size=3),
        ),
        max_leaves=4,
    )
    return st.lists(tree | st.just(...), max_size=3)


def reference_match(spans, pattern, *, ordered, exact):
    """Pass or fail by brute force: every glob split, permutation or injective mapping."""
    children = {}
    for span in spans:
        children.setdefault(span.parent_id, []).append(span)

    def local(expected, span):
        kind_ok = repr(expected.kind) == "'*'"
        name_ok = repr(expected.name) == "'*'"
        return (kind_ok or expected.kind == span.kind) and (name_ok or expected.name == span.name)

    def siblings(items, spans_here):
        nodes = [item for item in items if item is not ...]
        if ordered:
            if not items:
                return not spans_here
            head, rest = items[0], items[1:]
            if head is ...:
                return any(siblings(rest, spans_here[k:]) for k in range(len(spans_here) + 1))
            return (
                bool(spans_here) and whole(head, spans_here[0]) and siblings(rest, spans_here[1:])
            )
        if len(nodes) < len(items) or len(nodes) == len(spans_here):
            return any(
                all(whole(item, span) for item, span in zip(nodes, chosen, strict=True))
                for chosen in itertools.permutations(spans_here, len(nodes))
            )
        return False

    def whole(expected, span):
        return local(expected, span) and siblings(
            list(expected.children), children.get(span.span_id, [])
        )

    if exact:
        return siblings(list(pattern), children.get(None, []))

    flat, ancestors = [], {}

    def walk(span, above):
        flat.append(span)
        ancestors[span.span_id] = above
        for child in children.get(span.span_id, []):
            walk(child, above | {span.span_id})

    for root in children.get(None, []):
        walk(root, frozenset())
    expected = []

    def collect(items, parent):
        for item in items:
            if item is not ...:
                expected.append((item, parent))
                collect(item.children, len(expected) - 1)

    collect(pattern, None)
    position = {span.span_id: index for index, span in enumerate(flat)}
    for chosen in itertools.permutations(flat, len(expected)):
        if not all(local(item, span) for (item, _), span in zip(expected, chosen, strict=True)):
            continue
        if any(
            parent is not None and chosen[parent].span_id not in ancestors[span.span_id]
            for (_, parent), span in zip(expected, chosen, strict=True)
        ):
            continue
        fine = True
        for (i, (_, parent_a)), (j, (_, parent_b)) in itertools.combinations(
            enumerate(expected), 2
        ):
            if parent_a != parent_b:
                continue
            a, b = chosen[i], chosen[j]
            if a.span_id in ancestors[b.span_id] or b.span_id in ancestors[a.span_id]:
                fine = False
            if ordered and position[a.span_id] > position[b.span_id]:
                fine = False
        if fine:
            return True
    return False


def count_nodes(items):
    return sum(1 + count_nodes(item.children) for item in items if item is not ...)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_traces(), small_patterns(), st.booleans(), st.booleans())
def test_pass_or_fail_agrees_with_brute_force(spans, pattern, ordered, exact):
    if not exact and count_nodes(pattern) > 5:
        return
    try:
        assert_span_tree(spans, pattern, ordered=ordered, exact=exact)
        passed = True
    except AssertionError as error:
        assert str(error).startswith("span tree mismatch")
        passed = False

    assert passed == reference_match(spans, pattern, ordered=ordered, exact=exact)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=5,
)


# Pieces of the text syntax, so names mix them more often than random text would.
NAME_PIECES = [" ", "  ", "(", ")", " (", "=", ",", '"', "'", "k=1", " (k=1)", ' (q="a")', "\t"]
NAME_PIECES += ["ms", "5ms", " 5ms", "...", "*", "-", "gpt-4", "\u00e9", "\u2028", "\x0b", "\\"]

# Any text but a line break: a name holding one cannot be written on one line.
span_names = st.text(st.characters(exclude_characters="\n"), max_size=12) | st.lists(
    st.sampled_from(NAME_PIECES) | st.text(st.characters(exclude_characters="\n"), max_size=2),
    max_size=6,
).map("".join)

# Keys are written bare: no "=", "(", ")", "," nor spaces at either end (use node() then).
metadata_keys = st.text(st.characters(exclude_characters="=(),\n"), max_size=6).filter(
    lambda key: key == key.strip()
)


@st.composite
def summarized_traces(draw):
    count = draw(st.integers(1, 5))
    spans = []
    for span_id in range(1, count + 1):
        spans.append(
            make_span(
                span_id,
                draw(st.sampled_from([None, *range(1, span_id)])),
                draw(st.sampled_from(list(SpanKind))).value,
                draw(span_names),
                draw(st.integers(0, 10**6)),
                draw(st.dictionaries(metadata_keys, json_values, max_size=3)),
            )
        )
    return draw(st.permutations(spans))


@settings(max_examples=500, deadline=None)
@given(summarized_traces(), st.booleans())
def test_format_summary_output_always_matches_its_own_spans(spans, durations):
    if not durations and any(span.name.endswith("\r") for span in spans if not span.metadata):
        # Unavoidable: a "\r" ending a line is read as half of a "\r\n" line break. Every
        # other trailing space or tab reads back: the unstripped text is another reading.
        return
    summary = format_summary(spans, durations=durations)

    assert_span_tree(spans, summary)
    assert_span_tree(spans, "\n".join("        " + line for line in summary.split("\n")))


# --- spans that moved ---------------------------------------------------------


def test_a_span_found_as_a_root_instead_of_under_its_parent_is_reported_as_moved():
    spans = [
        make_span(2, None, "tool_call", "tool-1", 5),
        make_span(3, 1, "llm_call", "plan", 2),
        make_span(1, None, "pipeline", "main", 9),
    ]

    message = failure(spans, "pipeline main\n  llm_call plan\n  tool_call tool-1")

    assert message.splitlines() == [
        "span tree mismatch: tool_call tool-1 expected under pipeline main, found as a root "
        "(its parent context was lost: started in a fresh context or a bare thread?)",
        "",
        LEGEND,
        "+ tool_call tool-1 5ms",
        "?   expected under pipeline main (its parent context was lost: started in a fresh "
        "context or a bare thread?)",
        "  pipeline main 9ms",
        "    llm_call plan 2ms",
        "-   tool_call tool-1",
        "?     found as a root",
    ]


def test_a_span_found_under_another_parent_is_reported_as_moved_there():
    spans = [
        make_span(3, 2, "tool_call", "search"),
        make_span(2, 1, "step", "other"),
        make_span(4, 1, "step", "mine"),
        make_span(1, None, "pipeline", "main"),
    ]

    message = failure(
        spans, "pipeline main\n  step other\n  step mine\n    tool_call search", exact=True
    )

    assert message.splitlines()[0] == (
        "span tree mismatch: tool_call search expected under pipeline main > step mine, "
        "found under pipeline main > step other"
    )
    assert "?       expected under pipeline main > step mine" in message.splitlines()


def test_expected_span_checks_its_children_at_construction():
    with pytest.raises(TypeError) as info:
        ExpectedSpan("step", "x", children=(None,))  # type: ignore[arg-type]
    assert str(info.value) == (
        "ExpectedSpan(children=...): child 0 must be an ExpectedSpan or ... (Ellipsis), "
        "got NoneType None"
    )
    with pytest.raises(TypeError, match=r"expected a tuple of ExpectedSpan or \.\.\., got list"):
        ExpectedSpan("step", "x", children=[])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"ExpectedSpan\(\): name is required"):
        ExpectedSpan("step", None)
    assert ExpectedSpan("step", "x", children=(node("step", "y"), ...)).children[1] is ...

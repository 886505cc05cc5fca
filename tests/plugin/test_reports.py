"""The ``Captured trace call`` report section and its option."""

from __future__ import annotations

import pytest

FAILING_TEST = """
from pytest_harn_trace import span

def test_agent(trace, mock_clock):
    with span("pipeline", "main"):
        with span("llm_call", "gpt-4", model="gpt-4"):
            mock_clock.advance(12)
    assert False, "boom"

def test_passing(trace, mock_clock):
    with span("pipeline", "quiet"):
        mock_clock.advance(1)
"""


def test_failed_test_shows_its_trace_summary(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FAILING_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Captured trace call -*",
            "Trace: 2 spans, 12ms total",
            "",
            "pipeline main 12ms",
            '  llm_call gpt-4 12ms (model="gpt-4")',
        ]
    )
    result.stdout.no_fnmatch_line("pipeline quiet*")


def test_report_never_hides_the_section(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FAILING_TEST)
    result = pytester.runpytest("--harn-trace-report=never")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.no_fnmatch_line("*Captured trace call*")


def test_report_all_adds_the_section_to_passing_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FAILING_TEST)
    result = pytester.runpytest("--harn-trace-report=all", "-rP")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*- Captured trace call -*", "pipeline quiet 1ms"])


def test_report_mode_comes_from_the_ini_file(pytester: pytest.Pytester, inner_ini: str) -> None:
    pytester.makeini(inner_ini + "harn_trace_report = never\n")
    pytester.makepyfile(FAILING_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.no_fnmatch_line("*Captured trace call*")


def test_bad_report_mode_in_ini_is_a_usage_error(pytester: pytest.Pytester, inner_ini: str) -> None:
    pytester.makeini(inner_ini + "harn_trace_report = sometimes\n")
    pytester.makepyfile(FAILING_TEST)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*harn_trace_report = 'sometimes' is not a report mode; use one of: failed, all, never"]
    )


def test_open_spans_are_listed_under_the_summary(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_harn_trace import span_start

        def test_agent(trace):
            span_start("pipeline", "main")
            span_start("tool_call", "search")
            assert False
        """
    )
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            "*- Captured trace call -*",
            "No spans recorded.",
            "",
            "Still open: pipeline main (span 1), tool_call search (span 2 under span 1)",
        ]
    )


def test_open_spans_are_records_a_test_reads_by_name(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_harn_trace import OpenSpan, SpanKind, span

        def test_agent(trace, mock_clock):
            with span("pipeline", "mine", user="ada") as mine:
                [open_span] = trace.open_spans
                assert isinstance(open_span, OpenSpan)
                assert open_span.name == "mine"
                assert open_span.kind is SpanKind.PIPELINE
                assert open_span.span_id == mine.span_id
                assert open_span.parent_id is None
                assert open_span.metadata == {"user": "ada"}
                assert open_span.start_ms >= 0
                assert open_span.start_unix_ms == mock_clock.wall_ms
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_tests_without_trace_get_no_section(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert False\n")
    result = pytester.runpytest("--harn-trace-report=all")
    result.assert_outcomes(failed=1)
    result.stdout.no_fnmatch_line("*Captured trace*")


def test_spans_under_an_open_root_are_drawn_under_its_name(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_harn_trace import span, span_start

        def test_agent(trace, mock_clock):
            span_start("pipeline", "never-closed")
            with span("llm_call", "plan"):
                mock_clock.advance(3)
            trace.assert_tree('''
                pipeline never-closed
                  llm_call plan
            ''')
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: span tree mismatch at pipeline never-closed: missing span "
            "(span 1 pipeline 'never-closed' is still open: end it before asserting)",
            "E       ",
            "E       Actual span tree against the expected one *",
            "E       - pipeline never-closed",
            "E       ?   span 1 pipeline 'never-closed' is still open: end it before asserting",
            "E       -   llm_call plan",
            "E         (1 span(s) not drawn: parent span 1 pipeline 'never-closed' is still open)",
            "",
            "*: AssertionError",
            "*- Captured trace call -*",
            "Trace: 1 spans, 0ms total",  # the total of the drawn roots
            "",
            "Not drawn, parent span 1 pipeline 'never-closed' is still open:",
            "  llm_call plan 3ms",
            "",
            "Still open: *never-closed*",
        ],
        consecutive=True,
    )
    result.stdout.no_fnmatch_line("*no spans recorded*")


def test_huge_int_in_a_failing_test_is_refused_and_the_session_goes_on(
    pytester: pytest.Pytester,
) -> None:
    # Its digits run past Python's int-to-str limit: refused where it is set, and
    # the report of the failing test still draws the trace.
    pytester.makepyfile(
        """
        from pytest_harn_trace import span

        def test_huge(trace, mock_clock):
            with span("pipeline", "outer"):
                with span("pipeline", "x", n=10**5000):
                    pass

        def test_after():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "E * ValueError: span(\"n\"): int of 16610 bits does not fit in 64 bits*",
        "*- Captured trace call -*",
        "pipeline outer 0ms (error=*int of 16610 bits does not fit in 64 bits*",
    ])
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_a_trace_that_cannot_be_drawn_says_so_in_the_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_harn_trace import Span, SpanKind

        def test_broken(trace):
            # Not reachable through the API, which checks every value: a stand-in
            # for whatever might still break the drawing.
            bad = Span("t", 1, None, SpanKind.STEP, "x", 0, 0, 0, {"k": object()}, (), ())
            trace.collector._completed.append(bad)
            assert False

        def test_after():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Captured trace call -*",
            "(the trace could not be drawn: TypeError: to_json: cannot render object value*",
        ]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")

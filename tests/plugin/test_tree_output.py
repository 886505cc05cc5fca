"""How assert_span_tree failures look in real pytest output (pytester runs)."""

from __future__ import annotations

import glob

import pytest

SPANS_HELPER = """
from pytest_harn_trace.tracing.model import Span, SpanKind
from pytest_harn_trace.assertions.tree import assert_span_tree, node


def make_span(span_id, parent_id, kind, name, duration_ms=0, metadata=None):
    return Span("trace-1", span_id, parent_id, SpanKind(kind), name, 0, 0, duration_ms,
                dict(metadata or {}), [], [])


def pipeline_spans(model):
    return [
        make_span(2, 1, "llm_call", "gpt-4", 10, {"model": model, "tokens": 100}),
        make_span(3, 1, "tool_call", "search", 5),
        make_span(1, None, "pipeline", "main", 15),
    ]
"""

LEGEND = (
    "Actual span tree against the expected one "
    "('!' mismatch, '-' missing, '+' unexpected, '~' extra span allowed):"
)

TB_PREFIX = {"long": "E       ", "short": "E   ", "native": ""}
"""What pytest puts before each line of the exception message, per --tb style."""


def message_lines(lines, tb="long"):
    """fnmatch patterns matching exactly these message lines, as pytest prints them."""
    prefix = TB_PREFIX[tb]
    first, *rest = lines
    return [
        glob.escape(f"{prefix}AssertionError: {first}"),
        *(glob.escape(f"{prefix}{line}") for line in rest),
    ]


def test_metadata_mismatch_is_shown_in_full(pytester):
    pytester.makepyfile(
        SPANS_HELPER
        + '''

def test_llm_model():
    assert_span_tree(pipeline_spans("gpt-3.5"), """
        pipeline main
          llm_call gpt-4 (model="gpt-4")
          tool_call search
    """)
'''
    )

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([">       assert_span_tree(pipeline_spans(*"])
    result.stdout.fnmatch_lines(
        [
            *message_lines(
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
            ),
            "",
            "test_metadata_mismatch_is_shown_in_full.py:*: AssertionError",
        ],
        consecutive=True,
    )
    # __tracebackhide__: the traceback stops at the test, not inside the package.
    result.stdout.no_fnmatch_line("*pytest_harn_trace/*.py*")


def test_missing_span_is_shown_in_full(pytester):
    pytester.makepyfile(
        SPANS_HELPER
        + """

def test_summary_step():
    assert_span_tree(
        pipeline_spans("gpt-4"),
        node(
            "pipeline",
            "main",
            node("llm_call", "gpt-4"),
            node("fn_call", "summarize", node("llm_call", "*")),
            node("tool_call", "search"),
        ),
    )
"""
    )

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        message_lines(
            [
                "span tree mismatch at pipeline main > fn_call summarize: missing span",
                "",
                LEGEND,
                "  pipeline main 15ms",
                '    llm_call gpt-4 10ms (model="gpt-4", tokens=100)',
                "-   fn_call summarize",
                "-     llm_call *",
                "    tool_call search 5ms",
            ]
        ),
        consecutive=True,
    )
    result.stdout.fnmatch_lines(
        ["FAILED test_missing_span_is_shown_in_full.py::test_summary_step - Assert*"]
    )


@pytest.mark.parametrize(
    ("options", "tb"),
    [([], "long"), (["-q"], "long"), (["-vv"], "long"), (["--tb=short"], "short")],
)
def test_long_tree_message_is_not_truncated(pytester, options, tb):
    pytester.makepyfile(
        SPANS_HELPER
        + """

def test_many_tools():
    spans = [make_span(i + 2, 1, "tool_call", f"tool{i}", 1) for i in range(45)]
    spans.append(make_span(1, None, "pipeline", "main", 50))
    expected = "pipeline main\\n" + "".join(f"  tool_call tool{i}\\n" for i in range(44))
    expected += "  tool_call last\\n"
    assert_span_tree(spans, expected)
"""
    )

    result = pytester.runpytest(*options)

    result.assert_outcomes(failed=1)
    tools = [f"    tool_call tool{i} 1ms" for i in range(44)]
    result.stdout.fnmatch_lines(
        message_lines(
            [
                "span tree mismatch at pipeline main > tool_call tool44: "
                'name expected "last", got "tool44"',
                "",
                LEGEND,
                "  pipeline main 50ms",
                *tools,
                "!   tool_call tool44 1ms",
                '?     name expected "last", got "tool44"',
            ],
            tb,
        ),
        consecutive=True,
    )
    result.stdout.no_fnmatch_line("*Full output truncated*")


def test_native_traceback_shows_the_message_too(pytester):
    pytester.makepyfile(
        SPANS_HELPER
        + """

def test_unexpected():
    assert_span_tree(pipeline_spans("gpt-4"), "pipeline main\\n  llm_call gpt-4")
"""
    )

    result = pytester.runpytest("--tb=native")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        message_lines(
            [
                "span tree mismatch at pipeline main > tool_call search: unexpected span",
                "",
                LEGEND,
                "  pipeline main 15ms",
                '    llm_call gpt-4 10ms (model="gpt-4", tokens=100)',
                "+   tool_call search 5ms",
            ],
            "native",
        ),
        consecutive=True,
    )


def failure_section(result):
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "= FAILURES =" in line)
    end = next(i for i, line in enumerate(lines) if "short test summary info" in line)
    return lines[start:end]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (
            "          llm_call gpt (flag=True)",
            "line 3: bad metadata JSON in '          llm_call gpt (flag=True)': "
            "value of 'flag' at column 30: Expecting value; JSON spells it true, e.g. flag=true",
        ),
        (
            "      llm_call gpt",
            "line 3: line indented less than the first span line in '      llm_call gpt': "
            "line 2 starts the tree; indent every span line at least as much",
        ),
    ],
    ids=["bad-json", "bad-indent"],
)
def test_malformed_text_failure_shows_only_the_users_line(pytester, line, error):
    pytester.makepyfile(
        SPANS_HELPER
        + f'''

def test_bad_text():
    assert_span_tree(pipeline_spans("gpt-4"), """
        pipeline main
{line}
    """)
'''
    )

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "    def test_bad_text():",
            ">       assert_span_tree(pipeline_spans(*",
            "            pipeline main",
            f"    {line}",
            '        """)',
            glob.escape(f"E       ValueError: {error}"),
            "",
            "test_malformed_text_failure_shows_only_the_users_line.py:*: ValueError",
        ],
        consecutive=True,
    )
    result.stdout.no_fnmatch_line("*def parse_tree_text*")
    result.stdout.no_fnmatch_line("*pytest_harn_trace/*.py*")
    assert len(failure_section(result)) < 15


def test_real_clock_durations_in_an_expectation_fail_every_time(pytester):
    pytester.makepyfile(
        """
from pytest_harn_trace import node, span


def test_text(trace):
    with span("pipeline", "main"):
        pass
    trace.assert_tree("pipeline main 0ms")  # the reading is 0ms, almost always


def test_node(trace):
    with span("pipeline", "main"):
        pass
    trace.assert_tree(node("pipeline", "main", duration_ms=trace.spans[0].duration_ms))


def test_without_durations(trace):
    with span("pipeline", "main"):
        pass
    trace.assert_tree("pipeline main")
"""
    )

    result = pytester.runpytest()

    result.assert_outcomes(failed=2, passed=1)
    advice = (
        "expects an exact duration, but this trace was timed by the real clock, so its "
        "durations change from run to run and the check would pass or fail by chance; use the "
        "mock_clock fixture (or mark the test @pytest.mark.harn_trace), or leave the duration "
        "out of the expectation"
    )
    result.stdout.fnmatch_lines(
        [
            '>       trace.assert_tree("pipeline main 0ms")*',
            glob.escape(
                "E       pytest_harn_trace.RealClockError: assert_span_tree(): "
                f"'pipeline main 0ms' {advice}"
            ),
            "",
            "test_real_clock_durations_in_an_expectation_fail_every_time.py:7: RealClockError",
            "*",
            ">       trace.assert_tree(node(*",
            "E       pytest_harn_trace.RealClockError: assert_span_tree(): 'pipeline main *ms' "
            + glob.escape(advice),
        ]
    )
    result.stdout.no_fnmatch_line("*pytest_harn_trace/*")


def test_misspelled_kind_gets_the_suggestion_span_gives_in_text_and_node(pytester):
    pytester.makepyfile(
        """
from pytest_harn_trace import node


def test_text(trace):
    trace.assert_tree("tool-call search")


def test_node(trace):
    trace.assert_tree(node("tool-call", "search"))
"""
    )

    result = pytester.runpytest("--tb=short")

    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            '    trace.assert_tree("tool-call search")',
            "E   ValueError: line 1: unknown span kind 'tool-call' in 'tool-call search': "
            "did you mean 'tool_call'?",
            "*",
            '    trace.assert_tree(node("tool-call", "search"))',
            "E   ValueError: node('tool-call', 'search'): unknown span kind 'tool-call'; "
            "did you mean 'tool_call'?",
        ]
    )
    result.stdout.no_fnmatch_line("*pytest_harn_trace/*.py*")


def test_span_that_lost_its_parent_in_a_bare_thread_is_reported_as_moved(pytester):
    pytester.makepyfile(
        '''
import contextvars
import threading

from pytest_harn_trace import span


def call_tool():
    with span("tool_call", "tool-1"):
        pass


def test_agent(trace, mock_clock):
    with span("pipeline", "main"):
        # An empty context, as a bare thread has (on free-threaded builds it inherits one).
        worker = threading.Thread(target=contextvars.Context().run, args=(call_tool,))
        worker.start()
        worker.join()
    trace.assert_tree("""
        pipeline main
          tool_call tool-1
    """)
'''
    )

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    lost = "(its parent context was lost: started in a fresh context or a bare thread?)"
    result.stdout.fnmatch_lines(
        message_lines(
            [
                f"span tree mismatch: tool_call tool-1 expected under pipeline main, "
                f"found as a root {lost}",
                "",
                LEGEND,
                # The two roots ran concurrently (the worker ran inside main), so the
                # actual tree is drawn in the expectation's order.
                "  pipeline main 0ms",
                "-   tool_call tool-1",
                "?     found as a root",
                "+ tool_call tool-1 0ms",
                f"?   expected under pipeline main {lost}",
            ]
        ),
        consecutive=True,
    )

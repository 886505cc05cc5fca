"""How mistakes in instrumented code look in pytest output: the user's line and the fix."""

from __future__ import annotations

import glob

JSON_TYPES = "(str, int, float, bool, None, list or dict)"


MISTAKES = [
    (
        'with span("pipeline", "main", started=datetime.datetime(2024, 1, 1)): pass',
        f'TypeError: span("started"): datetime is not a JSON value {JSON_TYPES}; use .isoformat()',
    ),
    (
        'with span("pipeline", "main") as s: s.set("tags", {"a", "b"})',
        f'TypeError: SpanHandle.set(span 1, "tags"): set is not a JSON value {JSON_TYPES}; '
        "use sorted(...) or list(...)",
    ),
    (
        'with span("pipeline", "main") as s: span_set_metadata(s.span_id, "id", uuid.UUID(int=1))',
        f'TypeError: span_set_metadata(span 1, "id"): UUID is not a JSON value {JSON_TYPES}; '
        "use str(...)",
    ),
    (
        'with span("pipeline", "main") as s: span_record_event(s.span_id, "e", {"at": {"d": DAY}})',
        'TypeError: span_record_event(span 1, "at"): date at ["d"] is not a JSON value '
        f"{JSON_TYPES}; use .isoformat()",
    ),
    (
        'emit_marker_span("model_route", "m", [("when", datetime.time(1, 2))])',
        f'TypeError: emit_marker_span("when"): time is not a JSON value {JSON_TYPES}; '
        "use .isoformat()",
    ),
    (
        'with span("tool-call", "search"): pass',
        "ValueError: unknown span kind 'tool-call'; did you mean 'tool_call'?",
    ),
]


def test_instrumentation_errors_end_at_the_users_call_and_say_the_fix(pytester):
    pytester.makepyfile(
        "import datetime\nimport uuid\n\nfrom pytest_harn_trace import *\n\n"
        "DAY = datetime.date.min\n"
        + "".join(
            f"\n\ndef test_{number}(trace):\n    {call}\n"
            for number, (call, _) in enumerate(MISTAKES)
        )
    )

    result = pytester.runpytest()

    result.assert_outcomes(failed=len(MISTAKES))
    for number, (call, error) in enumerate(MISTAKES):
        result.stdout.fnmatch_lines(
            [
                f"*_ test_{number} _*",
                f"    def test_{number}(trace):",
                f">       {glob.escape(call)}",
                # (Python may underline the call here)
                glob.escape(f"E       {error}"),
                "",
                f"test_*.py:{10 + 4 * number}: {error.partition(':')[0]}",
            ]
        )
    result.stdout.no_fnmatch_line("*pytest_harn_trace/*")


def test_decorated_function_failure_shows_no_frame_of_the_decorator(pytester):
    pytester.makepyfile(
        """
from pytest_harn_trace import span


@span("tool_call", "search")
def search(query):
    raise LookupError(f"no result for {query}")


def test_agent(trace):
    search("q")
"""
    )

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '>       search("q")',
            "",
            "test_decorated_function_failure_shows_no_frame_of_the_decorator.py:10: ",
            "_ _ _ *",
            "",
            "query = 'q'",
            "",
            '    @span("tool_call", "search")',
            "    def search(query):",
            '>       raise LookupError(f"no result for {query}")',
            "E       LookupError: no result for q",
        ],
        consecutive=True,
    )
    result.stdout.no_fnmatch_line("*pytest_harn_trace/*")

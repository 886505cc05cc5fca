"""A failed tree assertion in a real run: short lines, and the trace drawn once."""

from __future__ import annotations

import pytest

FAILING_TREE = """
from pytest_harn_trace import span

def test_agent(trace, mock_clock):
    with span("pipeline", "main"):
        with span("llm_call", "plan", model="gpt-4"):
            mock_clock.advance(12)
    trace.assert_tree('''
        pipeline main
          llm_call plan (model="gpt-5")
    ''')
"""


def test_the_captured_trace_section_does_not_draw_the_tree_again(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(FAILING_TREE)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Captured trace call -*",
            "Trace: 2 spans, 12ms total",
            "",
            "The assertion above draws the trace against the expectation; for the whole "
            "summary here too, run with -vv (or print trace.summary()).",
        ],
        consecutive=True,
    )
    # Under CI, pytest repeats the whole message in its short summary: count above that.
    report = result.stdout.str().partition("short test summary info")[0]
    assert report.count("pipeline main 12ms") == 1


def test_with_vv_the_captured_trace_section_shows_the_whole_summary(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(FAILING_TREE)
    result = pytester.runpytest("-vv")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Captured trace call -*",
            "Trace: 2 spans, 12ms total",
            "",
            "pipeline main 12ms",
            '  llm_call plan 12ms (model="gpt-4")',
        ],
        consecutive=True,
    )


def test_other_failures_still_show_the_whole_trace(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FAILING_TREE.replace("trace.assert_tree(", "assert False, ("))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*- Captured trace call -*", "Trace: 2 spans, 12ms total", "", "pipeline main 12ms"]
    )


def test_captured_genai_spans_are_drawn_with_the_expected_keys_only(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import asyncio

        from pydantic_ai import Agent
        from pydantic_ai.models.test import TestModel

        def test_agent(trace, mock_clock):
            Agent.instrument_all(True)
            try:
                agent = Agent(TestModel(), name="weather_agent")

                @agent.tool_plain
                async def get_weather(city: str) -> str:
                    return f"sunny in {city}"

                asyncio.run(agent.run("What is the weather in Paris?"))
            finally:
                Agent.instrument_all(False)
            trace.assert_tree('''
                pipeline weather_agent
                  llm_call test (input_tokens=1)
                  ...
            ''')
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: span tree mismatch at pipeline weather_agent > llm_call test: "
            'metadata[[]"input_tokens"] expected 1, got *',
            "E       !   llm_call test *ms (*input_tokens=*, \u2026 * more keys)",
        ]
    )
    drawn = [line for line in result.stdout.lines if line.startswith("E   ")]
    assert max(len(line) for line in drawn) < 200, max(drawn, key=len)

"""A test's trace runs from its first fixture's setup to its last fixture's teardown."""

from __future__ import annotations

import pytest

AGENT_FIXTURES = """
import pytest
from pytest_harn_trace import span

@pytest.fixture
def answer():
    with span("pipeline", "agent"):
        with span("llm_call", "gpt-4"):
            pass
    return 42

@pytest.fixture
def connection():
    with span("tool_call", "connect"):
        pass
    yield "conn"
    with span("tool_call", "disconnect"):
        pass
"""


def test_a_fixture_set_up_before_trace_records_into_the_tests_trace(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(AGENT_FIXTURES)
    pytester.makepyfile(
        """
        def test_x(answer, trace):
            assert answer == 42
            trace.assert_tree('''
                pipeline agent
                  llm_call gpt-4
            ''')
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_the_marker_captures_the_tests_own_fixtures_too(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(AGENT_FIXTURES)
    pytester.makepyfile(
        """
        import pytest
        from pytest_harn_trace import current_collector

        @pytest.mark.harn_trace
        def test_x(answer, request):
            trace = request.getfixturevalue("trace")
            assert [s.name for s in trace.spans] == ["gpt-4", "agent"]
            assert trace.collector is current_collector()
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_fixture_teardown_spans_are_part_of_the_trace(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(AGENT_FIXTURES)
    pytester.makepyfile(
        """
        captured = {}

        def test_first(connection, trace):
            captured["first"] = trace
            assert [s.name for s in trace.spans] == ["connect"]

        def test_second():
            assert [s.name for s in captured["first"].spans] == ["connect", "disconnect"]
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_wider_scoped_fixtures_are_not_part_of_any_tests_trace(pytester: pytest.Pytester) -> None:
    # timed() records even with tracing off, so where these spans go shows which
    # collector was current while the module fixture was set up and torn down.
    pytester.makepyfile(
        test_a_module="""
        import pytest
        from pytest_harn_trace import timed

        captured = []

        @pytest.fixture(scope="module")
        def server():
            with timed("server-up"):
                pass
            yield "server"
            with timed("server-down"):
                pass

        @pytest.fixture
        def client(server):
            with timed("client-up"):
                pass
            yield server
            with timed("client-down"):
                pass

        def test_first(client, trace):
            captured.append(trace)

        def test_last(client, trace):
            captured.append(trace)
        """,
        test_b_check="""
        from test_a_module import captured

        def test_the_module_fixture_stayed_out():
            first, last = captured
            assert [s.name for s in first.spans] == ["client-up", "client-down"]
            assert [s.name for s in last.spans] == ["client-up", "client-down"]
        """,
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


def test_failed_setup_reports_the_spans_recorded_so_far(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_harn_trace import span

        @pytest.fixture
        def broken():
            with span("pipeline", "warm-up"):
                pass
            raise RuntimeError("no model")

        def test_x(broken, trace):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*- Captured trace setup -*", "Trace: 1 spans, *", "", "pipeline warm-up *"]
    )


def test_a_failed_test_reports_its_fixtures_teardown_spans(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(AGENT_FIXTURES)
    pytester.makepyfile(
        """
        def test_x(connection, trace):
            assert False
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Captured trace call -*",
            "Trace: 1 spans, *",
            "",
            "tool_call connect *",
            "*- Captured trace teardown -*",
            "Trace: 2 spans, *",
            "",
            "tool_call connect *",
            "tool_call disconnect *",
        ]
    )


def test_a_passing_tests_teardown_section_shows_with_report_all(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(AGENT_FIXTURES)
    pytester.makepyfile("def test_x(connection, trace):\n    pass\n")
    result = pytester.runpytest("--harn-trace-report=all", "-rP")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*- Captured trace call -*", "*- Captured trace teardown -*", "tool_call disconnect *"]
    )
    quiet = pytester.runpytest("-rP")
    quiet.assert_outcomes(passed=1)
    quiet.stdout.no_fnmatch_line("*Captured trace*")


def test_a_fixture_of_the_same_name_shadows_the_plugins_trace(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_harn_trace import is_tracing_enabled, span_start

        @pytest.fixture
        def setup_first():
            return is_tracing_enabled()

        @pytest.fixture
        def trace():
            return "my own"

        def test_x(setup_first, trace):
            assert trace == "my own"
            assert not setup_first
            assert not is_tracing_enabled()
            span_start("pipeline", "left open, but tracing is off")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_trace_asked_for_during_the_test_captures_from_then_on(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_harn_trace import is_tracing_enabled, span

        captured = {}

        def test_x(request):
            assert not is_tracing_enabled()
            trace = request.getfixturevalue("trace")
            with span("pipeline", "late"):
                pass
            captured["trace"] = trace
            assert [s.name for s in trace.spans] == ["late"]

        def test_after():
            assert not is_tracing_enabled()
            assert [s.name for s in captured["trace"].spans] == ["late"]
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)

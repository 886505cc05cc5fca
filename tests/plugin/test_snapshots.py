"""Trace snapshots with syrupy: text and JSON files, redaction, refusal of real-clock traces."""

from __future__ import annotations

import json

import pytest

AGENT_TEST = """
import pytest
from pytest_harn_trace import span, span_link, span_start_with_links, span_end

def run_agent(clock):
    with span("pipeline", "main", request_id="req-8f2a") as main:
        link = main.link()
        with span("llm_call", "gpt-4", model="gpt-4"):
            clock.advance(30)
        clock.advance(5)
    resumed = span_start_with_links("resume", "resume worker", [link])
    span_end(resumed)

def test_agent(trace, mock_clock, trace_snapshot):
    run_agent(mock_clock)
    assert trace == trace_snapshot

def test_agent_json(trace, mock_clock, trace_json_snapshot):
    run_agent(mock_clock)
    assert trace == trace_json_snapshot
"""

REDACT_CONFTEST = """
def pytest_harn_trace_redact(span):
    if "request_id" in span.get("metadata", {}):
        span["metadata"]["request_id"] = "<request_id>"
"""


def test_trace_snapshot_writes_a_readable_summary_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=AGENT_TEST)
    result = pytester.runpytest("--snapshot-update")
    result.assert_outcomes(passed=2)
    text = (pytester.path / "__snapshots__" / "test_agent" / "test_agent.txt").read_text()
    assert text == (
        "Trace: 3 spans, 35ms total\n"
        "\n"
        'pipeline main 35ms (request_id="req-8f2a")\n'
        '  llm_call gpt-4 30ms (model="gpt-4")\n'
        "resume resume worker 0ms\n"
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_trace_json_snapshot_is_normalized(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=AGENT_TEST)
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=2)
    path = pytester.path / "__snapshots__" / "test_agent" / "test_agent_json.json"
    stored = json.loads(path.read_text())
    assert [span["trace_id"] for span in stored] == ["trace_1"] * 3
    assert stored[2]["links"] == [{"trace_id": "trace_1", "span_id": "1"}]
    assert stored[0] == {
        "trace_id": "trace_1",
        "span_id": 2,
        "parent_id": 1,
        "kind": "llm_call",
        "name": "gpt-4",
        "start_unix_ms": 1_700_000_000_000,
        "duration_ms": 30,
        "metadata": {"model": "gpt-4"},
    }
    assert all("start_ms" not in span for span in stored)
    pytester.runpytest().assert_outcomes(passed=2)


def test_redact_hook_rewrites_both_snapshot_forms(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(REDACT_CONFTEST)
    pytester.makepyfile(test_agent=AGENT_TEST)
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=2)
    snapshots = pytester.path / "__snapshots__" / "test_agent"
    text = (snapshots / "test_agent.txt").read_text()
    assert 'pipeline main 35ms (request_id="<request_id>")' in text
    stored = json.loads((snapshots / "test_agent_json.json").read_text())
    assert stored[1]["metadata"] == {"request_id": "<request_id>"}


def test_changed_trace_fails_with_a_diff(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=AGENT_TEST)
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=2)
    pytester.makepyfile(test_agent=AGENT_TEST.replace("clock.advance(30)", "clock.advance(31)"))
    result = pytester.runpytest("-k", "test_agent and not json")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(["*- *llm_call gpt-4 30ms*", "*+ *llm_call gpt-4 31ms*"])


def test_changed_long_trace_shows_the_whole_line_diff_without_vv(
    pytester: pytest.Pytester,
) -> None:
    agent = """
        from pytest_harn_trace import span

        def test_agent(trace, mock_clock, trace_snapshot):
            with span("pipeline", "main"):
                for step in range(30):
                    with span("step", f"step-{step}"):
                        mock_clock.advance(SLOW if step == 25 else 1)
            assert trace == trace_snapshot
        """
    pytester.makepyfile(test_agent=agent.replace("SLOW", "1"))
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    pytester.makepyfile(test_agent=agent.replace("SLOW", "2"))

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([">       assert trace == trace_snapshot"])
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: trace snapshot 'test_agent' differs from the trace ('-' "
            "snapshot, '+' trace; pytest --snapshot-update accepts the trace):",
            "E       - Trace: 31 spans, 30ms total",
            "E       + Trace: 31 spans, 31ms total",
            "E         ",
            "E       - pipeline main 30ms",
            "E       + pipeline main 31ms",
            *(f"E           step step-{step} 1ms" for step in range(25)),
            "E       -   step step-25 1ms",
            "E       +   step step-25 2ms",
            *(f"E           step step-{step} 1ms" for step in range(26, 30)),
            "",
            "test_agent.py:8: AssertionError",
        ],
        consecutive=True,
    )
    result.stdout.no_fnmatch_line("*truncated*")
    result.stdout.fnmatch_lines(["*1 snapshot failed*"])


def test_real_clock_trace_is_refused_with_advice(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_harn_trace import span

        def test_no_mock(trace, trace_snapshot):
            with span("pipeline", "main"):
                pass
            assert trace == trace_snapshot
        """
    )
    result = pytester.runpytest("--snapshot-update")
    result.assert_outcomes(failed=1)
    # The error itself, whole, at the user's line: not a syrupy diff cut by pytest.
    result.stdout.fnmatch_lines(
        [
            ">       assert trace == trace_snapshot",
            "E       pytest_harn_trace.RealClockError: this trace was timed by the real clock, "
            "so its durations and times change from run to run and a snapshot of it would be "
            "flaky; use the mock_clock fixture (or mark the test @pytest.mark.harn_trace), or "
            "leave durations out: assert trace.without_durations() == trace_snapshot",
            "",
            "test_real_clock_trace_is_refused_with_advice.py:*: RealClockError",
        ]
    )
    result.stdout.no_fnmatch_line("*received*")
    assert not (pytester.path / "__snapshots__").exists()


def test_a_refused_trace_keeps_its_stored_snapshot(pytester: pytest.Pytester) -> None:
    agent = """
        from pytest_harn_trace import span

        def test_agent(trace, trace_snapshot, request):
            CLOCK
            with span("pipeline", "main"):
                pass
            assert trace_snapshot == trace  # either side
        """
    pytester.makepyfile(test_agent=agent.replace("CLOCK", 'request.getfixturevalue("mock_clock")'))
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    stored = pytester.path / "__snapshots__" / "test_agent" / "test_agent.txt"
    assert stored.exists()
    pytester.makepyfile(test_agent=agent.replace("CLOCK", "pass"))

    result = pytester.runpytest("--snapshot-update")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E       pytest_harn_trace.RealClockError: this trace was *"])
    result.stdout.no_fnmatch_line("*unused*")
    assert stored.exists()


def test_without_durations_snapshots_a_real_clock_trace(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_harn_trace import span

        def test_no_mock(trace, trace_snapshot, trace_json_snapshot):
            with span("pipeline", "main"):
                with span("tool_call", "search") as call:
                    call.event("hit")
            assert trace.without_durations() == trace_snapshot
            assert trace.without_durations() == trace_json_snapshot
        """
    )
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    folder = pytester.path / "__snapshots__" / "test_without_durations_snapshots_a_real_clock_trace"
    assert (folder / "test_no_mock.txt").read_text() == (
        "Trace: 2 spans\n\npipeline main\n  tool_call search\n"
    )
    stored = json.loads((folder / "test_no_mock.json").read_text())
    assert stored[0]["events"] == [{"name": "hit"}]
    assert "duration_ms" not in stored[0] and "start_unix_ms" not in stored[0]
    pytester.runpytest().assert_outcomes(passed=1)


def test_stock_syrupy_snapshot_of_the_summary(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_harn_trace import span

        def test_summary(trace, mock_clock, snapshot):
            with span("pipeline", "main"):
                mock_clock.advance(3)
            assert trace.summary() == snapshot
        """
    )
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    pytester.runpytest().assert_outcomes(passed=1)


def test_unused_trace_snapshots_are_reported_and_deleted(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=AGENT_TEST)
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=2)
    pytester.makepyfile(test_agent=AGENT_TEST.split("def test_agent_json")[0])
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*1 snapshot unused*"])
    pytester.runpytest("--snapshot-update").stdout.fnmatch_lines(["*1 unused snapshot deleted*"])
    assert not (pytester.path / "__snapshots__" / "test_agent" / "test_agent_json.json").exists()


def test_snapshots_work_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=AGENT_TEST)
    result = pytester.runpytest_subprocess("-n", "2", "--snapshot-update")
    result.assert_outcomes(passed=2)
    assert (pytester.path / "__snapshots__" / "test_agent" / "test_agent.txt").exists()
    result = pytester.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*2 snapshots passed*"])


@pytest.mark.parametrize(
    ("fixture", "data", "type_name"),
    [
        ("trace_snapshot", "trace.summary()", "str"),
        ("trace_json_snapshot", "trace.to_dicts(normalize=True)", "list"),
    ],
)
def test_trace_snapshots_take_only_the_trace_itself(
    pytester: pytest.Pytester, fixture: str, data: str, type_name: str
) -> None:
    # A summary made elsewhere would dodge the real-clock check and the redact hook.
    pytester.makepyfile(
        f"""
        from pytest_harn_trace import span

        def test_wrong(trace, {fixture}):
            with span("pipeline", "main"):
                pass
            assert {data} == {fixture}
        """
    )
    result = pytester.runpytest("--snapshot-update")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f">       assert {data} == {fixture}",
            f"E       TypeError: {fixture} stores a trace: compare the trace fixture itself "
            f"(assert trace == {fixture}, or trace.without_durations() without a mock "
            f"clock), not {type_name}",
            "",
            "test_trace_snapshots_take_only_the_trace_itself.py:*: TypeError",
        ]
    )
    result.stdout.no_fnmatch_line("*received*")
    assert not (pytester.path / "__snapshots__").exists()

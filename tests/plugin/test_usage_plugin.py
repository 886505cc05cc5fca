"""Budgets from the marker and ini, the price hook, junitxml, the usage report and its JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tests.plugin.conftest import INNER_INI

AGENT = """
import pytest
from pytest_harn_trace import span

def agent(calls, tokens=100, **cost):
    with span("pipeline", "agent", input_tokens=calls * tokens):
        for _ in range(calls):
            with span("llm_call", "gpt-4o", model="gpt-4o", input_tokens=tokens,
                      output_tokens=10, **cost):
                pass
"""


def test_a_test_over_its_marker_budget_fails_saying_the_budget_and_the_marker(pytester):
    pytester.makepyfile(AGENT + """
@pytest.mark.harn_trace(budget={"llm_calls": 2})
def test_over(trace):
    agent(3)

@pytest.mark.harn_trace(budget={"llm_calls": 3})
def test_within(trace):
    agent(3)
""")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*_ test_over _*",
        "harn-trace: the test's trace went over its budget:",
        "  llm_calls: 3 > 2 allowed  [@pytest.mark.harn_trace(budget={'llm_calls': 2})]",
        "top llm_call spans by tokens:",
        "  span 2 llm_call gpt-4o, 110 tokens (100 in, 10 out) at pipeline agent > llm_call gpt-4o",
    ])
    result.stdout.no_fnmatch_line("*usage_plugin.py*")


def test_the_ini_budget_applies_to_every_trace_test_and_the_marker_overrides_it_key_by_key(
    pytester,
):
    pytester.makeini(INNER_INI + "harn_trace_budget = llm_calls=1 total_tokens=250\n")
    pytester.makepyfile(AGENT + """
def test_ini_only(trace):
    agent(2)

@pytest.mark.harn_trace(budget={"llm_calls": 5})
def test_marker_lifts_calls_but_ini_tokens_still_apply(trace):
    agent(3)

@pytest.mark.harn_trace(budget={"llm_calls": None, "total_tokens": None})
def test_marker_removes_both(trace):
    agent(3)

def test_without_trace_has_no_budget():
    agent(3)
""")
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines([
        "*_ test_ini_only _*",
        "  llm_calls: 2 > 1 allowed  [ini harn_trace_budget = llm_calls=1 total_tokens=250 "
        "(tox.ini)]",
        "*_ test_marker_lifts_calls_but_ini_tokens_still_apply _*",
        "  total_tokens: 330 > 250 allowed  [ini harn_trace_budget = llm_calls=1 "
        "total_tokens=250 (tox.ini)]",
    ])
    result.stdout.no_fnmatch_line("*llm_calls: 3 > *")


def test_a_test_that_already_failed_keeps_its_failure_with_the_overrun_as_a_note(pytester):
    pytester.makepyfile(AGENT + """
@pytest.mark.harn_trace(budget={"llm_calls": 1})
def test_broken(trace):
    agent(2)
    assert 1 == 2, "its own failure"
""")
    result = pytester.runpytest("-rf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E       AssertionError: its own failure",
        "*- harn-trace budget -*",
        "harn-trace: the test's trace went over its budget:",
        "  llm_calls: 2 > 1 allowed  [@pytest.mark.harn_trace(budget={'llm_calls': 1})]",
        "FAILED *::test_broken*",
    ])


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ("{'tokens': 3}", "@pytest.mark.harn_trace(budget=...): unknown limit 'tokens'; the "
         "limits are: llm_calls, *"),
        ("{'llm_calls': -2}", "@pytest.mark.harn_trace(budget=...): llm_calls=-2: limits are "
         "finite numbers >= 0"),
        ("{'cost_usd': 'cheap'}", "@pytest.mark.harn_trace(budget=...): cost_usd='cheap' is not "
         "a number; give an int or float >= 0 (or None for no limit)"),
        ("[3]", "@pytest.mark.harn_trace(budget=[[]3]): expected a dict of limits such as *"),
    ],
)
def test_a_bad_marker_budget_is_a_setup_error(pytester, budget, message):
    pytester.makepyfile(f"""
import pytest

@pytest.mark.harn_trace(budget={budget})
def test_x(trace):
    pass
""")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*_ ERROR at setup of test_x _*", f"*::test_x: {message}"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("llm_calls=ten", "*harn_trace_budget: llm_calls='ten' is not a number*"),
        ("llm_calls", "*harn_trace_budget = llm_calls: 'llm_calls' is not key=value*"),
        ("calls=3", "*harn_trace_budget: unknown limit 'calls'*"),
    ],
)
def test_a_bad_ini_budget_stops_the_run(pytester, line, message):
    pytester.makeini(INNER_INI + f"harn_trace_budget = {line}\n")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


PRICE_HOOK = """
def pytest_harn_trace_price(span):
    prices = {"gpt-4o": (2.5e-6, 1e-5)}
    per_input, per_output = prices.get(span.metadata.get("model"), (None, None))
    if per_input is None:
        return None
    return span.metadata["input_tokens"] * per_input + span.metadata["output_tokens"] * per_output
"""


def test_the_price_hook_prices_calls_without_cost_and_feeds_the_cost_budget(pytester):
    pytester.makeconftest(PRICE_HOOK)
    pytester.makepyfile(AGENT + """
def test_priced(trace):
    agent(2, tokens=1000)
    assert trace.usage().cost_usd == pytest.approx(2 * (0.0025 + 0.0001))

def test_own_cost_wins(trace):
    agent(1, cost_usd=1.0)
    assert trace.usage().cost_usd == 1.0

@pytest.mark.harn_trace(budget={"cost_usd": 0.005})
def test_over_cost(trace):
    agent(2, tokens=1000)
""")
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "  cost_usd: $0.0052 > $0.005 allowed  [@pytest.mark.harn_trace(budget={'cost_usd': "
        "0.005})]",
        "top llm_call spans by cost:",
    ])


def test_a_cost_budget_on_unpriced_calls_fails_naming_them(pytester):
    pytester.makepyfile(AGENT + """
@pytest.mark.harn_trace(budget={"cost_usd": 1})
def test_unpriced(trace):
    agent(1)
""")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "  cost_usd: unknown, 1 of 1 llm call has no price (allowed $1)*pytest_harn_trace_price*",
        "    span 2 llm_call gpt-4o, 110 tokens (100 in, 10 out) at pipeline agent > llm_call "
        "gpt-4o",
    ])


REPORTED = AGENT + """
def test_small(trace):
    agent(1, tokens=10)

def test_big(trace):
    agent(3, tokens=1000, cost_usd=0.5)

def test_middle(trace):
    agent(2, tokens=100, cost_usd=0.1)

def test_no_trace():
    pass
"""


def test_the_usage_report_lists_the_top_tests_by_tokens_and_cost_and_totals_by_model(pytester):
    pytester.makepyfile(REPORTED)
    result = pytester.runpytest("--harn-trace-usage=2")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines([
        "*= harn-trace usage =*",
        "top 2 tests by tokens:",
        "     tokens llm calls        cost  test",
        "       3030         3        $1.5  *::test_big",
        "        220         2        $0.2  *::test_middle",
        "top 2 tests by cost:",
        "     tokens llm calls        cost  test",
        "       3030         3        $1.5  *::test_big",
        "        220         2        $0.2  *::test_middle",
        "session: 3 tests, 6 llm calls, 3270 tokens (3210 in, 60 out), $1.7",
        "  gpt-4o: 6 llm calls, 3270 tokens (3210 in, 60 out), $1.7",
    ])


def test_the_usage_option_alone_lists_ten(pytester):
    pytester.makepyfile(REPORTED)
    result = pytester.runpytest("--harn-trace-usage")
    result.stdout.fnmatch_lines(["top 3 tests by tokens:"])


def test_without_the_options_no_report_and_no_properties(pytester):
    pytester.makepyfile(REPORTED + """
def test_properties(trace, record_property):
    agent(1)

def pytest_configure(config): pass
""")
    pytester.makeconftest("""
def pytest_runtest_logreport(report):
    if report.when == "call":
        assert report.user_properties == [], report.user_properties
        assert not hasattr(report, "harn_trace_usage")
""")
    result = pytester.runpytest()
    result.assert_outcomes(passed=5)
    result.stdout.no_fnmatch_line("*harn-trace usage*")


def test_junitxml_gets_each_tests_figures_as_properties(pytester):
    pytester.makepyfile(REPORTED)
    result = pytester.runpytest("--junitxml=out.xml")
    result.assert_outcomes(passed=4)
    root = ET.parse(pytester.path / "out.xml").getroot()
    properties = {
        case.get("name"): {prop.get("name"): prop.get("value") for prop in case.iter("property")}
        for case in root.iter("testcase")
    }
    assert properties["test_middle"] == {
        "harn_trace_llm_calls": "2",
        "harn_trace_tool_calls": "0",
        "harn_trace_input_tokens": "200",
        "harn_trace_output_tokens": "20",
        "harn_trace_cache_read_tokens": "0",
        "harn_trace_cache_write_tokens": "0",
        "harn_trace_total_tokens": "220",
        "harn_trace_cost_usd": "0.2",
    }
    assert "harn_trace_cost_usd" not in properties["test_small"]
    assert properties["test_no_trace"] == {}


def test_the_json_file_holds_each_tests_figures_and_the_totals(pytester):
    pytester.makepyfile(REPORTED)
    result = pytester.runpytest("--harn-trace-usage-json=reports/usage.json")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["harn-trace usage written to *usage.json"])
    data = json.loads((pytester.path / "reports" / "usage.json").read_text())
    assert [test["nodeid"].split("::")[1] for test in data["tests"]] == [
        "test_big", "test_middle", "test_small",
    ]
    assert data["tests"][2] == {
        "nodeid": data["tests"][2]["nodeid"],
        "llm_calls": 1, "tool_calls": 0, "input_tokens": 10, "output_tokens": 10,
        "cache_read_tokens": 0, "cache_write_tokens": 0, "total_tokens": 20,
        "cost_usd": None, "open_llm_calls": 0, "unpriced_llm_calls": 1,
        "by_model": {"gpt-4o": {
            "llm_calls": 1, "input_tokens": 10, "output_tokens": 10, "cache_read_tokens": 0,
            "cache_write_tokens": 0, "total_tokens": 20, "cost_usd": None,
        }},
    }
    assert data["totals"]["total_tokens"] == 3270
    assert data["totals"]["cost_usd"] == pytest.approx(1.7)
    assert data["totals"]["unpriced_llm_calls"] == 1
    assert data["totals"]["by_model"]["gpt-4o"]["llm_calls"] == 6
    assert [path.name for path in (pytester.path / "reports").iterdir()] == ["usage.json"]


def test_xdist_workers_figures_add_up_on_the_controller(pytester):
    pytester.makepyfile(REPORTED)
    result = pytester.runpytest_subprocess(
        "-n", "2", "--harn-trace-usage=5", "--harn-trace-usage-json=usage.json",
        "--junitxml=out.xml",
    )
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines([
        "session: 3 tests, 6 llm calls, 3270 tokens (3210 in, 60 out), $1.7",
    ])
    data = json.loads((pytester.path / "usage.json").read_text())
    assert data["totals"]["llm_calls"] == 6
    assert len(data["tests"]) == 3
    xml = (pytester.path / "out.xml").read_text()
    assert 'name="harn_trace_total_tokens" value="3030"' in xml


def test_the_snapshot_usage_option_adds_a_usage_line_to_text_snapshots(pytester):
    pytester.makeini(INNER_INI + "harn_trace_snapshot_usage = true\n")
    pytester.makepyfile(AGENT + """
@pytest.mark.harn_trace
def test_snap(trace, trace_snapshot):
    agent(1, cost_usd=0.25)
    assert trace == trace_snapshot
""")
    result = pytester.runpytest("--snapshot-update")
    result.assert_outcomes(passed=1)
    (stored,) = (pytester.path / "__snapshots__").rglob("*.txt")
    assert stored.read_text().endswith(
        "\nUsage: 1 llm call, 0 tool calls, 110 tokens (100 in, 10 out), $0.25\n"
    )


def test_one_tests_budget_never_reaches_the_next(pytester):
    pytester.makepyfile(AGENT + """
@pytest.mark.harn_trace(budget={"llm_calls": 1})
def test_first(trace):
    agent(1)

def test_second(trace):
    agent(5)
""")
    pytester.runpytest().assert_outcomes(passed=2)


def test_a_bad_price_from_the_hook_fails_the_test_naming_the_span(pytester):
    pytester.makeconftest("""
def pytest_harn_trace_price(span):
    return "cheap"
""")
    pytester.makepyfile(AGENT + """
@pytest.mark.harn_trace(budget={"llm_calls": 5})
def test_priced(trace):
    agent(1)
""")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "harn-trace: the trace's usage could not be counted: TypeError: the price function "
        "(the pytest_harn_trace_price hook in a test run) returned 'cheap' for span 2 llm_call "
        "gpt-4o: expected its cost in USD as a float >= 0, or None when unknown",
    ])

"""Usage in a test run: budgets, the price hook, junitxml properties and the session report.

- ``@pytest.mark.harn_trace(budget={...})`` and the ``harn_trace_budget`` ini
  option set limits (as ``trace.assert_within_budget``) that every test using
  ``trace`` is checked against after its body;
- ``pytest_harn_trace_price(span)`` prices ``llm_call`` spans without ``cost_usd``;
- ``--harn-trace-usage[=N]`` prints the tests that used the most tokens and
  cost, ``--harn-trace-usage-json=PATH`` writes every test's figures, and with
  either (or ``--junitxml``) each test records them as ``harn_trace_*`` properties.

Workers of pytest-xdist send each test's figures on its call report
(``report.harn_trace_usage``), and the controller adds them up.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any, Final

import pytest

from pytest_harn_trace.assertions.usage import (
    LIMITS,
    Price,
    budget_report,
    check_limits,
    money,
    trace_duration_ms,
)
from pytest_harn_trace.capture import TraceCapture
from pytest_harn_trace.tracing.model import Span

__all__ = ["price_function", "usage_in_snapshot"]

_MARKER: Final = "harn_trace"
_FIGURES: Final = (
    "llm_calls",
    "tool_calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "total_tokens",
    "cost_usd",
)
_REPORT_ATTRIBUTE: Final = "harn_trace_usage"
_SECTION: Final = "harn-trace budget"


class _Budget:
    """One test's limits, with where each came from."""

    __slots__ = ("limits", "sources")

    def __init__(self) -> None:
        self.limits: dict[str, int | float | None] = {}
        self.sources: dict[str, str] = {}


_ini_budget_key = pytest.StashKey[_Budget]()
_record_key = pytest.StashKey[bool]()
# Per test: the budget to check (None: only record the figures), then what the check found.
_test_key = pytest.StashKey["_Budget | None"]()
_note_key = pytest.StashKey[str]()
_figures_key = pytest.StashKey[dict[str, Any]]()
_price_key = pytest.StashKey[Price]()
_snapshot_key = pytest.StashKey[bool]()


class _HookSpecs:
    @pytest.hookspec(firstresult=True)
    def pytest_harn_trace_price(self, span: Span) -> float | None:
        """Price an ``llm_call`` span that carries no ``cost_usd``.

        Return its cost in USD (a float >= 0), or ``None`` when unknown. The
        span's ``metadata`` holds the canonical usage keys (``model``,
        ``provider``, ``input_tokens``, ``output_tokens``, ``cache_read_tokens``,
        ``cache_write_tokens``). The plugin ships no price list: prices change.
        """


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Declare the price hook."""
    pluginmanager.add_hookspecs(_HookSpecs)


def _top_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(
            f"expected a number of tests >= 0, got {text!r} (write --harn-trace-usage=N, "
            "or the option alone for 10)"
        )
    return count


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the usage options."""
    group = parser.getgroup("harn-trace")
    group.addoption(
        "--harn-trace-usage",
        nargs="?",
        const=10,
        type=_top_count,
        default=None,
        metavar="N",
        help="At the end, show the N tests (default 10) that used the most tokens and cost "
        "in their traces, and the session's totals by model.",
    )
    group.addoption(
        "--harn-trace-usage-json",
        metavar="PATH",
        default=None,
        help="Write each test's trace usage and the session's totals to PATH as JSON.",
    )
    parser.addini(
        "harn_trace_budget",
        "Limits for every test using trace, as key=value pairs: "
        "llm_calls=20 total_tokens=50000 (see trace.assert_within_budget).",
        default="",
    )
    parser.addini(
        "harn_trace_snapshot_usage",
        "End each text trace snapshot with a line of its usage totals (default false).",
        type="bool",
        default=False,
    )


def pytest_configure(config: pytest.Config) -> None:
    """Read the budget ini option and set up the session's usage report."""
    config.stash[_ini_budget_key] = _ini_budget(config)
    top = config.getoption("harn_trace_usage")
    json_path = config.getoption("harn_trace_usage_json")
    config.stash[_record_key] = bool(
        top is not None or json_path or getattr(config.option, "xmlpath", None)
    )
    if (top is not None or json_path) and not hasattr(config, "workerinput"):
        path = None if not json_path else config.invocation_params.dir / str(json_path)
        config.pluginmanager.register(_SessionUsage(top, path), "harn-trace-usage-report")


def _ini_budget(config: pytest.Config) -> _Budget:
    raw = str(config.getini("harn_trace_budget")).strip()
    budget = _Budget()
    if not raw:
        return budget
    where = f"ini harn_trace_budget = {raw}"
    if config.inipath is not None:
        where += f" ({config.inipath.name})"
    given: dict[str, object] = {}
    for pair in raw.split():
        key, equals, value = pair.partition("=")
        number: object = value
        with contextlib.suppress(ValueError):
            number = float(value.replace("_", ""))
            number = int(value.replace("_", ""))
        if not equals or not key:
            raise pytest.UsageError(
                f"harn_trace_budget = {raw}: {pair!r} is not key=value; write limits as "
                "llm_calls=20 total_tokens=50000 (keys: " + ", ".join(LIMITS) + ")"
            )
        given[key] = number
    try:
        budget.limits = check_limits(given, where="harn_trace_budget")
    except (TypeError, ValueError) as error:
        raise pytest.UsageError(str(error)) from None
    budget.sources = dict.fromkeys(budget.limits, where)
    return budget


def price_function(config: pytest.Config) -> Price:
    """The ``pytest_harn_trace_price`` hook as a price function for ``TraceCapture``."""
    found = config.stash.get(_price_key, None)
    if found is not None:
        return found
    hook = config.hook

    def price(span: Span) -> float | None:
        result: float | None = hook.pytest_harn_trace_price(span=span)
        return result

    config.stash[_price_key] = price
    return price


def usage_in_snapshot(config: pytest.Config) -> bool:
    """Whether text snapshots end with a usage line (ini ``harn_trace_snapshot_usage``)."""
    found = config.stash.get(_snapshot_key, None)
    if found is None:
        found = config.stash[_snapshot_key] = bool(config.getini("harn_trace_snapshot_usage"))
    return found


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Work out the budget of a test using ``trace``: the ini's, overridden by its marker's."""
    if "trace" not in getattr(item, "fixturenames", ()):
        return
    ini = item.config.stash[_ini_budget_key]
    markers = [marker for marker in item.iter_markers(_MARKER) if "budget" in marker.kwargs]
    if not markers and not ini.limits:
        if item.config.stash[_record_key]:
            item.stash[_test_key] = None
        return
    budget = _Budget()
    budget.limits = dict(ini.limits)
    budget.sources = dict(ini.sources)
    for marker in reversed(markers):  # the closest marker wins
        given = marker.kwargs["budget"]
        shown = f"@pytest.mark.{_MARKER}(budget={given!r})"
        if not isinstance(given, dict):
            pytest.fail(
                f"{item.nodeid}: {shown}: expected a dict of limits such as "
                "{'llm_calls': 3, 'cost_usd': 0.01}",
                pytrace=False,
            )
        try:
            limits = check_limits(given, where=f"@pytest.mark.{_MARKER}(budget=...)")
        except (TypeError, ValueError) as error:
            pytest.fail(f"{item.nodeid}: {error}", pytrace=False)
        budget.limits.update(limits)
        budget.sources.update(dict.fromkeys(limits, shown))
    checked = any(value is not None for value in budget.limits.values())
    if checked:
        item.stash[_test_key] = budget
    elif item.config.stash[_record_key]:
        item.stash[_test_key] = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """After the test body, record its usage and check its budget."""
    if _test_key not in item.stash:
        return (yield)
    capture = getattr(item, "funcargs", {}).get("trace")
    if not isinstance(capture, TraceCapture):  # a `trace` fixture of the test's own
        return (yield)
    budget = item.stash[_test_key]
    try:
        result = yield
    except (Exception, pytest.fail.Exception, pytest.skip.Exception):
        try:
            overrun = _account(item, capture, budget)
        except Exception as error:
            overrun = f"the budget could not be checked: {type(error).__name__}: {error}"
        if overrun:
            item.stash[_note_key] = overrun
        raise
    try:
        overrun = _account(item, capture, budget)
    except Exception as error:
        pytest.fail(
            f"harn-trace: the trace's usage could not be counted: {type(error).__name__}: "
            f"{error}",
            pytrace=False,
        )
    if overrun:
        pytest.fail(overrun, pytrace=False)
    return result


def _account(item: pytest.Item, capture: TraceCapture, budget: _Budget | None) -> str | None:
    """Record the test's figures; return the budget overrun message, if any."""
    usage = capture.usage()
    if item.config.stash[_record_key]:
        figures = usage.to_dict()
        item.stash[_figures_key] = figures
        for key in _FIGURES:
            if figures[key] is not None:
                item.user_properties.append((f"harn_trace_{key}", figures[key]))
    if budget is None:
        return None
    limits = {key: value for key, value in budget.limits.items() if value is not None}
    where = "the trace budget"
    duration = None
    if "duration_ms" in limits:
        duration = trace_duration_ms(capture.spans, real_clock=capture.real_clock, where=where)
    report = budget_report(usage, limits, duration_ms=duration, sources=budget.sources)
    if report is None:
        return None
    return f"harn-trace: the test's trace went over its budget:\n{report}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Put the test's figures on its call report, and a budget overrun as a section."""
    report = yield
    if call.when != "call":
        return report
    figures = item.stash.get(_figures_key, None)
    if figures is not None:
        setattr(report, _REPORT_ATTRIBUTE, figures)
    note = item.stash.get(_note_key, None)
    if note is not None and report.failed:
        report.sections.append((_SECTION, note))
    return report


class _SessionUsage:
    """Every test's figures and the session's totals: a plugin of the run (controller only).

    Args:
        top: How many tests to list (``None``: print no report, only write JSON).
        path: Where to write the JSON, if asked.
    """

    def __init__(self, top: int | None, path: Path | None) -> None:
        self.top = top
        self.path = path
        self.tests: dict[str, dict[str, Any]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep each test's figures, from its call report (sent by the xdist worker)."""
        figures = getattr(report, _REPORT_ATTRIBUTE, None)
        if report.when == "call" and isinstance(figures, dict):
            self.tests[report.nodeid] = figures

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Print the usage report and write the JSON file."""
        if self.top is not None:
            self.print(terminalreporter)
        if self.path is not None:
            try:
                self.write_json()
            except OSError as error:
                terminalreporter.write_line(
                    f"harn-trace: could not write {self.path}: {error.strerror or error}"
                )
            else:
                terminalreporter.write_line(f"harn-trace usage written to {self.path}")

    def totals(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """The session's figures, and by model."""
        total = _zero()
        models: dict[str, dict[str, Any]] = {}
        for figures in self.tests.values():
            _add(total, figures)
            for model, by_model in figures.get("by_model", {}).items():
                _add(models.setdefault(model, _zero()), by_model)
        return total, dict(sorted(models.items()))

    def print(self, reporter: pytest.TerminalReporter) -> None:
        reporter.write_sep("=", "harn-trace usage")
        if not self.tests:
            reporter.write_line("no test using trace recorded usage")
            return
        tests = list(self.tests.items())
        if self.top:
            by_tokens = sorted(tests, key=lambda item: -item[1]["total_tokens"])[: self.top]
            reporter.write_line(f"top {len(by_tokens)} tests by tokens:")
            reporter.write_line(_HEADER)
            for nodeid, figures in by_tokens:
                reporter.write_line(_test_line(nodeid, figures))
            priced = [item for item in tests if item[1]["cost_usd"] is not None]
            by_cost = sorted(priced, key=lambda item: -item[1]["cost_usd"])[: self.top]
            if by_cost:
                reporter.write_line(f"top {len(by_cost)} tests by cost:")
                reporter.write_line(_HEADER)
                for nodeid, figures in by_cost:
                    reporter.write_line(_test_line(nodeid, figures))
            else:
                reporter.write_line("no test has a priced llm call")
        total, models = self.totals()
        reporter.write_line(
            f"session: {len(tests)} tests, {_figures_text(total)}"
        )
        for model, figures in models.items():
            reporter.write_line(f"  {model}: {_figures_text(figures)}")

    def write_json(self) -> None:
        assert self.path is not None
        total, models = self.totals()
        data = {
            "tests": [
                {"nodeid": nodeid, **figures} for nodeid, figures in sorted(self.tests.items())
            ],
            "totals": {**total, "by_model": models},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside the target and renamed over it: a reader never sees half a file.
        handle, temporary = tempfile.mkstemp(
            prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent
        )
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(data, file, indent=2)
                file.write("\n")
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _zero() -> dict[str, Any]:
    return {
        "llm_calls": 0,
        "tool_calls": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "total_tokens": 0,
        "cost_usd": None,
        "unpriced_llm_calls": 0,
    }


def _add(total: dict[str, Any], figures: dict[str, Any]) -> None:
    for key, value in figures.items():
        if key not in total or not isinstance(value, int | float) or isinstance(value, bool):
            continue
        if key == "cost_usd":
            total[key] = (total[key] or 0.0) + value
        else:
            total[key] += value


def _figures_text(figures: dict[str, Any]) -> str:
    calls = figures["llm_calls"]
    text = (
        f"{calls} llm call{'' if calls == 1 else 's'}, {figures['total_tokens']} tokens "
        f"({figures['input_tokens']} in, {figures['output_tokens']} out)"
    )
    cost = figures.get("cost_usd")
    text += ", cost unknown" if cost is None else f", {money(cost)}"
    return text


def _test_line(nodeid: str, figures: dict[str, Any]) -> str:
    cost = figures["cost_usd"]
    shown = "-" if cost is None else money(cost)
    return f"  {figures['total_tokens']:>9} {figures['llm_calls']:>9} {shown:>11}  {nodeid}"


_HEADER: Final = f"  {'tokens':>9} {'llm calls':>9} {'cost':>11}  test"


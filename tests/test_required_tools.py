"""Tests that need a system tool (Chromium, valgrind) skip without it, unless CI is set."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
# Every test of the suite that runs Chromium or valgrind.
NEEDS_A_TOOL = (
    "tests/browser",
    "tests/test_benchmarks_smoke.py::test_waterfall_benchmark_runs_in_the_browser",
    "tests/test_benchmarks_smoke.py::"
    "test_instruction_count_benchmark_counts_each_contender_under_valgrind",
)


def set_ci(monkeypatch: pytest.MonkeyPatch, ci: str | None) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)


def run_the_suites_tool_tests(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> pytest.RunResult:
    """Run the suite's own Chromium and valgrind tests with a PATH that has neither."""
    monkeypatch.setenv("PATH", str(pytester.mkdir("empty-bin")))
    set_ci(monkeypatch, ci)
    return pytester.runpytest_subprocess(
        *(str(ROOT / path) for path in NEEDS_A_TOOL),
        f"--rootdir={ROOT}",
        f"--config-file={ROOT / 'pyproject.toml'}",
        "-p",
        "no:cacheprovider",
        "-rsE",
    )


@pytest.mark.parametrize("ci", [None, ""])
def test_without_chromium_or_valgrind_their_tests_skip_naming_the_install_command(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    result = run_the_suites_tool_tests(pytester, monkeypatch, ci)
    result.assert_outcomes(skipped=8)
    result.stdout.fnmatch_lines_random(
        [
            "SKIPPED [[]7] *: chromium is not installed (install it with "
            "`apt-get install chromium`); with CI set, this test fails instead",
            "SKIPPED [[]1] *: valgrind is not installed (install it with "
            "`apt-get install valgrind`); with CI set, this test fails instead",
        ]
    )


def test_with_ci_set_a_missing_chromium_or_valgrind_fails_their_tests(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_the_suites_tool_tests(pytester, monkeypatch, "true")
    result.assert_outcomes(errors=8)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines_random(
        [
            "ERROR *test_waterfall_page.py::test_a_trace_of_ten_thousand_spans_draws_only_the_rows"
            "_on_screen - Failed: chromium is not installed (install it with `apt-get install "
            "chromium`); CI is set, so this test must run",
            "ERROR *test_benchmarks_smoke.py::test_instruction_count_benchmark_counts_each_"
            "contender_under_valgrind - Failed: valgrind is not installed (install it with "
            "`apt-get install valgrind`); CI is set, so this test must run",
        ]
    )
    result.stdout.no_fnmatch_line("*FileNotFoundError*")


@pytest.mark.parametrize("ci", [None, "true"])
def test_a_test_whose_tool_is_on_path_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    pytester.makeconftest((ROOT / "conftest.py").read_text(encoding="utf-8"))
    tools = pytester.mkdir("bin")
    (tools / "chromium-browser").write_text("#!/bin/sh\n")
    (tools / "chromium-browser").chmod(0o755)
    monkeypatch.setenv("PATH", str(tools))
    set_ci(monkeypatch, ci)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import shutil

        import pytest

        @pytest.mark.requires_tool(
            "chromium", "chromium-browser", install="apt-get install chromium"
        )
        def test_browser():
            assert shutil.which("chromium-browser")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)

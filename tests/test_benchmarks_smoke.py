"""The benchmark scripts still run (a quick pass; the numbers are for the README, not tests)."""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_harn_trace

ROOT = Path(__file__).parents[1]
BENCHMARKS = ROOT / "benchmarks"


def run_quick(script: str, *args: str) -> str:
    """Run a benchmark script's quick pass; return what it printed (it must exit 0)."""
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout


def run_spans_baseline(checkout: Path) -> subprocess.CompletedProcess[str]:
    """Run ``bench_spans.py --quick --baseline checkout``, whatever its exit code."""
    script = BENCHMARKS / "bench_spans.py"
    return subprocess.run(
        [sys.executable, str(script), "--quick", "--baseline", str(checkout)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_span_benchmark_runs_and_prints_ratios() -> None:
    stdout = run_quick("bench_spans.py")
    assert "module functions" in stdout
    assert "bare-Python floor" in stdout
    assert "format_summary, best of" in stdout
    assert fnmatch.filter(
        stdout.splitlines(),
        "  with span()+set / module functions: *x   paired *x   (target <= 1.3x)",
    )
    assert fnmatch.filter(
        stdout.splitlines(), "  off / on, with span()+set: *x   paired *x   (target <= 0.2x)"
    )


def test_span_benchmark_times_a_baseline_checkout_side_by_side() -> None:
    # This working tree stands in for an older checkout: no git history needed.
    lines = run_quick("bench_spans.py", "--baseline", str(ROOT)).splitlines()
    pytest.LineMatcher(lines).fnmatch_lines(
        [
            f"Baseline: pytest-harn-trace from {ROOT.resolve()}*, in a worker process",
            "*contender*median*min*max*in gc",
            "  module functions  *",
            "  module functions, baseline  *%",
            "  with span(k=1), baseline  *%",
            "  with span()+set, baseline  *%",
            "  off: with span()+set, baseline  *%",
            "  off: span_start, baseline  *%",
            "  Against the baseline, current / baseline (< 1 means faster now): *",
            "  paired: median of the per-round ratios *",
            "  module functions / baseline: *x   paired *x   (target <= 1.0x)",
            "  with span(k=1) / baseline: *x   paired *x   (target <= 1.0x)",
            "  with span()+set / baseline: *x   paired *x   (target <= 1.0x)",
            "  off: with span()+set / baseline: *x   paired *x   (target <= 1.0x)",
            "  off: span_start / baseline: *x   paired *x   (target <= 1.0x)",
            "Memory kept per completed span*",
        ]
    )


def test_span_benchmark_baseline_without_the_package_is_a_usage_error(tmp_path: Path) -> None:
    result = run_spans_baseline(tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        f"bench_spans.py: error: --baseline {tmp_path}: no pytest_harn_trace/collector.py "
        "there; pass a checkout of pytest-harn-trace, e.g. one made with "
        "'git worktree add --detach /tmp/old <commit>'"
    )


def test_span_benchmark_baseline_importing_another_checkout_is_a_usage_error(
    tmp_path: Path,
) -> None:
    # No __init__.py: the worker's import finds the installed package instead.
    installed = Path(pytest_harn_trace.__file__).parent.resolve()
    (tmp_path / "pytest_harn_trace").mkdir()
    (tmp_path / "pytest_harn_trace" / "collector.py").write_text("")
    result = run_spans_baseline(tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1].startswith(
        f"bench_spans.py: error: --baseline {tmp_path}: the worker imported "
        f"pytest_harn_trace from {installed}, not from that checkout"
    )


def test_span_path_profile_runs() -> None:
    stdout = run_quick("profile_span_path.py")
    assert "Primitive operations" in stdout


def test_scope_claim_stress_records_every_entry_of_scopes_threads_enter_at_once() -> None:
    # Exits 1 when two threads both took one scope as their handle, or a span went missing.
    stdout = run_quick("stress_scope_claim.py")
    assert "20 rounds x 50 fresh scopes x 2 threads = 2000 entries" in stdout
    assert "spans recorded: 2000 (expected 2000), still open: 0" in stdout
    assert stdout.splitlines()[-1] == "all entries recorded correctly"


def test_virtual_time_benchmark_runs() -> None:
    stdout = run_quick("bench_virtual_time.py")
    assert "60 x sleep(1)" in stdout
    assert "slowest 60 s of virtual time" in stdout


@pytest.mark.requires_tool(
    "chromium", "chromium-browser", "google-chrome", install="apt-get install chromium"
)
def test_waterfall_benchmark_runs_in_the_browser() -> None:
    stdout = run_quick("bench_waterfall.py")
    assert "load ms" in stdout
    assert "10x spans: load" in stdout


def test_otel_benchmark_runs_and_prints_ratios() -> None:
    stdout = run_quick("bench_otel.py")
    assert "harn bridge / InMemorySpanExporter, medians:" in stdout
    assert "no processor" in stdout


def test_leak_benchmark_runs_and_prints_ratios() -> None:
    stdout = run_quick("bench_leak.py")
    assert "left open, fixture teardown / no earlier tests" in stdout
    assert "released at test end               0.00 MB" in stdout


@pytest.mark.requires_tool("valgrind", install="apt-get install valgrind")
def test_instruction_count_benchmark_counts_each_contender_under_valgrind() -> None:
    lines = run_quick("count_span_instructions.py").splitlines()
    assert fnmatch.filter(lines, "  module functions *[0-9]")
    assert fnmatch.filter(lines, "  with span()+set *[0-9]")
    assert fnmatch.filter(lines, "  with span()+set / module functions: *x   (target <= 1.3x)")


@pytest.mark.parametrize("mode", ["module functions", "with span()+set", "off: span_start"])
def test_instruction_count_workload_records_what_it_says(mode: str) -> None:
    # The counted process checks its own span count (none with tracing off) and fails on a miss.
    script = BENCHMARKS / "count_span_instructions.py"
    subprocess.run([sys.executable, str(script), "--workload", mode, "5"], check=True, timeout=60)


def test_instruction_count_benchmark_without_valgrind_is_a_usage_error(tmp_path: Path) -> None:
    script = BENCHMARKS / "count_span_instructions.py"
    result = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": str(tmp_path)},
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "count_span_instructions.py: error: valgrind is not installed "
        "(Debian: apt-get install valgrind)"
    )


def test_tree_benchmark_runs_and_prints_each_table_beside_its_target() -> None:
    lines = run_quick("bench_tree.py").splitlines()
    pytest.LineMatcher(lines).fnmatch_lines(
        [
            "1. Siblings: one root, n tool_call children with one metadata key each",
            "*n*pasted, ordered*reversed, ordered=False*10 of n, exact=False*one wrong name*",
            "      100 * s * s * s * s, * KB, * lines",
            "  per 10x  *x*",
            "  targets: reversed, ordered=False: < 1 s at 10,000, <= 12x per 10x;*",
            "2. Worst case:*",
            "  target: 1,000 under 2 s.*",
            "3. Deep chains (100 deep: target < 0.5 s; 1,000 deep: must work)",
            "   1,000 deep, ordered=False, exact=False   passing * s, failing * s (8 lines)",
            "4. Lookups, best of 3 (target: linear, about 10x per 10x)",
            "*per 10x: find *x, one *x, roots *x",
            "*per 10x: format_summary *x",
        ]
    )

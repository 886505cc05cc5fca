"""The benchmark scripts still run (a quick pass; the numbers are for the README, not tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def run_quick(script: str) -> str:
    """Run a benchmark script's quick pass; return what it printed (it must exit 0)."""
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout


def test_span_benchmark_runs_and_prints_ratios() -> None:
    stdout = run_quick("bench_spans.py")
    assert "module functions" in stdout
    assert "bare-Python floor" in stdout
    assert "format_summary, best of" in stdout


def test_span_path_profile_runs() -> None:
    stdout = run_quick("profile_span_path.py")
    assert "Primitive operations" in stdout


def test_virtual_time_benchmark_runs() -> None:
    stdout = run_quick("bench_virtual_time.py")
    assert "60 x sleep(1)" in stdout
    assert "slowest 60 s of virtual time" in stdout


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

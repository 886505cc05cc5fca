"""The benchmark scripts still run (a quick pass; the numbers are for the README, not tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def test_span_benchmark_runs_and_prints_ratios() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_spans.py"), "--quick"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "module functions" in result.stdout
    assert "bare-Python floor" in result.stdout
    assert "format_summary, best of" in result.stdout


def test_span_path_profile_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "profile_span_path.py"), "--quick"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "Primitive operations" in result.stdout


def test_virtual_time_benchmark_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_virtual_time.py"), "--quick"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "60 x sleep(1)" in result.stdout
    assert "slowest 60 s of virtual time" in result.stdout


def test_waterfall_benchmark_runs_in_the_browser() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_waterfall.py"), "--quick"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "load ms" in result.stdout
    assert "10x spans: load" in result.stdout


def test_otel_benchmark_runs_and_prints_ratios() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_otel.py"), "--quick"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "harn bridge / InMemorySpanExporter, medians:" in result.stdout
    assert "no processor" in result.stdout


def test_leak_benchmark_runs_and_prints_ratios() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_leak.py"), "--quick"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "left open, fixture teardown / no earlier tests" in result.stdout

"""Per-test overhead of the ``trace`` fixture, side by side with pytest's own ``caplog``.

Usage::

    .venv/bin/python benchmarks/bench_fixture.py            # 2,000 tests x 5 rounds
    .venv/bin/python benchmarks/bench_fixture.py --quick    # 200 tests x 2 rounds
    .venv/bin/python benchmarks/bench_fixture.py --baseline ../old-checkout  # before/after

Generates, in a temporary directory, modules of trivial tests that differ only
in the fixture they request:

- ``no fixture``:   ``def test_i(): pass``
- ``trace``:        ``def test_i(trace): pass``
- ``caplog``:       ``def test_i(caplog): pass``
- ``no fixture, plugin off``: the first module again with ``-p no:harn_trace``,
  to show what merely having the plugin installed costs a test that doesn't use it.
- with ``--baseline DIR`` (a checkout of another version of this package),
  ``trace, baseline``: the ``trace`` module again with that version imported
  (``DIR`` first on ``PYTHONPATH``), for a before/after comparison in one run.

Each runs as ``python -m pytest -q -p no:cacheprovider -p no:randomly <file>`` in
a subprocess, in interleaved rounds (every module once per round, in rotating
order) after one untimed warm-up run of each (none with ``--quick``). A
``conftest.py`` in the temporary directory records, per run:

- ``phases``: pytest's own reported durations of each test (setup + call +
  teardown, the ``report.duration`` that ``--durations`` shows), median over
  the tests of the run. The headline figure: fixture setup and teardown is
  exactly what it measures, and the median shrugs off the odd test that the
  OS or a GC pass interrupted.
- ``protocol``: the whole ``pytest_runtest_protocol`` of each test (reporting
  and warning capture included), median over the tests.
- ``loop mean``: the run loop's total time divided by the tests (every
  outlier included).

``wall`` is the whole subprocess (start-up and collection included) divided
by the tests. Each figure is then the median over the rounds.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path

CONFTEST = textwrap.dedent(
    """
    import os
    import statistics
    import time

    import pytest

    _protocol_ns = []
    _phases_s = {}


    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(item, nextitem):
        began = time.perf_counter_ns()
        try:
            return (yield)
        finally:
            _protocol_ns.append(time.perf_counter_ns() - began)


    def pytest_runtest_logreport(report):
        _phases_s[report.nodeid] = _phases_s.get(report.nodeid, 0.0) + report.duration


    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(session):
        began = time.perf_counter_ns()
        try:
            return (yield)
        finally:
            loop_ns = time.perf_counter_ns() - began
            out = os.environ.get("BENCH_FIXTURE_OUT")
            if out and _protocol_ns:
                phases_ns = statistics.median(_phases_s.values()) * 1e9
                with open(out, "w") as handle:
                    handle.write(f"{phases_ns} {statistics.median(_protocol_ns)} {loop_ns}")
    """
)

MEASURES = ("phases", "protocol", "loop mean", "wall")


@dataclass
class Variant:
    """One generated test module, how to run it, and its per-test times (µs) per round."""

    label: str
    filename: str
    fixture: str | None
    extra_args: tuple[str, ...] = ()
    pythonpath: str | None = None
    samples: dict[str, list[float]] = field(
        default_factory=lambda: {measure: [] for measure in MEASURES}
    )

    def median(self, measure: str) -> float:
        return statistics.median(self.samples[measure])


def write_module(path: Path, tests: int, fixture: str | None) -> None:
    arg = fixture or ""
    path.write_text("".join(f"def test_{i}({arg}):\n    pass\n\n\n" for i in range(tests)))


def run_once(workdir: Path, variant: Variant, tests: int) -> dict[str, float]:
    """Run one module under pytest; return its per-test time in µs for each measure."""
    out_file = workdir / "timings.txt"
    out_file.unlink(missing_ok=True)
    env = {**os.environ, "BENCH_FIXTURE_OUT": str(out_file)}
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_PLUGINS", None)
    if variant.pythonpath is not None:
        env["PYTHONPATH"] = variant.pythonpath
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        *variant.extra_args,
        variant.filename,
    ]
    began = time.perf_counter_ns()
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    wall_ns = time.perf_counter_ns() - began
    last_line = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if result.returncode != 0 or f"{tests} passed" not in last_line:
        raise RuntimeError(
            f"{variant.label}: pytest exited {result.returncode}, last line {last_line!r}\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    phases_ns, protocol_ns, loop_ns = (float(word) for word in out_file.read_text().split())
    return {
        "phases": phases_ns / 1_000,
        "protocol": protocol_ns / 1_000,
        "loop mean": loop_ns / tests / 1_000,
        "wall": wall_ns / tests / 1_000,
    }


def _version(dist: str) -> str:
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return "not installed"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="200 tests, 2 rounds")
    parser.add_argument("--tests", type=int, help="tests per module")
    parser.add_argument("--rounds", type=int, help="interleaved rounds")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of another version of pytest-harn-trace to compare trace with",
    )
    args = parser.parse_args(argv)
    baseline: Path | None = args.baseline
    if baseline is not None and not (baseline / "pytest_harn_trace" / "plugin.py").is_file():
        parser.error(f"--baseline {baseline}: no pytest_harn_trace/plugin.py there")
    tests: int = args.tests or (200 if args.quick else 2_000)
    rounds: int = args.rounds or (2 if args.quick else 5)

    print(
        f"Python {platform.python_version()} on {platform.machine()} {platform.system()}; "
        f"pytest {_version('pytest')}; pytest-harn-trace {_version('pytest-harn-trace')}"
        + ("; --quick" if args.quick else "")
    )
    variants = [
        Variant("no fixture", "test_plain.py", None),
        Variant("trace", "test_trace.py", "trace"),
        Variant("caplog", "test_caplog.py", "caplog"),
        Variant("no fixture, plugin off", "test_plain.py", None, ("-p", "no:harn_trace")),
    ]
    if baseline is not None:
        variants.append(
            Variant("trace, baseline", "test_trace.py", "trace", pythonpath=str(baseline.resolve()))
        )
    with tempfile.TemporaryDirectory(prefix="bench_fixture_") as tmp:
        workdir = Path(tmp)
        (workdir / "conftest.py").write_text(CONFTEST)
        written: set[str] = set()
        for variant in variants:
            if variant.filename not in written:
                write_module(workdir / variant.filename, tests, variant.fixture)
                written.add(variant.filename)
        if not args.quick:
            for variant in variants:  # warm-up: imports, file caches
                run_once(workdir, variant, tests)
        for round_index in range(rounds):
            shift = round_index % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                for measure, value in run_once(workdir, variant, tests).items():
                    variant.samples[measure].append(value)

    print(
        f"{tests:,} trivial tests per module, {rounds} interleaved rounds; "
        "µs per test, median of the rounds"
    )
    header = "".join(f"{measure:>11}" for measure in MEASURES)
    print(f"  {'module':<34}{header}")
    by_label = {variant.label: variant for variant in variants}
    for variant in variants:
        row = "".join(f"{variant.median(measure):>11.1f}" for measure in MEASURES)
        print(f"  {variant.label:<34}{row}")
    phases = by_label["no fixture"].samples["phases"]
    print(f"  (no fixture, phases: min {min(phases):.1f}, max {max(phases):.1f} over the rounds)")
    print()

    def overhead(label: str, measure: str, baseline: str = "no fixture") -> float:
        return by_label[label].median(measure) - by_label[baseline].median(measure)

    print("Per-test overhead over the no-fixture baseline, µs/test:")
    print(f"  {'':<34}{header}")
    for label in ("trace", "caplog"):
        row = "".join(f"{overhead(label, measure):>11.1f}" for measure in MEASURES)
        print(f"  {label:<34}{row}")
    ratios = ""
    for measure in MEASURES:
        caplog = overhead("caplog", measure)
        ratio = f"{overhead('trace', measure) / caplog:.2f}x" if caplog > 0 else "n/a"
        ratios += f"{ratio:>11}"
    print(f"  {'trace / caplog (target <= 1.5x)':<34}{ratios}")
    unused = "".join(
        f"{overhead('no fixture', measure, 'no fixture, plugin off'):>+11.1f}"
        for measure in MEASURES
    )
    print(f"  {'plugin installed, fixture unused':<34}{unused}")
    if baseline is not None:
        row = "".join(f"{overhead('trace, baseline', measure):>11.1f}" for measure in MEASURES)
        print(f"  {'trace, baseline':<34}{row}")
        ratios = ""
        for measure in MEASURES:
            before = overhead("trace, baseline", measure)
            ratio = f"{overhead('trace', measure) / before:.2f}x" if before > 0 else "n/a"
            ratios += f"{ratio:>11}"
        print(f"  {'trace / trace, baseline':<34}{ratios}")
    trace_over = overhead("trace", "phases")
    caplog_over = overhead("caplog", "phases")
    verdict = "within" if caplog_over > 0 and trace_over / caplog_over <= 1.5 else "NOT within"
    print()
    print(
        f"trace costs {trace_over:.1f} µs/test, caplog {caplog_over:.1f} µs/test "
        f"(pytest's reported phases): {verdict} the 1.5x target"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

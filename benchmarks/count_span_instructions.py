"""Machine instructions per span, counted by valgrind: a span-cost figure the load can't move.

Usage::

    .venv/bin/python benchmarks/count_span_instructions.py
    .venv/bin/python benchmarks/count_span_instructions.py --baseline ../old-checkout

For each way of recording a span (the same shapes as ``bench_spans.py``: nested
outer+inner pairs with one metadata key each), it runs a short Python process under
``valgrind --tool=callgrind`` recording ``--pairs`` pairs, subtracts one run per
checkout that records none, and divides the difference by the number of spans:
interpreter start-up and imports cancel out. Hash randomisation and address-space
randomisation are off (``setarch -R`` where available), so repeated runs agree to
about 0.5%. With ``--baseline DIR`` the same counts are taken with the package
imported from DIR, side by side.

It needs ``valgrind`` (Debian: ``apt-get install valgrind``). ``--workload LABEL
PAIRS`` runs one contender without valgrind (what the counted process runs).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from span_runners import (
    FLOOR_CONTENDERS,
    WORKER_CONTENDERS,
    has_collector,
    make_floor_runners,
    make_runners,
)


def run_workload(label: str, pairs: int) -> int:
    """Run ``bench_spans.py``'s contender ``label`` for ``pairs`` pairs; return the spans recorded.

    The loops are ``span_runners.py``'s, built on whichever version of the
    package this process imported, so the count is of exactly what is timed there.
    """
    import pytest_harn_trace as package
    try:
        from pytest_harn_trace.tracing import collector as collector_module
    except ImportError:  # a --baseline checkout from before the subpackages
        from pytest_harn_trace import collector as collector_module  # type: ignore[no-redef]

    runners = {**make_runners(package, collector_module), **make_floor_runners()}
    with package.use_collector(package.SpanCollector()) as collector:
        package.set_tracing_enabled(True)  # the "off:" contenders switch it off themselves
        runners[label](pairs)
        return len(collector.spans())


def count_instructions(label: str, pairs: int, pythonpath: str) -> int:
    """The instructions valgrind counts for one process running ``label`` for ``pairs`` pairs."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": pythonpath}
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--workload",
        label,
        str(pairs),
    ]
    if shutil.which("setarch"):
        command = ["setarch", "-R", *command]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind run of {label!r} failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_span(label: str, pairs: int, pythonpath: str, empty: int) -> float:
    """Instructions per span of ``label``: ``pairs`` pairs counted minus the ``empty`` run."""
    return (count_instructions(label, pairs, pythonpath) - empty) / (2 * pairs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=3_000, help="outer+inner pairs counted")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: two contenders, 100 pairs"
    )
    parser.add_argument("--baseline", type=Path, help="a checkout of another version to count too")
    parser.add_argument("--workload", nargs=2, metavar=("LABEL", "PAIRS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.workload is not None:
        label, pairs = args.workload[0], int(args.workload[1])
        if label not in (*WORKER_CONTENDERS, *FLOOR_CONTENDERS):
            known = ", ".join((*WORKER_CONTENDERS, *FLOOR_CONTENDERS))
            parser.error(f"--workload {label!r}: not one of {known}")
        spans = run_workload(label, pairs)
        expected = 0 if label.startswith(("off:", "floor:")) else 2 * pairs
        if spans != expected:
            raise SystemExit(f"{label} recorded {spans} spans, expected {expected}")
        return 0
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (Debian: apt-get install valgrind)")
    baseline: Path | None = args.baseline
    if baseline is not None and not has_collector(baseline):
        parser.error(f"--baseline {baseline}: no pytest_harn_trace/collector.py there")
    labels: tuple[str, ...] = WORKER_CONTENDERS
    if args.quick:
        args.pairs = 100
        labels = ("module functions", "with span()+set")
    here = str(Path(__file__).resolve().parents[1])
    print(f"Python {sys.version.split()[0]}; callgrind instructions per span, {args.pairs:,} pairs")
    header = f"  {'contender':<24} {'now':>9}"
    if baseline is not None:
        header += f" {'baseline':>9} {'now / baseline':>15}"
    print(header)
    # Start-up and imports, the same for every contender: counted once per checkout.
    empty = count_instructions(labels[0], 0, here)
    if baseline is not None:
        old = str(baseline.resolve())
        old_empty = count_instructions(labels[0], 0, old)
    counts: dict[str, float] = {}
    for label in labels:
        now = counts[label] = per_span(label, args.pairs, here, empty)
        row = f"  {label:<24} {now:>9,.0f}"
        if baseline is not None:
            before = per_span(label, args.pairs, old, old_empty)
            row += f" {before:>9,.0f} {now / before:>14.2f}x"
        print(row)
    if not args.quick:
        for label in FLOOR_CONTENDERS:  # the package plays no part: counted once
            counts[label] = per_span(label, args.pairs, here, empty)
            print(f"  {label:<24} {counts[label]:>9,.0f}")
    ratio = counts["with span()+set"] / counts["module functions"]
    print(f"  with span()+set / module functions: {ratio:.2f}x   (target <= 1.3x)")
    if not args.quick:
        off, on = counts["off: with span()+set"], counts["with span()+set"]
        print(f"  off / on, with span()+set:          {off / on:.2f}x   (target <= 0.2x)")
        print(f"  off / no-op floor, with span()+set: {off / counts['floor: no-op with+set']:.2f}x")
        start = counts["off: span_start"] / counts["floor: empty call"]
        print(f"  off: span_start / empty call:       {start:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Machine instructions per span, counted by valgrind: a span-cost figure the load can't move.

Usage::

    .venv/bin/python benchmarks/count_span_instructions.py
    .venv/bin/python benchmarks/count_span_instructions.py --baseline ../old-checkout

For each way of recording a span (the same shapes as ``bench_spans.py``: nested
outer+inner pairs with one metadata key each), it runs a short Python process under
``valgrind --tool=callgrind`` twice, once recording ``--pairs`` pairs and once none,
and divides the difference by the number of spans: interpreter start-up and imports
cancel out. Hash randomisation and address-space randomisation are off (``setarch
-R`` where available), so repeated runs agree to about 0.5%. With ``--baseline DIR``
the same counts are taken with the package imported from DIR, side by side.

It needs ``valgrind`` (Debian: ``apt-get install valgrind``). ``--workload MODE
PAIRS`` runs one workload without valgrind (what the counted process runs).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

MODES = {
    "module functions": "module",
    "with span()+set": "with_set",
    "with span(k=1)": "with_kw",
    "off: with span()+set": "off_with_set",
    "off: span_start": "off_start",
}


def run_workload(mode: str, pairs: int) -> int:
    """Record ``pairs`` outer+inner span pairs the ``mode`` way; return the spans recorded."""
    from pytest_harn_trace import (
        SpanCollector,
        SpanKind,
        set_tracing_enabled,
        span,
        span_end,
        span_set_metadata,
        span_start,
        use_collector,
    )

    kind = SpanKind.FN_CALL

    def module() -> None:
        for _ in range(pairs):
            outer = span_start(kind, "outer")
            span_set_metadata(outer, "key", 1)
            inner = span_start(kind, "inner")
            span_set_metadata(inner, "key", 1)
            span_end(inner)
            span_end(outer)

    def with_set() -> None:
        for _ in range(pairs):
            with span(kind, "outer") as outer:
                outer.set("key", 1)
                with span(kind, "inner") as inner:
                    inner.set("key", 1)

    def with_kw() -> None:
        for _ in range(pairs):
            with span(kind, "outer", key=1), span(kind, "inner", key=1):
                pass

    def off_start() -> None:
        for _ in range(pairs):
            span_start(kind, "outer")
            span_start(kind, "inner")

    workloads: dict[str, Callable[[], None]] = {
        "module": module,
        "with_set": with_set,
        "with_kw": with_kw,
        "off_with_set": with_set,
        "off_start": off_start,
    }
    set_tracing_enabled(not mode.startswith("off_"))
    collector = SpanCollector()
    with use_collector(collector):
        workloads[mode]()
    return len(collector.spans())


def count_instructions(mode: str, pairs: int, pythonpath: str) -> int:
    """The instructions valgrind counts for one process running ``mode`` for ``pairs`` pairs."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": pythonpath}
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--workload",
        mode,
        str(pairs),
    ]
    if shutil.which("setarch"):
        command = ["setarch", "-R", *command]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind run of {mode!r} failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_span(mode: str, pairs: int, pythonpath: str) -> float:
    # A first plain run compiles what the counted runs import (they may not write bytecode).
    env = {**os.environ, "PYTHONPATH": pythonpath}
    subprocess.run([sys.executable, __file__, "--workload", mode, "1"], env=env, check=True)
    spans = 2 * pairs
    return (
        count_instructions(mode, pairs, pythonpath) - count_instructions(mode, 0, pythonpath)
    ) / spans


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=3_000, help="outer+inner pairs counted")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: two contenders, 100 pairs"
    )
    parser.add_argument("--baseline", type=Path, help="a checkout of another version to count too")
    parser.add_argument("--workload", nargs=2, metavar=("MODE", "PAIRS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.workload is not None:
        mode, pairs = args.workload
        if mode not in MODES.values():
            parser.error(f"--workload {mode}: not one of {', '.join(MODES.values())}")
        spans = run_workload(mode, int(pairs))
        expected = 0 if mode.startswith("off_") else 2 * int(pairs)
        if spans != expected:
            raise SystemExit(f"{mode} recorded {spans} spans, expected {expected}")
        return 0
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (Debian: apt-get install valgrind)")
    baseline: Path | None = args.baseline
    if baseline is not None and not (baseline / "pytest_harn_trace" / "collector.py").is_file():
        parser.error(f"--baseline {baseline}: no pytest_harn_trace/collector.py there")
    here = str(Path(__file__).resolve().parents[1])
    modes = MODES
    if args.quick:
        args.pairs = 100
        modes = {label: MODES[label] for label in ("module functions", "with span()+set")}
    print(f"Python {sys.version.split()[0]}; callgrind instructions per span, {args.pairs:,} pairs")
    header = f"  {'contender':<24} {'now':>9}"
    if baseline is not None:
        header += f" {'baseline':>9} {'now / baseline':>15}"
    print(header)
    counts: dict[str, float] = {}
    for label, mode in modes.items():
        now = counts[label] = per_span(mode, args.pairs, here)
        row = f"  {label:<24} {now:>9,.0f}"
        if baseline is not None:
            before = per_span(mode, args.pairs, str(baseline.resolve()))
            row += f" {before:>9,.0f} {now / before:>14.2f}x"
        print(row)
    ratio = counts["with span()+set"] / counts["module functions"]
    print(f"  with span()+set / module functions: {ratio:.2f}x   (target <= 1.3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

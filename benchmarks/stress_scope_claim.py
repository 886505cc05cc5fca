"""Try to make threads that enter one fresh ``span()`` scope at once both claim it.

The first entry of a scope takes the scope itself as its handle; the test and
the claim in ``SpanScope.__enter__`` are one step only while the GIL is held.
This script runs ``--threads`` worker threads that, after a barrier, enter the
same ``--scopes`` fresh scopes in the same order, for ``--rounds`` rounds, and
counts:

- double claims: scopes whose handle was the scope itself in more than one
  thread (each such thread believes it is the first entry);
- what the trace shows: spans missing or still open, spans whose metadata
  does not name their own span id, spans sharing one metadata dict,
  duplicate span ids;
- exceptions raised inside the blocks (a handle call on a mis-claimed scope).

Usage (a free-threaded build, GIL off; under the GIL no double claim can happen)::

    PYTHON_GIL=0 python3.14t benchmarks/stress_scope_claim.py --rounds 20000
    .venv/bin/python benchmarks/stress_scope_claim.py --quick   # smoke run

Exit status 1 when anything was mis-recorded, 0 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import sys
import threading
import time

from pytest_harn_trace import SpanCollector, SpanScope, set_tracing_enabled, span, use_collector


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scopes", type=int, default=50, help="fresh scopes per round")
    parser.add_argument("--switch-interval", type=float, default=1e-6)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20 rounds")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 20

    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print(f"Python {sys.version.split()[0]} {sys.implementation.cache_tag}, GIL enabled: {gil}")
    sys.setswitchinterval(args.switch_interval)

    # A worker that fails breaks the barriers (after the timeout) instead of hanging.
    start = threading.Barrier(args.threads + 1, timeout=60)
    done = threading.Barrier(args.threads + 1, timeout=60)
    scopes: list[SpanScope] = []
    # claimed[t] lists, per round, the scope indexes thread t got as its own handle.
    claimed: list[list[int]] = [[] for _ in range(args.threads)]
    errors: list[str] = []  # exceptions raised inside the threads' blocks
    stop = False

    def work(index: int) -> None:
        mine = claimed[index]
        while True:
            start.wait()
            if stop:
                return
            for position, scope in enumerate(scopes):
                try:
                    with scope as handle:
                        if handle is scope:
                            mine.append(position)
                        handle.set("thread", index)
                        handle.set("span", handle.span_id)
                except Exception as exc:  # a mis-claimed scope may refuse its handle's calls
                    errors.append(f"{type(exc).__name__}: {exc}")
            done.wait()

    double_claims = 0
    started = time.perf_counter()
    with use_collector(SpanCollector()) as collector:
        set_tracing_enabled(True)
        workers = [threading.Thread(target=work, args=(i,)) for i in range(args.threads)]
        for worker in workers:
            worker.start()
        try:
            for _ in range(args.rounds):
                scopes[:] = [span("tool_call", "t") for _ in range(args.scopes)]
                for mine in claimed:
                    mine.clear()
                start.wait()
                done.wait()
                counts = collections.Counter(p for mine in claimed for p in mine)
                double_claims += sum(1 for n in counts.values() if n > 1)
        finally:
            stop = True
            with contextlib.suppress(threading.BrokenBarrierError):
                start.wait()
            for worker in workers:
                worker.join()
            set_tracing_enabled(False)
        spans = collector.spans()
        still_open = collector.open_spans()
    elapsed = time.perf_counter() - started

    expected = args.rounds * args.scopes * args.threads
    ids = collections.Counter(s.span_id for s in spans)
    wrong_span = sum(1 for s in spans if s.metadata.get("span") != s.span_id)
    shared_metadata = len(spans) - len({id(s.metadata) for s in spans})
    print(
        f"{args.rounds} rounds x {args.scopes} fresh scopes x {args.threads} threads "
        f"= {expected} entries in {elapsed:.1f} s"
    )
    print(f"double claims (two threads got the scope itself): {double_claims}")
    print(f"spans recorded: {len(spans)} (expected {expected}), still open: {len(still_open)}")
    print(f"spans whose 'span' metadata is not their own id: {wrong_span}")
    print(f"spans sharing a metadata dict with another span: {shared_metadata}")
    print(f"duplicate span ids: {sum(n - 1 for n in ids.values() if n > 1)}")
    print(f"exceptions raised inside blocks: {len(errors)}")
    if errors:
        print(f"  first: {errors[0]}")
    bad = (
        double_claims
        or len(spans) != expected
        or still_open
        or wrong_span
        or shared_metadata
        or len(ids) != len(spans)
        or errors
    )
    print("MIS-RECORDED" if bad else "all entries recorded correctly")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

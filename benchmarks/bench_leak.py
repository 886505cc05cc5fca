"""What spans left open by earlier tests cost the tests after them.

Usage::

    .venv/bin/python benchmarks/bench_leak.py            # full run (a few seconds)
    .venv/bin/python benchmarks/bench_leak.py --quick    # smoke run

Simulates ``--tests`` tests that each, like a failing test using the Harn-style
API, start a span with a 10 KB metadata value in their own ``trace`` collector
and never end it; then times a root span start+end in a fresh collector, as the
next test would. Three scenarios, each in a context of its own, rounds
interleaved and medians reported:

- ``no earlier tests``: the floor;
- ``left open, kept on the stack``: the teardown leaves the spans' stack nodes
  in place (the behaviour before the ``trace`` fixture cleaned up);
- ``left open, fixture teardown``: the teardown drops them, as the ``trace``
  fixture does.

It also reports the memory still held after the simulated tests (tracemalloc,
after a full garbage collection), and, with the ``[otel]`` extra installed,
the memory held after tests that each leave an OpenTelemetry span open
(``tracer.start_span`` never ended) in a trace with a 10 KB value: with the
bridge keeping the span (the behaviour before it released them at a test's
end) and with the release the ``trace`` fixture does.
"""

from __future__ import annotations

import argparse
import contextvars
import functools
import gc
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable

from pytest_harn_trace import SpanCollector, use_collector
from pytest_harn_trace.tracing import collector as _collector


def run_tests(count: int, *, cleanup: bool) -> None:
    """Run ``count`` simulated tests, each leaving one span open in its own collector."""
    for index in range(count):
        collector = SpanCollector()
        was_enabled = _collector.swap_enabled(True)
        with use_collector(collector):
            span_id = _collector.span_start("pipeline", "leak")
            _collector.span_set_metadata(span_id, "blob", f"{index:010}" * 1_000)  # 10 KB
        _collector.swap_enabled(was_enabled)
        if cleanup:
            collector._leave_context()


def run_otel_tests(count: int, *, release: bool) -> None:
    """Run ``count`` simulated tests, each leaving an OpenTelemetry span open in its trace."""
    from pytest_harn_trace.otel.bridge import (
        configure_capture,
        release_open_spans,
        tracer_provider,
    )

    tracer = tracer_provider().get_tracer("bench_leak")
    for index in range(count):
        collector = SpanCollector()
        configure_capture(collector)
        was_enabled = _collector.swap_enabled(True)
        with use_collector(collector):
            span_id = _collector.span_start("pipeline", "test")
            _collector.span_set_metadata(span_id, "blob", f"{index:010}" * 1_000)  # 10 KB
            _collector.span_end(span_id)
            tracer.start_span("forgotten")
        _collector.swap_enabled(was_enabled)
        collector._leave_context()
        if release:
            release_open_spans(collector)


def otel_retained(count: int) -> dict[str, int] | None:
    """Bytes held after ``count`` OTel-leaking tests, kept and released; None without OTel."""
    try:
        from pytest_harn_trace.otel.bridge import tracer_provider
        from pytest_harn_trace.otel.state import singletons
    except ImportError:
        return None
    tracer_provider()  # created outside the measurement: one per process
    out = {}
    for label, release in (("bridge keeps the open span", False), ("released at test end", True)):
        run = functools.partial(
            contextvars.copy_context().run, run_otel_tests, count, release=release
        )
        out[label] = retained_bytes(run)
        singletons["processor"]._open.clear()  # what the kept scenario left, for the next
    return out


def time_root_spans(spans: int) -> float:
    """Ns per root span start+end in a fresh collector, as the next test's first spans."""
    collector = SpanCollector()
    start, end = collector.start, collector.end
    began = time.perf_counter_ns()
    for _ in range(spans):
        end(start("pipeline", "next"))
    return (time.perf_counter_ns() - began) / spans


def retained_bytes(setup: Callable[[], None]) -> int:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    setup()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=1_000, help="earlier tests leaving a span")
    parser.add_argument("--spans", type=int, default=2_000, help="root spans timed per round")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 100 tests, 3 rounds")
    args = parser.parse_args()
    if args.quick:
        args.tests, args.spans, args.rounds = 100, 200, 3

    scenarios = {
        "no earlier tests": contextvars.copy_context(),
        "left open, kept on the stack": contextvars.copy_context(),
        "left open, fixture teardown": contextvars.copy_context(),
    }
    memory = {
        "no earlier tests": 0,
        "left open, kept on the stack": retained_bytes(
            lambda: scenarios["left open, kept on the stack"].run(
                run_tests, args.tests, cleanup=False
            )
        ),
        "left open, fixture teardown": retained_bytes(
            lambda: scenarios["left open, fixture teardown"].run(
                run_tests, args.tests, cleanup=True
            )
        ),
    }
    samples: dict[str, list[float]] = {label: [] for label in scenarios}
    labels = list(scenarios)
    for round_index in range(args.rounds):
        for offset in range(len(labels)):
            label = labels[(round_index + offset) % len(labels)]
            gc.collect()
            samples[label].append(scenarios[label].run(time_root_spans, args.spans))

    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}) on "
        f"{platform.machine()} {platform.system()}"
    )
    print(
        f"{args.tests} earlier tests each left a span open with a 10 KB value; then root "
        f"span start+end, {args.rounds} interleaved rounds of {args.spans}; ns per span"
    )
    print(f"  {'scenario':32} {'median':>8} {'min':>8} {'max':>8}   retained")
    floor = statistics.median(samples[labels[0]])
    for label in labels:
        values = samples[label]
        print(
            f"  {label:32} {statistics.median(values):8,.0f} {min(values):8,.0f} "
            f"{max(values):8,.0f}   {memory[label] / 1e6:6.2f} MB"
        )
    for label in labels[1:]:
        print(f"  {label} / no earlier tests: {statistics.median(samples[label]) / floor:5.1f}x")
    otel = otel_retained(args.tests)
    if otel is None:
        print("OpenTelemetry is not installed: no figures for spans left open through the bridge")
        return
    print(
        f"{args.tests} earlier tests each left an OpenTelemetry span open in a trace with a "
        "10 KB value; memory still held"
    )
    for label, held in otel.items():
        print(f"  {label:32} {held / 1e6:6.2f} MB   {held / args.tests / 1024:6.1f} KiB per test")


if __name__ == "__main__":
    main()

"""Cost per span of pytest-harn-trace against the OpenTelemetry SDK and a bare-Python floor.

Usage::

    .venv/bin/python benchmarks/bench_spans.py            # full run (about a minute)
    .venv/bin/python benchmarks/bench_spans.py --quick    # smoke run, a second or two

Part 1 times a *nested* span start+end with one metadata key each: an outer
span with one key, and an inner span with one key inside it, repeated
``--pairs`` times per round. Contenders:

- ``module functions``: ``span_start`` / ``span_set_metadata`` / ``span_end``;
- ``with span(k=1)``: ``with span(kind, name, key=1):``;
- ``with span()+set``: ``with span(kind, name) as s: s.set("key", 1)``, the
  form the README teaches first;
- ``OpenTelemetry SDK``: ``TracerProvider`` + ``SimpleSpanProcessor`` +
  ``InMemorySpanExporter``, ``tracer.start_as_current_span`` + ``set_attribute``;
- ``bare-Python floor``: a slotted object, three clock reads
  (``perf_counter_ns`` and ``time_ns`` at start, ``perf_counter_ns`` at end)
  and a list append per span: what any span recorder must at least do;
- with tracing **off** (what instrumented code costs in production):
  ``off: with span()+set`` (the same block) and ``off: span_start``
  (``span_start`` alone, one call per span).

Rounds are interleaved (every contender once per round, in rotating order) and
the median ns/span over the rounds is reported. Recorded spans are cleared
between rounds, outside the timing. The garbage collector stays on (as in
real use), after a ``gc.collect()`` before each timed run; ``--no-gc`` turns
it off during the timing, which flatters the contenders that allocate most.
The share of each contender's time spent in the garbage collector is measured
with ``gc.callbacks`` and printed too.

Part 2 measures the memory a completed span keeps (one metadata key, 100k
spans, ``tracemalloc``), for the module functions and ``with span()+set``.

Part 3 times ``format_summary`` on realistic traces of 10k, 100k and 1M spans
(best of 3), built outside the timing, and prints the growth ratios: linear
time means about 10x per 10x spans.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata as importlib_metadata

from pytest_harn_trace import (
    Span,
    SpanCollector,
    SpanKind,
    format_summary,
    is_tracing_enabled,
    set_tracing_enabled,
    span,
    span_end,
    span_set_metadata,
    span_start,
    use_collector,
)
from pytest_harn_trace.collector import swap_enabled

_perf_ns = time.perf_counter_ns
_wall_ns = time.time_ns

OTEL_MISSING = (
    "OpenTelemetry SDK not installed: skipping that contender "
    "(install it with: pip install -e '.[bench]')"
)

# A contender runs ``pairs`` nested span pairs and returns the elapsed ns.
Runner = Callable[[int], int]


@dataclass
class Contender:
    """One way of recording spans, with a hook to clear what it recorded."""

    label: str
    run: Runner
    recorded: Callable[[], int]
    """How many spans the last round recorded (checked, so no contender cheats)."""
    clear: Callable[[], None]
    samples: list[float]
    records: bool = True
    """False for the tracing-off contenders, which must record nothing."""
    gc_ns: int = 0
    """Time spent in the garbage collector during this contender's timed runs."""
    total_ns: int = 0


class GcClock:
    """Adds up the time the garbage collector runs, through ``gc.callbacks``."""

    def __init__(self) -> None:
        self.total_ns = 0
        self._began = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = _perf_ns()
        else:
            self.total_ns += _perf_ns() - self._began


# -- the contenders -------------------------------------------------------------


def run_module_functions(pairs: int) -> int:
    kind = SpanKind.FN_CALL
    start, set_meta, end = span_start, span_set_metadata, span_end
    began = _perf_ns()
    for _ in range(pairs):
        outer = start(kind, "outer")
        set_meta(outer, "key", 1)
        inner = start(kind, "inner")
        set_meta(inner, "key", 1)
        end(inner)
        end(outer)
    return _perf_ns() - began


def run_with_span(pairs: int) -> int:
    kind = SpanKind.FN_CALL
    make = span
    began = _perf_ns()
    for _ in range(pairs):
        with make(kind, "outer", key=1), make(kind, "inner", key=1):
            pass
    return _perf_ns() - began


def run_with_span_set(pairs: int) -> int:
    kind = SpanKind.FN_CALL
    make = span
    began = _perf_ns()
    for _ in range(pairs):
        with make(kind, "outer") as outer:
            outer.set("key", 1)
            with make(kind, "inner") as inner:
                inner.set("key", 1)
    return _perf_ns() - began


def tracing_off(run: Runner) -> Runner:
    """Return ``run`` timed with tracing disabled (switched outside the timing)."""

    def run_off(pairs: int) -> int:
        previous = swap_enabled(False)
        try:
            return run(pairs)
        finally:
            swap_enabled(previous)

    return run_off


def run_span_start_alone(pairs: int) -> int:
    # Two calls per pair, as the other contenders record two spans per pair.
    kind = SpanKind.FN_CALL
    start = span_start
    began = _perf_ns()
    for _ in range(pairs):
        start(kind, "outer")
        start(kind, "inner")
    return _perf_ns() - began


class FloorSpan:
    """The least a span recorder stores: ids, name, times and one metadata value."""

    __slots__ = ("end_ns", "key", "name", "parent", "start_ns", "start_unix_ns")

    def __init__(self, parent: FloorSpan | None, name: str, start_ns: int, unix_ns: int) -> None:
        self.parent = parent
        self.name = name
        self.start_ns = start_ns
        self.start_unix_ns = unix_ns
        self.end_ns = 0
        self.key: object = None


_floor_spans: list[FloorSpan] = []


def run_floor(pairs: int) -> int:
    new, perf, wall = FloorSpan, _perf_ns, _wall_ns
    append = _floor_spans.append
    began = _perf_ns()
    for _ in range(pairs):
        outer = new(None, "outer", perf(), wall())
        outer.key = 1
        inner = new(outer, "inner", perf(), wall())
        inner.key = 1
        inner.end_ns = perf()
        append(inner)
        outer.end_ns = perf()
        append(outer)
    return _perf_ns() - began


def make_otel() -> Contender | None:
    """Build the OpenTelemetry contender, or ``None`` when the SDK is not installed."""
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
    except ImportError:
        return None

    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench_spans")

    def run(pairs: int) -> int:
        start_as_current = tracer.start_as_current_span
        began = _perf_ns()
        for _ in range(pairs):
            with start_as_current("outer") as outer:
                outer.set_attribute("key", 1)
                with start_as_current("inner") as inner:
                    inner.set_attribute("key", 1)
        return _perf_ns() - began

    return Contender(
        "OpenTelemetry SDK",
        run,
        lambda: len(exporter.get_finished_spans()),
        exporter.clear,
        [],
    )


# -- part 1: cost per span ------------------------------------------------------


def bench_spans(
    pairs: int, rounds: int, collector: SpanCollector, *, gc_on: bool = True
) -> dict[str, float]:
    def clear_collector() -> None:
        collector.take_spans()

    def recorded() -> int:
        return len(collector.spans())

    contenders = [
        Contender("module functions", run_module_functions, recorded, clear_collector, []),
        Contender("with span(k=1)", run_with_span, recorded, clear_collector, []),
        Contender("with span()+set", run_with_span_set, recorded, clear_collector, []),
    ]
    otel = make_otel()
    if otel is None:
        print(OTEL_MISSING)
    else:
        contenders.append(otel)
    contenders.append(
        Contender("bare-Python floor", run_floor, lambda: len(_floor_spans), _floor_spans.clear, [])
    )
    contenders.append(
        Contender(
            "off: with span()+set",
            tracing_off(run_with_span_set),
            recorded,
            clear_collector,
            [],
            records=False,
        )
    )
    contenders.append(
        Contender(
            "off: span_start",
            tracing_off(run_span_start_alone),
            recorded,
            clear_collector,
            [],
            records=False,
        )
    )
    gc_clock = GcClock()
    gc.callbacks.append(gc_clock)

    # Warm up every path (imports, caches, specialization) outside the timing.
    for contender in contenders:
        contender.run(min(pairs, 1_000))
        contender.clear()

    spans_per_round = 2 * pairs
    try:
        for round_index in range(rounds):
            shift = round_index % len(contenders)
            for contender in contenders[shift:] + contenders[:shift]:
                gc.collect()
                if not gc_on:
                    gc.disable()
                gc_before = gc_clock.total_ns
                try:
                    elapsed = contender.run(pairs)
                finally:
                    gc.enable()
                contender.gc_ns += gc_clock.total_ns - gc_before
                contender.total_ns += elapsed
                recorded = contender.recorded()
                expected = spans_per_round if contender.records else 0
                if recorded != expected:
                    raise RuntimeError(
                        f"{contender.label} recorded {recorded} spans, expected {expected}"
                    )
                contender.clear()
                contender.samples.append(elapsed / spans_per_round)
    finally:
        gc.callbacks.remove(gc_clock)

    print(
        f"Nested span start+end with one metadata key each: {rounds} interleaved rounds "
        f"of {pairs:,} outer+inner pairs ({spans_per_round:,} spans), garbage collector "
        + ("on (as in real use)" if gc_on else "off (--no-gc)")
        + "; ns per span"
    )
    print(f"  {'contender':<22} {'median':>9} {'min':>9} {'max':>9} {'in gc':>6}")
    medians: dict[str, float] = {}
    for contender in contenders:
        median = statistics.median(contender.samples)
        medians[contender.label] = median
        gc_share = contender.gc_ns / contender.total_ns if contender.total_ns else 0.0
        print(
            f"  {contender.label:<22} {median:>9,.0f} {min(contender.samples):>9,.0f} "
            f"{max(contender.samples):>9,.0f} {gc_share:>6.0%}"
        )
    print()
    module = medians["module functions"]
    with_span = medians["with span(k=1)"]
    with_set = medians["with span()+set"]
    floor = medians["bare-Python floor"]
    off = medians["off: with span()+set"]
    if "OpenTelemetry SDK" in medians:
        otel_ns = medians["OpenTelemetry SDK"]
        print(f"  OTel / module functions:            {otel_ns / module:6.1f}x")
        print(f"  OTel / with span()+set:             {otel_ns / with_set:6.1f}x")
    else:
        print("  OTel ratios: skipped (OpenTelemetry SDK not installed)")
    print(f"  with span()+set / module functions: {with_set / module:6.2f}x   (target <= 1.3x)")
    print(f"  with span(k=1) / module functions:  {with_span / module:6.2f}x")
    print(f"  off / on, with span()+set:          {off / with_set:6.2f}x   (target <= 0.2x)")
    print(
        f"  off: span_start per call:           {medians['off: span_start']:6.0f} ns "
        "(target < 50 ns)"
    )
    print(f"  module functions / floor:           {module / floor:6.1f}x")
    print(f"  with span()+set / floor:            {with_set / floor:6.1f}x")
    return medians


# -- part 2: memory kept per span -----------------------------------------------------


def bench_memory(collector: SpanCollector, spans: int) -> dict[str, float]:
    print(
        f"Memory kept per completed span with one metadata key ({spans:,} spans, tracemalloc, "
        "after gc.collect())"
    )
    kind = SpanKind.FN_CALL

    def module_functions() -> None:
        for _ in range(spans):
            span_id = span_start(kind, "x")
            span_set_metadata(span_id, "key", 1)
            span_end(span_id)

    def with_span_set() -> None:
        for _ in range(spans):
            with span(kind, "x") as handle:
                handle.set("key", 1)

    kept: dict[str, float] = {}
    runs = (("module functions", module_functions), ("with span()+set", with_span_set))
    for label, record in runs:
        collector.take_spans()
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            record()
            gc.collect()
            kept[label] = (tracemalloc.get_traced_memory()[0] - before) / spans
        finally:
            tracemalloc.stop()
        if len(collector.spans()) != spans:
            raise RuntimeError(f"{label} recorded {len(collector.spans())} spans, not {spans}")
        collector.take_spans()
        print(f"  {label:<22} {kept[label]:>6.0f} bytes per span   (target <= 400)")
    return kept


# -- part 3: format_summary -----------------------------------------------------

TRACE_ID = "trace_0190b3c4-0000-7000-8000-000000000000"
_LLM_MODELS = ("gpt-4o", "claude-sonnet", "gpt-4o-mini")


def build_trace(total: int) -> list[Span]:
    """Return ``total`` completed spans in completion order, as a collector records them.

    Trees of 10 spans: a ``pipeline`` root with 3 ``fn_call`` steps, each with
    2 ``llm_call`` children; every span carries two or three metadata keys.
    Children complete before their parent, as in a real trace.
    """
    spans: list[Span] = []
    next_id = 1
    roots = max(total // 10, 1)
    for root_index in range(roots):
        root_id = next_id
        next_id += 1
        base_ms = root_index * 50
        for step in range(3):
            step_id = next_id
            next_id += 1
            for call in range(2):
                call_id = next_id
                next_id += 1
                spans.append(
                    Span(
                        TRACE_ID,
                        call_id,
                        step_id,
                        SpanKind.LLM_CALL,
                        _LLM_MODELS[(root_index + call) % 3],
                        base_ms + step * 15 + call * 7,
                        1_700_000_000_000 + base_ms,
                        7,
                        {
                            "model": _LLM_MODELS[(root_index + call) % 3],
                            "input_tokens": 100 + root_index % 900,
                            "cost_usd": 0.0025,
                        },
                        (),
                        (),
                    )
                )
            spans.append(
                Span(
                    TRACE_ID,
                    step_id,
                    root_id,
                    SpanKind.FN_CALL,
                    f"step_{step}",
                    base_ms + step * 15,
                    1_700_000_000_000 + base_ms,
                    15,
                    {"status": "ok", "attempt": 1},
                    (),
                    (),
                )
            )
        spans.append(
            Span(
                TRACE_ID,
                root_id,
                None,
                SpanKind.PIPELINE,
                "agent",
                base_ms,
                1_700_000_000_000 + base_ms,
                45,
                {"run": root_index, "status": "ok"},
                (),
                (),
            )
        )
    return spans[:total]


def bench_summary(sizes: Sequence[int], repeats: int) -> dict[int, float]:
    print(f"format_summary, best of {repeats} (trees of 10 spans, 2-3 metadata keys each)")
    best_ms: dict[int, float] = {}
    for size in sizes:
        spans = build_trace(size)
        times: list[float] = []
        lines = 0
        for _ in range(repeats):
            gc.collect()
            began = _perf_ns()
            text = format_summary(spans)
            times.append((_perf_ns() - began) / 1e6)
            lines = text.count("\n") + 1
            del text
        best_ms[size] = min(times)
        print(f"  {size:>10,} spans: {best_ms[size]:>9.1f} ms   ({lines:,} lines)")
        del spans
        gc.collect()
    for smaller, larger in itertools.pairwise(sizes):
        print(
            f"  {_short(larger)}/{_short(smaller)}: {best_ms[larger] / best_ms[smaller]:5.1f}x "
            f"time for {larger / smaller:g}x spans (target <= 12x per 10x)"
        )
    return best_ms


def _short(count: int) -> str:
    if count >= 1_000_000 and count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    if count >= 1_000 and count % 1_000 == 0:
        return f"{count // 1_000}k"
    return str(count)


# -- main -----------------------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return "not installed"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (small counts)")
    parser.add_argument("--pairs", type=int, help="outer+inner span pairs per round")
    parser.add_argument("--rounds", type=int, help="interleaved rounds")
    parser.add_argument(
        "--no-gc",
        action="store_true",
        help="time the spans with the garbage collector off (as timeit does); "
        "it is on by default, as in real use",
    )
    args = parser.parse_args(argv)

    pairs: int = args.pairs or (300 if args.quick else 5_000)
    rounds: int = args.rounds or (3 if args.quick else 21)
    sizes = (1_000, 10_000) if args.quick else (10_000, 100_000, 1_000_000)
    repeats = 1 if args.quick else 3

    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}) on "
        f"{platform.machine()} {platform.system()}; pytest-harn-trace "
        f"{_version('pytest-harn-trace')}; opentelemetry-sdk {_version('opentelemetry-sdk')}"
        + ("; --quick" if args.quick else "")
    )
    print()

    was_enabled = is_tracing_enabled()
    with use_collector(SpanCollector()) as collector:
        set_tracing_enabled(True)  # resets only the fresh collector
        try:
            bench_spans(pairs, rounds, collector, gc_on=not args.no_gc)
            print()
            bench_memory(collector, 10_000 if args.quick else 100_000)
        finally:
            if not was_enabled:
                set_tracing_enabled(False)
    print()
    bench_summary(sizes, repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Cost per span of pytest-harn-trace against the OpenTelemetry SDK and a bare-Python floor.

Usage::

    .venv/bin/python benchmarks/bench_spans.py            # full run (about a minute)
    .venv/bin/python benchmarks/bench_spans.py --quick    # smoke run, a second or two
    .venv/bin/python benchmarks/bench_spans.py --baseline /tmp/old  # before/after

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
- the pure-Python floors of those two: ``floor: no-op with+set`` (a function of
  ``span``'s signature returning a ready object whose ``__enter__``,
  ``__exit__`` and ``set`` do nothing) and ``floor: empty call`` (a function
  that returns 0): no untraced API can cost less than these in Python.

With ``--baseline DIR`` (a checkout of another version of this package, for
example made with ``git worktree add --detach /tmp/old <commit>``), part 1
also times the contenders that use only the package's API (all but the OTel
and floor ones) on that version, labelled ``..., baseline``, and prints each
current / baseline ratio: of the medians, and ``paired``, the median of the
per-round ratios. Two versions of one package can't share a process, so those
run the same loops (``span_runners.py``) in a worker process that imports the
package from ``DIR``; they are timed, checked and cleared in the same way, in
the same rounds, each right next to its current counterpart (the two take
turns going first).

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
import contextlib
import gc
import itertools
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from types import TracebackType

from span_runners import (
    WORKER_CONTENDERS,
    GcClock,
    Runner,
    has_collector,
    make_floor_runners,
    make_runners,
    time_run,
)

import pytest_harn_trace
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
from pytest_harn_trace.tracing import collector as collector_module

_perf_ns = time.perf_counter_ns
_wall_ns = time.time_ns

OTEL_MISSING = (
    "OpenTelemetry SDK not installed: skipping that contender "
    "(install it with: pip install -e '.[bench]')"
)

WORKER = Path(__file__).with_name("span_runners.py")


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

    def warm_up(self, pairs: int) -> None:
        self.run(pairs)
        self.clear()

    def measure(self, pairs: int, gc_clock: GcClock, *, gc_on: bool) -> tuple[int, int, int]:
        """Time one run; return its elapsed ns, ns in gc and spans recorded (then cleared)."""
        elapsed, gc_ns = time_run(self.run, pairs, gc_clock, gc_on=gc_on)
        recorded = self.recorded()
        self.clear()
        return elapsed, gc_ns, recorded


# -- the --baseline worker ------------------------------------------------------


class BaselineError(RuntimeError):
    """The ``--baseline`` checkout can't be benchmarked."""


class BaselineWorker:
    """A worker process timing the span contenders on another checkout of the package.

    It runs ``span_runners.py`` with the checkout alone on ``PYTHONPATH`` and
    checks that the package it imported comes from that checkout.
    """

    def __init__(self, checkout: Path) -> None:
        self.checkout = checkout.resolve()
        if not has_collector(self.checkout):
            raise BaselineError(
                f"--baseline {checkout}: no pytest_harn_trace/collector.py there; pass a "
                "checkout of pytest-harn-trace, e.g. one made with "
                "'git worktree add --detach /tmp/old <commit>'"
            )
        self.commit = _git_describe(self.checkout)
        env = {**os.environ, "PYTHONPATH": str(self.checkout)}
        self._process = subprocess.Popen(
            [sys.executable, str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        ready = self._read()
        imported = Path(ready.removeprefix("ready ")).resolve()
        if not ready.startswith("ready ") or not imported.is_relative_to(self.checkout):
            self.close()
            raise BaselineError(
                f"--baseline {checkout}: the worker imported pytest_harn_trace from "
                f"{imported.parent}, not from that checkout (its first line: {ready!r})"
            )

    def __enter__(self) -> BaselineWorker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def describe(self) -> str:
        return f"{self.checkout}" + (f" at {self.commit}" if self.commit else "")

    def warm_up(self, name: str, pairs: int) -> None:
        reply = self._ask(f"warmup {pairs} {name}")
        if reply != "ok":
            raise BaselineError(f"baseline worker: unexpected reply {reply!r} to warmup")

    def measure(self, name: str, pairs: int, *, gc_on: bool) -> tuple[int, int, int]:
        """Time one run of ``name`` in the worker; as :meth:`Contender.measure`."""
        reply = self._ask(f"run {pairs} {int(gc_on)} {name}")
        elapsed, gc_ns, recorded = (int(word) for word in reply.split())
        return elapsed, gc_ns, recorded

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()

    def _ask(self, request: str) -> str:
        assert self._process.stdin is not None
        self._process.stdin.write(request + "\n")
        self._process.stdin.flush()
        return self._read()

    def _read(self) -> str:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            code = self._process.wait()
            raise BaselineError(
                f"the baseline worker for {self.checkout} exited with code {code} "
                "(its error is above)"
            )
        return line.rstrip("\n")


@dataclass
class BaselineContender:
    """A span contender timed on the ``--baseline`` version, by its worker process."""

    label: str
    name: str
    """The contender's label in the worker (``label`` without ``, baseline``)."""
    worker: BaselineWorker
    samples: list[float]
    records: bool = True
    gc_ns: int = 0
    total_ns: int = 0

    def warm_up(self, pairs: int) -> None:
        self.worker.warm_up(self.name, pairs)

    def measure(self, pairs: int, gc_clock: GcClock, *, gc_on: bool) -> tuple[int, int, int]:
        return self.worker.measure(self.name, pairs, gc_on=gc_on)


def _git_describe(checkout: Path) -> str:
    """Return ``git describe --always --dirty`` of ``checkout``, or "" when git can't say."""
    try:
        result = subprocess.run(
            ["git", "-C", str(checkout), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


# -- the contenders -------------------------------------------------------------
# (those on the package's own API are in span_runners.py, shared with the worker)


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
    pairs: int,
    rounds: int,
    collector: SpanCollector,
    *,
    gc_on: bool = True,
    baseline: BaselineWorker | None = None,
) -> dict[str, float]:
    def clear_collector() -> None:
        collector.take_spans()

    def recorded() -> int:
        return len(collector.spans())

    runners = make_runners(pytest_harn_trace, collector_module)
    contenders: list[Contender | BaselineContender] = [
        Contender("module functions", runners["module functions"], recorded, clear_collector, []),
        Contender("with span(k=1)", runners["with span(k=1)"], recorded, clear_collector, []),
        Contender("with span()+set", runners["with span()+set"], recorded, clear_collector, []),
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
            runners["off: with span()+set"],
            recorded,
            clear_collector,
            [],
            records=False,
        )
    )
    contenders.append(
        Contender(
            "off: span_start",
            runners["off: span_start"],
            recorded,
            clear_collector,
            [],
            records=False,
        )
    )
    for label, run in make_floor_runners().items():
        contenders.append(Contender(label, run, lambda: 0, lambda: None, [], records=False))
    # A contender and its baseline counterpart, if any, run back to back.
    groups: list[list[Contender | BaselineContender]] = [[contender] for contender in contenders]
    if baseline is not None:
        for group in groups:
            name = group[0].label
            if name in WORKER_CONTENDERS:
                group.append(
                    BaselineContender(f"{name}, baseline", name, baseline, [], group[0].records)
                )
        contenders = [contender for group in groups for contender in group]
    gc_clock = GcClock()
    gc.callbacks.append(gc_clock)

    # Warm up every path (imports, caches, specialization) outside the timing.
    for contender in contenders:
        contender.warm_up(min(pairs, 1_000))

    spans_per_round = 2 * pairs
    try:
        for round_index in range(rounds):
            shift = round_index % len(groups)
            # The two of a pair take turns going first.
            step = 1 if round_index % 2 == 0 else -1
            for group in groups[shift:] + groups[:shift]:
                for contender in group[::step]:
                    elapsed, gc_ns, spans = contender.measure(pairs, gc_clock, gc_on=gc_on)
                    contender.gc_ns += gc_ns
                    contender.total_ns += elapsed
                    expected = spans_per_round if contender.records else 0
                    if spans != expected:
                        raise RuntimeError(
                            f"{contender.label} recorded {spans} spans, expected {expected}"
                        )
                    contender.samples.append(elapsed / spans_per_round)
    finally:
        gc.callbacks.remove(gc_clock)

    print(
        f"Nested span start+end with one metadata key each: {rounds} interleaved rounds "
        f"of {pairs:,} outer+inner pairs ({spans_per_round:,} spans), garbage collector "
        + ("on (as in real use)" if gc_on else "off (--no-gc)")
        + "; ns per span"
    )
    width = max(22, *(len(contender.label) for contender in contenders))
    print(f"  {'contender':<{width}} {'median':>9} {'min':>9} {'max':>9} {'in gc':>6}")
    medians: dict[str, float] = {}
    for contender in contenders:
        median = statistics.median(contender.samples)
        medians[contender.label] = median
        gc_share = contender.gc_ns / contender.total_ns if contender.total_ns else 0.0
        print(
            f"  {contender.label:<{width}} {median:>9,.0f} {min(contender.samples):>9,.0f} "
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
    samples = {contender.label: contender.samples for contender in contenders}

    def paired(label: str, base: str) -> float:
        """The median of the per-round ratios: the same round's timings share the load."""
        return statistics.median(a / b for a, b in zip(samples[label], samples[base], strict=True))

    print(
        f"  with span()+set / module functions: {with_set / module:6.2f}x   paired "
        f"{paired('with span()+set', 'module functions'):5.2f}x   (target <= 1.3x)"
    )
    print(
        f"  with span(k=1) / module functions:  {with_span / module:6.2f}x   paired "
        f"{paired('with span(k=1)', 'module functions'):5.2f}x"
    )
    print(
        f"  off / on, with span()+set:          {off / with_set:6.2f}x   paired "
        f"{paired('off: with span()+set', 'with span()+set'):5.2f}x   (target <= 0.2x)"
    )
    print(
        f"  off / no-op floor, with span()+set: {off / medians['floor: no-op with+set']:6.2f}x"
        f"   paired {paired('off: with span()+set', 'floor: no-op with+set'):5.2f}x"
    )
    print(
        f"  off: span_start per call:           {medians['off: span_start']:6.0f} ns "
        "(target < 50 ns)"
    )
    print(
        f"  off: span_start / empty call:       "
        f"{medians['off: span_start'] / medians['floor: empty call']:6.2f}x   paired "
        f"{paired('off: span_start', 'floor: empty call'):5.2f}x"
    )
    print(f"  module functions / floor:           {module / floor:6.1f}x")
    print(f"  with span()+set / floor:            {with_set / floor:6.1f}x")
    if baseline is not None:
        print()
        print(
            "  Against the baseline, current / baseline (< 1 means faster now): ratio of the "
            "medians;\n  paired: median of the per-round ratios (each pair runs back to back)"
        )
        for name in WORKER_CONTENDERS:
            ratio = medians[name] / medians[f"{name}, baseline"]
            print(
                f"  {name + ' / baseline:':<36}{ratio:6.2f}x   paired "
                f"{paired(name, f'{name}, baseline'):5.2f}x   (target <= 1.0x)"
            )
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
        "--baseline",
        type=Path,
        metavar="DIR",
        help="a checkout of another version of pytest-harn-trace: part 1 also times its "
        "span contenders, in a worker process, and prints current / baseline ratios",
    )
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

    with contextlib.ExitStack() as stack:
        baseline: BaselineWorker | None = None
        if args.baseline is not None:
            try:
                baseline = stack.enter_context(BaselineWorker(args.baseline))
            except BaselineError as error:
                parser.error(str(error))
        print(
            f"Python {platform.python_version()} ({platform.python_implementation()}) on "
            f"{platform.machine()} {platform.system()}; pytest-harn-trace "
            f"{_version('pytest-harn-trace')}; opentelemetry-sdk {_version('opentelemetry-sdk')}"
            + ("; --quick" if args.quick else "")
        )
        if baseline is not None:
            print(f"Baseline: pytest-harn-trace from {baseline.describe()}, in a worker process")
        print()

        was_enabled = is_tracing_enabled()
        with use_collector(SpanCollector()) as collector:
            set_tracing_enabled(True)  # resets only the fresh collector
            try:
                bench_spans(pairs, rounds, collector, gc_on=not args.no_gc, baseline=baseline)
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

"""Where the time of a span goes: timing variants of the module-function hot path.

Usage::

    .venv/bin/python benchmarks/profile_span_path.py [--quick]

cProfile adds more overhead per call than a span costs, so this times instead:

1. each public step alone (``span_start``, ``span_set_metadata``, ``span_end``)
   and the collector methods that do the same work in general (the module
   functions do the common case, the real clock with no sinks, themselves);
2. the primitive operations the hot path is made of, each alone in a loop
   (clock reads, ``ContextVar`` get/set, dict set/pop, building the open-span
   list and the ``Span`` tuple, ...), minus the cost of an empty loop.

Every figure is the best of several repeats (the least disturbed), in ns per
operation, with the garbage collector off, as ``timeit`` does.
"""

from __future__ import annotations

import argparse
import contextvars
import gc
import itertools
import sys
import time
import timeit
from collections.abc import Callable, Sequence
from contextvars import ContextVar

from span_runners import make_runners

import pytest_harn_trace
from pytest_harn_trace import (
    Span,
    SpanCollector,
    SpanKind,
    is_tracing_enabled,
    set_tracing_enabled,
    span_end,
    span_set_metadata,
    span_start,
    use_collector,
)
from pytest_harn_trace.tracing import clock as _clock
from pytest_harn_trace.tracing import collector as _collector_module
from pytest_harn_trace.tracing import events as _events

_perf_ns = time.perf_counter_ns

BLOCK = 1_000  # operations per timed block for the stateful steps


def best_block(setup: Callable[[], object], body: Callable[[object], None], repeats: int) -> float:
    """Best ns/op of ``body(state)`` (which does BLOCK operations) over ``repeats`` blocks."""
    best = float("inf")
    for _ in range(repeats):
        state = setup()
        began = _perf_ns()
        body(state)
        best = min(best, (_perf_ns() - began) / BLOCK)
    return best


def profile_steps(collector: SpanCollector, repeats: int) -> None:
    kind = SpanKind.FN_CALL
    loop = range(BLOCK)

    def drain() -> None:
        """End every open span (untimed) so each block starts from an empty collector."""
        for span_id in sorted(collector._open, reverse=True):
            collector.end(span_id)
        collector.take_spans()

    def fresh() -> object:
        drain()
        return None

    def open_block() -> object:
        drain()
        return [span_start(kind, "x") for _ in loop][::-1]

    def one_open() -> object:
        drain()
        return span_start(kind, "x")

    def b_span_start(_: object) -> None:
        start = span_start
        for _ in loop:
            start(kind, "x")

    def b_collector_start(_: object) -> None:
        start = collector._start
        for _ in loop:
            start(kind, "x", (), True, "span_start")

    def b_span_set_metadata(state: object) -> None:
        set_meta = span_set_metadata
        for _ in loop:
            set_meta(state, "key", 1)  # type: ignore[arg-type]

    def b_collector_set_metadata(state: object) -> None:
        set_meta = collector.set_metadata
        for _ in loop:
            set_meta(state, "key", 1)  # type: ignore[arg-type]

    def b_span_end(state: object) -> None:
        end = span_end
        for span_id in state:  # type: ignore[attr-defined]
            end(span_id)

    def b_collector_end(state: object) -> None:
        end = collector.end
        for span_id in state:  # type: ignore[attr-defined]
            end(span_id)

    def b_empty(state: object) -> None:
        for _ in loop:
            pass

    empty = best_block(fresh, b_empty, repeats)
    rows = [
        ("span_start", best_block(fresh, b_span_start, repeats)),
        ("  SpanCollector._start", best_block(fresh, b_collector_start, repeats)),
        ("span_set_metadata", best_block(one_open, b_span_set_metadata, repeats)),
        ("  SpanCollector.set_metadata", best_block(one_open, b_collector_set_metadata, repeats)),
        ("span_end", best_block(open_block, b_span_end, repeats)),
        ("  SpanCollector.end", best_block(open_block, b_collector_end, repeats)),
    ]
    drain()
    print(f"Public steps, ns per call (best of {repeats} blocks of {BLOCK:,}, loop cost removed)")
    for label, ns in rows:
        print(f"  {label:<30} {ns - empty:7.0f}")
    start, set_meta, end = rows[0][1], rows[2][1], rows[4][1]
    per_span = start + set_meta + end - 3 * empty
    print(f"  {'start + set_metadata + end':<30} {per_span:7.0f}   (per span, no nesting loop)")
    print()


def profile_primitives(number: int, repeats: int) -> None:
    collector = SpanCollector()
    var: ContextVar[object] = ContextVar("bench", default=None)
    var.set((1, None))
    counter = itertools.count(1)
    open_dict: dict[int, list[object]] = {}
    meta: dict[str, object] = {}
    args_11: tuple[object, ...] = ("trace_x", 1, None, SpanKind.FN_CALL, "x", 0, 0, 0, {}, (), ())
    namespace: dict[str, object] = {
        "time": time,
        "perf": time.perf_counter_ns,
        "wall": time.time_ns,
        "var": var,
        "counter": counter,
        "d": open_dict,
        "meta": meta,
        "Span": Span,
        "new_span": tuple.__new__,
        "args_11": args_11,
        "SpanKind": SpanKind,
        "kind": SpanKind.FN_CALL,
        "c": collector,
        "clock": _clock,
        "events": _events,
        "mod": _collector_module,
        "node": (1, {}, None),  # a dead node: harmless if left in the context
        "lst": [],
        "one": 1,
        "started": 123_456_789,
    }

    def t(stmt: str, setup: str = "pass") -> float:
        timer = timeit.Timer(stmt, setup, globals=namespace)
        return min(timer.repeat(repeats, number)) / number * 1e9

    empty = t("pass")
    cases: list[tuple[str, str, str]] = [
        ("perf_counter_ns()", "perf()", "pass"),
        ("time_ns()", "wall()", "pass"),
        ("time_ns() // 1_000_000", "wall() // 1_000_000", "pass"),
        ("(perf() - started) // 1_000_000", "(perf() - started) // 1_000_000", "pass"),
        ("ContextVar.get()", "var.get()", "pass"),
        ("ContextVar.set(tuple)", "var.set(node)", "pass"),
        ("_active_spans.get()", "mod._active_spans.get()", "pass"),
        ("_active_spans.set(...)", "mod._active_spans.set(node)", "pass"),
        ("build (span_id, owner, stack) node", "(one, d, node)", "pass"),
        ("next(itertools.count)", "next(counter)", "pass"),
        ("dict[k] = list9 (insert)", "d[1] = [1, kind, 'x', 2, None, 3, {}, (), ()]", "pass"),
        ("  of which: 9-item list + {}", "[1, kind, 'x', 2, None, 3, {}, (), ()]", "pass"),
        ("  of which: {} alone", "{}", "pass"),
        ("dict.pop(k, None) (hit)", "d[1] = lst; d.pop(1, None)", "pass"),
        ("  minus: dict[k] = v", "d[1] = lst", "pass"),
        ("dict.get(k) (hit)", "d.get(1)", "d[1] = lst"),
        ("k in dict", "1 in d", "d[1] = lst"),
        ("meta[key] = value", "meta['key'] = 1", "pass"),
        ("tuple.__new__(Span, 11-tuple)", "new_span(Span, args_11)", "pass"),
        ("  (Span(*11) via __new__ call)", "Span(*args_11)", "pass"),
        ("unpack 9-list", "a, b, c2, d2, e, f, g, h, i = lst9", "lst9 = list(range(9))"),
        ("list.append", "lst.append(1)", "lst = []"),
        ("type(kind) is not SpanKind", "type(kind) is not SpanKind", "pass"),
        ("x.__class__ is not int", "one.__class__ is not int", "pass"),
        ("value.__class__ not in set", "one.__class__ not in plain", "plain = {int, str, float}"),
        ("module global read (_clock._active)", "clock._active", "pass"),
        ("events._sinks truthiness", "if events._sinks: pass", "pass"),
        ("_bound.get() or _current", "mod._bound.get() or mod._current", "pass"),
        ("self.attr = True", "c._used_real_clock = True", "pass"),
        ("method call, 5 args, empty body", "f(1, 2, 3, 4, 5)", "f = (lambda a, b, c, d, e: None)"),
        ("function call, 2 args, empty body", "f(1, 2)", "f = (lambda a, b: None)"),
    ]
    print(
        f"Primitive operations, ns each (best of {repeats} x {number:,}, "
        f"empty-statement cost {empty:.0f} ns removed)"
    )
    for label, stmt, setup in cases:
        print(f"  {label:<40} {t(stmt, setup) - empty:6.1f}")
    print()


def profile_context_size(pairs: int, repeats: int) -> None:
    """Span cost after many collectors have been used in the same context.

    A regression check: when each collector had a ``ContextVar`` of its own,
    every one of them stayed in the context for good (pytest runs synchronous
    tests in one context), and ``ContextVar.set`` got slower with each test
    that used ``trace``. With one shared variable the cost must stay flat.
    """
    kind = SpanKind.FN_CALL
    # bench_spans.py's own loop for the module functions.
    run_module_functions = make_runners(pytest_harn_trace, _collector_module)["module functions"]

    def nested_pairs() -> float:
        collector = SpanCollector()
        best = float("inf")
        with use_collector(collector):
            for _ in range(repeats):
                best = min(best, run_module_functions(pairs) / (2 * pairs))
                collector.take_spans()
        return best

    def earlier_tests(count: int) -> None:
        for _ in range(count):  # what each test using `trace` leaves behind
            with use_collector(SpanCollector()):
                span_end(span_start(kind, "test"))

    print(
        "Module-function nested span cost vs. variables left in the context by earlier "
        f"collectors (best of {repeats} x {pairs:,} pairs), ns per span"
    )
    context = contextvars.Context()
    done = 0
    for count in (0, 100, 1_000, 10_000):
        context.run(earlier_tests, count - done)
        done = count
        size = len(context)
        print(
            f"  after {count:>6,} collectors ({size:>6,} context vars): "
            f"{context.run(nested_pairs):6.0f}"
        )
    print()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 200
    number = 20_000 if args.quick else 500_000
    print(f"Python {sys.version.split()[0]}")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    was_enabled = is_tracing_enabled()
    try:
        with use_collector(SpanCollector()) as collector:
            set_tracing_enabled(True)
            try:
                profile_steps(collector, repeats)
                profile_context_size(200 if args.quick else 2_000, 3 if args.quick else 15)
            finally:
                if not was_enabled:
                    set_tracing_enabled(False)
        profile_primitives(number, 7 if not args.quick else 3)
    finally:
        if gc_was_enabled:
            gc.enable()
    return 0


if __name__ == "__main__":
    sys.exit(main())

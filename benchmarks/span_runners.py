"""The span contenders of ``bench_spans.py``, built on any version of pytest-harn-trace.

``bench_spans.py`` times them in its own process; with ``--baseline DIR`` it
also starts this file as a worker process with ``DIR`` first on
``PYTHONPATH``, so the same loops run on another version of the package (two
versions of one package can't be imported into one process). The worker reads
one request per line on stdin and answers one line on stdout:

- at start it answers ``ready <the package's __init__.py>``, so the parent can
  check which checkout it imported;
- ``warmup <pairs> <contender>``: runs the contender untimed and clears what it
  recorded; answers ``ok``;
- ``run <pairs> <gc 0|1> <contender>``: one timed run as the parent times its
  own contenders (:func:`time_run`); answers ``<elapsed ns> <gc ns> <spans
  recorded>`` and clears the collector.

It exits when stdin closes.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

_perf_ns = time.perf_counter_ns

# A contender runs ``pairs`` nested span pairs and returns the elapsed ns.
Runner = Callable[[int], int]

# The contenders a baseline worker can run, all on the package's own API; the
# ``off:`` ones run with tracing disabled and must record nothing.
WORKER_CONTENDERS = (
    "module functions",
    "with span(k=1)",
    "with span()+set",
    "off: with span()+set",
    "off: span_start",
)

# The pure-Python floors of the ``off:`` contenders (:func:`make_floor_runners`).
FLOOR_CONTENDERS = ("floor: no-op with+set", "floor: empty call")


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


def time_run(run: Runner, pairs: int, gc_clock: GcClock, *, gc_on: bool) -> tuple[int, int]:
    """Time one run after a ``gc.collect()``; return its elapsed ns and the ns spent in gc."""
    gc.collect()
    if not gc_on:
        gc.disable()
    gc_before = gc_clock.total_ns
    try:
        elapsed = run(pairs)
    finally:
        gc.enable()
    return elapsed, gc_clock.total_ns - gc_before


def make_runners(package: ModuleType, collector_module: ModuleType) -> dict[str, Runner]:
    """Return the span contenders of :data:`WORKER_CONTENDERS`, by label, built on ``package``.

    ``package`` is ``pytest_harn_trace`` and ``collector_module`` its
    ``collector`` module, of whichever version the process imported.
    """
    span_start = package.span_start
    span_set_metadata = package.span_set_metadata
    span_end = package.span_end
    span = package.span
    fn_call = package.SpanKind.FN_CALL
    swap_enabled = collector_module.swap_enabled

    def run_module_functions(pairs: int) -> int:
        kind = fn_call
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
        kind = fn_call
        make = span
        began = _perf_ns()
        for _ in range(pairs):
            with make(kind, "outer", key=1), make(kind, "inner", key=1):
                pass
        return _perf_ns() - began

    def run_with_span_set(pairs: int) -> int:
        kind = fn_call
        make = span
        began = _perf_ns()
        for _ in range(pairs):
            with make(kind, "outer") as outer:
                outer.set("key", 1)
                with make(kind, "inner") as inner:
                    inner.set("key", 1)
        return _perf_ns() - began

    def run_span_start_alone(pairs: int) -> int:
        # Two calls per pair, as the other contenders record two spans per pair.
        kind = fn_call
        start = span_start
        began = _perf_ns()
        for _ in range(pairs):
            start(kind, "outer")
            start(kind, "inner")
        return _perf_ns() - began

    def tracing_off(run: Runner) -> Runner:
        """Return ``run`` timed with tracing disabled (switched outside the timing).

        ``swap_enabled`` leaves the collector alone, where turning tracing
        back on with ``set_tracing_enabled`` would wipe it.
        """

        def run_off(pairs: int) -> int:
            previous = swap_enabled(False)
            try:
                return run(pairs)
            finally:
                swap_enabled(previous)

        return run_off

    runners = {
        "module functions": run_module_functions,
        "with span(k=1)": run_with_span,
        "with span()+set": run_with_span_set,
        "off: with span()+set": tracing_off(run_with_span_set),
        "off: span_start": tracing_off(run_span_start_alone),
    }
    assert tuple(runners) == WORKER_CONTENDERS
    return runners


class _NoopScope:
    """A ``with`` target whose every method does nothing: the floor for an untraced block."""

    __slots__ = ()

    def __enter__(self) -> _NoopScope:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def set(self, key: str, value: object) -> None:
        return None


_NOOP_SCOPE = _NoopScope()


def _noop_span(kind: object, name: str, /, **metadata: object) -> _NoopScope:
    return _NOOP_SCOPE


def _noop_start(kind: object, name: str) -> int:
    return 0


def make_floor_runners() -> dict[str, Runner]:
    """The least any pure-Python API costs for what the ``off:`` contenders do, by label.

    ``floor: no-op with+set`` is ``off: with span()+set`` against a function of
    the same signature returning a ready object with no-op ``__enter__``,
    ``__exit__`` and ``set``; ``floor: empty call`` is ``off: span_start``
    against a function that only returns 0. They record nothing.
    """

    def run_noop_with_set(pairs: int) -> int:
        kind = "fn_call"
        make = _noop_span
        began = _perf_ns()
        for _ in range(pairs):
            with make(kind, "outer") as outer:
                outer.set("key", 1)
                with make(kind, "inner") as inner:
                    inner.set("key", 1)
        return _perf_ns() - began

    def run_empty_call(pairs: int) -> int:
        kind = "fn_call"
        start = _noop_start
        began = _perf_ns()
        for _ in range(pairs):
            start(kind, "outer")
            start(kind, "inner")
        return _perf_ns() - began

    runners = {"floor: no-op with+set": run_noop_with_set, "floor: empty call": run_empty_call}
    assert tuple(runners) == FLOOR_CONTENDERS
    return runners


def has_collector(checkout: Path) -> bool:
    """Whether ``checkout`` holds the package, in today's layout or the flat one before it."""
    package = checkout / "pytest_harn_trace"
    return (package / "tracing" / "collector.py").is_file() or (package / "collector.py").is_file()


def serve() -> int:
    """Answer the parent's requests on stdin/stdout until stdin closes (see the module doc)."""
    import pytest_harn_trace as package
    try:
        from pytest_harn_trace.tracing import collector as collector_module
    except ImportError:  # a --baseline checkout from before the subpackages
        from pytest_harn_trace import collector as collector_module  # type: ignore[no-redef]

    out = sys.stdout
    out.write(f"ready {package.__file__}\n")
    out.flush()
    runners = make_runners(package, collector_module)
    gc_clock = GcClock()
    gc.callbacks.append(gc_clock)
    collector: Any
    with package.use_collector(package.SpanCollector()) as collector:
        package.set_tracing_enabled(True)  # resets only the fresh collector
        for line in sys.stdin:
            command, pairs_text, rest = line.rstrip("\n").split(" ", 2)
            pairs = int(pairs_text)
            if command == "warmup":
                runners[rest](pairs)
                collector.take_spans()
                reply = "ok"
            elif command == "run":
                gc_flag, label = rest.split(" ", 1)
                elapsed, gc_ns = time_run(runners[label], pairs, gc_clock, gc_on=gc_flag == "1")
                recorded = len(collector.spans())
                collector.take_spans()
                reply = f"{elapsed} {gc_ns} {recorded}"
            else:
                raise ValueError(f"unknown request {line!r}")
            out.write(reply + "\n")
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve())

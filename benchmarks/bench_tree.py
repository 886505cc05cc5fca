"""``assert_span_tree`` at scale: siblings by the thousand, deep chains, and the lookups around it.

Usage::

    .venv/bin/python benchmarks/bench_tree.py            # 100 / 1,000 / 10,000 siblings
    .venv/bin/python benchmarks/bench_tree.py --quick    # 10 / 100 siblings, smaller depths

Prints, from one run, each case's time (the best of a few runs: 5 up to 1,000
siblings, 3 beyond; one for the 10,000-deep chains) beside its target, and the
growth per 10x (or 2x) of size:

1. Siblings: one ``pipeline main`` root with n ``tool_call tool`` children,
   one metadata key ``i`` each, built as ``Span`` records. The pasted summary
   (ordered); the same tree with the children listed in reverse,
   ``ordered=False``; 10 of the n, ``ordered=False, exact=False``; and the
   reversed children with one name wrong, ``ordered=False`` (failing: time,
   message size and lines).
2. The worst case: n siblings identical except for the value of ``i``,
   listed in reverse, ``ordered=False``; once with the values written plainly
   (looked up by value), once checked by a predicate each (no key to look
   them up by: compared pairwise within the group).
3. Deep chains: 1,000 deep with ``exact=False`` (every other level left
   out) and with ``...`` beside the child at every 10th level; 10,000 deep
   on every path (ordered or not, exact or not), passing and failing at the
   bottom.
4. ``TraceCapture.find`` / ``one`` / ``roots`` on 10,000 and 100,000 spans,
   and ``format_summary`` on 100,000 and 1,000,000 spans (``--quick``: a
   tenth of each), each the best of 3 runs (the first run at a new size also
   pays for growing the heap).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

from pytest_harn_trace import (
    MockClock,
    SpanCollector,
    TraceCapture,
    assert_span_tree,
    format_summary,
    install_override,
    node,
)
from pytest_harn_trace.tracing.model import Span, SpanKind


def span(span_id: int, parent: int | None, kind: SpanKind, name: str, **metadata: Any) -> Span:
    return Span("t", span_id, parent, kind, name, 0, 0, 1, metadata, (), ())


def fan_out(n: int) -> list[Span]:
    spans = [span(i + 2, 1, SpanKind.TOOL_CALL, "tool", i=i) for i in range(n)]
    return [*spans, span(1, None, SpanKind.PIPELINE, "main")]


def timed(action: Callable[[], object], repeats: int) -> tuple[float, object]:
    """The best time of ``repeats`` runs (the least disturbed by load), and the last outcome."""
    times = []
    result: object = None
    for _ in range(repeats):
        began = time.perf_counter()
        try:
            action()
            result = "pass"
        except AssertionError as error:
            result = error
        times.append(time.perf_counter() - began)
    return min(times), result


def best_of(action: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` runs: the first run at a size also pays for growing the heap."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return min(times)


def repeats_for(n: int) -> int:
    return 5 if n <= 1_000 else 3


def seconds(value: float) -> str:
    return f"{value:.3f} s"


def growth(times: list[float]) -> str:
    steps = [f"{later / earlier:.1f}x" for earlier, later in itertools.pairwise(times)]
    return ", ".join(steps)


def siblings(sizes: list[int]) -> None:
    print("1. Siblings: one root, n tool_call children with one metadata key each")
    header = (
        f"  {'n':>7}  {'pasted, ordered':>16}  {'reversed, ordered=False':>24}  "
        f"{'10 of n, exact=False':>21}  {'one wrong name, ordered=False (failing)':>40}"
    )
    print(header)
    columns: list[list[float]] = [[], [], [], []]
    for n in sizes:
        spans = fan_out(n)
        pasted = format_summary(spans)
        lines = format_summary(spans, durations=False).splitlines()
        root = lines.index("pipeline main")
        reversed_text = "\n".join([lines[root], *reversed(lines[root + 1 :])])
        some = "\n".join([lines[root], *lines[root + 1 :: max(1, n // 10)][:10]])
        wrong = [lines[root], *reversed(lines[root + 1 :])]
        wrong[1 + n // 2] = wrong[1 + n // 2].replace("tool_call tool", "tool_call other")
        wrong_text = "\n".join(wrong)
        repeats = repeats_for(n)
        cases = [
            timed(functools.partial(assert_span_tree, spans, pasted), repeats),
            timed(
                functools.partial(assert_span_tree, spans, reversed_text, ordered=False), repeats
            ),
            timed(
                functools.partial(assert_span_tree, spans, some, ordered=False, exact=False),
                repeats,
            ),
            timed(functools.partial(assert_span_tree, spans, wrong_text, ordered=False), repeats),
        ]
        for column, (elapsed, result) in zip(columns, cases, strict=True):
            column.append(elapsed)
            assert (result == "pass") is (column is not columns[3]), result
        message = str(cases[3][1])
        failing = (
            f"{seconds(cases[3][0])}, {len(message.encode()) / 1000:.1f} KB, "
            f"{len(message.splitlines())} lines"
        )
        print(
            f"  {n:>7,}  {seconds(cases[0][0]):>16}  {seconds(cases[1][0]):>24}  "
            f"{seconds(cases[2][0]):>21}  {failing:>40}"
        )
    print(
        f"  {'per 10x':>7}  {growth(columns[0]):>16}  {growth(columns[1]):>24}  "
        f"{growth(columns[2]):>21}  {growth(columns[3]):>40}"
    )
    print(
        f"  targets: reversed, ordered=False: < 1 s at 10,000, <= 12x per 10x; "
        f"one wrong name: < 1 s at 10,000, message bounded (measured: "
        f"{seconds(columns[1][-1])}, {seconds(columns[3][-1])} at {sizes[-1]:,})"
    )
    print()


def _predicate(i: int) -> Callable[[object], bool]:
    def value_is(value: object) -> bool:
        return value == i

    return value_is


def worst_case(sizes: list[int]) -> None:
    print("2. Worst case: n siblings alike but for one metadata value, reversed, ordered=False")
    print(f"  {'n':>7}  {'values written plainly':>23}  {'each checked by a predicate':>28}")
    plain_times, predicate_times = [], []
    for n in sizes:
        spans = fan_out(n)
        plain = [node("tool_call", "tool", metadata={"i": i}) for i in range(n)][::-1]
        checked = [node("tool_call", "tool", metadata={"i": _predicate(i)}) for i in range(n)]
        checked.reverse()
        plain_time, plain_result = timed(
            functools.partial(
                assert_span_tree, spans, node("pipeline", "main", *plain), ordered=False
            ),
            repeats_for(n),
        )
        checked_time, checked_result = timed(
            functools.partial(
                assert_span_tree, spans, node("pipeline", "main", *checked), ordered=False
            ),
            repeats_for(n),
        )
        assert plain_result == checked_result == "pass", (plain_result, checked_result)
        plain_times.append(plain_time)
        predicate_times.append(checked_time)
        print(f"  {n:>7,}  {seconds(plain_time):>23}  {seconds(checked_time):>28}")
    print(f"  {'growth':>7}  {growth(plain_times):>23}  {growth(predicate_times):>28}")
    print(
        "  target: 1,000 under 2 s. Predicates give no key to look spans up by: the group is "
        "compared pairwise (quadratic), and past 3,000,000 comparisons the search stops and "
        "the failure says so."
    )
    print()


def chain(depth: int) -> list[Span]:
    spans = [
        span(level + 1, level or None, SpanKind.FN_CALL, f"s{level}") for level in range(depth)
    ]
    return spans[::-1]


def chain_nodes(depth: int, *, step: int = 1, dots: int = 0, last: str | None = None) -> Any:
    expected = None
    for level in range(depth - 1, -1, -1):
        if level % step and level != depth - 1:
            continue
        name = last if last and level == depth - 1 else f"s{level}"
        children: tuple[Any, ...] = () if expected is None else (expected,)
        if dots and level % dots == 0 and children:
            children = (..., *children, ...)
        expected = node("fn_call", name, *children)
    return expected


def deep(depth: int, long_depth: int) -> None:
    print(f"3. Deep chains ({depth:,} deep: target < 0.5 s; {long_depth:,} deep: must work)")
    spans = chain(depth)
    for label, expected, options in [
        ("exact=False, every other level left out", chain_nodes(depth, step=2), {"exact": False}),
        ("... beside the child at every 10th level", chain_nodes(depth, dots=10), {}),
        (
            "... at every 10th level, exact=False",
            chain_nodes(depth, dots=10),
            {"exact": False},
        ),
        (
            "exact=False, ordered=False, every other",
            chain_nodes(depth, step=2),
            {"exact": False, "ordered": False},
        ),
    ]:
        elapsed, result = timed(functools.partial(assert_span_tree, spans, expected, **options), 3)
        assert result == "pass", result
        print(f"  {depth:>6,} deep, {label:<44} {seconds(elapsed):>9}")
    spans = chain(long_depth)
    for ordered in (True, False):
        for exact in (True, False):
            step = 1 if exact else 2
            good = chain_nodes(long_depth, step=step)
            bad = chain_nodes(long_depth, step=step, last="other")
            options = {"ordered": ordered, "exact": exact}
            passed, result = timed(functools.partial(assert_span_tree, spans, good, **options), 1)
            assert result == "pass", result
            failed, error = timed(functools.partial(assert_span_tree, spans, bad, **options), 1)
            assert isinstance(error, AssertionError), error
            lines = len(str(error).splitlines())
            label = f"ordered={ordered}, exact={exact}"
            print(
                f"  {long_depth:>6,} deep, {label:<28} passing {seconds(passed):>9}, "
                f"failing {seconds(failed):>9} ({lines} lines)"
            )
    print()


def lookups(sizes: list[int], summary_sizes: list[int]) -> None:
    print("4. Lookups, best of 3 (target: linear, about 10x per 10x)")
    times: dict[str, list[float]] = {"find": [], "one": [], "roots": [], "format_summary": []}
    for n in sizes:
        collector = SpanCollector()
        with install_override(MockClock(auto_advance_ms=1)):
            root = collector.start("pipeline", "main")
            for i in range(n - 1):
                child = collector.start("tool_call", f"tool{i % 100}")
                collector.set_metadata(child, "i", i)
                collector.end(child)
            collector.end(root)
        trace = TraceCapture(collector)
        for label, action in [
            ("find", functools.partial(trace.find, "tool_call", "tool7")),
            ("one", functools.partial(trace.one, "tool_call", "tool7", i=n // 2 // 100 * 100 + 7)),
            ("roots", functools.partial(getattr, trace, "roots")),
        ]:
            times[label].append(best_of(action, 3))
        print(
            f"  {n:>9,} spans: find {seconds(times['find'][-1])}, one {seconds(times['one'][-1])}, "
            f"roots {seconds(times['roots'][-1])}"
        )
    print(
        f"  {'per 10x':>15}: find {growth(times['find'])}, one {growth(times['one'])}, "
        f"roots {growth(times['roots'])}"
    )
    for n in summary_sizes:
        spans = [
            span(
                i + 1,
                None if i % 10 == 0 else i - i % 10 + 1,
                SpanKind.TOOL_CALL,
                "call",
                model="m",
                tokens=i,
            )
            for i in range(n)
        ]
        elapsed = best_of(functools.partial(format_summary, spans), 3)
        times["format_summary"].append(elapsed)
        print(f"  {n:>9,} spans: format_summary {seconds(elapsed)} (best of 3)")
    print(f"  {'per 10x':>15}: format_summary {growth(times['format_summary'])}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    quick = parser.parse_args().quick
    print(f"CPython {platform.python_version()} on {platform.machine()}, {platform.system()}")
    print()
    if quick:
        siblings([10, 100])
        worst_case([10, 100])
        deep(100, 1_000)
        lookups([1_000, 10_000], [10_000, 100_000])
    else:
        siblings([100, 1_000, 10_000])
        worst_case([100, 1_000, 2_000])
        deep(1_000, 10_000)
        lookups([10_000, 100_000], [100_000, 1_000_000])


if __name__ == "__main__":
    sys.exit(main())

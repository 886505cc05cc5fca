"""Cost per OpenTelemetry span of capturing it into ``trace``, against the SDK's test exporter.

Usage::

    .venv/bin/python benchmarks/bench_otel.py            # full run (about a minute)
    .venv/bin/python benchmarks/bench_otel.py --quick    # smoke run, a second or two

Each round records ``--pairs`` nested OpenTelemetry span pairs the way an
instrumented agent does: an ``invoke_agent`` span (operation, agent name,
conversation id) around a ``chat`` span (operation, model, provider, response
id, two token counts), through ``tracer.start_as_current_span`` and
``set_attribute``. Contenders, each on its own SDK ``TracerProvider``:

- ``InMemorySpanExporter``: ``SimpleSpanProcessor(InMemorySpanExporter())``,
  what tests use today;
- ``harn bridge``: this package's span processor, inside a test's collector
  (mapping to Harn kinds, canonical usage keys, id placeholders, a ``Span`` per
  OpenTelemetry span);
- ``harn bridge, tracing off``: the same processor outside a ``trace`` test,
  where it only checks a flag;
- ``no processor``: the SDK span alone, the floor both processors add to.

Rounds are short and interleaved (every contender once per round, in rotating
order); the median ns per OpenTelemetry span over the rounds is reported, with
the ratio of the medians and the median of each round's own ratio (on a shared
machine, timings taken moments apart share its load).
The garbage collector stays on, after a ``gc.collect()`` before each timed run.
Times are the thread's CPU time (``time.thread_time_ns``), not wall time, so
that other processes on a busy machine don't land in the numbers.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata as importlib_metadata

try:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Tracer
except ImportError:
    sys.exit("OpenTelemetry SDK not installed: pip install -e '.[otel]'")

from pytest_harn_trace import SpanCollector, use_collector
from pytest_harn_trace.otel.bridge import HarnSpanProcessor
from pytest_harn_trace.tracing.collector import swap_enabled

# CPU time of this thread: on a shared machine, time spent descheduled while
# other processes run would swamp the differences measured here.
_clock_ns = time.thread_time_ns


@dataclass
class Contender:
    label: str
    tracer: Tracer
    recorded: Callable[[], int]
    clear: Callable[[], None]
    tracing: bool
    samples: list[float]


def record(tracer: Tracer, pairs: int) -> int:
    start = tracer.start_as_current_span
    began = _clock_ns()
    for index in range(pairs):
        with start("invoke_agent support") as agent:
            agent.set_attribute("gen_ai.operation.name", "invoke_agent")
            agent.set_attribute("gen_ai.agent.name", "support")
            agent.set_attribute("gen_ai.conversation.id", "conv-7")
            with start("chat gpt-4o") as chat:
                chat.set_attribute("gen_ai.operation.name", "chat")
                chat.set_attribute("gen_ai.request.model", "gpt-4o")
                chat.set_attribute("gen_ai.provider.name", "openai")
                chat.set_attribute("gen_ai.response.id", f"resp_{index}")
                chat.set_attribute("gen_ai.usage.input_tokens", 812)
                chat.set_attribute("gen_ai.usage.output_tokens", 96)
    return _clock_ns() - began


def provider_with(*processors: object) -> TracerProvider:
    provider = TracerProvider(shutdown_on_exit=False)
    for processor in processors:
        provider.add_span_processor(processor)  # type: ignore[arg-type]
    return provider


def contenders(collector: SpanCollector) -> list[Contender]:
    exporter = InMemorySpanExporter()
    bridge = HarnSpanProcessor()
    bridge_provider = provider_with(bridge)
    return [
        Contender(
            "InMemorySpanExporter",
            provider_with(SimpleSpanProcessor(exporter)).get_tracer("bench"),
            lambda: len(exporter.get_finished_spans()),
            exporter.clear,
            False,
            [],
        ),
        Contender(
            "harn bridge",
            bridge_provider.get_tracer("bench"),
            lambda: len(collector.spans()),
            lambda: collector.take_spans() and None,
            True,
            [],
        ),
        Contender(
            "harn bridge, tracing off",
            bridge_provider.get_tracer("bench"),
            lambda: -1,
            lambda: None,
            False,
            [],
        ),
        Contender("no processor", provider_with().get_tracer("bench"), lambda: -1, lambda: None,
                  False, []),
    ]


def bench(pairs: int, rounds: int) -> dict[str, float]:
    collector = SpanCollector()
    entries = contenders(collector)
    ratios: list[float] = []
    with use_collector(collector):
        for round_index in range(rounds):
            shift = round_index % len(entries)
            for entry in entries[shift:] + entries[:shift]:
                entry.clear()
                gc.collect()
                was = swap_enabled(entry.tracing)
                try:
                    elapsed = record(entry.tracer, pairs)
                finally:
                    swap_enabled(was)
                got = entry.recorded()
                if got not in (-1, 2 * pairs):
                    raise SystemExit(f"{entry.label} recorded {got} spans, expected {2 * pairs}")
                entry.samples.append(elapsed / (2 * pairs))
            ratios.append(entries[1].samples[-1] / entries[0].samples[-1])
    print(
        f"Nested OpenTelemetry span pairs (invoke_agent around chat, 9 attributes): "
        f"{rounds} interleaved rounds of {pairs:,} pairs ({2 * pairs:,} spans); CPU ns per span"
    )
    print(f"  {'contender':<28}{'median':>9}{'min':>9}{'max':>9}")
    medians = {}
    for entry in entries:
        median = statistics.median(entry.samples)
        medians[entry.label] = median
        print(
            f"  {entry.label:<28}{median:>9,.0f}{min(entry.samples):>9,.0f}"
            f"{max(entry.samples):>9,.0f}"
        )
    base = medians["InMemorySpanExporter"]
    floor = medians["no processor"]
    print()
    print(
        f"  harn bridge / InMemorySpanExporter, medians:            "
        f"{medians['harn bridge'] / base:5.2f}x   (target <= 1.3x)"
    )
    print(
        f"  harn bridge / InMemorySpanExporter, median of rounds:   "
        f"{statistics.median(ratios):5.2f}x   (the same round's timings share the machine's load)"
    )
    print(
        f"  harn bridge, tracing off / InMemorySpanExporter, medians: "
        f"{medians['harn bridge, tracing off'] / base:5.2f}x"
    )
    print(
        f"  added per span over no processor: exporter {base - floor:,.0f} ns, "
        f"bridge {medians['harn bridge'] - floor:,.0f} ns, "
        f"bridge with tracing off {medians['harn bridge, tracing off'] - floor:,.0f} ns"
    )
    return medians


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pairs", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--quick", action="store_true", help="a smoke run: few pairs and rounds")
    args = parser.parse_args(argv)
    pairs, rounds = (200, 3) if args.quick else (args.pairs, args.rounds)
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}) on "
        f"{platform.machine()} {platform.system()}; pytest-harn-trace "
        f"{importlib_metadata.version('pytest-harn-trace')}; opentelemetry-sdk "
        f"{importlib_metadata.version('opentelemetry-sdk')}"
    )
    print()
    bench(pairs, rounds)


if __name__ == "__main__":
    main()

"""Traces shared by the waterfall's browser tests and benchmarks/bench_waterfall.py."""

from __future__ import annotations

from pytest_harn_trace import MockClock, SpanCollector, TraceCapture, install_override


def large_trace(spans: int) -> TraceCapture:
    """A pipeline of steps of tool calls, ``spans`` spans in all, on the mock clock."""
    clock = MockClock.at_wall_ms(1_700_000_000_000)
    collector = SpanCollector()
    with install_override(clock):
        root = collector.start("pipeline", "batch")
        made = 1
        while made < spans:
            step = collector.start("step", f"step {made}")
            made += 1
            for _ in range(min(9, spans - made)):
                call = collector.start("tool_call", f"call {made}")
                collector.set_metadata(call, "n", made)
                clock.advance(1)
                collector.end(call)
                made += 1
            collector.end(step)
        collector.end(root)
    return TraceCapture(collector)

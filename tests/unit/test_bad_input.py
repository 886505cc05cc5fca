"""Every public name, fed the wrong types: a TypeError or ValueError that says so, and no trace.

One table, one entry per name in ``pytest_harn_trace.__all__`` (a new name
must add its own), each with calls that pass something wrong. Every call must
raise ``TypeError`` or ``ValueError`` with a message, and leave the collector,
the event sinks, the mock clock and the enabled flag as they were.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

import pytest_harn_trace as harn
from pytest_harn_trace.tracing import clock, events
from pytest_harn_trace.tracing.collector import SpanCollector

NAN = math.nan
Call = Callable[[], object]


# Set up by the test before it records the state: an open span, and a handle on another.
READY: dict[str, Any] = {}


def open_span() -> int:
    return READY["span_id"]


def enter(scope: Any) -> None:
    with scope:
        pass


class NoHooks:
    def harn_span_end(self, span_id, metadata):  # not marked with @events.hookimpl
        pass


NOT_CALLABLE = "a module or a type alias: nothing to call"

# name: calls that must each raise TypeError or ValueError. A str stands for a name that
# is not called (and says why).
CASES: dict[str, list[Call] | str] = {
    "clock": NOT_CALLABLE,
    "collector": NOT_CALLABLE,
    "events": NOT_CALLABLE,
    "meta": NOT_CALLABLE,
    "JsonValue": NOT_CALLABLE,
    "LlmCallUsage": [
        lambda: harn.LlmCallUsage(None, "openai"),  # type: ignore[arg-type]
        lambda: harn.LlmCallUsage("m", "p", input_tokens="12"),  # type: ignore[arg-type]
        lambda: harn.LlmCallUsage("m", "p", output_tokens=True),
        lambda: harn.LlmCallUsage("m", "p", cost_usd="0.1"),  # type: ignore[arg-type]
        lambda: harn.LlmCallUsage("m", "p", cost_usd=10**400),
        lambda: harn.LlmCallUsage("m", "p", cache_read_tokens=2**64),
    ],
    # A plain record (a NamedTuple, built on every span end): checked where it is read.
    "OpenSpan": "a record trace.open_spans returns (a NamedTuple): read, never built",
    "Span": [
        lambda: harn.Span.from_dict(None),  # type: ignore[arg-type]
        lambda: harn.Span.from_dict({"kind": "step"}),
        lambda: harn.Span.from_dict({"span_id": 1, "kind": "nope", "name": "x"}),
    ],
    "SpanEvent": [
        lambda: harn.SpanEvent(None, 0, 0),  # type: ignore[arg-type]
        lambda: harn.SpanEvent("e", "now", 0),  # type: ignore[arg-type]
        lambda: harn.SpanEvent("e", 0, 0, {1: "x"}),  # type: ignore[dict-item]
        lambda: harn.SpanEvent.from_dict([]),  # type: ignore[arg-type]
    ],
    "SpanKind": [
        lambda: harn.SpanKind.parse(None),
        lambda: harn.SpanKind.parse("llm-call"),
        lambda: harn.SpanKind(None),
    ],
    "SpanLink": [
        lambda: harn.SpanLink(None, "1"),  # type: ignore[arg-type]
        lambda: harn.SpanLink("t", 1),  # type: ignore[arg-type]
        lambda: harn.SpanLink("t", "1", {"k": 1}),  # type: ignore[dict-item]
        lambda: harn.SpanLink.from_dict(None),  # type: ignore[arg-type]
    ],
    "SpanCollector": [
        lambda: SpanCollector().start(None, "x"),  # type: ignore[arg-type]
        lambda: SpanCollector().start("step", None),  # type: ignore[arg-type]
        lambda: SpanCollector().end("1"),  # type: ignore[arg-type]
        lambda: SpanCollector().set_metadata(1.0, "k", 1),  # type: ignore[arg-type]
        lambda: SpanCollector().start_with_links("step", "x", [None]),  # type: ignore[list-item]
    ],
    "current_collector": [lambda: harn.current_collector(None)],  # type: ignore[call-arg]
    "use_collector": [lambda: enter(harn.use_collector(None))],  # type: ignore[arg-type]
    "current_span_id": [lambda: harn.current_span_id(None)],  # type: ignore[call-arg]
    "current_span_link": [lambda: harn.current_span_link(None)],  # type: ignore[call-arg]
    "format_summary": [
        lambda: harn.format_summary(5),  # type: ignore[arg-type]
        lambda: harn.format_summary([None]),  # type: ignore[list-item]
        lambda: harn.format_summary([], durations=None),  # type: ignore[arg-type]
    ],
    "is_tracing_enabled": [lambda: harn.is_tracing_enabled(True)],  # type: ignore[call-arg]
    "peek_spans": [lambda: harn.peek_spans(None)],  # type: ignore[call-arg]
    "reset_tracing": [lambda: harn.reset_tracing(None)],  # type: ignore[call-arg]
    "set_tracing_enabled": [
        lambda: harn.set_tracing_enabled(None),  # type: ignore[arg-type]
        lambda: harn.set_tracing_enabled(1),  # type: ignore[arg-type]
    ],
    "span_attach_metadata": [
        lambda: harn.span_attach_metadata(None, "k", 1),  # type: ignore[arg-type]
        lambda: harn.span_attach_metadata(open_span(), None, 1),  # type: ignore[arg-type]
    ],
    "span_attach_metadata_if_absent": [
        lambda: harn.span_attach_metadata_if_absent("1", "k", 1),  # type: ignore[arg-type]
        lambda: harn.span_attach_metadata_if_absent(open_span(), "k", {1, 2}),
    ],
    "span_end": [
        lambda: harn.span_end(None),  # type: ignore[arg-type]
        lambda: harn.span_end(True),
        lambda: harn.span_end(1.0),  # type: ignore[arg-type]
    ],
    "span_link": [lambda: harn.span_link("1")],  # type: ignore[arg-type]
    "span_record_event": [
        lambda: harn.span_record_event(None, "e"),  # type: ignore[arg-type]
        lambda: harn.span_record_event(open_span(), None),  # type: ignore[arg-type]
        lambda: harn.span_record_event(open_span(), "e", 5),  # type: ignore[arg-type]
        lambda: harn.span_record_event(open_span(), "e", {"k": object()}),
    ],
    "span_set_metadata": [
        lambda: harn.span_set_metadata(None, "k", 1),  # type: ignore[arg-type]
        lambda: harn.span_set_metadata(open_span(), 1, 1),  # type: ignore[arg-type]
        lambda: harn.span_set_metadata(open_span(), "k", object()),
        lambda: harn.span_set_metadata(open_span(), "k", [NAN, {"x": b"y"}]),
    ],
    "span_start": [
        lambda: harn.span_start(None, "x"),  # type: ignore[arg-type]
        lambda: harn.span_start("bogus", "x"),
        lambda: harn.span_start("step", None),  # type: ignore[arg-type]
    ],
    "span_start_detached_with_links": [
        lambda: harn.span_start_detached_with_links("step", "x", None),  # type: ignore[arg-type]
        lambda: harn.span_start_detached_with_links("step", "x", "t"),  # type: ignore[arg-type]
    ],
    "span_start_user_timing": [
        lambda: harn.span_start_user_timing(None),  # type: ignore[arg-type]
        lambda: harn.span_start_user_timing("t", 5),  # type: ignore[arg-type]
        lambda: harn.span_start_user_timing("t", {"k": object()}),
    ],
    "span_start_with_links": [
        lambda: harn.span_start_with_links("step", "x", [None]),  # type: ignore[list-item]
        lambda: harn.span_start_with_links("step", "x", 5),  # type: ignore[arg-type]
    ],
    "span_to_dict": [lambda: harn.span_to_dict(None)],  # type: ignore[arg-type]
    "take_spans": [lambda: harn.take_spans(None)],  # type: ignore[call-arg]
    "emit_deferred_tool_load": [
        lambda: harn.emit_deferred_tool_load(None, "q"),  # type: ignore[arg-type]
        lambda: harn.emit_deferred_tool_load("t", "q", "0.9"),  # type: ignore[arg-type]
        lambda: harn.emit_deferred_tool_load("t", "q", 10**400),
    ],
    "emit_marker_span": [
        lambda: harn.emit_marker_span(None, "x"),  # type: ignore[arg-type]
        lambda: harn.emit_marker_span("model_route", None),  # type: ignore[arg-type]
        lambda: harn.emit_marker_span("model_route", "x", 5),  # type: ignore[arg-type]
        lambda: harn.emit_marker_span("model_route", "x", {"k": object()}),
    ],
    "emit_model_route": [
        lambda: harn.emit_model_route(None, "b", "why"),  # type: ignore[arg-type]
        lambda: harn.emit_model_route("a", "b", 1),  # type: ignore[arg-type]
    ],
    "emit_tool_mount": [
        lambda: harn.emit_tool_mount("grep", "mcp"),
        lambda: harn.emit_tool_mount(None, "mcp"),  # type: ignore[arg-type]
        lambda: harn.emit_tool_mount([None], "mcp"),  # type: ignore[list-item]
        lambda: harn.emit_tool_mount(["grep"], None),  # type: ignore[arg-type]
        lambda: harn.emit_tool_mount(["grep"], "mcp", 5),  # type: ignore[arg-type]
    ],
    # Made only by span() and timed(), which check what they are given; the handle's
    # methods check theirs.
    "SpanHandle": [
        lambda: harn.SpanHandle(None, 1),  # type: ignore[arg-type]
        lambda: READY["handle"].set(None, 1),
        lambda: READY["handle"].set("k", object()),
        lambda: READY["handle"].set("k", [[[[0]]]] * 2 + [[10**20]]),
        lambda: READY["handle"].event(None),
        lambda: READY["handle"].event("e", k=object()),
    ],
    "SpanScope": [
        lambda: harn.SpanScope(None, None, None, user_timing=None),  # type: ignore[arg-type]
        lambda: harn.span("step", "x").__exit__(None, None, None),
        lambda: harn.span("step", "x", k=object()),
        lambda: harn.timed("x", k=[2**64]),
    ],
    "span": [
        lambda: harn.span(None, "x"),  # type: ignore[arg-type]
        lambda: harn.span("step", None),  # type: ignore[arg-type]
        lambda: enter(harn.span("step", "x", k=float)),
    ],
    "timed": [
        lambda: harn.timed(None),  # type: ignore[arg-type]
        lambda: harn.timed("x", k={"a": {1}}),
    ],
    "ClockOverride": [lambda: harn.ClockOverride(None)],  # type: ignore[arg-type]
    "MockClock": [
        lambda: harn.MockClock(None),  # type: ignore[arg-type]
        lambda: harn.MockClock(-1),
        lambda: harn.MockClock(0, auto_advance_ms=NAN),  # type: ignore[arg-type]
        lambda: harn.MockClock().advance("5"),  # type: ignore[arg-type]
    ],
    "active_mock_clock": [lambda: harn.active_mock_clock(None)],  # type: ignore[call-arg]
    "install_override": [
        lambda: harn.install_override(None),  # type: ignore[arg-type]
        lambda: harn.install_override(1_000),  # type: ignore[arg-type]
    ],
    "add_event_sink": [
        lambda: harn.add_event_sink(None),
        lambda: harn.add_event_sink(NAN),
        lambda: harn.add_event_sink(NoHooks()),
        lambda: harn.add_event_sink(NoHooks),
    ],
    "remove_event_sink": [
        lambda: harn.remove_event_sink(None),
        lambda: harn.remove_event_sink(NAN),
    ],
    "VirtualTime": [
        lambda: harn.VirtualTime(None),  # type: ignore[arg-type]
        lambda: harn.VirtualTime(harn.MockClock(), idle_patience_s="x"),  # type: ignore[arg-type]
    ],
    "VirtualTimeError": "an exception class: it takes any message, as every exception does",
    "run_virtual": [
        lambda: harn.run_virtual(None),  # type: ignore[arg-type]
        lambda: harn.run_virtual(None, clock=harn.MockClock()),  # type: ignore[arg-type]
    ],
    "HarnTraceWarning": "an exception class: it takes any message, as every exception does",
    "RealClockError": "an exception class: it takes any message, as every exception does",
    "ExpectedSpan": [
        lambda: harn.ExpectedSpan("step", "x", children=(None,)),  # type: ignore[arg-type]
        lambda: harn.ExpectedSpan(None, "x"),
    ],
    "TraceCapture": [
        lambda: harn.TraceCapture(None),  # type: ignore[arg-type]
        lambda: harn.TraceCapture(SpanCollector(), redact=5),  # type: ignore[arg-type]
    ],
    "TraceNode": [
        lambda: harn.TraceNode(None, ()),  # type: ignore[arg-type]
        lambda: harn.TraceNode(harn.Span("t", 1, None, harn.SpanKind.STEP, "x", 0, 0, 0, {}, (), ()), [None]),  # type: ignore[list-item]  # noqa: E501
    ],
    "TraceUsage": [
        lambda: harn.TraceUsage.of(None),  # type: ignore[arg-type]
        lambda: harn.TraceUsage.of([None]),  # type: ignore[list-item]
        lambda: harn.TraceUsage.of([], price=5),  # type: ignore[arg-type]
        lambda: harn.TraceUsage.of([], under=3),
    ],
    "assert_span_tree": [
        lambda: harn.assert_span_tree(None, "step x"),
        lambda: harn.assert_span_tree([], None),  # type: ignore[arg-type]
        lambda: harn.assert_span_tree([], [], ordered=None),  # type: ignore[arg-type]
        lambda: harn.assert_span_tree([], "bogus x"),
        lambda: harn.assert_span_tree([], "step x (k=" + "[" * 10_000 + "]" * 10_000 + ")"),
    ],
    "node": [
        lambda: harn.node(None, "x"),
        lambda: harn.node("step", "x", None),  # type: ignore[arg-type]
        lambda: harn.node("bogus", "x"),
        lambda: harn.node("step", "x", metadata={1: 2}),
    ],
    "parse_tree_text": [
        lambda: harn.parse_tree_text(None),  # type: ignore[arg-type]
        lambda: harn.parse_tree_text("step x (k=" + "[" * 10_000 + "]" * 10_000 + ")"),
        lambda: harn.parse_tree_text("step x (k=1"),
    ],
}


def state(collector: SpanCollector) -> object:
    """What a rejected call must leave as it was."""
    return (
        [span.to_dict() for span in collector.spans()],
        collector.open_spans(),
        {
            span_id: span[6].copy()  # the open span's metadata
            for span_id, span in collector._open.items()
        },
        list(events._sinks),
        events._manager.get_plugins(),
        list(clock._overrides),
        harn.is_tracing_enabled(),
        harn.current_collector(),
    )


def test_every_public_name_has_an_entry():
    assert set(CASES) == set(harn.__all__)


CALLS = [
    pytest.param(call, id=f"{name}-{index}")
    for name, calls in CASES.items()
    if not isinstance(calls, str)
    for index, call in enumerate(calls)
]


@pytest.mark.parametrize("call", CALLS)
def test_wrong_input_is_a_type_or_value_error_with_a_message_and_changes_nothing(
    tracing, call
):
    READY["span_id"] = harn.span_start("step", "open")
    scope = harn.span("fn_call", "handled")
    READY["handle"] = scope.__enter__()
    try:
        before = state(tracing)
        with pytest.raises((TypeError, ValueError)) as info:
            call()
        assert str(info.value), f"{type(info.value).__name__} without a message"
        assert state(tracing) == before
    finally:
        scope.__exit__(None, None, None)
        READY.clear()

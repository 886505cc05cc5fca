"""Every argument of the public API given a value 10,000 levels deep: the intended error.

A campaign over the public calls: each argument of a valid call, in turn, is
replaced by a list nested 10,000 deep (and by a dict as deep, and by a list
that contains itself), and so is each keyword the call leaves at its default.
Whatever the call does with such a value, it must not be ``RecursionError``:
the call succeeds, or raises the error it raises for any wrong value
(``TypeError``, ``ValueError``, or the ``AssertionError`` / ``TimeoutError``
of a check that fails), with a message of bounded size. Messages show a user's value
through ``tracing.shown.shown``, which limits depth and length as ``reprlib``
does; a plain ``repr()`` of such a value raises ``RecursionError`` itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

import pytest_harn_trace as harn
from pytest_harn_trace.tracing.collector import SpanCollector
from tests.unit.test_hostile_values import DEEP


def deep_dict(levels: int) -> dict[str, object]:
    value: dict[str, object] = {}
    for _ in range(levels - 1):
        value = {"k": value}
    return value


def self_containing() -> list[object]:
    value: list[object] = []
    value.append(value)
    return value


HOSTILE = {"deep-list": DEEP, "deep-dict": deep_dict(10_000), "self-containing": self_containing()}
LONGEST_MESSAGE = 2_000
"""No message of a rejected call, with the values above in it, is longer."""

DONE = harn.Span("t", 1, None, harn.SpanKind.STEP, "x", 0, 0, 0, {}, (), ())
WITH_K = harn.Span("t", 1, None, harn.SpanKind.STEP, "x", 0, 0, 0, {"k": 1}, (), ())


def capture() -> harn.TraceCapture:
    return harn.TraceCapture(harn.current_collector())


def open_span() -> int:
    return harn.span_start("step", "open")


def handle() -> harn.SpanHandle:
    return harn.span("step", "x").__enter__()


# A valid call of each public callable (and the methods users call): the function, then
# a factory of its positional and keyword arguments (called fresh for every variant).
Args = Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]
CALLS: dict[str, tuple[Callable[..., object], Args]] = {
    "LlmCallUsage": (harn.LlmCallUsage, lambda: (("m", "p"), {})),
    "Span.from_dict": (harn.Span.from_dict, lambda: ((DONE.to_dict(),), {})),
    "SpanEvent": (harn.SpanEvent, lambda: (("e", 0, 0), {})),
    "SpanEvent.from_dict": (
        harn.SpanEvent.from_dict,
        lambda: (({"name": "e", "timestamp_ms": 0, "offset_ms": 0},), {}),
    ),
    "SpanKind.parse": (harn.SpanKind.parse, lambda: (("step",), {})),
    "SpanLink": (harn.SpanLink, lambda: (("t", "1"), {})),
    "SpanLink.from_dict": (
        harn.SpanLink.from_dict,
        lambda: (({"trace_id": "t", "span_id": "1"},), {}),
    ),
    "SpanCollector.start": (
        lambda *a, **k: SpanCollector().start(*a, **k),
        lambda: (("step", "x"), {}),
    ),
    "SpanCollector.set_metadata": (
        lambda *a, **k: SpanCollector().set_metadata(*a, **k),
        lambda: ((1, "k", 1), {}),
    ),
    "use_collector": (
        lambda *a: harn.use_collector(*a).__enter__(),
        lambda: ((SpanCollector(),), {}),
    ),
    "format_summary": (harn.format_summary, lambda: (([DONE],), {})),
    "set_tracing_enabled": (harn.set_tracing_enabled, lambda: ((True,), {})),
    "span_attach_metadata": (harn.span_attach_metadata, lambda: ((open_span(), "k", 1), {})),
    "span_attach_metadata_if_absent": (
        harn.span_attach_metadata_if_absent,
        lambda: ((open_span(), "k", 1), {}),
    ),
    "span_end": (harn.span_end, lambda: ((open_span(),), {})),
    "span_link": (harn.span_link, lambda: ((open_span(),), {})),
    "span_record_event": (harn.span_record_event, lambda: ((open_span(), "e", {"k": 1}), {})),
    "span_set_metadata": (harn.span_set_metadata, lambda: ((open_span(), "k", 1), {})),
    "span_start": (harn.span_start, lambda: (("step", "x"), {})),
    "span_start_detached_with_links": (
        harn.span_start_detached_with_links,
        lambda: (("step", "x", []), {}),
    ),
    "span_start_user_timing": (harn.span_start_user_timing, lambda: (("t", {"k": 1}), {})),
    "span_start_with_links": (harn.span_start_with_links, lambda: (("step", "x", []), {})),
    "span_to_dict": (harn.span_to_dict, lambda: ((DONE,), {})),
    "emit_deferred_tool_load": (harn.emit_deferred_tool_load, lambda: (("t", "q", 0.5), {})),
    "emit_marker_span": (harn.emit_marker_span, lambda: (("model_route", "x", {"k": 1}), {})),
    "emit_model_route": (harn.emit_model_route, lambda: (("a", "b", "why"), {})),
    "emit_tool_mount": (harn.emit_tool_mount, lambda: ((["grep"], "mcp"), {})),
    "SpanHandle.set": (lambda *a: handle().set(*a), lambda: (("k", 1), {})),
    "SpanHandle.update": (lambda *a: handle().update(*a), lambda: (({"k": 1},), {})),
    "SpanHandle.set_usage": (
        lambda *a: handle().set_usage(*a),
        lambda: ((harn.LlmCallUsage("m", "p"),), {}),
    ),
    "SpanHandle.event": (lambda *a, **k: handle().event(*a, **k), lambda: (("e",), {"k": 1})),
    "span": (lambda *a, **k: harn.span(*a, **k).__enter__(), lambda: (("step", "x"), {"k": 1})),
    "timed": (lambda *a, **k: harn.timed(*a, **k).__enter__(), lambda: (("x",), {"k": 1})),
    "ClockOverride": (
        lambda *a: harn.ClockOverride(*a).restore(),
        lambda: ((harn.MockClock(),), {}),
    ),
    "MockClock": (harn.MockClock, lambda: ((0,), {"auto_advance_ms": 0})),
    "MockClock.at_wall_ms": (harn.MockClock.at_wall_ms, lambda: ((0,), {"auto_advance_ms": 0})),
    "MockClock.advance": (lambda *a: harn.MockClock().advance(*a), lambda: ((5,), {})),
    "install_override": (
        lambda *a: harn.install_override(*a).__enter__(),
        lambda: ((harn.MockClock(),), {}),
    ),
    "add_event_sink": (harn.add_event_sink, lambda: ((object(),), {})),
    "remove_event_sink": (harn.remove_event_sink, lambda: ((object(),), {})),
    "VirtualTime": (harn.VirtualTime, lambda: ((harn.MockClock(),), {})),
    "run_virtual": (
        lambda *a, **k: harn.run_virtual(*a, **k),
        lambda: ((_nothing(),), {"clock": harn.MockClock()}),
    ),
    "ExpectedSpan": (harn.ExpectedSpan, lambda: (("step", "x"), {})),
    "TraceCapture": (harn.TraceCapture, lambda: ((SpanCollector(),), {})),
    "TraceCapture.summary": (lambda *a, **k: capture().summary(*a, **k), lambda: ((), {})),
    "TraceCapture.find": (
        lambda *a, **k: capture().find(*a, **k),
        lambda: (("step", "x"), {"k": 1}),
    ),
    "TraceCapture.one": (lambda *a, **k: capture().one(*a, **k), lambda: (("step", "open"), {})),
    "TraceCapture.wait_for": (
        lambda *a, **k: capture().wait_for(*a, **k),
        lambda: (("step", "open"), {"timeout": 0}),
    ),
    "TraceCapture.assert_tree": (
        lambda *a, **k: capture().assert_tree(*a, **k),
        lambda: (("step open",), {}),
    ),
    "TraceCapture.to_dicts": (lambda *a, **k: capture().to_dicts(*a, **k), lambda: ((), {})),
    "TraceNode": (harn.TraceNode, lambda: ((DONE, ()), {})),
    "assert_span_tree": (harn.assert_span_tree, lambda: (([DONE], "step x"), {})),
    "node": (harn.node, lambda: (("step", "x"), {})),
    "parse_tree_text": (harn.parse_tree_text, lambda: (("step x",), {})),
    # An expected tree holding the value: matched against a span, then shown in the failure.
    "assert_span_tree(node(...))": (
        lambda *a, **k: harn.assert_span_tree([DONE], harn.node(*a, **k)),
        lambda: (("step", "x"), {"metadata": {}, "duration_ms": 0, "events": [], "links": []}),
    ),
    "assert_span_tree(node(metadata={k: ...}))": (
        lambda value: harn.assert_span_tree(
            [WITH_K], harn.node("step", "x", metadata={"k": value})
        ),
        lambda: ((1,), {}),
    ),
    "repr(node(...))": (
        lambda *a, **k: repr(harn.node(*a, **k)),
        lambda: (("step", "x"), {"metadata": {}, "duration_ms": 0, "events": [], "links": []}),
    ),
}


async def _nothing_async() -> None:
    pass


def _nothing() -> Any:
    return _nothing_async()


def variants() -> list[Any]:
    """(call name, what is replaced): each argument given, then each keyword left out."""
    out = []
    for name, (func, make) in CALLS.items():
        args, kwargs = make()
        for arg in args:  # close the coroutines the factories made
            if inspect.iscoroutine(arg):
                arg.close()
        targets = [f"arg {index}" for index in range(len(args))] + [f"{key}=" for key in kwargs]
        try:
            parameters = inspect.signature(func).parameters.values()
        except (TypeError, ValueError):
            parameters = []
        for parameter in parameters:
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.name not in kwargs:
                targets.append(f"{parameter.name}=")
        out += [
            pytest.param(name, target, hostile, id=f"{name}-{target}-{hostile}")
            for target in targets
            for hostile in HOSTILE
        ]
    return out


@pytest.mark.parametrize(("name", "target", "hostile"), variants())
def test_a_value_nested_10_000_deep_in_any_argument_is_never_a_recursion_error(
    tracing, name, target, hostile
):
    func, make = CALLS[name]
    args, kwargs = make()
    value = HOSTILE[hostile]
    if target.startswith("arg "):
        args = list(args)
        index = int(target.removeprefix("arg "))
        if inspect.iscoroutine(args[index]):
            args[index].close()
        args[index] = value
    else:
        kwargs = {**kwargs, target.removesuffix("="): value}
    try:
        func(*args, **kwargs)
    except RecursionError as error:
        pytest.fail(f"{name} with {target}{hostile}: RecursionError: {error}")
    except (TypeError, ValueError, AssertionError, TimeoutError) as error:
        assert len(str(error)) <= LONGEST_MESSAGE, str(error)[:500]
    finally:
        for arg in args:
            if inspect.iscoroutine(arg):
                arg.close()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: harn.format_summary([], durations=DEEP),
            "format_summary(durations=...): expected True or False, got [[[[[...]]]]]",
        ),
        (
            lambda: harn.span_set_metadata(1, DEEP, 1),
            "span_set_metadata(span 1, [[[[[...]]]]]): metadata key must be str, got list",
        ),
        (
            lambda: harn.assert_span_tree([], "step x", ordered=DEEP),
            "assert_span_tree(): ordered and exact must be True or False, got "
            "ordered=[[[[[...]]]]], exact=True",
        ),
    ],
    ids=["format_summary", "span_set_metadata", "assert_span_tree"],
)
def test_the_issue_s_calls_raise_their_own_error_showing_the_value_bounded(tracing, call, message):
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    assert str(info.value) == message

"""Values no agent should send, which must still end in a clear error, never a crash.

Deeply nested values and ints beyond 64 bits are rejected where a value is
checked, with a ``ValueError`` naming the key and the limit, and leave nothing
behind; whatever does get stored still renders.
"""

from __future__ import annotations

import sys

import pytest

from pytest_harn_trace import (
    LlmCallUsage,
    Span,
    SpanCollector,
    SpanKind,
    assert_span_tree,
    emit_deferred_tool_load,
    emit_marker_span,
    format_summary,
    parse_tree_text,
    span,
    span_attach_metadata_if_absent,
    span_record_event,
    span_set_metadata,
    span_start,
    span_start_user_timing,
    timed,
)
from pytest_harn_trace.tracing.jsonvalue import MAX_DEPTH
from pytest_harn_trace.tracing.summary import int_from_text, int_text, to_json


def nested(levels: int) -> list[object]:
    value: list[object] = []
    for _ in range(levels - 1):
        value = [value]
    return value


DEEP = nested(10_000)
TOO_DEEP = "value nested more than 127 levels deep; serde_json, which reads Harn's traces"


def set_on_handle(value: object) -> None:
    with span("step", "x") as handle:
        handle.set("k", value)


def event_on_handle(value: object) -> None:
    with span("step", "x") as handle:
        handle.event("e", k=value)


def enter(scope: object) -> None:
    with scope:  # type: ignore[attr-defined]
        pass


# Each entry point that takes a metadata value or event attribute, given `value` for key "k".
ENTRY_POINTS = {
    "SpanHandle.set": set_on_handle,
    "SpanHandle.event": event_on_handle,
    "span_set_metadata": lambda value: span_set_metadata(span_start("step", "x"), "k", value),
    "span_attach_metadata_if_absent": lambda value: span_attach_metadata_if_absent(
        span_start("step", "x"), "k", value
    ),
    "span_record_event": lambda value: span_record_event(
        span_start("step", "x"), "e", {"k": value}
    ),
    "span_start_user_timing": lambda value: span_start_user_timing("t", {"k": value}),
    "emit_marker_span": lambda value: emit_marker_span("model_route", "m", {"k": value}),
    "span": lambda value: enter(span("step", "x", k=value)),
    "timed": lambda value: enter(timed("x", k=value)),
}


def stored_values(collector: SpanCollector) -> list[object]:
    """Every metadata value and event attribute "k" the collector holds, open or completed."""
    spans = collector.spans()
    for span_id in [record.span_id for record in collector.open_spans()]:
        done = collector.end(span_id)
        assert done is not None
        spans.append(done)
    values: list[object] = []
    for done in spans:
        values += [value for key, value in done.metadata.items() if key == "k"]
        for event in done.events:
            values += [value for key, value in event.attributes.items() if key == "k"]
    return values


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_value_nested_10_000_deep_is_a_value_error_naming_key_and_limit(tracing, entry):
    with pytest.raises(ValueError, match='"k"\\): ' + TOO_DEEP) as info:
        ENTRY_POINTS[entry](DEEP)
    assert not isinstance(info.value, RecursionError)
    assert str(info.value).endswith(f"stops at {MAX_DEPTH + 1}: flatten it")
    assert stored_values(tracing) == []


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_value_nested_127_deep_is_stored(tracing, entry):
    ENTRY_POINTS[entry](nested(MAX_DEPTH))
    assert stored_values(tracing) == [nested(MAX_DEPTH)]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_one_level_more_is_rejected(tracing, entry):
    with pytest.raises(ValueError, match=TOO_DEEP):
        ENTRY_POINTS[entry]({"a": nested(MAX_DEPTH)})
    assert stored_values(tracing) == []


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("huge", [2**64, -(2**63) - 1, 10**5000], ids=["u64+1", "i64-1", "1e5000"])
def test_an_int_beyond_64_bits_inside_a_value_is_a_value_error(tracing, entry, huge):
    with pytest.raises(ValueError, match=r'"k"\): int .* at \[0\] does not fit in 64 bits'):
        ENTRY_POINTS[entry]([huge])
    assert stored_values(tracing) == []


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("huge", [2**64, -(2**63) - 1, 10**5000], ids=["u64+1", "i64-1", "1e5000"])
def test_a_plain_int_beyond_64_bits_is_a_value_error_on_the_fast_paths_too(tracing, entry, huge):
    with pytest.raises(ValueError, match=r'"k"\): int .*does not fit in 64 bits'):
        ENTRY_POINTS[entry](huge)
    assert stored_values(tracing) == []


def test_the_int_message_gives_the_digits_or_the_size():
    with pytest.raises(ValueError) as info:
        span("step", "x", k=[2**64])
    assert str(info.value) == (
        'span("k"): int 18446744073709551616 at [0] does not fit in 64 bits, and a JSON '
        "number in Harn is an i64, a u64 or an f64 (serde_json); store it as a str or a float"
    )
    with pytest.raises(ValueError, match=r'^span\("k"\): int of 16610 bits at \[0\] does not'):
        span("step", "x", k=[10**5000])


@pytest.mark.parametrize("edge", [2**64 - 1, -(2**63)])
def test_ints_at_the_edges_of_64_bits_are_stored(tracing, edge):
    with span("step", "x", k=[edge]):
        pass
    assert stored_values(tracing) == [[edge]]


def test_deferred_tool_load_score_too_large_for_a_float_is_a_value_error(tracing):
    with pytest.raises(ValueError) as info:
        emit_deferred_tool_load("t", "q", 10**400)
    assert str(info.value) == (
        "emit_deferred_tool_load: score is an int of 1329 bits, too large for a float "
        "(Harn's score is an f64)"
    )
    assert tracing.spans() == []
    assert tracing.open_spans() == []


def test_llm_call_usage_cost_too_large_for_a_float_is_a_value_error():
    with pytest.raises(ValueError) as info:
        LlmCallUsage("gpt-4", "openai", cost_usd=10**400)
    assert str(info.value) == (
        "LlmCallUsage.cost_usd is an int of 1329 bits, too large for a float "
        "(Harn's cost_usd is an f64)"
    )


def test_llm_call_usage_tokens_beyond_i64_are_a_value_error():
    with pytest.raises(ValueError) as info:
        LlmCallUsage("gpt-4", "openai", output_tokens=2**63)
    assert str(info.value) == (
        "LlmCallUsage.output_tokens is an int 9223372036854775808, which does not fit in "
        "64 bits (Harn counts tokens in an i64)"
    )
    assert LlmCallUsage("m", "p", input_tokens=2**63 - 1, cost_usd=10**300).cost_usd == 10**300


# -- whatever is stored still renders and reads back ------------------------------------


@pytest.mark.parametrize(
    "value", [10**5000, -(10**4400) - 7, 10**4300, 3 * 10**9999 + 1], ids=["a", "b", "c", "d"]
)
def test_int_text_prints_every_digit_past_pythons_limit(value):
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        expected = str(value)
    finally:
        sys.set_int_max_str_digits(previous)
    assert int_text(value) == expected
    assert int_from_text(expected) == value
    assert to_json({"n": [value]}) == '{"n":[' + expected + "]}"


def test_a_stored_huge_int_renders_and_its_summary_round_trips():
    # Every entry point refuses it, but a Span can be built by hand (or read from a dict).
    done = Span("t", 1, None, SpanKind.PIPELINE, "x", 0, 0, 0, {"n": 10**5000}, (), ())
    summary = format_summary([done])
    assert summary.endswith("pipeline x 0ms (n=1" + "0" * 5000 + ")")
    assert_span_tree([done], summary.replace(" 0ms", ""))
    (root,) = parse_tree_text(summary)
    assert root.metadata == {"n": 10**5000}


def test_a_huge_int_in_a_mismatch_shows_in_the_message():
    done = Span("t", 1, None, SpanKind.STEP, "x", 0, 0, 0, {"n": -(10**4400)}, (), ())
    with pytest.raises(AssertionError, match=r'metadata\["n"\] expected 1, got -10{4400}$'):
        assert_span_tree([done], "step x (n=1)")


# -- the text form ----------------------------------------------------------------------


def test_deeply_nested_brackets_in_tree_text_are_a_value_error_naming_the_line():
    text = "pipeline x (k=" + "[" * 100_000 + "]" * 100_000 + ")"
    with pytest.raises(ValueError) as info:
        assert_span_tree([], "\n" + text)
    message = str(info.value)
    assert message.startswith("line 2: bad metadata JSON in 'pipeline x (k=[[[")
    assert message.endswith(
        "...(200015 characters): value of 'k' at column 15 is nested more than 127 levels "
        "deep, deeper than any span's metadata"
    )
    with pytest.raises(ValueError, match=r"^line 1: bad metadata JSON"):
        parse_tree_text(text)


def test_tree_text_takes_values_127_deep_and_rejects_128():
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    (root,) = parse_tree_text(f"step x (k={deep})")
    assert root.metadata == {"k": nested(MAX_DEPTH)}
    with pytest.raises(ValueError, match="value of 'k' at column 11 is nested more than 127"):
        parse_tree_text(f"step x (k=[{deep}])")
    with pytest.raises(ValueError, match="value of 'k' at column 11 is nested more than 127"):
        parse_tree_text('step x (k={"a": ' + deep.replace("[]", "[{}]") + "})")

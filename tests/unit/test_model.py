from __future__ import annotations

import math

import pytest

from pytest_harn_trace import (
    LlmCallUsage,
    Span,
    SpanCollector,
    SpanEvent,
    SpanKind,
    SpanLink,
    meta,
    span_to_dict,
)

ALL_KINDS = [
    "pipeline",
    "fn_call",
    "llm_call",
    "tool_call",
    "import",
    "parallel",
    "spawn",
    "step",
    "vm_setup",
    "suspension",
    "resume",
    "drain",
    "drain_decision",
    "pool_submit",
    "pool_dequeue",
    "channel_emit",
    "channel_match",
    "user_timing",
    "model_route",
    "tool_mount",
    "deferred_tool_load",
]


def make_span(**overrides):
    fields = {
        "trace_id": "trace_x",
        "span_id": 2,
        "parent_id": 1,
        "kind": SpanKind.LLM_CALL,
        "name": "gpt-4",
        "start_ms": 5,
        "start_unix_ms": 1_700_000_000_000,
        "duration_ms": 42,
        "metadata": {},
        "links": (),
        "events": (),
    }
    fields.update(overrides)
    return Span(**fields)


# -- SpanKind ------------------------------------------------------------------


def test_span_kind_has_the_seeds_21_kinds_in_order():
    assert [kind.value for kind in SpanKind] == ALL_KINDS
    assert len(SpanKind) == 21


@pytest.mark.parametrize("kind", list(SpanKind))
def test_span_kind_as_str_is_its_wire_name(kind):
    assert kind.as_str() == kind.value
    assert type(kind.as_str()) is str
    assert kind == kind.value


def test_span_kind_members_compare_equal_to_strings():
    assert SpanKind.LLM_CALL == "llm_call"
    assert SpanKind("tool_call") is SpanKind.TOOL_CALL


def test_span_kind_parse_accepts_kinds_and_names():
    assert SpanKind.parse("drain_decision") is SpanKind.DRAIN_DECISION
    assert SpanKind.parse(SpanKind.SPAWN) is SpanKind.SPAWN


def test_span_kind_parse_unknown_name_lists_the_accepted_kinds():
    with pytest.raises(ValueError) as info:
        SpanKind.parse("llm")
    assert str(info.value) == "unknown span kind 'llm'; use one of: " + ", ".join(ALL_KINDS)


@pytest.mark.parametrize("spelling", ["LLM_CALL", "llm-call", " Llm_Call"])
def test_span_kind_parse_suggests_the_right_spelling(spelling):
    with pytest.raises(ValueError) as info:
        SpanKind.parse(spelling)
    assert str(info.value) == f"unknown span kind {spelling!r}; did you mean 'llm_call'?"


def test_span_kind_parse_wrong_type_is_type_error():
    with pytest.raises(TypeError) as info:
        SpanKind.parse(3)
    assert str(info.value) == "span kind must be a SpanKind or its name as str, got int"


# -- meta ----------------------------------------------------------------------


def test_meta_keys_are_the_seeds_strings():
    assert {name: getattr(meta, name) for name in meta.__all__} == {
        "MODEL": "model",
        "PROVIDER": "provider",
        "INPUT_TOKENS": "input_tokens",
        "OUTPUT_TOKENS": "output_tokens",
        "CACHE_READ_TOKENS": "cache_read_tokens",
        "CACHE_WRITE_TOKENS": "cache_write_tokens",
        "COST_USD": "cost_usd",
        "FROM_MODEL": "from_model",
        "TO_MODEL": "to_model",
        "REASON": "reason",
        "TOOL_NAMES": "tool_names",
        "TOOL_COUNT": "tool_count",
        "SOURCE": "source",
        "DETAIL": "detail",
        "TOOL_NAME": "tool_name",
        "QUERY": "query",
        "SCORE": "score",
    }


# -- LlmCallUsage ----------------------------------------------------------------


def test_llm_call_usage_metadata_pairs_in_seed_order():
    usage = LlmCallUsage("m", "p", 1, 2, 3, 4, 0.5)
    assert usage.metadata_pairs() == [
        ("model", "m"),
        ("provider", "p"),
        ("input_tokens", 1),
        ("output_tokens", 2),
        ("cache_read_tokens", 3),
        ("cache_write_tokens", 4),
        ("cost_usd", 0.5),
    ]


def test_llm_call_usage_defaults_to_zero_tokens_and_no_cost():
    assert LlmCallUsage("m", "p").metadata_pairs() == [
        ("model", "m"),
        ("provider", "p"),
        ("input_tokens", 0),
        ("output_tokens", 0),
        ("cache_read_tokens", 0),
        ("cache_write_tokens", 0),
    ]


def test_llm_call_usage_cost_is_stored_as_float():
    pairs = dict(LlmCallUsage("m", "p", cost_usd=2).metadata_pairs())
    assert pairs["cost_usd"] == 2.0
    assert type(pairs["cost_usd"]) is float


def test_llm_call_usage_non_finite_cost_is_none_like_serde():
    pairs = dict(LlmCallUsage("m", "p", cost_usd=math.nan).metadata_pairs())
    assert "cost_usd" in pairs
    assert pairs["cost_usd"] is None


def test_llm_call_usage_is_frozen():
    usage = LlmCallUsage("m", "p")
    with pytest.raises(AttributeError):
        usage.model = "other"  # type: ignore[misc]


# -- SpanLink ------------------------------------------------------------------


def test_span_link_to_dict_leaves_out_empty_attributes():
    assert SpanLink("trace_a", "7").to_dict() == {"trace_id": "trace_a", "span_id": "7"}


def test_span_link_to_dict_sorts_attributes():
    link = SpanLink("trace_a", "7", {"z": "1", "a": "2"})
    out = link.to_dict()
    assert out == {"trace_id": "trace_a", "span_id": "7", "attributes": {"a": "2", "z": "1"}}
    assert list(out["attributes"]) == ["a", "z"]


def test_span_link_with_attributes_returns_a_new_link():
    link = SpanLink("t", "1")
    tagged = link.with_attributes({"reason": "resume"})
    assert tagged == SpanLink("t", "1", {"reason": "resume"})
    assert link.attributes == {}


def test_span_link_copies_the_callers_attributes():
    attrs = {"a": "1"}
    link = SpanLink("t", "1", attrs)
    attrs["b"] = "2"
    assert link.attributes == {"a": "1"}


def test_span_link_rejects_non_str_ids():
    with pytest.raises(TypeError) as info:
        SpanLink("t", 1)  # type: ignore[arg-type]
    assert str(info.value) == "SpanLink(trace_id, span_id): both must be str, got str and int"


def test_span_link_rejects_non_str_attributes():
    with pytest.raises(TypeError) as info:
        SpanLink("t", "1", {"n": 1})  # type: ignore[dict-item]
    assert str(info.value) == "SpanLink attributes must map str to str, got 'n': 1"


def test_span_link_rejects_attributes_that_are_not_a_mapping():
    with pytest.raises(TypeError) as info:
        SpanLink("t", "1", None)  # type: ignore[arg-type]
    assert str(info.value) == "SpanLink attributes must be a mapping of str to str, got NoneType"
    with pytest.raises(TypeError):
        SpanLink("t", "1").with_attributes([("a", "b")])  # type: ignore[arg-type]


def test_span_link_round_trips_through_dict():
    link = SpanLink("t", "3", {"k": "v"})
    assert SpanLink.from_dict(link.to_dict()) == link
    assert SpanLink.from_dict({"trace_id": "t", "span_id": "3"}) == SpanLink("t", "3")


def test_span_link_from_dict_rejects_non_mapping():
    with pytest.raises(TypeError) as info:
        SpanLink.from_dict(["t", "3"])  # type: ignore[arg-type]
    assert str(info.value) == "SpanLink.from_dict expects a mapping, got list"


# -- SpanEvent -----------------------------------------------------------------


def test_span_event_to_dict_leaves_out_empty_attributes():
    assert SpanEvent("first_token", 1000, 12).to_dict() == {
        "name": "first_token",
        "time_unix_ms": 1000,
        "offset_ms": 12,
    }


def test_span_event_to_dict_sorts_attributes():
    event = SpanEvent("e", 1, 2, {"b": [1, 2], "a": {"z": 1, "y": 2}})
    out = event.to_dict()
    assert list(out["attributes"]) == ["a", "b"]
    # Nested objects keep their insertion order (serde_json preserve_order).
    assert list(out["attributes"]["a"]) == ["z", "y"]


def test_span_event_round_trips_through_dict():
    event = SpanEvent("e", 1, 2, {"k": 1})
    assert SpanEvent.from_dict(event.to_dict()) == event
    assert SpanEvent.from_dict({"name": "e"}) == SpanEvent("e", 0, 0)


# -- Span ----------------------------------------------------------------------


def test_span_to_dict_root_has_parent_id_none_and_no_optional_keys():
    out = make_span(parent_id=None).to_dict()
    assert out == {
        "trace_id": "trace_x",
        "span_id": 2,
        "parent_id": None,
        "kind": "llm_call",
        "name": "gpt-4",
        "start_ms": 5,
        "start_unix_ms": 1_700_000_000_000,
        "duration_ms": 42,
    }
    assert type(out["kind"]) is str


def test_span_to_dict_includes_metadata_links_events_when_present():
    span = make_span(
        metadata={"z": 1, "a": "x"},
        links=(SpanLink("t", "1"), SpanLink("t", "9", {"why": "retry"})),
        events=(SpanEvent("e", 10, 1), SpanEvent("f", 11, 2, {"n": 1})),
    )
    out = span.to_dict()
    assert out["parent_id"] == 1
    assert list(out["metadata"]) == ["a", "z"]
    assert out["links"] == [
        {"trace_id": "t", "span_id": "1"},
        {"trace_id": "t", "span_id": "9", "attributes": {"why": "retry"}},
    ]
    assert out["events"] == [
        {"name": "e", "time_unix_ms": 10, "offset_ms": 1},
        {"name": "f", "time_unix_ms": 11, "offset_ms": 2, "attributes": {"n": 1}},
    ]
    assert list(out) == [
        "trace_id",
        "span_id",
        "parent_id",
        "kind",
        "name",
        "start_ms",
        "start_unix_ms",
        "duration_ms",
        "metadata",
        "links",
        "events",
    ]


def test_span_to_dict_is_span_to_dict():
    span = make_span(metadata={"k": [1, 2]}, links=(SpanLink("t", "1"),))
    assert span_to_dict(span) == span.to_dict()


def test_span_to_dict_rejects_non_span():
    with pytest.raises(TypeError) as info:
        span_to_dict({"span_id": 1})  # type: ignore[arg-type]
    assert str(info.value) == "span_to_dict expects a Span, got dict"


def test_span_from_dict_round_trips_to_dict():
    span = make_span(
        metadata={"model": "gpt-4", "nested": {"b": 1, "a": [1.5, None]}},
        links=(SpanLink("t", "1", {"k": "v"}),),
        events=(SpanEvent("e", 10, 1, {"n": 1}),),
    )
    again = Span.from_dict(span.to_dict())
    assert again == span
    assert again.kind is SpanKind.LLM_CALL
    assert again.to_dict() == span.to_dict()


def test_span_from_dict_round_trips_a_collected_span():
    collector = SpanCollector()
    parent = collector.start("pipeline", "main")
    child = collector.start("tool_call", "read")
    collector.set_metadata(child, "path", "/tmp/x")
    collector.record_event(child, "opened", {"fd": 3})
    collector.end(child)
    collector.end(parent)
    for span in collector.spans():
        assert Span.from_dict(span.to_dict()) == span


def test_span_from_dict_reads_a_harn_trace_spans_entry():
    harn = {
        "trace_id": "trace_0190b7c2-0000-7000-8000-000000000000",
        "span_id": 3,
        "parent_id": 1,
        "kind": "tool_call",
        "name": "read_file",
        "start_ms": 12,
        "start_unix_ms": 1_720_000_000_123,
        "duration_ms": 4,
        "metadata": {"tool_name": "read_file", "ok": True},
        "links": [{"trace_id": "trace_a", "span_id": "2"}],
        "events": [{"name": "retry", "time_unix_ms": 1_720_000_000_125, "offset_ms": 2}],
    }
    span = Span.from_dict(harn)
    assert span == Span(
        trace_id="trace_0190b7c2-0000-7000-8000-000000000000",
        span_id=3,
        parent_id=1,
        kind=SpanKind.TOOL_CALL,
        name="read_file",
        start_ms=12,
        start_unix_ms=1_720_000_000_123,
        duration_ms=4,
        metadata={"tool_name": "read_file", "ok": True},
        links=(SpanLink("trace_a", "2"),),
        events=(SpanEvent("retry", 1_720_000_000_125, 2),),
    )
    assert span.to_dict() == harn


def test_span_from_dict_fills_optional_keys_with_defaults():
    span = Span.from_dict({"span_id": 1, "kind": "pipeline", "name": "main"})
    assert span == Span("", 1, None, SpanKind.PIPELINE, "main", 0, 0, 0, {}, (), ())


def test_span_from_dict_names_missing_keys():
    with pytest.raises(ValueError) as info:
        Span.from_dict({"kind": "pipeline"})
    assert str(info.value) == (
        "Span.from_dict: missing key(s) span_id, name; "
        "expected the layout of Span.to_dict() or Harn's trace_spans()"
    )


def test_span_from_dict_rejects_unknown_kind():
    with pytest.raises(ValueError, match=r"^unknown span kind 'bogus'; use one of: pipeline, "):
        Span.from_dict({"span_id": 1, "kind": "bogus", "name": "x"})


def test_span_from_dict_rejects_non_mapping():
    with pytest.raises(TypeError) as info:
        Span.from_dict([("span_id", 1)])  # type: ignore[arg-type]
    assert str(info.value) == "Span.from_dict expects a mapping, got list"


def test_span_from_dict_does_not_alias_the_input_metadata():
    data = {"span_id": 1, "kind": "pipeline", "name": "main", "metadata": {"a": 1}}
    span = Span.from_dict(data)
    data["metadata"]["b"] = 2
    assert span.metadata == {"a": 1}


def test_span_is_immutable():
    span = make_span()
    with pytest.raises(AttributeError):
        span.name = "other"  # type: ignore[misc]
    assert span._replace(name="other").name == "other"
    assert span.name == "gpt-4"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": 1}, "LlmCallUsage.model must be str, got int"),
        ({"input_tokens": "5"}, "LlmCallUsage.input_tokens must be int, got str"),
        ({"cache_write_tokens": True}, "LlmCallUsage.cache_write_tokens must be int, got bool"),
        ({"cost_usd": "0.1"}, "LlmCallUsage.cost_usd must be a float or None, got str"),
    ],
)
def test_llm_call_usage_rejects_wrong_types(kwargs, message):
    fields = {"model": "m", "provider": "p", **kwargs}
    with pytest.raises(TypeError) as info:
        LlmCallUsage(**fields)
    assert str(info.value) == message

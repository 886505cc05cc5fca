"""The mapping table from OpenTelemetry attributes to Harn kinds, names and metadata."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_harn_trace import SpanKind
from pytest_harn_trace.otel.mapping import (
    CONTENT_KEYS,
    ValueNormalizer,
    map_kind_and_name,
    metadata_from_attributes,
)


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"},
         (SpanKind.LLM_CALL, "gpt-4o")),
        ({"gen_ai.operation.name": "text_completion"}, (SpanKind.LLM_CALL, "span")),
        ({"gen_ai.operation.name": "generate_content", "gen_ai.request.model": "gemini"},
         (SpanKind.LLM_CALL, "gemini")),
        ({"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "e5"},
         (SpanKind.LLM_CALL, "e5")),
        ({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
         (SpanKind.TOOL_CALL, "search")),
        ({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper"},
         (SpanKind.PIPELINE, "helper")),
        ({"gen_ai.operation.name": "create_agent"}, (SpanKind.PIPELINE, "span")),
        ({"gen_ai.operation.name": "invoke_workflow"}, (SpanKind.PIPELINE, "span")),
        ({"openinference.span.kind": "LLM", "llm.model_name": "m"}, (SpanKind.LLM_CALL, "m")),
        ({"openinference.span.kind": "EMBEDDING"}, (SpanKind.LLM_CALL, "span")),
        ({"openinference.span.kind": "TOOL", "tool.name": "t"}, (SpanKind.TOOL_CALL, "t")),
        ({"openinference.span.kind": "RETRIEVER"}, (SpanKind.TOOL_CALL, "span")),
        ({"openinference.span.kind": "AGENT"}, (SpanKind.PIPELINE, "span")),
        ({"openinference.span.kind": "chain"}, (SpanKind.STEP, "span")),
        ({"openinference.span.kind": "GUARDRAIL"}, (SpanKind.FN_CALL, "span")),
        ({"harn.kind": "model_route"}, (SpanKind.MODEL_ROUTE, "span")),
        ({"harn.kind": "nonsense"}, (SpanKind.FN_CALL, "span")),
        ({}, (SpanKind.FN_CALL, "span")),
        # The rules apply in order: GenAI, then OpenInference, then harn.kind.
        ({"gen_ai.operation.name": "execute_tool", "openinference.span.kind": "LLM",
          "harn.kind": "step"}, (SpanKind.TOOL_CALL, "span")),
        ({"openinference.span.kind": "TOOL", "harn.kind": "step"}, (SpanKind.TOOL_CALL, "span")),
        ({"gen_ai.operation.name": "unknown_op", "harn.kind": "step"}, (SpanKind.STEP, "span")),
        ({"gen_ai.operation.name": "chat", "gen_ai.request.model": ""},
         (SpanKind.LLM_CALL, "span")),
    ],
)
def test_kind_and_name_follow_the_table(attributes: dict[str, object], expected: object) -> None:
    assert map_kind_and_name("span", attributes) == expected


def test_metadata_adds_canonical_usage_and_leaves_out_content() -> None:
    attributes = {
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024",
        "gen_ai.system": "openai",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 2,
        "gen_ai.usage.cache_read.input_tokens": 4,
        "gen_ai.input.messages": "[...]",
        "llm.input_messages.0.message.content": "hi",
        "scores": (1.5, float("nan")),
        "harn.kind": "llm_call",
        "harn.json_keys": ("extra",),
        "extra": '{"a": [1]}',
    }
    assert metadata_from_attributes(attributes, keep_content=False) == {
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024",
        "gen_ai.system": "openai",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 2,
        "gen_ai.usage.cache_read.input_tokens": 4,
        "scores": [1.5, None],
        "harn.kind": "llm_call",
        "extra": {"a": [1]},
        "model": "gpt-4o",
        "provider": "openai",
        "input_tokens": 10,
        "output_tokens": 2,
        "cache_read_tokens": 4,
    }
    kept = metadata_from_attributes(attributes, keep_content=True)
    assert kept["gen_ai.input.messages"] == "[...]"
    assert kept["llm.input_messages.0.message.content"] == "hi"


def test_an_attribute_named_like_a_canonical_key_wins() -> None:
    attributes = {"model": "mine", "gen_ai.request.model": "theirs"}
    assert metadata_from_attributes(attributes, keep_content=False)["model"] == "mine"


def test_content_keys_cover_the_genai_message_attributes() -> None:
    assert {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
            "gen_ai.tool.definitions"} <= CONTENT_KEYS


def test_ids_become_placeholders_named_after_their_key_in_first_seen_order() -> None:
    normalizer = ValueNormalizer()
    conversation = str(uuid.uuid4())
    first = {"gen_ai.conversation.id": conversation, "gen_ai.tool.call.id": "call_b7Xq2LmN9",
             "n": 3}
    second = {"gen_ai.tool.call.id": "call_a3Kd81PzQ", "gen_ai.response.id": "resp_67ccd2bed1",
              "session_id": "sess_0f8c2d9a1b7e", "other.id": "call_b7Xq2LmN9"}
    normalizer.normalize(first)
    normalizer.normalize(second)
    assert first == {"gen_ai.conversation.id": "<conversation_id_1>",
                     "gen_ai.tool.call.id": "<tool_call_id_1>", "n": 3}
    assert second == {"gen_ai.tool.call.id": "<tool_call_id_2>",
                      "gen_ai.response.id": "<response_id_1>", "session_id": "<session_id_1>",
                      "other.id": "<tool_call_id_1>"}


@pytest.mark.parametrize(
    "key, value",
    [
        ("graph.node.id", "weather_agent"),
        ("gen_ai.agent.id", "support-bot"),
        ("run.id", "42"),
        ("name", "call_weather_api"),
    ],
)
def test_stable_names_under_id_keys_stay(key: str, value: str) -> None:
    metadata = {key: value}
    ValueNormalizer().normalize(metadata)
    assert metadata == {key: value}


@pytest.mark.parametrize(
    "key, value, placeholder",
    [
        ("gen_ai.response.id", "chatcmpl-9xZ3AbQ7kLmN0pQr", "<response_id_1>"),
        ("gen_ai.tool.call.id", "tooluse_kZJMlvQmRJ6eAyJE5GIl5Q", "<tool_call_id_1>"),
        ("gen_ai.tool.call.id", "toolu_01A09q90qw90lq917835lq9", "<tool_call_id_1>"),
        ("gen_ai.tool.call.id", "pyd_ai_tool_call_id__get_weather", "<tool_call_id_1>"),
        ("trace", "4bf92f3577b34da6a3ce929d0e0e4736", "<id_1>"),
        ("parent_span", "00f067aa0ba902b7", "<id_1>"),
        ("previous", "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b", "<id_1>"),
        ("request", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "<ulid_1>"),
    ],
)
def test_generated_ids_become_placeholders_whatever_their_key(
    key: str, value: str, placeholder: str
) -> None:
    metadata = {key: value}
    ValueNormalizer().normalize(metadata)
    assert metadata == {key: placeholder}


def test_uuids_and_ulids_inside_text_become_placeholders() -> None:
    normalizer = ValueNormalizer()
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    metadata = {
        "note": f"from {a} to {b} and back to {a.upper()}",
        "ulid": "run 01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "short": "abc",
    }
    normalizer.normalize(metadata)
    assert metadata == {
        "note": "from <uuid_1> to <uuid_2> and back to <uuid_3>",
        "ulid": "run <ulid_1>",
        "short": "abc",
    }


@given(st.lists(st.sampled_from(["v1", "v2", "v3", "v4"]), min_size=1, max_size=12))
def test_placeholders_are_a_first_seen_numbering_of_the_values(values: list[str]) -> None:
    normalizer = ValueNormalizer()
    out = []
    for value in values:
        metadata = {"call.id": f"call_{value}Xq82Lm"}
        normalizer.normalize(metadata)
        out.append(metadata["call.id"])
    first_seen = list(dict.fromkeys(values))  # numbered by value, the prefix is shared
    assert out == [f"<call_id_{first_seen.index(value) + 1}>" for value in values]


def test_reserved_ids_keep_the_numbers_they_got_first() -> None:
    normalizer = ValueNormalizer()
    normalizer.reserve_ids({"tool.call.id": "call_b7Xq2LmN9", "note": "x", "n": 1})
    normalizer.reserve_ids({"tool.call.id": "call_a3Kd81PzQ"})
    later = {"tool.call.id": "call_a3Kd81PzQ"}
    normalizer.normalize(later)
    earlier = {"tool.call.id": "call_b7Xq2LmN9"}
    normalizer.normalize(earlier)
    assert (later, earlier) == ({"tool.call.id": "<tool_call_id_2>"},
                                {"tool.call.id": "<tool_call_id_1>"})


def test_wall_clock_readings_become_time_placeholders() -> None:
    attributes = {
        "gen_ai.event.start_time": "2026-12-07T17:44:35.854947+00:00",
        "note": "sent at 2026-12-07 17:44:35Z, again at 2026-12-07T17:44:36.1Z",
        "created_at": 1_765_129_475,
        "event.timestamp": 1_765_129_475_854,
        "time_unix_nano": 1_765_129_475_854_947_000,
        "gen_ai.headers": "{'traceparent': "
        "'00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03'}",
        "release.date": "2026-12-07",
        "retry.time": 3,
    }
    metadata = metadata_from_attributes(
        attributes, keep_content=False, normalizer=ValueNormalizer()
    )
    assert metadata == {
        "gen_ai.event.start_time": "<time>",
        "note": "sent at <time>, again at <time>",
        "created_at": "<time>",
        "event.timestamp": "<time>",
        "time_unix_nano": "<time>",
        "gen_ai.headers": "{'traceparent': '<traceparent>'}",
        "release.date": "2026-12-07",
        "retry.time": 3,
    }


def test_latencies_are_left_out() -> None:
    attributes = {
        "gen_ai.server.time_to_first_token": 12,
        "gen_ai.server.time_per_output_token": 0.004,
        "gen_ai.server.request.duration": 1,
        "gen_ai.client.operation.duration": 0.25,
        "llm.latency": 310.5,
        "gen_ai.usage.output_tokens": 7,
    }
    metadata = metadata_from_attributes(
        attributes, keep_content=False, normalizer=ValueNormalizer()
    )
    assert metadata == {"gen_ai.usage.output_tokens": 7, "output_tokens": 7}
    events = dict(attributes)
    ValueNormalizer().normalize(events)
    assert events == {"gen_ai.usage.output_tokens": 7}


def test_raw_times_keeps_clock_readings_and_still_replaces_ids() -> None:
    attributes = {
        "gen_ai.event.start_time": "2026-12-07T17:44:35.854947+00:00",
        "gen_ai.server.time_to_first_token": 12,
        "gen_ai.response.id": "chatcmpl-9xZ3AbQ7kLmN0pQr",
    }
    metadata = metadata_from_attributes(
        attributes, keep_content=False, normalizer=ValueNormalizer(times=False)
    )
    assert metadata == {
        "gen_ai.event.start_time": "2026-12-07T17:44:35.854947+00:00",
        "gen_ai.server.time_to_first_token": 12,
        "gen_ai.response.id": "<response_id_1>",
    }


def test_usage_keys_go_only_on_spans_that_carry_usage_or_call_a_model() -> None:
    tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.system": "strands-agents",
            "gen_ai.tool.name": "search"}
    cycle = {"gen_ai.system": "strands-agents", "event_loop.cycle_id": "x"}
    chat = {"gen_ai.operation.name": "chat", "gen_ai.system": "strands-agents",
            "gen_ai.request.model": "fake"}
    agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.system": "strands-agents",
             "gen_ai.usage.cache_read.input_tokens": 0}
    assert "provider" not in metadata_from_attributes(tool, keep_content=False)
    assert "provider" not in metadata_from_attributes(cycle, keep_content=False)
    assert metadata_from_attributes(chat, keep_content=False)["provider"] == "strands-agents"
    usage = metadata_from_attributes(agent, keep_content=False)
    assert (usage["provider"], usage["cache_read_tokens"]) == ("strands-agents", 0)

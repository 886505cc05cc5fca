"""What a failed tree assertion shows: lines cut to the keys that matter, the cause first."""

from __future__ import annotations

import pytest

from pytest_harn_trace import SpanCollector, node, span
from pytest_harn_trace.assertions.tree import assert_span_tree
from pytest_harn_trace.capture import TraceCapture
from tests.unit.test_tree import make_span

GENAI = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.system": "openai",
    "gen_ai.usage.input_tokens": 52,
    "gen_ai.usage.output_tokens": 11,
    "gen_ai.response.finish_reasons": ["stop"],
    "server.address": "api.openai.com",
    "server.port": 443,
    "model": "gpt-4o",
    "provider": "openai",
    "input_tokens": 52,
    "output_tokens": 11,
}


def failure(actual, expected, **options):
    with pytest.raises(AssertionError) as info:
        assert_span_tree(actual, expected, **options)
    return str(info.value)


def test_a_long_span_line_shows_the_expected_keys_and_counts_the_rest():
    spans = [
        make_span(2, 1, "llm_call", "chat gpt-4o", 5, GENAI),
        make_span(1, None, "pipeline", "agent", 5),
    ]
    expected = node("pipeline", "agent", node("llm_call", "chat gpt-4o", metadata={
        "gen_ai.usage.output_tokens": 12,
        "model": "gpt-4o",
    }))

    lines = failure(spans, expected).splitlines()

    assert lines[0] == (
        'span tree mismatch at pipeline agent > llm_call chat gpt-4o: '
        'metadata["gen_ai.usage.output_tokens"] expected 12, got 11'
    )
    assert lines[4:6] == [
        '!   llm_call chat gpt-4o 5ms (gen_ai.operation.name="chat", '
        'gen_ai.usage.output_tokens=11, input_tokens=52, model="gpt-4o", \u2026 9 more keys)',
        '?     metadata["gen_ai.usage.output_tokens"] expected 12, got 11',
    ]


def test_named_keys_are_shown_even_when_they_alone_are_longer_than_the_line():
    long = {f"key_{index:02}": "x" * 30 for index in range(6)}
    spans = [make_span(1, None, "tool_call", "t", 0, long)]

    message = failure(spans, node("tool_call", "t", metadata={"key_04": "y", "key_05": "y"}))

    assert (
        f'! tool_call t 0ms (key_04="{"x" * 30}", key_05="{"x" * 30}", \u2026 4 more keys)'
    ) in message.splitlines()


def test_an_unexpected_span_shows_the_keys_that_fit_and_counts_one_more_key():
    meta = {"a": "x" * 45, "b": "y" * 45, "c": 1}
    spans = [make_span(2, 1, "tool_call", "extra", 0, meta), make_span(1, None, "pipeline", "p")]

    message = failure(spans, "pipeline p 0ms")

    drawn = f'+   tool_call extra 0ms (a="{"x" * 45}", c=1, \u2026 1 more key)'
    assert drawn in message.splitlines()


def test_short_metadata_is_drawn_whole_as_format_summary_draws_it():
    spans = [make_span(1, None, "tool_call", "search", 3, {"q": "weather", "n": 2})]

    message = failure(spans, "tool_call search 4ms")

    assert '! tool_call search 3ms (n=2, q="weather")' in message.splitlines()


def test_extra_children_are_named_before_the_parent_duration_they_lengthen():
    spans = [
        make_span(2, 1, "llm_call", "plan", 8800),
        make_span(3, 1, "llm_call", "retry", 8100),
        make_span(1, None, "pipeline", "main", 16900),
    ]

    message = failure(spans, "pipeline main 8800ms\n  llm_call plan 8800ms")

    assert message.splitlines()[0] == (
        "span tree mismatch at pipeline main > llm_call retry: unexpected span"
    )


def test_a_missing_child_is_named_before_the_parent_duration_it_shortens():
    spans = [make_span(2, 1, "llm_call", "plan", 5), make_span(1, None, "pipeline", "main", 5)]

    message = failure(spans, "pipeline main 9ms\n  llm_call plan 5ms\n  tool_call search 4ms")

    assert message.splitlines()[0] == (
        "span tree mismatch at pipeline main > tool_call search: missing span"
    )


def test_a_duration_mismatch_before_an_unrelated_extra_span_stays_first():
    spans = [
        make_span(2, 1, "llm_call", "plan", 5),
        make_span(1, None, "pipeline", "main", 5),
        make_span(3, None, "tool_call", "late", 1),
    ]

    message = failure(spans, "pipeline main 6ms\n  llm_call plan 5ms")

    assert message.splitlines()[0] == (
        "span tree mismatch at pipeline main: duration_ms expected 6, got 5"
    )


def test_json_pasted_into_a_normal_string_says_to_use_a_raw_string():
    pasted = """
pipeline main 0ms
  tool_call get_weather 0ms (args="{\"city\":\"a\"}")
"""

    with pytest.raises(ValueError) as info:
        assert_span_tree([], pasted)

    assert str(info.value) == (
        "line 3: bad metadata in '  tool_call get_weather 0ms (args=\"{\"city\":\"a\"}\")': "
        "expected ',' or ')' after the value of 'args' at column 38; the string's quotes "
        'look unescaped: in a normal string literal Python turns \\" into ", so a pasted '
        "summary with JSON-escaped strings loses its backslashes; paste it into a raw "
        'string, r"""..."""'
    )


def test_the_same_json_in_a_raw_string_matches(tracing: SpanCollector):
    with span("pipeline", "main"), span("tool_call", "get_weather", args='{"city":"a"}'):
        pass

    assert_span_tree(
        tracing.spans(),
        r"""
        pipeline main
          tool_call get_weather (args="{\"city\":\"a\"}")
        """,
    )


@pytest.fixture
def traced(tracing: SpanCollector) -> TraceCapture:
    with span("pipeline", "agent"):
        with span("tool_call", "get_weather", **{"gen_ai.tool.name": "get_weather"}):
            pass
        with span("tool_call", "search", **{"gen_ai.tool.name": "search"}):
            pass
    return TraceCapture(tracing)


def test_find_and_one_take_dotted_metadata_keys_as_a_mapping(traced: TraceCapture):
    trace = traced

    found = trace.find("tool_call", metadata={"gen_ai.tool.name": "search"})

    assert [span.name for span in found] == ["search"]
    assert trace.one(metadata={"gen_ai.tool.name": "get_weather"}).name == "get_weather"


def test_metadata_mapping_and_keywords_combine(traced: TraceCapture):
    trace = traced

    assert trace.find(metadata={"gen_ai.tool.name": "search"}, missing=None) == []
    assert len(trace.find("tool_call", metadata={})) == 2


def test_metadata_must_be_a_mapping_of_str_keys(traced: TraceCapture):
    trace = traced

    with pytest.raises(TypeError) as not_mapping:
        trace.find(metadata=["gen_ai.tool.name"])  # type: ignore[arg-type]
    with pytest.raises(TypeError) as bad_key:
        trace.one(metadata={1: "x"})  # type: ignore[dict-item]

    assert str(not_mapping.value) == (
        "trace.find(metadata=...): expected a dict of metadata key to value or matcher, got list"
    )
    assert str(bad_key.value) == "trace.one(metadata=...): keys are metadata keys (str), got int 1"


def test_a_key_given_both_ways_is_refused(traced: TraceCapture):
    trace = traced

    with pytest.raises(TypeError) as info:
        trace.find(metadata={"q": 1}, q=1)

    assert str(info.value) == (
        "trace.find(): metadata key 'q' given both as a keyword and in metadata={...}; give it once"
    )

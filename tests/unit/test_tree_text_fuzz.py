"""The text form against hostile input: any text parses or fails cleanly, and fast.

Every call either succeeds or raises ``ValueError`` (malformed text) or
``AssertionError`` (a tree that does not match), within hypothesis' deadline
of a second per call, for texts up to about 10 KB.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_harn_trace import (
    MockClock,
    SpanCollector,
    assert_span_tree,
    install_override,
    parse_tree_text,
)

SIZE = 10_000

# 10 KB texts that made the old parser backtrack: runs of spaces around a key, many
# candidate metadata groups on one line, long digit runs before "ms".
PATHOLOGICAL = {
    "spaces in parentheses": "pipeline x (" + " " * SIZE + ")",
    "spaces, no closing parenthesis": "pipeline x (" + " " * SIZE,
    "spaces then =": "pipeline x (" + " " * SIZE + "=",
    "spaces around a key": "step x (" + " " * (SIZE // 2) + "k" + " " * (SIZE // 2) + "=1)",
    "spaces and words": "step x (" + "a " * (SIZE // 2) + "=1)",
    "many groups": "step x" + " (" * (SIZE // 2),
    "many groups with keys": "step x" + " (a=" * (SIZE // 4),
    "many groups with values": "step x" + " (a=1" * (SIZE // 5),
    "many closed groups, then junk": "step x" + " (a=1)" * (SIZE // 6) + " junk",
    "many open strings": "step x" + ' (a="' * (SIZE // 5),
    "a long bare value": "step x (a=" + "b" * SIZE,
    "digits": "step x " + "1" * SIZE,
    "digits without ms": "step x" + " 1" * (SIZE // 2) + "m",
    "many durations": "step x" + " 1ms" * (SIZE // 4),
    "commas": "step x (a=1" + ", " * (SIZE // 2),
    "= and spaces": "step x (" + "= " * (SIZE // 2),
    "nested brackets, then groups": "step x (k=" + "[" * 1_000 + "]" * 1_000 + ")" + " (" * 4_000,
    "many lines": "\n".join("step x (a=1)" for _ in range(SIZE // 13)),
    "a staircase": "\n".join("  " * level + "step x" for level in range(90)),
}


def one_span() -> SpanCollector:
    collector = SpanCollector()
    with install_override(MockClock(auto_advance_ms=5)):  # durations the text may name
        root = collector.start("pipeline", "x")
        collector.set_metadata(root, "k", 1)
        collector.end(collector.start("step", "x (a=1)"))
        collector.end(root)
    return collector


ACTUAL = one_span()


def check(text: str) -> None:
    """Parse and match ``text``: only success, ValueError or AssertionError may come out."""
    with contextlib.suppress(ValueError):
        parse_tree_text(text)
    for spans in ([], ACTUAL):
        for ordered in (True, False):
            with contextlib.suppress(ValueError, AssertionError):
                assert_span_tree(spans, text, ordered=ordered, exact=ordered)


@pytest.mark.parametrize("text", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_10kb_expectation_parses_or_fails_cleanly(text):
    check(text)


def test_a_run_of_spaces_in_parentheses_is_read_as_part_of_the_name():
    (root,) = parse_tree_text("pipeline x (" + " " * SIZE + ")")
    assert root.name == "x (" + " " * SIZE + ")"
    (root,) = parse_tree_text("step x (" + " " * 500 + "k" + " " * 500 + "=" + " " * 500 + "1)")
    assert (root.name, root.metadata) == ("x", {"k": 1})


PIECES = [
    "pipeline", "step", "llm_call", "*", "x", "gpt-4", " ", "  ", "   ", "\t", "\n", "\n  ",
    "(", ")", " (", "=", ",", ", ", '"', "'", "k", "k=", "k=1", " (k=1)", ' (q="a")', "[", "]",
    "{", "}", "[[[[", "]]]]", ":", "ms", "5ms", " 5ms", "12", "...", "\n...", "true", "None",
    "-", "e5", ".", "\\", "\u00e9", "\u2028", "\r", "Trace: 1 spans", "No spans recorded.",
]  # fmt: skip

texts = st.lists(
    st.sampled_from(PIECES) | st.text(max_size=3),
    max_size=40,
).map("".join)
# A piece repeated many times, after a head that opens a line: the shapes that go wrong
# only at length.
heads = st.sampled_from(["step x (", "step x (k=1, ", "step x (k=", "step x", "step x ("]) | texts
repeated = st.sampled_from([" ", "  ", "(", " (", "a ", "1", " 1", "=", ", ", " (a="])
long_texts = st.builds(
    lambda head, piece, count, tail: head + piece * count + tail,
    heads,
    repeated | st.sampled_from(PIECES) | st.text(min_size=1, max_size=4),
    st.integers(0, 2_500),
    texts,
).filter(lambda text: len(text) <= 12_000)


# The same shapes with the sizes drawn: a third of the examples.
shaped = st.builds(
    lambda head, piece, count, tail: head + piece * count + tail,
    st.sampled_from(["step x (", "step x (k=1, ", "step x (k=", "step x", "step x (a ", ""]),
    repeated,
    st.integers(1_000, 2_500),
    st.sampled_from(["", ")", "=", "=1)", " junk", "ms", "\nstep y"]),
)


@settings(max_examples=300, deadline=1_000, suppress_health_check=[HealthCheck.too_slow])
@example("step x (" + " " * 1_500)  # seconds before the key pattern was linear
@given(texts | long_texts | shaped)
def test_any_text_parses_or_fails_with_value_or_assertion_error_within_a_second(text):
    check(text)

"""A failed assert_span_tree carries its marked lines as data (TreeMismatch), unchanged as text."""

from __future__ import annotations

import pytest

from pytest_harn_trace import MockClock, SpanCollector, assert_span_tree, install_override
from pytest_harn_trace.assertions.mismatch import MarkedLine, TreeMismatch


@pytest.fixture
def collector():
    collector = SpanCollector()
    with install_override(MockClock.at_wall_ms(0, auto_advance_ms=1)):
        main = collector.start("pipeline", "main")
        call = collector.start("llm_call", "gpt-4")
        collector.set_metadata(call, "model", "gpt-3.5")
        collector.end(call)
        collector.end(collector.start("tool_call", "extra"))
        helper = collector.start("fn_call", "helper")
        collector.end(collector.start("fn_call", "inner"))
        collector.end(helper)
        collector.end(main)
    return collector


EXPECTED = """
    pipeline main
      llm_call gpt-4 (model="gpt-4")
      tool_call extra
      tool_call search (query="gil")
"""


def failure_of(collector, expected=EXPECTED, **options) -> AssertionError:
    with pytest.raises(AssertionError) as info:
        assert_span_tree(collector, expected, **options)
    return info.value


def test_the_error_is_a_plain_assertion_error_carrying_the_marked_lines(collector):
    error = failure_of(collector)
    ids = {span.name: span.span_id for span in collector.spans()}
    assert type(error) is AssertionError
    mismatch = TreeMismatch.of(error)
    assert mismatch is not None
    assert mismatch.headline == str(error).splitlines()[0]
    assert mismatch.headline.startswith("span tree mismatch at pipeline main > llm_call gpt-4")
    assert [(line.mark, line.depth, line.span_id) for line in mismatch.lines] == [
        (" ", 0, ids["main"]),
        ("!", 1, ids["gpt-4"]),
        (" ", 1, ids["extra"]),
        ("-", 1, None),
        ("+", 1, ids["helper"]),
        ("+", 2, ids["inner"]),
    ]
    assert mismatch.lines[1].notes == ('metadata["model"] expected "gpt-4", got "gpt-3.5"',)
    assert mismatch.lines[3] == MarkedLine("-", 1, 'tool_call search (query="gil")', None, ())
    assert mismatch.lines[4].text == "fn_call helper 3ms"


def test_the_marked_lines_redraw_the_message(collector):
    for options in ({}, {"exact": False}, {"ordered": False}):
        error = failure_of(collector, **options)
        mismatch = TreeMismatch.of(error)
        assert mismatch is not None
        drawn = []
        for line in mismatch.lines:
            drawn.append(f"{line.mark} {'  ' * line.depth}{line.text}")
            drawn += [f"? {'  ' * (line.depth + 1)}{note}" for note in line.notes]
        message_lines = str(error).splitlines()
        assert message_lines[3 : 3 + len(drawn)] == drawn


def test_of_follows_wrapping_errors_and_ignores_others(collector):
    original = failure_of(collector)
    try:
        try:
            raise original
        except AssertionError as inner:
            raise RuntimeError("helper failed") from inner
    except RuntimeError as outer:
        assert TreeMismatch.of(outer) is TreeMismatch.of(original)
    assert TreeMismatch.of(AssertionError("plain")) is None
    assert TreeMismatch.of(None) is None

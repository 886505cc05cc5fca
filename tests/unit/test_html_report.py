"""The HTML waterfall page: self-contained, with the trace and the failure's marks as data."""

from __future__ import annotations

import json
import re

import pytest

from pytest_harn_trace import MockClock, SpanCollector, TraceCapture, install_override
from pytest_harn_trace.assertions.mismatch import TreeMismatch
from pytest_harn_trace.pictures.html_report import waterfall_data, waterfall_html

WALL = 1_700_000_000_000


@pytest.fixture
def capture():
    clock = MockClock.at_wall_ms(WALL)
    collector = SpanCollector()
    with install_override(clock):
        main = collector.start("pipeline", "main")
        clock.advance(2)
        call = collector.start("llm_call", "gpt-4")
        collector.set_metadata(call, "prompt", "</script><script>alert(1)</script> <!--")
        clock.advance(10)
        collector.record_event(call, "first_token", {"n": 1})
        clock.advance(5)
        collector.end(call)
        tool = collector.start("tool_call", "search")
        collector.set_metadata(tool, "status", "error")
        clock.advance(3)
        collector.end(tool)
        collector.end(collector.start("model_route", "route"))
        collector.end(main)
        yield TraceCapture(collector)


def embedded_data(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="harn-data">(.*?)</script>', page, re.S)
    assert found is not None
    return json.loads(found.group(1))


def test_the_page_holds_every_span_and_fetches_nothing(capture):
    page = waterfall_html(capture.timeline(), title="test_agent", trace_id="trace_x")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page
    data = embedded_data(page)
    assert [(row["k"], row["n"], row["d"], row["s"], row["u"]) for row in data["rows"]] == [
        ("pipeline", "main", 0, 0, 20),
        ("llm_call", "gpt-4", 1, 2, 15),
        ("tool_call", "search", 1, 17, 3),
        ("model_route", "route", 1, 20, 0),
    ]
    assert data["rows"][1]["v"] == [["first_token", 10, {"n": 1}]]
    assert data["rows"][2]["e"] == 1
    assert (data["title"], data["traceId"], data["total"], data["realClock"]) == (
        "test_agent", "trace_x", 20, False,
    )
    assert data["heading"] is None
    assert "<title>test_agent</title>" in page


def test_metadata_cannot_end_the_script_element(capture):
    page = waterfall_html(capture.timeline())
    assert page.count("</script>") == 2  # the data's and the code's own
    assert "<!--" not in page.split('id="harn-data">')[1]
    prompt = embedded_data(page)["rows"][1]["m"]["prompt"]
    assert prompt == "</script><script>alert(1)</script> <!--"


def test_a_failure_marks_rows_heads_the_page_and_places_missing_rows(capture):
    with pytest.raises(AssertionError) as info:
        capture.assert_tree("""
            pipeline main
              llm_call gpt-4 (prompt="hello")
              tool_call search
              model_route route
              tool_call fetch
        """)
    mismatch = TreeMismatch.of(info.value)
    assert mismatch is not None
    page = waterfall_html(capture.timeline(), title="t", mismatch=mismatch)
    data = embedded_data(page)
    assert data["heading"] == str(info.value).splitlines()[0]
    assert [row.get("mk") for row in data["rows"]] == [" ", "!", " ", " "]
    assert data["rows"][1]["h"][0].startswith('metadata["prompt"] expected "hello"')
    assert data["missing"] == [{"d": 1, "t": "tool_call fetch", "before": 4}]
    assert "<title>span tree mismatch at pipeline main &gt; llm_call gpt-4:" in page


def test_missing_rows_before_a_span_are_placed_before_its_row(capture):
    with pytest.raises(AssertionError) as info:
        capture.assert_tree("""
            pipeline main
              tool_call plan
              llm_call gpt-4
              tool_call search
              model_route route
        """)
    data = waterfall_data(capture.timeline(), mismatch=TreeMismatch.of(info.value))
    assert data["missing"] == [{"d": 1, "t": "tool_call plan", "before": 1}]


def test_to_html_writes_the_page_and_takes_the_failure_itself(capture, tmp_path):
    try:
        capture.assert_tree("pipeline other")
    except AssertionError as error:
        path = capture.to_html(tmp_path / "trace.html", title="t", failure=error)
    data = embedded_data(path.read_text("utf-8"))
    assert data["heading"].startswith("span tree mismatch at pipeline main")
    unrelated = capture.to_html(tmp_path / "plain.html", failure=ValueError("no tree"))
    assert embedded_data(unrelated.read_text("utf-8"))["heading"] is None


def test_a_real_clock_trace_says_so():
    collector = SpanCollector()
    collector.end(collector.start("pipeline", "main"))
    data = waterfall_data(TraceCapture(collector).timeline())
    assert data["realClock"] is True

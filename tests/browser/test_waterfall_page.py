"""The waterfall of a real failing test, opened in headless Chromium and checked as rendered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chromium_cdp import CHROMIUM_NAMES, Chromium
from traces import large_trace

from pytest_harn_trace import MockClock, SpanCollector, TraceCapture, install_override
from pytest_harn_trace.pictures.names import picture_stem

pytestmark = pytest.mark.requires_tool(*CHROMIUM_NAMES, install="apt-get install chromium")

FAILING_AGENT_TEST = '''
import pytest
from pytest_harn_trace import emit_model_route, span


def agent(clock):
    with span("pipeline", "research", question="why?"):
        with span("tool_call", "search", query="gil"):
            clock.advance(40)
        with span("parallel", "fetch_sources"):
            with span("tool_call", "fetch", url="https://a.example"):
                clock.advance(30)
            try:
                with span("tool_call", "fetch", url="https://flaky.example"):
                    clock.advance(20)
                    raise ConnectionError("503")
            except ConnectionError:
                pass
        with span("llm_call", "echo-mini", model="echo-mini") as call:
            clock.advance(80)
            call.event("first_token")
            clock.advance(120)
        emit_model_route("echo-mini", "echo-large", "answer cites no source")
        with span("llm_call", "echo-large", model="echo-large"):
            clock.advance(600)


def test_agent(trace, mock_clock):
    agent(mock_clock)
    trace.assert_tree("""
        pipeline research
          tool_call search
          parallel fetch_sources
            tool_call fetch
            tool_call fetch
          llm_call echo-mini (model="echo-large")
          model_route model_route
          llm_call echo-large
    """)
'''

READY = "window.harnTrace && window.harnTrace.ready"


def center_of(browser: Chromium, selector: str) -> tuple[float, float]:
    box = browser.evaluate(
        f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
        ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    return box[0], box[1]


def test_the_page_of_a_failing_pytester_run_renders_the_trace(
    pytester: pytest.Pytester, browser: Chromium, tmp_path
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_agent=FAILING_AGENT_TEST)
    result = pytester.runpytest("--harn-trace-html=pages")
    result.assert_outcomes(failed=1)
    name = picture_stem("test_agent.py::test_agent") + ".html"
    result.stdout.fnmatch_lines([f"Waterfall: pages/{name}"])
    first_line = next(
        line.split("AssertionError: ", 1)[1]
        for line in result.stdout.lines
        if line.startswith("E ") and "AssertionError: span tree mismatch" in line
    )
    page = pytester.path / "pages" / name
    browser.open(page, READY)

    # One row per span, in tree order, with the failure's first line as the heading.
    rows = browser.evaluate(
        "[...document.querySelectorAll('#viewport .row[data-span]').values()].map(r => {"
        "  const lane = r.querySelector('.lane').getBoundingClientRect();"
        "  const bar = r.querySelector('.bar'), mark = bar || r.querySelector('.diamond');"
        "  return { span: Number(r.dataset.span), cls: r.className.split(' '),"
        "    kind: r.querySelector('.kind').textContent,"
        "    name: r.querySelector('.name').textContent,"
        "    badges: [...r.querySelectorAll('.badge')].map(b => b.textContent),"
        "    lane: lane.width, bar: bar && bar.getBoundingClientRect().width,"
        "    left: mark.getBoundingClientRect().left - lane.left,"
        "    diamond: !!r.querySelector('.diamond'), ticks: r.querySelectorAll('.ev').length };"
        "})"
    )
    assert [(row["kind"], row["name"]) for row in rows] == [
        ("pipeline", "research"),
        ("tool_call", "search"),
        ("parallel", "fetch_sources"),
        ("tool_call", "fetch"),
        ("tool_call", "fetch"),
        ("llm_call", "echo-mini"),
        ("model_route", "model_route"),
        ("llm_call", "echo-large"),
    ]
    assert sorted(row["span"] for row in rows) == list(range(1, 9))
    assert browser.evaluate("document.getElementById('heading').textContent") == first_line
    assert browser.evaluate("document.title") == first_line

    # Bars on one time axis: width and offset proportional to duration and start, within a pixel.
    starts = [0, 0, 40, 40, 70, 90, 290, 290]
    durations = [890, 40, 50, 30, 20, 200, None, 600]
    for row, start, duration in zip(rows, starts, durations, strict=True):
        scale = row["lane"] / 890
        if duration is None:
            assert row["diamond"] and row["bar"] is None  # the model route marker
            assert abs(row["left"] + 6 - start * scale) <= 1  # the diamond is centred there
        else:
            assert abs(row["left"] - start * scale) <= 1, row
            assert abs(row["bar"] - duration * scale) <= 1, row
    assert [row["ticks"] for row in rows] == [0, 0, 0, 0, 0, 1, 0, 0]  # first_token

    # The span that raised is marked as an error; the mismatching row is highlighted.
    assert ["error" in row["cls"] for row in rows] == [False] * 4 + [True] + [False] * 3
    assert rows[4]["badges"] == ["error"]
    assert browser.evaluate(
        "getComputedStyle(document.querySelector('.row.error .bar')).outlineColor"
    ) == "rgb(207, 34, 46)"
    assert ["m-bang" in row["cls"] for row in rows] == [False] * 5 + [True] + [False] * 2
    error_span, fan_out, fetch = rows[4]["span"], rows[2]["span"], rows[3]["span"]

    # Hovering a row shows its metadata.
    assert browser.evaluate("document.getElementById('details').hidden") is True
    browser.hover(*center_of(browser, f'.row[data-span="{error_span}"] .label'))
    details = browser.evaluate("document.getElementById('details').innerText")
    assert "tool_call fetch" in details
    assert '"https://flaky.example"' in details
    assert '"ConnectionError: 503"' in details
    browser.screenshot(tmp_path / "waterfall.png")
    assert (tmp_path / "waterfall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Collapsing the fan-out hides its two fetches; expanding brings them back.
    toggle = f'.row[data-span="{fan_out}"] [data-tog]'
    browser.click(*center_of(browser, toggle))
    shown = browser.evaluate("[...document.querySelectorAll('#viewport .row')].length")
    assert shown == len(rows) - 2
    assert browser.evaluate(f"document.querySelector('.row[data-span=\"{fetch}\"]')") is None
    browser.click(*center_of(browser, toggle))
    assert browser.evaluate("[...document.querySelectorAll('#viewport .row')].length") == len(
        rows
    )


def test_a_trace_of_ten_thousand_spans_draws_only_the_rows_on_screen(
    browser: Chromium, tmp_path
) -> None:
    capture = large_trace(10_000)
    assert len(capture) == 10_000
    page = capture.to_html(tmp_path / "large.html", title="10k spans")
    browser.open(page, READY)
    assert browser.evaluate("window.harnTrace.rows") == 10_000
    assert browser.evaluate("window.harnTrace.visibleRows()") == 10_000
    drawn = browser.evaluate("document.querySelectorAll('#viewport .row').length")
    assert 0 < drawn < 100
    height = browser.evaluate("document.getElementById('spacer').getBoundingClientRect().height")
    assert height == 10_000 * 22

    # Scrolled to the bottom, the last span is drawn (and still only a window of rows).
    browser.evaluate(
        "new Promise(done => { const s = document.getElementById('scroll');"
        " s.scrollTop = s.scrollHeight; requestAnimationFrame(() => setTimeout(done, 50)); })"
    )
    names = browser.evaluate(
        "[...document.querySelectorAll('#viewport .row')]"
        ".sort((a, b) => a.offsetTop - b.offsetTop)"
        ".map(row => row.querySelector('.name').textContent)"
    )
    assert names[-1] == "call 9999"  # the last row of the tree
    assert len(names) < 100

    browser.click(*center_of(browser, "#collapse"))
    assert browser.evaluate("window.harnTrace.visibleRows()") == 1


def test_open_spans_reach_the_end_and_a_real_clock_trace_says_so(
    browser: Chromium, tmp_path
) -> None:
    collector = SpanCollector()  # no mock clock: timed by the real clock
    done = collector.start("pipeline", "done")
    time.sleep(0.02)
    link = collector.span_link(done)
    assert link is not None
    collector.end(done)
    collector.start_detached_with_links("pool_dequeue", "worker", [link])
    time.sleep(0.02)
    page = TraceCapture(collector).to_html(tmp_path / "open.html", title="open spans")
    browser.open(page, READY)

    assert browser.evaluate("document.getElementById('clock').className") == "clock real"
    assert browser.evaluate("document.getElementById('clock').textContent").startswith(
        "Real clock: "
    )
    worker = '.row[data-span="2"]'
    assert browser.evaluate(f"document.querySelector('{worker}').classList.contains('open')")
    assert browser.evaluate(f"document.querySelector('{worker} .badge').textContent") == "open"
    gap = browser.evaluate(
        f"document.querySelector('{worker} .lane').getBoundingClientRect().right"
        f" - document.querySelector('{worker} .bar').getBoundingClientRect().right"
    )
    assert abs(gap) <= 1  # drawn to the end of the trace

    # Clicking pins the details: they stay while the mouse moves on, and list the links.
    browser.click(*center_of(browser, f"{worker} .label"))
    browser.hover(*center_of(browser, '.row[data-span="1"] .label'))
    details = browser.evaluate("document.getElementById('details').innerText")
    assert "pool_dequeue worker" in details
    assert f"span 1 of {collector.trace_id}" in details
    assert "open, running for" in details


def test_the_readme_picture_script_runs(tmp_path) -> None:
    script = Path(__file__).parents[2] / "docs" / "make_screenshot.py"
    target = tmp_path / "waterfall.png"
    result = subprocess.run(
        [sys.executable, str(script), "--output", str(target)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert result.stdout.strip() == f"wrote {target}"
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_long_name_is_cut_short_so_its_badge_and_mismatch_note_stay_visible(
    browser: Chromium, tmp_path
) -> None:
    clock = MockClock.at_wall_ms(1_700_000_000_000)
    collector = SpanCollector()
    with install_override(clock):
        root = collector.start("pipeline", "main")
        call = collector.start("tool_call", "fetch-" + "x" * 120)
        collector.set_metadata(call, "status", "error")
        clock.advance(10)
        collector.end(call)
        collector.end(root)
    capture = TraceCapture(collector)
    with pytest.raises(AssertionError) as excinfo:
        capture.assert_tree('pipeline main\n  tool_call * (status="ok")')
    page = capture.to_html(tmp_path / "long.html", failure=excinfo.value)
    browser.open(page, READY)
    row = f'.row[data-span="{call}"]'
    label, name, badge, note = (
        browser.evaluate(
            f"(() => {{ const r = document.querySelector('{row} {part}')"
            ".getBoundingClientRect(); return [r.left, r.right]; })()"
        )
        for part in (".label", ".name", ".badge.err", ".hint")
    )
    assert name[1] < badge[0] < badge[1] <= label[1]  # the badge follows the cut name, inside
    assert badge[1] < note[0] < label[1]  # the note starts inside the label too
    assert browser.evaluate(
        f"(() => {{ const n = document.querySelector('{row} .name');"
        " return n.scrollWidth > n.clientWidth; })()"
    )
    assert browser.evaluate(f"document.querySelector('{row} .label').title").endswith("x" * 120)


def test_a_name_utf_8_cannot_hold_is_drawn_as_its_python_escape(
    browser: Chromium, tmp_path
) -> None:
    name = os.fsdecode(b"r\xff")  # a lone surrogate, "r\udcff"
    collector = SpanCollector()
    span_id = collector.start("pipeline", name)
    collector.set_metadata(span_id, "path", name)
    collector.end(span_id)
    page = TraceCapture(collector).to_html(tmp_path / "surrogate.html", title=name)
    browser.open(page, READY)
    row = f'.row[data-span="{span_id}"]'
    assert browser.evaluate(f"document.querySelector('{row} .name').textContent") == "r\\udcff"
    assert browser.evaluate("document.title") == "r\\udcff"
    browser.click(*center_of(browser, f"{row} .label"))
    assert 'r\\udcff' in browser.evaluate("document.getElementById('details').innerText")

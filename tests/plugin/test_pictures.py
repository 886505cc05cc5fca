"""--harn-trace-html and --harn-trace-perfetto: a picture of the trace of each failing test."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

AGENT_TESTS = """
import pytest
from pytest_harn_trace import span

def agent(clock):
    with span("pipeline", "main"):
        with span("llm_call", "gpt-4", model="gpt-3.5"):
            clock.advance(12)
        with span("tool_call", "search"):
            clock.advance(3)

def test_tree(trace, mock_clock):
    agent(mock_clock)
    trace.assert_tree('''
        pipeline main
          llm_call gpt-4 (model="gpt-4")
          tool_call search
    ''')

def test_plain_failure(trace, mock_clock):
    agent(mock_clock)
    assert False, "boom"

def test_passing(trace, mock_clock):
    agent(mock_clock)

def test_without_trace():
    assert False
"""


def page_data(path: Path) -> dict:
    found = re.search(
        r'<script type="application/json" id="harn-data">(.*?)</script>', path.read_text(), re.S
    )
    assert found is not None
    return json.loads(found.group(1))


def test_each_failing_test_that_used_trace_gets_a_page_named_in_its_report(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_agent=AGENT_TESTS)
    result = pytester.runpytest("--harn-trace-html=pages")
    result.assert_outcomes(passed=1, failed=3)
    pages = pytester.path / "pages"
    assert sorted(path.name for path in pages.iterdir()) == [
        "test_agent.py_test_plain_failure.html",
        "test_agent.py_test_tree.html",
    ]
    result.stdout.fnmatch_lines(
        [
            "*- Captured trace call -*",
            "Trace: 3 spans, 15ms total",
            "*",
            "Waterfall: pages/test_agent.py_test_tree.html",
        ]
    )
    result.stdout.fnmatch_lines(["Waterfall: pages/test_agent.py_test_plain_failure.html"])
    tree = page_data(pages / "test_agent.py_test_tree.html")
    assert tree["title"] == "test_agent.py::test_tree"
    assert tree["heading"] == (
        'span tree mismatch at pipeline main > llm_call gpt-4: metadata["model"] expected '
        '"gpt-4", got "gpt-3.5"'
    )
    assert [(row["n"], row.get("mk")) for row in tree["rows"]] == [
        ("main", " "), ("gpt-4", "!"), ("search", " "),
    ]
    plain = page_data(pages / "test_agent.py_test_plain_failure.html")
    assert plain["heading"] is None
    assert [row["n"] for row in plain["rows"]] == ["main", "gpt-4", "search"]


def test_report_all_gives_every_test_that_used_trace_a_page(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=AGENT_TESTS)
    result = pytester.runpytest("--harn-trace-html=pages", "--harn-trace-report=all", "-rP")
    result.assert_outcomes(passed=1, failed=3)
    assert len(list((pytester.path / "pages").iterdir())) == 3
    result.stdout.fnmatch_lines(["Waterfall: pages/test_agent.py_test_passing.html"])


def test_the_ini_option_names_a_directory_under_the_rootdir(
    pytester: pytest.Pytester, inner_ini: str
) -> None:
    pytester.makeini(inner_ini + "harn_trace_html = out/html\nharn_trace_perfetto = out/json\n")
    pytester.makepyfile(test_agent=AGENT_TESTS)
    result = pytester.runpytest("-k", "tree")
    result.assert_outcomes(failed=1)
    assert (pytester.path / "out/html/test_agent.py_test_tree.html").is_file()
    trace = json.loads((pytester.path / "out/json/test_agent.py_test_tree.trace.json").read_text())
    assert {event["name"] for event in trace["traceEvents"] if event["ph"] == "X"} == {
        "main", "gpt-4", "search",
    }
    result.stdout.fnmatch_lines(["Perfetto trace: out/json/test_agent.py_test_tree.trace.json"])


def test_perfetto_files_are_written_for_failing_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=AGENT_TESTS)
    result = pytester.runpytest("--harn-trace-perfetto=traces", "-k", "plain or passing")
    result.assert_outcomes(passed=1, failed=1)
    [path] = (pytester.path / "traces").iterdir()
    assert path.name == "test_agent.py_test_plain_failure.trace.json"
    events = json.loads(path.read_text())["traceEvents"]
    assert all({"ph", "ts", "pid", "tid"} <= event.keys() for event in events)
    result.stdout.fnmatch_lines(["Perfetto trace: traces/test_agent.py_test_plain_failure*"])


def test_without_the_option_no_file_is_written(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=AGENT_TESTS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.no_fnmatch_line("Waterfall:*")
    assert sorted(path.name for path in pytester.path.iterdir() if path.suffix == ".html") == []


def test_report_never_still_writes_the_pages_of_failures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=AGENT_TESTS)
    result = pytester.runpytest("--harn-trace-html=pages", "--harn-trace-report=never")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.no_fnmatch_line("*Captured trace call*")
    assert len(list((pytester.path / "pages").iterdir())) == 2


def test_a_directory_that_cannot_be_created_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=AGENT_TESTS)
    pytester.path.joinpath("taken").write_text("a file, not a directory")
    result = pytester.runpytest("--harn-trace-html=taken/pages")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--harn-trace-html taken/pages: cannot create the directory (*); "
         "give a directory you can write to"]
    )


def test_a_picture_directory_that_is_a_file_says_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=AGENT_TESTS)
    pytester.path.joinpath("pages").write_text("a file, not a directory")
    result = pytester.runpytest("--harn-trace-html=pages")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--harn-trace-html pages: is a file, not a directory; give a directory*"]
    )


def test_parametrized_ids_become_safe_file_names(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("url", ["https://a.example/x?y=1", "b" * 300])
        def test_fetch(trace, url):
            assert False
        """
    )
    result = pytester.runpytest("--harn-trace-html=pages")
    result.assert_outcomes(failed=2)
    names = {path.name for path in (pytester.path / "pages").iterdir()}
    url_page = (
        "test_parametrized_ids_become_safe_file_names.py_test_fetch[https_a.example_x_y_1].html"
    )
    assert url_page in names
    # The long id's name is cut short; pytest 9 ids it "url1", older pytest by its 300 b's.
    (long_page,) = names - {url_page}
    assert len(long_page) < 130 and long_page.endswith(".html")


def test_a_wrong_picture_path_or_failure_says_the_fix(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_paths="""
        def test_missing_directory(trace, tmp_path):
            trace.to_html(tmp_path / "pages" / "trace.html")

        def test_a_directory(trace, tmp_path):
            trace.to_perfetto(tmp_path)

        def test_not_a_path(trace):
            trace.to_perfetto(None)

        def test_a_message_as_failure(trace, tmp_path):
            trace.to_html(tmp_path / "trace.html", failure="tree mismatch")
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines([
        "E       FileNotFoundError: cannot write the waterfall page to '*pages/trace.html': "
        "its directory '*pages' does not exist; create it first "
        "(path.parent.mkdir(parents=True)) or write into tmp_path",
        "E       IsADirectoryError: cannot write the Perfetto trace to '*test_a_directory0': "
        "it is a directory; give a file path in it, such as '*test_a_directory0/trace.trace.json'",
        "E       TypeError: the Perfetto trace path must be a file path (str or pathlib.Path), "
        "got NoneType None; such as tmp_path / 'trace.trace.json'",
        "E       TypeError: failure= takes the exception assert_span_tree raised, got str "
        "'tree mismatch'; pass the error itself, such as excinfo.value from "
        "pytest.raises(AssertionError)",
    ])
    for module in ("timeline", "html_report", "perfetto", "mismatch"):
        result.stdout.no_fnmatch_line(f"*pytest_harn_trace/{module}.py*")

"""--harn-trace-html and --harn-trace-perfetto: a picture of the trace of each failing test."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_harn_trace.pictures.names import picture_stem

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


def named(test_id: str, suffix: str = ".html") -> str:
    """The file name of the picture of ``test_id``."""
    return picture_stem(test_id) + suffix


TREE = named("test_agent.py::test_tree")
PLAIN = named("test_agent.py::test_plain_failure")


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
    assert sorted(path.name for path in pages.iterdir()) == sorted([PLAIN, TREE])
    result.stdout.fnmatch_lines(
        [
            "*- Captured trace call -*",
            "Trace: 3 spans, 15ms total",
            "*",
            f"Waterfall: pages/{TREE}",
        ]
    )
    result.stdout.fnmatch_lines([f"Waterfall: pages/{PLAIN}"])
    tree = page_data(pages / TREE)
    assert tree["title"] == "test_agent.py::test_tree"
    assert tree["heading"] == (
        'span tree mismatch at pipeline main > llm_call gpt-4: metadata["model"] expected '
        '"gpt-4", got "gpt-3.5"'
    )
    assert [(row["n"], row.get("mk")) for row in tree["rows"]] == [
        ("main", " "), ("gpt-4", "!"), ("search", " "),
    ]
    plain = page_data(pages / PLAIN)
    assert plain["heading"] is None
    assert [row["n"] for row in plain["rows"]] == ["main", "gpt-4", "search"]


def test_report_all_gives_every_test_that_used_trace_a_page(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=AGENT_TESTS)
    result = pytester.runpytest("--harn-trace-html=pages", "--harn-trace-report=all", "-rP")
    result.assert_outcomes(passed=1, failed=3)
    assert len(list((pytester.path / "pages").iterdir())) == 3
    result.stdout.fnmatch_lines([f"Waterfall: pages/{named('test_agent.py::test_passing')}"])


def test_the_ini_option_names_a_directory_under_the_rootdir(
    pytester: pytest.Pytester, inner_ini: str
) -> None:
    pytester.makeini(inner_ini + "harn_trace_html = out/html\nharn_trace_perfetto = out/json\n")
    pytester.makepyfile(test_agent=AGENT_TESTS)
    result = pytester.runpytest("-k", "tree")
    result.assert_outcomes(failed=1)
    assert (pytester.path / "out/html" / TREE).is_file()
    json_name = named("test_agent.py::test_tree", ".trace.json")
    trace = json.loads((pytester.path / "out/json" / json_name).read_text())
    assert {event["name"] for event in trace["traceEvents"] if event["ph"] == "X"} == {
        "main", "gpt-4", "search",
    }
    result.stdout.fnmatch_lines([f"Perfetto trace: out/json/{json_name}"])


def test_perfetto_files_are_written_for_failing_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=AGENT_TESTS)
    result = pytester.runpytest("--harn-trace-perfetto=traces", "-k", "plain or passing")
    result.assert_outcomes(passed=1, failed=1)
    [path] = (pytester.path / "traces").iterdir()
    assert path.name == named("test_agent.py::test_plain_failure", ".trace.json")
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
    url_page = re.compile(
        r"test_parametrized_ids_become_safe_file_names\.py_test_fetch\[https_a\.example_x_y_1\]"
        r"-[0-9a-f]{8}\.html"
    )
    (url_name,) = [name for name in names if url_page.fullmatch(name)]
    # The long id's name is cut short; pytest 9 ids it "url1", older pytest by its 300 b's.
    (long_page,) = names - {url_name}
    assert len(long_page) < 140 and long_page.endswith(".html")


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


def test_a_name_utf_8_cannot_hold_neither_stops_the_session_nor_loses_the_pictures(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_surrogate="""
        import os
        from pytest_harn_trace import span

        def test_bad_bytes(trace):
            with span("pipeline", os.fsdecode(b"r\\xff")):
                pass
            assert False

        def test_after(trace):
            pass
        """
    )
    result = pytester.runpytest("--harn-trace-html=out", "--harn-trace-perfetto=out")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    page = pytester.path / "out" / named("test_surrogate.py::test_bad_bytes")
    assert [row["n"] for row in page_data(page)["rows"]] == ["r\\udcff"]
    perfetto = pytester.path / "out" / named("test_surrogate.py::test_bad_bytes", ".trace.json")
    events = json.loads(perfetto.read_bytes().decode("utf-8"))["traceEvents"]
    assert [event["name"] for event in events if event["ph"] == "X"] == ["r\\udcff"]
    result.stdout.fnmatch_lines(
        [
            "pipeline r\\udcff 0ms",
            "",
            f"Waterfall: out/{page.name}",
            f"Perfetto trace: out/{perfetto.name}",
        ]
    )


def test_a_picture_that_cannot_be_written_is_reported_on_its_test_and_the_run_goes_on(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_agent="""
        def test_first(trace):
            assert False

        def test_second(trace):
            assert False
        """
    )
    blocked = pytester.path / "pages" / named("test_agent.py::test_first")
    blocked.mkdir(parents=True)  # a directory where the page should go
    result = pytester.runpytest("--harn-trace-html=pages")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            f"Waterfall: could not write {blocked}: cannot write the waterfall page to "
            f"'{blocked}': it is a directory; give a file path in it, such as*",
            f"Waterfall: pages/{named('test_agent.py::test_second')}",
        ]
    )


def test_test_ids_that_differ_only_in_unsafe_characters_get_pages_of_their_own(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_x="""
        import pytest

        @pytest.mark.parametrize("q", ["hello world", "hello, world", "hello_world", "a/b", "a:b"])
        def test_c(trace, q):
            assert False, q
        """
    )
    result = pytester.runpytest("--harn-trace-html=pages", "-p", "no:randomly")
    result.assert_outcomes(failed=5)
    pages = sorted((pytester.path / "pages").iterdir())
    assert len(pages) == 5
    titles = {page_data(page)["title"]: page.name for page in pages}
    ids = ["hello world", "hello, world", "hello_world", "a/b", "a:b"]
    assert titles == {f"test_x.py::test_c[{q}]": named(f"test_x.py::test_c[{q}]") for q in ids}
    reported = [line for line in result.stdout.lines if line.startswith("Waterfall: ")]
    assert reported == [f"Waterfall: pages/{titles[f'test_x.py::test_c[{q}]']}" for q in ids]


def test_a_test_named_in_90_cjk_characters_gets_its_page(pytester: pytest.Pytester) -> None:
    name = "test_" + "東" * 90
    pytester.makepyfile(test_cjk=f"def {name}(trace):\n    assert False\n")
    result = pytester.runpytest("--harn-trace-html=pages")
    result.assert_outcomes(failed=1)
    result.stdout.no_fnmatch_line("*could not write*")
    [page] = (pytester.path / "pages").iterdir()
    assert page.name == named(f"test_cjk.py::{name}")
    assert len(page.name.encode()) < 255
    assert page_data(page)["title"] == f"test_cjk.py::{name}"

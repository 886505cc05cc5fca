"""Writing a picture: any text, a file replaced at once or not at all, a title that is a str.

And the names the plugin gives the pictures of a test: a campaign of hostile
test ids (separators, surrogates, case, length, reserved names) that must each
get a file of their own, in the directory, that the file system takes.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest

from pytest_harn_trace import SpanCollector, TraceCapture
from pytest_harn_trace.pictures import timeline
from pytest_harn_trace.pictures.names import picture_stem

SURROGATE_NAME = os.fsdecode(b"r\xff")  # "r\udcff": how Python reads a byte that is not UTF-8


def capture_named(name: str) -> TraceCapture:
    collector = SpanCollector()
    root = collector.start("pipeline", name)
    collector.set_metadata(root, name, name)
    collector.record_event(root, name, {name: name})
    collector.end(root)
    return TraceCapture(collector)


def page_data(path: Path) -> dict:
    found = re.search(
        r'<script type="application/json" id="harn-data">(.*?)</script>',
        path.read_text("utf-8"),
        re.S,
    )
    assert found is not None
    return json.loads(found.group(1))


def strict_json(path: Path) -> object:
    def refuse(token: str) -> None:
        raise ValueError(f"not JSON: {token}")

    return json.loads(path.read_bytes().decode("utf-8"), parse_constant=refuse)


# -- text UTF-8 cannot hold ---------------------------------------------------------------


def test_a_lone_surrogate_is_written_as_its_python_escape_in_the_page(tmp_path):
    trace = capture_named(SURROGATE_NAME)
    path = trace.to_html(tmp_path / "trace.html", title=f"test[{SURROGATE_NAME}]")
    data = page_data(path)
    (row,) = data["rows"]
    assert (row["n"], row["m"], row["v"]) == (
        "r\\udcff",
        {"r\\udcff": "r\\udcff"},
        [["r\\udcff", 0, {"r\\udcff": "r\\udcff"}]],
    )
    assert data["title"] == "test[r\\udcff]"
    assert "<title>test[r\\udcff]</title>" in path.read_text("utf-8")


def test_a_lone_surrogate_is_written_as_its_python_escape_in_the_perfetto_file(tmp_path):
    trace = capture_named(SURROGATE_NAME)
    path = trace.to_perfetto(tmp_path / "trace.json", title=SURROGATE_NAME)
    events = strict_json(path)["traceEvents"]  # type: ignore[index]
    assert events[0]["args"] == {"name": "r\\udcff"}
    (span,) = [event for event in events if event["ph"] == "X"]
    assert span["name"] == "r\\udcff"
    assert span["args"]["r\\udcff"] == "r\\udcff"


def test_other_text_is_written_as_it_is(tmp_path):
    name = 'café 東京 \U0001f600 "quoted" \\ back\nslash'
    trace = capture_named(name)
    assert page_data(trace.to_html(tmp_path / "a.html"))["rows"][0]["n"] == name
    events = strict_json(trace.to_perfetto(tmp_path / "a.json"))["traceEvents"]  # type: ignore[index]
    assert [event["name"] for event in events if event["ph"] == "X"] == [name]


# -- replaced at once or not at all -------------------------------------------------------


def test_a_picture_over_an_earlier_file_replaces_it_whole(tmp_path):
    path = tmp_path / "trace.html"
    path.write_text("earlier page")
    capture_named(SURROGATE_NAME).to_html(path)
    assert page_data(path)["rows"][0]["n"] == "r\\udcff"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trace.html"]


def test_a_failed_write_leaves_the_earlier_file_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "trace.json"
    path.write_text("earlier trace")

    def full_disk(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(timeline.os, "replace", full_disk)
    with pytest.raises(OSError) as info:
        capture_named("x").to_perfetto(path)
    assert str(info.value) == (
        f"cannot write the Perfetto trace to {str(path)!r}: No space left on device; "
        "give a path you can write to, such as one under tmp_path"
    )
    assert path.read_text() == "earlier trace"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trace.json"]


def test_a_picture_file_gets_the_permissions_open_gives_a_new_file(tmp_path):
    reference = tmp_path / "reference"
    reference.write_text("")
    path = capture_named("x").to_html(tmp_path / "trace.html")
    assert path.stat().st_mode == reference.stat().st_mode


# -- the title ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "shown"), [(123, "int 123"), (None, "NoneType None"), (math.nan, "float nan")]
)
@pytest.mark.parametrize("method", ["to_html", "to_perfetto"])
def test_a_title_that_is_not_a_str_is_a_type_error_naming_title(tmp_path, method, title, shown):
    path = tmp_path / "trace"
    path.write_text("earlier")
    with pytest.raises(TypeError) as info:
        getattr(capture_named("x"), method)(path, title=title)
    assert str(info.value) == (
        f"{method}(title=...): expected the title as a str, got {shown}; "
        "such as title=request.node.nodeid"
    )
    assert path.read_text() == "earlier"


# -- file names: a campaign of hostile test ids -----------------------------------------

HOSTILE_IDS = [
    "test_x.py::test_c[hello world]",
    "test_x.py::test_c[hello, world]",
    "test_x.py::test_c[hello_world]",
    "test_x.py::test_c[a/b]",
    "test_x.py::test_c[a:b]",
    "test_x.py::test_c[a b]",
    "test_x.py::test_c[A]",
    "test_x.py::test_c[a]",  # a case-insensitive disk (macOS, Windows) sees the same name
    f"test_x.py::test_c[{SURROGATE_NAME}]",
    "test_x.py::test_c[r\udcfe]",
    "test_x.py::test_" + "東" * 90,
    "test_x.py::test_" + "東" * 89 + "京",  # the same once cut to fit
    "test_x.py::test_c[" + "\U0001f600" * 100 + "]",
    "test_x.py::test_c[" + "b" * 300 + "]",
    "test_x.py::test_c[" + "b" * 299 + "c]",
    "../../etc/passwd",
    "..",
    ".",
    "",
    "/",
    "\\..\\..\\windows",
    "test_x.py::test_c[\x00\n\t\r]",
    "test_x.py::test_c[CON]",
    "NUL",
    'test_x.py::test_c[<>:"|?*]',
    "test_x.py::test_c[ .trailing. ]",
    "test_x.py::test_c[\u202eevil]",
]


def test_distinct_test_ids_get_distinct_names_in_one_component_the_disk_takes(tmp_path):
    stems = [picture_stem(test_id) for test_id in HOSTILE_IDS]
    assert len({stem.casefold() for stem in stems}) == len(HOSTILE_IDS)
    for test_id, stem in zip(HOSTILE_IDS, stems, strict=True):
        name = stem + ".trace.json"
        assert len(name.encode("utf-8")) <= 255, test_id
        assert not name.startswith("."), test_id
        assert not set(name) & set('/\\\x00<>:"|?*\n\r\t'), test_id
        written = capture_named(test_id).to_perfetto(tmp_path / name, title=test_id)
        assert written.parent == tmp_path
        assert written.read_bytes()  # written, under exactly this name
    assert len(list(tmp_path.iterdir())) == len(HOSTILE_IDS)


def test_the_name_is_the_readable_id_then_a_hash_of_the_whole_id():
    assert picture_stem("tests/test_x.py::test_c[hello world]") == (
        "tests_test_x.py_test_c[hello_world]-"
        + picture_stem("tests/test_x.py::test_c[hello world]")[-8:]
    )
    assert re.fullmatch(
        r"test_x\.py_test_c\[hello_world\]-[0-9a-f]{8}", picture_stem(HOSTILE_IDS[0])
    )


def test_a_long_non_ascii_name_is_cut_by_its_bytes_not_its_characters():
    stem = picture_stem("test_x.py::test_" + "東" * 90)
    readable, digest = stem.rsplit("-", 1)
    assert readable == "test_x.py_test_" + "東" * 35  # 15 + 35 * 3 = 120 bytes
    assert len(digest) == 8

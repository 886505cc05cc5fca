from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import math
import pathlib
import traceback
import uuid
from collections import OrderedDict
from types import MappingProxyType

import pytest

from pytest_harn_trace import (
    emit_deferred_tool_load,
    span_attach_metadata_if_absent,
    span_end,
    span_record_event,
    span_set_metadata,
    span_start,
)
from pytest_harn_trace.tracing.jsonvalue import check_key, json_value

ACCEPTED = "use str, int, float, bool, None, list or dict"
JSON_TYPES = "(str, int, float, bool, None, list or dict)"


class Color(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Ratio(float):
    pass


@pytest.fixture
def open_span(tracing):
    span_end(span_start("pipeline", "one"))
    span_end(span_start("pipeline", "two"))
    span_id = span_start("llm_call", "m")
    assert span_id == 3  # the messages below read "span 3"
    return span_id


def metadata_of(span_id):
    done = span_end(span_id)
    assert done is not None
    return done.metadata


# -- exact messages ----------------------------------------------------------------


def test_non_json_value_names_function_span_key_and_type(open_span):
    with pytest.raises(TypeError) as info:
        span_set_metadata(open_span, "cost", dt.datetime(2024, 1, 1))
    assert str(info.value) == (
        'span_set_metadata(span 3, "cost"): datetime is not a JSON value '
        + JSON_TYPES
        + "; use .isoformat()"
    )
    assert metadata_of(open_span) == {}


def test_nested_bad_value_names_its_path(open_span):
    value = {"a": [1, {"b": b"raw"}]}
    with pytest.raises(TypeError) as info:
        span_set_metadata(open_span, "payload", value)
    assert str(info.value) == (
        'span_set_metadata(span 3, "payload"): bytes at ["a"][1]["b"] is not a JSON value '
        + JSON_TYPES
        + "; use .decode() for text, or base64 for binary data"
    )
    assert metadata_of(open_span) == {}


def test_non_str_dict_key_is_named(open_span):
    with pytest.raises(TypeError) as info:
        span_set_metadata(open_span, "counts", {"x": {1: "one"}})
    assert str(info.value) == (
        'span_set_metadata(span 3, "counts"): dict key 1 (int) at ["x"] is not a str; '
        "JSON object keys must be str; convert the keys with str(...)"
    )


def test_non_str_metadata_key(open_span):
    with pytest.raises(TypeError) as info:
        span_set_metadata(open_span, ("a",), 1)  # type: ignore[arg-type]
    assert str(info.value) == (
        "span_set_metadata(span 3, ('a',)): metadata key must be str, got tuple"
    )


def test_cyclic_list_and_dict_are_rejected(open_span):
    loop: list[object] = [1]
    loop.append(loop)
    with pytest.raises(TypeError) as info:
        span_set_metadata(open_span, "loop", loop)
    assert str(info.value) == (
        'span_set_metadata(span 3, "loop"): list at [1] contains itself; '
        "JSON values cannot be cyclic"
    )
    node: dict[str, object] = {}
    node["self"] = {"up": node}
    with pytest.raises(TypeError) as info:
        span_set_metadata(open_span, "node", node)
    assert str(info.value) == (
        'span_set_metadata(span 3, "node"): dict at ["self"]["up"] contains itself; '
        "JSON values cannot be cyclic"
    )
    assert metadata_of(open_span) == {}


def test_non_dict_mapping_gets_a_hint(open_span):
    with pytest.raises(TypeError) as info:
        span_set_metadata(open_span, "m", MappingProxyType({"a": 1}))
    assert str(info.value) == (
        'span_set_metadata(span 3, "m"): mappingproxy is not a JSON value '
        + JSON_TYPES
        + "; convert it with dict(...)"
    )


@pytest.mark.parametrize(
    ("value", "type_name"),
    [(object(), "object"), (Color, "EnumType"), (1j, "complex")],
)
def test_other_values_are_rejected(open_span, value, type_name):
    with pytest.raises(TypeError) as info:
        span_set_metadata(open_span, "k", value)
    assert str(info.value) == (
        f'span_set_metadata(span 3, "k"): {type_name} is not a JSON value; ' + ACCEPTED
    )


def test_attach_if_absent_checks_values_even_when_the_key_exists(open_span):
    span_set_metadata(open_span, "k", 1)
    with pytest.raises(TypeError) as info:
        span_attach_metadata_if_absent(open_span, "k", {1})
    assert str(info.value) == (
        'span_attach_metadata_if_absent(span 3, "k"): set is not a JSON value '
        + JSON_TYPES
        + "; use sorted(...) or list(...)"
    )
    assert metadata_of(open_span) == {"k": 1}


def test_event_attributes_are_checked_and_nothing_is_recorded_on_error(open_span):
    with pytest.raises(TypeError) as info:
        span_record_event(open_span, "e", {"at": dt.date(2024, 1, 1)})
    assert str(info.value) == (
        'span_record_event(span 3, "at"): date is not a JSON value '
        + JSON_TYPES
        + "; use .isoformat()"
    )
    assert span_end(open_span).events == ()


def test_key_label_is_json_quoted():
    with pytest.raises(TypeError) as info:
        json_value(object(), "f", 1, 'quote"d')
    assert str(info.value).startswith('f(span 1, "quote\\"d"): object is not')
    with pytest.raises(TypeError) as info:
        json_value(object(), "f", None, "k")
    assert str(info.value).startswith('f("k"): object is not')


# -- conversions --------------------------------------------------------------------


def test_plain_values_are_stored_as_given(open_span):
    values = {"s": "x", "i": -3, "b": True, "n": None, "f": 1.5, "big": 2**64 - 1}
    for key, value in values.items():
        span_set_metadata(open_span, key, value)
    stored = metadata_of(open_span)
    assert stored == values
    assert stored["b"] is True


def test_non_finite_floats_are_stored_as_none(open_span):
    span_set_metadata(open_span, "nan", math.nan)
    span_set_metadata(open_span, "inf", math.inf)
    span_set_metadata(open_span, "nested", [-math.inf, {"x": math.nan}, 1.0])
    assert metadata_of(open_span) == {"nan": None, "inf": None, "nested": [None, {"x": None}, 1.0]}


def test_tuples_become_lists(open_span):
    span_set_metadata(open_span, "t", (1, (2, 3), {"k": ("a",)}))
    stored = metadata_of(open_span)["t"]
    assert stored == [1, [2, 3], {"k": ["a"]}]
    assert type(stored) is list
    assert type(stored[1]) is list


def test_enums_and_subclasses_become_plain_values(open_span):
    span_set_metadata(open_span, "color", Color.RED)
    span_set_metadata(open_span, "level", Level.HIGH)
    span_set_metadata(open_span, "ratio", Ratio(0.5))
    span_set_metadata(open_span, "nested", [Color.RED, {"l": Level.HIGH}])
    span_set_metadata(open_span, "ordered", OrderedDict([("b", 1), ("a", 2)]))
    stored = metadata_of(open_span)
    assert type(stored["color"]) is str
    assert stored["color"] == "red"
    assert type(stored["level"]) is int
    assert stored["level"] == 3
    assert type(stored["ratio"]) is float
    assert type(stored["nested"][0]) is str
    assert type(stored["nested"][1]["l"]) is int
    assert type(stored["ordered"]) is dict
    assert list(stored["ordered"]) == ["b", "a"]


def test_str_subclass_key_becomes_plain_str(open_span):
    span_set_metadata(open_span, Color.RED, 1)
    stored = metadata_of(open_span)
    assert stored == {"red": 1}
    assert type(next(iter(stored))) is str


def test_containers_are_copied(open_span):
    tags = ["a"]
    nested = {"inner": [1]}
    span_set_metadata(open_span, "tags", tags)
    span_set_metadata(open_span, "nested", nested)
    span_record_event(open_span, "e", {"tags": tags})
    tags.append("b")
    nested["inner"].append(2)
    nested["new"] = True
    done = span_end(open_span)
    assert done.metadata == {"tags": ["a"], "nested": {"inner": [1]}}
    assert done.events[0].attributes == {"tags": ["a"]}


def test_shared_but_acyclic_references_are_fine(open_span):
    shared = [1]
    span_set_metadata(open_span, "k", {"a": shared, "b": shared, "c": [shared, shared]})
    assert metadata_of(open_span) == {"k": {"a": [1], "b": [1], "c": [[1], [1]]}}


def test_seed_f64_fields_are_floats(tracing):
    emit_deferred_tool_load("grep", "q", 4)
    (done,) = tracing.spans()
    assert done.metadata["score"] == 4.0
    assert type(done.metadata["score"]) is float


def test_check_key_accepts_str_and_rejects_others():
    assert check_key("k", "f", 1) == "k"
    with pytest.raises(TypeError) as info:
        check_key(None, "f", None)
    assert str(info.value) == "f(None): metadata key must be str, got NoneType"


@dataclasses.dataclass
class Usage:
    tokens: int


class Plain(enum.Enum):
    ONE = 1


def numbers():
    yield 1


@pytest.mark.parametrize(
    ("value", "type_name", "fix"),
    [
        (dt.datetime(2024, 1, 1), "datetime", "use .isoformat()"),
        (dt.date(2024, 1, 1), "date", "use .isoformat()"),
        (dt.time(1, 2), "time", "use .isoformat()"),
        (dt.timedelta(seconds=2), "timedelta", "use .total_seconds()"),
        ({1, 2}, "set", "use sorted(...) or list(...)"),
        (frozenset({1}), "frozenset", "use sorted(...) or list(...)"),
        (uuid.UUID(int=1), "UUID", "use str(...)"),
        (pathlib.Path("a"), type(pathlib.Path("a")).__name__, "use str(...)"),
        (decimal.Decimal("1.5"), "Decimal", "use str(...), or float(...) if rounding is fine"),
        (Plain.ONE, "Plain", "use .value"),
        (b"raw", "bytes", "use .decode() for text, or base64 for binary data"),
        (Usage(3), "Usage", "use dataclasses.asdict(...)"),
        (numbers(), "generator", "use list(...)"),
        (range(3), "range", "use list(...)"),
    ],
    ids=lambda param: param if isinstance(param, str) and " " not in param else None,
)
def test_non_json_values_get_the_usual_fix(open_span, value, type_name, fix):
    with pytest.raises(TypeError) as info:
        span_set_metadata(open_span, "k", value)
    assert str(info.value) == (
        f'span_set_metadata(span 3, "k"): {type_name} is not a JSON value {JSON_TYPES}; {fix}'
    )


def test_tuple_dict_keys_get_the_list_of_pairs_fix(open_span):
    with pytest.raises(TypeError) as info:
        span_set_metadata(open_span, "routes", {("a", "b"): 1})
    assert str(info.value) == (
        "span_set_metadata(span 3, \"routes\"): dict key ('a', 'b') (tuple) is not a str; "
        "JSON object keys must be str; use a list of [key, value] pairs instead, "
        "e.g. list(d.items())"
    )


def test_a_deeply_nested_bad_value_has_the_traceback_of_a_flat_one(open_span):
    tracebacks = []
    for value in [dt.date(2024, 1, 1), {"a": [[{"b": [dt.date(2024, 1, 1)]}]]}]:
        with pytest.raises(TypeError) as info:
            span_set_metadata(open_span, "k", value)
        tracebacks.append([frame.name for frame in traceback.extract_tb(info.tb)])
    assert tracebacks[0] == tracebacks[1]
    assert "_convert" not in tracebacks[1]

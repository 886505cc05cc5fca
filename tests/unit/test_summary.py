from __future__ import annotations

import enum
import json
import math
import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_harn_trace.tracing.model import Span, SpanKind
from pytest_harn_trace.tracing.summary import format_summary, to_json

VECTORS = Path(__file__).parent / "data" / "serde_json_vectors.json"


def make_span(
    span_id: int,
    parent_id: int | None,
    name: str,
    duration_ms: int = 0,
    kind: SpanKind = SpanKind.FN_CALL,
    metadata: Mapping[str, object] | None = None,
) -> Span:
    return Span(
        trace_id="trace",
        span_id=span_id,
        parent_id=parent_id,
        kind=kind,
        name=name,
        start_ms=0,
        start_unix_ms=0,
        duration_ms=duration_ms,
        metadata=dict(metadata or {}),
        links=(),
        events=(),
    )


# --- to_json: floats --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (1.0, "1.0"),
        (-1.0, "-1.0"),
        (0.1, "0.1"),
        (0.1 + 0.2, "0.30000000000000004"),
        (123.456, "123.456"),
        (100.0, "100.0"),
        (0.001, "0.001"),
        (0.0001, "0.0001"),
        (0.00012, "0.00012"),
        (0.00001, "0.00001"),
        (0.000012, "0.000012"),
        (-0.0000123, "-0.0000123"),
        (9.99e-6, "9.99e-6"),
        (9.99e-5, "0.0000999"),
        (1e-6, "1e-6"),
        (-1e-6, "-1e-6"),
        (1.5e-7, "1.5e-7"),
        (1e-100, "1e-100"),
        (1000000000000000.0, "1000000000000000.0"),
        (1234567890123456.7, "1234567890123456.8"),
        (9999999999999998.0, "9999999999999998.0"),
        (1e16, "1e16"),
        (1.5e16, "1.5e16"),
        (12345678901234567890.0, "1.2345678901234567e19"),
        (1.2345e20, "1.2345e20"),
        (1e21, "1e21"),
        (1e100, "1e100"),
        (5e-324, "5e-324"),
        (2.2250738585072014e-308, "2.2250738585072014e-308"),
        (1.7976931348623157e308, "1.7976931348623157e308"),
        (-1.7976931348623157e308, "-1.7976931348623157e308"),
    ],
)
def test_to_json_lays_out_floats_as_ryu(value: float, expected: str) -> None:
    assert to_json(value) == expected


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, -math.nan])
def test_to_json_renders_non_finite_floats_as_null(value: float) -> None:
    assert to_json(value) == "null"
    assert to_json([value]) == "[null]"


def test_to_json_renders_float_subclasses_by_value() -> None:
    class Money(float):
        def __repr__(self) -> str:
            return "Money!"

    assert to_json(Money(0.00001)) == "0.00001"
    assert to_json([Money(2.0)]) == "[2.0]"


def _ryu_reference(value: float) -> str:
    """Ryu's ``format64`` branches, applied to the shortest digits ``Decimal`` reads off repr."""
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0.0"
    _, digit_tuple, k = Decimal(repr(abs(value))).normalize().as_tuple()
    assert isinstance(k, int)
    digits = "".join(map(str, digit_tuple))
    length = len(digits)
    kk = length + k
    if k >= 0 and kk <= 16:
        body = digits + "0" * (kk - length) + ".0"
    elif 0 < kk <= 16:
        body = digits[:kk] + "." + digits[kk:]
    elif -5 < kk <= 0:
        body = "0." + "0" * -kk + digits
    elif length == 1:
        body = f"{digits}e{kk - 1}"
    else:
        body = f"{digits[0]}.{digits[1:]}e{kk - 1}"
    return sign + body


def _significant_digits(text: str) -> str:
    mantissa = text.lstrip("-").split("e")[0]
    return mantissa.replace(".", "").strip("0")


@settings(max_examples=1000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_to_json_float_reads_back_exactly_with_the_shortest_digits(value: float) -> None:
    text = to_json(value)
    back = float(text)
    assert back == value
    assert math.copysign(1.0, back) == math.copysign(1.0, value)
    assert _significant_digits(text) == _significant_digits(repr(value))
    assert text == _ryu_reference(value)


# --- to_json: strings -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", '""'),
        ("plain", '"plain"'),
        ('say "hi"', r'"say \"hi\""'),
        ("back\\slash", r'"back\\slash"'),
        ("/", '"/"'),
        ("\b\f\n\r\t", r'"\b\f\n\r\t"'),
        ("\x00", r'"\u0000"'),
        ("\x01\x0b\x0e\x1a\x1f", r'"\u0001\u000b\u000e\u001a\u001f"'),
        ("\x7f", '"\x7f"'),
        ("\x80\x9f\xa0\xff", '"\x80\x9f\xa0\xff"'),
        ("\u2028\u2029", '"\u2028\u2029"'),
        ("\ufeff\ufffd\uffff", '"\ufeff\ufffd\uffff"'),
        (
            "caf\xe9 \u65e5\u672c \U0001f680 \U0010ffff",
            '"caf\xe9 \u65e5\u672c \U0001f680 \U0010ffff"',
        ),
        ("</script>", '"</script>"'),
    ],
)
def test_to_json_escapes_strings_as_serde_json(value: str, expected: str) -> None:
    assert to_json(value) == expected


_SERDE_SHORT_ESCAPES = {
    0x08: "b",
    0x09: "t",
    0x0A: "n",
    0x0C: "f",
    0x0D: "r",
    0x22: '"',
    0x5C: "\\",
}


def _serde_escape(char: str) -> str:
    """serde_json's ``ESCAPE`` table (``src/ser.rs``) for one character."""
    code = ord(char)
    if code in _SERDE_SHORT_ESCAPES:
        return "\\" + _SERDE_SHORT_ESCAPES[code]
    if code < 0x20:
        return f"\\u{code:04x}"
    return char


def test_to_json_escapes_every_ascii_character_as_serde_json() -> None:
    for code in range(0x80):
        char = chr(code)
        assert to_json(char) == '"' + _serde_escape(char) + '"', hex(code)
        assert to_json(f"a{char}b") == '"a' + _serde_escape(char) + 'b"', hex(code)


def test_to_json_copies_every_non_ascii_code_point_unchanged() -> None:
    every = "".join(chr(code) for code in range(0x80, 0x110000) if not 0xD800 <= code <= 0xDFFF)
    assert to_json(every) == '"' + every + '"'


def test_to_json_copies_a_lone_surrogate_unchanged() -> None:
    # A Rust String cannot hold one; json.encoder.encode_basestring passes it through.
    assert to_json("a\ud800b") == '"a\ud800b"'
    assert to_json("\udfff") == '"\udfff"'


def test_to_json_renders_str_subclasses_by_content() -> None:
    class Colour(enum.StrEnum):
        RED = "r\u00e9d\n"

    assert to_json(Colour.RED) == r'"r' + "\u00e9" + r'd\n"'
    assert to_json([SpanKind.LLM_CALL]) == '["llm_call"]'
    assert to_json({"kind": SpanKind.LLM_CALL}) == '{"kind":"llm_call"}'


# --- to_json: other values --------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-42, "-42"),
        (9223372036854775807, "9223372036854775807"),
        (18446744073709551615, "18446744073709551615"),
        ([True, 1, 1.0], "[true,1,1.0]"),
        ([], "[]"),
        ({}, "{}"),
        ([1, 2], "[1,2]"),
        ((1, "a"), '[1,"a"]'),
        ({"a": 1}, '{"a":1}'),
        ({"a": [1, {"b": None}], "c": "d"}, '{"a":[1,{"b":null}],"c":"d"}'),
        ([[], {}, [{}]], "[[],{},[{}]]"),
        ({'k"\n': "v"}, r'{"k\"\n":"v"}'),
    ],
)
def test_to_json_renders_compact_json(value: object, expected: str) -> None:
    assert to_json(value) == expected


def test_to_json_renders_bools_as_bools_not_ints() -> None:
    assert to_json(True) == "true"
    assert to_json([False, 0]) == "[false,0]"
    assert to_json({"ok": True}) == '{"ok":true}'


def test_to_json_renders_int_subclasses_by_value() -> None:
    class Level(enum.IntEnum):
        HIGH = 3

    assert to_json(Level.HIGH) == "3"
    assert to_json([Level.HIGH]) == "[3]"


def test_to_json_keeps_nested_object_keys_in_insertion_order() -> None:
    value = {"zeta": 1, "alpha": {"z": None, "a": [True, False]}, "mid": "x"}
    assert to_json(value) == '{"zeta":1,"alpha":{"z":null,"a":[true,false]},"mid":"x"}'


def test_to_json_rejects_non_str_keys() -> None:
    with pytest.raises(TypeError) as info:
        to_json({1: "one"})
    assert str(info.value) == (
        "to_json: object keys must be str, got int key 1; convert the keys with str() first"
    )


def test_to_json_rejects_values_that_are_not_json() -> None:
    with pytest.raises(TypeError) as info:
        to_json({"when": {1, 2}})
    assert str(info.value) == (
        "to_json: cannot render set value {1, 2} as JSON; use None, bool, int, float, str, "
        "or a list, tuple or dict of those"
    )


def test_to_json_rejects_a_container_that_holds_itself() -> None:
    loop: list[object] = [1]
    loop.append(loop)
    with pytest.raises(ValueError) as info:
        to_json({"a": loop})
    assert str(info.value) == (
        "to_json: circular reference, a container holds itself; JSON values must be trees"
    )


def test_to_json_allows_the_same_container_twice_side_by_side() -> None:
    shared = [1]
    assert to_json([shared, shared, {"x": shared}]) == '[[1],[1],{"x":[1]}]'


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=20,
)


def _same_json(left: object, right: object) -> bool:
    """Equal values, with dict keys in the same order and floats of the same sign."""
    if isinstance(left, dict) and isinstance(right, dict):
        return list(left) == list(right) and all(_same_json(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same_json, left, right))
    if isinstance(left, float) and isinstance(right, float):
        return left == right and math.copysign(1.0, left) == math.copysign(1.0, right)
    return type(left) is type(right) and left == right


def _holds_float(value: object) -> bool:
    if isinstance(value, dict):
        return any(map(_holds_float, value.values()))
    if isinstance(value, list):
        return any(map(_holds_float, value))
    return isinstance(value, float)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_to_json_output_reads_back_as_the_same_value(value: object) -> None:
    text = to_json(value)
    assert _same_json(json.loads(text), value)
    if not _holds_float(value):  # Python's json prints floats differently (1e-06, 1e+16)
        assert text == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- golden vectors from the real serde_json ----------------------------------


def _vectors() -> dict[str, list[list[str]]]:
    data: dict[str, list[list[str]]] = json.loads(VECTORS.read_text())
    return data


def test_to_json_matches_serde_json_for_every_float_vector() -> None:
    vectors = _vectors()["floats"]
    assert len(vectors) > 4000
    mismatches = [
        (hex_value, expected, to_json(float.fromhex(hex_value)))
        for hex_value, expected in vectors
        if to_json(float.fromhex(hex_value)) != expected
    ]
    assert mismatches == []


def test_to_json_matches_serde_json_for_every_string_vector() -> None:
    mismatches = [
        (text, expected, to_json(text))
        for text, expected in _vectors()["strings"]
        if to_json(text) != expected
    ]
    assert mismatches == []


def test_to_json_matches_serde_json_for_every_value_vector() -> None:
    mismatches = [
        (text, expected, to_json(json.loads(text)))
        for text, expected in _vectors()["values"]
        if to_json(json.loads(text)) != expected
    ]
    assert mismatches == []


def test_format_summary_renders_metadata_as_harn_for_every_vector() -> None:
    for text, expected in _vectors()["metadata"]:
        span = make_span(1, None, "s", 3, SpanKind.STEP, json.loads(text))
        assert format_summary([span]) == f"Trace: 1 spans, 3ms total\n\nstep s 3ms{expected}"


# --- format_summary ---------------------------------------------------------


def test_format_summary_without_spans_says_so() -> None:
    assert format_summary([]) == "No spans recorded."
    assert format_summary(()) == "No spans recorded."
    assert format_summary(iter([])) == "No spans recorded."
    assert format_summary([], durations=False) == "No spans recorded."


def test_format_summary_draws_one_span() -> None:
    spans = [make_span(1, None, "main", 12, SpanKind.PIPELINE)]
    assert format_summary(spans) == "Trace: 1 spans, 12ms total\n\npipeline main 12ms"


def test_format_summary_nests_children_two_spaces_per_level_with_metadata() -> None:
    spans = [  # completion order: children end before their parents
        make_span(2, 1, "load", 30, SpanKind.FN_CALL, {"path": "a.txt", "bytes": 12}),
        make_span(4, 3, "search", 20, SpanKind.TOOL_CALL),
        make_span(
            3,
            1,
            "ask",
            50,
            SpanKind.LLM_CALL,
            {
                "model": "gpt-4o",
                "cost_usd": 0.0125,
                "ok": True,
                "tags": ["a", "b"],
                "extra": {"z": 1, "a": 2},
                "none": None,
                "tiny": 1e-7,
            },
        ),
        make_span(1, None, "main", 100, SpanKind.PIPELINE),
    ]
    assert format_summary(spans) == (
        "Trace: 4 spans, 100ms total\n"
        "\n"
        "pipeline main 100ms\n"
        '  fn_call load 30ms (bytes=12, path="a.txt")\n'
        '  llm_call ask 50ms (cost_usd=0.0125, extra={"z":1,"a":2}, model="gpt-4o", '
        'none=null, ok=true, tags=["a","b"], tiny=1e-7)\n'
        "    tool_call search 20ms"
    )


def test_format_summary_header_totals_only_root_durations() -> None:
    spans = [
        make_span(2, 1, "child", 40),
        make_span(1, None, "first", 50),
        make_span(3, None, "second", 7),
        make_span(5, 99, "orphan", 1000),
    ]
    assert format_summary(spans).split("\n")[0] == "Trace: 4 spans, 57ms total"


def test_format_summary_draws_roots_and_siblings_in_completion_order() -> None:
    spans = [
        make_span(5, 4, "late-start-first-end", 1),
        make_span(4, None, "second-root", 2),
        make_span(3, 1, "b", 3),
        make_span(2, 1, "a", 4),
        make_span(1, None, "first-root", 5),
    ]
    assert format_summary(spans) == (
        "Trace: 5 spans, 7ms total\n"
        "\n"
        "fn_call second-root 2ms\n"
        "  fn_call late-start-first-end 1ms\n"
        "fn_call first-root 5ms\n"
        "  fn_call b 3ms\n"
        "  fn_call a 4ms"
    )


def test_format_summary_counts_but_does_not_draw_unreachable_spans() -> None:
    spans = [
        make_span(7, 6, "grandchild-of-missing", 1),
        make_span(6, 99, "child-of-missing", 2),
        make_span(1, None, "root", 3),
    ]
    assert format_summary(spans) == "Trace: 3 spans, 3ms total\n\nfn_call root 3ms"


def test_format_summary_with_only_unreachable_spans_ends_with_the_blank_line() -> None:
    # Harn joins [header, ""] with "\n": the same trailing newline.
    assert format_summary([make_span(2, 1, "orphan", 5)]) == "Trace: 1 spans, 0ms total\n"


def test_format_summary_without_durations_prints_no_times() -> None:
    spans = [
        make_span(2, 1, "load", 30, SpanKind.FN_CALL, {"n": 1}),
        make_span(1, None, "main", 100, SpanKind.PIPELINE),
    ]
    assert format_summary(spans, durations=False) == (
        "Trace: 2 spans\n\npipeline main\n  fn_call load (n=1)"
    )


def test_format_summary_sorts_metadata_keys_by_code_point() -> None:
    metadata = {"\u00e9": 1, "e": 2, "E": 3, "_": 4, "~": 5, "10": 6, "9": 7, "\U0001f600": 8}
    spans = [make_span(1, None, "m", 0, SpanKind.STEP, metadata)]
    assert format_summary(spans).split("\n")[-1] == (
        "step m 0ms (10=6, 9=7, E=3, _=4, e=2, ~=5, \u00e9=1, \U0001f600=8)"
    )


def test_format_summary_prints_metadata_keys_raw_and_values_as_json() -> None:
    spans = [make_span(1, None, "m", 0, SpanKind.STEP, {'a "k"': 'v "q"', "n": -0.0})]
    assert format_summary(spans).split("\n")[-1] == r'step m 0ms (a "k"="v \"q\"", n=-0.0)'


def test_format_summary_accepts_any_iterable_of_spans() -> None:
    spans = [make_span(2, 1, "c", 1), make_span(1, None, "r", 2)]
    expected = "Trace: 2 spans, 2ms total\n\nfn_call r 2ms\n  fn_call c 1ms"
    assert format_summary(iter(spans)) == expected
    assert format_summary(tuple(spans)) == expected
    assert format_summary(span for span in spans) == expected


def test_format_summary_prints_every_kind_by_its_wire_name() -> None:
    spans = [make_span(i, None, "x", 0, kind) for i, kind in enumerate(SpanKind)]
    lines = format_summary(spans, durations=False).split("\n")[2:]
    assert lines == [f"{kind.value} x" for kind in SpanKind]


def test_format_summary_walks_a_chain_deeper_than_the_recursion_limit() -> None:
    # A chain D deep prints ~D**2 characters of indent, so 5_000 (25 MB), not 100_000 (10 GB).
    depth = 5_000
    assert depth > sys.getrecursionlimit()
    spans = [make_span(i + 1, i or None, f"s{i}", 1) for i in reversed(range(depth))]
    summary = format_summary(spans)
    lines = summary.split("\n")
    assert len(lines) == depth + 2
    assert lines[0] == f"Trace: {depth} spans, 1ms total"
    assert lines[2] == "fn_call s0 1ms"
    assert lines[3] == "  fn_call s1 1ms"
    assert lines[-1] == "  " * (depth - 1) + f"fn_call s{depth - 1} 1ms"


def test_format_summary_draws_every_span_whose_parent_id_matches_like_harn() -> None:
    # Two collectors' spans mixed: both roots have id 1, so both draw the child of 1.
    spans = [
        make_span(1, None, "root-a", 1),
        make_span(2, 1, "child", 2),
        make_span(1, None, "root-b", 3),
    ]
    assert format_summary(spans) == (
        "Trace: 3 spans, 4ms total\n"
        "\n"
        "fn_call root-a 1ms\n"
        "  fn_call child 2ms\n"
        "fn_call root-b 3ms\n"
        "  fn_call child 2ms"
    )


def test_format_summary_stops_at_a_repeated_id_instead_of_looping() -> None:
    # Harn loops forever here: 1 -> 2 -> (another) 1 -> 2 -> ...
    spans = [
        make_span(1, None, "root", 1),
        make_span(2, 1, "child", 2),
        make_span(1, 2, "other-collectors-1", 3),
    ]
    assert format_summary(spans) == (
        "Trace: 3 spans, 1ms total\n"
        "\n"
        "fn_call root 1ms\n"
        "  fn_call child 2ms\n"
        "    fn_call other-collectors-1 3ms"
    )


def test_format_summary_stops_at_a_span_that_is_its_own_parent() -> None:
    spans = [make_span(5, None, "root", 1), make_span(5, 5, "self", 2)]
    assert format_summary(spans, durations=False) == (
        "Trace: 2 spans\n\nfn_call root\n  fn_call self"
    )


def _seed_summary(spans: list[Span], durations: bool = True) -> str:
    """Harn's quadratic, recursive format_summary, plus the ancestry guard."""
    if not spans:
        return "No spans recorded."
    total = sum(span.duration_ms for span in spans if span.parent_id is None)
    lines = [
        f"Trace: {len(spans)} spans, {total}ms total"
        if durations
        else f"Trace: {len(spans)} spans",
        "",
    ]

    def print_tree(parent_id: int | None, depth: int, path: frozenset[int]) -> None:
        for span in [span for span in spans if span.parent_id == parent_id]:
            meta = ""
            if span.metadata:
                parts = [f"{key}={to_json(value)}" for key, value in sorted(span.metadata.items())]
                meta = f" ({', '.join(parts)})"
            time = f" {span.duration_ms}ms" if durations else ""
            lines.append(f"{'  ' * depth}{span.kind.value} {span.name}{time}{meta}")
            if span.span_id not in path:
                print_tree(span.span_id, depth + 1, path | {span.span_id})

    print_tree(None, 0, frozenset())
    return "\n".join(lines)


scalar_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=4)
    | st.lists(st.integers(), max_size=2)
)
span_lists = st.lists(
    st.builds(
        make_span,
        span_id=st.integers(1, 6),
        parent_id=st.none() | st.integers(1, 7),
        name=st.text(max_size=3),
        duration_ms=st.integers(0, 1000),
        kind=st.sampled_from(SpanKind),
        metadata=st.dictionaries(st.text(max_size=3), scalar_values, max_size=3),
    ),
    max_size=9,
)


@settings(max_examples=200, deadline=None)
@given(span_lists, st.booleans())
def test_format_summary_matches_a_port_of_harns_recursive_walk(
    spans: list[Span], durations: bool
) -> None:
    assert format_summary(spans, durations=durations) == _seed_summary(spans, durations)


def test_format_summary_of_something_that_is_not_spans_is_a_type_error():
    with pytest.raises(TypeError) as info:
        format_summary([{"name": "x"}])
    assert str(info.value) == (
        "format_summary expects Span objects (as trace.spans or peek_spans() give), got dict"
    )

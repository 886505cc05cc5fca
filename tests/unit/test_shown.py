"""``shown``: how an error message draws a user's value, whatever its depth, size or repr."""

from __future__ import annotations

from pytest_harn_trace.tracing.shown import MAX_LENGTH, shown
from tests.unit.test_hostile_values import DEEP, nested


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr today")


class DeepRepr:
    def __repr__(self) -> str:
        return repr(DEEP)


def test_plain_values_are_shown_as_repr_shows_them():
    assert [shown(value) for value in (1, "hi", None, 2.5, [1, "a"], {"k": (1,)})] == [
        "1",
        "'hi'",
        "None",
        "2.5",
        "[1, 'a']",
        "{'k': (1,)}",
    ]


def test_deep_containers_stop_after_four_levels():
    assert shown(DEEP) == "[[[[[...]]]]]"
    assert shown(nested(3)) == "[[[]]]"
    looped: list[object] = []
    looped.append(looped)
    assert shown(looped) == "[[[[[...]]]]]"


def test_long_values_are_cut_in_the_middle():
    assert shown("x" * 1_000) == "'" + "x" * 57 + "..." + "x" * 58 + "'"
    assert shown(list(range(100))) == "[0, 1, 2, 3, 4, 5, ...]"
    assert len(shown([["y" * 100] * 6] * 6)) <= MAX_LENGTH


def test_a_huge_int_is_named_by_its_size():
    assert shown(10**5000) == "<int of 16610 bits>"


def test_an_object_whose_repr_fails_or_recurses_is_named_by_its_type():
    assert shown(BrokenRepr()) == "<BrokenRepr object>"
    assert shown(DeepRepr()) == "<DeepRepr object>"

"""Realtime query objects (rtdb-websocket.md §4): parsing, windows, what the rules see."""

from __future__ import annotations

from typing import Any

import pytest

from focuscli.server import tree
from focuscli.server.realtime import queries

DATA = tree.normalize({
    "a": {"v": 1}, "b": {"v": 2}, "c": {"v": 2}, "d": {"v": 3}, "e": {"w": 9},
    "p1": {".value": "x", ".priority": 1}, "p2": {".value": "y", ".priority": "s"},
})  # fmt: skip


def keys(raw: dict[str, Any], data: Any = DATA) -> list[str] | None:
    result = queries.parse(raw).window(data)
    return None if result is None else sorted(result, key=tree.key_order)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"sp": 2, "sn": "[MAX_NAME]", "sin": False, "i": "v"}, ["d"]),  # startAfter(2)
        ({"sp": 2, "sn": "b", "sin": False, "i": "v"}, ["c", "d"]),  # startAfter(2, 'b')
        ({"ep": 2, "en": "[MIN_NAME]", "ein": False, "i": "v"}, ["a", "e", "p1", "p2"]),  # endBefore(2)
        ({"sp": 2, "sn": "b", "ep": 2, "en": "b", "i": "v"}, ["b"]),  # equalTo(2, 'b')
        ({"sp": 2, "ep": 2, "i": "v"}, ["b", "c"]),  # equalTo(2)
        ({"sp": None, "ep": None, "i": "v"}, ["e", "p1", "p2"]),  # equalTo(null): lacking v
        ({"l": 2, "vf": "l", "i": "v"}, ["e", "p1"]),  # nulls first, then by key
        ({"l": 2, "vf": "r", "i": "v"}, ["c", "d"]),
        ({"sp": "b", "sin": False, "ep": "d", "ein": False, "i": ".key"}, ["c"]),
        ({"sp": 1, "ep": 1}, ["p1"]),  # priority index (no i)
        ({"l": 1, "vf": "r"}, ["p2"]),  # string priorities sort last
        ({"sp": "x", "sin": True, "i": ".value"}, ["a", "b", "c", "d", "e", "p1", "p2"]),  # objects last
        ({"sp": "x", "ep": "x", "i": ".value"}, ["p1"]),
        ({"l": 5, "vf": "l", "i": "v"}, ["a", "b", "e", "p1", "p2"]),
    ],
)
def test_windows(raw: dict[str, Any], expected: list[str]) -> None:
    assert keys(raw) == expected


def test_a_bare_index_is_the_whole_location_and_a_narrowed_primitive_is_null() -> None:
    assert queries.parse({"i": "v"}).window("text") == "text"
    assert queries.parse({"l": 1, "vf": "l"}).window("text") is None
    assert queries.parse({"sp": 100, "i": "v"}).window(DATA) is None
    assert queries.parse({"l": 2, "vf": "l"}).window(None) is None


@pytest.mark.parametrize(
    ("raw", "params"),
    [
        ({}, None),
        ({"i": "owner"}, {"orderBy": '"owner"'}),
        ({"sp": "u1", "ep": "u1", "i": "owner"}, {"orderBy": '"owner"', "equalTo": '"u1"'}),
        ({"sp": 1, "sn": "k", "ep": 1, "en": "k", "i": ".value"}, {"orderBy": '"$value"', "equalTo": "1"}),
        ({"sp": 1, "ep": 5, "i": ".key"} | {"sp": "a", "ep": "b"}, {"orderBy": '"$key"', "startAt": '"a"', "endAt": '"b"'}),
        ({"sp": 3, "sin": False, "l": 10, "vf": "r"}, {"orderBy": '"$priority"', "startAfter": "3", "limitToLast": "10"}),
        ({"l": 1000, "vf": "l", "i": ".key"}, {"orderBy": '"$key"', "limitToFirst": "1000"}),
    ],
)
def test_what_the_rules_see(raw: dict[str, Any], params: dict[str, str] | None) -> None:
    assert queries.parse(raw).rule_params() == params


@pytest.mark.parametrize(
    "raw",
    [
        [], {"x": 1}, {"i": 5}, {"i": "a.b"}, {"i": ""}, {"l": 0, "vf": "l"}, {"l": True}, {"l": 1.5},
        {"vf": "l"}, {"l": 1, "vf": "m"}, {"sp": {"a": 1}}, {"sp": 1, "i": ".key"}, {"sn": "a"},
        {"sp": 1, "sin": "yes"}, {"sp": 1, "sn": 5}, {"sp": True},
    ],
)
def test_bad_query_objects_are_refused(raw: Any) -> None:
    with pytest.raises(queries.WireQueryError):
        queries.parse(raw)


def test_the_same_query_has_the_same_key() -> None:
    a = queries.parse({"l": 1, "vf": "l", "i": "v"})
    b = queries.parse({"i": "v", "vf": "l", "l": 1})
    assert a.key == b.key

"""Unit tests for focuscli.server.query: parameter parsing, sort orders, bounds and limits."""

from __future__ import annotations

from typing import Any

import pytest

from focuscli.server import query as q
from focuscli.server import tree
from focuscli.server.query import MISSING, Query, QueryError, parse_query, run_query

# A small data set in the shape of firebase-admin's integration fixture (dinosaurs with
# measurements and nested ratings, plus a "scores" map), with our own numbers.
DINOSAURS: dict[str, Any] = {
    "bruhathkayosaurus": {"appeared": -70, "height": 24, "length": 43, "order": "saurischia",
                          "vanished": -69, "weight": 130000, "ratings": {"pos": 1}},
    "lambeosaurus": {"appeared": -76, "height": 2.2, "length": 12, "order": "ornithischia",
                     "vanished": -75, "weight": 5200, "ratings": {"pos": 2}},
    "linhenykus": {"appeared": -85, "height": 0.6, "length": 1.1, "order": "theropoda",
                   "vanished": -75, "weight": 3, "ratings": {"pos": 3}},
    "pterodactyl": {"appeared": -150, "height": 0.6, "length": 0.9, "order": "pterosauria",
                    "vanished": -148, "weight": 2, "ratings": {"pos": 4}},
    "stegosaurus": {"appeared": -155, "height": 4.5, "length": 9, "order": "ornithischia",
                    "vanished": -150, "weight": 2400, "ratings": {"pos": 5}},
    "triceratops": {"appeared": -68, "height": 3, "length": 8.5, "order": "ornithischia",
                    "vanished": -66, "weight": 10500, "ratings": {"pos": 6}},
}
SCORES = {"bruhathkayosaurus": 50, "lambeosaurus": 20, "linhenykus": 81, "pterodactyl": 92,
          "stegosaurus": 6, "triceratops": 23}


def node(value: Any) -> tree.Node:
    return tree.normalize(value)


def keys(result: tree.Node) -> set[str]:
    return {k for k, _ in tree.children(result)}


def run(data: Any, params: dict[str, str], *, shallow: bool = False) -> tree.Node:
    parsed = parse_query(params, shallow=shallow)
    assert parsed is not None
    return run_query(node(data), parsed)


def order_of(data: Any, order_by: str) -> list[str]:
    """The full order as seen through limits: each limitToFirst=n adds exactly one key."""
    stored = node(data)
    count = len(keys(stored))
    seen: list[str] = []
    for n in range(1, count + 1):
        added = keys(run_query(stored, Query(order_by, limit_first=n))) - set(seen)
        assert len(added) == 1
        seen.append(added.pop())
    for n in range(1, count + 1):  # limitToLast agrees with the same order
        assert keys(run_query(stored, Query(order_by, limit_last=n))) == set(seen[-n:])
    return seen


# ---------------------------------------------------------------------------------------------
# parse_query


def test_no_query_parameters_gives_none() -> None:
    assert parse_query({}) is None
    assert parse_query({"ns": "demo", "print": "pretty", "shallow": "true"}) is None
    assert parse_query({"ns": "demo"}, shallow=True) is None


@pytest.mark.parametrize(
    ("raw", "order_by", "index"),
    [
        ('"$key"', "$key", None),
        ('"$priority"', "$priority", None),
        ('"$value"', "$value", ".value"),
        ('"height"', "height", "height"),
        ('"ratings/pos"', "ratings/pos", "ratings/pos"),
        ('"/ratings//pos/"', "ratings/pos", "ratings/pos"),
        (' "height" ', "height", "height"),
    ],
)
def test_order_by_forms(raw: str, order_by: str, index: str | None) -> None:
    parsed = parse_query({"orderBy": raw, "ns": "x"})
    assert parsed == Query(order_by)
    assert parsed.index_name() == index
    assert not parsed.narrows()


def test_full_query_is_parsed() -> None:
    parsed = parse_query(
        {"orderBy": '"h/w"', "startAt": '"a b"', "endAt": "3.5", "limitToLast": "7", "ns": "n"}
    )
    assert parsed == Query("h/w", start_at="a b", end_at=3.5, limit_last=7)
    assert parsed.start_after is MISSING and parsed.equal_to is MISSING
    assert parsed.limit_first is None
    assert parsed.narrows()


@pytest.mark.parametrize(
    ("raw", "value"),
    [("null", None), ("true", True), ("false", False), ("0", 0), ("-2.5", -2.5),
     ('""', ""), ('"\\ud83d\\ude00"', "\U0001F600"), ("1e3", 1000.0)],
)
def test_bound_values_decode_as_json(raw: str, value: Any) -> None:
    parsed = parse_query({"orderBy": '"$value"', "equalTo": raw})
    assert parsed is not None
    assert parsed.equal_to == value and type(parsed.equal_to) is type(value)


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"limitToFirst": "2"}, q.NO_ORDER_BY),
        ({"equalTo": '"a"', "ns": "x"}, q.NO_ORDER_BY),
        ({"startAfter": '"a"'}, q.NO_ORDER_BY),
        ({"orderBy": "height"}, q.BAD_ORDER_BY),
        ({"orderBy": "%22height%22"}, q.BAD_ORDER_BY),
        ({"orderBy": ""}, q.BAD_ORDER_BY),
        ({"orderBy": "3"}, q.BAD_ORDER_BY),
        ({"orderBy": "null"}, q.BAD_ORDER_BY),
        ({"orderBy": '["height"]'}, q.BAD_ORDER_BY),
        ({"orderBy": '""'}, q.BAD_ORDER_BY),
        ({"orderBy": '"/"'}, q.BAD_ORDER_BY),
        ({"orderBy": '"$foo"'}, q.BAD_ORDER_BY),
        ({"orderBy": '"a.b"'}, q.BAD_ORDER_BY),
        ({"orderBy": '"a/#"'}, q.BAD_ORDER_BY),
        ({"orderBy": '"' + "/x" * 33 + '"'}, q.BAD_ORDER_BY),
        ({"orderBy": '"$key"', "startAt": "0"}, q.BAD_KEY_BOUND),
        ({"orderBy": '"$key"', "endAt": "true"}, q.BAD_KEY_BOUND),
        ({"orderBy": '"$key"', "equalTo": "null"}, q.BAD_KEY_BOUND),
        ({"orderBy": '"$key"', "startAfter": "1.5"}, q.BAD_KEY_BOUND),
        ({"orderBy": '"$key"', "endBefore": "false"}, q.BAD_KEY_BOUND),
        ({"orderBy": '"$priority"', "startAt": "true"}, q.BAD_PRIORITY_BOUND),
        ({"orderBy": '"$key"', "limitToFirst": "1", "limitToLast": "1"}, q.BOTH_LIMITS),
        ({"orderBy": '"$key"', "limitToFirst": "0"}, "limitToFirst must be positive"),
        ({"orderBy": '"$key"', "limitToLast": "-3"}, "limitToLast must be positive"),
        ({"orderBy": '"$key"', "limitToFirst": "two"}, "limitToFirst must be an integer"),
        ({"orderBy": '"$key"', "limitToFirst": "2.5"}, "limitToFirst must be an integer"),
        ({"orderBy": '"$key"', "limitToFirst": "2.0"}, "limitToFirst must be an integer"),
        ({"orderBy": '"$key"', "limitToLast": '"2"'}, "limitToLast must be an integer"),
        ({"orderBy": '"$key"', "limitToLast": "true"}, "limitToLast must be an integer"),
        ({"orderBy": '"$key"', "limitToLast": ""}, "limitToLast must be an integer"),
        ({"orderBy": '"h"', "startAt": '{"x": 1}'}, q.NOT_PRIMITIVE),
        ({"orderBy": '"h"', "endAt": "[1]"}, q.NOT_PRIMITIVE),
        ({"orderBy": '"h"', "equalTo": "abc"}, q.NOT_PRIMITIVE),
        ({"orderBy": '"h"', "startAfter": ""}, q.NOT_PRIMITIVE),
        ({"orderBy": '"h"', "endBefore": "NaN"}, q.NOT_PRIMITIVE),
        ({"orderBy": '"h"', "startAt": "-Infinity"}, q.NOT_PRIMITIVE),
        ({"orderBy": '"h"', "startAt": "1e999"}, q.NOT_PRIMITIVE),
        ({"orderBy": '"h"', "startAt": "[" * 100000}, q.NOT_PRIMITIVE),
        ({"orderBy": '"$key"', "startAt": '{"x": 1}'}, q.NOT_PRIMITIVE),
        ({"orderBy": '"h"', "equalTo": "1", "startAt": "0"}, q.EQUAL_TO_COMBINED),
        ({"orderBy": '"h"', "equalTo": "1", "endAt": "2"}, q.EQUAL_TO_COMBINED),
        ({"orderBy": '"h"', "equalTo": "1", "startAfter": "0"}, q.EQUAL_TO_COMBINED),
        ({"orderBy": '"h"', "equalTo": "1", "endBefore": "2"}, q.EQUAL_TO_COMBINED),
        ({"orderBy": '"h"', "startAt": "1", "startAfter": "0"}, q.BOTH_STARTS),
        ({"orderBy": '"h"', "endAt": "1", "endBefore": "2"}, q.BOTH_ENDS),
    ],
)
def test_invalid_queries(params: dict[str, str], text: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_query(params)
    assert str(info.value) == text


def test_error_texts_are_the_production_ones() -> None:
    assert q.NO_ORDER_BY == "orderBy must be defined when other query parameters are defined"
    assert q.BAD_ORDER_BY == "orderBy must be a valid JSON encoded path"
    assert q.BAD_KEY_BOUND == "Provided key index type is invalid, must be string"
    assert issubclass(QueryError, ValueError)


def test_orderby_missing_is_reported_before_other_problems() -> None:
    with pytest.raises(QueryError, match="^orderBy must be defined"):
        parse_query({"limitToFirst": "0", "limitToLast": "x", "startAt": "{"})


@pytest.mark.parametrize("raw", ["null", "1", "-2.5", '"p"'])
def test_priority_bounds_accept_null_numbers_strings(raw: str) -> None:
    assert parse_query({"orderBy": '"$priority"', "startAt": raw}) is not None


@pytest.mark.parametrize("raw", ["null", "true", "1", '"s"'])
def test_child_and_value_bounds_accept_any_primitive(raw: str) -> None:
    assert parse_query({"orderBy": '"a/b"', "endAt": raw}) is not None
    assert parse_query({"orderBy": '"$value"', "endAt": raw}) is not None


# ---------------------------------------------------------------------------------------------
# shallow: implicit key order


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"limitToFirst": "3"}, Query("$key", limit_first=3)),
        ({"limitToFirst": "3", "startAfter": '"b"'}, Query("$key", start_after="b", limit_first=3)),
        ({"limitToFirst": "3", "startAfter": "b"}, Query("$key", start_after="b", limit_first=3)),
        ({"startAfter": "-Nx_1"}, Query("$key", start_after="-Nx_1")),
        ({"startAt": "5"}, Query("$key", start_at="5")),
        ({"endAt": "true"}, Query("$key", end_at="true")),
        ({"equalTo": '"k"'}, Query("$key", equal_to="k")),
    ],
)
def test_shallow_without_order_by_orders_by_key(params: dict[str, str], expected: Query) -> None:
    assert parse_query({"shallow": "true", **params}, shallow=True) == expected


def test_shallow_with_order_by_follows_the_normal_rules() -> None:
    with pytest.raises(QueryError, match="key index type"):
        parse_query({"orderBy": '"$key"', "startAt": "5"}, shallow=True)
    parsed = parse_query({"orderBy": '"height"', "limitToFirst": "1"}, shallow=True)
    assert parsed == Query("height", limit_first=1)
    with pytest.raises(QueryError, match="^Only one of limitToFirst"):
        parse_query({"limitToFirst": "1", "limitToLast": "1"}, shallow=True)


def test_shallow_listing_pages_through_keys() -> None:
    data = {k: {"deep": {"x": 1}} for k in ["c", "a", "10", "b", "2"]}
    first = run(data, {"limitToFirst": "2"}, shallow=True)
    assert tree.shallow(first) == {"2": True, "10": True}
    page = run(data, {"limitToFirst": "2", "startAfter": "10"}, shallow=True)
    assert tree.shallow(page) == {"a": True, "b": True}
    rest = run(data, {"limitToFirst": "2", "startAfter": '"b"'}, shallow=True)
    assert tree.shallow(rest) == {"c": True}
    assert run(data, {"limitToFirst": "2", "startAfter": "c"}, shallow=True) is None


# ---------------------------------------------------------------------------------------------
# key order


def test_key_order() -> None:
    shuffled = ["a", "10", "\uFF5E", "2", "1", "b", "-5", "\U0001F600", "3", "01", "A", "_",
                "2147483648", "-2147483648", "2147483647", "-2147483649", "1a", "0"]
    expected = ["-2147483648", "-5", "0", "1", "01", "2", "3", "10", "2147483647",
                "-2147483649", "1a", "2147483648", "A", "_", "a", "b", "\U0001F600", "\uFF5E"]
    data = {k: True for k in shuffled}
    assert order_of(data, "$key") == expected
    assert order_of(data, "$value") == expected  # equal values: key order breaks the ties
    assert "\U0001F600" > "\uFF5E"  # Python's own order would be wrong here


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"startAt": '"2"', "endAt": '"10"'}, {"2", "3", "10"}),
        ({"startAt": '"a"'}, {"a", "b", "\U0001F600"}),
        ({"startAfter": '"1"', "endBefore": '"3"'}, {"01", "2"}),
        ({"startAt": '"1"', "endAt": '"1"'}, {"1"}),
        ({"equalTo": '"01"'}, {"01"}),
        ({"equalTo": '"zz"'}, set()),
        ({"endBefore": '"-5"'}, set()),
        ({"startAt": '"9"', "endAt": '"a"'}, {"10", "A", "a"}),
        ({"startAfter": '"b"'}, {"\U0001F600"}),
        ({"endAt": '"1"', "limitToLast": "2"}, {"-5", "1"}),
    ],
)
def test_key_bounds(params: dict[str, str], expected: set[str]) -> None:
    data = {k: 1 for k in ["1", "01", "2", "3", "10", "-5", "A", "a", "b", "\U0001F600"]}
    assert keys(run(data, {"orderBy": '"$key"', **params})) == expected


# ---------------------------------------------------------------------------------------------
# value and child order


MIXED = {"o": {"z": 1}, "s": "abc", "s2": "B", "i": 5, "x": -1.5, "t": True, "f": False,
         "p": {".value": 3, ".priority": 1}, "e": "", "big": 2**62, "fl": 3.25}


def test_value_order_by_type_rank() -> None:
    expected = ["f", "t", "x", "p", "fl", "i", "big", "e", "s2", "s", "o"]
    assert order_of(MIXED, "$value") == expected


def test_value_ties_use_key_order() -> None:
    data = {"b": 1, "a": 1, "10": 1, "9": 1, "c": 0, "z": "1", "y": True}
    assert order_of(data, "$value") == ["y", "c", "9", "10", "a", "b", "z"]


def test_strings_compare_by_utf16_code_units() -> None:
    data = {"k1": "\uFF5E", "k2": "\U0001F600", "k3": "\uE000", "k4": "\uD7FF", "k5": "a"}
    assert order_of(data, "$value") == ["k5", "k4", "k2", "k3", "k1"]
    nested = {k: {"n": {"m": v}} for k, v in data.items()}
    assert order_of(nested, "n/m") == ["k5", "k4", "k2", "k3", "k1"]
    result = run(data, {"orderBy": '"$value"', "startAt": '"\\ud83d\\ude00"', "endAt": '"\\ue000"'})
    assert keys(result) == {"k2", "k3"}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"startAt": "3"}, {"p", "fl", "i", "big", "e", "s2", "s", "o"}),
        ({"startAfter": "3"}, {"fl", "i", "big", "e", "s2", "s", "o"}),
        ({"endAt": "3"}, {"f", "t", "x", "p"}),
        ({"endBefore": "3"}, {"f", "t", "x"}),
        ({"equalTo": "3.0"}, {"p"}),
        ({"equalTo": "1"}, set()),  # true is not the number 1
        ({"equalTo": "true"}, {"t"}),
        ({"equalTo": "false"}, {"f"}),
        ({"startAt": "true", "endAt": "0"}, {"t", "x"}),
        ({"startAt": "false", "endBefore": "true"}, {"f"}),
        ({"startAt": "null"}, set(MIXED)),
        ({"endAt": "null"}, set()),
        ({"startAt": '""'}, {"e", "s2", "s", "o"}),
        ({"startAfter": '""'}, {"s2", "s", "o"}),
        ({"endAt": '"zzz"'}, set(MIXED) - {"o"}),
        ({"startAt": "1e300"}, {"e", "s2", "s", "o"}),
        ({"endAt": "-1e300"}, {"f", "t"}),
        ({"startAt": '"B"', "endAt": '"B"'}, {"s2"}),
        ({"startAt": "0", "limitToFirst": "2"}, {"p", "fl"}),
        ({"endAt": '"a"', "limitToLast": "3"}, {"big", "e", "s2"}),
    ],
)
def test_value_bounds_across_types(params: dict[str, str], expected: set[str]) -> None:
    assert keys(run(MIXED, {"orderBy": '"$value"', **params})) == expected


def test_child_path_values() -> None:
    data = {
        "missing": {"other": 1},
        "leaf": 7,  # a primitive child has no child path: null
        "inner": {"h": {"deep": 1}},  # an inner node ranks as an object
        "str": {"h": "x"},
        "num": {"h": 2},
        "num2": {"h": {".value": 1, ".priority": "p"}},
        "bool": {"h": False},
    }
    assert order_of(data, "h") == ["leaf", "missing", "bool", "num2", "num", "str", "inner"]
    assert keys(run(data, {"orderBy": '"h"', "equalTo": "null"})) == {"leaf", "missing"}
    assert keys(run(data, {"orderBy": '"h"', "startAfter": "null"})) == {
        "bool", "num2", "num", "str", "inner"}
    assert keys(run(data, {"orderBy": '"h"', "startAfter": '"x"'})) == {"inner"}
    assert order_of(data, "h/deep") == ["bool", "leaf", "missing", "num", "num2", "str", "inner"]


def test_objects_tie_and_sort_last_by_key() -> None:
    data = {"b": {"v": {"x": 1}}, "a": {"v": {"y": 2}}, "c": {"v": "s"}}
    assert order_of(data, "v") == ["c", "a", "b"]
    assert order_of(data, "$value") == ["a", "b", "c"]


# ---------------------------------------------------------------------------------------------
# priority order


PRIORITIES = {
    "none1": 1,
    "none0": {"x": 1},
    "n10": {".value": "v", ".priority": 10},
    "n2": {"x": 1, ".priority": 2},
    "n2b": {".value": True, ".priority": 2.0},
    "neg": {".value": 0, ".priority": -1.5},
    "sB": {".value": 0, ".priority": "B"},
    "sa": {"x": 2, ".priority": "a"},
    "s10": {".value": 0, ".priority": "10"},
}


def test_priority_order() -> None:
    expected = ["none0", "none1", "neg", "n2", "n2b", "n10", "s10", "sB", "sa"]
    assert order_of(PRIORITIES, "$priority") == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"startAt": "null"}, set(PRIORITIES)),
        ({"endAt": "null"}, {"none0", "none1"}),
        ({"startAfter": "null", "endAt": "2"}, {"neg", "n2", "n2b"}),
        ({"startAt": "2", "endBefore": "10"}, {"n2", "n2b"}),
        ({"startAt": "5"}, {"n10", "s10", "sB", "sa"}),
        ({"startAt": '"a"'}, {"sa"}),
        ({"equalTo": '"10"'}, {"s10"}),
        ({"equalTo": "10"}, {"n10"}),
        ({"endAt": '""', "limitToLast": "1"}, {"n10"}),
    ],
)
def test_priority_bounds(params: dict[str, str], expected: set[str]) -> None:
    assert keys(run(PRIORITIES, {"orderBy": '"$priority"', **params})) == expected


# ---------------------------------------------------------------------------------------------
# the documented examples on the dinosaur data set


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"orderBy": '"height"', "startAt": "3.5"}, {"stegosaurus", "bruhathkayosaurus"}),
        ({"orderBy": '"height"', "equalTo": "0.6"}, {"linhenykus", "pterodactyl"}),
        ({"orderBy": '"height"', "limitToFirst": "2"}, {"linhenykus", "pterodactyl"}),
        ({"orderBy": '"height"', "startAfter": "0.6", "limitToFirst": "1"}, {"lambeosaurus"}),
        ({"orderBy": '"height"', "endBefore": "3"}, {"linhenykus", "pterodactyl", "lambeosaurus"}),
        ({"orderBy": '"height"', "startAt": "2", "endAt": "4.5"},
         {"lambeosaurus", "triceratops", "stegosaurus"}),
        ({"orderBy": '"ratings/pos"', "startAt": "4"},
         {"pterodactyl", "stegosaurus", "triceratops"}),
        ({"orderBy": '"order"', "equalTo": '"ornithischia"', "ns": "demo"},
         {"lambeosaurus", "stegosaurus", "triceratops"}),
        ({"orderBy": '"weight"', "limitToLast": "2"}, {"bruhathkayosaurus", "triceratops"}),
        ({"orderBy": '"vanished"', "equalTo": "-75"}, {"lambeosaurus", "linhenykus"}),
        ({"orderBy": '"$key"', "startAt": '"l"', "endAt": '"p~"'},
         {"lambeosaurus", "linhenykus", "pterodactyl"}),
        ({"orderBy": '"$key"', "limitToLast": "1"}, {"triceratops"}),
    ],
)
def test_dinosaurs(params: dict[str, str], expected: set[str]) -> None:
    assert keys(run(DINOSAURS, params)) == expected


def test_dinosaur_scores_by_value() -> None:
    top = run(SCORES, {"orderBy": '"$value"', "limitToLast": "2"})
    assert tree.render(top) == {"pterodactyl": 92, "linhenykus": 81}
    assert keys(run(SCORES, {"orderBy": '"$value"', "startAt": "50"})) == {
        "bruhathkayosaurus", "linhenykus", "pterodactyl"}


def test_dinosaur_height_order() -> None:
    assert order_of(DINOSAURS, "height") == [
        "linhenykus", "pterodactyl", "lambeosaurus", "triceratops", "stegosaurus",
        "bruhathkayosaurus"]
    assert order_of(DINOSAURS, "ratings/pos")[0] == "bruhathkayosaurus"


# ---------------------------------------------------------------------------------------------
# result shape, primitives, absent data


def test_result_holds_the_surviving_children_unchanged() -> None:
    stored = node(DINOSAURS)
    result = run_query(stored, Query("height", start_at=3.5))
    assert result == {k: stored[k] for k in ("stegosaurus", "bruhathkayosaurus")}
    assert result["stegosaurus"] is stored["stegosaurus"]


def test_unfiltered_query_returns_the_node_itself() -> None:
    stored = node(DINOSAURS)
    assert run_query(stored, Query("height")) is stored
    assert run_query(stored, Query("$key", limit_first=6)) is stored
    assert run_query(stored, Query("height", start_at=None)) is stored


def test_parent_priority_is_kept_and_render_applies_the_array_rule() -> None:
    stored = node({"0": "a", "1": "b", "2": "c", "3": "d", ".priority": 4})
    result = run_query(stored, Query("$key", limit_first=2))
    assert result == {"0": "a", "1": "b", ".priority": 4}
    assert tree.render(result) == ["a", "b"]
    assert tree.render(run_query(stored, Query("$key", start_at="2"))) == [None, None, "c", "d"]
    assert tree.render(run_query(stored, Query("$key", start_at="3"))) == {"3": "d"}


def test_empty_result_is_none() -> None:
    stored = node({"a": 1, ".priority": 3})
    assert run_query(stored, Query("$value", start_at=2)) is None
    assert tree.render(run_query(stored, Query("$value", start_at=2))) is None


@pytest.mark.parametrize("value", [5, "text", False, 0, {".value": 1.5, ".priority": "p"}])
def test_primitive_location(value: Any) -> None:
    stored = node(value)
    assert run_query(stored, Query("$value")) == stored
    assert run_query(stored, Query("$key")) == stored
    assert run_query(stored, Query("a/b")) == stored
    for narrowed in (
        Query("$value", limit_first=1),
        Query("$value", limit_last=5),
        Query("$key", start_at=""),
        Query("$value", end_at=None),
        Query("$value", equal_to=value if type(value) is not dict else 1.5),
        Query("$priority", start_after=None),
        Query("x", end_before="z"),
    ):
        assert run_query(stored, narrowed) is None


def test_absent_location() -> None:
    assert run_query(None, Query("$key")) is None
    assert run_query(None, Query("$value", limit_first=1)) is None


def test_limits_larger_than_the_data() -> None:
    assert keys(run(SCORES, {"orderBy": '"$value"', "limitToFirst": "100"})) == set(SCORES)
    result = run(SCORES, {"orderBy": '"$value"', "endAt": "22", "limitToLast": "10"})
    assert keys(result) == {"lambeosaurus", "stegosaurus"}


def test_limit_after_bounds() -> None:
    result = run(SCORES, {"orderBy": '"$value"', "startAt": "10", "limitToFirst": "2"})
    assert keys(result) == {"lambeosaurus", "triceratops"}
    result = run(SCORES, {"orderBy": '"$value"', "endBefore": "81", "limitToLast": "2"})
    assert keys(result) == {"bruhathkayosaurus", "triceratops"}


def test_many_children() -> None:
    data = {f"k{i}": {"n": (i * 7919) % 1000} for i in range(3000)}
    stored = node(data)
    result = run_query(stored, Query("n", start_at=990, limit_first=5))
    values = sorted((v["n"], tree.key_order(k)) for k, v in result.items())
    assert [v for v, _ in values] == [990, 990, 990, 991, 991]
    assert len(keys(run_query(stored, Query("n", end_before=10)))) == 30


@pytest.mark.parametrize("limit", [1, 3, 10, 40, 99])
def test_ties_at_the_limit_boundary_follow_key_order(limit: int) -> None:
    names = [str(i) for i in range(50)] + [f"k{i:02d}" for i in range(50)]
    data = {name: {"v": 1 if i % 2 else 2} for i, name in enumerate(names)}
    stored = node(data)
    expected = sorted(names, key=lambda k: (data[k]["v"], tree.key_order(k)))
    first = run_query(stored, Query("v", limit_first=limit))
    assert keys(first) == set(expected[:limit])
    last = run_query(stored, Query("v", limit_last=limit))
    assert keys(last) == set(expected[-limit:])
    same = run_query(stored, Query("v", equal_to=2, limit_last=limit))
    assert keys(same) == set([k for k in expected if data[k]["v"] == 2][-limit:])


def test_hand_built_queries_apply_every_constraint() -> None:
    stored = node(SCORES)
    assert run_query(stored, Query("$value", limit_first=0)) is None
    both = run_query(stored, Query("$value", limit_first=4, limit_last=2))
    assert keys(both) == {"triceratops", "bruhathkayosaurus"}
    combined = run_query(stored, Query("$value", equal_to=20, start_at=0, end_before=50))
    assert keys(combined) == {"lambeosaurus"}

"""REST queries (spec §5): sort orders, bounds, limits, errors, shallow.

REST query results are unordered JSON objects (§5.3), so results are compared as dicts/sets and
ORDER is only ever observed through limits (first/last k for every k).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

DINOSAURS: dict[str, Any] = {
    "bruhathkayosaurus": {
        "appeared": -70000000,
        "height": 25,
        "length": 44,
        "order": "saurischia",
        "vanished": -70000000,
        "weight": 135000,
        "ratings": {"pos": 1},
    },
    "lambeosaurus": {
        "appeared": -76000000,
        "height": 2.1,
        "length": 12.5,
        "order": "ornithischia",
        "vanished": -75000000,
        "weight": 5000,
        "ratings": {"pos": 2},
    },
    "linhenykus": {
        "appeared": -85000000,
        "height": 0.6,
        "length": 1,
        "order": "theropoda",
        "vanished": -75000000,
        "weight": 3,
        "ratings": {"pos": 3},
    },
    "pterodactyl": {
        "appeared": -150000000,
        "height": 0.6,
        "length": 0.8,
        "order": "pterosauria",
        "vanished": -148500000,
        "weight": 2,
        "ratings": {"pos": 5},
    },
    "stegosaurus": {
        "appeared": -155000000,
        "height": 4,
        "length": 9,
        "order": "ornithischia",
        "vanished": -150000000,
        "weight": 2500,
        "ratings": {"pos": 4},
    },
    "triceratops": {
        "appeared": -68000000,
        "height": 3,
        "length": 8,
        "order": "ornithischia",
        "vanished": -66000000,
        "weight": 11000,
        "ratings": {"pos": 6},
    },
}
SCORES = {
    "bruhathkayosaurus": 55,
    "lambeosaurus": 21,
    "linhenykus": 80,
    "pterodactyl": 93,
    "stegosaurus": 5,
    "triceratops": 22,
}
DINODB: dict[str, dict[str, Any]] = {"dinosaurs": DINOSAURS, "scores": SCORES}

KEY_SORTED = sorted(DINOSAURS)
HEIGHT_SORTED = [
    "linhenykus",
    "pterodactyl",
    "lambeosaurus",
    "triceratops",
    "stegosaurus",
    "bruhathkayosaurus",
]
SCORE_SORTED = [
    "stegosaurus",
    "lambeosaurus",
    "triceratops",
    "bruhathkayosaurus",
    "linhenykus",
    "pterodactyl",
]

# Index rules for every ordered location used below, so the suite also holds where indexes
# are enforced (§5.4); read/write stay open.
RULES = {
    "rules": {
        ".read": True,
        ".write": True,
        "dinodb": {
            "dinosaurs": {".indexOn": ["height", "ratings/pos", "order", "weight"]},
            "scores": {".indexOn": ".value"},
        },
        "mixed": {".indexOn": ".value"},
        "strs": {".indexOn": ".value"},
        "kids": {".indexOn": "h"},
        "ties": {".indexOn": "h"},
        "prim": {".indexOn": ".value"},
    }
}

NO_ORDER_BY = "orderBy must be defined when other query parameters are defined"
BAD_ORDER_BY = "orderBy must be a valid JSON encoded path"
BAD_KEY_BOUND = "Provided key index type is invalid, must be string"


@pytest.fixture
def dino(rest: Any) -> Any:
    rest.set_rules(RULES)
    assert rest.put("/dinodb.json", DINODB).status_code == 200
    return rest


def query(rest: Any, path: str, **params: Any) -> Any:
    """GET with JSON-encoded query values (limits and shallow bare); returns the response."""
    encoded = {}
    for name, value in params.items():
        if name.startswith("limit") or name in ("shallow", "print", "timeout"):
            encoded[name] = str(value).lower() if isinstance(value, bool) else str(value)
        else:
            encoded[name] = json.dumps(value)
    return rest.get(path, params=encoded)


def result(rest: Any, path: str, **params: Any) -> dict[str, Any] | None:
    """The query result as a dict (an array-rendered result is turned back into its keys)."""
    resp = query(rest, path, **params)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    if isinstance(body, list):
        return {str(i): v for i, v in enumerate(body) if v is not None}
    assert body is None or isinstance(body, dict)
    return body


def pick(data: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    return {k: data[k] for k in keys}


def assert_order(
    rest: Any, path: str, data: dict[str, Any], order: list[str], **params: Any
) -> None:
    """Observe the full order through limitToFirst/limitToLast k for every k."""
    for k in range(1, len(order) + 1):
        assert result(rest, path, limitToFirst=k, **params) == pick(data, order[:k]), k
        assert result(rest, path, limitToLast=k, **params) == pick(data, order[-k:]), k
    assert result(rest, path, limitToFirst=len(order) + 5, **params) == data
    assert result(rest, path, limitToLast=len(order) + 5, **params) == data


# ---------------------------------------------------------------------------------------------
# sort orders


def test_order_by_key(dino: Any) -> None:
    assert_order(dino, "/dinodb/dinosaurs.json", DINOSAURS, KEY_SORTED, orderBy="$key")


def test_order_by_child(dino: Any) -> None:
    assert_order(dino, "/dinodb/dinosaurs.json", DINOSAURS, HEIGHT_SORTED, orderBy="height")


def test_order_by_nested_child(dino: Any) -> None:
    by_pos = sorted(DINOSAURS, key=lambda k: DINOSAURS[k]["ratings"]["pos"])
    assert_order(dino, "/dinodb/dinosaurs.json", DINOSAURS, by_pos, orderBy="ratings/pos")


def test_order_by_value(dino: Any) -> None:
    assert_order(dino, "/dinodb/scores.json", SCORES, SCORE_SORTED, orderBy="$value")


def test_order_by_alone_returns_everything(dino: Any) -> None:
    for order_by in ("$key", "$priority", "height", "ratings/pos"):
        assert result(dino, "/dinodb/dinosaurs.json", orderBy=order_by) == DINOSAURS


INT_KEYS = {
    "-5": "m5",
    "1": "one",
    "2": "two",
    "10": "ten",
    "2147483647": "max",
    "2147483648": "too-big",  # not a 32-bit int: a string key
    "-2147483649": "too-small",
    "10a": "mixed",
    "a": "a",
    "b": "b",
}
INT_KEY_ORDER = [
    "-5",
    "1",
    "2",
    "10",
    "2147483647",
    "-2147483649",
    "10a",
    "2147483648",
    "a",
    "b",
]


def test_integer_like_keys_sort_numerically_first(rest: Any) -> None:
    assert rest.put("/ints.json", INT_KEYS).status_code == 200
    assert_order(rest, "/ints.json", INT_KEYS, INT_KEY_ORDER, orderBy="$key")


def test_key_bounds_use_key_order(rest: Any) -> None:
    assert rest.put("/ints.json", INT_KEYS).status_code == 200
    after_two = INT_KEY_ORDER[INT_KEY_ORDER.index("2") :]
    assert result(rest, "/ints.json", orderBy="$key", startAt="2") == pick(INT_KEYS, after_two)
    assert result(rest, "/ints.json", orderBy="$key", endAt="10") == pick(
        INT_KEYS, ["-5", "1", "2", "10"]
    )


UTF16 = {"a": "a", "z": "z", "\U0001f600": "emoji", "\uff5e": "fullwidth-tilde"}
UTF16_ORDER = ["a", "z", "\U0001f600", "\uff5e"]  # D83D < FF5E in UTF-16 code units


def test_string_keys_compare_by_utf16_code_units(rest: Any) -> None:
    assert rest.put("/strs.json", UTF16).status_code == 200
    assert_order(rest, "/strs.json", UTF16, UTF16_ORDER, orderBy="$key")


def test_string_values_compare_by_utf16_code_units(rest: Any) -> None:
    rest.set_rules(RULES)
    values = {"k1": "\uff5e", "k2": "\U0001f600", "k3": "z", "k4": "a"}
    assert rest.put("/strs.json", values).status_code == 200
    assert_order(rest, "/strs.json", values, ["k4", "k3", "k2", "k1"], orderBy="$value")


MIXED = {
    "a": "x",
    "b": 1,
    "c": True,
    "d": False,
    "e": {"z": 1},
    "f": 0.5,
    "g": "abc",
    "h": 1,
    "i": -3,
    "j": {"a": 0},
}
MIXED_ORDER = ["d", "c", "i", "f", "b", "h", "g", "a", "e", "j"]


def test_value_order_across_types(rest: Any) -> None:
    rest.set_rules(RULES)
    assert rest.put("/mixed.json", MIXED).status_code == 200
    assert_order(rest, "/mixed.json", MIXED, MIXED_ORDER, orderBy="$value")


KIDS = {
    "a": {"h": 3},
    "b": {"other": 1},
    "c": {"h": "s"},
    "d": {"h": False},
    "e": {"h": 1},
    "f": {"h": True},
    "g": {"h": {"deep": 1}},
    "p": 5,
}
KIDS_ORDER = ["b", "p", "d", "f", "e", "a", "c", "g"]


def test_child_order_missing_first_then_by_type(rest: Any) -> None:
    rest.set_rules(RULES)
    assert rest.put("/kids.json", KIDS).status_code == 200
    assert_order(rest, "/kids.json", KIDS, KIDS_ORDER, orderBy="h")


def test_child_order_ties_broken_by_key_order(rest: Any) -> None:
    rest.set_rules(RULES)
    ties = {"10": {"h": 1}, "9": {"h": 1}, "a": {"h": 1}, "B": {"h": 1}, "x": {"h": 0}}
    assert rest.put("/ties.json", ties).status_code == 200
    assert_order(rest, "/ties.json", ties, ["x", "9", "10", "B", "a"], orderBy="h")


PRIORITIZED = {
    "a": {".value": 1, ".priority": 5},
    "b": {".value": 2, ".priority": "x"},
    "c": 3,
    "d": {".value": 4, ".priority": 1},
    "e": {".value": 5, ".priority": "a"},
    "f": {"n": 6, ".priority": 5},
}
PRIORITY_VALUES = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": {"n": 6}}
PRIORITY_ORDER = ["c", "d", "a", "f", "e", "b"]


def test_order_by_priority(rest: Any) -> None:
    assert rest.put("/prio.json", PRIORITIZED).status_code == 200
    assert_order(rest, "/prio.json", PRIORITY_VALUES, PRIORITY_ORDER, orderBy="$priority")


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"startAt": 3}, ["a", "f", "e", "b"]),
        ({"endAt": "m"}, ["c", "d", "a", "f", "e"]),
        ({"equalTo": 5}, ["a", "f"]),
        ({"startAt": 1, "endAt": 5}, ["d", "a", "f"]),
        ({"equalTo": "x"}, ["b"]),
    ],
)
def test_priority_bounds(rest: Any, params: dict[str, Any], keys: list[str]) -> None:
    assert rest.put("/prio.json", PRIORITIZED).status_code == 200
    assert result(rest, "/prio.json", orderBy="$priority", **params) == pick(PRIORITY_VALUES, keys)


# ---------------------------------------------------------------------------------------------
# bounds and limits, including the EMU-CI expectations of §5.3


@pytest.mark.parametrize(
    ("path", "params", "keys"),
    [
        ("dinosaurs", {"orderBy": "height", "startAt": 3.5}, ["stegosaurus", "bruhathkayosaurus"]),
        ("dinosaurs", {"orderBy": "height", "endAt": 3.5}, HEIGHT_SORTED[:4]),
        ("dinosaurs", {"orderBy": "height", "startAt": 2.5, "endAt": 5}, HEIGHT_SORTED[-3:-1]),
        ("dinosaurs", {"orderBy": "height", "equalTo": 0.6}, ["linhenykus", "pterodactyl"]),
        (
            "dinosaurs",
            {"orderBy": "ratings/pos", "startAt": 4},
            ["pterodactyl", "stegosaurus", "triceratops"],
        ),
        ("dinosaurs", {"orderBy": "$key", "limitToFirst": 2}, KEY_SORTED[:2]),
        ("dinosaurs", {"orderBy": "height", "limitToFirst": 2}, HEIGHT_SORTED[:2]),
        ("dinosaurs", {"orderBy": "height", "limitToLast": 2}, HEIGHT_SORTED[-2:]),
        ("dinosaurs", {"orderBy": "height", "limitToFirst": 10}, HEIGHT_SORTED),
        ("dinosaurs", {"orderBy": "height", "limitToLast": 10}, HEIGHT_SORTED),
        ("scores", {"orderBy": "$value", "limitToLast": 2}, ["pterodactyl", "linhenykus"]),
        # more bounds
        ("dinosaurs", {"orderBy": "height", "startAt": 0.6, "endAt": 0.6}, HEIGHT_SORTED[:2]),
        ("dinosaurs", {"orderBy": "height", "startAt": 26}, []),
        ("dinosaurs", {"orderBy": "height", "startAt": "a"}, []),  # strings sort after numbers
        ("dinosaurs", {"orderBy": "height", "endAt": "a"}, HEIGHT_SORTED),
        ("dinosaurs", {"orderBy": "height", "endAt": True}, []),  # booleans sort before numbers
        ("dinosaurs", {"orderBy": "height", "startAt": False}, HEIGHT_SORTED),
        (
            "dinosaurs",
            {"orderBy": "order", "equalTo": "ornithischia"},
            ["lambeosaurus", "stegosaurus", "triceratops"],
        ),
        ("dinosaurs", {"orderBy": "order", "startAt": "t"}, ["linhenykus"]),
        ("dinosaurs", {"orderBy": "$key", "startAt": "l", "endAt": "p"}, KEY_SORTED[1:3]),
        ("dinosaurs", {"orderBy": "$key", "equalTo": "triceratops"}, ["triceratops"]),
        ("dinosaurs", {"orderBy": "$key", "equalTo": "nope"}, []),
        ("dinosaurs", {"orderBy": "$key", "endAt": "c"}, ["bruhathkayosaurus"]),
        ("scores", {"orderBy": "$value", "startAt": 21, "endAt": 55}, SCORE_SORTED[1:4]),
        ("scores", {"orderBy": "$value", "equalTo": 80}, ["linhenykus"]),
        # bounds combined with limits
        ("dinosaurs", {"orderBy": "height", "startAt": 1, "limitToFirst": 2}, HEIGHT_SORTED[2:4]),
        ("dinosaurs", {"orderBy": "height", "endAt": 4, "limitToLast": 2}, HEIGHT_SORTED[3:5]),
        ("dinosaurs", {"orderBy": "height", "equalTo": 0.6, "limitToFirst": 1}, ["linhenykus"]),
        ("dinosaurs", {"orderBy": "height", "equalTo": 0.6, "limitToLast": 1}, ["pterodactyl"]),
        ("dinosaurs", {"orderBy": "$key", "startAt": "m", "limitToFirst": 1}, ["pterodactyl"]),
        ("scores", {"orderBy": "$value", "endAt": 60, "limitToLast": 1}, ["bruhathkayosaurus"]),
    ],
)
def test_bounds_and_limits(dino: Any, path: str, params: dict[str, Any], keys: list[str]) -> None:
    data = DINODB[path]
    got = result(dino, f"/dinodb/{path}.json", **params)
    assert got == (pick(data, keys) if keys else None)


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"orderBy": "$key", "startAfter": "lambeosaurus"}, KEY_SORTED[2:]),
        ({"orderBy": "$key", "endBefore": "linhenykus"}, KEY_SORTED[:2]),
        ({"orderBy": "height", "startAfter": 0.6}, HEIGHT_SORTED[2:]),
        ({"orderBy": "height", "endBefore": 3}, HEIGHT_SORTED[:3]),
        ({"orderBy": "height", "startAfter": 2.1, "endBefore": 25}, HEIGHT_SORTED[3:5]),
        ({"orderBy": "$key", "startAfter": KEY_SORTED[0], "limitToFirst": 2}, KEY_SORTED[1:3]),
    ],
)
def test_exclusive_bounds(dino: Any, params: dict[str, Any], keys: list[str]) -> None:
    # spec §12.16: inferred — startAfter/endBefore are exclusive startAt/endAt
    assert result(dino, "/dinodb/dinosaurs.json", **params) == pick(DINOSAURS, keys)


def test_query_on_absent_location_is_null(dino: Any) -> None:
    assert result(dino, "/nowhere.json", orderBy="$key", limitToFirst=2) is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"orderBy": "$value"}, 42),
        ({"orderBy": "$key"}, 42),
        ({"orderBy": "$value", "limitToFirst": 1}, None),
        ({"orderBy": "$key", "startAt": "a"}, None),
        ({"orderBy": "$value", "equalTo": 42}, None),
    ],
)
def test_query_on_primitive(rest: Any, params: dict[str, Any], expected: Any) -> None:
    # spec §12.17: inferred — orderBy alone returns the primitive, any bound or limit yields null
    rest.set_rules(RULES)
    assert rest.put("/prim.json", 42).status_code == 200
    resp = query(rest, "/prim.json", **params)
    assert resp.status_code == 200
    assert resp.json() == expected


def test_query_result_values_are_whole_children(dino: Any) -> None:
    got = result(dino, "/dinodb.json", orderBy="$key", equalTo="scores")
    assert got == {"scores": SCORES}


def test_child_query_without_index_is_lenient(rest: Any) -> None:
    # spec §12.4: inferred — the emulator does not gate REST queries on .indexOn
    assert rest.put("/open.json", {"a": {"h": 2}, "b": {"h": 1}}).status_code == 200
    assert result(rest, "/open.json", orderBy="h", limitToFirst=1) == {"b": {"h": 1}}
    # both children are objects: ranked together, in key order
    assert result(rest, "/open.json", orderBy="$value", limitToLast=1) == {"b": {"h": 1}}
    assert result(rest, "/open.json", orderBy="$value", limitToFirst=1) == {"a": {"h": 2}}


# ---------------------------------------------------------------------------------------------
# the Admin SDK's raw query strings (§1.6)


def test_sdk_style_unencoded_query_string(dino: Any) -> None:
    resp = dino.get(
        "/dinodb/dinosaurs.json",
        params='endAt=5&limitToFirst=10&orderBy="height"&startAt=2.5',
    )
    assert resp.status_code == 200
    assert resp.json() == pick(DINOSAURS, HEIGHT_SORTED[-3:-1])


def test_query_value_percent_decoding(rest: Any) -> None:
    assert rest.put("/sp.json", {"a b": 1, "ab": 2, "caf\u00e9": 3}).status_code == 200
    resp = rest.get("/sp.json", params='orderBy="$key"&equalTo="a%20b"')
    assert resp.json() == {"a b": 1}
    resp = rest.get("/sp.json", params='orderBy="$key"&equalTo="caf%C3%A9"')
    assert resp.json() == {"caf\u00e9": 3}


def test_query_plus_is_space(rest: Any) -> None:
    # spec §12.7: inferred — "+" in a query string decodes as a space (form semantics)
    assert rest.put("/sp.json", {"a b": 1, "ab": 2}).status_code == 200
    resp = rest.get("/sp.json", params='orderBy="$key"&equalTo="a+b"')
    assert resp.status_code == 200
    assert resp.json() == {"a b": 1}


# ---------------------------------------------------------------------------------------------
# production error texts


def error(resp: Any) -> str:
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    return str(body["error"])


@pytest.mark.parametrize(
    "params",
    [
        {"limitToFirst": "2"},
        {"limitToLast": "2"},
        {"startAt": '"a"'},
        {"endAt": "3"},
        {"equalTo": "1"},
        {"startAfter": '"a"'},
    ],
)
def test_filter_without_order_by(dino: Any, params: dict[str, str]) -> None:
    assert error(dino.get("/dinodb/dinosaurs.json", params=params)) == NO_ORDER_BY


@pytest.mark.parametrize("raw", ["orderBy=height", "orderBy=%2522height%2522", "orderBy=$key"])
def test_order_by_not_json(dino: Any, raw: str) -> None:
    resp = dino.get("/dinodb/dinosaurs.json", params=raw + "&limitToFirst=1")
    assert error(resp) == BAD_ORDER_BY


@pytest.mark.parametrize(
    "params",
    [
        {"startAt": 0},
        {"endAt": 1.5},
        {"equalTo": True},
        {"startAt": "a", "endAt": 3},
    ],
)
def test_key_index_needs_string_bounds(dino: Any, params: dict[str, Any]) -> None:
    assert error(query(dino, "/dinodb/dinosaurs.json", orderBy="$key", **params)) == BAD_KEY_BOUND


@pytest.mark.parametrize(
    "raw",
    [
        'orderBy="height"&limitToFirst=1&limitToLast=1',
        'orderBy="height"&limitToFirst=0',
        'orderBy="height"&limitToLast=-1',
        'orderBy="height"&limitToFirst=abc',
        'orderBy="height"&startAt={"x":1}',
    ],
)
def test_other_invalid_queries_are_400(dino: Any, raw: str) -> None:
    # spec §12.12: inferred — other invalid combinations are 400 with some error text
    error(dino.get("/dinodb/dinosaurs.json", params=raw))


# ---------------------------------------------------------------------------------------------
# shallow (§5.5)


def test_shallow_object(dino: Any) -> None:
    resp = dino.get("/dinodb.json", params={"shallow": "true"})
    assert resp.status_code == 200
    assert resp.json() == {"dinosaurs": True, "scores": True}


def test_shallow_primitive_and_absent(dino: Any) -> None:
    assert dino.get("/dinodb/scores/stegosaurus.json", params={"shallow": "true"}).json() == 5
    assert dino.get("/nothing.json", params={"shallow": "true"}).json() is None


def test_emptiness_probe(rest: Any) -> None:
    probe = {"shallow": "true", "limitToFirst": "1"}
    assert rest.get("/.json", params=probe).json() is None
    assert rest.put("/x.json", {"y": 1}).status_code == 200
    assert rest.get("/.json", params=probe).json() == {"x": True}


def test_shallow_with_bare_limit_is_key_ordered(dino: Any) -> None:
    # firebase-tools listRemote.ts: shallow=true&limitToFirst=N, no orderBy
    for k in range(1, 7):
        resp = dino.get("/dinodb/dinosaurs.json", params={"shallow": "true", "limitToFirst": k})
        assert resp.status_code == 200
        assert resp.json() == dict.fromkeys(KEY_SORTED[:k], True)


def test_shallow_with_start_after(dino: Any) -> None:
    params = {"shallow": "true", "limitToFirst": "2", "startAfter": '"lambeosaurus"'}
    resp = dino.get("/dinodb/dinosaurs.json", params=params)
    assert resp.status_code == 200
    assert resp.json() == {"linhenykus": True, "pterodactyl": True}


def test_shallow_with_start_after_bare_key(dino: Any) -> None:
    # spec §5.5 / §12.16: inferred — firebase-tools listRemote.ts passes the last key it saw
    # unquoted (`startAfter=<key>`), and the listing pages forward through all keys
    seen: list[str] = []
    start_after = None
    for _ in range(10):
        params = {"shallow": "true", "limitToFirst": "4"}
        if start_after:
            params["startAfter"] = start_after
        resp = dino.get("/dinodb/dinosaurs.json", params=params)
        assert resp.status_code == 200
        page = sorted(resp.json() or {})
        if not page:
            break
        seen += page
        start_after = page[-1]
    assert seen == KEY_SORTED


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"orderBy": '"height"', "startAt": "3.5"}, ["stegosaurus", "bruhathkayosaurus"]),
        ({"orderBy": '"$key"', "equalTo": '"triceratops"'}, ["triceratops"]),
        ({"orderBy": '"$key"', "endAt": '"lb"'}, ["bruhathkayosaurus", "lambeosaurus"]),
        ({"orderBy": '"height"', "limitToFirst": "2"}, HEIGHT_SORTED[:2]),
    ],
)
def test_shallow_with_query_like_the_emulator_ui(
    dino: Any, params: dict[str, str], keys: list[str]
) -> None:
    full = {"shallow": "true", "limitToFirst": "50", **params}
    resp = dino.get("/dinodb/dinosaurs.json", params=full)
    assert resp.status_code == 200
    assert resp.json() == dict.fromkeys(keys, True)


def test_ui_silent_probe(dino: Any) -> None:
    resp = dino.get("/dinodb.json", params={"print": "silent", "timeout": "1s"})
    assert resp.status_code == 204
    assert resp.content == b""


@pytest.mark.parametrize("timeout", ["1s", "500ms", "2min", "15min"])
def test_timeout_values_accepted(dino: Any, timeout: str) -> None:
    resp = dino.get("/dinodb/scores.json", params={"timeout": timeout})
    assert resp.status_code == 200
    assert resp.json() == SCORES


@pytest.mark.parametrize("timeout", ["0s", "-1s", "16min", "abc"])
def test_bad_timeout_is_400(dino: Any, timeout: str) -> None:
    # spec §2.8: non-positive or >15min -> 400 (text unknown)
    error(dino.get("/dinodb/scores.json", params={"timeout": timeout}))


# ---------------------------------------------------------------------------------------------
# indexes: a node with many children is queried off a sorted index kept up to date on writes


def test_ranged_queries_on_a_big_node_follow_its_writes(rest: Any) -> None:
    """Enough children for an index (and a read answered off the loop): every answer, before
    and after each kind of write, is what the query asks of the data as it is then."""
    data: dict[str, Any] = {f"r{i:04d}": {"at": (i * 7) % 500, "n": i} for i in range(600)}
    data["r0100"] = {"n": 100}  # no "at": first in child order
    data["r0200"] = {"at": "text", "n": 200}  # strings after numbers

    def check() -> None:
        ats = {k: v.get("at") for k, v in data.items()}
        numbers = sorted((a, k) for k, a in ats.items() if isinstance(a, int))
        in_range = {k: data[k] for a, k in numbers if 40 <= a <= 60}
        assert result(rest, "/big/list.json", orderBy="at", startAt=40, endAt=60) == in_range
        first = [k for _, k in numbers[:5]]
        assert result(rest, "/big/list.json", orderBy="at", startAt=0, limitToFirst=5) == pick(
            data, first
        )
        keys = sorted(data)
        assert result(rest, "/big/list.json", orderBy="$key", limitToLast=3) == pick(
            data, keys[-3:]
        )
        assert result(rest, "/big/list.json", orderBy="$key", startAt="r0590") == pick(
            data, [k for k in keys if k >= "r0590"]
        )
        texts = [k for k in keys if ats[k] == "text"]
        assert result(rest, "/big/list.json", orderBy="at", equalTo="text") == (
            pick(data, texts) or None
        )
        missing = [k for k in keys if ats[k] is None]
        if missing:
            assert result(rest, "/big/list.json", orderBy="at", limitToFirst=len(missing)) == pick(
                data, missing
            )

    rest.set_rules({"rules": {".read": True, ".write": True, "big": {"list": {".indexOn": "at"}}}})
    assert rest.put("/big/list.json", data).status_code == 200
    check()
    data["r0005"] = {"at": 50, "n": 5}
    assert rest.put("/big/list/r0005.json", data["r0005"]).status_code == 200
    check()
    data["r0006"]["at"] = 45
    assert rest.put("/big/list/r0006/at.json", 45).status_code == 200
    check()
    data.update({"r0007": {"at": "text", "n": 7}, "new": {"at": 41}})
    del data["r0008"]
    assert (
        rest.patch(
            "/big/list.json", {"r0007": data["r0007"], "new": data["new"], "r0008": None}
        ).status_code
        == 200
    )
    check()
    del data["r0009"]
    assert rest.delete("/big/list/r0009.json").status_code == 200
    check()
    data = {k: {"at": 50 - v["n"] % 20, "n": v["n"]} for k, v in data.items() if k != "new"}
    assert rest.patch("/big.json", {"list": data}).status_code == 200
    check()

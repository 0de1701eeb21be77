"""The SDKs' node hash (rtdb-websocket.md §5.1): the worked examples and the JS double quirk."""

from __future__ import annotations

import pytest

from focuscli.server import sdkhash, tree


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ({}, ""),
        ("hi", "jrODRP7VX0SYea22x77RsWRrgcQ="),
        (1, "YPVfR2bXt/lcDjiQZ8pOkAd3qkQ="),
        (1.0, "YPVfR2bXt/lcDjiQZ8pOkAd3qkQ="),  # numbers are doubles: 1 and 1.0 alike
        (True, "E5z61QM0lN/U2WsOnusszCTkR8M="),
        ({"b": 2, "a": "x"}, "ZkS++xRhRYR/dcPYMqxWieAPlFk="),
        # the SDK's own `h` for this value, captured on the wire (CAP-A r29)
        ({".priority": 5, "a": 1, "b": "x", "c": {".value": True, ".priority": "p"}}, "R0zrA1XrMCPRhpNgSvOGoDuNTPQ="),
    ],
)
def test_worked_examples(value: object, expected: str) -> None:
    assert sdkhash.js_hash(tree.normalize(value)) == expected


@pytest.mark.parametrize(
    ("number", "js", "ieee"),
    [
        (9007199254740991, "4340000000000000", "433fffffffffffff"),  # 2**53 - 1
        (2**-29, "3e10000000000000", "3e20000000000000"),
        (1.5, "3ff8000000000000", "3ff8000000000000"),
        (-0.0, "8000000000000000", "8000000000000000"),
        (5e-324, "0000000000000001", "0000000000000001"),
        (1.7976931348623157e308, "7fefffffffffffff", "7fefffffffffffff"),
        (-3000000, "c146e36000000000", "c146e36000000000"),
    ],
)
def test_doubles_as_each_sdk_writes_them(number: float, js: str, ieee: str) -> None:
    assert sdkhash.js_double_hex(number) == js
    assert sdkhash.ieee_double_hex(number) == ieee


def test_children_are_hashed_in_priority_order_then_key_order() -> None:
    # none first, then numbers ascending, then strings; ties by key order (integer keys first)
    node = tree.normalize({
        "s": {".value": 1, ".priority": "a"}, "n2": {".value": 1, ".priority": 2},
        "n1": {".value": 1, ".priority": 1}, "10": 1, "9": 1, "z": 1,
    })  # fmt: skip
    leaf = sdkhash.js_hash(1)
    def p(prio: str) -> str:
        return sdkhash.js_hash(tree.normalize({".value": 1, ".priority": prio}))
    text = f":9:{leaf}:10:{leaf}:z:{leaf}:n1:{p(1)}:n2:{p(2)}:s:{p('a')}"  # type: ignore[arg-type]
    assert sdkhash.js_hash(node) == sdkhash._sha1(text)


def test_either_sdks_hash_matches() -> None:
    node = tree.normalize({"big": 9007199254740991})
    assert sdkhash.js_hash(node) != sdkhash.ieee_hash(node)
    assert sdkhash.matches(node, sdkhash.js_hash(node))
    assert sdkhash.matches(node, sdkhash.ieee_hash(node))
    assert not sdkhash.matches(node, sdkhash.js_hash(tree.normalize({"big": 1})))
    assert sdkhash.matches(None, "")

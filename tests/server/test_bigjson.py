"""bigjson encodes exactly as the json module does, whatever the mix of small and big members."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focuscli.server import bigjson

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=40), st.dictionaries(st.text(max_size=4), inner, max_size=40)
    ),
    max_leaves=2000,
)


def compact(value: Any, **kw: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, **kw)


@settings(max_examples=200, deadline=None)
@given(VALUES)
def test_pieces_join_to_the_json_modules_text(value: Any) -> None:
    assert "".join(bigjson.pieces(value)) == compact(value)
    assert bigjson.encode(value) == compact(value).encode("utf-8", "backslashreplace")


def test_big_members_are_walked_and_small_ones_encoded_whole() -> None:
    big = {
        "list": {f"k{i}": {"at": i, "s": "é\ud800", "n": [None, 1.5, True]} for i in range(1000)},
        "x": [1] * 600,
    }
    assert "".join(bigjson.pieces(big)) == compact(big)
    assert "".join(bigjson.pieces({1: "a", None: [2]})) == compact({1: "a", None: [2]})


def test_strict_refuses_nan_as_the_json_module_does() -> None:
    with pytest.raises(ValueError):
        bigjson.encode({"a": [float("nan")]}, strict=True)
    with pytest.raises(ValueError):
        compact({"a": [float("nan")]}, allow_nan=False)

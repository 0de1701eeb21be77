"""Kept encodings (focuscli.server.rendered) give the bytes a fresh render and encode gives, across writes."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from focuscli.server import bigjson, tree
from focuscli.server.rendered import Rendered

KEYS = st.sampled_from(
    ["0", "1", "2", "3", "7", "10", "01", "-1", "a", "B", "é", "\U0001f600", "k"]
)
LEAVES = st.one_of(
    st.booleans(), st.integers(-3, 3), st.sampled_from([0.5, 1e300, -2.5]), st.text(max_size=3)
)
CHILDREN = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.dictionaries(KEYS, inner, min_size=1, max_size=5),
        st.builds(lambda v, p: {".value": v, ".priority": p}, LEAVES, st.integers()),
    ),
    max_leaves=30,
)
NODES = st.dictionaries(KEYS, CHILDREN, min_size=1, max_size=8)


def fresh(node: tree.Node) -> bytes:
    return bigjson.encode(tree.render(node))


@settings(max_examples=300, deadline=None)
@given(
    NODES,
    st.lists(st.tuples(KEYS, st.one_of(st.none(), CHILDREN)), max_size=6),
    st.sampled_from([0, 40, 10**6]),
)
def test_kept_encodings_equal_fresh_ones(
    value: dict[str, Any], writes: list[Any], max_bytes: int
) -> None:
    cache = Rendered(max_bytes=max_bytes)  # 0 and 40: every encoding is soon dropped again
    node = tree.normalize(value)
    assert cache.encode(node) == fresh(node)
    for key, child in writes:
        node = tree.set_at(node, (key,), tree.normalize(child))
        assert cache.encode(node) == fresh(node)
        assert cache.encode(node) == fresh(node)  # now from the kept encodings
        assert cache.size <= max_bytes


def test_primitives_big_children_and_lone_surrogates() -> None:
    cache = Rendered()
    for value in (None, 5, "a\ud800b", {".value": 3, ".priority": 1}):
        node = tree.normalize(value) if value != "a\ud800b" else value
        assert cache.encode(node) == fresh(node)
    big = tree.normalize(
        {"list": {f"k{i}": {"at": i, "s": "\ud800é"} for i in range(300)}, "x": {"y": 1}}
    )
    assert cache.encode(big) == fresh(big) == cache.encode(big)
    dense = tree.normalize({str(i): {"n": i} for i in range(0, 40, 2)})  # rendered as an array
    assert cache.encode(dense) == fresh(dense) == cache.encode(dense)
    assert cache.encode(dense).startswith(b"[{")

"""Indexed queries (focuscli.server.index) answer exactly as the scanning run_query, across writes."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from focuscli.server import tree
from focuscli.server.index import Indexes
from focuscli.server.query import MISSING, Query, run_query

# Keys that exercise key order: 32-bit integers (also negative, zero-padded, past 2**31), and
# strings compared by UTF-16 code units (astral characters sort after U+FFFF's neighbours).
KEYS = st.sampled_from(
    ["0", "1", "2", "10", "01", "-1", "-10", "2147483647", "2147483648", "-2147483649",
     "a", "b", "B", "aa", "at", "z", "é", "\uffff", "\U0001f600", "-", "-a", "1a", " ", "~"]
)  # fmt: skip
NUMBERS = st.one_of(st.integers(-5, 5), st.sampled_from([0.5, -0.5, 2.5, 1e300, -1e300, 3]))
STRINGS = st.sampled_from(["", "a", "b", "ab", "B", "1", "é", "\uffff", "\U0001f600"])
PRIMITIVES = st.one_of(st.none(), st.booleans(), NUMBERS, STRINGS)
PRIORITIES = st.one_of(st.none(), NUMBERS, STRINGS)
ORDERS = st.sampled_from(["$key", "$value", "$priority", "at", "a/b"])


def leaf() -> st.SearchStrategy[Any]:
    """A child as written: a primitive, a primitive with a priority, or an object with (or
    without) the indexed children ``at`` and ``a/b``, of any type, maybe with a priority."""
    value = st.one_of(st.booleans(), NUMBERS, STRINGS)
    with_priority = st.builds(lambda v, p: {".value": v, ".priority": p}, value, PRIORITIES)
    obj = st.fixed_dictionaries(
        {},
        optional={
            "at": st.one_of(
                PRIMITIVES,
                st.just({"x": 1}),
                st.builds(lambda v: {".value": v, ".priority": 1}, value),
            ),
            "a": st.one_of(value, st.fixed_dictionaries({}, optional={"b": PRIMITIVES})),
            "other": value,
            ".priority": PRIORITIES,
        },
    )
    return st.one_of(value, with_priority, obj)


CHILDREN = st.dictionaries(KEYS, leaf(), max_size=12)


@st.composite
def queries(draw: st.DrawFn) -> Query:
    order_by = draw(ORDERS)
    bound = STRINGS if order_by == "$key" else PRIORITIES if order_by == "$priority" else PRIMITIVES

    def maybe(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(st.one_of(st.just(MISSING), strategy))

    kw: dict[str, Any] = {}
    if draw(st.booleans()):
        kw["equal_to"] = maybe(bound)
    else:
        kw["start_at" if draw(st.booleans()) else "start_after"] = maybe(bound)
        kw["end_at" if draw(st.booleans()) else "end_before"] = maybe(bound)
    limit = draw(st.one_of(st.none(), st.integers(1, 14)))
    kw["limit_first" if draw(st.booleans()) else "limit_last"] = limit
    return Query(order_by, **kw)


# A write: ("child", key, value) sets one child (None deletes it); ("deep", key, value) sets
# the child's ``at``; ("node", children) replaces the queried node; ("root", children) the
# tree above it; ("other", value) writes beside it.
WRITES = st.one_of(
    st.tuples(st.just("child"), KEYS, st.one_of(st.none(), leaf())),
    st.tuples(st.just("deep"), KEYS, st.one_of(PRIMITIVES, st.just({"x": 2}))),
    st.tuples(st.just("node"), CHILDREN),
    st.tuples(st.just("root"), CHILDREN),
    st.tuples(st.just("other"), PRIMITIVES),
)
AT: tree.Path = ("sessions", "s1", "list")


def apply(root: tree.Node, write: tuple[Any, ...]) -> tuple[tree.Node, tree.Path]:
    kind = write[0]
    if kind == "child":
        path, value = AT + (write[1],), write[2]
    elif kind == "deep":
        path, value = AT + (write[1], "at"), write[2]
    elif kind == "node":
        path, value = AT, write[1]
    elif kind == "root":
        path, value = AT[:1], {"s1": {"list": write[1]}}
    else:
        path, value = ("sessions", "s2"), write[1]
    return tree.set_at(root, path, tree.normalize(value, path)), path


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    CHILDREN,
    st.lists(
        st.tuples(st.lists(WRITES, max_size=3), st.lists(queries(), min_size=1, max_size=4)),
        max_size=6,
    ),
)
def test_indexed_answers_equal_scanned_answers(children: dict[str, Any], rounds: list[Any]) -> None:
    root = tree.set_at(None, AT, tree.normalize(children, AT))
    indexes = Indexes(min_children=0, limit=3)  # small: indexes are evicted and built again too
    for writes, asked in rounds:
        for write in writes:
            new_root, path = apply(root, write)
            indexes.committed(root, new_root, [path])
            root = new_root
        node = tree.get(root, AT)
        for query in asked:
            assert indexes.run(AT, node, query) == run_query(node, query), query
            if node is not None:
                entries = indexes.get(AT, node, query.order_by)
                assert entries is not None and len(entries.entries) == len(entries.of_key)


@settings(max_examples=100, deadline=None)
@given(CHILDREN, CHILDREN, st.lists(queries(), min_size=1, max_size=4))
def test_an_index_follows_a_node_it_was_not_told_about(
    first: dict[str, Any], second: dict[str, Any], asked: list[Query]
) -> None:
    """A read of an older (or rolled back) tree: the index is brought to that node."""
    old, new = tree.normalize(first), tree.normalize(second)
    indexes = Indexes(min_children=0)
    for query in asked:
        indexes.run(AT, old, query)
        assert indexes.run(AT, new, query) == run_query(new, query)
        assert indexes.run(AT, old, query) == run_query(old, query)


def test_indexes_keep_within_their_budget_of_entries() -> None:
    """The least recently used index goes once the children indexed exceed the budget; the
    answers stay those of a scan."""
    indexes = Indexes(min_children=0, max_entries=10)
    a = tree.normalize({f"k{i}": {"at": i} for i in range(8)})
    b = tree.normalize({f"k{i}": {"at": -i} for i in range(8)})
    query = Query("at", start_at=2, limit_first=3)
    assert indexes.run(("a",), a, query) == run_query(a, query)
    assert indexes.get(("a",), a, "at") is not None
    assert indexes.run(("b",), b, query) == run_query(b, query)
    assert indexes.get(("a",), a, "at") is None  # 16 entries > 10: a's went
    assert indexes.get(("b",), b, "at") is not None  # the newest stays, even past the budget
    assert indexes.run(("a",), a, query) == run_query(a, query)

"""Queries as the realtime protocol sends them: parse the wire object, run it, say it to the rules.

The wire object (rtdb-websocket.md §4.1) bounds by (index value, key) posts, unlike REST's
value-only bounds: ``sp``/``sn``/``sin`` start, ``ep``/``en``/``ein`` end, ``l`` with ``vf``
(``l`` first, ``r`` last) the limit, ``i`` the index (absent: priority). Evaluation mirrors
the JS client's filters, so a window the server sends is the window the client would keep.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from focuscli.server import tree
from focuscli.server.query import priority_rank, value_rank
from focuscli.server.tree import Node

MIN_NAME = "[MIN_NAME]"
MAX_NAME = "[MAX_NAME]"
KEY_INDEX, VALUE_INDEX, PRIORITY_INDEX = ".key", ".value", ".priority"
_KEYS = frozenset({"sp", "sn", "sin", "ep", "en", "ein", "l", "vf", "i"})
_PRIMITIVES = (str, int, float, bool, type(None))


class WireQueryError(ValueError):
    """``str()`` says what is wrong with a query object."""


@dataclass(frozen=True)
class Bound:
    value: Any
    key: str
    inclusive: bool


@dataclass(frozen=True)
class WireQuery:
    """One validated query object; ``raw`` is the object as received (echoed in a revocation)."""

    raw: dict[str, Any]
    index: str
    start: Bound | None
    end: Bound | None
    limit: int | None
    from_end: bool

    @property
    def key(self) -> str:
        """Canonical text of the object: the same query always gives the same key."""
        return json.dumps(self.raw, sort_keys=True, separators=(",", ":"))

    def narrows(self) -> bool:
        """A start, an end or a limit: the client tags such a listen (an ``i`` alone it does not)."""
        return self.start is not None or self.end is not None or self.limit is not None

    def index_name(self) -> str | None:
        """The ``.indexOn`` entry this query would need (None: keys and priorities need none)."""
        if self.index in (KEY_INDEX, PRIORITY_INDEX):
            return None
        return self.index

    def rule_params(self) -> dict[str, str] | None:
        """The query as REST parameters, from which the rules build their ``query`` variable
        (None for the empty object: a plain read)."""
        if not self.raw:
            return None
        order = {KEY_INDEX: "$key", VALUE_INDEX: "$value", PRIORITY_INDEX: "$priority"}
        params = {"orderBy": json.dumps(order.get(self.index, self.index))}
        start, end = self.start, self.end
        if (start is not None and end is not None and start.inclusive and end.inclusive
                and _same(start.value, end.value) and self.raw.get("sn") == self.raw.get("en")):
            params["equalTo"] = json.dumps(start.value)  # equalTo(v[, key]) is sent as both bounds
        else:
            if start is not None:
                params["startAt" if start.inclusive else "startAfter"] = json.dumps(start.value)
            if end is not None:
                params["endAt" if end.inclusive else "endBefore"] = json.dumps(end.value)
        if self.limit is not None:
            params["limitToLast" if self.from_end else "limitToFirst"] = str(self.limit)
        return params

    def window(self, node: Node) -> Node:
        """The children of ``node`` this query keeps (stored form, without the node's priority).

        A bare index returns the location as it is; once a bound or limit is set, a primitive
        (or nothing kept) gives None.
        """
        if not self.narrows():
            return node
        if not tree.has_children(node):
            return None
        post = _poster(self.index)
        start = _bound_post(self.index, self.start, MIN_NAME)
        end = _bound_post(self.index, self.end, MAX_NAME)
        posts = []
        for key, child in tree.children(node):
            p = post(key, child)
            if start is not None and (p < start if self.start.inclusive else p <= start):  # type: ignore[union-attr]
                continue
            if end is not None and (p > end if self.end.inclusive else p >= end):  # type: ignore[union-attr]
                continue
            posts.append((p, key))
        if self.limit is not None and self.limit < len(posts):
            posts.sort()
            posts = posts[-self.limit :] if self.from_end else posts[: self.limit]
        if not posts:
            return None
        return {key: node[key] for _, key in posts}


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _key_rank(key: str) -> tuple[Any, ...]:
    if key == MIN_NAME:
        return (-1,)
    if key == MAX_NAME:
        return (2,)
    return tree.key_order(key)


def _poster(index: str) -> Callable[[str, Node], tuple[Any, ...]]:
    """(index value rank, key rank) of a child, the order the client sorts posts in."""
    if index == KEY_INDEX:
        return lambda key, child: (_key_rank(key),)
    if index == PRIORITY_INDEX:
        return lambda key, child: (priority_rank(tree.priority(child)), _key_rank(key))
    if index == VALUE_INDEX:
        return lambda key, child: (value_rank(tree.leaf_value(child)), _key_rank(key))
    path = tuple(index.split("/"))
    return lambda key, child: (value_rank(tree.leaf_value(tree.get(child, path))), _key_rank(key))


def _bound_post(index: str, bound: Bound | None, default_key: str) -> tuple[Any, ...] | None:
    if bound is None:
        return None
    if index == KEY_INDEX:
        return (_key_rank(bound.value),)
    rank = priority_rank(bound.value) if index == PRIORITY_INDEX else value_rank(bound.value)
    return (rank, _key_rank(bound.key))


def parse(raw: Any) -> WireQuery:
    """Validate a query object; raises WireQueryError."""
    if type(raw) is not dict:
        raise WireQueryError("a query must be an object")
    unknown = set(raw) - _KEYS
    if unknown:
        raise WireQueryError(f"unknown query field {sorted(unknown)[0]!r}")
    index = raw.get("i", PRIORITY_INDEX)
    if type(index) is not str:
        raise WireQueryError("a query's index must be a string")
    if index not in (KEY_INDEX, VALUE_INDEX, PRIORITY_INDEX):
        segments = [s for s in index.split("/") if s]
        if not 0 < len(segments) <= tree.MAX_DEPTH or not all(map(tree.is_valid_key, segments)):
            raise WireQueryError(f"invalid query index {index!r}")
        index = "/".join(segments)
    start = _bound(raw, "sp", "sn", "sin", index, MIN_NAME)
    end = _bound(raw, "ep", "en", "ein", index, MAX_NAME)
    limit = raw.get("l")
    if limit is not None and (type(limit) is not int or limit <= 0):
        raise WireQueryError("a query's limit must be a positive integer")
    view_from = raw.get("vf", "l")
    if view_from not in ("l", "r"):
        raise WireQueryError('a query\'s "vf" must be "l" or "r"')
    if limit is None and "vf" in raw:
        raise WireQueryError('a query\'s "vf" needs a limit')
    return WireQuery(raw, index, start, end, limit, view_from == "r")


def _bound(raw: dict[str, Any], value_name: str, key_name: str, inclusive_name: str,
           index: str, default_key: str) -> Bound | None:  # fmt: skip
    if value_name not in raw:
        if key_name in raw or inclusive_name in raw:
            raise WireQueryError(f'a query\'s "{key_name}" needs "{value_name}"')
        return None
    value = raw[value_name]
    if not isinstance(value, _PRIMITIVES) or (type(value) is float and value != value):
        raise WireQueryError("a query bound must be a string, a number, a boolean or null")
    if index == KEY_INDEX and type(value) is not str:
        raise WireQueryError("a bound on the key index must be a string")
    if index == PRIORITY_INDEX and type(value) is bool:
        raise WireQueryError("a bound on the priority index must be a string, a number or null")
    key = raw.get(key_name, default_key)
    if type(key) is not str:
        raise WireQueryError(f'a query\'s "{key_name}" must be a string')
    inclusive = raw.get(inclusive_name, True)
    if type(inclusive) is not bool:
        raise WireQueryError(f'a query\'s "{inclusive_name}" must be a boolean')
    return Bound(value, key, inclusive)

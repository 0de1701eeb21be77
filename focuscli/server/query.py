"""REST query parameters: parse and validate them, then filter a node's children by them."""

from __future__ import annotations

import bisect
import enum
import heapq
import json
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from focuscli.server import tree

Primitive: TypeAlias = str | int | float | bool | None
SortKey: TypeAlias = tuple[Any, ...]
Entry: TypeAlias = tuple[SortKey, str]  # (index value, key)


class Missing(enum.Enum):
    """Type of the ``MISSING`` sentinel: a bound that was not given (``None`` means JSON null)."""

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = Missing.MISSING
Bound: TypeAlias = Primitive | Missing

KEY, VALUE, PRIORITY = "$key", "$value", "$priority"
_BOUNDS: Final = ("startAt", "endAt", "startAfter", "endBefore", "equalTo")
_LIMITS: Final = ("limitToFirst", "limitToLast")
QUERY_PARAMS: Final = ("orderBy", *_BOUNDS, *_LIMITS)

# Texts reported from production (spec §5.1 / §10).
NO_ORDER_BY = "orderBy must be defined when other query parameters are defined"
BAD_ORDER_BY = "orderBy must be a valid JSON encoded path"
BAD_KEY_BOUND = "Provided key index type is invalid, must be string"
# Texts that clones written against production reproduce (third-party, not first-hand; §12.12),
# as are "limitToFirst must be an integer" and "limitToLast must be positive".
NOT_PRIMITIVE = "Constraint index field must be a JSON primitive"
BOTH_LIMITS = "Only one of limitToFirst and limitToLast may be specified"
EQUAL_TO_COMBINED = (
    "equalTo cannot be specified in addition to startAfter, startAt, endAt, or endBefore"
)
# Our own wording, modelled on the texts above (no source).
BAD_PRIORITY_BOUND = "Provided priority index type is invalid, must be string, number or null"
BOTH_STARTS = "Only one of startAt and startAfter may be specified"
BOTH_ENDS = "Only one of endAt and endBefore may be specified"


class QueryError(ValueError):
    """str(err) is the client-facing error text (HTTP 400)."""


@dataclass(frozen=True)
class Query:
    """A validated query; ``order_by`` is ``$key``, ``$value``, ``$priority`` or a child path."""

    order_by: str
    start_at: Bound = MISSING
    end_at: Bound = MISSING
    start_after: Bound = MISSING
    end_before: Bound = MISSING
    equal_to: Bound = MISSING
    limit_first: int | None = None
    limit_last: int | None = None

    def index_name(self) -> str | None:
        """The ``.indexOn`` entry this query needs: ``.value``, the child path, or None."""
        if self.order_by == VALUE:
            return ".value"
        if self.order_by in (KEY, PRIORITY):
            return None
        return self.order_by

    def narrows(self) -> bool:
        """True when a bound or a limit is set (as opposed to an ``orderBy`` alone)."""
        limited = self.limit_first is not None or self.limit_last is not None
        return limited or any(b is not MISSING for b in self._bounds())

    def _bounds(self) -> tuple[Bound, ...]:
        return (self.start_at, self.end_at, self.start_after, self.end_before, self.equal_to)


# ---------------------------------------------------------------------------------------------
# parsing


def parse_query(params: Mapping[str, str], *, shallow: bool = False) -> Query | None:
    """Build a Query from decoded request parameters; None when none of them is a query one.

    Raises QueryError. With ``shallow`` a query without ``orderBy`` is key-ordered, as the
    listing requests of firebase-tools (``shallow=true&limitToFirst=N&startAfter=<key>``)
    expect; those send the key raw, so a bound that is not a JSON string is taken as the key.
    """
    if not any(name in params for name in QUERY_PARAMS):
        return None
    raw_order = params.get("orderBy")
    implicit_key = raw_order is None
    if raw_order is not None:
        order_by = _parse_order_by(raw_order)
    elif shallow:
        order_by = KEY
    else:
        raise QueryError(NO_ORDER_BY)

    if all(name in params for name in _LIMITS):
        raise QueryError(BOTH_LIMITS)
    first = _parse_limit("limitToFirst", params.get("limitToFirst"))
    last = _parse_limit("limitToLast", params.get("limitToLast"))

    values: dict[str, Bound] = {}
    for name in _BOUNDS:
        raw = params.get(name)
        values[name] = MISSING if raw is None else _parse_bound(raw, implicit_key)
    present = {name for name, value in values.items() if value is not MISSING}
    # Production rejects equalTo next to another bound (see EQUAL_TO_COMBINED), although the
    # Python SDK lets a caller chain equal_to() with start_at(); we follow the server.
    if "equalTo" in present and len(present) > 1:
        raise QueryError(EQUAL_TO_COMBINED)
    if {"startAt", "startAfter"} <= present:
        raise QueryError(BOTH_STARTS)
    if {"endAt", "endBefore"} <= present:
        raise QueryError(BOTH_ENDS)
    for name in present:
        _check_bound_type(order_by, values[name])

    start_at, end_at, start_after, end_before, equal_to = values.values()
    return Query(order_by, start_at, end_at, start_after, end_before, equal_to, first, last)


def _parse_order_by(raw: str) -> str:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise QueryError(BAD_ORDER_BY) from None
    if type(value) is not str:
        raise QueryError(BAD_ORDER_BY)
    if value in (KEY, VALUE, PRIORITY):
        return value
    # A child path: "/" separated keys; empty segments are ignored like in URL paths. An empty
    # path, a key with a forbidden character ("$foo", "a.b") or over-deep path is refused.
    segments = [s for s in value.split("/") if s]
    if not 0 < len(segments) <= tree.MAX_DEPTH or not all(map(tree.is_valid_key, segments)):
        raise QueryError(BAD_ORDER_BY)
    return "/".join(segments)


def _parse_limit(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        value = None
    if type(value) is not int:  # "3.0", "\"3\"", "true" are not limits
        raise QueryError(f"{name} must be an integer")
    if value <= 0:
        raise QueryError(f"{name} must be positive")
    return value


def _reject_constant(text: str) -> Any:
    raise ValueError(text)  # NaN / Infinity are not JSON


def _parse_bound(raw: str, implicit_key: bool) -> Primitive:
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        if implicit_key:
            return raw
        raise QueryError(NOT_PRIMITIVE) from None
    if implicit_key and type(value) is not str:
        return raw
    if type(value) in (dict, list):
        raise QueryError(NOT_PRIMITIVE)
    if type(value) is float and not math.isfinite(value):  # 1e999
        raise QueryError(NOT_PRIMITIVE)
    result: Primitive = value
    return result


def _check_bound_type(order_by: str, value: Bound) -> None:
    if order_by == KEY and type(value) is not str:
        raise QueryError(BAD_KEY_BOUND)
    if order_by == PRIORITY and type(value) not in (str, int, float, type(None)):
        raise QueryError(BAD_PRIORITY_BOUND)


# ---------------------------------------------------------------------------------------------
# ordering: one tuple per child, compared natively (ranks keep mixed types apart)

_NULL: Final = (0, 0)
_FALSE: Final = (1, 0)
_TRUE: Final = (2, 0)
_OBJECT: Final = (5, 0)


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-be", "surrogatepass")


def _value_index(value: tree.Node) -> SortKey:
    """Rank of a primitive (or inner node) in ``$value`` / child order, without the key."""
    kind = type(value)
    if kind is str:
        return (4, _utf16(value))
    if kind is int or kind is float:
        return (3, value)
    if value is None:
        return _NULL
    if kind is bool:
        return _TRUE if value else _FALSE
    return _OBJECT


def _priority_index(prio: Primitive) -> SortKey:
    """Rank of a priority: none first, then numbers ascending, then strings."""
    if prio is None:
        return _NULL
    if type(prio) is str:
        return (2, _utf16(prio))
    return (1, prio)


def _indexer(order_by: str) -> Callable[[str, tree.Node], SortKey]:
    """Index value of a child for every order but $key (whose index is the key order)."""
    if order_by == PRIORITY:
        return lambda key, child: _priority_index(tree.priority(child))
    if order_by == VALUE:
        return lambda key, child: _value_index(tree.leaf_value(child))
    path = tuple(order_by.split("/"))
    if len(path) == 1:
        name = path[0]

        def one_level(key: str, child: tree.Node) -> SortKey:  # the common case, inlined
            if type(child) is not dict:
                return _NULL
            value = child.get(name)
            if type(value) is dict:
                value = value.get(tree.VALUE, value)
            return _value_index(value)

        return one_level
    return lambda key, child: _value_index(tree.leaf_value(tree.get(child, path)))


def _bound_index(order_by: str, value: Primitive) -> SortKey:
    if order_by == KEY:
        return tree.key_order(str(value))
    if order_by == PRIORITY:
        return _priority_index(value)
    return _value_index(value)


_INDEX_OF: Final = operator.itemgetter(0)


def _take(entries: list[Entry], count: int, *, from_end: bool) -> list[Entry]:
    """The ``count`` smallest (or largest) entries by (index value, key order), unsorted.

    Entries are ranked on the index value alone, which is cheap; key order is only computed
    for the children that tie with the boundary value, since only they compete for the
    remaining places. A heap is used for limits that are small next to the data.
    """
    if count <= 0:
        return []
    if count * 10 <= len(entries):
        pick = heapq.nlargest if from_end else heapq.nsmallest
        chosen = pick(count, entries, key=_INDEX_OF)
    else:
        ordered = sorted(entries, key=_INDEX_OF, reverse=from_end)
        chosen = ordered[:count]
    boundary = chosen[-1][0]
    inside = [e for e in chosen if e[0] != boundary]
    room = count - len(inside)
    tied = [key for idx, key in entries if idx == boundary]
    if len(tied) > room:
        if room * 10 <= len(tied):
            tied = (heapq.nlargest if from_end else heapq.nsmallest)(room, tied, key=tree.key_order)
        else:
            tied.sort(key=tree.key_order)
            tied = tied[-room:] if from_end else tied[:room]
    return inside + [(boundary, key) for key in tied]


# ---------------------------------------------------------------------------------------------
# evaluation


def run_query(node: tree.Node, query: Query) -> tree.Node:
    """The stored-form node holding the children of ``node`` that survive ``query``.

    Absent data gives None; a primitive comes back unchanged for a bare ``orderBy`` and as None
    once a bound or limit is set; a query that keeps no child gives None as well.
    """
    if node is None:
        return None
    if not tree.has_children(node):
        return None if query.narrows() else node
    # Stored form: an inner node is a dict of children plus an optional ".priority" member
    # (using it directly is measurably faster than tree.children on large nodes).
    total = len(node) - (tree.PRIORITY in node)
    first, last = query.limit_first, query.limit_last
    unlimited = (first is None or first >= total) and (last is None or last >= total)
    if unlimited and all(b is MISSING for b in query._bounds()):
        return node
    order_by = query.order_by
    if order_by == KEY:
        order = tree.key_order
        entries = [(order(key), key) for key in node if key != tree.PRIORITY]
    else:
        index = _indexer(order_by)
        entries = [(index(key, child), key) for key, child in node.items() if key != tree.PRIORITY]

    # Bounds compare on the index value only: startAt(v) keeps every key whose value is v.
    if query.equal_to is not MISSING:
        eq = _bound_index(order_by, query.equal_to)
        entries = [e for e in entries if e[0] == eq]
    if query.start_at is not MISSING:
        low = _bound_index(order_by, query.start_at)
        entries = [e for e in entries if e[0] >= low]
    if query.start_after is not MISSING:
        low = _bound_index(order_by, query.start_after)
        entries = [e for e in entries if e[0] > low]
    if query.end_at is not MISSING:
        high = _bound_index(order_by, query.end_at)
        entries = [e for e in entries if e[0] <= high]
    if query.end_before is not MISSING:
        high = _bound_index(order_by, query.end_before)
        entries = [e for e in entries if e[0] < high]

    if first is not None and first < len(entries):
        entries = _take(entries, first, from_end=False)
    if last is not None and last < len(entries):
        entries = _take(entries, last, from_end=True)
    if len(entries) == total:
        return node
    if not entries:
        return None
    result: dict[str, tree.Node] = {key: node[key] for _, key in entries}
    prio = tree.priority(node)
    if prio is not None:
        result[tree.PRIORITY] = prio
    return result


# ---------------------------------------------------------------------------------------------
# evaluation on a sorted index (focuscli.server.index keeps one up to date)

IndexEntry: TypeAlias = tuple[Any, Any, str]  # (index value, key order, key)
_TOP: Final = (2,)  # after every key order: (value, _TOP) follows every entry of that value


def index_entry(order_by: str) -> Callable[[str, tree.Node], IndexEntry]:
    """The function giving a child's index entry for ``order_by``: entries sort as the
    children do in that order, ties on the index value broken by key order."""
    order = tree.key_order
    if order_by == KEY:

        def by_key(key: str, child: tree.Node) -> IndexEntry:
            k = order(key)
            return (k, k, key)

        return by_key
    index = _indexer(order_by)
    return lambda key, child: (index(key, child), order(key), key)


def sorted_entries(node: tree.Node, order_by: str) -> list[IndexEntry]:
    """Every child of ``node`` as an index entry, sorted (an index built from scratch)."""
    entry = index_entry(order_by)
    out = [entry(key, child) for key, child in tree.children(node)]
    out.sort()
    return out


def run_sorted(node: tree.Node, query: Query, entries: list[IndexEntry]) -> tree.Node:
    """``run_query(node, query)`` read off ``entries``, the sorted index of ``node``'s children
    in ``query.order_by`` order: bounds are two binary searches and a limit a slice, so the
    cost is O(log n + k) for the k children returned (the same answer; see test_index)."""
    if node is None:
        return None
    if not tree.has_children(node):
        return None if query.narrows() else node
    total = len(entries)
    order_by = query.order_by
    lo, hi = 0, total
    if query.equal_to is not MISSING:
        eq = _bound_index(order_by, query.equal_to)
        lo, hi = bisect.bisect_left(entries, (eq,)), bisect.bisect_left(entries, (eq, _TOP))
    if query.start_at is not MISSING:
        lo = max(lo, bisect.bisect_left(entries, (_bound_index(order_by, query.start_at),)))
    if query.start_after is not MISSING:
        lo = max(lo, bisect.bisect_left(entries, (_bound_index(order_by, query.start_after), _TOP)))
    if query.end_at is not MISSING:
        hi = min(hi, bisect.bisect_left(entries, (_bound_index(order_by, query.end_at), _TOP)))
    if query.end_before is not MISSING:
        hi = min(hi, bisect.bisect_left(entries, (_bound_index(order_by, query.end_before),)))
    if query.limit_first is not None:
        hi = min(hi, lo + query.limit_first)
    if query.limit_last is not None:
        lo = max(lo, hi - query.limit_last)
    if lo >= hi:
        return None
    if hi - lo == total:
        return node
    result: dict[str, tree.Node] = {key: node[key] for _, _, key in entries[lo:hi]}
    prio = tree.priority(node)
    if prio is not None:
        result[tree.PRIORITY] = prio
    return result


# The orderings themselves, for the realtime protocol's queries (which also bound by key).
value_rank = _value_index
priority_rank = _priority_index

"""The parts of a realtime request, checked: paths, queries, data, merges, priorities.

Each raises ``Invalid`` (answered ``invalid_request`` with its text) for what cannot be carried
out as sent.
"""

from __future__ import annotations

from typing import Any

from focuscli.server import tree
from focuscli.server.realtime import queries
from focuscli.server.tree import Node, Path


class Invalid(Exception):
    """A request that cannot be carried out as sent: answered ``invalid_request``."""


def path(raw: Any) -> Path:
    if type(raw) is not str:
        raise Invalid("A request needs a path 'p'.")
    try:
        return tree.parse_path(raw.split("/"))
    except tree.TreeError as err:
        raise Invalid(str(err)) from None


def write_path(raw: Any) -> tuple[Path, bool]:
    """The path a set writes, and whether it only sets a priority (``…/.priority``)."""
    if type(raw) is str:
        segments = [s for s in raw.split("/") if s]
        if segments and segments[-1] == tree.PRIORITY:
            return path("/".join(segments[:-1])), True
    return path(raw), False


def query(raw: Any) -> queries.WireQuery | None:
    if raw is None:
        return None
    try:
        return queries.parse(raw)
    except queries.WireQueryError as err:
        raise Invalid(f"Invalid query: {err}.") from None


def normalize(value: Any, path: Path, resolve: tree.ServerValue) -> Node:
    try:
        return tree.normalize(value, path, resolve)
    except tree.TreeError as err:
        raise Invalid(str(err)) from None
    except RecursionError:
        raise Invalid("Invalid data; the data is nested deeper than 32 levels.") from None


def merge_entries(raw: Any) -> list[tuple[Path, Any]]:
    """The (relative path, raw value) pairs of a merge; no path may hold another."""
    if type(raw) is not dict:
        raise Invalid("An update needs an object 'd'.")
    pairs: list[tuple[Path, Any]] = []
    for key, value in raw.items():
        rel = path(key)
        if not rel:
            raise Invalid("An update's keys must name a child.")
        pairs.append((rel, value))
    overlap = tree.first_overlap(rel for rel, _ in pairs)
    if overlap is not None:
        before, after = overlap
        raise Invalid(f"Invalid data; path {tree.path_str(before)} is an ancestor of "
                      f"{tree.path_str(after)} in the same update.")  # fmt: skip
    return pairs


def with_priority(node: Node, raw: Any, path: Path, resolve: tree.ServerValue) -> Node:
    """``node`` with the priority ``raw`` (null removes it); absent data stays absent."""
    prio = tree.priority(normalize({tree.VALUE: True, tree.PRIORITY: raw}, path, resolve))
    if node is None:
        return None
    if not tree.has_children(node):
        leaf = tree.leaf_value(node)
        return leaf if prio is None else {tree.VALUE: leaf, tree.PRIORITY: prio}
    new = {key: child for key, child in node.items() if key != tree.PRIORITY}
    if prio is not None:
        new[tree.PRIORITY] = prio
    return new

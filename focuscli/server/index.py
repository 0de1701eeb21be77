"""Indexes of a namespace: the children of queried nodes sorted by the query's order, kept up to date on writes.

A ranged query (``orderBy`` with ``startAt``/``endAt``/``equalTo``/limits) on a node with many
children is answered from a sorted list of its children's index entries (query.run_sorted) in
O(log n + k) instead of scanning and sorting every child. An index is built the first time a
node is queried in an order (as Realtime Database builds the ones ``.indexOn`` declares) and
follows the node's later versions: each commit re-sorts only the children it wrote. Every index
remembers the node it describes; one that does not describe the node a read sees (the store rolled
back, or the read is of an older tree) is brought to it by comparing children by identity, which
is exact because committed nodes are never mutated. Runs on the event loop thread only.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterable

from focuscli.server import query as q
from focuscli.server import tree
from focuscli.server.tree import Node, Path

MIN_CHILDREN = 256  # smaller nodes are scanned: as fast, and nothing to keep
MAX_INDEXES = 64  # per namespace; the least recently used goes first
MAX_ENTRIES = 2_000_000  # children indexed per namespace, all indexes together (about 400 MB)


class ChildIndex:
    """The children of ``node`` as sorted index entries in ``order_by`` order."""

    __slots__ = ("entries", "node", "of_key", "order_by", "_entry")

    def __init__(
        self, node: Node, order_by: str, entries: list[q.IndexEntry] | None = None
    ) -> None:
        self.node = node
        self.order_by = order_by
        self._entry = q.index_entry(order_by)
        self.entries = q.sorted_entries(node, order_by) if entries is None else entries
        self.of_key = {entry[2]: entry for entry in self.entries}

    def _set(self, key: str, child: Node) -> None:
        """Re-sort one child (None: it is gone)."""
        old = self.of_key.get(key)
        new = None if child is None else self._entry(key, child)
        if old == new:
            return
        if old is not None:
            del self.entries[bisect.bisect_left(self.entries, old)]
            del self.of_key[key]
        if new is not None:
            bisect.insort(self.entries, new)
            self.of_key[key] = new

    def written(self, node: Node, keys: Iterable[str]) -> None:
        """Now describe ``node``, which differs from the last one only in children ``keys``."""
        for key in keys:
            self._set(key, node.get(key))
        self.node = node

    def follow(self, node: Node) -> None:
        """Now describe ``node``, whatever changed (compares every child by identity)."""
        old = self.node if tree.has_children(self.node) else {}
        for key, child in tree.children(node):
            if old.get(key) is not child:
                self._set(key, child)
        now = node if tree.has_children(node) else {}
        for key in [k for k in self.of_key if k not in now]:
            self._set(key, None)
        self.node = node


class Indexes:
    """The indexes of one namespace, by (path of the node, order)."""

    def __init__(
        self,
        *,
        min_children: int = MIN_CHILDREN,
        limit: int = MAX_INDEXES,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.min_children = min_children
        self.limit = limit
        self.max_entries = max_entries
        self._by: OrderedDict[tuple[Path, str], ChildIndex] = OrderedDict()

    def wants(self, node: Node, query: q.Query) -> bool:
        """Whether ``query`` on ``node`` is worth an index: it narrows a node with many children."""
        return (
            query.narrows()
            and type(node) is dict
            and len(node) >= self.min_children
            and tree.has_children(node)
        )

    def get(self, path: Path, node: Node, order_by: str) -> ChildIndex | None:
        """The index of ``node`` (at ``path``) in ``order_by`` order, brought up to date; None
        when there is none yet (build one with ``sorted_entries`` and ``add``)."""
        index = self._by.get((path, order_by))
        if index is None:
            return None
        self._by.move_to_end((path, order_by))
        if index.node is not node:
            index.follow(node)
        return index

    def add(self, path: Path, node: Node, order_by: str, entries: list[q.IndexEntry]) -> ChildIndex:
        """Keep ``entries`` (``sorted_entries(node, order_by)``) as the index of ``path``."""
        index = ChildIndex(node, order_by, entries)
        self._by[(path, order_by)] = index
        self._by.move_to_end((path, order_by))
        total = sum(len(kept.entries) for kept in self._by.values())
        while len(self._by) > 1 and (len(self._by) > self.limit or total > self.max_entries):
            _, dropped = self._by.popitem(last=False)
            total -= len(dropped.entries)
        return index

    def run(self, path: Path, node: Node, query: q.Query) -> Node:
        """``run_query(node, query)`` through the index (built here if missing)."""
        if not tree.has_children(node):
            return q.run_query(node, query)
        index = self.get(path, node, query.order_by)
        if index is None:
            index = self.add(path, node, query.order_by, q.sorted_entries(node, query.order_by))
        return q.run_sorted(node, query, index.entries)

    def committed(self, old_root: Node, new_root: Node, written: Iterable[Path]) -> None:
        """A commit turned ``old_root`` into ``new_root`` by writing at ``written``: re-sort
        the children it wrote."""
        if not self._by:
            return
        paths = list(written)
        for (at, order_by), index in list(self._by.items()):
            node = tree.get(new_root, at)
            if node is index.node:
                continue
            if not tree.has_children(node):
                del self._by[(at, order_by)]
                continue
            if tree.get(old_root, at) is not index.node:  # it described another version
                index.follow(node)
                continue
            depth = len(at)
            keys: set[str] = set()
            for w in paths:
                if len(w) > depth and w[:depth] == at:
                    keys.add(w[depth])
                elif at[: len(w)] == w:  # written at or above the node: anything may differ
                    index.follow(node)
                    break
            else:
                index.written(node, keys)

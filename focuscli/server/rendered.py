"""Compact JSON of big read answers, each child's encoding kept by node identity for the next read.

Committed nodes are never mutated (focuscli.server.tree), so a child's rendered JSON stays valid
while the node object lives; the cache holds the node itself, so its id cannot be reused while
its entry is kept. A report re-reading the same history (state records, presence spans) then
costs a join of bytes instead of rendering and encoding every record again. The bytes are those
``bigjson.encode(tree.render(node))`` gives. Used from the worker thread only (one thread).
"""

from __future__ import annotations

import json
from collections import OrderedDict

from focuscli.server import bigjson, tree
from focuscli.server.tree import Node

MAX_BYTES = 64 * 1024 * 1024  # encodings kept, at most (the least recently used go first)
MAX_CHILD_VALUES = 256  # children holding more values are encoded step by step, not kept

_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


class Rendered:
    """The encodings of children already sent, by ``id(node)``."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._by_id: OrderedDict[int, tuple[Node, bytes]] = OrderedDict()

    def encode(self, node: Node) -> bytes:
        """``bigjson.encode(tree.render(node))``, from the kept encodings of its children."""
        if not tree.has_children(node):
            return bigjson.encode(tree.render(node))
        keys = [k for k in node if k != tree.PRIORITY]
        top = tree.render({key: True for key in keys})  # the key order, or the array rule
        if isinstance(top, list):
            parts = [
                self._child(node.get(str(i))) if present else b"null"
                for i, present in enumerate(top)
            ]
            return b"[" + b",".join(parts) + b"]"
        parts = [_key(key) + self._child(node[key]) for key in top]
        return b"{" + b",".join(parts) + b"}"

    def _child(self, child: Node) -> bytes:
        if type(child) is not dict:
            return _COMPACT.encode(child).encode("utf-8", "backslashreplace")
        entry = self._by_id.get(id(child))
        if entry is not None and entry[0] is child:
            self._by_id.move_to_end(id(child))
            return entry[1]
        rendered = tree.render(child)
        if tree.count_at_most(child, MAX_CHILD_VALUES) > MAX_CHILD_VALUES:
            return bigjson.encode(rendered)  # big: in steps, and not kept
        data = _COMPACT.encode(rendered).encode("utf-8", "backslashreplace")
        self._keep(child, data)
        return data

    def _keep(self, child: Node, data: bytes) -> None:
        old = self._by_id.pop(id(child), None)
        if old is not None:
            self.size -= len(old[1])
        self._by_id[id(child)] = (child, data)
        self.size += len(data)
        while self.size > self.max_bytes and self._by_id:
            _, (_, dropped) = self._by_id.popitem(last=False)
            self.size -= len(dropped)


def _key(key: str) -> bytes:
    return (_COMPACT.encode(key) + ":").encode("utf-8", "backslashreplace")

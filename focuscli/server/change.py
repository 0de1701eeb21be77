"""One committed write as every front door and the fan-out see it: a base path and its entries."""

from __future__ import annotations

from dataclasses import dataclass

from focuscli.server import tree
from focuscli.server.tree import Node, Path


@dataclass(frozen=True)
class Change:
    """One committed write: the request's base path, its kind and its (relative path, node) entries.

    ``kind`` is ``"put"`` (PUT/POST/DELETE, a realtime set: one entry at ``()``) or ``"patch"``
    (PATCH, a realtime merge or an onDisconnect batch: one entry per member, keys may hold
    several segments).
    """

    kind: str
    base: Path
    entries: tuple[tuple[Path, Node], ...]

    def apply(self, root: Node) -> Node:
        for rel, node in self.entries:
            root = tree.set_at(root, self.base + rel, node)
        return root

    def paths(self) -> list[Path]:
        return [self.base + rel for rel, _ in self.entries]

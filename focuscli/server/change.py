"""One committed write as every front door and the fan-out see it: a base path and its entries."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    # Each entry's node rendered as compact JSON, when a big write had it done off the loop:
    # events are then put together from these bytes instead of rendering the nodes again.
    rendered: tuple[bytes, ...] | None = field(default=None, compare=False)

    def apply(self, root: Node) -> Node:
        return tree.set_many(root, self.base, self.entries)

    def paths(self) -> list[Path]:
        return [self.base + rel for rel, _ in self.entries]

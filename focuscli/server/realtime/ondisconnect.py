"""One connection's onDisconnect writes: kept as the client keeps them, run as one write.

Entries are sets at paths, none below another (the SDK's sparse snapshot tree,
rtdb-websocket.md §8): a set at P replaces what is held at or below P and is merged into a
set held above P; a cancel at P drops what is held at or below P and splits a set held above P
into its children so that only P's part goes. Values are stored with their server-value
placeholders unresolved: a timestamp is the time of the disconnect, not of the registration.
"""

from __future__ import annotations

from typing import Any

from focuscli.server import tree
from focuscli.server.access import Access
from focuscli.server.change import Change
from focuscli.server.tree import Node, Path


def placeholder(path: Path, spec: Any) -> Any:
    """Server-value resolver that keeps the placeholder for later (see ``resolve``)."""
    return {tree.SV: spec}


class OnDisconnect:
    """The held sets of one session, by path."""

    def __init__(self, entries: dict[Path, Node] | None = None) -> None:
        self.entries: dict[Path, Node] = dict(entries or {})

    def __bool__(self) -> bool:
        return bool(self.entries)

    def remember(self, path: Path, node: Node) -> None:
        for held in list(self.entries):
            if path[: len(held)] == held and held != path:  # a set above: merge into it
                self.entries[held] = tree.set_at(self.entries[held], path[len(held) :], node)
                return
        for held in list(self.entries):
            if held[: len(path)] == path:
                del self.entries[held]
        self.entries[path] = node

    def forget(self, path: Path) -> None:
        for held in list(self.entries):
            if held[: len(path)] == path:
                del self.entries[held]
        for held in list(self.entries):
            if path[: len(held)] == held:
                value = self.entries.pop(held)
                if value is not None and not tree.has_children(value):
                    self.entries[held] = value  # a leaf has no child to cancel (as the SDK)
                    return
                for key, child in tree.children(value):
                    self.entries[held + (key,)] = child
                self.forget(path)
                return

    def to_record(self) -> list[list[Any]]:
        """JSON-ready form for the journal: ``[[path text, node], …]``."""
        return [[tree.path_str(path), node] for path, node in sorted(self.entries.items())]

    @classmethod
    def from_record(cls, record: list[list[Any]]) -> OnDisconnect:
        return cls({tree.split_path(text): node for text, node in record})


def run_held(held: OnDisconnect, admin: bool, auth: dict[str, Any] | None, root: Node,
             access: Access, now: float) -> tuple[Change, Node] | None:  # fmt: skip
    """Held onDisconnect writes as one write, each re-checked by the rules (those refused are
    dropped, as are values that no longer resolve); None when none is left."""
    now_ms = int(now * 1000)
    resolve = tree.server_values(now_ms, root)
    entries: list[tuple[Path, Node]] = []
    for path, node in sorted(held.entries.items()):
        try:
            entries.append((path, tree.normalize(node, path, resolve)))
        except tree.TreeError:
            continue
    while entries:
        change = Change("patch", (), tuple(entries))
        new_root = change.apply(root)
        if admin:
            return change, new_root
        refused = {p for p, _ in entries if not access.can_write(p, auth, root, new_root, now_ms)}
        if not refused:
            return change, new_root
        entries = [(p, n) for p, n in entries if p not in refused]
    return None



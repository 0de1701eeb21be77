"""Evaluation context: snapshots of immutable trees and what one evaluation may look at."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..server import tree

NO_QUERY: Mapping[str, Any] = {
    "orderByKey": True, "orderByPriority": False, "orderByValue": False, "orderByChild": None,
    "startAt": None, "endAt": None, "equalTo": None, "limitToFirst": None, "limitToLast": None,
}  # fmt: skip
"""The ``query`` of a plain read with no ordering (rules.md §15.2), and of every write (§6.6)."""


class Snapshot:
    """A RuleDataSnapshot: a location in one immutable tree (the old or the new one)."""

    __slots__ = ("root", "path", "node")

    def __init__(self, root: tree.Node, path: tree.Path, node: tree.Node) -> None:
        self.root = root
        self.path = path
        self.node = node

    def child(self, segments: tuple[str, ...] | None) -> Snapshot:
        """``segments`` None stands for a path holding an invalid key: always empty."""
        if segments is None:
            return Snapshot(self.root, self.path + ("",), None)
        return Snapshot(self.root, self.path + segments, tree.get(self.node, segments))

    def __repr__(self) -> str:
        return f"Snapshot({tree.path_str(self.path)!r})"


class Children:
    """``val()`` of a node that has children: an opaque object, equal to nothing but itself
    (rules.md §19 item 4: it is not null, not a string, and ``+``/string methods reject it)."""

    __slots__ = ("node",)

    def __init__(self, node: tree.Node) -> None:
        self.node = node


class Context:
    """Everything one evaluation may look at; built per rule node by the ruleset."""

    __slots__ = ("auth", "now", "root", "new_root", "path", "old", "new", "bindings", "query", "reads")

    def __init__(
        self,
        auth: Any,
        now: int | float,
        root: tree.Node,
        new_root: tree.Node,
        path: tree.Path,
        old: tree.Node,
        new: tree.Node,
        bindings: Mapping[str, str],
        query: Mapping[str, Any],
        reads: ReadSet | None = None,
    ) -> None:
        self.auth = auth
        self.now = now
        self.root = root  # the old tree
        self.new_root = new_root  # the new tree (writes only)
        self.path = path  # location of the rule node being evaluated
        self.old = old  # old-tree node at path
        self.new = new  # new-tree node at path
        self.bindings = bindings  # "$name" -> key
        self.query = query
        self.reads = reads  # where the evaluation looked, when a caller asks (ReadSet)


class ReadSet:
    """The locations an evaluation read data at, outside the subtrees a write replaces.

    Reading a snapshot (``val()``, ``exists()``, ``hasChild()``, ...) counts as reading its whole
    subtree. Reads at or below a written path are not kept: whatever changes there conflicts
    with the write itself. A write evaluated off the event loop commits only if no commit since
    touched a kept location (or a written one): then the tree it was judged on and the tree at
    commit time agree wherever the rules looked.
    """

    __slots__ = ("written", "lengths", "paths")

    def __init__(self, written: Iterable[tree.Path]) -> None:
        self.written = frozenset(written)
        self.lengths = sorted({len(p) for p in self.written})
        self.paths: set[tree.Path] = set()

    def note(self, path: tree.Path) -> None:
        for length in self.lengths:
            if length > len(path):
                break
            if path[:length] in self.written:
                return
        self.paths.add(path)


def split_child_path(text: str) -> tuple[str, ...] | None:
    """A relative ``child()`` path as keys; None when a key is invalid (an empty snapshot)."""
    segments = tuple(s for s in text.split("/") if s)
    if not segments:
        return None  # child(''): an empty snapshot (rules.md §19 item 5, as targaryen)
    for seg in segments:
        if not tree.is_valid_key(seg):
            return None
    return segments

"""What one committed change means for one listen: the data pushes (rtdb-websocket.md §3.4).

A plain listen at L gets the written values at or below L (one ``d`` per set, one ``m`` per
merge), or the whole new value at L when a write above L changed it. A tagged listen (a
query with a bound or a limit) gets the difference between its last window and the new one,
tagged, as one ``m`` (``null`` for children that left), or one ``d`` when it empties or fills.
Values go out in export form: priorities kept, server values already resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from focuscli.server import tree
from focuscli.server.change import Change
from focuscli.server.realtime import messages
from focuscli.server.realtime.queries import WireQuery
from focuscli.server.tree import Node, Path

# Cache keys of one commit's fan-out (shared with SSE streams, whose keys are paths).
_PLAIN, _WINDOW = object(), object()


def wire_path(path: Path) -> str:
    """A path as production writes it in pushes: no leading slash, the root is empty."""
    return "/".join(path)


@dataclass(eq=False)
class Listen:
    """One listen of a session: where, which query (None: the whole location), its tag."""

    path: Path
    query: WireQuery | None
    tag: int | None
    last: Node = None  # the window last sent (tagged listens)
    params: dict[str, str] | None = field(default=None)  # the query as the rules see it

    @property
    def key(self) -> tuple[Path, str | None]:
        return (self.path, None if self.query is None else self.query.key)

    def result(self, root: Node) -> Node:
        node = tree.get(root, self.path)
        return node if self.query is None or self.tag is None else self.query.window(node)

    def initial(self, root: Node) -> list[str]:
        """The data push that precedes the listen's ``ok``: the current value, even null."""
        value = self.result(root)
        if self.tag is not None:
            self.last = value
        return messages.encode(messages.push("d", self._body(self.path, tree.export(value))))

    def revoked(self) -> list[str]:
        body: dict[str, Any] = {"p": wire_path(self.path)}
        if self.query is not None and self.tag is not None:
            body["q"] = [self.query.raw]  # the JS client maps a list; a bare object throws
        return messages.encode(messages.push("c", body))

    def pushes(self, change: Change, old_root: Node, new_root: Node,
               cache: dict[Any, Any]) -> list[str]:  # fmt: skip
        """The texts ``change`` means for this listen (none when it does not concern it).

        ``cache`` is shared by every listen of every connection for one commit, so a value
        many listens follow is rendered once.
        """
        if self.tag is None:
            plain: list[str] | None = cache.get((_PLAIN, self.path))
            if plain is None:
                plain = cache[(_PLAIN, self.path)] = _plain(self.path, change, old_root, new_root)
            return plain
        if not _touches(self.path, change):
            return []
        assert self.query is not None
        window = (_WINDOW, self.path, self.query.key)
        if window not in cache:
            cache[window] = self.result(new_root)
        before, after = self.last, cache[window]
        if before is after or before == after:
            return []
        self.last = after
        if before is None or after is None:
            data = tree.export(after)
            return messages.encode(messages.push("d", self._body(self.path, data)))
        merge: dict[str, Any] = {}
        for name, child in tree.children(after):
            old = before.get(name)
            if old is not child and old != child:
                merge[name] = tree.export(child)
        for name, _ in tree.children(before):
            if name not in after:
                merge[name] = None
        return messages.encode(messages.push("m", self._body(self.path, merge)))

    def _body(self, path: Path, data: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"p": wire_path(path), "d": data}
        if self.tag is not None:
            body["t"] = self.tag
        return body


def _within(path: Path, base: Path) -> bool:
    return path[: len(base)] == base


def _touches(location: Path, change: Change) -> bool:
    return any(_within(p, location) or _within(location, p) for p in change.paths())


def _plain(location: Path, change: Change, old_root: Node, new_root: Node) -> list[str]:
    below: list[Path] = []
    for path in change.paths():
        if _within(path, location):
            below.append(path)
        elif _within(location, path):
            # A write above the location replaced it wholesale: its whole new value says it all.
            before, after = tree.get(old_root, location), tree.get(new_root, location)
            if before is after or before == after:
                return []
            body = {"p": wire_path(location), "d": tree.export(after)}
            return messages.encode(messages.push("d", body))
    if not below:
        return []
    base = change.base if _within(change.base, location) else location
    if change.kind == "patch" and base not in below:
        data = {"/".join(p[len(base) :]): tree.export(tree.get(new_root, p)) for p in below}
        return messages.encode(messages.push("m", {"p": wire_path(base), "d": data}))
    texts: list[str] = []
    for path in below:
        body = {"p": wire_path(path), "d": tree.export(tree.get(new_root, path))}
        texts.extend(messages.encode(messages.push("d", body)))
    return texts

"""Server-sent events: wire framing, per-stream buffers, and the events one commit produces."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from focuscli.server import tree
from focuscli.server.change import Change
from focuscli.server.query import Query, run_query
from focuscli.server.tree import Node, Path

if TYPE_CHECKING:
    from focuscli.server.store import Namespace

MAX_BUFFERED_BYTES = 64 * 1024 * 1024


def dumps(value: Any) -> bytes:
    """Compact one-line JSON as UTF-8; a lone surrogate becomes its JSON ``\\uXXXX`` escape."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace")


def frame(event: str, data: bytes) -> bytes:
    """One event: ``event:`` line, one ``data:`` line, blank line; LF only."""
    return b"event: " + event.encode("ascii") + b"\ndata: " + data + b"\n\n"


def data_event(event: str, path: Path, data: Any) -> bytes:
    return frame(event, dumps({"path": tree.path_str(path), "data": data}))


KEEP_ALIVE = frame("keep-alive", b"null")
CANCEL = frame("cancel", b"null")
# Not JSON: firebase-admin compares this exact text and reconnects with a fresh credential.
AUTH_REVOKED = frame("auth_revoked", b"credential is no longer valid")


@dataclass(eq=False)
class Listener:
    """One open stream: where it listens, as whom, and the bytes waiting to be sent."""

    path: Path
    query: Query | None
    admin: bool
    auth: dict[str, Any] | None
    query_params: dict[str, str] | None = None
    expires_at: float | None = None  # epoch seconds when the caller's token expires
    chunks: list[bytes] = field(default_factory=list)
    buffered: int = 0
    closed: bool = False
    last_sent: float = 0.0
    last_query_result: Any = None
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, chunk: bytes) -> None:
        if self.closed:
            return
        self.chunks.append(chunk)
        self.buffered += len(chunk)
        if self.buffered > MAX_BUFFERED_BYTES:
            # A consumer this far behind is gone or stuck: end the stream; a client that is
            # still there reconnects and resyncs from a fresh initial put.
            self.chunks.clear()
            self.close()
            return
        self.wakeup.set()

    def close(self) -> None:
        self.closed = True
        self.wakeup.set()

    def expired(self, now_s: float) -> bool:
        return self.expires_at is not None and now_s >= self.expires_at

    def revoke(self) -> None:
        """The credential expired: say so (auth_revoked) and end the stream."""
        self.push(AUTH_REVOKED)
        self.close()

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        self.wakeup.clear()
        return data

    def published(self, ns: Namespace, change: Change | None, old_root: Node, new_root: Node,
                  now_ms: int, cache: dict[Any, Any]) -> bool:  # fmt: skip
        """One commit shown to streams (``change`` None: the rules changed); False once this
        stream has ended (token expired, no longer readable, consumer too far behind)."""
        if self.expired(now_ms / 1000):
            self.revoke()
            return False
        # Rules may depend on data anywhere in the tree, so every non-admin stream is
        # re-checked on every commit, not only those the commit sends events to.
        if not ns.can_read(self, new_root, now_ms):
            self.push(CANCEL)
            self.close()
            return False
        if change is not None:
            chunk = events_for(self, change, old_root, new_root, cache)
            if chunk:
                self.push(chunk)
        return not self.closed

    def initial(self, root: Node) -> bytes:
        """The first event: a put at "/" of the listened value (query applied)."""
        node = tree.get(root, self.path)
        if self.query is not None:
            self.last_query_result = tree.render(run_query(node, self.query))
            return data_event("put", (), self.last_query_result)
        return data_event("put", (), tree.render(node))


def _relative(path: Path, base: Path) -> Path | None:
    if path[: len(base)] == base:
        return path[len(base) :]
    return None


def events_for(
    listener: Listener, change: Change, old_root: Node, new_root: Node, cache: dict[Any, bytes]
) -> bytes:
    """The bytes ``change`` means for ``listener`` (empty when it does not concern it).

    ``cache`` is shared across the listeners of one commit, so many streams on one path render
    each event once.
    """
    location = listener.path
    if listener.query is not None:
        return _query_events(listener, change, old_root, new_root)
    key = location
    hit = cache.get(key)
    if hit is not None:
        return hit
    out = _plain_events(location, change, old_root, new_root)
    cache[key] = out
    return out


def _plain_events(location: Path, change: Change, old_root: Node, new_root: Node) -> bytes:
    base_rel = _relative(change.base, location)
    single = all(len(rel) == 1 for rel, _ in change.entries)
    if change.kind == "patch" and single and base_rel is not None:
        data = {rel[0]: tree.render(tree.get(new_root, change.base + rel)) for rel, _ in change.entries}
        return data_event("patch", base_rel, data)
    parts: list[bytes] = []
    whole_changed = False
    for abs_path in change.paths():
        rel = _relative(abs_path, location)
        if rel is not None:
            parts.append(data_event("put", rel, tree.render(tree.get(new_root, abs_path))))
        elif _relative(location, abs_path) is not None:
            whole_changed = True
    if whole_changed:
        before, after = tree.get(old_root, location), tree.get(new_root, location)
        if before is not after and before != after:
            # A write above the location replaced it wholesale: one put at "/" says it all.
            return data_event("put", (), tree.render(after))
    return b"".join(parts)


def _query_events(listener: Listener, change: Change, old_root: Node, new_root: Node) -> bytes:
    location = listener.path
    touches = any(
        _relative(p, location) is not None or _relative(location, p) is not None
        for p in change.paths()
    )
    if not touches or listener.query is None:
        return b""
    result = tree.render(run_query(tree.get(new_root, location), listener.query))
    if result == listener.last_query_result:
        return b""
    listener.last_query_result = result
    return data_event("put", (), result)


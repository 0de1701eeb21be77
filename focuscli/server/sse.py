"""Server-sent events: wire framing, per-stream buffers, and the events one commit produces."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from focuscli.server import bigjson, tree
from focuscli.server.change import Change
from focuscli.server.offload import Lazy
from focuscli.server.query import Query, run_query
from focuscli.server.tree import Node, Path

if TYPE_CHECKING:
    from focuscli.server.store import Namespace

MAX_BUFFERED_BYTES = 64 * 1024 * 1024
BIG_NODES = 2_000  # an event carrying more nodes is rendered off the loop when it is sent

Chunk = bytes | Lazy


def dumps(value: Any) -> bytes:
    """Compact one-line JSON as UTF-8; a lone surrogate becomes its JSON ``\\uXXXX`` escape."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace")


def frame(event: str, data: bytes) -> bytes:
    """One event: ``event:`` line, one ``data:`` line, blank line; LF only."""
    return b"event: " + event.encode("ascii") + b"\ndata: " + data + b"\n\n"


def data_event(event: str, path: Path, data: Any) -> bytes:
    return frame(event, dumps({"path": tree.path_str(path), "data": data}))


def encoded_event(event: str, path: Path, data: bytes) -> bytes:
    """``data_event`` with the data already encoded as compact JSON."""
    return frame(event, b'{"path":' + dumps(tree.path_str(path)) + b',"data":' + data + b"}")


def encoded_object(items: list[tuple[str, bytes]]) -> bytes:
    """A compact JSON object from keys and already encoded values."""
    return b"{" + b",".join(dumps(key) + b":" + value for key, value in items) + b"}"


def put_event(path: Path, node: Node) -> bytes | Lazy:
    """A put of ``node`` (rendered): now if it is small, else on the worker when it is sent."""
    if tree.count_at_most(node, BIG_NODES) <= BIG_NODES:
        return data_event("put", path, tree.render(node))
    return Lazy(lambda: encoded_event("put", path, bigjson.encode(tree.render(node))))


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
    chunks: list[Chunk] = field(default_factory=list)
    buffered: int = 0
    closed: bool = False
    last_sent: float = 0.0
    last_query_result: Any = None
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, chunk: Chunk) -> None:
        if self.closed or not chunk:
            return
        self.chunks.append(chunk)
        self.buffered += Lazy.SIZE_HINT if isinstance(chunk, Lazy) else len(chunk)
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

    def take(self) -> list[Chunk]:
        """What is waiting to be sent: runs of bytes joined, Lazy chunks in their place."""
        out: list[Chunk] = []
        run: list[bytes] = []
        for chunk in self.chunks:
            if isinstance(chunk, Lazy):
                if run:
                    out.append(b"".join(run))
                    run = []
                out.append(chunk)
            else:
                run.append(chunk)
        if run:
            out.append(b"".join(run))
        self.chunks.clear()
        self.buffered = 0
        self.wakeup.clear()
        return out

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

    def initial(self, root: Node) -> Chunk:
        """The first event: a put at "/" of the listened value (query applied)."""
        node = tree.get(root, self.path)
        if self.query is not None:
            self.last_query_result = tree.render(run_query(node, self.query))
            return data_event("put", (), self.last_query_result)
        return put_event((), node)


def _relative(path: Path, base: Path) -> Path | None:
    if path[: len(base)] == base:
        return path[len(base) :]
    return None


def events_for(
    listener: Listener, change: Change, old_root: Node, new_root: Node, cache: dict[Any, Chunk]
) -> Chunk:
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


def _plain_events(location: Path, change: Change, old_root: Node, new_root: Node) -> Chunk:
    base_rel = _relative(change.base, location)
    single = all(len(rel) == 1 for rel, _ in change.entries)
    rendered = change.rendered
    if change.kind == "patch" and single and base_rel is not None:
        if rendered is not None:
            items = [(rel[0], data) for (rel, _), data in zip(change.entries, rendered, strict=True)]
            return encoded_event("patch", base_rel, encoded_object(items))
        data = {rel[0]: tree.render(tree.get(new_root, change.base + rel)) for rel, _ in change.entries}
        return data_event("patch", base_rel, data)
    parts: list[Chunk] = []
    whole_changed = False
    for index, abs_path in enumerate(change.paths()):
        rel = _relative(abs_path, location)
        if rel is not None:
            if rendered is not None:
                parts.append(encoded_event("put", rel, rendered[index]))
            else:
                parts.append(put_event(rel, tree.get(new_root, abs_path)))
        elif _relative(location, abs_path) is not None:
            whole_changed = True
    if whole_changed:
        before, after = tree.get(old_root, location), tree.get(new_root, location)
        if before is not after and before != after:
            # A write above the location replaced it wholesale: one put at "/" says it all.
            return put_event((), after)
    if any(isinstance(part, Lazy) for part in parts):
        return Lazy(lambda: b"".join(part() if isinstance(part, Lazy) else part for part in parts))
    return b"".join(parts)  # type: ignore[arg-type]


def _query_events(listener: Listener, change: Change, old_root: Node, new_root: Node) -> Chunk:
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


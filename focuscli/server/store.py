"""The store: namespaces, their trees and rules, the commit pipeline, durability and fan-out.

Everything here runs on the server's event loop thread, so a commit (check, apply, journal
append) is atomic by construction. With a data directory a commit is acknowledged, and shown to
streams, only once the journal reports it on disk; streams always see commits in order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from focuscli.rules.document import RulesDocument
from focuscli.server import bigjson, tree
from focuscli.server.access import Access, compile_access
from focuscli.server.change import Change
from focuscli.server.index import Indexes
from focuscli.server.journal import RETRY_S, Journal, JournalError, JournalStalled
from focuscli.server.sse import Listener
from focuscli.server.tree import Node, Path

log = logging.getLogger("focuscli.server")

DEFAULT_NAMESPACE = "fake-server"
HISTORY = 4096  # commits per namespace remembered for changed_since
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


def namespace_error(name: str) -> str | None:
    """Why ``name`` cannot name a namespace, or None when it can (every door asks the same)."""
    if _NAMESPACE.fullmatch(name):
        return None
    return f"Invalid namespace {name!r}: use letters, digits, '-' and '_'."


class Subscriber(Protocol):
    """Whatever follows a namespace's commits: an SSE stream, a realtime connection."""

    def published(self, ns: Namespace, change: Change | None, old_root: Node, new_root: Node,
                  now_ms: int, cache: dict[Any, Any]) -> bool:  # fmt: skip
        """One commit shown to streams, in commit order (``change`` None: the rules changed).
        ``cache`` is shared by the subscribers of one commit. False: drop this subscriber."""
        ...

    def close(self) -> None: ...


@dataclass(eq=False)
class Namespace:
    """One database: its tree (head of the commit sequence), rules, followers and the
    onDisconnect writes held for realtime sessions (session id -> opaque record)."""

    name: str
    rules: RulesDocument | None
    access: Access
    root: Node = None
    published: Node = None  # the tree as of the last commit shown to streams
    listeners: set[Subscriber] = field(default_factory=set)
    rules_uploaded: bool = False
    # Commits so far, and the paths the recent ones wrote ((): everything, as a rules change):
    # a write judged off the loop against an older tree asks what changed since (changed_since).
    version: int = 0
    history: deque[tuple[int, tuple[Path, ...]]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    # Set while a big write is judged against the head with other writes held back (its last
    # resort after its judgements kept being overtaken); they wait for it to resolve.
    gate: asyncio.Future[None] | None = None
    held: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # /.settings/<name>.json values
    indexes: Indexes = field(default_factory=Indexes)  # sorted children of queried nodes

    def can_read(self, listener: Listener, root: Node, now_ms: int) -> bool:
        if listener.admin:
            return True
        return self.access.can_read(listener.path, listener.auth, root, now_ms, listener.query_params)


@dataclass
class _Pending:
    seq: int
    namespace: Namespace
    change: Change | None  # None for a rules change or held writes
    old_root: Node
    new_root: Node
    done: asyncio.Future[None]
    rules_changed: bool = False


class StoreUnavailable(Exception):
    """The data directory stopped accepting writes (disk full, I/O error): nothing more is durable."""


class Store:
    """All namespaces of one server, optionally journaled to a data directory."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        data_dir: str | os.PathLike[str] | None,
        default_rules: RulesDocument | None,
        clock: Callable[[], float],
    ) -> None:
        self.loop = loop
        self.clock = clock
        self.default_rules = default_rules
        self.default_access = compile_access(default_rules)
        self.namespaces: dict[str, Namespace] = {}
        self._pending: list[_Pending] = []
        self._lock = threading.Lock()  # guards the snapshot the journal thread asks for
        self._seq = 0
        self.journal: Journal | None = None
        if data_dir is not None:
            self.journal, state = Journal.open(
                data_dir,
                on_durable=self._durable_from_thread,
                on_error=self._failed_from_thread,
                on_recovered=self._recovered_from_thread,
                apply=_apply_record,
                snapshot_provider=self._snapshot,
            )
            for name, entry in state.items():
                ns = self.lookup(name)
                self._adopt(ns)
                # Folded: data written before integral doubles were stored as integers.
                ns.root = ns.published = tree.fold_numbers(entry.get("data"))
                ns.held = dict(entry.get("held") or {})
                ns.settings = dict(entry.get("settings") or {})
                source = entry.get("rules")
                if source is not None and default_rules is None:
                    doc = RulesDocument.parse(source)
                    ns.rules, ns.access, ns.rules_uploaded = doc, compile_access(doc), True

    # -- namespaces ---------------------------------------------------------------------------

    def lookup(self, name: str) -> Namespace:
        """The namespace ``name``, or a new empty one that is not registered yet: requests that
        only read (or are refused) leave nothing behind. It is registered once it holds
        something: a commit, a rules upload or a stream."""
        ns = self.namespaces.get(name)
        return ns if ns is not None else Namespace(name, self.default_rules, self.default_access)

    def _adopt(self, ns: Namespace) -> None:
        if self.namespaces.get(ns.name) is not ns:
            with self._lock:  # the journal thread may be iterating the namespaces (_snapshot)
                registered = self.namespaces.setdefault(ns.name, ns)
            if registered is not ns:  # a second object for one name would lose writes
                raise RuntimeError(f"namespace {ns.name!r} exists twice")

    def _forget_if_empty(self, ns: Namespace) -> None:
        """Unregister a namespace that holds nothing (as after a restart, where it is gone too)."""
        if ns.listeners or ns.root is not None or ns.published is not None or ns.rules_uploaded:
            return
        if ns.held or ns.settings:
            return
        if any(item.namespace is ns for item in self._pending):
            return
        with self._lock:
            if self.namespaces.get(ns.name) is ns:
                del self.namespaces[ns.name]

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- commits ------------------------------------------------------------------------------

    def _append(self, record: dict[str, Any]) -> int:
        assert self.journal is not None
        try:
            return self.journal.append(record)
        except JournalError as err:
            raise StoreUnavailable(self._unavailable(err)) from None

    def _unavailable(self, err: BaseException) -> str:
        """Why writes are refused, and what happens or what to do next (the 503's message)."""
        if isinstance(err, JournalStalled):
            return f"{err}; writes resume by themselves once there is space (reads still work)"
        assert self.journal is not None
        cause = err.__cause__ or err
        return (
            f"the data directory {self.journal.directory} failed ({cause}); restart focus serve to "
            "recover (for the one focus starts: focus serve --stop, then any focus command)"
        )

    def commit(
        self,
        ns: Namespace,
        change: Change,
        new_root: Node,
        record: bytes | None = None,
        *,
        release: str | None = None,
    ) -> asyncio.Future[None]:
        """Make ``new_root`` (``change`` applied to ``ns.root``) the head; resolves when durable.

        ``record`` is the journal record already encoded (``journal_record``), for big writes;
        ``release``: a session whose held writes this commit carries out (forgotten with it)."""
        self._adopt(ns)
        old_root = ns.root
        done: asyncio.Future[None] = self.loop.create_future()
        with self._lock:
            if self.journal is not None:
                if record is None:
                    entry: dict[str, Any] = {
                        "ns": ns.name,
                        "e": [[tree.path_str(p), tree.get(new_root, p)] for p in change.paths()],
                    }
                    if release is not None:
                        entry["released"] = release
                    seq = self._append(entry)
                else:
                    assert release is None  # big REST writes release nothing
                    seq = self._append_encoded(record)
            ns.root = new_root
            ns.indexes.committed(old_root, new_root, change.paths())
            _changed(ns, written_paths(change))
            if release is not None:
                ns.held.pop(release, None)
            if self.journal is None:
                self._seq += 1
                seq = self._seq
        pending = _Pending(seq, ns, change, old_root, new_root, done)
        if self.journal is None:
            self._publish(pending)
        else:
            self._pending.append(pending)
        return done

    def set_rules(self, ns: Namespace, doc: RulesDocument, access: Access) -> asyncio.Future[None]:
        def apply() -> None:
            ns.rules, ns.access, ns.rules_uploaded = doc, access, True

        return self._journaled(ns, {"ns": ns.name, "rules": doc.source}, apply, rules_changed=True)

    def hold(self, ns: Namespace, session: str, record: Any) -> asyncio.Future[None]:
        """Keep a realtime session's onDisconnect writes (``record``; None: none any more) with
        the data, so a crash does not lose them; resolves when durable."""

        def apply() -> None:
            if record is None:
                ns.held.pop(session, None)
            else:
                ns.held[session] = record

        done = self._journaled(ns, {"ns": ns.name, "held": [session, record]}, apply)
        if record is None:
            self._forget_if_empty(ns)
        return done

    def set_setting(self, ns: Namespace, name: str, value: Any) -> asyncio.Future[None]:
        """Keep one of the namespace's tooling settings (``defaultWriteSizeLimit``…) durably."""

        def apply() -> None:
            ns.settings[name] = value

        return self._journaled(ns, {"ns": ns.name, "setting": [name, value]}, apply)

    def _journaled(self, ns: Namespace, record: dict[str, Any], apply: Callable[[], None], *,
                   rules_changed: bool = False) -> asyncio.Future[None]:  # fmt: skip
        """A change that is not data (rules, held writes, settings), in the commits' order."""
        self._adopt(ns)
        done: asyncio.Future[None] = self.loop.create_future()
        with self._lock:
            if self.journal is not None:
                seq = self._append(record)
            apply()
            if rules_changed:  # writes judged against the old rules must be judged again
                _changed(ns, ((),))
            if self.journal is None:
                self._seq += 1
                seq = self._seq
        pending = _Pending(seq, ns, None, ns.root, ns.root, done, rules_changed=rules_changed)
        if self.journal is None:
            self._publish(pending)
        else:
            self._pending.append(pending)
        return done

    def changed_since(self, ns: Namespace, version: int, paths: Watched | Iterable[Path]) -> bool:
        """Did a commit after ``version`` write at, above or below any of ``paths``?
        (True too when the history no longer reaches back that far.) A few lookups per path
        committed meanwhile, however many ``paths`` (index them off the loop: ``Watched``)."""
        if ns.version == version:
            return False
        if not ns.history or ns.history[0][0] > version + 1:
            return True
        watched = paths if isinstance(paths, Watched) else Watched(paths)
        for seq, written in reversed(ns.history):
            if seq <= version:
                break
            if any(watched.touched_by(w) for w in written):
                return True
        return False

    def journal_record(self, ns: Namespace, change: Change) -> bytes | None:
        """``change``'s journal record, encoded step by step (on the worker thread, for a big
        write); None without a journal."""
        if self.journal is None:
            return None
        entries = [[tree.path_str(base_rel), node] for base_rel, node in
                   ((change.base + rel, node) for rel, node in change.entries)]  # fmt: skip
        return bigjson.encode({"ns": ns.name, "e": entries}, "surrogatepass", strict=True)

    def _append_encoded(self, record: bytes) -> int:
        assert self.journal is not None
        try:
            return self.journal.append_encoded(record)
        except JournalError as err:
            raise StoreUnavailable(self._unavailable(err)) from None

    def barrier(self) -> asyncio.Future[None] | None:
        """A future for the newest commit not yet durable (None when everything is)."""
        return self._pending[-1].done if self._pending else None

    def _durable_from_thread(self, seq: int) -> None:
        self.loop.call_soon_threadsafe(self._durable, seq)

    def _failed_from_thread(self, err: BaseException) -> None:
        self.loop.call_soon_threadsafe(self._failed, err)

    def _failed(self, err: BaseException) -> None:
        if isinstance(err, JournalStalled):
            log.warning("%s: writes are refused until it takes data again (checked every %s s)", err, RETRY_S)
        else:
            log.error("data directory failed, writes are no longer durable: %s", err)
        message = self._unavailable(err) if self.journal is not None else f"the data directory failed: {err}"
        while self._pending:
            item = self._pending.pop(0)
            # Nothing that did not reach the disk may be read back: every namespace goes back
            # to the last tree published (= durable); later writes get 503 from the journal.
            item.namespace.root = item.namespace.published
            _changed(item.namespace, ((),))
            if not item.done.done():
                item.done.set_exception(StoreUnavailable(message))

    def _recovered_from_thread(self) -> None:
        self.loop.call_soon_threadsafe(self._recovered)

    def _recovered(self) -> None:
        if self.journal is not None:
            log.warning("data directory %s can be written again; accepting writes", self.journal.directory)

    def _durable(self, seq: int) -> None:
        while self._pending and self._pending[0].seq <= seq:
            self._publish(self._pending.pop(0))

    def _publish(self, item: _Pending) -> None:
        ns = item.namespace
        ns.published = item.new_root
        if ns.listeners and (item.change is not None or item.rules_changed):
            self._fan_out(ns, item.change, item.old_root, item.new_root)
        if not item.done.done():
            item.done.set_result(None)

    def _fan_out(self, ns: Namespace, change: Change | None, old_root: Node, new_root: Node) -> None:
        """Every follower sees every commit, in commit order, whichever door it came in by."""
        cache: dict[Any, Any] = {}
        now = self.now_ms()
        for follower in list(ns.listeners):
            if not follower.published(ns, change, old_root, new_root, now, cache):
                ns.listeners.discard(follower)

    # -- streams ------------------------------------------------------------------------------

    def subscribe(self, ns: Namespace, listener: Listener) -> None:
        """Open an SSE stream: its initial put, then every commit."""
        listener.push(listener.initial(ns.published))
        self.follow(ns, listener)

    def follow(self, ns: Namespace, follower: Subscriber) -> None:
        self._adopt(ns)
        ns.listeners.add(follower)

    def unsubscribe(self, ns: Namespace, follower: Subscriber) -> None:
        ns.listeners.discard(follower)
        self._forget_if_empty(ns)

    def all_listeners(self) -> list[Listener]:
        """The open SSE streams."""
        return [f for ns in self.namespaces.values() for f in ns.listeners if isinstance(f, Listener)]

    # -- persistence --------------------------------------------------------------------------

    def _snapshot(self) -> tuple[int, dict[str, dict[str, Any]]]:
        """Called from the journal thread: a consistent (seq, state) of every namespace."""
        with self._lock:
            assert self.journal is not None
            seq = self.journal.seq
            state = {
                name: {
                    "data": ns.root,
                    "rules": ns.rules.source if ns.rules_uploaded and ns.rules else None,
                    **({"held": dict(ns.held)} if ns.held else {}),
                    **({"settings": dict(ns.settings)} if ns.settings else {}),
                }
                for name, ns in self.namespaces.items()
                if ns.root is not None or ns.rules_uploaded or ns.held or ns.settings
            }
        return seq, state

    def close(self) -> None:
        """Flush the journal (acknowledging what it held) and close every stream."""
        if self.journal is not None:
            last = self.journal.seq
            try:
                try:
                    self.journal.compact()  # leave one snapshot and an empty log behind
                finally:
                    self.journal.close()  # releases the directory lock whatever happened
            except JournalError as err:
                self._failed(err)
            else:
                self._durable(last)
            self.journal = None
        for ns in self.namespaces.values():
            for listener in list(ns.listeners):
                listener.close()
            ns.listeners.clear()


class Watched:
    """Paths a write judged off the loop depends on (where it writes, where its rules looked),
    indexed so that changed_since asks a few lookups per path committed meanwhile, not one
    comparison per watched path: a member's multi-path write can watch hundreds of thousands.
    Built step by step in Python (no long sort holding the GIL), of hashes: a collision can only
    answer "touched" where nothing was, which costs a judgement again, never a wrong commit."""

    __slots__ = ("_at", "_above")

    def __init__(self, paths: Iterable[Path]) -> None:
        at: set[int] = set()
        above: set[int] = set()  # every proper prefix of a path
        for path in paths:
            at.add(hash(path))
            for depth in range(len(path)):
                above.add(hash(path[:depth]))
        self._at, self._above = at, above

    def touched_by(self, written: Path) -> bool:
        """Is ``written`` at, above or below one of the paths?"""
        if hash(written) in self._above:
            return True
        return any(hash(written[:depth]) in self._at for depth in range(len(written) + 1))


def written_paths(change: Change) -> tuple[Path, ...]:
    """Where ``change`` writes, for changed_since: its paths, or its base when they are many."""
    if len(change.entries) > 16:
        return (change.base,)
    return tuple(change.paths())


def _changed(ns: Namespace, paths: tuple[Path, ...]) -> None:
    ns.version += 1
    ns.history.append((ns.version, paths))


def _apply_record(state: dict[str, dict[str, Any]], record: dict[str, Any]) -> None:
    """Replay one journal record into recovered state."""
    entry = state.setdefault(record["ns"], {"data": None, "rules": None})
    if "rules" in record:
        entry["rules"] = record["rules"]
    for path_text, node in record.get("e", ()):
        entry["data"] = tree.set_at(entry["data"], tree.split_path(path_text), node)
    if "held" in record:
        session, writes = record["held"]
        held = entry.setdefault("held", {})
        if writes is None:
            held.pop(session, None)
        else:
            held[session] = writes
    if "setting" in record:
        name, value = record["setting"]
        entry.setdefault("settings", {})[name] = value
    if "released" in record:
        entry.get("held", {}).pop(record["released"], None)

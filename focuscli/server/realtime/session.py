"""One realtime connection: texts and commits in, answers, pushes and store actions out.

The transport calls ``start`` once, ``receive`` for every text in arrival order (waiting for
``settled`` after a Commit, Hold or Barrier before feeding the next: requests are handled one
after another, rtdb-websocket.md §1.8), ``deliver`` for every published commit of the
namespace, ``tick`` now and then, and ``lost`` when the socket is gone. Reads see the
published tree (what streams have been shown); writes are checked and compare-and-set
against the head. No I/O, no clock of its own: ``now`` is epoch seconds.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from focuscli.server import sdkhash, tree
from focuscli.server.access import Access
from focuscli.server.change import Change
from focuscli.server.realtime import arguments, messages
from focuscli.server.realtime.actions import (
    Action,
    Barrier,
    Close,
    CloseCode,
    Commit,
    Hold,
    Log,
    Send,
)
from focuscli.server.realtime.ondisconnect import OnDisconnect, placeholder, run_held
from focuscli.server.realtime.pushes import Listen, wire_path
from focuscli.server.tree import Node, Path

PERMISSION_DENIED = "Permission denied"
STALE = "Transaction hash does not match"
UNPARSABLE_TOKEN = "Could not parse auth token."
EXPIRED_TOKEN = "Auth token is expired."


class Database(Protocol):
    """What a session reads of its namespace (the store's Namespace is one)."""

    root: Node  # the head: every commit, durable or not
    published: Node  # what listeners have been shown
    access: Access


@dataclass(frozen=True)
class Who:
    """The connection's identity: admin (rules bypassed) or the rules' ``auth``."""

    admin: bool
    auth: dict[str, Any] | None
    expires_at: float | None = None  # epoch seconds: then the server sends `ac`


ANONYMOUS = Who(admin=False, auth=None)


class Refused(Exception):
    """A credential the server does not accept: ``status`` and ``message`` go in the answer."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Authenticate = Callable[[str, str | None, float], Who]
"""(credential, auth override as JSON text or None, now) -> Who; raises Refused."""


class Session:
    """The protocol state of one connection to one namespace."""

    def __init__(self, session_id: str, host: str, db: Database, authenticate: Authenticate) -> None:
        self.id = session_id
        self.host = host
        self.db = db
        self.authenticate = authenticate
        self.who = ANONYMOUS
        self.listens: dict[tuple[Path, str | None], Listen] = {}
        self.on_disconnect = OnDisconnect()
        self.ended = False
        self.suspended = False  # after a refused credential, until a good one: nothing pushed
        self.stale_answers = 0
        self._reassembler = messages.Reassembler()
        self._tickets = itertools.count(1)
        self._waiting: dict[int, Callable[[str | None], list[Action]]] = {}

    # -- the transport's calls --------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        """The hello, the first message on every connection (§1.6)."""
        hello = {"ts": int(now * 1000), "v": "5", "h": self.host, "s": self.id}
        return _sends(messages.encode(messages.control("h", hello)))

    def receive(self, text: str, now: float) -> list[Action]:
        """One text from the socket."""
        if self.ended:
            return []
        try:
            incoming = self._reassembler.feed(text)
        except messages.ProtocolError as err:
            return self._fail(CloseCode.PROTOCOL_ERROR, str(err))
        if incoming is None or isinstance(incoming, messages.KeepAlive):
            return []
        if isinstance(incoming, messages.Oversized):
            if incoming.request is None:
                return self._fail(CloseCode.MESSAGE_TOO_BIG, "a message over the size limit")
            return self._answer(incoming.request, "too_big", messages.TOO_BIG)
        if incoming.layer == "c":
            return self._control(incoming.body)
        if incoming.layer == "d":
            return self._request(incoming.body, now)
        return []  # another layer: the JS client ignores those too

    def settled(self, ticket: int, error: str | None) -> list[Action]:
        """A Commit, Hold or Barrier is done (``error``: why the store could not)."""
        then = self._waiting.pop(ticket, None)
        return then(error) if then is not None else []

    def deliver(self, change: Change | None, old_root: Node, new_root: Node, now: float,
                cache: dict[Any, Any]) -> list[Action]:  # fmt: skip
        """A published commit (``change`` None: the rules changed): revoke the listens no longer
        readable, push the data the others now hold."""
        if self.ended or self.suspended:
            return []
        if self._expired(now):
            return self.revoke_auth()
        texts: list[str] = []
        now_ms = int(now * 1000)
        for listen in list(self.listens.values()):
            if not self._may_read(listen.path, listen.params, new_root, now_ms):
                del self.listens[listen.key]
                texts.extend(listen.revoked())
            elif change is not None:
                texts.extend(listen.pushes(change, old_root, new_root, cache))
        return _sends(_unique(texts))

    def tick(self, now: float) -> list[Action]:
        """Time passed: a token that expired meanwhile ends with `ac` (§3.1)."""
        if not self.ended and self._expired(now):
            return self.revoke_auth()
        return []

    def lost(self, now: float) -> list[Action]:
        """The socket is gone: carry out the held onDisconnect writes as one write (§8)."""
        self.ended = True
        if not self.on_disconnect:
            return []
        ticket = next(self._tickets)
        self._waiting[ticket] = lambda error: []
        who, root = self.who, self.db.root
        outcome = run_held(self.on_disconnect, who.admin, who.auth, root, self.db.access, now)
        self.on_disconnect = OnDisconnect()
        if outcome is None or outcome[1] is root:
            return [Hold(ticket, None)]
        return [Commit(ticket, outcome[0], outcome[1], release=self.id)]

    # -- dispatch ---------------------------------------------------------------------------

    def _control(self, body: Any) -> list[Action]:
        if type(body) is not dict or "t" not in body:
            return self._fail(CloseCode.PROTOCOL_ERROR, "a control message without a type")
        if body["t"] == "p":
            return _sends(messages.encode(messages.control("o", {})))
        return []

    def _request(self, body: Any, now: float) -> list[Action]:
        if type(body) is not dict:
            return self._fail(CloseCode.PROTOCOL_ERROR, "a data message that is not an object")
        number = body.get("r")
        if type(number) is not int:
            return self._fail(CloseCode.PROTOCOL_ERROR, "a request without an integer 'r'")
        action, args = body.get("a"), body.get("b")
        handler = _HANDLERS.get(action) if type(action) is str else None
        if handler is None:
            return self._answer(number, "invalid_request", f"Unknown action {action!r}.")
        if type(args) is not dict:
            return self._answer(number, "invalid_request", "The request body must be an object.")
        try:
            return handler(self, number, args, now)
        except arguments.Invalid as err:
            return self._answer(number, "invalid_request", str(err))

    def _answer(self, number: int, status: str, data: Any) -> list[Action]:
        return _sends(messages.encode(messages.response(number, status, data)))

    def _fail(self, code: CloseCode, reason: str) -> list[Action]:
        self.ended = True
        return [Log(f"closing a realtime connection: {reason}"), Close(code, reason)]

    def _wait(self, then: Callable[[str | None], list[Action]]) -> int:
        ticket = next(self._tickets)
        self._waiting[ticket] = then
        return ticket

    # -- identity and rules -----------------------------------------------------------------

    def _may_read(self, path: Path, params: dict[str, str] | None, root: Node, now_ms: int) -> bool:
        if self.who.admin:
            return True
        return self.db.access.can_read(path, self.who.auth, root, now_ms, params)

    def _may_write(self, change: Change, root: Node, new_root: Node, now_ms: int) -> bool:
        if self.who.admin:
            return True
        auth, access = self.who.auth, self.db.access
        return all(access.can_write(p, auth, root, new_root, now_ms) for p in change.paths())

    def _expired(self, now: float) -> bool:
        return self.who.expires_at is not None and now >= self.who.expires_at

    def revoke_auth(self) -> list[Action]:
        """The token expired: say so (`ac`) and end; the client reconnects with a fresh token."""
        self.who, self.suspended = ANONYMOUS, True
        ac = messages.push("ac", {"s": "expired_token", "d": EXPIRED_TOKEN})
        return [*_sends(messages.encode(ac)), Close(CloseCode.POLICY_VIOLATION, "auth token expired")]

    def _recheck(self, now: float) -> list[Action]:
        return self.deliver(None, self.db.published, self.db.published, now, {})

    def _auth(self, number: int, args: dict[str, Any], now: float) -> list[Action]:
        credential = args.get("cred")
        override: str | None = None
        if args.get("noauth") is True:
            override = "null"
        elif "authvar" in args:
            override = json.dumps(args["authvar"])
        try:
            if type(credential) is not str or not credential:
                raise Refused("invalid_token", UNPARSABLE_TOKEN)
            who = self.authenticate(credential, override, now)
        except Refused as err:
            # The client closes and reconnects with a fresh token: until then nothing is
            # pushed (and no listen is revoked, which would cancel the app's listeners).
            self.who, self.suspended = ANONYMOUS, True
            return self._answer(number, err.status, err.message)
        self.who, self.suspended = who, False
        actions = self._answer(number, "ok", {"auth": who.auth, "expires": who.expires_at})
        if self.on_disconnect:  # after a crash, held writes run as whoever registered them last
            actions.append(Hold(self._wait(lambda error: []), self._held_record()))
        return actions + self._recheck(now)

    def _unauth(self, number: int, args: dict[str, Any], now: float) -> list[Action]:
        self.who, self.suspended = ANONYMOUS, False
        return self._answer(number, "ok", "unauthenticated") + self._recheck(now)

    def _ok(self, number: int, args: dict[str, Any], now: float) -> list[Action]:
        return self._answer(number, "ok", "")  # stats, App Check: nothing to do

    # -- reads ------------------------------------------------------------------------------

    def _listen(self, number: int, args: dict[str, Any], now: float) -> list[Action]:
        path = arguments.path(args.get("p"))
        query = arguments.query(args.get("q"))
        tag = args.get("t")
        if tag is not None and (type(tag) is not int or query is None):
            raise arguments.Invalid("A listen's tag must be an integer and come with a query.")
        params = query.rule_params() if query is not None else None
        root = self.db.published
        if not self._may_read(path, params, root, int(now * 1000)):
            return self._answer(number, "permission_denied", PERMISSION_DENIED)
        listen = Listen(path, query, tag, params=params)
        self.listens[listen.key] = listen
        done: dict[str, Any] = {}
        index = query.index_name() if query is not None else None
        if index is not None and index not in self.db.access.index_on(path):
            done["w"] = ["no_index"]
        # Data first, then ok: ok marks the client's cache complete (§3.5).
        return _sends(listen.initial(root)) + self._answer(number, "ok", done)

    def _unlisten(self, number: int, args: dict[str, Any], now: float) -> list[Action]:
        path = arguments.path(args.get("p"))
        query = arguments.query(args.get("q"))
        self.listens.pop((path, None if query is None else query.key), None)
        return self._answer(number, "ok", "")

    def _get(self, number: int, args: dict[str, Any], now: float) -> list[Action]:
        path = arguments.path(args.get("p"))
        query = arguments.query(args.get("q"))
        params = query.rule_params() if query is not None else None
        root = self.db.published
        if not self._may_read(path, params, root, int(now * 1000)):
            return self._answer(number, "permission_denied", PERMISSION_DENIED)
        node = tree.get(root, path)
        if query is not None:
            node = query.window(node)
        return self._answer(number, "ok", tree.export(node))

    # -- writes -----------------------------------------------------------------------------

    def _set(self, number: int, args: dict[str, Any], now: float) -> list[Action]:
        path, priority_only = arguments.write_path(args.get("p"))
        if "d" not in args:
            raise arguments.Invalid("A set needs 'd'.")
        now_ms, root = int(now * 1000), self.db.root
        resolve = tree.server_values(now_ms, root)
        if priority_only:
            node = arguments.with_priority(tree.get(root, path), args["d"], path, resolve)
        else:
            node = arguments.normalize(args["d"], path, resolve)
        return self._write(number, args, Change("put", path, (((), node),)), now)

    def _merge(self, number: int, args: dict[str, Any], now: float) -> list[Action]:
        base = arguments.path(args.get("p"))
        resolve = tree.server_values(int(now * 1000), self.db.root)
        entries = tuple((rel, arguments.normalize(value, base + rel, resolve))
                        for rel, value in arguments.merge_entries(args.get("d")))  # fmt: skip
        return self._write(number, args, Change("patch", base, entries), now)

    def _write(self, number: int, args: dict[str, Any], change: Change, now: float) -> list[Action]:
        now_ms, root = int(now * 1000), self.db.root
        if "h" in args:
            expected = args["h"]
            if type(expected) is not str:
                raise arguments.Invalid("A transaction's hash must be a string.")
            if not sdkhash.matches(tree.get(root, change.base), expected):
                return self._stale(number, change.base, now_ms)
        new_root = change.apply(root)
        if not self._may_write(change, root, new_root, now_ms):
            return self._answer(number, "permission_denied", PERMISSION_DENIED)
        then = self._then_answer(number)
        if new_root is root:
            return [Barrier(self._wait(then))]
        return [Commit(self._wait(then), change, new_root)]

    def _stale(self, number: int, path: Path, now_ms: int) -> list[Action]:
        """A transaction saw old data: push what is there now, then say so (§3.5 item 4)."""
        self.stale_answers += 1
        actions: list[Action] = []
        published = self.db.published
        if self._may_read(path, None, published, now_ms):
            body = {"p": wire_path(path), "d": tree.export(tree.get(published, path))}
            actions = _sends(messages.encode(messages.push("d", body)))
        return actions + self._answer(number, "datastale", STALE)

    def _then_answer(self, number: int) -> Callable[[str | None], list[Action]]:
        def answer(error: str | None) -> list[Action]:
            if error is None:
                return self._answer(number, "ok", "")
            return self._answer(number, "unavailable", error)

        return answer

    # -- onDisconnect -----------------------------------------------------------------------

    def _on_disconnect_set(self, number: int, args: dict[str, Any], now: float) -> list[Action]:
        path = arguments.path(args.get("p"))
        if "d" not in args:
            raise arguments.Invalid("An onDisconnect set needs 'd'.")
        resolve = tree.server_values(int(now * 1000), self.db.root)
        change = Change("put", path, (((), arguments.normalize(args["d"], path, resolve)),))
        held = [(path, arguments.normalize(args["d"], path, placeholder))]
        return self._register(number, change, held, now)

    def _on_disconnect_merge(self, number: int, args: dict[str, Any], now: float) -> list[Action]:
        base = arguments.path(args.get("p"))
        resolve = tree.server_values(int(now * 1000), self.db.root)
        pairs = arguments.merge_entries(args.get("d"))
        change = Change("patch", base, tuple((rel, arguments.normalize(v, base + rel, resolve)) for rel, v in pairs))
        held = [(base + rel, arguments.normalize(v, base + rel, placeholder)) for rel, v in pairs]
        return self._register(number, change, held, now)

    def _register(self, number: int, change: Change, held: list[tuple[Path, Node]],
                  now: float) -> list[Action]:  # fmt: skip
        """Keep writes for the disconnect if they would be allowed now (checked again then)."""
        root = self.db.root
        if not self._may_write(change, root, change.apply(root), int(now * 1000)):
            return self._answer(number, "permission_denied", PERMISSION_DENIED)
        for path, node in held:
            self.on_disconnect.remember(path, node)
        return [Hold(self._wait(self._then_answer(number)), self._held_record())]

    def _on_disconnect_cancel(self, number: int, args: dict[str, Any], now: float) -> list[Action]:
        self.on_disconnect.forget(arguments.path(args.get("p")))
        return [Hold(self._wait(self._then_answer(number)), self._held_record())]

    def _held_record(self) -> dict[str, Any] | None:
        if not self.on_disconnect:
            return None
        who = {"admin": self.who.admin, "auth": self.who.auth}
        return {"who": who, "writes": self.on_disconnect.to_record()}


_HANDLERS: dict[str, Callable[[Session, int, dict[str, Any], float], list[Action]]] = {
    "s": Session._ok,
    "appcheck": Session._ok,
    "unappeck": Session._ok,
    "auth": Session._auth,
    "gauth": Session._auth,
    "unauth": Session._unauth,
    "q": Session._listen,
    "l": Session._listen,
    "n": Session._unlisten,
    "g": Session._get,
    "p": Session._set,
    "m": Session._merge,
    "o": Session._on_disconnect_set,
    "om": Session._on_disconnect_merge,
    "oc": Session._on_disconnect_cancel,
}


def _sends(texts: list[str]) -> list[Action]:
    return [Send(text) for text in texts]


def _unique(texts: list[str]) -> list[str]:
    """Two listens can be owed the same push (a write below both): send it once."""
    if len(texts) < 2:
        return texts
    return list(dict.fromkeys(texts))

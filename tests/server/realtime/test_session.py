"""Realtime sessions without sockets: scripted SDK-like peers on one in-memory namespace.

``Peer`` plays the transport (carrying out each action in order, committing to ``Db`` and
fanning out to every peer) and records what its client would receive.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from typing import Any

import pytest

from focuscli.rules.document import RulesDocument
from focuscli.server import sdkhash, tree
from focuscli.server.access import compile_access
from focuscli.server.realtime.actions import Barrier, Close, CloseCode, Commit, Hold, Log, Send
from focuscli.server.realtime.session import Refused, Session, Who

NOW = 1_700_000_000.0


class Db:
    """A namespace in miniature: head = published (no journal), rules, held writes."""

    def __init__(self, rules: dict[str, Any] | None = None) -> None:
        self.root: Any = None
        self.published: Any = None
        self.access = compile_access(RulesDocument.parse(json.dumps({"rules": rules})) if rules else None)
        self.peers: list[Peer] = []
        self.held: dict[str, Any] = {}
        self.now = NOW

    def set_rules(self, rules: dict[str, Any]) -> None:
        self.access = compile_access(RulesDocument.parse(json.dumps({"rules": rules})))
        for peer in self.peers:
            peer.run(peer.session.deliver(None, self.published, self.published, self.now, {}))


def authenticate(credential: str, override: str | None, now: float) -> Who:
    if credential == "owner":
        return Who(True, None) if override is None else Who(False, json.loads(override))
    if credential.startswith("user:"):
        uid, _, expires = credential[5:].partition("@")
        return Who(False, {"uid": uid}, float(expires) if expires else None)
    raise Refused("invalid_token", "Could not parse auth token.")


class Peer:
    """One connection's session and what its client received."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self.session = Session("S" * 32, "127.0.0.1:9000", db, authenticate)
        self.inbox: list[Any] = []
        self.closed: tuple[CloseCode, str] | None = None
        self.logs: list[str] = []
        self._numbers = itertools.count(1)
        self._pieces: list[str] | None = None
        self._due = 0
        db.peers.append(self)
        self.run(self.session.start(db.now))

    def run(self, actions: list[Any]) -> None:
        queue = deque(actions)
        while queue:
            action = queue.popleft()
            if isinstance(action, Send):
                self._receive(action.text)
            elif isinstance(action, Commit):
                old = self.db.root
                self.db.root = self.db.published = action.new_root
                if action.release:
                    self.db.held.pop(action.release, None)
                cache: dict[Any, Any] = {}
                for peer in self.db.peers:
                    peer.run(peer.session.deliver(action.change, old, action.new_root, self.db.now, cache))
                queue.extendleft(reversed(self.session.settled(action.ticket, None)))
            elif isinstance(action, Hold):
                if action.record is None:
                    self.db.held.pop(self.session.id, None)
                else:
                    self.db.held[self.session.id] = action.record
                queue.extendleft(reversed(self.session.settled(action.ticket, None)))
            elif isinstance(action, Barrier):
                queue.extendleft(reversed(self.session.settled(action.ticket, None)))
            elif isinstance(action, Close):
                self.closed = (action.code, action.reason)
            elif isinstance(action, Log):
                self.logs.append(action.message)

    def _receive(self, text: str) -> None:
        if self._pieces is None and text.isdigit():
            self._pieces, self._due = [], int(text)
            return
        if self._pieces is not None:
            self._pieces.append(text)
            if len(self._pieces) < self._due:
                return
            text, self._pieces = "".join(self._pieces), None
        self.inbox.append(json.loads(text))

    def send(self, text: str) -> list[Any]:
        seen = len(self.inbox)
        self.run(self.session.receive(text, self.db.now))
        return self.inbox[seen:]

    def request(self, action: str, body: Any) -> list[Any]:
        number = next(self._numbers)
        return self.send(json.dumps({"t": "d", "d": {"r": number, "a": action, "b": body}}))

    def pushes(self) -> list[Any]:
        return [m["d"] for m in self.inbox if m["t"] == "d" and "a" in m["d"]]


def ok(number: int, data: Any = "") -> dict[str, Any]:
    return {"t": "d", "d": {"r": number, "b": {"s": "ok", "d": data}}}


def answer(number: int, status: str, data: Any) -> dict[str, Any]:
    return {"t": "d", "d": {"r": number, "b": {"s": status, "d": data}}}


def data(path: str, value: Any, tag: int | None = None, action: str = "d") -> dict[str, Any]:
    body: dict[str, Any] = {"p": path, "d": value}
    if tag is not None:
        body["t"] = tag
    return {"t": "d", "d": {"a": action, "b": body}}


# -- connection ------------------------------------------------------------------------------


def test_the_hello_comes_first_and_pings_get_pongs() -> None:
    peer = Peer(Db())
    assert peer.inbox == [{"t": "c", "d": {"t": "h", "d": {"ts": int(NOW * 1000), "v": "5", "h": "127.0.0.1:9000", "s": "S" * 32}}}]
    assert peer.send('{"t":"c","d":{"t":"p","d":{}}}') == [{"t": "c", "d": {"t": "o", "d": {}}}]
    assert peer.send("0") == []
    assert peer.request("s", {"c": {"sdk.js.13-2-0": 1}}) == [ok(1)]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{oops", "a message is not JSON"),
        ('{"t":"d"}', 'a message is not an envelope {"t": …, "d": …}'),
        ('{"t":"d","d":{"a":"q","b":{}}}', "a request without an integer 'r'"),
        ('{"t":"d","d":{"r":"1","a":"q","b":{}}}', "a request without an integer 'r'"),
        ('{"t":"c","d":[]}', "a control message without a type"),
    ],
)
def test_malformed_messages_close_the_connection_with_one_log_line(text: str, reason: str) -> None:
    peer = Peer(Db())
    assert peer.send(text) == []
    assert peer.closed == (CloseCode.PROTOCOL_ERROR, reason)
    assert peer.logs == [f"closing a realtime connection: {reason}"]
    assert peer.send('{"t":"c","d":{"t":"p","d":{}}}') == []  # nothing after the close


@pytest.mark.parametrize(
    ("action", "body", "message"),
    [
        ("zz", {}, "Unknown action 'zz'."),
        ("q", [], "The request body must be an object."),
        ("q", {"p": "/a/b.c", "h": ""}, tree.INVALID_PATH),
        ("q", {"p": "/a", "q": {"l": 0, "vf": "l"}, "t": 1}, "Invalid query: a query's limit must be a positive integer."),
        ("p", {"p": "/a"}, "A set needs 'd'."),
        ("p", {"p": "/a", "d": {"b.c": 1}}, "Invalid data; key 'b.c' is not allowed. Key value can't be empty or contain $ # [ ] / or ."),
        ("m", {"p": "/a", "d": {"x": 1, "x/y": 2}}, "Invalid data; path /x is an ancestor of /x/y in the same update."),
        ("m", {"p": "/a", "d": 5}, "An update needs an object 'd'."),
        ("p", {"p": "/a", "d": 1, "h": 5}, "A transaction's hash must be a string."),
    ],
)
def test_requests_that_cannot_be_carried_out_are_answered_invalid_request(action: str, body: Any, message: str) -> None:
    peer = Peer(Db())
    assert peer.request(action, body) == [answer(1, "invalid_request", message)]
    assert peer.closed is None


def test_an_oversized_message_is_answered_too_big() -> None:
    peer = Peer(Db())
    text = json.dumps({"t": "d", "d": {"r": 1, "a": "p", "b": {"p": "/big", "d": "x" * 17_000_000}}}, separators=(",", ":"))
    pieces = [text[i : i + 16384] for i in range(0, len(text), 16384)]
    assert peer.send(str(len(pieces))) == []
    received = [m for piece in pieces for m in peer.send(piece)]
    assert received == [answer(1, "too_big", "Data to write exceeds the maximum size that can be modified with a single request.")]
    assert peer.db.root is None


# -- reads and writes ------------------------------------------------------------------------


def test_a_listen_gets_its_data_before_its_ok_and_then_every_write() -> None:
    db = Db()
    reader, writer = Peer(db), Peer(db)
    assert reader.request("q", {"p": "/rooms", "h": ""}) == [data("rooms", None), ok(1, {})]
    assert writer.request("p", {"p": "/rooms/r1", "d": {"title": "x", "at": {".sv": "timestamp"}}}) == [ok(1)]
    assert reader.pushes()[-1] == {"a": "d", "b": {"p": "rooms/r1", "d": {"at": int(NOW * 1000), "title": "x"}}}
    writer.request("m", {"p": "/rooms", "d": {"r1/title": "y", "/r2": {"n": [1, 2]}}})
    assert reader.pushes()[-1] == {"a": "m", "b": {"p": "rooms", "d": {"r1/title": "y", "r2": {"n": {"0": 1, "1": 2}}}}}
    writer.request("p", {"p": "/", "d": {"rooms": 5}})  # a write above: the whole new value
    assert reader.pushes()[-1] == {"a": "d", "b": {"p": "rooms", "d": 5}}
    writer.request("p", {"p": "/elsewhere", "d": 1})
    assert reader.pushes()[-1] == {"a": "d", "b": {"p": "rooms", "d": 5}}  # nothing new


def test_the_writer_sees_its_write_pushed_before_the_ok() -> None:
    peer = Peer(Db())
    peer.request("q", {"p": "/a", "h": ""})
    assert peer.request("p", {"p": "/a/b", "d": 1}) == [data("a/b", 1), ok(2)]
    assert peer.request("p", {"p": "/a/b", "d": 1}) == [ok(3)]  # nothing changed: a barrier, then ok


def test_priorities_are_pushed_and_set_by_a_path_ending_in_priority() -> None:
    db = Db()
    peer = Peer(db)
    peer.request("q", {"p": "/w", "h": ""})
    peer.request("p", {"p": "/w/set", "d": {"x": 1}})
    assert peer.request("p", {"p": "/w/set/.priority", "d": "pp"})[0] == data("w/set", {"x": 1, ".priority": "pp"})
    peer.request("p", {"p": "/w/leaf", "d": {".value": "v", ".priority": 7}})
    assert peer.pushes()[-1]["b"] == {"p": "w/leaf", "d": {".value": "v", ".priority": 7}}
    assert peer.request("p", {"p": "/w/leaf/.priority", "d": None})[0] == data("w/leaf", "v")
    assert peer.request("p", {"p": "/w/none/.priority", "d": 1}) == [ok(6)]
    assert tree.get(db.root, ("w", "none")) is None


def test_get_answers_with_the_value_or_the_window_in_export_form() -> None:
    peer = Peer(Db())
    peer.request("p", {"p": "/g", "d": {"a": 1, "b": {".value": 2, ".priority": 1}, "c": 3}})
    assert peer.request("g", {"p": "/g", "q": {}}) == [ok(2, {"a": 1, "b": {".value": 2, ".priority": 1}, "c": 3})]
    assert peer.request("g", {"p": "/g", "q": {"l": 1, "vf": "r", "i": ".value"}}) == [ok(3, {"c": 3})]
    assert peer.request("g", {"p": "/nothing", "q": {}}) == [ok(4, None)]


def test_a_tagged_window_moves_with_merges_that_carry_the_tag() -> None:
    db = Db()
    reader, writer = Peer(db), Peer(db)
    writer.request("p", {"p": "/feed", "d": {"k0": 0, "k1": 1}})
    query = {"l": 2, "vf": "r"}
    assert reader.request("q", {"p": "/feed", "h": "", "q": query, "t": 7}) == [data("feed", {"k0": 0, "k1": 1}, 7), ok(1, {})]
    writer.request("p", {"p": "/feed/k2", "d": 2})
    assert reader.pushes()[-1] == {"a": "m", "b": {"p": "feed", "d": {"k2": 2, "k0": None}, "t": 7}}
    writer.request("p", {"p": "/feed/k2", "d": None})  # the window refills from below
    assert reader.pushes()[-1] == {"a": "m", "b": {"p": "feed", "d": {"k0": 0, "k2": None}, "t": 7}}
    writer.request("p", {"p": "/feed", "d": None})
    assert reader.pushes()[-1] == {"a": "d", "b": {"p": "feed", "d": None, "t": 7}}
    assert reader.request("n", {"p": "/feed", "q": query, "t": 7}) == [ok(2)]
    writer.request("p", {"p": "/feed/k9", "d": 9})
    assert reader.pushes()[-1] == {"a": "d", "b": {"p": "feed", "d": None, "t": 7}}


def test_an_unindexed_child_query_gets_the_no_index_warning() -> None:
    db = Db({".read": True, "indexed": {".indexOn": ["s"]}})
    peer = Peer(db)
    assert peer.request("q", {"p": "/plain", "h": "", "q": {"l": 1, "vf": "l", "i": "s"}, "t": 1})[-1] == ok(1, {"w": ["no_index"]})
    assert peer.request("q", {"p": "/indexed", "h": "", "q": {"l": 1, "vf": "l", "i": "s"}, "t": 2})[-1] == ok(2, {})
    assert peer.request("q", {"p": "/plain", "h": "", "q": {"l": 1, "vf": "l", "i": ".key"}, "t": 3})[-1] == ok(3, {})


# -- transactions ----------------------------------------------------------------------------


def test_a_transaction_commits_on_a_matching_hash_and_is_told_datastale_otherwise() -> None:
    db = Db()
    peer = Peer(db)
    peer.request("q", {"p": "/tx", "h": ""})
    value = {"a": 2, "b": "x", "c": True, ".priority": 5}
    assert peer.request("p", {"p": "/tx", "d": value, "h": ""}) == [data("tx", value), ok(2)]
    current = sdkhash.js_hash(tree.get(db.root, ("tx",)))
    assert peer.request("p", {"p": "/tx", "d": 1, "h": "stale"}) == [data("tx", value), answer(3, "datastale", "Transaction hash does not match")]
    assert peer.session.stale_answers == 1
    assert peer.request("p", {"p": "/tx", "d": 1, "h": current}) == [data("tx", 1), ok(4)]


# -- rules and identity ----------------------------------------------------------------------

RULES = {
    "users": {"$uid": {".read": "auth != null && auth.uid === $uid", ".write": "auth != null && auth.uid === $uid"}},
    "open": {".read": True, ".write": True},
}


def test_reads_and_writes_are_checked_with_the_connections_identity() -> None:
    db = Db(RULES)
    peer = Peer(db)
    assert peer.request("q", {"p": "/users/alice", "h": ""}) == [answer(1, "permission_denied", "Permission denied")]
    assert peer.request("p", {"p": "/users/alice/x", "d": 1}) == [answer(2, "permission_denied", "Permission denied")]
    assert peer.request("auth", {"cred": "user:alice"}) == [ok(3, {"auth": {"uid": "alice"}, "expires": None})]
    assert peer.request("q", {"p": "/users/alice", "h": ""}) == [data("users/alice", None), ok(4, {})]
    assert peer.request("p", {"p": "/users/bob/x", "d": 1}) == [answer(5, "permission_denied", "Permission denied")]
    assert peer.request("g", {"p": "/users/bob", "q": {}}) == [answer(6, "permission_denied", "Permission denied")]


def test_listens_no_longer_readable_are_revoked_after_unauth_or_new_rules() -> None:
    db = Db(RULES)
    peer = Peer(db)
    peer.request("auth", {"cred": "user:alice"})
    peer.request("q", {"p": "/users/alice", "h": ""})
    query = {"l": 5, "vf": "l"}
    peer.request("q", {"p": "/users/alice/list", "h": "", "q": query, "t": 3})
    peer.request("q", {"p": "/open", "h": ""})
    assert peer.request("unauth", {}) == [
        ok(5, "unauthenticated"),
        {"t": "d", "d": {"a": "c", "b": {"p": "users/alice"}}},
        {"t": "d", "d": {"a": "c", "b": {"p": "users/alice/list", "q": [query]}}},
    ]
    db.set_rules({"open": {".read": False}})
    assert peer.pushes()[-1] == {"a": "c", "b": {"p": "open"}}
    assert peer.session.listens == {}


def test_owner_with_an_auth_variable_override_is_restricted_and_a_bad_token_refused() -> None:
    db = Db(RULES)
    peer = Peer(db)
    assert peer.request("gauth", {"cred": "owner", "authvar": {"uid": "u1"}})[0] == ok(1, {"auth": {"uid": "u1"}, "expires": None})
    assert peer.request("p", {"p": "/users/u1/x", "d": 1}) == [ok(2)]
    assert peer.request("p", {"p": "/users/u2/x", "d": 1})[0]["d"]["b"]["s"] == "permission_denied"
    assert peer.request("gauth", {"cred": "owner", "noauth": True})[0] == ok(4, {"auth": None, "expires": None})
    assert peer.request("p", {"p": "/users/u1/x", "d": 2})[0]["d"]["b"]["s"] == "permission_denied"
    assert peer.request("auth", {"cred": "garbage"}) == [answer(6, "invalid_token", "Could not parse auth token.")]


def test_a_token_that_expires_on_the_socket_ends_it_with_ac() -> None:
    db = Db(RULES)
    peer = Peer(db)
    peer.request("auth", {"cred": f"user:alice@{NOW + 60}"})
    peer.request("q", {"p": "/users/alice", "h": ""})
    peer.run(peer.session.tick(NOW + 59))
    assert peer.closed is None
    peer.run(peer.session.tick(NOW + 60))
    assert peer.pushes()[-1] == {"a": "ac", "b": {"s": "expired_token", "d": "Auth token is expired."}}
    assert peer.closed == (CloseCode.POLICY_VIOLATION, "auth token expired")
    Peer(db).request("p", {"p": "/users/alice/x", "d": 1})  # nothing more goes to the old socket
    assert peer.pushes()[-1]["a"] == "ac"


# -- onDisconnect ----------------------------------------------------------------------------


def test_ondisconnect_writes_are_checked_when_registered_and_run_as_one_write_when_lost() -> None:
    db = Db({**RULES, "locked": {".write": False}})
    leaving, watching = Peer(db), Peer(db)
    watching.request("gauth", {"cred": "owner"})
    watching.request("q", {"p": "/", "h": ""})
    assert leaving.request("o", {"p": "/locked/x", "d": 1}) == [answer(1, "permission_denied", "Permission denied")]
    assert leaving.request("o", {"p": "/open/status", "d": {"state": "offline", "at": {".sv": "timestamp"}}}) == [ok(2)]
    assert leaving.request("om", {"p": "/open", "d": {"n": {".sv": {"increment": 1}}, "gone": None}}) == [ok(3)]
    assert leaving.request("o", {"p": "/open/tmp", "d": 1}) == [ok(4)]
    assert leaving.request("oc", {"p": "/open/tmp", "d": None}) == [ok(5)]
    assert set(db.held) == {leaving.session.id}
    db.now = NOW + 10
    leaving.run(leaving.session.lost(db.now))
    assert db.root == {"open": {"status": {"state": "offline", "at": int((NOW + 10) * 1000)}, "n": 1}}
    assert db.held == {}
    assert watching.pushes()[1:] == [  # after the first data: one write, one push
        {"a": "m", "b": {"p": "", "d": {"open/gone": None, "open/n": 1, "open/status": {"at": int((NOW + 10) * 1000), "state": "offline"}}}},
    ]


def test_ondisconnect_writes_refused_by_the_rules_at_the_disconnect_are_dropped() -> None:
    db = Db({"flag": {".read": True, ".write": True},
             "room": {".read": True, ".write": "root.child('flag').val() === true"}})  # fmt: skip
    peer = Peer(db)
    peer.request("p", {"p": "/flag", "d": True})
    peer.request("o", {"p": "/room/x", "d": 1})
    peer.request("o", {"p": "/flag", "d": "bye"})
    peer.request("p", {"p": "/flag", "d": False})
    peer.run(peer.session.lost(NOW))
    assert db.root == {"flag": "bye"}

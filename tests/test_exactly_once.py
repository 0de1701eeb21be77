"""An action whose write commits but whose answer is lost is applied once, not twice.

The client talks to the real server (focus's rules in force) through a TCP proxy that sabotages
PATCH requests: it relays the request, lets the server commit it, then cuts the connection or
keeps the answer until the client times out. A write without an answer may have landed: had the
client sent it again or planned it again on a refusal (as it did with urllib3's automatic
re-send, issue 6: two `extend 5m` gave +10m, two `skip` skipped two phases), the action would
apply twice. The client reads the history back and looks for the action's operation id first.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from focuscli import timer
from focuscli.backend import Database, PermissionDenied, Target
from focuscli.errors import BackendError
from focuscli.service import Focus
from tests.members import EmulatorMember

RULES = (Path(__file__).resolve().parent.parent / "firebase" / "database.rules.json").read_text()
CLIENT_TIMEOUT_S = 1.0  # the proxied client's HTTP timeout (connect and read)
METHODS = (b"GET ", b"PUT ", b"POST ", b"PATCH ", b"DELETE ")


class LossyProxy:
    """Relays TCP to ``upstream``; the n-th PATCH request meets ``plan[n]`` (later ones pass):

    - ``drop``: relayed; the server's answer is thrown away and the connection cut.
    - ``hold``: relayed; the answer is never relayed, so the client times out.
    - ``swallow``: never relayed (the server never sees it); the connection is cut.
    - ``drop-then-down``: as ``drop``, and from then on nothing listens (connection refused).

    ``meanwhile()``, if given, runs when the server's answer to a sabotaged PATCH arrives (the
    write has committed), before the client can learn anything.
    """

    def __init__(self, upstream: str, plan: list[str], meanwhile: Callable[[], None] | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.plan = list(plan)
        self.meanwhile = meanwhile
        self.patches = 0  # PATCH requests seen
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        with self.lock:
            doomed, self.sockets = [self.listener, *self.sockets], []
        for sock in doomed:
            _close(sock)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self.lock:
                self.sockets += [client, server]
            fate = ["pass"]  # what happens to the answer of the request in flight
            threading.Thread(target=self._upload, args=(client, server, fate), daemon=True).start()
            threading.Thread(target=self._download, args=(client, server, fate), daemon=True).start()

    def _upload(self, client: socket.socket, server: socket.socket, fate: list[str]) -> None:
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                data = b""
            if not data:
                _close(server)
                return
            if data.startswith(METHODS):  # no pipelining: a request starts at a chunk boundary
                fate[0] = "pass"
                if data.startswith(b"PATCH "):
                    with self.lock:
                        fate[0] = self.plan.pop(0) if self.plan else "pass"
                        self.patches += 1
            if fate[0] == "swallow":
                _close(client)
                _close(server)
                return
            try:
                server.sendall(data)
            except OSError:
                _close(client)
                return

    def _download(self, client: socket.socket, server: socket.socket, fate: list[str]) -> None:
        while True:
            try:
                data = server.recv(65536)
            except OSError:
                data = b""
            if not data:
                _close(client)
                return
            if fate[0] != "pass" and self.meanwhile is not None:
                self.meanwhile()
                self.meanwhile = None
            if fate[0] == "hold":
                continue  # the server answered (so it committed); the client never hears it
            if fate[0] in ("drop", "drop-then-down"):
                if fate[0] == "drop-then-down":
                    self.close()
                _close(client)
                _close(server)
                return
            try:
                client.sendall(data)
            except OSError:
                _close(server)
                return


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture
def through(server_url: str, ns: str, rest: Any, tmp_path: Path) -> Iterator[Any]:
    """Factory: ``through(user, plan, meanwhile=None)`` is (a `Focus` for `user` whose every
    request goes through a `LossyProxy`, the proxy), on this test's namespace with focus's rules."""
    rest.set_rules(RULES)
    opened: list[tuple[Database, LossyProxy]] = []

    def make(user: str, plan: list[str], meanwhile: Callable[[], None] | None = None) -> tuple[Focus, LossyProxy]:
        proxy = LossyProxy(server_url, plan, meanwhile)
        me = EmulatorMember(user)
        db = Database(Target(f"{proxy.url}?ns={ns}", None, "emulator"), me, timeout=CLIENT_TIMEOUT_S)
        opened.append((db, proxy))
        return Focus(db, me, state_dir=tmp_path / f"{user}-proxied"), proxy

    yield make
    for db, proxy in opened:
        db.close()
        proxy.close()


def _log(rest: Any) -> list[dict[str, Any]]:
    raw = rest.value("/sessions/team/log.json") or []
    items = raw if isinstance(raw, list) else [raw[k] for k in sorted(raw, key=int)]
    return [e for e in items if e]


def _extend(user: str) -> Any:
    return lambda s, now: timer.extend(s, user, now, 300_000)


@pytest.mark.parametrize("fate", ["drop", "hold"])
def test_extend_whose_answer_is_lost_is_applied_once(member: Any, through: Any, rest: Any, fate: str) -> None:
    member("ana").act("team", lambda s, now: timer.start(s, "ana", now, duration_ms=60_000), create=True)
    ana, proxy = through("ana", [fate])
    status = ana.act("team", _extend("ana"), note={"ms": 300_000})
    # Sent once: its answer lost, the client found its op in the history instead of resending.
    assert proxy.patches == 1
    assert (status.view.action, status.view.rev, status.view.duration_ms) == ("extend", 2, 360_000)
    state = rest.value("/sessions/team/state.json")
    assert (state["rev"], state["duration_ms"]) == (2, 360_000)
    entries = _log(rest)
    assert [(e["action"], e["by"], e.get("ms")) for e in entries] == [("start", "ana", 60_000), ("extend", "ana", 300_000)]
    assert isinstance(entries[1]["op"], str) and entries[0]["op"] != entries[1]["op"]
    assert status.view.updated_at == state["updated_at"] == entries[1]["at"]


def test_skip_whose_answer_is_lost_skips_one_phase(member: Any, through: Any, rest: Any) -> None:
    member("ana").act("team", lambda s, now: timer.start(s, "ana", now, duration_ms=60_000), create=True)
    ana, proxy = through("ana", ["drop"])
    status = ana.act("team", lambda s, now: timer.skip(s, "ana", now))
    assert proxy.patches == 1
    assert (status.view.phase, status.view.rev) == ("short_break", 2)
    state = rest.value("/sessions/team/state.json")
    assert (state["rev"], state["phase"], state["round"]) == (2, "short_break", 1)
    assert [e["action"] for e in _log(rest)] == ["start", "skip"]


def test_an_unanswered_write_is_resolved_by_reading_back(member: Any, through: Any, rest: Any) -> None:
    """The write goes unanswered: the client reads the log back, finds its op and reports
    success, without sending the write again (the second sabotage is never met)."""
    member("ana").act("team", lambda s, now: timer.start(s, "ana", now, duration_ms=60_000), create=True)
    ana, proxy = through("ana", ["drop", "drop"])
    status = ana.act("team", _extend("ana"), note={"ms": 300_000})
    assert proxy.patches == 1
    assert (status.view.action, status.view.duration_ms) == ("extend", 360_000)
    assert [e["action"] for e in _log(rest)] == ["start", "extend"]
    assert rest.value("/sessions/team/state.json")["duration_ms"] == 360_000


def test_a_write_that_never_arrived_is_sent_again_once_checked(member: Any, through: Any, rest: Any) -> None:
    """Neither the write nor its resend reached the server: each time the read-back finds no op
    and the rev still free, so sending once more is safe (that rev can be taken only once)."""
    member("ana").act("team", lambda s, now: timer.start(s, "ana", now, duration_ms=60_000), create=True)
    ana, proxy = through("ana", ["swallow", "swallow"])
    status = ana.act("team", _extend("ana"), note={"ms": 300_000})
    assert proxy.patches == 3
    assert (status.view.rev, status.view.duration_ms) == (2, 360_000)
    assert [e["action"] for e in _log(rest)] == ["start", "extend"]


def test_lost_answer_with_other_members_acting_meanwhile(member: Any, through: Any, rest: Any) -> None:
    """Bob acts right after ana's unseen commit: ana's op is found below the current rev."""
    first = member("ana")
    first.act("team", lambda s, now: timer.start(s, "ana", now, duration_ms=60_000), create=True)
    bob = member("bob")
    bob.join("team", first.invite_code("team"))

    def bob_extends() -> None:
        bob.act("team", lambda s, now: timer.extend(s, "bob", now, 1000), note={"ms": 1000})

    ana, proxy = through("ana", ["hold"], bob_extends)
    status = ana.act("team", _extend("ana"), note={"ms": 300_000})
    assert proxy.patches == 1
    assert (status.view.rev, status.view.action, status.view.updated_by) == (2, "extend", "ana")
    assert [(e["action"], e["by"]) for e in _log(rest)] == [("start", "ana"), ("extend", "ana"), ("extend", "bob")]
    assert rest.value("/sessions/team/state.json")["duration_ms"] == 60_000 + 300_000 + 1000


def test_server_gone_after_the_commit_says_it_may_have_been_applied(member: Any, through: Any, rest: Any) -> None:
    member("ana").act("team", lambda s, now: timer.start(s, "ana", now, duration_ms=60_000), create=True)
    ana, proxy = through("ana", ["drop-then-down"])
    with pytest.raises(BackendError) as caught:
        ana.act("team", _extend("ana"), note={"ms": 300_000})
    message = caught.value.message
    assert message == (
        f"cannot reach the database at {proxy.url} (connection refused), so the extend on 'team' "
        "may or may not have been applied; check with: focus log --session team"
    )
    assert "\n" not in message
    assert [e["action"] for e in _log(rest)] == ["start", "extend"]  # it was, once
    assert rest.value("/sessions/team/state.json")["duration_ms"] == 360_000


@pytest.mark.parametrize("plan", [["drop"], ["swallow"]], ids=["answer lost", "never arrived"])
def test_start_on_a_new_session_whose_create_answer_is_lost(through: Any, rest: Any, plan: list[str]) -> None:
    """`focus start` on a new session is two writes: the create (meta is written once, so its
    copy is refused) and the start. A create whose answer was lost is recognised by its new
    invite code, and the start goes on."""
    ana, proxy = through("ana", plan)
    status = ana.act("team", lambda s, now: timer.start(s, "ana", now, duration_ms=60_000), create=True)
    assert ana.created == ["team"]
    assert (status.view.action, status.view.rev) == ("start", 1)
    session = rest.value("/sessions/team.json")
    assert session["meta"]["owner"] == "ana" and set(session["members"]) == {"ana"}
    assert [e["action"] for e in _log(rest)] == ["start"]
    assert ana.invite_code("team") == rest.value("/invites/team.json")["code"]


def test_a_refused_write_is_sent_once(member: Any, through: Any, rest: Any) -> None:
    """A rules refusal (401) is final: not re-sent as if the token were stale."""
    ana = member("ana")
    ana.act("team", lambda s, now: timer.start(s, "ana", now, duration_ms=60_000), create=True)
    member("bob").join("team", ana.invite_code("team"))
    before = rest.value("/sessions/team.json")
    bob, proxy = through("bob", [])
    with pytest.raises(PermissionDenied):
        bob.db.update("sessions/team", {"state/rev": 99})  # skips revs: the rules refuse it
    assert proxy.patches == 1
    assert rest.value("/sessions/team.json") == before

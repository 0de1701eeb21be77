"""focuscli.backend against a real server: ID tokens as `auth=`, server timestamps, errors, clock offset."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from focuscli.backend import Database, PermissionDenied, Target, Unreachable, to_wire
from focuscli.errors import BackendError, UsageError
from focuscli.timer import SERVER_NOW
from tests.members import EmulatorMember, unsigned_token

ANA_ONLY = {"rules": {".read": "auth.uid === 'ana'", ".write": "auth.uid === 'ana'"}}


@pytest.fixture
def target(server_url: str, ns: str) -> Target:
    return Target(f"{server_url}?ns={ns}", None, "emulator")


@pytest.fixture
def open_db(target: Target) -> Iterator[Any]:
    """Factory: a Database as the member with the given uid, closed after the test."""
    opened: list[Database] = []

    def make(uid: str, tgt: Target | None = None, **kw: Any) -> Database:
        db = Database(tgt or target, EmulatorMember(uid), **kw)
        opened.append(db)
        return db

    yield make
    for db in opened:
        db.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_get_set_update_round_trip(open_db: Any, rest: Any) -> None:
    db = open_db("ana")
    assert db.get("/a") is None
    db.set("/a", {"b": 1, "c": {"d": "x"}})
    db.update("/a", {"b": 2, "c/e": True, "f": None})
    assert db.get("a") == {"b": 2, "c": {"d": "x", "e": True}}
    assert rest.value("/a.json") == {"b": 2, "c": {"d": "x", "e": True}}


def test_update_is_multi_path_and_can_delete(open_db: Any) -> None:
    db = open_db("ana")
    db.set("/s", {"x": 1, "y": 2})
    db.update("", {"s/x": None, "t/z": 3})
    assert db.get("/") == {"s": {"y": 2}, "t": {"z": 3}}


def test_get_last_orders_by_key(open_db: Any) -> None:
    db = open_db("ana")
    db.set("/log", {"1": "a", "2": "b", "3": "c", "4": "d"})
    last = db.get_last("/log", 2)
    assert list(last.items()) == [("3", "c"), ("4", "d")]
    assert db.get_last("/nothing", 3) in (None, {}, [])


def test_every_call_runs_as_the_member(rest: Any, open_db: Any) -> None:
    rest.set_rules(ANA_ONLY)
    ana, bob = open_db("ana"), open_db("bob")
    ana.set("/x", 1)
    assert ana.get("/x") == 1
    with pytest.raises(PermissionDenied, match=r"^permission denied at /x$"):
        bob.get("/x")
    with pytest.raises(PermissionDenied, match=r"^permission denied at /y/z$"):
        bob.set("y/z/", 2)
    with pytest.raises(PermissionDenied):
        bob.update("/", {"x": 2})
    assert rest.value("/x.json") == 1


def test_auth_uid_is_visible_to_rules(rest: Any, open_db: Any) -> None:
    rest.set_rules({"rules": {"users": {"$uid": {".write": "auth.uid === $uid", ".read": True}}}})
    db = open_db("ana")
    db.set("/users/ana/name", "Ana")
    with pytest.raises(PermissionDenied, match="at /users/bob/name"):
        db.set("/users/bob/name", "Bob")


def test_server_now_becomes_a_server_timestamp(open_db: Any, rest: Any) -> None:
    rest.set_rules(
        {"rules": {".read": True, ".write": True, "t": {".validate": "newData.val() === now"}}}
    )
    db = open_db("ana")
    before = int(time.time() * 1000)
    db.set("/t", SERVER_NOW)
    db.update("/", {"u/at": SERVER_NOW, "u/list": [1, {"at": SERVER_NOW}]})
    after = int(time.time() * 1000)
    stamp = db.get("/t")
    assert isinstance(stamp, int) and before - 1000 <= stamp <= after + 1000
    u = db.get("/u")
    assert isinstance(u["at"], int) and u["list"][0] == 1 and isinstance(u["list"][1]["at"], int)


def test_to_wire_replaces_the_sentinel_at_any_depth() -> None:
    mark = object()
    value = {"a": mark, "b": [1, {"c": mark}], "d": {"e": "SERVER_NOW"}}
    assert to_wire(value, (mark,)) == {
        "a": {".sv": "timestamp"},
        "b": [1, {"c": {".sv": "timestamp"}}],
        "d": {"e": "SERVER_NOW"},
    }
    assert to_wire({"at": SERVER_NOW}) == {"at": {".sv": "timestamp"}}


def test_unreachable_names_the_url_quickly(open_db: Any) -> None:
    port = _free_port()
    db = open_db("ana", Target(f"http://127.0.0.1:{port}?ns=focus", None, "embedded"))
    started = time.monotonic()
    with pytest.raises(Unreachable) as info:
        db.get("/x")
    assert time.monotonic() - started < 5
    assert info.value.message == (
        f"cannot reach the database at http://127.0.0.1:{port} (connection refused); "
        "is focus serve running?"
    )
    assert isinstance(info.value, BackendError)


@pytest.mark.focus_serve
def test_server_time_measures_a_skewed_server_clock() -> None:
    from focuscli.server import LocalServer

    with LocalServer(port=0, clock=lambda: time.time() + 10) as server:
        target = Target(f"{server.url}?ns=clock", None, "emulator")
        with Database(target, EmulatorMember("ana")) as db:
            offset, rtt = db.server_time()
            assert db.get("/users/ana/clock") is not None
    assert abs(offset - 10_000) <= 200
    assert 0 <= rtt < 1000


def test_server_time_with_an_injected_local_clock(open_db: Any) -> None:
    db = open_db("ana", clock=lambda: time.time() - 5)
    offset, _ = db.server_time()
    assert abs(offset - 5_000) <= 200


def test_server_time_obeys_the_rules(rest: Any, open_db: Any) -> None:
    rest.set_rules({"rules": {".read": False, ".write": False}})
    with pytest.raises(PermissionDenied, match="at /users/ana/clock"):
        open_db("ana").server_time()


def test_closed_database_refuses_and_close_is_idempotent(target: Target) -> None:
    db = Database(target, EmulatorMember("ana"))
    db.close()
    db.close()
    with pytest.raises(BackendError, match="closed"):
        db.get("/x")


def test_two_databases_are_independent(target: Target) -> None:
    with Database(target, EmulatorMember("ana")) as one, Database(target, EmulatorMember("ana")) as two:
        one.set("/n", 1)
        assert two.get("/n") == 1


def test_the_token_travels_only_as_the_auth_parameter(target: Target) -> None:
    """Never as a header (the database reads any Authorization header as an administrator's,
    spec auth.md §5.1): a recording server sees `auth=<token>` and no Authorization header."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    seen: list[tuple[str, str | None]] = []

    class Recorder(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append((self.path, self.headers.get("Authorization")))
            body = b"1"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_PATCH = _answer

        def log_message(self, *args: Any) -> None:
            pass

    member = EmulatorMember("ana")
    with HTTPServer(("127.0.0.1", 0), Recorder) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with Database(Target(f"http://127.0.0.1:{server.server_port}?ns=x", None, "emulator"), member) as db:
                db.get("/a")
                db.set("/a", 1)
                db.update("/", {"a": 2})
        finally:
            server.shutdown()
    assert len(seen) == 3
    for path, header in seen:
        assert header is None
        assert f"auth={member.id_token()}" in path and "ns=x" in path


def test_a_stale_token_is_refreshed_once_and_the_request_sent_again(rest: Any, target: Target) -> None:
    """A 401 that is not the rules' "Permission denied" (here: an expired token) means a stale
    token: one refresh, one more try (spec auth.md §5.4); the rules' refusal is final."""
    rest.set_rules({"rules": {".read": "auth != null", ".write": "auth != null"}})
    member = EmulatorMember("ana")
    member._token = unsigned_token("ana", "ana", lifetime_s=-60)  # expired a minute ago
    with Database(target, member) as db:
        db.set("/x", 1)
        assert member.refreshes == 1
        assert db.get("/x") == 1
        assert member.refreshes == 1
    rest.set_rules({"rules": {".read": False, ".write": False}})
    with Database(target, member) as db, pytest.raises(PermissionDenied):
        db.get("/x")
    assert member.refreshes == 1


def test_a_token_refused_after_a_refresh_asks_to_sign_in_again(target: Target) -> None:
    class Broken(EmulatorMember):
        def refreshed(self) -> str:
            self.refreshes += 1
            return "not-a-token"

    member = Broken("ana")
    member._token = "still-not-a-token"
    with Database(target, member) as db, pytest.raises(BackendError) as info:
        db.get("/x")
    assert member.refreshes == 1
    assert info.value.message == (
        "the database did not accept your sign-in (Could not parse auth token.); "
        "sign in again with: focus login EMAIL"
    )


def test_bad_emulator_urls_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="use http://host:port\\?ns=NAME"):
        Database(Target("http://127.0.0.1:9000", None, "emulator"), EmulatorMember("ana"))


def test_importing_the_member_path_loads_neither_sdk_nor_google_auth() -> None:
    """Members need no service-account key: the whole member path (backend, sign-in, service,
    the stream) runs without firebase-admin, google-auth or requests."""
    import subprocess
    import sys

    code = (
        "import sys, focuscli.backend, focuscli.account, focuscli.service, focuscli.stream, focuscli.shell;"
        "print(sorted(m for m in ('firebase_admin', 'google.auth', 'requests') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_server_time_works_under_focus_rules(rest: Any, open_db: Any) -> None:
    from focuscli import embedded

    rest.set_rules(embedded.packaged_rules().read_text(encoding="utf-8"))
    offset, rtt = open_db("ana").server_time()
    assert abs(offset) <= 200 and rtt >= 0
    with pytest.raises(PermissionDenied, match="at /users/bob/clock"):
        open_db("ana").set("/users/bob/clock", SERVER_NOW)


def test_a_silent_server_times_out_within_seconds(open_db: Any) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # never accepts: once the backlog is full, connects hang
        port = int(listener.getsockname()[1])
        fillers = []
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        try:
            db = open_db("ana", Target(f"http://127.0.0.1:{port}?ns=x", None, "emulator"))
            started = time.monotonic()
            with pytest.raises(Unreachable, match=rf"127\.0\.0\.1:{port} \(timed out\)"):
                db.get("/x")
            assert time.monotonic() - started < 6
        finally:
            for filler in fillers:
                filler.close()


def test_a_server_that_is_not_a_database(open_db: Any) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with HTTPServer(("127.0.0.1", 0), NotFound) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{server.server_port}"
            db = open_db("ana", Target(f"{url}?ns=x", None, "emulator"))
            with pytest.raises(BackendError) as info:
                db.get("/x")
        finally:
            server.shutdown()
    assert info.value.message == (
        f"unexpected answer from {url} (HTTP 404); is that a Realtime Database?"
    )

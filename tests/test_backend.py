"""focuscli.backend against a real server: uid override, server timestamps, errors, clock offset."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from focuscli.backend import Database, PermissionDenied, Target, Unreachable, to_wire
from focuscli.errors import BackendError, UsageError
from focuscli.timer import SERVER_NOW

ANA_ONLY = {"rules": {".read": "auth.uid === 'ana'", ".write": "auth.uid === 'ana'"}}


@pytest.fixture
def target(server_url: str, ns: str) -> Target:
    return Target(f"{server_url}?ns={ns}", None, "emulator")


@pytest.fixture
def open_db(target: Target) -> Iterator[Any]:
    """Factory: a Database as the given uid, closed after the test."""
    opened: list[Database] = []

    def make(uid: str, tgt: Target | None = None, **kw: Any) -> Database:
        db = Database(tgt or target, uid, **kw)
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


def test_every_call_runs_as_the_uid(rest: Any, open_db: Any) -> None:
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
        with Database(target, "ana") as db:
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
    db = Database(target, "ana")
    db.close()
    db.close()
    with pytest.raises(BackendError, match="closed"):
        db.get("/x")


def test_apps_are_named_and_independent(target: Target) -> None:
    with Database(target, "ana") as one, Database(target, "ana") as two:
        one.set("/n", 1)
        assert two.get("/n") == 1


def test_production_needs_a_readable_service_account(tmp_path: Path) -> None:
    url = "https://demo-focus-default-rtdb.firebaseio.com"
    with pytest.raises(UsageError, match="needs a service-account key"):
        Database(Target(url, None, "production"), "ana")
    missing = tmp_path / "nope.json"
    with pytest.raises(UsageError, match=f"^credentials file not found: {missing}$"):
        Database(Target(url, str(missing), "production"), "ana")
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{not json")
    with pytest.raises(UsageError, match=f"^credentials file {garbled} is not JSON$"):
        Database(Target(url, str(garbled), "production"), "ana")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"type": "authorized_user"}))
    with pytest.raises(UsageError, match="is not a service-account key") as info:
        Database(Target(url, str(wrong), "production"), "ana")
    assert "\n" not in info.value.message


def test_bad_emulator_urls_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="use http://host:port\\?ns=NAME"):
        Database(Target("http://127.0.0.1:9000", None, "emulator"), "ana")


def test_rules_json_reads_the_rules_in_force(rest: Any, open_db: Any) -> None:
    rest.set_rules('{\n  // a comment\n  "rules": {".read": "auth != null", ".write": false}\n}')
    assert open_db("ana").rules_json() == {"rules": {".read": "auth != null", ".write": False}}


def test_importing_the_backend_does_not_load_the_sdk() -> None:
    import subprocess
    import sys

    code = "import sys, focuscli.backend; print('firebase_admin' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_server_time_works_under_focus_rules(rest: Any, open_db: Any) -> None:
    from focuscli import embedded

    rest.set_rules(embedded.packaged_rules().read_text(encoding="utf-8"))
    offset, rtt = open_db("ana").server_time()
    assert abs(offset) <= 200 and rtt >= 0
    with pytest.raises(PermissionDenied, match="at /users/bob/clock"):
        open_db("ana").set("/users/bob/clock", SERVER_NOW)


def test_production_refuses_a_set_emulator_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREBASE_DATABASE_EMULATOR_HOST", "127.0.0.1:9000")
    url = "https://demo-focus-default-rtdb.firebaseio.com"
    with pytest.raises(UsageError, match="unset it to use the production database"):
        Database(Target(url, "/key.json", "production"), "ana")


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

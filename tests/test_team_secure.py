"""Members who prove who they are, end to end on a `focus serve --secure`.

Three members and a stranger, each with their own HOME, sign in with `focus login` (the password
on stdin), then start, invite, join, act, kick, rotate and hand over through the CLI; the
stored state and the exact output and exit code are asserted. Every failure of sign-in is one
line with its exit code. The server's clock is real; tokens are made short-lived with
`--token-lifetime` where a test must cross an expiry.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from focuscli.server import LocalServer

pytestmark = pytest.mark.focus_serve

ROOT = Path(__file__).resolve().parent.parent
RULES = (ROOT / "firebase" / "database.rules.json").read_text()
SECRET = "team-secure-test-secret-0123456789"
ADMIN = {"Authorization": f"Bearer {SECRET}"}
PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with LocalServer(port=0, data_dir=tmp_path_factory.mktemp("secure"), secure=True, admin_token=SECRET,
                     rules_source=RULES, keepalive=0.5) as srv:
        yield srv


@pytest.fixture
def ns(server: LocalServer) -> str:
    import uuid

    name = f"t{uuid.uuid4().hex[:12]}"
    resp = requests.put(f"{server.url}/.settings/rules.json", params={"ns": name}, data=RULES.encode(), headers=ADMIN, timeout=10)
    assert resp.status_code == 200, resp.text
    return name


class Team:
    """`focus` runs in this process, one HOME per person, on one namespace of the server."""

    def __init__(self, server: LocalServer, ns: str, root: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Any) -> None:
        self.url = f"{server.url}?ns={ns}"
        self.server, self.ns, self.root = server, ns, root
        self.monkeypatch, self.run_cli = monkeypatch, run_cli

    def __call__(self, who: str, *args: str, stdin: str | None = None) -> Any:
        for var in ("FOCUS_SESSION", "FOCUS_CONFIG", "FOCUS_USER", "GOOGLE_APPLICATION_CREDENTIALS"):
            self.monkeypatch.delenv(var, raising=False)
        self.monkeypatch.setenv("FOCUS_DATABASE_URL", self.url)
        self.monkeypatch.setenv("USER", who)  # each person's login name is their profile
        self.monkeypatch.setenv("LOGNAME", who)
        self.monkeypatch.setenv("HOME", str(self.root / who))
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        return self.run_cli(list(args), self.root / who)

    def email(self, who: str) -> str:
        """Each test's accounts have addresses of their own (the server outlives the test)."""
        return f"{who}@{self.ns}.example.com"

    def login(self, who: str, *, create: bool = True) -> Any:
        flags = ["--create", "--name", who.capitalize()] if create else []
        result = self(who, "login", self.email(who), *flags, "--password-stdin", stdin=PASSWORD + "\n")
        assert result.code == 0, result
        return result

    def value(self, path: str) -> Any:
        resp = requests.get(f"{self.server.url}/{path.strip('/')}.json", params={"ns": self.ns}, headers=ADMIN, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def uid(self, who: str) -> str:
        return str(json.loads(self(who, "whoami", "--json").out)["uid"])


@pytest.fixture
def team(server: LocalServer, ns: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Any) -> Team:
    return Team(server, ns, tmp_path, monkeypatch, run_cli)


def test_a_team_signs_in_and_shares_a_session(team: Team) -> None:
    created = team.login("ana")
    assert created.out == f"created the account and signed in as Ana <{team.email('ana')}> on {team.server.url} (profile ana)\n"
    assert created.err == ""
    team.login("bob")
    team.login("cara")
    team.login("eve")  # signed in, but never a member

    started = team("ana", "start", "25m", "--label", "review", "--session", "team")
    assert (started.code, started.out) == (0, "team: started focus (25:00)\n")
    code = team("ana", "session", "invite").out.strip()
    assert re.fullmatch(r"[A-Z2-9]{10}", code)
    assert team("bob", "join", "team", "--code", code.lower()).out == "joined team\n"  # any case
    assert team("cara", "join", "team", "--code", code).out == "joined team\n"
    paused = team("bob", "pause")
    assert (paused.code, paused.out) == (0, "team: paused focus with 25:00 left\n")

    ana, bob, cara = team.uid("ana"), team.uid("bob"), team.uid("cara")
    members = team.value("sessions/team/members")
    assert {uid: rec["name"] for uid, rec in members.items()} == {ana: "Ana", bob: "Bob", cara: "Cara"}
    state = team.value("sessions/team/state")
    assert (state["updated_by"], state["updated_by_name"], state["action"]) == (bob, "Bob", "pause")
    status = json.loads(team("cara", "status", "--json").out)
    assert (status["updated_by"], status["updated_by_uid"], status["status"]) == ("Bob", bob, "paused")
    log = team("cara", "log", "--json").out.splitlines()
    assert [(json.loads(line)["by"], json.loads(line)["by_uid"]) for line in log] == [("Ana", ana), ("Bob", bob)]
    who = json.loads(team("cara", "who", "--json").out)
    assert sorted((m["user"], m["uid"]) for m in who) == sorted([("Ana", ana), ("Bob", bob), ("Cara", cara)])

    # The stranger is refused everywhere, with one line each.
    for args in (("status", "--session", "team"), ("pause", "--session", "team"), ("who", "--session", "team"),
                 ("log", "--session", "team"), ("session", "invite", "--session", "team")):
        refused = team("eve", *args)
        assert refused.code == 1, (args, refused)
        assert refused.err == "focus: you (Eve) are not a member of 'team'; join with: focus join team --code CODE\n"
    assert team("eve", "join", "team", "--code", "WRONGCODE2").err == "focus: the invite code for 'team' is not right; ask a member for it\n"

    # The owner removes bob: the code he knew stops working; only the owner may do it.
    refused = team("cara", "session", "kick", "Bob", "--session", "team")
    assert (refused.code, refused.err) == (1, "focus: only the owner of 'team' can remove members\n")
    kicked = team("ana", "session", "kick", "Bob")
    new_code = kicked.out.split("the new invite code is ")[1].split(" ")[0]
    assert kicked.out == f"removed Bob from team; the new invite code is {new_code} (the old one no longer works)\n"
    assert team("bob", "status").err == "focus: you (Bob) are not a member of 'team'; join with: focus join team --code CODE\n"
    assert team("bob", "join", "team", "--code", code).code == 1
    assert set(team.value("sessions/team/members")) == {ana, cara}

    # Rotating again: the code from the kick stops working too.
    rotated = team("ana", "session", "invite", "--rotate").out.strip()
    assert rotated != new_code and team("eve", "join", "team", "--code", new_code).code == 1
    assert team("eve", "join", "team", "--code", rotated).code == 0

    # Handing over: cara owns it, ana no longer can kick; only the owner deletes.
    assert team("ana", "session", "transfer", "Cara").out == "Cara now owns team\n"
    assert team.value("sessions/team/meta/owner") == cara
    assert team("ana", "session", "kick", "Eve").err == "focus: only the owner of 'team' can remove members\n"
    assert team("ana", "session", "delete", "team").err == "focus: only the owner of 'team' can delete it\n"
    assert team("cara", "session", "delete", "team").out == "deleted session team\n"
    assert team.value("sessions/team") is None and team.value("invites/team") is None


def test_whoami_and_the_stored_sign_in(team: Team) -> None:
    team.login("ana")
    info = json.loads(team("ana", "whoami", "--json").out)
    assert info["email"] == team.email("ana") and info["name"] == "Ana" and info["profile"] == "ana"
    assert info["verified"] == "signed" and info["algorithm"] == "RS256"
    assert info["issuer"] == "https://securetoken.google.com/demo-focus"
    assert info["backend"] == {"kind": "emulator", "url": team.server.url}
    assert info["expires_at"] > time.time() + 3000
    path = Path(info["credentials"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())["sign_ins"][f"{team.server.url}"]["ana"]
    assert stored["uid"] == info["uid"] and stored["how"] == "login" and "password" not in json.dumps(stored)
    text = team("ana", "whoami").out.splitlines()
    assert text[0] == f"Ana <{team.email('ana')}> (uid {info['uid']})"
    assert text[2] == "verified: ID token signed (RS256) by https://securetoken.google.com/demo-focus; the database checks the signature"
    assert team("ana", "logout").out == f"signed out profile ana from {team.server.url}\n"
    assert team("ana", "logout").out == f"profile ana was not signed in to {team.server.url}\n"
    after = team("ana", "status", "--session", "team")
    assert (after.code, after.err) == (
        1, f"focus: profile 'ana' is not signed in to {team.server.url}; sign in with: focus login EMAIL "
        "(or create an account: add --create --name NAME)\n")


@pytest.mark.parametrize(
    ("setup", "args", "stdin", "code", "err"),
    [
        ("ana", ["login", "ana@example.com", "--password-stdin"], "wrong password\n", 1,
         "focus: wrong email or password; check them, or create the account with: focus login EMAIL --create --name NAME"),
        (None, ["login", "nobody@example.com", "--password-stdin"], PASSWORD + "\n", 1,
         "focus: wrong email or password; check them, or create the account with: focus login EMAIL --create --name NAME"),
        (None, ["login", "ana@example.com", "--create", "--name", "Ana", "--password-stdin"], "short\n", 1,
         "focus: the password is too weak (at least 6 characters); choose a longer one"),
        ("ana", ["login", "ana@example.com", "--create", "--name", "Ana", "--password-stdin"], PASSWORD + "\n", 1,
         "focus: an account with that email already exists; sign in with: focus login EMAIL"),
        (None, ["login", "ana@example.com", "--create", "--password-stdin"], PASSWORD + "\n", 2,
         "focus: --create needs --name NAME (the name your teammates see)"),
        (None, ["login", "not-an-email", "--password-stdin"], PASSWORD + "\n", 2,
         "focus: invalid email 'not-an-email': use an address like ana@example.com"),
        (None, ["login", "ana@example.com", "--password-stdin"], "", 2,
         "focus: --password-stdin: no password on stdin (one line expected)"),
        (None, ["login", "ana@example.com"], "", 2,
         "focus: no terminal to read the password from; pass it on stdin with --password-stdin"),
        (None, ["login", "ana@example.com", "--create", "--name", "a\x1bb", "--password-stdin"], PASSWORD + "\n", 2,
         "focus: invalid display name 'a\\x1bb': use 1-64 printable characters"),
    ],
    ids=["wrong password", "unknown email", "weak password", "email in use", "create without name",
         "bad email", "empty stdin", "no terminal", "control character in name"],
)
def test_sign_in_failures_are_one_line(team: Team, setup: str | None, args: list[str], stdin: str, code: int, err: str) -> None:
    if setup:
        team.login(setup)
    args = [team.email("ana") if arg == "ana@example.com" else arg for arg in args]
    result = team("ana", *args, stdin=stdin)
    assert (result.code, result.out, result.err) == (code, "", err + "\n")


def test_a_disabled_account_and_a_revoked_sign_in_ask_to_sign_in_again(team: Team) -> None:
    team.login("ana")
    team.login("bob")
    assert team("ana", "start", "--session", "team").code == 0
    bob = team.uid("bob")
    admin = f"{team.server.url}/identitytoolkit.googleapis.com/v1/projects/demo-focus"
    # Revoking bob's sessions ends his refresh token; his cached ID token still lives, so make it
    # due for renewal the way time would.
    resp = requests.post(f"{admin}/accounts:update", json={"localId": bob, "validSince": str(int(time.time()) + 1)}, headers=ADMIN, timeout=10)
    assert resp.status_code == 200, resp.text
    _expire_cached_token(team, "bob")
    revoked = team("bob", "status", "--session", "team")
    assert (revoked.code, revoked.out) == (1, "")
    assert revoked.err == (
        f"focus: your sign-in has expired or was revoked (profile 'bob' on {team.server.url}); "
        f"sign in again with: focus login {team.email('bob')}\n"
    )
    # The stored sign-in is gone; signing in again works.
    team.login("bob", create=False)
    ana = team.uid("ana")
    resp = requests.post(f"{admin}/accounts:update", json={"localId": ana, "disableUser": True}, headers=ADMIN, timeout=10)
    assert resp.status_code == 200, resp.text
    _expire_cached_token(team, "ana")
    disabled = team("ana", "status", "--session", "team")
    assert disabled.err == (
        f"focus: this account is disabled (profile 'ana' on {team.server.url}); "
        f"sign in again with: focus login {team.email('ana')}\n"
    )
    again = team("ana", "login", team.email("ana"), "--password-stdin", stdin=PASSWORD + "\n")
    assert (again.code, again.err) == (1, "focus: this account is disabled; ask the project's administrator\n")


def _expire_cached_token(team: Team, who: str) -> None:
    path = team.root / who / "config" / "focus" / "credentials.json"
    data = json.loads(path.read_text())
    record = data["sign_ins"][team.server.url][who]
    record["id_token_exp"] = int(time.time()) - 1
    path.write_text(json.dumps(data))
    os.chmod(path, 0o600)


def test_an_unreachable_sign_in_service_is_one_line(team: Team, tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    team.monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", f"127.0.0.1:{port}")
    result = team("ana", "login", "ana@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    assert (result.code, result.err) == (
        1, f"focus: cannot reach the sign-in service at http://127.0.0.1:{port} (connection refused); is focus serve running?\n")


def test_a_secure_server_makes_no_account_by_itself(team: Team) -> None:
    result = team("ana", "start", "--session", "team")
    assert (result.code, result.out) == (1, "")
    assert result.err.startswith(f"focus: profile 'ana' is not signed in to {team.server.url}; sign in with: focus login EMAIL")


def test_a_watch_outlives_its_tokens(tmp_path: Path) -> None:
    """ID tokens living 4 s; a `focus watch --json` runs for 10 s across two of them, sees a pause
    made after the first expired, and never reconnects visibly or ends."""
    from tests.conftest import focus_env

    with LocalServer(port=0, data_dir=tmp_path / "data", secure=True, admin_token=SECRET, rules_source=RULES,
                     token_lifetime=4, keepalive=0.5) as server:
        url = f"{server.url}?ns=focus"
        requests.put(f"{server.url}/.settings/rules.json", params={"ns": "focus"}, data=RULES.encode(), headers=ADMIN, timeout=10)
        envs = {}
        for who in ("ana", "bob"):
            env = focus_env(url, who, tmp_path / who, seed=False)
            envs[who] = env
            login = subprocess.run([sys.executable, "-m", "focuscli", "login", f"{who}@example.com", "--create", "--name",
                                    who.capitalize(), "--password-stdin"], input=PASSWORD + "\n", env=env,
                                   capture_output=True, text=True, timeout=30)
            assert login.returncode == 0, login.stderr
        assert subprocess.run([sys.executable, "-m", "focuscli", "start", "5m", "--session", "team"], env=envs["ana"],
                              capture_output=True, text=True, timeout=30).returncode == 0
        code = subprocess.run([sys.executable, "-m", "focuscli", "session", "invite"], env=envs["ana"],
                              capture_output=True, text=True, timeout=30).stdout.strip()
        assert subprocess.run([sys.executable, "-m", "focuscli", "join", "team", "--code", code], env=envs["bob"],
                              capture_output=True, text=True, timeout=30).returncode == 0
        watch = subprocess.Popen([sys.executable, "-m", "focuscli", "watch", "--json", "--session", "team"], env=envs["bob"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 10
            paused = False
            events: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                if not paused and time.monotonic() > deadline - 4:  # after the first token expired
                    done = subprocess.run([sys.executable, "-m", "focuscli", "pause", "--session", "team"], env=envs["ana"],
                                          capture_output=True, text=True, timeout=30)
                    assert done.returncode == 0, done.stderr
                    paused = True
                time.sleep(0.5)
            watch.terminate()
            out, err = watch.communicate(timeout=10)
        finally:
            if watch.poll() is None:
                watch.kill()
        events = [json.loads(line) for line in out.splitlines()]
        assert err == ""
        assert [e["connection"] for e in events if e["event"] == "connection"] == []  # never a visible gap
        assert any(e["event"] == "state" and e["status"] == "paused" and e["updated_by"] == "Ana" for e in events), events


def test_a_kicked_members_watch_ends_with_one_line(tmp_path: Path) -> None:
    """The owner removes bob while his `focus watch` runs: his stream loses read access, and the
    watch ends at once with one line saying what happened and what to do (exit 1)."""
    from tests.conftest import focus_env

    with LocalServer(port=0, data_dir=tmp_path / "data", secure=True, admin_token=SECRET, rules_source=RULES,
                     keepalive=0.5) as server:  # fmt: skip
        url = f"{server.url}?ns=focus"
        requests.put(f"{server.url}/.settings/rules.json", params={"ns": "focus"}, data=RULES.encode(), headers=ADMIN, timeout=10)
        envs = {who: focus_env(url, who, tmp_path / who, seed=False) for who in ("ana", "bob")}

        def focus(who: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "focuscli", *args], input=stdin, env=envs[who],
                                  capture_output=True, text=True, timeout=30)  # fmt: skip

        for who in ("ana", "bob"):
            assert focus(who, "login", f"{who}@example.com", "--create", "--name", who.capitalize(),
                         "--password-stdin", stdin=PASSWORD + "\n").returncode == 0  # fmt: skip
        assert focus("ana", "start", "25m", "--session", "team").returncode == 0
        code = focus("ana", "session", "invite").stdout.strip()
        assert focus("bob", "join", "team", "--code", code).returncode == 0
        watch = subprocess.Popen([sys.executable, "-m", "focuscli", "watch", "--json", "--session", "team"],
                                 env=envs["bob"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            assert watch.stdout is not None
            first = json.loads(watch.stdout.readline())  # the watch is live
            assert (first["event"], first["status"]) == ("state", "running")
            kicked = focus("ana", "session", "kick", "Bob")
            assert kicked.returncode == 0, kicked.stderr
            out, err = watch.communicate(timeout=15)
        finally:
            if watch.poll() is None:
                watch.kill()
        assert watch.returncode == 1
        assert err == (
            "focus: you were removed from 'team' (by its owner); to come back, ask a member for the new "
            "invite code: focus join team --code CODE\n"
        )

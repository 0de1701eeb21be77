"""focuscli.embedded: the detached `focus serve` started on demand, reused, stopped."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from focuscli import embedded
from focuscli.errors import BackendError
from focuscli.rules.document import RulesDocument
from focuscli.settings import Settings, resolve

pytestmark = pytest.mark.focus_serve


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    """Embedded settings on a free port with every XDG directory in tmp_path; cleans up."""
    environ = {
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "FOCUS_SERVE_PORT": str(_free_port()),
        "USER": "ana",
    }
    s = resolve(db=None, credentials=None, user=None, session=None, environ=environ)
    yield s
    pid_file = s.state_dir / "serve.pid"
    pid = int(pid_file.read_text()) if pid_file.exists() else None
    embedded.stop(s)
    for child in list(embedded._started.values()):  # anything a failed test left behind
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
    embedded._started.clear()
    if pid is not None and _alive(pid):
        os.kill(pid, signal.SIGKILL)


def _base(s: Settings) -> str:
    return s.target.url.split("?")[0]


def _admin(s: Settings) -> dict[str, str]:
    """The embedded server's administrator: its secret, readable by this OS user only."""
    secret = embedded.admin_secret_path(s)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    return {"Authorization": f"Bearer {secret.read_text().strip()}"}


def test_ensure_running_starts_reuses_and_stop_stops(settings: Settings) -> None:
    said: list[str] = []
    embedded.ensure_running(settings, say=said.append)
    log = settings.data_dir / "serve.log"
    assert said == [
        f"started a local database server (focus serve) on {_base(settings)}; log: {log}"
    ]
    pid = int((settings.state_dir / "serve.pid").read_text())
    assert _alive(pid)
    assert os.getsid(pid) == pid  # detached: its own session
    assert log.exists()
    assert (settings.data_dir / "database").is_dir()

    embedded.ensure_running(settings, say=said.append)
    assert len(said) == 1  # reused, not restarted
    assert int((settings.state_dir / "serve.pid").read_text()) == pid

    info = embedded.status(settings)
    assert info == {"url": _base(settings), "pid": pid, "running": True, "log": str(log)}

    assert embedded.stop(settings) == f"stopped focus serve (pid {pid})"
    assert not _alive(pid)
    assert not (settings.state_dir / "serve.pid").exists()
    assert embedded.stop(settings) == "no focus serve started by focus is running"
    assert embedded.status(settings) == {
        "url": _base(settings), "pid": None, "running": False, "log": str(log)
    }  # fmt: skip


def test_the_server_enforces_the_packaged_rules(settings: Settings) -> None:
    packaged = embedded.packaged_rules().read_text(encoding="utf-8")  # as the server will load it
    embedded.ensure_running(settings, say=lambda _: None)
    resp = requests.get(
        f"{_base(settings)}/.settings/rules.json",
        params={"ns": "focus", "format": "strict"},
        headers=_admin(settings),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == RulesDocument.parse(packaged).strict_json()


def test_the_embedded_server_is_secure(settings: Settings) -> None:
    """No other local user, and no web page, is administrator of a person's timer: the embedded
    server runs in secure mode, where `owner` is nobody, unsigned tokens are refused, and
    requests naming another host or coming from a foreign page are turned away."""
    embedded.ensure_running(settings, say=lambda _: None)
    base = _base(settings)
    root = requests.get(base + "/", headers={"Accept": "application/json"}, timeout=10).json()
    assert root["focusServe"]["mode"] == "secure"
    owner = requests.get(f"{base}/.json", params={"ns": "focus"}, headers={"Authorization": "Bearer owner"}, timeout=10)
    assert owner.status_code == 401
    unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbmEiLCJleHAiOjQxMDI0NDQ4MDB9."
    assert requests.get(f"{base}/users/ana.json", params={"ns": "focus", "auth": unsigned}, timeout=10).status_code == 401
    rebinding = requests.get(f"{base}/.json", params={"ns": "focus"}, headers={**_admin(settings), "Host": "evil.example:80"}, timeout=10)
    assert rebinding.status_code == 421
    page = requests.get(f"{base}/.json", params={"ns": "focus"}, headers={**_admin(settings), "Origin": "https://evil.example"}, timeout=10)
    assert page.status_code == 403
    assert requests.get(f"{base}/.json", params={"ns": "focus", "shallow": "true"}, headers=_admin(settings), timeout=10).status_code == 200


def test_data_outlives_the_server(settings: Settings) -> None:
    embedded.ensure_running(settings, say=lambda _: None)
    url = f"{_base(settings)}/kept.json"
    owner = _admin(settings)
    requests.put(url, params={"ns": "focus"}, json=42, headers=owner, timeout=10).raise_for_status()
    embedded.stop(settings)
    said: list[str] = []
    embedded.ensure_running(settings, say=said.append)
    assert len(said) == 1
    assert requests.get(url, params={"ns": "focus"}, headers=owner, timeout=10).json() == 42


def test_racing_starters_share_one_server(settings: Settings) -> None:
    said: list[str] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            embedded.ensure_running(settings, say=said.append)
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(said) == 1
    assert len([p for p in embedded._started.values() if p.poll() is None]) == 1


def test_a_focus_serve_someone_else_started_is_not_taken_for_ours(settings: Settings, spawn_server: Any) -> None:
    """A `focus serve` this user did not start on the port FOCUS_SERVE_PORT names (another
    user's, say) is not talked to as if it were theirs: one line says so."""
    port = settings.target.url.split(":")[2].split("?")[0]
    spawn_server("--port", port, "--memory")
    with pytest.raises(BackendError) as info:
        embedded.ensure_running(settings, say=lambda _: None)
    assert info.value.message == (
        f"port {port} (FOCUS_SERVE_PORT) is held by something other than your focus serve "
        "(another user's, or another program); pick another port with FOCUS_SERVE_PORT"
    )
    assert embedded.stop(settings) == "no focus serve started by focus is running"


def test_each_os_user_gets_a_server_of_their_own(tmp_path: Path) -> None:
    """Two users (two HOMEs) whose servers would both like the same port: the second finds the
    first one's server there, does not use it, and starts its own on another port; each user's
    `stop` and `status` speak of their own server only."""
    port = _free_port()
    users = []
    for name in ("ana", "bob"):
        root = tmp_path / name
        environ = {"HOME": str(root), "XDG_CONFIG_HOME": str(root / "config"),
                   "XDG_STATE_HOME": str(root / "state"), "XDG_DATA_HOME": str(root / "data"), "USER": name}  # fmt: skip
        (root / "state" / "focus").mkdir(parents=True)
        (root / "state" / "focus" / "serve.port").write_text(f"{port}\n")  # both last used it
        users.append(resolve(db=None, credentials=None, user=None, session=None, environ=environ))
    ana, bob = users
    try:
        ana = embedded.ensure_running(ana, say=lambda _: None)
        said: list[str] = []
        bob = embedded.ensure_running(bob, say=said.append)
        assert _base(ana) == f"http://127.0.0.1:{port}"
        assert _base(bob) != _base(ana)
        assert said == [f"started a local database server (focus serve) on {_base(bob)}; log: {bob.data_dir / 'serve.log'}"]
        assert (bob.state_dir / "serve.port").read_text().strip() == _base(bob).rsplit(":", 1)[1]
        assert embedded.status(ana)["running"] and embedded.status(bob)["running"]
        assert embedded.admin_secret_path(ana).read_text() != embedded.admin_secret_path(bob).read_text()
        # Bob's next command finds his own server at the port he recorded.
        again = resolve(db=None, credentials=None, user=None, session=None, environ={
            "HOME": str(tmp_path / "bob"), "XDG_STATE_HOME": str(tmp_path / "bob" / "state"),
            "XDG_DATA_HOME": str(tmp_path / "bob" / "data"), "XDG_CONFIG_HOME": str(tmp_path / "bob" / "config"), "USER": "bob"})  # fmt: skip
        assert _base(again) == _base(bob)
        assert embedded.stop(bob).startswith("stopped focus serve (pid ")
        assert embedded.status(ana)["running"] and not embedded.status(bob)["running"]
    finally:
        for who in (ana, bob):
            embedded.stop(who)


def test_something_else_on_the_port_is_reported(settings: Settings) -> None:
    port = int(settings.target.url.split(":")[2].split("?")[0])
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        def log_message(self, *args: Any) -> None:
            pass

    with HTTPServer(("127.0.0.1", port), NotFound) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            with pytest.raises(BackendError) as info:
                embedded.ensure_running(settings, say=lambda _: None)
        finally:
            server.shutdown()
    port = _base(settings).rsplit(":", 1)[1]
    assert info.value.message == (
        f"port {port} (FOCUS_SERVE_PORT) is held by something other than your focus serve "
        "(another user's, or another program); pick another port with FOCUS_SERVE_PORT"
    )


def test_a_server_that_cannot_start_names_the_log(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "database").write_text("not a directory")
    started = time.monotonic()
    with pytest.raises(BackendError) as info:
        embedded.ensure_running(settings, say=lambda _: None)
    assert time.monotonic() - started < 10
    log = settings.data_dir / "serve.log"
    assert info.value.message.startswith(
        f"the local database server did not start at {_base(settings)}"
    )
    assert info.value.message.endswith(f"; see {log}")
    assert not (settings.state_dir / "serve.pid").exists()


def test_stop_ignores_a_stale_pid_file(settings: Settings) -> None:
    settings.state_dir.mkdir(parents=True)
    (settings.state_dir / "serve.pid").write_text(f"{os.getpid()}\n")  # alive, but not focus serve
    assert embedded.stop(settings) == "no focus serve started by focus is running"
    assert not (settings.state_dir / "serve.pid").exists()


def test_other_targets_are_left_alone(tmp_path: Path) -> None:
    s = resolve(
        db="http://127.0.0.1:1?ns=x", credentials=None, user="ana", session=None,
        environ={"XDG_STATE_HOME": str(tmp_path / "s"), "XDG_DATA_HOME": str(tmp_path / "d")},
    )  # fmt: skip
    embedded.ensure_running(s, say=lambda msg: pytest.fail(msg))
    assert not (tmp_path / "d").exists()


def test_packaged_rules_is_the_firebase_rules_file() -> None:
    path = embedded.packaged_rules()
    assert path.name == "database.rules.json"
    repo_rules = Path(__file__).resolve().parent.parent / "firebase" / "database.rules.json"
    assert path.read_text() == repo_rules.read_text()
    json.dumps(RulesDocument.parse(path.read_text()).strict_json())


def test_a_server_started_by_an_older_focus_gets_the_packaged_rules(settings: Settings) -> None:
    """After an upgrade the running server still enforces the old rules, which may refuse the new
    version's writes: the next command brings it the packaged rules, once."""
    packaged = embedded.packaged_rules().read_bytes()
    embedded.ensure_running(settings, say=lambda _: None)
    rules = f"{_base(settings)}/.settings/rules.json"
    owner = _admin(settings)
    assert requests.get(rules, params={"ns": "focus"}, headers=owner, timeout=10).content == packaged
    older = b'{"rules": {".read": false, ".write": false}}'
    requests.put(rules, params={"ns": "focus"}, data=older, headers=owner, timeout=10).raise_for_status()
    said: list[str] = []
    embedded.ensure_running(settings, say=said.append)
    assert said == [f"updated the local database server's rules to this version of focus ({_base(settings)})"]
    assert requests.get(rules, params={"ns": "focus"}, headers=owner, timeout=10).content == packaged
    embedded.ensure_running(settings, say=said.append)
    assert len(said) == 1  # in force now: nothing more to say


def test_a_watch_brings_the_embedded_server_back(settings: Settings, tmp_path: Path) -> None:
    """`focus serve --stop` (or a crash) under a watch of the embedded default: the watch says
    reconnecting, starts the server again by itself, and is live again with the same data."""
    import subprocess
    import sys

    from tests.conftest import focus_env

    env = focus_env("", "ana", tmp_path, FOCUS_SERVE_PORT=str(settings.target.url.split(":")[2].split("?")[0]))
    env.pop("FOCUS_DATABASE_URL")
    env.update(HOME=str(tmp_path / "home"), XDG_STATE_HOME=str(settings.state_dir.parent),
               XDG_DATA_HOME=str(settings.data_dir.parent), XDG_CONFIG_HOME=str(tmp_path / "config"))  # fmt: skip
    focus = [sys.executable, "-m", "focuscli"]
    started = subprocess.run([*focus, "start", "25m", "--session", "team"], env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started
    first_pid = int((settings.state_dir / "serve.pid").read_text())
    watch = subprocess.Popen(
        [*focus, "watch", "--json", "--session", "team"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in watch.stdout or ()], daemon=True).start()

    def next_event(timeout: float = 20.0) -> dict[str, Any]:
        try:
            return dict(json.loads(lines.get(timeout=timeout)))
        except queue.Empty:
            raise AssertionError(f"no watch event within {timeout} s") from None

    try:
        assert next_event()["connection"] == "live"
        stopped = subprocess.run([*focus, "serve", "--stop"], env=env, capture_output=True, text=True, timeout=60)
        assert stopped.returncode == 0, stopped
        gone = next_event()
        assert (gone["event"], gone["connection"]) == ("connection", "reconnecting")
        back = next_event()  # within a few seconds, by itself
        assert (back["event"], back["connection"], back["status"], back["rev"]) == ("connection", "live", "running", 1)
        pid = int((settings.state_dir / "serve.pid").read_text())
        assert pid != first_pid and _alive(pid)
    finally:
        watch.terminate()
        watch.communicate(timeout=30)

"""Shared fixtures: one database server for the session, a fresh namespace per test.

The server is `focus serve`'s engine running in a thread on port 0, unless
FIREBASE_DATABASE_EMULATOR_HOST is set, in which case every protocol test runs against that
emulator instead (tests marked `focus_serve` are then skipped: they test our process itself).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

EMULATOR_HOST = os.environ.get("FIREBASE_DATABASE_EMULATOR_HOST")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow", action="store_true", default=False,
        help="also run tests marked slow (the 10-minute soak); `nox -s reliability` passes it",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--slow") and not config.getoption("markexpr"):
        # Slow tests are deselected (not skipped) from the default run; -m or --slow selects them.
        slow = [item for item in items if "slow" in item.keywords]
        if slow:
            config.hook.pytest_deselected(items=slow)
            items[:] = [item for item in items if "slow" not in item.keywords]
    if not EMULATOR_HOST:
        return
    only_ours = pytest.mark.skip(reason="tests focus serve itself, not the wire protocol")
    for item in items:
        if "focus_serve" in item.keywords:
            item.add_marker(only_ours)


_TERMINAL = ("COLUMNS", "LINES")  # what a child's width comes from when its terminal has none


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist, in the controller: hand each worker this process's terminal variables."""
    node.workerinput["focus_terminal"] = {name: os.environ.get(name) for name in _TERMINAL}


def pytest_configure(config: pytest.Config) -> None:
    """In an xdist worker: the controller's COLUMNS and LINES, not the 80x24 a worker finds
    set, so that a program the tests start on a terminal of N columns draws to N columns (as
    it does in a serial run) instead of inheriting COLUMNS=80."""
    given = getattr(config, "workerinput", {}).get("focus_terminal")
    for name, value in (given or {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


_FIGURES: list[tuple[str, str]] = []
_FIGURE = "focus-figure"  # the user property a figure travels in (from an xdist worker too)


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Any:
    """``figures("12 kills, 3,104 acknowledged writes, 0 lost")``: a measured result of this test,
    printed in pytest's summary under "figures" (the README's Reliability section quotes them)."""

    def record(text: str) -> None:
        request.node.user_properties.append((_FIGURE, text))

    return record


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect the figures as the reports arrive: in the only process, or in the xdist
    controller from its workers' reports (user properties travel with them). The teardown
    report carries every figure the test recorded, once."""
    if report.when != "teardown":
        return
    _FIGURES.extend(
        (report.nodeid, text) for name, text in report.user_properties if name == _FIGURE
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("figures")
    for nodeid, text in _FIGURES:
        terminalreporter.write_line(f"{nodeid.split('::')[-1]}: {text}")


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """Base URL (no trailing slash) of the database under test."""
    if EMULATOR_HOST:
        yield f"http://{EMULATOR_HOST}"
        return
    from focuscli.server import LocalServer

    with LocalServer(port=0, data_dir=None) as server:
        yield server.url


@pytest.fixture
def ns() -> str:
    """A namespace no other test uses: every test starts with an empty database, open rules."""
    return f"t{uuid.uuid4().hex[:16]}"


class Rest:
    """Raw HTTP against one namespace; admin (`Bearer owner`) unless `auth=` says otherwise."""

    def __init__(self, base: str, ns: str) -> None:
        self.base = base
        self.ns = ns
        self.session = requests.Session()
        self.uploaded_rules = False  # see release_rules

    def url(self, path: str) -> str:
        path = path if path.startswith("/") else "/" + path
        return self.base + path

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | str | None = None,
        admin: bool = True,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        hdrs = {"Authorization": "Bearer owner"} if admin else {}
        hdrs.update(headers or {})
        if isinstance(params, str):
            query = params + "&ns=" + self.ns if params else "ns=" + self.ns
        else:
            query = {**(params or {}), "ns": self.ns}
        kwargs.setdefault("timeout", 10)
        if method == "PUT" and path.lstrip("/").startswith(".settings/rules"):
            self.uploaded_rules = True
        return self.session.request(method, self.url(path), params=query, headers=hdrs, **kwargs)

    def release_rules(self) -> None:
        """Put the namespace back on open rules once its test is done, if rules were uploaded:
        the session's server keeps every namespace, and each keeps its compiled rules (focus's
        are ~13,000 Python objects), which made the test process's garbage collector scan
        millions of objects, seconds per full collection."""
        if self.uploaded_rules:
            self.uploaded_rules = False
            self.put("/.settings/rules.json", {"rules": {".read": True, ".write": True}})

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        if "data" not in kw:
            kw["json"] = body
        return self.request("PUT", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        if "data" not in kw:
            kw["json"] = body
        return self.request("POST", path, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        if "data" not in kw:
            kw["json"] = body
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def value(self, path: str = "/.json") -> Any:
        """The current value at `path` as admin (asserts 200)."""
        resp = self.get(path)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def set_rules(self, rules: Any) -> None:
        """Upload rules (a dict or source text) to this namespace as admin (asserts 200)."""
        if isinstance(rules, str):
            resp = self.put("/.settings/rules.json", data=rules.encode())
        else:
            resp = self.put("/.settings/rules.json", rules)
        assert resp.status_code == 200, resp.text


@pytest.fixture
def rest(server_url: str, ns: str) -> Iterator[Rest]:
    client = Rest(server_url, ns)
    yield client
    client.release_rules()
    client.session.close()


@pytest.fixture
def sdk_app(server_url: str, ns: str) -> Iterator[Any]:
    """A named firebase_admin App on the test namespace (emulator mode, `Bearer owner`)."""
    import firebase_admin

    app = firebase_admin.initialize_app(
        options={"databaseURL": f"{server_url}/?ns={ns}", "projectId": "demo-focus"},
        name=f"test-{ns}",
    )
    yield app
    firebase_admin.delete_app(app)


@pytest.fixture
def sdk_as(server_url: str, ns: str) -> Iterator[Any]:
    """Factory: an App whose every request runs as the given auth (dict, or None = anonymous)."""
    import firebase_admin

    apps = []

    def make(auth: dict[str, Any] | None) -> Any:
        app = firebase_admin.initialize_app(
            options={
                "databaseURL": f"{server_url}/?ns={ns}",
                "projectId": "demo-focus",
                "databaseAuthVariableOverride": auth,
            },
            name=f"test-{ns}-{len(apps)}",
        )
        apps.append(app)
        return app

    yield make
    for app in apps:
        firebase_admin.delete_app(app)


class ServeProcess:
    """`focus serve` as shipped, in a subprocess; `.url` once its ready line is read."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        import subprocess
        import sys

        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "focuscli", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        assert self.proc.stdout is not None
        self.ready_line = self.proc.stdout.readline().strip()
        if not self.ready_line:
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"focus serve did not start: {err}")
        hostport = self.ready_line.rsplit("FIREBASE_DATABASE_EMULATOR_HOST=", 1)[1]
        self.url = f"http://{hostport}"

    def terminate(self, sig: int | None = None) -> tuple[int, str, str]:
        import signal

        self.proc.send_signal(sig or signal.SIGTERM)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out, err

    def kill(self) -> None:
        self.proc.kill()
        self.proc.communicate(timeout=30)


@pytest.fixture
def spawn_server() -> Iterator[Any]:
    """Factory for `focus serve` subprocesses; any still running are killed afterwards."""
    started: list[ServeProcess] = []

    def spawn(*args: str, env: dict[str, str] | None = None) -> ServeProcess:
        server = ServeProcess(*args, env=env)
        started.append(server)
        return server

    yield spawn
    for server in started:
        if server.proc.poll() is None:
            server.kill()


def seed_profile(url: str, config_home: Path, profile: str, *, uid: str | None = None, name: str | None = None) -> None:
    """Sign local profile `profile` (kept under `config_home`, a XDG_CONFIG_HOME) in as the
    member `uid` with display name `name` (both default to the profile's name) on the
    emulator-mode server at `url` (``http://host:port?ns=NAME``).

    The account comes from an unsigned custom token, which an emulator-mode server (like the
    official Auth emulator) accepts, so that tests can name members ana and bob in the
    database as well as on the command line; the CLI then signs in with the stored refresh
    token exactly as it does for any account. Does nothing if the profile is signed in already.
    """
    from urllib.parse import urlsplit

    from focuscli.account import Account
    from focuscli.credentials import CredentialStore
    from focuscli.http_client import HttpClient
    from focuscli.signin import AuthService, SignIn

    parts = urlsplit(url)
    service = AuthService(f"http://{parts.netloc}/", "fake-api-key")
    store = CredentialStore(config_home / "focus" / "credentials.json")
    if store.get(service.key(), profile) is not None:
        return
    base = f"http://{parts.netloc}/identitytoolkit.googleapis.com/v1"
    with requests.Session() as http:
        answer = http.post(
            f"{base}/accounts:signInWithCustomToken?key=fake-api-key",
            json={"token": json.dumps({"uid": uid or profile}), "returnSecureToken": True}, timeout=10,
        )
        assert answer.status_code == 200, answer.text
        http.post(
            f"{base}/accounts:update?key=fake-api-key",
            json={"idToken": answer.json()["idToken"], "displayName": name or profile}, timeout=10,
        ).raise_for_status()
    client = HttpClient()
    try:
        signin = SignIn(service, client)
        account = Account(store, signin, profile, auto_create=lambda: False)
        account.save_login(signin.refresh(answer.json()["refreshToken"]))
    finally:
        client.close()


def focus_env(url: str, user: str, home: Path, *, seed: bool = True, **extra: str) -> dict[str, str]:
    """The environment of one user's `focus` process: database URL, identity (the profile
    `user`, signed in as the member with uid and name `user` unless `seed` is false: see
    seed_profile), private XDG dirs."""
    if seed and url.startswith("http://") and "?ns=" in url:
        seed_profile(url, home / "config", user)
    env = {
        **os.environ,
        "FOCUS_DATABASE_URL": url,
        "FOCUS_USER": user,
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "PYTHONPATH": os.pathsep.join(p for p in (str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")) if p),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    env.pop("FIREBASE_DATABASE_EMULATOR_HOST", None)
    env.pop("FOCUS_SESSION", None)
    env.pop("FOCUS_CONFIG", None)
    return env


class CliResult:
    """What one in-process `focus` run printed and returned."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out!r}, err={self.err!r})"


def point_cli_at(monkeypatch: pytest.MonkeyPatch, url: str, *, user: str | None = None, columns: int = 200) -> None:
    """Make in-process `focus` runs use the database at ``url`` (and profile ``user``), with no
    session, config file or admin credential inherited from the environment."""
    for var in ("FOCUS_SESSION", "FOCUS_CONFIG", "GOOGLE_APPLICATION_CREDENTIALS", "FOCUS_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FOCUS_DATABASE_URL", url)
    if user is not None:
        monkeypatch.setenv("FOCUS_USER", user)
    monkeypatch.setenv("COLUMNS", str(columns))


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Factory: ``run_cli(argv, home)`` runs `focus ARGV...` in this process, XDG dirs in home."""

    def run(argv: list[str], home: Path) -> CliResult:
        return _run_focus(argv, monkeypatch, home)

    return run


def _run_focus(argv: list[str], monkeypatch: pytest.MonkeyPatch, home: Path) -> CliResult:
    import contextlib
    import io
    import signal

    from focuscli.cli import main

    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    out, err = io.StringIO(), io.StringIO()
    previous = signal.getsignal(signal.SIGINT)  # main() installs its own Ctrl-C handler
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        signal.signal(signal.SIGINT, previous)
    return CliResult(code, out.getvalue(), err.getvalue())


FOCUS_RULES = (Path(__file__).resolve().parent.parent / "firebase" / "database.rules.json").read_text()


@pytest.fixture
def member(rest: Rest, server_url: str, ns: str, tmp_path: Path) -> Iterator[Any]:
    """Factory: ``member(user, skew_s=0, name=None)`` is a `Focus` for the member with uid
    `user` and display name `name` (default: `user`), with unsigned emulator tokens, on this
    test's namespace, with focus's own rules in force; ``skew_s`` shifts the client's clock."""
    import time

    from focuscli.backend import Database, Target
    from focuscli.service import Focus
    from tests.members import EmulatorMember

    rest.set_rules(FOCUS_RULES)
    opened: list[Database] = []

    def make(user: str, skew_s: float = 0.0, *, name: str | None = None) -> Focus:
        def clock() -> float:
            return time.time() + skew_s

        me = EmulatorMember(user, name)
        db = Database(Target(f"{server_url}?ns={ns}", None, "emulator"), me, clock=clock)
        opened.append(db)
        return Focus(db, me, state_dir=tmp_path / user, clock=clock)

    yield make
    for db in opened:
        db.close()

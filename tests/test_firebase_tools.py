"""firebase-tools' database:* commands against focus serve, as a developer runs them.

Slow (330 MB of npm packages, about 2 s a command): `pytest --slow tests/test_firebase_tools.py`.
No Google account is needed and nothing leaves the machine but failed look-ups: the CLI tries
its OAuth token, IAM and the database management API, fails, and goes on against the emulator.
Two quirks of the CLI shape the calls: `database:get` drops `?ns=`, so the commands use the
default namespace (`--instance fake-server`); the settings commands ignore
FIREBASE_DATABASE_EMULATOR_HOST, so they get FIREBASE_REALTIME_URL, and ask before going on.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from focuscli.server import LocalServer
from tests import node

TOOLS = Path(__file__).resolve().parent / "node" / "tools"
NAMESPACE = "fake-server"

pytestmark = [pytest.mark.slow, pytest.mark.focus_serve]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    node.npm_ci(TOOLS)
    with LocalServer(port=0) as running:
        yield running.url


def firebase(url: str, home: Path, *args: str, answer: str = "") -> str:
    """Run the CLI as a developer would against the local server; its stdout."""
    port = url.rsplit(":", 1)[1]
    env = {
        **node.environ(),
        "HOME": str(home),
        "CI": "1",  # no message-of-the-day fetch
        "FIREBASE_TOKEN": "unused",  # any credential: requests to an http:// database send `owner`
        "FIREBASE_DATABASE_EMULATOR_HOST": f"localhost:{port}",
        "FIREBASE_REALTIME_URL": url,
    }
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(name, None)
    done = subprocess.run(
        [node.executable("node"), str(TOOLS / "node_modules" / "firebase-tools" / "lib" / "bin" / "firebase.js"),
         *args, "--project", "demo-focus", "--instance", NAMESPACE],
        input=answer, env=env, cwd=home, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, f"firebase {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def value(url: str, path: str) -> Any:
    return requests.get(f"{url}{path}.json", params={"ns": NAMESPACE}, timeout=10).json()


def test_database_commands(server: str, tmp_path: Path) -> None:
    data = tmp_path / "rooms.json"
    data.write_text(json.dumps({"r1": {"title": "standup", "size": 3}, "leaf": "bye"}))
    firebase(server, tmp_path, "database:set", "/rooms", str(data), "--force", "--non-interactive")
    assert value(server, "/rooms") == {"leaf": "bye", "r1": {"size": 3, "title": "standup"}}
    got = firebase(server, tmp_path, "database:get", "/rooms/r1", "--non-interactive")
    assert json.loads(got.strip().splitlines()[-1]) == {"size": 3, "title": "standup"}
    update = tmp_path / "update.json"
    update.write_text(json.dumps({"size": 4, "topic": "focus"}))
    firebase(server, tmp_path, "database:update", "/rooms/r1", str(update), "--force", "--non-interactive")
    assert value(server, "/rooms/r1") == {"size": 4, "title": "standup", "topic": "focus"}
    firebase(server, tmp_path, "database:push", "/log", "--data", '{"n": 1}', "--non-interactive")
    assert list(value(server, "/log").values()) == [{"n": 1}]
    # A leaf: firebase-tools deletes with PATCH and a null body (it reported success, removed nothing)
    firebase(server, tmp_path, "database:remove", "/rooms/leaf", "--force", answer="y\n")
    assert value(server, "/rooms/leaf") is None
    imported = tmp_path / "import.json"
    imported.write_text(json.dumps({"a": {"b": [1, 2, 3]}, "c": "d"}))
    firebase(server, tmp_path, "database:import", "/imported", str(imported), "--force", "--non-interactive")
    assert value(server, "/imported") == {"a": {"b": [1, 2, 3]}, "c": "d"}


def test_database_settings_commands(server: str, tmp_path: Path) -> None:
    shown = firebase(server, tmp_path, "database:settings:get", "defaultWriteSizeLimit", answer="y\n")
    assert "defaultWriteSizeLimit = large" in shown
    firebase(server, tmp_path, "database:settings:set", "defaultWriteSizeLimit", "small", answer="y\n")
    assert "defaultWriteSizeLimit = small" in firebase(server, tmp_path, "database:settings:get", "defaultWriteSizeLimit", answer="y\n")
    firebase(server, tmp_path, "database:settings:set", "strictTriggerValidation", "false", answer="y\n")
    assert "strictTriggerValidation = false" in firebase(server, tmp_path, "database:settings:get", "strictTriggerValidation", answer="y\n")
    admin = {"Authorization": "Bearer owner"}
    got = requests.get(f"{server}/.settings/defaultWriteSizeLimit.json", params={"ns": NAMESPACE}, headers=admin, timeout=10)
    assert got.json() == "small"

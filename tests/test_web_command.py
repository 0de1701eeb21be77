"""`focus web`: the address of a session's browser page for the current backend, or opened."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "PYTHONPATH": str(ROOT),
        **extra,
    }
    for name in ("FOCUS_DATABASE_URL", "FIREBASE_DATABASE_EMULATOR_HOST", "FOCUS_SESSION", "FOCUS_CONFIG", "FOCUS_API_KEY"):
        if name not in extra:
            env.pop(name, None)
    return env


def focus(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "focuscli", *args], env=env_for(tmp_path, **extra),
                          capture_output=True, text=True, timeout=60)  # fmt: skip


@pytest.mark.parametrize(
    ("db", "args", "url"),
    [
        ("http://127.0.0.1:9/?ns=team-db", ["web", "--session", "team"], "http://127.0.0.1:9/s/team?ns=team-db"),
        ("http://127.0.0.1:9?ns=focus", ["web", "-s", "team"], "http://127.0.0.1:9/s/team"),
        ("http://localhost:9?ns=x", ["--session", "daily", "web"], "http://localhost:9/s/daily?ns=x"),
        ("http://127.0.0.1:9?ns=x", ["web"], "http://127.0.0.1:9/?ns=x"),
        ("https://demo-team-default-rtdb.firebaseio.com", ["web", "-s", "team"], "https://demo-team.web.app/s/team"),
    ],
)
def test_the_page_of_each_backend(tmp_path: Path, db: str, args: list[str], url: str) -> None:
    done = focus(tmp_path, *args, FOCUS_DATABASE_URL=db, FOCUS_API_KEY="web-api-key")
    assert (done.returncode, done.stdout, done.stderr) == (0, url + "\n", "")


def test_a_project_s_page_is_where_the_config_says(tmp_path: Path) -> None:
    config = tmp_path / "config" / "focus" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('db_url = "https://demo-team-default-rtdb.firebaseio.com"\napi_key = "k"\nhosting_url = "https://focus.team.example/"\n')
    done = focus(tmp_path, "web", "-s", "team")
    assert (done.returncode, done.stdout) == (0, "https://focus.team.example/s/team\n")
    config.write_text('hosting_url = "focus.team.example"\n')
    done = focus(tmp_path, "web", "-s", "team")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        f"focus: {config}: hosting_url 'focus.team.example' must be the site's address, like https://team.web.app\n"
    )


def test_a_bad_session_name_is_a_usage_error(tmp_path: Path) -> None:
    done = focus(tmp_path, "web", "-s", "no/such", FOCUS_DATABASE_URL="http://127.0.0.1:9?ns=x")
    assert done.returncode == 2
    assert done.stderr == "focus: invalid session name 'no/such': use 1-64 letters, digits, '-' or '_'\n"


def test_open_hands_the_address_to_the_browser(tmp_path: Path) -> None:
    seen = tmp_path / "opened"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {seen}\n')
    browser.chmod(0o755)
    done = focus(tmp_path, "web", "-s", "team", "--open", FOCUS_DATABASE_URL="http://127.0.0.1:9?ns=x",
                 BROWSER=f"{browser} %s", DISPLAY="")  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "http://127.0.0.1:9/s/team?ns=x\n")
    assert seen.read_text() == "http://127.0.0.1:9/s/team?ns=x"


@pytest.mark.focus_serve
def test_the_embedded_server_is_started_and_its_port_named(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    try:
        done = focus(tmp_path, "web", "-s", "team", FOCUS_SERVE_PORT=str(port))
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"http://127.0.0.1:{port}/s/team\n"
        page = requests.get(done.stdout.strip(), timeout=10)
        assert page.status_code == 200 and "<title>focus</title>" in page.text
        config = requests.get(f"http://127.0.0.1:{port}/__/firebase/init.json", timeout=10).json()
        assert config["emulator"]["mode"] == "secure" and config["databaseURL"].endswith("?ns=focus")
    finally:
        focus(tmp_path, "serve", "--stop", FOCUS_SERVE_PORT=str(port))

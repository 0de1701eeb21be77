"""The README's scripting cookbook runs: each recipe is a file in docs/cookbook, quoted verbatim in
the README, and executed here against a real server through a `focus` on PATH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from focuscli import timer
from tests.conftest import seed_profile

ROOT = Path(__file__).resolve().parent.parent
COOKBOOK = ROOT / "docs" / "cookbook"
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("recipe", ["pre-push", "slack_status.py", "focus-block.yml"])
def test_the_readme_quotes_each_recipe_verbatim(recipe: str) -> None:
    assert (COOKBOOK / recipe).read_text() in README


@pytest.fixture
def shell_env(server_url: str, ns: str, tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH has a `focus` that runs this checkout, on this test's database."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    focus = bin_dir / "focus"
    focus.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m focuscli "$@"\n')
    focus.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        "FOCUS_DATABASE_URL": f"{server_url}?ns={ns}",
        "FOCUS_SESSION": "team",
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "RUNNER_TEMP": str(tmp_path),
    }
    env.pop("FIREBASE_DATABASE_EMULATOR_HOST", None)
    return env


def _pre_push(env: dict[str, str], user: str) -> subprocess.CompletedProcess[str]:
    if "?ns=" in env["FOCUS_DATABASE_URL"] and not env["FOCUS_DATABASE_URL"].startswith("http://127.0.0.1:9?"):
        seed_profile(env["FOCUS_DATABASE_URL"], Path(env["XDG_CONFIG_HOME"]), user)
    return subprocess.run(
        [str(COOKBOOK / "pre-push"), "origin", "git@example.com:team/app.git"],
        env={**env, "FOCUS_USER": user}, input="", capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_pre_push_hook_refuses_only_during_a_running_focus_block(member: Any, shell_env: dict[str, str]) -> None:
    ana, bob = member("ana"), member("bob")
    ana.act("team", lambda s, now: timer.start(s, "ana", now, duration_ms=25 * 60_000), create=True)
    bob.join("team", ana.invite_code("team"))

    refused = _pre_push(shell_env, "bob")
    assert refused.returncode == 1
    assert refused.stderr.startswith("pre-push: the team is in a focus block (2")
    assert refused.stderr.endswith(" left); push after it, or git push --no-verify\n")

    ana.act("team", lambda s, now: timer.pause(s, "ana", now))
    assert _pre_push(shell_env, "bob").returncode == 0
    ana.act("team", lambda s, now: timer.skip(s, "ana", now))  # into a break
    assert _pre_push(shell_env, "bob").returncode == 0


def test_the_pre_push_hook_lets_the_push_go_when_focus_cannot_answer(shell_env: dict[str, str]) -> None:
    down = {**shell_env, "FOCUS_DATABASE_URL": "http://127.0.0.1:9?ns=x"}  # nothing listens on 9
    done = _pre_push(down, "bob")
    assert (done.returncode, done.stderr) == (0, "")


def _workflow_step(name: str) -> str:
    """The `run: |` script of the named step of docs/cookbook/focus-block.yml, dedented."""
    lines = (COOKBOOK / "focus-block.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"- name: {name}")
    run = next(i for i in range(start, len(lines)) if lines[i].strip() == "run: |")
    indent = len(lines[run + 1]) - len(lines[run + 1].lstrip())
    body = []
    for line in lines[run + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            break
        body.append(line[indent:])
    return "\n".join(body) + "\n"


def test_the_ci_job_starts_a_focus_block_and_tolerates_one_already_running(
    member: Any, shell_env: dict[str, str], rest: Any, server_url: str
) -> None:
    """The job signs its bot in with the password from a secret (--password-stdin): no key file."""
    password = "ci-bot password"
    signed_up = requests.post(
        f"{server_url}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=k",
        json={"email": "ci-bot@team.example", "password": password, "displayName": "ci-bot", "returnSecureToken": True},
        timeout=10,
    ).json()
    ana, bot = member("ana"), member(signed_up["localId"], name="ci-bot")
    ana.create("team")
    bot.join("team", ana.invite_code("team"))
    script = _workflow_step("Start a 50-minute focus block")
    env = {**shell_env, "FOCUS_BOT_EMAIL": "ci-bot@team.example", "FOCUS_BOT_PASSWORD": password, "FOCUS_API_KEY": "k"}

    first = subprocess.run(["bash", "-e", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    state = rest.value("/sessions/team/state.json")
    assert (state["status"], state["phase"], state["duration_ms"], state["label"]) == (
        "running", "focus", 50 * 60_000, "morning block",
    )  # fmt: skip
    again = subprocess.run(["bash", "-e", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr  # exit 3 from start is accepted
    assert rest.value("/sessions/team/state.json")["rev"] == state["rev"]  # nothing restarted


class _FakeSlack(BaseHTTPRequestHandler):
    calls: list[tuple[str, dict[str, str], Any]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append((self.path, dict(self.headers), body))
        answer = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_slack() -> Iterator[str]:
    _FakeSlack.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeSlack)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("event", "profile"),
    [
        ({"phase": "focus", "status": "running", "label": "auth refactor", "remaining_ms": 1_500_000},
         {"status_text": "Focusing: auth refactor", "status_emoji": ":tomato:"}),
        ({"phase": "focus", "status": "running", "label": "", "remaining_ms": 60_000},
         {"status_text": "Focusing", "status_emoji": ":tomato:"}),
        ({"phase": "focus", "status": "paused", "label": "x", "remaining_ms": 60_000},
         {"status_text": "", "status_emoji": "", "status_expiration": 0}),
        ({"phase": "short_break", "status": "running", "label": "", "remaining_ms": 300_000},
         {"status_text": "", "status_emoji": "", "status_expiration": 0}),
    ],
)  # fmt: skip
def test_the_slack_hook_sets_and_clears_the_status(fake_slack: str, event: dict[str, Any], profile: dict[str, Any]) -> None:
    import time

    before = time.time()
    done = subprocess.run(
        [sys.executable, str(COOKBOOK / "slack_status.py")],
        input=json.dumps({"event": "state", **event}), capture_output=True, text=True, timeout=30,
        env={**os.environ, "SLACK_API": fake_slack, "SLACK_TOKEN": "xoxp-test"},
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    [(path, headers, body)] = _FakeSlack.calls
    assert path == "/api/users.profile.set"
    assert headers["Authorization"] == "Bearer xoxp-test"
    sent = body["profile"]
    if "status_expiration" in profile:  # cleared
        assert sent == profile
    else:  # set until the block's end
        expires = sent.pop("status_expiration")
        assert sent == profile
        ends = event["remaining_ms"] / 1000
        assert before + ends - 1 <= expires <= time.time() + ends + 1

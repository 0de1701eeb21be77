"""Prompt status (issue 5 item 7): `focus status --format` from the snapshot `focus watch` keeps,
without the network and without importing firebase-admin, typer or rich."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from focuscli import prompt
from focuscli.entry import _prompt_args, fast_status
from focuscli.hooks import HookRunner, WatchHooks
from focuscli.service import Status, WatchEvent
from focuscli.timer import TimerView

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("firebase_admin", "typer", "rich", "aiohttp")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens here now


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOCUS_", "XDG_"))}
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        FOCUS_USER="ana",
        FOCUS_DATABASE_URL=f"http://127.0.0.1:{closed_port()}?ns=focus",
        PYTHONPATH=str(ROOT),
    )
    return env


def snap_path(env: dict[str, str], session: str = "team") -> Path:
    return prompt.snapshot_path(Path(env["XDG_STATE_HOME"]) / "focus", session)


def status_json(**over: Any) -> dict[str, Any]:
    now = int(time.time() * 1000)
    data = {
        "schema": 1, "session": "team", "phase": "focus", "status": "running",
        "remaining_ms": 90_000, "duration_ms": 1_500_000, "elapsed_ms": 1_410_000,
        "label": "report", "round": 2, "ends_at": now + 90_000, "updated_by": "bob",
        "updated_at": now - 1000, "action": "resume", "rev": 7, "clock_skew_ms": 0,
    }  # fmt: skip
    data.update(over)
    return data


def focus(env: dict[str, str], *args: str, importtime: bool = False) -> subprocess.CompletedProcess[str]:
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run(
        [sys.executable, *flags, "-m", "focuscli", *args],
        env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip


def imported(stderr: str) -> set[str]:
    """Top-level module names in a -X importtime report."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_a_fresh_snapshot_answers_without_network_or_frameworks(env: dict[str, str]) -> None:
    prompt.write_snapshot(snap_path(env), status_json(), ["ana", "bob"], "live", pid=os.getpid())
    out = focus(env, "status", "--format", "{phase} {remaining_ms} {members} {label} {round}",
                "--session", "team", importtime=True)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    phase, remaining, members, label, rnd = out.stdout.split()
    assert (phase, members, label, rnd) == ("focus", "ana,bob", "report", "2")
    assert 80_000 < int(remaining) <= 90_000  # recomputed from ends_at, not the stored 90000
    mods = imported(out.stderr)
    assert "focuscli" in mods and "focuscli.prompt" in out.stderr
    assert not mods & set(HEAVY), mods & set(HEAVY)


def test_remaining_is_recomputed_with_the_clock_skew(env: dict[str, str]) -> None:
    now = int(time.time() * 1000)
    skewed = status_json(clock_skew_ms=10_000, ends_at=now + 10_000 + 60_000)
    prompt.write_snapshot(snap_path(env), skewed, ["ana"], "live", pid=os.getpid())
    env["FOCUS_SESSION"] = "team"  # the session from the environment this time
    out = focus(env, "status", "--format", "{remaining_ms}")
    assert out.returncode == 0, out.stderr
    assert 50_000 < int(out.stdout) <= 60_000


def test_a_paused_snapshot_keeps_its_remaining_time(env: dict[str, str]) -> None:
    paused = status_json(status="paused", ends_at=None, remaining_ms=123_000, action="pause")
    prompt.write_snapshot(snap_path(env), paused, ["ana"], "live", pid=os.getpid())
    out = focus(env, "status", "--session", "team", "--format", "{status} {remaining}")
    assert (out.returncode, out.stdout) == (0, "paused 2:03\n")


def test_the_remembered_session_is_used(env: dict[str, str]) -> None:
    state = Path(env["XDG_STATE_HOME"]) / "focus"
    prompt.write_snapshot(snap_path(env), status_json(), ["ana"], "live", pid=os.getpid())
    (state / "session").write_text("team\n")
    out = focus(env, "status", "--format={session}:{updated_by}")
    assert (out.returncode, out.stdout) == (0, "team:bob\n")


@pytest.mark.parametrize(
    "why", ["old", "dead watch", "not live", "other session"]
)
def test_a_stale_snapshot_falls_through_to_the_network(env: dict[str, str], why: str) -> None:
    written = int(time.time() * 1000) - (60_000 if why == "old" else 0)
    pid = os.getpid()
    if why == "dead watch":
        done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
        pid = int(done.stdout)
    prompt.write_snapshot(
        snap_path(env),
        status_json(session="other" if why == "other session" else "team"),
        ["ana"],
        "reconnecting" if why == "not live" else "live",
        now_ms=written,
        pid=pid,
    )
    out = focus(env, "status", "--format", "{phase} {remaining}", "--session", "team")
    assert out.returncode == 1, (out.stdout, out.stderr)  # the full CLI, on the closed port
    assert out.stdout == ""
    assert out.stderr.startswith("focus: ")


def test_a_bad_format_is_a_usage_error_as_in_the_cli(env: dict[str, str]) -> None:
    prompt.write_snapshot(snap_path(env), status_json(), ["ana"], "live", pid=os.getpid())
    out = focus(env, "status", "--format", "{nope}", "--session", "team")
    assert out.returncode == 2
    assert out.stderr.startswith("focus: unknown --format token {nope}; tokens: {remaining},")


def test_the_watch_path_writes_the_snapshot_and_removes_it(env: dict[str, str], tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    view = TimerView(
        status="running", phase="short_break", round=3, remaining_ms=300_000, duration_ms=300_000,
        elapsed_ms=0, label=None, ends_at=now + 240_000, rev=4, updated_at=now, updated_by="cara",
        action="skip",
    )  # fmt: skip
    event = WatchEvent("state", Status("team", view, 0, now), ["ana", "cara"], "live")
    path = snap_path(env)
    watch = WatchHooks(HookRunner({}), path)

    def events() -> Any:
        yield event

    tapped = watch.tap(events())
    assert next(tapped) is event
    line = fast_status(["status", "--format", "{phase} {remaining} {members} {updated_by}"],
                       {**env, "FOCUS_SESSION": "team"})  # fmt: skip
    assert line in ("short_break 4:00 ana,cara cara", "short_break 3:59 ana,cara cara")
    tapped.close()  # watch ends: the snapshot goes
    assert not path.exists()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["status", "--format", "X"], ("X", None)),
        (["status", "--format", "X", "--session", "s"], ("X", "s")),
        (["status", "--session", "s", "--format", "X"], ("X", "s")),
        (["status", "--format=X", "--session=s"], ("X", "s")),
        (["status"], None),
        (["status", "--json"], None),
        (["status", "--format", "X", "--json"], None),
        (["status", "--format", "X", "--format", "Y"], None),
        (["status", "--format"], None),
        (["--session", "s", "status", "--format", "X"], None),
        (["watch"], None),
        ([], None),
    ],
)
def test_only_the_documented_forms_take_the_fast_path(argv: list[str], expected: Any) -> None:
    assert _prompt_args(argv) == expected


@pytest.mark.parametrize("ms", [-5, 0, 1, 999, 1000, 1001, 59_999, 60_000, 3_599_001, 3_600_000, 3_909_000, 360_000_000])
def test_the_prompt_formats_durations_as_the_timer_does(ms: int) -> None:
    from focuscli.timer import format_duration

    assert prompt.format_duration(ms) == format_duration(ms)

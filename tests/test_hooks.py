"""Hooks (issue 5 item 6): the event mapping, real hook runs, timeouts, failures, config."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from focuscli.errors import UsageError
from focuscli.hooks import HOOK_EVENTS, HookRunner, WatchHooks, hook_env, hook_events
from focuscli.service import Status, WatchEvent
from focuscli.settings import resolve
from focuscli.timer import TimerView
from tests.conftest import seed_profile
from tests.members import EmulatorMember


def event(
    kind: str,
    *,
    action: str | None = "start",
    phase: str = "focus",
    status: str = "running",
    rev: int = 1,
    by: str | None = "ana",
    members: tuple[str, ...] = ("ana",),
    label: str | None = "report",
) -> WatchEvent:
    view = TimerView(
        status=status, phase=phase, round=1, remaining_ms=60_000, duration_ms=1_500_000,
        elapsed_ms=1_440_000, label=label, ends_at=1_000_060_000 if status == "running" else None,
        rev=rev, updated_at=999_000_000, updated_by=by, action=action,
    )  # fmt: skip
    return WatchEvent(kind, Status("team", view, 0, 1_000_000_000), sorted(members), "live")


@pytest.mark.parametrize(
    ("kind", "action", "phase", "status", "expected"),
    [
        ("state", "start", "focus", "running", ["focus_started"]),
        ("state", "start", "short_break", "running", ["break_started"]),
        ("state", "start", "long_break", "running", ["break_started"]),
        ("state", "skip", "short_break", "running", ["break_started"]),
        ("state", "skip", "focus", "running", ["focus_started"]),
        ("state", "pause", "focus", "paused", ["paused"]),
        ("state", "resume", "focus", "running", ["resumed"]),
        ("state", "stop", "focus", "idle", []),
        ("state", "extend", "focus", "running", []),
        ("state", "settings", "focus", "running", []),
        ("phase_end", "start", "focus", "done", ["phase_ended"]),
        ("phase_end", "start", "short_break", "running", ["phase_ended", "break_started"]),
        ("phase_end", "start", "focus", "running", ["phase_ended", "focus_started"]),
        ("member_joined", "start", "focus", "running", ["member_joined"]),
        ("member_left", "start", "focus", "running", ["member_left"]),
        ("connection", "start", "focus", "running", []),
    ],
)
def test_hook_events_mapping(kind: str, action: str, phase: str, status: str, expected: list[str]) -> None:
    names = hook_events(event(kind, action=action, phase=phase, status=status))
    assert names == expected
    assert set(names) <= set(HOOK_EVENTS)


def test_hook_env_carries_the_event() -> None:
    data = event("state", action="pause", status="paused", by="bob").to_json()
    assert hook_env("paused", data, "bob") == {
        "FOCUS_EVENT": "paused",
        "FOCUS_SESSION": "team",
        "FOCUS_PHASE": "focus",
        "FOCUS_STATUS": "paused",
        "FOCUS_REMAINING_MS": "60000",
        "FOCUS_BY": "bob",
        "FOCUS_LABEL": "report",
    }


RECORD = (
    'n=$(date +%s%N); env | grep ^FOCUS_ | sort > "$OUT/$FOCUS_EVENT.$n.env"; '
    'cat > "$OUT/$FOCUS_EVENT.$n.json"; echo "$FOCUS_EVENT $FOCUS_BY" >> "$OUT/fired"'
)


def runner(tmp_path: Path, hooks: dict[str, str], **kw: Any) -> HookRunner:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return HookRunner(
        hooks, log_path=tmp_path / "hooks.log", environ={**os.environ, "OUT": str(out)}, **kw
    )


def test_a_real_hook_fires_once_per_event_with_env_and_stdin(tmp_path: Path) -> None:
    hooks = {name: RECORD for name in HOOK_EVENTS}
    run = runner(tmp_path, hooks)
    watch = WatchHooks(run, None)
    for ev in [
        event("state", rev=1),  # the state found on connecting: no hook
        event("state", action="pause", status="paused", rev=2, by="bob"),
        event("connection", action="pause", status="paused", rev=2, by="bob"),  # no new rev
        event("state", action="pause", status="paused", rev=2, by="bob"),  # a resync: seen
        event("state", action="resume", rev=3, by="ana"),
        event("member_joined", action="resume", rev=3, members=("ana", "cara")),
        event("member_left", action="resume", rev=3, members=("cara",)),
        event("phase_end", action="resume", phase="short_break", rev=3),
    ]:
        watch.fire_for(ev)
    run.join(10)
    fired = (tmp_path / "out" / "fired").read_text().splitlines()
    assert sorted(fired) == sorted(
        ["paused bob", "resumed ana", "member_joined cara", "member_left ana",
         "phase_ended ", "break_started "]
    )  # fmt: skip
    (env_file,) = (tmp_path / "out").glob("paused.*.env")
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert env["FOCUS_EVENT"] == "paused"
    assert env["FOCUS_BY"] == "bob"
    assert env["FOCUS_SESSION"] == "team"
    assert env["FOCUS_STATUS"] == "paused"
    assert env["FOCUS_LABEL"] == "report"
    assert env["FOCUS_REMAINING_MS"] == "60000"
    (stdin_file,) = (tmp_path / "out").glob("paused.*.json")
    import json

    data = json.loads(stdin_file.read_text())
    assert data["event"] == "connection" or data["event"] == "state"
    assert data["updated_by"] == "bob" and data["status"] == "paused" and data["schema"] == 1
    assert not (tmp_path / "hooks.log").exists()


def test_a_hanging_hook_is_killed_at_the_timeout_and_logged(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    run = runner(tmp_path, {"paused": f"echo $$ > {pidfile}; sleep 30"}, timeout_s=0.5)
    started = time.perf_counter()
    run.fire("paused", event("state", action="pause").to_json())
    assert time.perf_counter() - started < 0.2  # fire never waits for the hook
    run.join(10)
    assert time.perf_counter() - started < 5
    log = (tmp_path / "hooks.log").read_text().splitlines()
    assert len(log) == 1
    assert "paused: killed after 0.5 s timeout: echo" in log[0]
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_failing_hook_is_logged_in_one_line(tmp_path: Path) -> None:
    run = runner(tmp_path, {"resumed": "echo first >&2; echo 'it broke' >&2; exit 3"})
    run.fire("resumed", event("state", action="resume").to_json())
    run.fire("paused", event("state", action="pause").to_json())  # not configured: nothing
    run.join(10)
    log = (tmp_path / "hooks.log").read_text().splitlines()
    assert len(log) == 1
    assert "resumed: exit 3: it broke: echo first" in log[0]


def test_a_hook_that_cannot_start_is_logged(tmp_path: Path) -> None:
    run = runner(tmp_path, {"paused": "no-such-command-focus-test"})
    run.fire("paused", event("state", action="pause").to_json())
    run.join(10)
    (line,) = (tmp_path / "hooks.log").read_text().splitlines()
    assert "paused: exit 127" in line


def test_the_bell_rings_on_phase_end_only_when_enabled(tmp_path: Path) -> None:
    rings: list[int] = []
    on = runner(tmp_path, {}, bell=True, bell_out=lambda: rings.append(1))
    off = runner(tmp_path, {}, bell=False, bell_out=lambda: rings.append(2))
    for run in (on, off):
        run.fire("paused", {})
        run.fire("phase_ended", {})
    assert rings == [1]


def test_the_bell_goes_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runner(tmp_path, {}, bell=True).fire("phase_ended", {})
    assert capsys.readouterr().err == "\a"


# -- config ----------------------------------------------------------------------------------


def settings_with(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "config.toml"
    path.write_text(text)
    env = {"HOME": str(tmp_path), "FOCUS_CONFIG": str(path), "FOCUS_USER": "ana",
           "XDG_STATE_HOME": str(tmp_path / "state")}  # fmt: skip
    return resolve(db=None, credentials=None, user=None, session=None, environ=env)


def test_hook_settings_default(tmp_path: Path) -> None:
    s = settings_with(tmp_path, 'user = "ana"\n')
    assert (dict(s.hooks), s.hook_timeout_s, s.bell, s.notify) == ({}, 10.0, True, True)


def test_hook_settings_from_the_config_file(tmp_path: Path) -> None:
    s = settings_with(
        tmp_path,
        'session = "team"\nhook_timeout = 2.5\nbell = false\nnotify = false\n'
        '[hooks]\nphase_ended = "echo done"\nmember_joined = "echo hi"\n',
    )
    assert dict(s.hooks) == {"phase_ended": "echo done", "member_joined": "echo hi"}
    assert (s.hook_timeout_s, s.bell, s.notify, s.session) == (2.5, False, False, "team")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[hooks]\nlunch = "x"\n', "unknown hook event 'lunch'"),
        ("[hooks]\npaused = 3\n", "hooks.paused must be a shell command"),
        ('hooks = "x"\n', "hooks must be a table"),
        ("hook_timeout = 0\n", "hook_timeout must be a number of seconds"),
        ('hook_timeout = "10"\n', "hook_timeout must be a number of seconds"),
        ('bell = "yes"\n', "bell must be true or false"),
        ("notify = 1\n", "notify must be true or false"),
        ("user = true\n", "user must be a string"),
        ("hook = 1\n", "unknown key 'hook'"),
    ],
)
def test_bad_hook_settings_are_usage_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        settings_with(tmp_path, text)
    assert message in info.value.message


# -- end to end: focus watch runs the hooks and keeps the prompt snapshot --------------------

def test_focus_watch_fires_hooks_and_keeps_the_snapshot(
    rest: Any, server_url: str, ns: str, tmp_path: Path
) -> None:
    import json
    import signal
    import socket
    import subprocess
    import sys

    from focuscli import timer
    from focuscli.backend import Database, Target
    from focuscli.service import Focus
    rest.set_rules((Path(__file__).resolve().parent.parent / "firebase" / "database.rules.json").read_text())
    me = [EmulatorMember(u) for u in ("ana", "bob")]
    dbs = [Database(Target(f"{server_url}?ns={ns}", None, "emulator"), m) for m in me]
    ana, bob = (Focus(db, m, state_dir=tmp_path / m.uid) for db, m in zip(dbs, me, strict=True))
    ana.act("team", lambda s, now: timer.start(s, "ana", now), create=True)
    bob.join("team", ana.invite_code("team"))
    out = tmp_path / "out"
    out.mkdir()
    config = tmp_path / "w" / "config" / "focus" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        "bell = false\nnotify = false\n[hooks]\n"
        + "".join(f"{name} = '{RECORD}'\n" for name in HOOK_EVENTS)
    )
    env = {
        **os.environ,
        "OUT": str(out),
        "FOCUS_DATABASE_URL": f"{server_url}?ns={ns}",
        "FOCUS_USER": "ana",
        "XDG_STATE_HOME": str(tmp_path / "w" / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "w" / "config"),
        "XDG_DATA_HOME": str(tmp_path / "w" / "data"),
    }
    seed_profile(env["FOCUS_DATABASE_URL"], tmp_path / "w" / "config", "ana")
    proc = subprocess.Popen(
        [sys.executable, "-m", "focuscli", "watch", "--json", "--session", "team"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    snapshot = tmp_path / "w" / "state" / "focus" / "snapshot-team.json"
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["event"] == "state"  # connecting: no hook
        bob.act("team", lambda s, now: timer.pause(s, "bob", now))
        assert json.loads(proc.stdout.readline())["status"] == "paused"
        bob.act("team", lambda s, now: timer.resume(s, "bob", now))
        assert json.loads(proc.stdout.readline())["status"] == "running"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            fired = (out / "fired").read_text().splitlines() if (out / "fired").exists() else []
            if len(fired) >= 2:
                break
            time.sleep(0.05)
        assert sorted(fired) == ["paused bob", "resumed bob"]  # hooks run in parallel
        # The prompt answers from the snapshot: the database URL now points at a closed port.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        prompt_env = {**env, "FOCUS_DATABASE_URL": f"http://127.0.0.1:{port}?ns=focus"}
        answer = subprocess.run(
            [sys.executable, "-m", "focuscli", "status", "--format", "{status} {updated_by} {members}",
             "--session", "team"],
            env=prompt_env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert (answer.returncode, answer.stdout) == (0, "running bob ana,bob\n"), answer.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        for db in dbs:
            db.close()
    assert (proc.returncode, err) == (130, "")
    assert not snapshot.exists()  # a stopped watch answers no prompts
    assert sorted(fired) == sorted((out / "fired").read_text().splitlines())  # nothing more


def test_focus_wait_until_end_fires_phase_ended(rest: Any, server_url: str, ns: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    from focuscli import timer
    from focuscli.backend import Database, Target
    from focuscli.service import Focus

    rest.set_rules((Path(__file__).resolve().parent.parent / "firebase" / "database.rules.json").read_text())
    db = Database(Target(f"{server_url}?ns={ns}", None, "emulator"), EmulatorMember("ana"))
    try:
        Focus(db, EmulatorMember("ana"), state_dir=tmp_path / "ana").act(
            "team", lambda s, now: timer.start(s, "ana", now, duration_ms=700), create=True
        )
    finally:
        db.close()
    out = tmp_path / "out"
    out.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(f"bell = false\nnotify = false\n[hooks]\nphase_ended = '{RECORD}'\n")
    env = {
        **os.environ, "OUT": str(out), "FOCUS_CONFIG": str(config),
        "FOCUS_DATABASE_URL": f"{server_url}?ns={ns}", "FOCUS_USER": "ana",
        "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
    }  # fmt: skip
    seed_profile(env["FOCUS_DATABASE_URL"], tmp_path / "xdg-config", "ana")
    done = subprocess.run(
        [sys.executable, "-m", "focuscli", "wait", "--session", "team"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (out / "fired").read_text() == "phase_ended \n"  # done before wait exits
    (env_file,) = out.glob("phase_ended.*.env")
    assert "FOCUS_STATUS=done" in env_file.read_text().splitlines()

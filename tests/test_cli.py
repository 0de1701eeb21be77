"""The focus commands end to end: arrange through the database, act through the CLI, assert on
the stored state plus the exact output and exit code. Two members, ana and bob, share a session
on a real server that enforces focus's own rules."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import point_cli_at, seed_profile
from tests.members import EmulatorMember

ROOT = Path(__file__).resolve().parent.parent
RULES = (ROOT / "firebase" / "database.rules.json").read_text()


@pytest.fixture
def focus(
    rest: Any, server_url: str, ns: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Any
) -> Any:
    """Run `focus ARGS...` in-process as `user` (default ana) against this test's namespace."""
    rest.set_rules(RULES)
    point_cli_at(monkeypatch, f"{server_url}?ns={ns}", columns=200)

    def run(*args: str, user: str = "ana") -> Any:
        monkeypatch.setenv("FOCUS_USER", user)
        seed_profile(f"{server_url}?ns={ns}", tmp_path / user / "config", user)
        return run_cli(list(args), tmp_path / user)

    return run


def _state(rest: Any, session: str = "team") -> Any:
    return rest.value(f"/sessions/{session}/state.json")


def _log(rest: Any, session: str = "team") -> list[dict[str, Any]]:
    raw = rest.value(f"/sessions/{session}/log.json") or []
    items = raw if isinstance(raw, list) else [raw[k] for k in sorted(raw, key=int)]
    return [e for e in items if e]


def test_start_creates_the_session_and_everyone_sees_it(focus: Any, rest: Any) -> None:
    started = focus("start", "25m", "--label", "report", "--session", "team")
    assert started.code == 0
    assert started.err == "focus: created session team (you own it); invite others with: focus session invite\n"
    assert started.out == "team: started focus (25:00)\n"
    state = _state(rest)
    assert (state["status"], state["phase"], state["duration_ms"], state["label"]) == ("running", "focus", 1_500_000, "report")
    assert state["updated_by"] == "ana" and state["rev"] == 1
    code = json.loads(focus("session", "invite", "--json", "--session", "team").out)["code"]
    assert focus("join", "team", "--code", code, user="bob").out == "joined team\n"
    status = focus("status", "--json", user="bob")
    data = json.loads(status.out)
    assert status.code == 0
    assert (data["session"], data["phase"], data["status"], data["label"]) == ("team", "focus", "running", "report")
    assert 1_400_000 < data["remaining_ms"] <= 1_500_000
    assert data["updated_by"] == "ana" and data["schema"] == 1


def test_pause_by_one_member_shows_for_the_other(focus: Any, rest: Any) -> None:
    focus("start", "10m", "--session", "team")
    code = json.loads(focus("session", "invite", "--json").out)["code"]
    focus("join", "team", "--code", code, user="bob")
    paused = focus("pause", user="bob")
    assert paused.code == 0 and paused.out.startswith("team: paused focus with ")
    assert _state(rest)["status"] == "paused"
    line = focus("status", "--format", "{status} {phase} by {updated_by}")
    assert line.out == "paused focus by bob\n"
    again = focus("pause")
    assert (again.code, again.out, again.err) == (3, "", "focus: the timer is already paused\n")
    assert focus("resume").out.startswith("team: resumed focus, ")
    assert [e["action"] for e in _log(rest)] == ["start", "pause", "resume"]
    assert [e["by"] for e in _log(rest)] == ["ana", "bob", "ana"]


def test_history_has_every_accepted_action_once_in_order(focus: Any, rest: Any) -> None:
    focus("start", "5m", "--session", "team")
    focus("extend", "2m")
    focus("skip")
    assert focus("stop").out == "team: stopped the timer\n"
    assert focus("stop").code == 3
    entries = _log(rest)
    assert [e["action"] for e in entries] == ["start", "extend", "skip", "stop"]
    assert [e["rev"] for e in entries] == [1, 2, 3, 4]
    assert entries[1]["ms"] == 120_000
    ats = [e["at"] for e in entries]
    assert ats == sorted(ats)
    as_json = [json.loads(line) for line in focus("log", "--json").out.splitlines()]
    assert [e["action"] for e in as_json] == ["start", "extend", "skip", "stop"]
    csv_lines = focus("log", "--csv").out.splitlines()
    assert csv_lines[0] == "rev,at,at_iso,action,by,by_uid,phase,ms,label"
    assert len(csv_lines) == 5
    assert focus("log", "--limit", "2", "--json").out.count("\n") == 2


def test_non_member_cannot_read_or_act(focus: Any, rest: Any) -> None:
    focus("start", "--session", "team")
    peek = focus("status", "--session", "team", user="eve")
    assert peek.code == 1
    assert peek.err == "focus: you (eve) are not a member of 'team'; join with: focus join team --code CODE\n"
    wrong = focus("join", "team", "--code", "WRONGCODE1", user="eve")
    assert (wrong.code, wrong.err) == (1, "focus: the invite code for 'team' is not right; ask a member for it\n")
    assert "eve" not in rest.value("/sessions/team/members.json")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["start", "25x", "--session", "team"], "focus: DURATION: invalid duration '25x'"),
        (["start", "--session", "bad name"], "focus: invalid session name 'bad name'"),
        (["start", "--break", "--long-break", "--session", "team"], "focus: --break and --long-break exclude each other"),
        (["wait", "--until", "lunch", "--session", "team"], "focus: --until must be end, break or focus"),
        (["status", "--session", "team", "--format", "{nope}"], "focus: unknown --format token {nope}"),
        (["pause"], "focus: no session chosen"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(focus: Any, rest: Any, args: list[str], message: str) -> None:
    if "{nope}" in args:
        focus("start", "--session", "team")
    before = rest.value("/.json")
    result = focus(*args)
    assert result.code == 2, result
    assert result.err.startswith(message), result
    assert result.err.count("\n") == 1 and result.out == ""
    if "{nope}" not in args:
        assert rest.value("/.json") == before


def test_creating_a_session_that_exists_says_what_to_do(focus: Any) -> None:
    code = focus("session", "create", "team").out.split()[-1]
    mine = focus("session", "create", "team")
    assert (mine.code, mine.err) == (2, "focus: you already own session 'team'; use it with: focus start --session team\n")
    focus("join", "team", "--code", code, user="bob")
    theirs = focus("session", "create", "team", user="bob")
    assert theirs.err == "focus: session 'team' already exists and you are in it; use it with: focus start --session team\n"
    other = focus("session", "create", "team", user="cara")
    assert other.err == "focus: session 'team' already exists; join it with: focus join team --code CODE\n"
    focus("leave", "--session", "team")
    left = focus("session", "create", "team")
    assert left.err == "focus: you own session 'team' but left it; rejoin with: focus join team\n"


def test_label_relabels_the_running_block_for_everyone(focus: Any, rest: Any) -> None:
    focus("start", "--label", "draft", "--session", "team")
    done = focus("label", "write the report")
    assert (done.code, done.out, done.err) == (0, 'team: relabelled focus: "write the report"\n', "")
    assert _state(rest)["label"] == "write the report"
    assert _log(rest)[-1] | {"at": 0, "op": ""} == {
        "action": "label", "by": "ana", "name": "ana", "at": 0, "rev": 2, "op": "", "label": "write the report",
    }  # fmt: skip
    assert '"write the report"' in focus("status").out
    assert focus("label", "").out == "team: cleared the label of focus\n"
    assert "label" not in _state(rest)
    focus("stop")
    stopped = focus("label", "x")
    assert (stopped.code, stopped.err) == (3, "focus: the timer is stopped; give the next block its label with focus start --label\n")
    long = focus("label", "x" * 201)
    assert (long.code, long.err) == (2, "focus: TEXT is longer than 200 characters; see focus label --help\n")


def test_session_show_prints_the_cycle(focus: Any) -> None:
    focus("session", "create", "team")
    assert focus("session", "show").out == (
        "team: focus 25:00 · short break 5:00 · long break 15:00 after every 4 focus rounds · auto-advance off\n"
    )
    focus("session", "set", "--focus", "50m", "--long-every", "2", "--auto-advance")
    assert focus("session", "show").out == (
        "team: focus 50:00 · short break 5:00 · long break 15:00 after every 2 focus rounds · auto-advance on\n"
    )
    assert json.loads(focus("session", "show", "--json").out) == {
        "session": "team", "focus_ms": 3_000_000, "short_break_ms": 300_000, "long_break_ms": 900_000,
        "long_every": 2, "auto_advance": True,
    }  # fmt: skip


def test_start_while_paused_says_paused(focus: Any) -> None:
    focus("start", "--session", "team")
    focus("pause")
    again = focus("start", "--break")
    assert (again.code, again.err) == (3, "focus: the timer is paused; resume it, or use focus skip or stop\n")


def test_wait_returns_when_the_phase_ends(focus: Any) -> None:
    focus("start", "1s", "--session", "team")
    done = focus("wait", "--until", "end", "--timeout", "10s")
    assert done.code == 0, done
    assert done.out.startswith("team · focus done")


def test_wait_until_end_with_auto_advance_returns_at_the_end_and_tells_the_hook(focus: Any, tmp_path: Path) -> None:
    config = tmp_path / "ana" / "config" / "focus" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'bell = false\n[hooks]\nphase_ended = "cat > {tmp_path}/ended.json"\n')
    focus("session", "create", "team")
    assert focus("session", "set", "--short-break", "5s", "--long-break", "5s", "--auto-advance").code == 0
    focus("start", "1s")
    done = focus("wait", "--until", "end", "--timeout", "15s")
    assert done.code == 0, done
    assert done.out.startswith("team · short break running, 0:0"), done  # the break that follows
    event = json.loads((tmp_path / "ended.json").read_text())
    assert (event["event"], event["ended_phase"], event["ended_round"]) == ("phase_end", "focus", 1)
    assert (event["next_phase"], event["next_round"], event["phase"]) == ("short_break", 1, "short_break")


def test_wait_times_out_and_reports_a_stopped_timer(focus: Any) -> None:
    focus("start", "10m", "--session", "team")
    late = focus("wait", "--timeout", "1s")
    assert (late.code, late.err) == (4, "focus: gave up waiting for end after 0:01\n")
    focus("stop")
    stopped = focus("wait")
    assert (stopped.code, stopped.err) == (5, "focus: the timer of 'team' is stopped; nothing to wait for\n")


def test_sessions_list_who_and_leave(focus: Any, rest: Any) -> None:
    created = focus("session", "create", "team")
    assert re.fullmatch(r"created session team; others join with: focus join team --code \S+\n", created.out)
    code = created.out.split()[-1]
    focus("join", "team", "--code", code, user="bob")
    assert focus("session", "list", user="bob").out == "team\n"
    who = json.loads(focus("who", "--json").out)
    assert [m["user"] for m in who] == ["ana", "bob"]
    assert focus("leave", user="bob").out == "left team\n"
    assert focus("session", "list", user="bob").out == ""
    assert sorted(rest.value("/sessions/team/members.json")) == ["ana"]


def _team_of_three(focus: Any) -> None:
    """Session `team`: ana owns it, bob and cara joined with its code."""
    code = focus("session", "create", "team").out.split()[-1]
    for user in ("bob", "cara"):
        assert focus("join", "team", "--code", code, user=user).code == 0


def _heartbeat(server_url: str, ns: str, tmp_path: Path, user: str, session: str = "team") -> None:
    """`user` sends one presence heartbeat through the library, as `focus watch` does."""
    from focuscli.backend import Database, Target
    from focuscli.service import Focus

    with Database(Target(f"{server_url}?ns={ns}", None, "emulator"), EmulatorMember(user)) as db:
        Focus(db, EmulatorMember(user), state_dir=tmp_path / user).heartbeat(session)


def _server_now(rest: Any) -> int:
    """The server's clock, read back from a server timestamp written as admin."""
    assert rest.put("/probe.json", {".sv": "timestamp"}).status_code == 200
    return int(rest.value("/probe.json"))


def test_who_shows_who_is_here(focus: Any, rest: Any, server_url: str, ns: str, tmp_path: Path) -> None:
    import time

    _team_of_three(focus)
    _heartbeat(server_url, ns, tmp_path, "bob")
    # ana watched ten minutes ago (half a second past a whole second, so that a clock offset of
    # a few ms cannot change the printed second); cara never watched.
    seen = (_server_now(rest) // 1000 - 600) * 1000 + 500
    assert rest.put("/sessions/team/members/ana/seen_at.json", seen).status_code == 200
    who = focus("who", user="cara")
    assert who.code == 0, who
    today = time.localtime(seen / 1000)[:3] == time.localtime()[:3]
    at = time.strftime("%H:%M:%S" if today else "%Y-%m-%d %H:%M:%S", time.localtime(seen / 1000))
    assert who.out == f"ana   away (seen {at})\nbob   here\ncara  away (never watched)\n"  # aligned
    assert who.err == ""

    as_json = json.loads(focus("who", "--json", user="cara").out)
    assert [(m["user"], m["here"]) for m in as_json] == [("ana", False), ("bob", True), ("cara", False)]
    members = rest.value("/sessions/team/members.json")
    assert [m["seen_at"] for m in as_json] == [seen, members["bob"]["seen_at"], None]
    assert all(m["joined_at"] == members[m["user"]]["joined_at"] for m in as_json)


@pytest.mark.parametrize(("age_ms", "here"), [(30_000, True), (44_000, True), (50_000, False), (3_600_000, False)])
def test_presence_lasts_three_heartbeats(focus: Any, rest: Any, age_ms: int, here: bool) -> None:
    _team_of_three(focus)
    seen = _server_now(rest) - age_ms
    assert rest.put("/sessions/team/members/bob/seen_at.json", seen).status_code == 200
    bob = next(m for m in json.loads(focus("who", "--json").out) if m["user"] == "bob")
    assert (bob["here"], bob["seen_at"]) == (here, seen)
    line = next(line for line in focus("who").out.splitlines() if line.startswith("bob "))
    if here:
        assert line == "bob   here"
    else:
        assert line.startswith("bob   away (seen "), line


def test_a_heartbeat_refreshes_presence_and_leaving_ends_it(
    focus: Any, rest: Any, server_url: str, ns: str, tmp_path: Path
) -> None:
    _team_of_three(focus)
    assert rest.put("/sessions/team/members/bob/seen_at.json", 1_000_000).status_code == 200
    assert "bob   away (seen " in focus("who").out
    _heartbeat(server_url, ns, tmp_path, "bob")
    assert "bob   here\n" in focus("who").out
    assert rest.value("/sessions/team/members/bob.json")["code"]  # the rest of the record is kept
    focus("leave", user="bob")
    assert focus("who").out == "ana   away (never watched)\ncara  away (never watched)\n"


def test_session_settings_apply_to_the_next_phase(focus: Any, rest: Any) -> None:
    focus("session", "create", "team")
    out = focus("session", "set", "--focus", "50m", "--short-break", "10m", "--auto-advance")
    assert out.code == 0, out
    assert _state(rest)["cycle"]["focus_ms"] == 3_000_000
    focus("start")
    assert _state(rest)["duration_ms"] == 3_000_000


def test_idle_sessions_are_cleaned_up(focus: Any, rest: Any) -> None:
    focus("session", "create", "old")
    focus("session", "create", "fresh")
    focus("start", "24h", "--session", "busy")
    week_ago = int(__import__("time").time() * 1000) - 8 * 24 * 3600 * 1000
    assert rest.put("/sessions/old/meta/created_at.json", week_ago).status_code == 200
    assert rest.put("/sessions/busy/state/updated_at.json", week_ago).status_code == 200
    listed = focus("session", "list")
    assert listed.out == "busy\nfresh\n"  # a running timer is never idle
    assert listed.err == "focus: removed session old: idle for longer than cleanup_after\n"
    assert rest.value("/sessions/old.json") is None
    assert rest.value("/invites/old.json") is None


def test_doctor_reports_backend_identity_and_rules(focus: Any) -> None:
    report = focus("doctor")
    assert report.code == 0, report
    lines = report.out.splitlines()
    assert lines[0].startswith("backend: emulator at http://127.0.0.1:")
    assert re.fullmatch(r"round trip: \d+ ms; server clock offset: [+-]\d+ ms \(server minus this machine\)", lines[1])
    assert lines[2:] == ["identity: ana, uid ana (unsigned emulator token; profile ana)", "rules: the rules in force match firebase/database.rules.json"]


def test_doctor_fails_when_the_rules_differ(focus: Any, rest: Any) -> None:
    rest.set_rules({"rules": {".read": False}})
    report = focus("doctor")
    assert report.code == 1
    assert report.err.startswith("focus: the rules in force differ from firebase/database.rules.json")


@pytest.mark.focus_serve
def test_ctrl_c_during_wait_exits_130_cleanly(focus: Any, server_url: str, ns: str, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import time

    focus("start", "10m", "--session", "team")
    env = {
        **os.environ,
        "FOCUS_DATABASE_URL": f"{server_url}?ns={ns}",
        "FOCUS_USER": "ana",
        "XDG_STATE_HOME": str(tmp_path / "waiter" / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "ana" / "config"),
        "XDG_DATA_HOME": str(tmp_path / "ana" / "data"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "focuscli", "wait", "--session", "team"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    clock_file = tmp_path / "waiter" / "state" / "focus" / "clock.json"
    while not clock_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # bounded: the wait command has talked to the server once
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert (proc.returncode, out, err) == (130, "", "")


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("db", "credentials", "code", "message"),
    [
        ("ftp://example.com", None, 2, "focus: invalid database URL 'ftp://example.com' (from --db): use https://"),
        ("http://127.0.0.1:1", None, 2, "focus: "),  # an emulator URL needs ?ns=NAME
        ("https://demo.firebaseio.com", "no/such/key.json", 2, "focus: "),
        ("https://demo.firebaseio.com", "NOT_JSON", 2, "focus: "),
    ],
)
def test_bad_backend_settings_are_one_line(
    focus: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str, credentials: str | None, code: int, message: str
) -> None:
    monkeypatch.delenv("FIREBASE_DATABASE_EMULATOR_HOST", raising=False)
    args = ["--db", db]
    if credentials == "NOT_JSON":
        bad = tmp_path / "key.json"
        bad.write_text("this is not a key")
        credentials = str(bad)
    if credentials:
        args += ["--credentials", credentials]
    result = focus(*args, "status", "--session", "team")
    assert result.code == code, result
    assert result.err.startswith(message) and result.err.count("\n") == 1, result
    assert "Traceback" not in result.err


def test_unreachable_database_fails_fast_naming_the_url(focus: Any) -> None:
    import time

    url = f"http://127.0.0.1:{_closed_port()}?ns=x"
    began = time.monotonic()
    result = focus("--db", url, "status", "--session", "team")
    assert time.monotonic() - began < 5
    assert result.code == 1
    assert result.err.startswith("focus: cannot reach the database at http://127.0.0.1:")
    assert result.err.count("\n") == 1


def test_unknown_session_is_a_usage_error(focus: Any) -> None:
    result = focus("status", "--session", "nosuch")
    assert (result.code, result.out) == (2, "")
    assert result.err == "focus: no session named 'nosuch'; start one with: focus start --session nosuch\n"
    joined = focus("join", "nosuch", "--code", "ABCDEFGH12")
    assert (joined.code, joined.err) == (2, "focus: no session named 'nosuch'; create it with: focus session create nosuch\n")


def test_an_odd_default_session_does_not_block_an_explicit_one(focus: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    focus("start", "--session", "team")
    monkeypatch.setenv("FOCUS_SESSION", "my team")
    assert focus("status", "--session", "team", "--format", "{status}").out == "running\n"
    plain = focus("status")
    assert (plain.code, plain.err) == (2, "focus: invalid session name 'my team': use 1-64 letters, digits, '-' or '_'\n")


def test_leave_needs_membership_and_forgets_only_the_remembered_session(focus: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    focus("session", "create", "one")
    focus("session", "create", "two")  # remembered: two
    assert focus("leave", "--session", "one").out == "left one\n"
    assert focus("status", "--format", "{session}").out == "two\n"  # still remembered
    stranger = focus("leave", "--session", "two", user="eve")
    assert (stranger.code, stranger.err) == (1, "focus: you (eve) are not a member of 'two'; join with: focus join two --code CODE\n")


def test_joining_a_full_session_says_so_and_a_kick_makes_room(focus: Any, rest: Any) -> None:
    """The ceiling of 200 members per session (docs/design.md, "What the rules admit, and the
    ceilings"): the 201st gets one line and nothing is written; once the owner removes someone,
    their seat is the next one's."""
    code = focus("session", "create", "team").out.split()[-1]
    members = {f"u{n}": {"joined_at": 1, "name": f"u{n}", "seat": n} for n in range(2, 201)}
    assert rest.patch("/sessions/team.json", {"members/" + uid: rec for uid, rec in members.items()}
                      | {f"seats/{n}": f"u{n}" for n in range(2, 201)}).status_code == 200
    before = rest.value("/.json")
    full = focus("join", "team", "--code", code, user="bob")
    assert (full.code, full.out, full.err) == (
        1, "", "focus: session 'team' has 200 members, the most a session can have; "
        "ask its owner to remove someone (focus session kick)\n",
    )
    assert rest.value("/.json") == before
    assert focus("session", "kick", "u7").code == 0
    assert focus("join", "team", "--code", focus("session", "invite").out.split()[-1], user="bob").code == 0
    assert rest.value("/sessions/team/members/bob/seat.json") == 7
    assert rest.value("/sessions/team/seats/7.json") == "bob"


def test_a_member_in_200_sessions_cannot_join_another(focus: Any, rest: Any) -> None:
    code = focus("session", "create", "team").out.split()[-1]
    listed = {f"sessions/s{n}": {"joined_at": 1, "slot": n} for n in range(1, 201)}
    assert rest.patch("/users/bob.json", listed | {f"slots/{n}": f"s{n}" for n in range(1, 201)}).status_code == 200
    before = rest.value("/.json")
    full = focus("join", "team", "--code", code, user="bob")
    assert (full.code, full.err) == (
        1, "focus: you are in 200 sessions, the most one member can be in; leave one first (focus session list shows them)\n"
    )
    assert rest.value("/.json") == before
    # Leaving one (its slot is freed with the entry) makes room.
    assert rest.patch("/users/bob.json", {"sessions/s9": None}).status_code == 200  # gone, as cleanup does
    assert focus("join", "team", "--code", code, user="bob").code == 0
    assert rest.value("/users/bob/sessions/team.json")["slot"] == 9


def test_a_name_with_control_characters_is_refused_before_anything_is_written(
    focus: Any, rest: Any, server_url: str, ns: str, tmp_path: Path
) -> None:
    """The rules refuse names with controls or bidi overrides (a profile set elsewhere can hold
    one): the CLI says so in one line, escaped, and writes nothing."""
    code = focus("session", "create", "team").out.split()[-1]
    seed_profile(f"{server_url}?ns={ns}", tmp_path / "mal" / "config", "mal", name="Mal\u202elory\x1b[2J")
    before = rest.value("/.json")
    for args in (["join", "team", "--code", code], ["session", "create", "mine"], ["start", "--session", "mine"]):
        result = focus(*args, user="mal")
        assert (result.code, result.out) == (2, ""), result
        assert result.err == (
            "focus: your display name 'Mal\\u202elory\\x1b[2J' holds control characters, which sessions refuse; "
            "choose another with: focus login EMAIL --name NAME\n"
        )
    assert rest.value("/.json") == before


@pytest.mark.parametrize("label", ["a\tb", "title\x1b]0;owned\x07", "rev\u202eersed"])
def test_a_label_with_control_characters_is_refused_before_anything_is_written(focus: Any, rest: Any, label: str) -> None:
    """The rules refuse such labels; the CLI says so in one line (the label escaped) first."""
    refused = (2, "", f"focus: the label {label!r} holds control characters, which sessions refuse\n")
    focus("start", "--session", "team")
    before = rest.value("/.json")
    relabel = focus("label", label)
    assert (relabel.code, relabel.out, relabel.err) == refused
    assert rest.value("/.json") == before
    assert focus("stop").code == 0
    before = rest.value("/.json")
    start = focus("start", "--label", label)
    assert (start.code, start.out, start.err) == refused
    assert rest.value("/.json") == before


def test_leaving_frees_the_seat_and_the_slot(focus: Any, rest: Any) -> None:
    code = focus("session", "create", "team").out.split()[-1]
    assert focus("join", "team", "--code", code, user="bob").code == 0
    assert rest.value("/sessions/team/seats/2.json") == "bob"
    assert rest.value("/users/bob/slots/1.json") == "team"
    assert focus("leave", user="bob").out == "left team\n"
    assert rest.value("/sessions/team/seats/2.json") is None
    assert rest.value("/users/bob.json") in (None, {})


@pytest.mark.parametrize("fmt", ["{label.x}", "{remaining_ms[0]}", "{round:x.y}", "{"])
def test_format_strings_that_cannot_work_are_usage_errors(focus: Any, fmt: str) -> None:
    focus("start", "--session", "team")
    result = focus("status", "--format", fmt)
    assert result.code == 2, result
    assert result.err.startswith("focus: ") and "Traceback" not in result.err


def test_log_since_accepts_days(focus: Any) -> None:
    focus("start", "--session", "team")
    assert focus("log", "--since", "2d", "--json").out.count("\n") == 1
    bad = focus("log", "--since", "soon")
    assert (bad.code, bad.err) == (2, "focus: --since: invalid duration 'soon': use 90s, 30m, 2h, 1:30:00, 7d or 1d12h; see focus log --help\n")


def test_a_label_too_long_for_the_rules_is_refused_before_anything_is_written(focus: Any, rest: Any) -> None:
    result = focus("start", "--session", "fresh", "--label", "\U0001F600" * 150)  # 300 UTF-16 units
    assert (result.code, result.err) == (2, "focus: --label is longer than 200 characters; see focus start --help\n")
    assert rest.value("/sessions/fresh.json") is None

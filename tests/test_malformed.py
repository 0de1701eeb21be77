"""A session the database holds malformed (written before the rules, by an admin, or through a
hole): every command says what is wrong and what to do in one line, `focus reset` repairs it
within the rules, and a running watch shows the problem and goes on until it is repaired."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from focuscli import timer
from tests.conftest import focus_env, point_cli_at, seed_profile
from tests.terminal import Terminal

ROOT = Path(__file__).resolve().parent.parent
RULES = (ROOT / "firebase" / "database.rules.json").read_text()
RESET = "run `focus reset --session team` to start clean"
OFFSET_LINE = (
    "focus: the timer of 'team' is malformed in the database ('offset_ms' must be an integer, got 0.5); "
    f"{RESET}\n"
)
ADMIN = "an admin must set sessions/team/state/rev to the last rev of its log"


@pytest.fixture
def focus(
    rest: Any,
    server_url: str,
    ns: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Any,
) -> Any:
    """`focus ARGS...` in-process as ana (a member of team) against this test's namespace."""

    rest.set_rules(RULES)
    point_cli_at(monkeypatch, f"{server_url}?ns={ns}", user="ana", columns=200)
    seed_profile(f"{server_url}?ns={ns}", tmp_path / "ana" / "config", "ana")

    def run(*args: str) -> Any:
        return run_cli(list(args), tmp_path / "ana")

    return run


def _break(rest: Any, **fields: Any) -> None:
    """Write ``fields`` into team's stored state as admin (past the rules)."""
    assert rest.patch("/sessions/team/state.json", fields).status_code == 200


def _started(focus: Any, rest: Any) -> dict[str, Any]:
    assert focus("start", "--session", "team").code == 0
    state = rest.value("/sessions/team/state.json")
    assert state["rev"] == 1
    return state


READS_AND_ACTIONS = [
    ["status"], ["status", "--json"], ["status", "--format", "{phase} {remaining}"],
    ["pause"], ["resume"], ["stop"], ["skip"], ["start"], ["extend", "5m"], ["label", "x"],
    ["session", "show"],
    ["session", "show", "--json"],
    ["wait", "--timeout", "1s"], ["wait", "--until", "break", "--timeout", "1s"],
]  # fmt: skip


def test_every_command_on_a_malformed_timer_says_to_reset(focus: Any, rest: Any) -> None:
    _started(focus, rest)
    _break(rest, offset_ms=0.5)  # the hole of issue 11: accepted by the rules of its time
    before = rest.value("/sessions/team.json")
    for argv in READS_AND_ACTIONS:
        got = focus(*argv, "--session", "team")
        assert (got.code, got.out, got.err) == (1, "", OFFSET_LINE), argv
    assert rest.value("/sessions/team.json") == before  # nothing half-written
    for argv in (["who"], ["log"], ["log", "--csv"], ["report", "--json"]):  # they need no timer
        got = focus(*argv, "--session", "team")
        assert (got.code, got.err) == (0, ""), argv


def test_reset_repairs_a_malformed_timer_within_the_rules(focus: Any, rest: Any) -> None:
    state = _started(focus, rest)
    _break(rest, offset_ms=0.5, round=7, label="deep work")
    got = focus("reset", "--session", "team")
    assert (got.code, got.out, got.err) == (0, "team: reset the timer (stopped, round 1)\n", "")
    new, entry, record = (
        rest.value(f"/sessions/team/{path}.json") for path in ("state", "log/2", "states/2")
    )
    at = new["updated_at"]
    assert at >= state["updated_at"]
    assert new == {
        "rev": 2, "status": "idle", "phase": "focus", "round": 1, "duration_ms": 1_500_000, "offset_ms": 0,
        "cycle": state["cycle"], "updated_at": at, "updated_by": "ana", "updated_by_name": "ana", "action": "reset",
    }  # fmt: skip
    assert record == new
    assert {k: v for k, v in entry.items() if k != "op"} == {
        "action": "reset",
        "by": "ana",
        "name": "ana",
        "at": at,
        "rev": 2,
    }
    assert len(entry["op"]) == 16
    shown = focus("status", "--session", "team")
    assert (shown.code, shown.out.splitlines()[0]) == (
        0,
        "team · idle (next: focus 25:00) · round 1",
    )
    log = focus("log", "--json", "--session", "team")
    assert [json.loads(line)["action"] for line in log.out.splitlines()] == ["start", "reset"]


def test_reset_works_from_any_clean_state_too(focus: Any, rest: Any) -> None:
    _started(focus, rest)
    got = focus("reset", "--json", "--session", "team")
    assert got.code == 0 and got.err == ""
    data = json.loads(got.out)
    assert (data["status"], data["phase"], data["round"], data["rev"], data["action"]) == (
        "idle",
        "focus",
        1,
        2,
        "reset",
    )
    assert focus("reset", "--session", "team").code == 0  # idle already: a reset all the same
    assert rest.value("/sessions/team/state/rev.json") == 3


def test_reset_of_a_session_one_is_not_in(focus: Any, rest: Any) -> None:
    got = focus("reset", "--session", "nowhere")
    assert (got.code, got.err) == (
        2,
        "focus: no session named 'nowhere'; start one with: focus start --session nowhere\n",
    )


@pytest.mark.parametrize(
    ("rev", "shown"),
    [
        (
            0.5,
            "'rev' must be an integer >= 0, got 0.5; 'rev' must be a whole number from 0 to 9007199254740990, got 0.5",
        ),
        (
            -3,
            "'rev' must be an integer >= 0, got -3; 'rev' must be a whole number from 0 to 9007199254740990, got -3",
        ),
    ],
)
def test_a_rev_no_member_can_move_past_needs_an_admin(
    focus: Any, rest: Any, rev: Any, shown: str
) -> None:
    _started(focus, rest)
    _break(rest, rev=rev)
    before = rest.value("/sessions/team.json")
    line = f"focus: the timer of 'team' is malformed in the database ({shown}), and that rev lets no member write over it; {ADMIN}\n"
    for argv in (["status"], ["reset"], ["pause"]):
        got = focus(*argv, "--session", "team")
        assert (got.code, got.out, got.err) == (1, "", line), argv
    assert rest.value("/sessions/team.json") == before


def test_a_rev_that_is_no_number_resets_to_rev_1_when_that_is_free(focus: Any, rest: Any) -> None:
    _started(focus, rest)
    _break(rest, rev="seven")
    got = focus("status", "--session", "team")
    assert (got.code, got.err) == (
        1,
        "focus: the timer of 'team' is malformed in the database ('rev' must be an integer >= 0, got 'seven'); "
        f"{RESET}\n",
    )
    refused = focus("reset", "--session", "team")  # the rules count it as 0, and log/1 is taken
    assert (refused.code, refused.err) == (
        1, f"focus: the timer of 'team' has no rev in the database (rev is 'seven'), and the rules let no member write one; {ADMIN}\n",
    )  # fmt: skip
    assert rest.delete("/sessions/team/log/1.json").status_code == 200  # (an admin's repair)
    assert rest.delete("/sessions/team/states/1.json").status_code == 200
    done = focus("reset", "--session", "team")
    assert (done.code, done.err) == (0, "")
    assert rest.value("/sessions/team/state/rev.json") == 1


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("members/zed", "not a record"),
        ("members/zed", {"name": 7, "seen_at": "yesterday", "away_at": [1]}),
        ("log/9", "junk"),
        ("log/10", {"action": 5, "at": 1.5, "name": ["x"], "by": {}, "rev": "ten"}),
        ("meta", {"owner": 5, "created_at": "x"}),
        ("states/1", "junk"),
        ("log/2", {"action": "pause", "by": "ana", "name": "ana", "at": 2**60, "rev": 2}),
        ("log/2", {"action": "pause", "by": "ana", "name": "ana", "at": -(2**60), "rev": 2}),
        ("log/2", {"action": "pause", "by": "ana", "name": "ana", "at": 1e300, "rev": 2}),
        (
            "presence/span0001",
            {"uid": "ana", "name": "ana", "from": -(2**60), "seen": 2**60, "to": 1e300},
        ),
        ("members/zed", {"name": "zed", "joined_at": -(2**60), "seen_at": 2**60, "away_at": 1e300}),
        (
            "roster/entry001",
            {"uid": "zed", "name": "zed", "event": "joined", "at": 2**60, "by": "zed"},
        ),
    ],
)
def test_reads_survive_malformed_records(focus: Any, rest: Any, path: str, value: Any) -> None:
    _started(focus, rest)
    assert rest.put(f"/sessions/team/{path}.json", value).status_code == 200
    for argv in (
        ["status"],
        ["who"],
        ["who", "--json"],
        ["log"],
        ["log", "--json"],
        ["log", "--csv"],
        ["report", "--json"],
    ):
        got = focus(*argv, "--session", "team")
        assert got.code == 0 and "Traceback" not in got.err, (argv, got)


def _events(proc: subprocess.Popen[str]) -> Any:
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        assert line, "the watch ended"
        yield json.loads(line)


def _prompt(env: dict[str, str], fmt: str) -> subprocess.CompletedProcess[str]:
    """`focus status --format FMT` as a prompt runs it: the console script (entry.main), whose
    fast path answers from a running watch's snapshot."""
    argv = [sys.executable, "-m", "focuscli", "status", "--format", fmt, "--session", "team"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)


def test_piped_watch_shows_the_problem_and_goes_on_until_reset(
    focus: Any, rest: Any, server_url: str, ns: str, tmp_path: Path
) -> None:
    _started(focus, rest)
    env = focus_env(f"{server_url}?ns={ns}", "ana", tmp_path / "ana")  # ana's own machine
    snapshot = tmp_path / "ana" / "state" / "focus" / "snapshot-team.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "focuscli", "watch", "--json", "--session", "team"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        events = _events(proc)
        assert next(events)["status"] == "running"
        _break(rest, offset_ms=0.5)
        bad = next(events)
        assert bad == {
            "event": "malformed", "schema": 1, "session": "team", "error": OFFSET_LINE.removeprefix("focus: ").rstrip("\n"),
            "members": ["ana"], "connection": "live",
        }  # fmt: skip
        prompt = _prompt(env, "{phase} {remaining}")  # the console script's fast path: the snapshot
        assert (prompt.returncode, prompt.stdout, prompt.stderr) == (
            1,
            "",
            OFFSET_LINE,
        )  # not taken for it
        assert json.loads(snapshot.read_text())["connection"] == "malformed"
        _break(rest, round=2.5)  # still malformed, another way: said again
        assert "'round' must be an integer >= 1, got 2.5" in next(events)["error"]
        assert focus("reset", "--session", "team").code == 0
        back = next(events)
        assert (back["event"], back["status"], back["action"], back["rev"]) == (
            "state",
            "idle",
            "reset",
            2,
        )
        assert focus("start", "--session", "team").code == 0
        assert next(events)["status"] == "running"
        prompt = _prompt(env, "{phase} {status}")
        assert (prompt.returncode, prompt.stdout) == (0, "focus running\n")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert (proc.returncode, err) == (130, "")


def test_piped_watch_lines_name_the_problem(
    focus: Any, rest: Any, server_url: str, ns: str, tmp_path: Path
) -> None:
    _started(focus, rest)
    _break(rest, offset_ms=0.5)
    env = focus_env(f"{server_url}?ns={ns}", "ana", tmp_path / "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "focuscli", "watch", "--session", "team"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.split("  ", 1)[1] == OFFSET_LINE.removeprefix("focus: ")
        assert focus("reset", "--session", "team").code == 0
        assert (
            proc.stdout.readline()
            .split("  ", 1)[1]
            .startswith("team · idle (next: focus 25:00) · round 1")
        )
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert (proc.returncode, err) == (130, "")


def test_full_screen_watch_shows_the_problem_until_reset(
    focus: Any, rest: Any, server_url: str, ns: str, tmp_path: Path
) -> None:
    _started(focus, rest)
    env = focus_env(f"{server_url}?ns={ns}", "ana", tmp_path / "w")
    term = Terminal(
        [sys.executable, "-m", "focuscli", "watch", "--session", "team"], env, columns=200, lines=30
    )
    try:
        term.wait_for(lambda t: "FOCUS · ROUND 1 · RUNNING" in t and "██" in t, "running view")
        _break(rest, offset_ms=0.5)
        screen = term.wait_for(
            lambda t: "THE TIMER CANNOT BE SHOWN" in t and "focus reset --session team" in t,
            "the problem",
        )
        assert "██" not in screen and "'offset_ms' must be an integer, got 0.5" in screen
        term.type(" ")  # no action on a malformed timer: the notice says what to do instead
        term.wait_for(lambda t: "repair it with focus reset" in t, "the notice")
        assert focus("reset", "--session", "team").code == 0
        term.wait_for(
            lambda t: "reset by ana" in t and "THE TIMER CANNOT BE SHOWN" not in t,
            "the timer again",
        )
        term.type("q")
        assert term.wait() == 0
    finally:
        term.close()


def test_reset_is_a_timer_action_for_the_library(member: Any) -> None:
    ana = member("ana")
    ana.act("team", lambda s, now: timer.start(s, "ana", now), create=True)
    status = ana.reset("team")
    assert (status.view.status, status.view.rev, status.view.action) == ("idle", 2, "reset")


def test_report_over_state_records_far_apart(focus: Any, rest: Any) -> None:
    """A record at a rev far past the others (an admin's write): the gap between them is not
    walked rev by rev."""
    state = _started(focus, rest)
    far = 999_999_999_999_999
    record = {
        **state,
        "rev": far,
        "action": "pause",
        "status": "paused",
        "paused_at": state["updated_at"],
    }
    assert rest.put(f"/sessions/team/states/{far}.json", record).status_code == 200
    got = focus("report", "--json", "--session", "team")
    assert (got.code, got.err, json.loads(got.out)["session"]) == (0, "", "team")


def test_reset_under_rules_that_predate_it(focus: Any, rest: Any) -> None:
    _started(focus, rest)
    _break(rest, offset_ms=0.5)
    rest.set_rules(RULES.replace(" || newData.val() === 'reset'", ""))  # the rules of before
    before = rest.value("/sessions/team.json")
    got = focus("reset", "--session", "team")
    assert (got.code, got.out, got.err) == (
        1, "", "focus: the rules in force refused the reset of 'team' (they predate focus reset); "
        "deploy focus's rules: cd firebase && firebase deploy --only database\n",
    )  # fmt: skip
    assert rest.value("/sessions/team.json") == before

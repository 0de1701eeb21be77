"""`focus report` and `focus log --ical` end to end, with the history nodes the clients write.

A week of a two-member team is arranged in the database (written with the timer core, as the
CLI writes it); the commands run through the CLI in the time zone TZ names, and the tests assert
on their exact output and exit codes. The history the library writes (state records, presence
spans, roster entries) and its fallback for rules from before them are checked here too.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from focuscli import timer
from focuscli.service import new_with_times
from focuscli.timer import Cycle, TimerState
from tests.conftest import FOCUS_RULES, seed_profile
from tests.test_database_rules import as_object

M = 60_000
MON = 1717398000000  # 2024-06-03T07:00:00Z: Monday 09:00 in Berlin
DAY = 86_400_000
NAMES = {"ana": "ana", "bob": "bob"}


@pytest.fixture
def berlin() -> Iterator[None]:
    """This process in Europe/Berlin (TZ, as a user's shell sets it), and back afterwards."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.fixture
def focus(rest: Any, server_url: str, ns: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Any, berlin: None) -> Any:
    """Run `focus ARGS...` in-process as `user` (default ana) against this test's namespace."""
    rest.set_rules(FOCUS_RULES)
    for var in ("FOCUS_SESSION", "FOCUS_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FOCUS_DATABASE_URL", f"{server_url}?ns={ns}")
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str, user: str = "ana") -> Any:
        monkeypatch.setenv("FOCUS_USER", user)
        seed_profile(f"{server_url}?ns={ns}", tmp_path / user / "config", user)
        return run_cli(list(args), tmp_path / user)

    return run


class Team:
    """A session's stored history, written action by action with the timer core."""

    def __init__(self) -> None:
        self.state = TimerState()
        self.session: dict[str, Any] = {
            "meta": {"owner": "ana", "created_at": MON - DAY},
            "members": {u: {"joined_at": MON - DAY, "name": n} for u, n in NAMES.items()},
            "states": {}, "log": {}, "presence": {},
        }  # fmt: skip

    def act(self, fn: Any, by: str, at: int, *args: Any, **kwargs: Any) -> Team:
        new = new_with_times(fn(self.state, by, at, *args, **kwargs), at)
        self.state = new = replace(new, updated_by_name=NAMES[by])
        entry = {"action": new.action, "by": by, "name": NAMES[by], "at": at, "rev": new.rev}
        if new.action in ("start", "skip"):
            entry.update(phase=new.phase, ms=new.duration_ms, **({"label": new.label} if new.label else {}))
        self.session["state"] = new.to_wire()
        self.session["states"][str(new.rev)] = new.to_wire()
        self.session["log"][str(new.rev)] = entry
        return self

    def watched(self, uid: str, start: int, end: int) -> Team:
        key = f"span{len(self.session['presence']):04d}{uid}"
        self.session["presence"][key] = {"uid": uid, "name": NAMES[uid], "from": start, "seen": end, "to": end}
        return self

    def store(self, rest: Any, name: str = "team") -> None:
        data = {"sessions": {name: self.session}, "invites": {name: {"code": "C0DE-team-1234"}},
                "users": {u: {"sessions": {name: {"joined_at": MON - DAY}}} for u in NAMES}}  # fmt: skip
        assert rest.put("/.json", data).status_code == 200


def week(label: str = "spec") -> Team:
    """Mon: ana's block (bob watching), bob's block stopped after 10 min; Tue: a 50-min block
    with a 10-min pause, then a break; Thu 23:30: a late block."""
    return (
        Team()
        .watched("bob", MON - 5 * M, MON + 30 * M)
        .act(timer.start, "ana", MON, label=label)
        .act(timer.start, "bob", MON + 60 * M, label="review")
        .act(timer.stop, "bob", MON + 70 * M)
        .act(timer.start, "ana", MON + DAY, duration_ms=50 * M, label=label)
        .act(timer.pause, "ana", MON + DAY + 20 * M)
        .act(timer.resume, "ana", MON + DAY + 30 * M)
        .act(timer.start, "ana", MON + DAY + 60 * M, phase="short_break")
        .act(timer.start, "ana", MON + 3 * DAY + 14 * 60 * M + 30 * M, label="late")
    )


RANGE = ("--from", "2024-06-03", "--to", "2024-06-09", "--session", "team")


def test_report_of_a_week_by_day(focus: Any, rest: Any) -> None:
    week().store(rest)
    done = focus("report", *RANGE)
    assert (done.code, done.err) == (0, "")
    assert done.out == (
        "team: 2024-06-03 – 2024-06-09 (Europe/Berlin)\n"
        "focus 1:50:00 in 4 blocks: 3 completed, 1 interrupted · breaks 5:00 in 1 · longest streak 2 days (2024-06-03 – 2024-06-04)\n"
        "2 members took part, 8 actions\n"
        "\n"
        "date            focus  completed  interrupted  in progress  breaks\n"
        "Mon 2024-06-03  35:00          1            1            0    0:00\n"
        "Tue 2024-06-04  50:00          1            0            0    5:00\n"
        "Wed 2024-06-05   0:00          0            0            0    0:00\n"
        "Thu 2024-06-06  25:00          1            0            0    0:00\n"
        "Fri 2024-06-07   0:00          0            0            0    0:00\n"
        "Sat 2024-06-08   0:00          0            0            0    0:00\n"
        "Sun 2024-06-09   0:00          0            0            0    0:00\n"
    )


def test_a_long_range_lists_the_days_something_ran(focus: Any, rest: Any) -> None:
    week().store(rest)
    table = focus("report", "--from", "2024-05-01", "--to", "2024-06-30", "--session", "team").out.split("\n\n", 1)[1]
    assert [line.split("  ")[0] for line in table.splitlines()] == [
        "date", "Mon 2024-06-03", "Tue 2024-06-04", "Thu 2024-06-06", "(58 days without blocks not shown)",
    ]  # fmt: skip


def test_report_by_member_and_by_label(focus: Any, rest: Any) -> None:
    week().store(rest)
    members = focus("report", *RANGE, "--by", "member").out.split("\n\n", 1)[1]
    assert members == (
        "member    focus  completed  interrupted  in progress  breaks  actions  streak\n"
        "ana     1:40:00          3            0            0    5:00        6  2 days\n"
        "bob       35:00          1            1            0    0:00        2   1 day\n"
    )
    labels = focus("report", *RANGE, "--by", "label").out.split("\n\n", 1)[1]
    assert labels == (
        "label     focus  completed  interrupted  in progress\n"
        "spec    1:15:00          2            0            0\n"
        "late      25:00          1            0            0\n"
        "review    10:00          0            1            0\n"
    )


def test_report_json_and_csv(focus: Any, rest: Any) -> None:
    week().store(rest)
    data = json.loads(focus("report", *RANGE, "--json").out)
    assert data["schema"] == 1 and data["session"] == "team" and data["time_zone"] == "Europe/Berlin"
    assert (data["from_iso"], data["to_iso"]) == ("2024-06-03T00:00:00+02:00", "2024-06-10T00:00:00+02:00")
    assert data["from"] == MON - 9 * 3_600_000 and data["exact"] is True
    assert data["totals"] == {
        "focus_ms": 110 * M, "break_ms": 5 * M, "completed": 3, "interrupted": 1, "in_progress": 0, "breaks": 1,
        "actions": 8, "members": 2, "longest_streak": {"days": 2, "from": "2024-06-03", "to": "2024-06-04"},
        "unattended": {"blocks": 0, "focus_ms": 0},
    }  # fmt: skip
    assert data["days"][0] == {"date": "2024-06-03", "focus_ms": 35 * M, "break_ms": 0, "completed": 1, "interrupted": 1,
                               "in_progress": 0, "breaks": 0, "members": {"ana": 25 * M, "bob": 35 * M}}  # fmt: skip
    assert [d["date"] for d in data["days"]] == [f"2024-06-{d:02d}" for d in range(3, 10)]
    assert [(m["name"], m["focus_ms"]) for m in data["members"]] == [("ana", 100 * M), ("bob", 35 * M)]
    assert data["labels"][0] == {"label": "spec", "focus_ms": 75 * M, "completed": 2, "interrupted": 0, "in_progress": 0}
    rows = list(csv.DictReader(io.StringIO(focus("report", *RANGE, "--csv", "--by", "member").out)))
    assert [(r["uid"], r["name"], r["focus_ms"], r["actions"], r["longest_streak"]) for r in rows] == [
        ("ana", "ana", str(100 * M), "6", "2"), ("bob", "bob", str(35 * M), "2", "1"),
    ]
    days = focus("report", *RANGE, "--csv").out.splitlines()
    assert days[0] == "date,focus_ms,break_ms,completed,interrupted,in_progress,breaks"
    assert days[1] == f"2024-06-03,{35 * M},0,1,1,0,0" and len(days) == 8


def test_the_day_of_a_late_block_is_the_users(focus: Any, rest: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Thursday 23:30 in Berlin is Thursday 21:30 UTC but Friday 07:30 in Tokyo."""
    week().store(rest)
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    days = json.loads(focus("report", *RANGE, "--json").out)["days"]
    assert data_of(days, "2024-06-07")["focus_ms"] == 25 * M and data_of(days, "2024-06-06")["focus_ms"] == 0


def data_of(days: list[dict[str, Any]], date: str) -> dict[str, Any]:
    return next(d for d in days if d["date"] == date)


def test_report_of_actions_taken_through_the_cli(focus: Any, rest: Any) -> None:
    """Live: every action writes its state record, and the report sees the block."""
    assert focus("start", "25m", "--label", "now", "--session", "live").code == 0
    focus("pause")
    focus("stop")
    stored = as_object(rest.value("/sessions/live.json"))
    assert [stored["states"][str(r)]["action"] for r in (1, 2, 3)] == ["start", "pause", "stop"]
    assert stored["states"]["3"] == stored["state"]
    data = json.loads(focus("report", "--json").out)
    assert (data["totals"]["interrupted"], data["totals"]["actions"], data["exact"]) == (1, 3, True)
    assert [m["name"] for m in data["members"]] == ["ana"]
    assert focus("report").out.startswith(f"live: {time.strftime('%Y-%m-%d', time.localtime(time.time() - 7 * 86400))} – ")


BAD = [
    (["--since", "soon"], "--since: invalid duration or date 'soon': use a duration (7d, 2w, 36h, 1d12h, 90m, 1h30m) or a date (YYYY-MM-DD, today, yesterday)"),
    (["--since", "0m"], "--since: the duration must be more than 0, got 0m"),
    (["--since", "20000d"], "--since: at most 3660 days, got 20000d"),
    (["--since", "7d", "--from", "2024-06-03"], "--since and --from/--to exclude each other; pick one"),
    (["--to", "2024-06-03"], "--to needs --from (the first day of the range)"),
    (["--from", "2024-02-30"], "--from: invalid date '2024-02-30': use YYYY-MM-DD, today or yesterday"),
    (["--from", "3 June"], "--from: invalid date '3 June': use YYYY-MM-DD, today or yesterday"),
    (["--from", "2024-06-09", "--to", "2024-06-03"], "--to 2024-06-03 is before --from 2024-06-09"),
    (["--from", "2999-01-01"], "the range begins in the future (2999-01-01); nothing to report yet"),
    (["--from", "1990-01-01"], "the range is longer than 3660 days; pick a shorter one"),
    (["--by", "week"], "--by must be day, member or label, not 'week'"),
    (["--json", "--csv"], "--json and --csv exclude each other; pick one"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_report_input_is_one_line_and_exit_2(focus: Any, rest: Any, args: list[str], message: str) -> None:
    week().store(rest)
    done = focus("report", *args, "--session", "team")
    assert (done.code, done.out) == (2, "")
    assert done.err == f"focus: {message}; see focus report --help\n"


def test_a_non_member_gets_no_report(focus: Any, rest: Any) -> None:
    week().store(rest)
    done = focus("report", "--session", "team", user="cara")
    assert (done.code, done.out) == (1, "")
    assert done.err == "focus: you (cara) are not a member of 'team'; join with: focus join team --code CODE\n"


# --------------------------------------------------------------------------------------------
# focus log --ical


def unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def test_ical_exports_attended_focus_blocks_with_stable_uids(focus: Any, rest: Any) -> None:
    week(label="spec, draft; v2\\final\nnow\x1b[31m").store(rest)
    first = focus("log", "--ical", "--since", "3660d", "--session", "team")
    assert first.code == 0 and first.err == ""
    lines = unfold(first.out)
    assert lines[:5] == ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//focus//focus log --ical//EN", "CALSCALE:GREGORIAN", "X-WR-CALNAME:focus: team"]
    assert first.out.endswith("END:VCALENDAR\r\n") and all(len(line.encode()) <= 75 for line in first.out.split("\r\n"))
    events = first.out.count("BEGIN:VEVENT")
    assert events == 4  # the focus blocks; the break is not one
    assert "SUMMARY:Focus: spec\\, draft\\; v2\\\\final\\nnow[31m" in lines  # escaped; the ESC removed
    assert "SUMMARY:Focus: review (interrupted)" in lines
    assert "DTSTART:20240603T070000Z" in lines and "DTEND:20240603T072500Z" in lines
    uids = [line for line in lines if line.startswith("UID:")]
    assert uids[0] == f"UID:{MON}-focus-team@127.0.0.1.{os.environ['FOCUS_DATABASE_URL'].rsplit('=', 1)[1]}"
    again = focus("log", "--ical", "--since", "3660d", "--session", "team", user="bob")
    assert [line for line in unfold(again.out) if line.startswith("UID:")] == uids
    assert "DESCRIPTION:completed\\, 25:00 of focus (of 25:00) in session team\\nwith ana\\, bob" in lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ical", "--json"], "--ical and --json exclude each other; pick one; see focus log --help"),
        (["--csv", "--ical"], "--ical and --csv exclude each other; pick one; see focus log --help"),
        (["--ical", "--limit", "5"], "--limit counts actions; --ical exports blocks: use --since to choose them; see focus log --help"),
        (["--ical", "--since", "later"], "--since: invalid duration or date 'later': use a duration (7d, 2w, 36h, 1d12h, 90m, 1h30m) or a date (YYYY-MM-DD, today, yesterday); see focus log --help"),
    ],
)
def test_bad_ical_input(focus: Any, rest: Any, args: list[str], message: str) -> None:
    week().store(rest)
    done = focus("log", *args, "--session", "team")
    assert (done.code, done.out, done.err) == (2, "", f"focus: {message}\n")


# --------------------------------------------------------------------------------------------
# What the library writes: state records, presence spans, roster entries


def test_heartbeats_open_a_span_that_a_clean_quit_closes(member: Any, rest: Any) -> None:
    ana = member("ana")
    ana.create("s1")
    ana.heartbeat("s1")
    ana.heartbeat("s1")
    spans = rest.value("/sessions/s1/presence.json")
    assert len(spans) == 1
    (span,) = spans.values()
    assert span["uid"] == "ana" and span["from"] <= span["seen"] == rest.value("/sessions/s1/members/ana/seen_at.json")
    ana.away("s1")
    (span,) = rest.value("/sessions/s1/presence.json").values()
    assert span["to"] == rest.value("/sessions/s1/members/ana/away_at.json")
    ana.heartbeat("s1")  # watching again: a new span
    assert len(rest.value("/sessions/s1/presence.json")) == 2


def test_a_silence_opens_a_new_span(member: Any, rest: Any) -> None:
    ana = member("ana")
    ana.create("s1")
    ana.heartbeat("s1")
    key, (span_id, last) = next(iter(ana._spans.items()))
    ana._spans[key] = (span_id, last - 41)  # the last heartbeat 41 s ago by this machine's clock
    ana.heartbeat("s1")
    assert len(rest.value("/sessions/s1/presence.json")) == 2


def test_membership_changes_are_in_the_roster(member: Any, rest: Any) -> None:
    ana, bob, cy = member("ana"), member("bob"), member("cy")
    code = ana.create("s1")
    bob.join("s1", code)
    cy.join("s1", code)
    bob.leave("s1")
    ana.kick("s1", "cy")
    roster = sorted(rest.value("/sessions/s1/roster.json").values(), key=lambda e: e["at"])
    assert [(e["uid"], e["event"], e["by"], e["name"]) for e in roster] == [
        ("ana", "joined", "ana", "ana"), ("bob", "joined", "bob", "bob"), ("cy", "joined", "cy", "cy"),
        ("bob", "left", "bob", "bob"), ("cy", "removed", "ana", "cy"),
    ]  # fmt: skip


def rules_before_history() -> str:
    """focus's rules without the history nodes: what a project deployed before them enforces."""
    text = "\n".join(line for line in FOCUS_RULES.splitlines() if not line.strip().startswith("//"))
    rules = json.loads(text)
    session = rules["rules"]["sessions"]["$sid"]
    for node in ("states", "presence", "roster"):
        del session[node]
    del session["log"][".indexOn"]
    return json.dumps(rules)


def test_rules_from_before_history_still_take_every_write(member: Any, rest: Any) -> None:
    ana, bob = member("ana"), member("bob")
    rest.set_rules(rules_before_history())
    code = ana.create("s1")
    bob.join("s1", code)
    ana.act("s1", lambda s, now: timer.start(s, "ana", now))
    bob.heartbeat("s1")
    bob.away("s1")
    ana.act("s1", lambda s, now: timer.stop(s, "ana", now))
    bob.leave("s1")
    stored = rest.value("/sessions/s1.json")
    assert stored["state"]["rev"] == 2 and not {"states", "presence", "roster"} & set(stored)
    assert ana.history is False and bob.history is False
    assert "away_at" not in stored["members"].get("bob", {})  # bob left


def test_reports_read_through_indexes(spawn_server: Any, tmp_path: Path) -> None:
    """Against a server that refuses unindexed queries, as production does: every query of a
    report is on a child the rules index."""
    from focuscli import history
    from focuscli import report as core
    from focuscli.backend import Database, Target
    from focuscli.service import Focus
    from tests.members import EmulatorMember

    rules = tmp_path / "rules.json"
    rules.write_text(FOCUS_RULES)
    server = spawn_server("--port", "0", "--memory", "--strict-indexes", "--rules", str(rules))
    try:
        me = EmulatorMember("ana")
        with Database(Target(f"{server.url}?ns=idx", None, "emulator"), me) as db:
            ana = Focus(db, me, state_dir=tmp_path / "ana")
            ana.create("s1")
            ana.act("s1", lambda s, now: timer.start(s, "ana", now))
            ana.heartbeat("s1")
            now = ana.server_now()
            data, now, horizon = history.read(ana, "s1", now - DAY, now)
            built = core.build(data, start=now - DAY, end=now, now=now, horizon=horizon)
            assert built["totals"]["in_progress"] == 1 and built["totals"]["members"] == 1
    finally:
        server.terminate()


def test_rules_without_the_indexes_get_one_line_saying_what_to_do(spawn_server: Any, tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(rules_before_history())
    server = spawn_server("--port", "0", "--memory", "--strict-indexes", "--rules", str(rules))
    try:
        url = f"{server.url}?ns=old"
        monkeypatch.setenv("FOCUS_DATABASE_URL", url)
        monkeypatch.setenv("FOCUS_USER", "ana")
        seed_profile(url, tmp_path / "ana" / "config", "ana")
        assert run_cli(["start", "--session", "s1"], tmp_path / "ana").code == 0
        done = run_cli(["report", "--session", "s1"], tmp_path / "ana")
        assert (done.code, done.out) == (1, "")
        assert done.err == ("focus: the rules in force have no index for reports (they predate them); deploy focus's "
                            "rules: cd firebase && firebase deploy --only database\n")  # fmt: skip
    finally:
        server.terminate()


def test_legacy_history_is_replayed(focus: Any, rest: Any) -> None:
    """A session whose actions have log entries only (older clients): the report replays them
    and says it is approximate (7 of the 8: the state node is the record of the last rev)."""
    team = week()
    del team.session["states"]
    team.store(rest)
    out = focus("report", *RANGE).out
    assert "focus 1:50:00 in 4 blocks: 3 completed, 1 interrupted" in out
    assert "approximate: 7 actions from before state history, replayed from the log" in out
    assert re.search(r"\nTue 2024-06-04 +50:00 +1 +0 +0 +5:00\n", out)


def test_cycle_default_for_legacy_is_the_current() -> None:
    """The cycle a log-only history replays with is the session's current one."""
    from focuscli import blocks

    state = TimerState(cycle=Cycle(focus_ms=10 * M))
    entry = {"action": "start", "by": "ana", "name": "ana", "at": MON, "rev": 1}
    (step,), inexact = blocks.steps(None, {"1": entry}, cycle=state.cycle)
    assert step.state.duration_ms == 10 * M and inexact == 1


# --------------------------------------------------------------------------------------------
# Ranges as typed, and the chart


BERLIN_NOON = 1717408800000  # 2024-06-03T10:00:00Z, 12:00 in Berlin


@pytest.mark.parametrize(
    ("since", "first", "last", "start", "end", "dates"),
    [
        (None, None, None, BERLIN_NOON - 7 * DAY, BERLIN_NOON, ("2024-05-27", "2024-06-03")),
        ("36h", None, None, BERLIN_NOON - 36 * 3_600_000, BERLIN_NOON, ("2024-06-02", "2024-06-03")),
        ("2w", None, None, BERLIN_NOON - 14 * DAY, BERLIN_NOON, ("2024-05-20", "2024-06-03")),
        ("1d12h", None, None, BERLIN_NOON - 36 * 3_600_000, BERLIN_NOON, ("2024-06-02", "2024-06-03")),
        ("1h30m", None, None, BERLIN_NOON - 90 * M, BERLIN_NOON, ("2024-06-03", "2024-06-03")),
        ("today", None, None, BERLIN_NOON - 12 * 3_600_000, BERLIN_NOON, ("2024-06-03", "2024-06-03")),
        ("2024-06-01", None, None, BERLIN_NOON - 2 * DAY - 12 * 3_600_000, BERLIN_NOON, ("2024-06-01", "2024-06-03")),
        (None, "yesterday", None, BERLIN_NOON - DAY - 12 * 3_600_000, BERLIN_NOON, ("2024-06-02", "2024-06-03")),
        (None, "2024-05-27", "2024-05-31", 1716760800000, 1717192800000, ("2024-05-27", "2024-05-31")),
        # the night the clocks went forward: that day is 23 hours long
        (None, "2024-03-31", "2024-03-31", 1711839600000, 1711839600000 + 23 * 3_600_000, ("2024-03-31", "2024-03-31")),
        (None, "2024-06-01", "2099-01-01", BERLIN_NOON - 2 * DAY - 12 * 3_600_000, BERLIN_NOON, ("2024-06-01", "2024-06-03")),
    ],
)
def test_ranges_as_typed(since: str | None, first: str | None, last: str | None, start: int, end: int, dates: tuple[str, str]) -> None:
    from focuscli.period import period
    from focuscli.report import zone

    got = period(since=since, first=first, last=last, now=BERLIN_NOON, tz=zone("Europe/Berlin"))
    assert (got.start, got.end, (got.first, got.last)) == (start, end, dates)


def chart_report(days: dict[str, dict[str, int]], names: dict[str, str]) -> dict[str, Any]:
    return {"days": [{"date": d, "members": m} for d, m in days.items()],
            "members": [{"uid": u, "name": n} for u, n in names.items()]}  # fmt: skip


def test_the_chart_stacks_members_and_fits_the_width() -> None:
    from rich.console import Console

    from focuscli import chart

    report = chart_report(
        {"2024-06-03": {"ana": 60 * M, "bob": 30 * M}, "2024-06-04": {"bob": 45 * M}, "2024-06-05": {}},
        {"ana": "ana", "bob": "bob\x1b[2J"},
    )
    console = Console(width=60, record=True, color_system=None, force_terminal=True)
    console.print(chart.chart(report, 60, color=False))
    lines = console.export_text().splitlines()
    assert lines[0] == "focus time per day, by member"
    assert all(len(line) <= 60 for line in lines)
    bar = 60 - len("Mon 06-03") - len("1:30:00") - 2
    # bob focused most over the range: his segment comes first, with the first mark
    assert lines[1] == "Mon 06-03 " + "█" * round(bar * 30 / 90) + "▓" * (bar - round(bar * 30 / 90)) + " 1:30:00"
    assert lines[2].startswith("Tue 06-04 " + "█" * round(bar * 45 / 90) + " ") and lines[2].endswith(" 45:00")
    assert lines[3] == "Wed 06-05"
    assert lines[4] == "█ bob\\u001b[2J 1:15:00  ▓ ana 1:00:00"  # the escape shown, never sent


def test_a_long_range_charts_weeks_and_months() -> None:
    from focuscli import chart

    days = {f"2024-{m:02d}-{d:02d}": {"ana": M} for m in (1, 2, 3) for d in range(1, 29)}
    assert chart.rows(chart_report(days, {"ana": "ana"}))[0] == "week"
    two_years = {f"{y}-{m:02d}-{d:02d}": {"ana": M} for y in (2023, 2024) for m in range(1, 13) for d in range(1, 29)}
    unit, rows = chart.rows(chart_report(two_years, {"ana": "ana"}))
    assert unit == "month" and [label for label, _ in rows][:2] == ["2023-01", "2023-02"] and rows[0][1] == {"ana": 28 * M}


def test_more_members_than_colours_share_one_segment() -> None:
    from rich.console import Console

    from focuscli import chart

    names = {f"m{i}": f"m{i}" for i in range(10)}
    report = chart_report({"2024-06-03": {u: (10 - i) * M for i, u in enumerate(names)}}, names)
    console = Console(width=100, record=True, color_system=None, force_terminal=True)
    console.print(chart.chart(report, 100, color=False))
    legend = console.export_text().splitlines()[-1]
    assert legend.count(" m") == 7 and legend.endswith("  ░ others 6:00")  # m7, m8 and m9


def test_on_a_terminal_the_report_draws_its_chart_to_the_width(rest: Any, server_url: str, ns: str, tmp_path: Path) -> None:
    import sys

    from tests.conftest import focus_env
    from tests.terminal import Terminal

    rest.set_rules(FOCUS_RULES)
    week().store(rest)
    env = focus_env(f"{server_url}?ns={ns}", "ana", tmp_path, TZ="Europe/Berlin")
    term = Terminal([sys.executable, "-m", "focuscli", "report", *RANGE], env, columns=72, lines=40)
    try:
        assert term.wait() == 0
        screen = term.text()
    finally:
        term.close()
    lines = screen.splitlines()
    at = lines.index("focus time per day, by member")
    assert lines[at + 1].startswith("Mon 06-03 █") and lines[at + 1].endswith(" 1:00:00")  # 25:00 ana + 35:00 bob
    assert lines[at + 2].startswith("Tue 06-04 █") and lines[at + 2].endswith("   50:00")
    assert lines[at + 3] == "Wed 06-05" and lines[at + 8] == "█ ana 1:40:00  █ bob 35:00"
    assert max(len(line) for line in lines) <= 72
    assert "Mon 2024-06-03  35:00" in screen  # and the table below it

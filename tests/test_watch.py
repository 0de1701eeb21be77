"""Watching a session: the local mirror, the events it implies, and `focus watch` end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from focuscli import timer
from focuscli.mirror import Moment, SessionMirror, changes
from tests.conftest import seed_profile


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([("put", "/", {"a": 1})], {"a": 1}),
        ([("put", "/", {"a": 1}), ("put", "/b/c", 2)], {"a": 1, "b": {"c": 2}}),
        ([("put", "/", {"a": {"x": 1}}), ("patch", "/a", {"y": 2, "x": None})], {"a": {"y": 2}}),
        ([("put", "/", {"a": 1}), ("put", "/a", None)], None),
        ([("put", "/", {"log": [None, {"r": 1}]}), ("put", "/log/2", {"r": 2})], {"log": {"1": {"r": 1}, "2": {"r": 2}}}),
    ],
)
def test_mirror_follows_puts_and_patches(events: list[tuple[str, str, Any]], expected: Any) -> None:
    mirror = SessionMirror()
    for kind, path, data in events:
        getattr(mirror, kind)(path, data)
    assert mirror.data == expected


def _moment(rev: int = 1, phase: str = "focus", status: str = "running", members: tuple[str, ...] = ("ana",), connection: str = "live") -> Moment:
    v = timer.TimerView(status, phase, 1, 1000, 1000, 0, None, None, rev, None, None, None)
    return Moment(v, frozenset(members), connection)


@pytest.mark.parametrize(
    ("before", "after", "kinds"),
    [
        (None, _moment(), ["state"]),
        (_moment(), _moment(), []),
        (_moment(rev=1), _moment(rev=2), ["state"]),
        (_moment(status="running"), _moment(status="done"), ["phase_end"]),
        (_moment(phase="focus"), _moment(phase="short_break"), ["phase_end"]),
        (_moment(members=("ana",)), _moment(members=("ana", "bob")), ["member_joined"]),
        (_moment(members=("ana", "bob")), _moment(members=("ana",)), ["member_left"]),
        (_moment(connection="live"), _moment(connection="reconnecting", rev=2), ["connection", "state"]),
    ],
)
def test_changes_between_moments(before: Moment | None, after: Moment, kinds: list[str]) -> None:
    assert changes(before, after) == kinds


def test_watch_reports_actions_members_and_phase_ends(member: Any) -> None:
    ana, bob = member("ana"), member("bob")
    ana.act("team", lambda s, now: timer.start(s, "ana", now, duration_ms=600_000), create=True)
    events = ana.watch("team", tick_s=0.05)
    try:
        first = next(events)
        assert (first.kind, first.status.view.status, first.members, first.connection) == ("state", "running", ["ana"], "live")
        bob.join("team", ana.invite_code("team"))
        joined = next(events)
        assert (joined.kind, joined.members, joined.joined) == ("member_joined", ["ana", "bob"], ("bob",))
        assert (joined.to_json()["joined"], "left" in joined.to_json()) == (["bob"], False)
        bob.act("team", lambda s, now: timer.pause(s, "bob", now))
        paused = next(events)
        assert (paused.kind, paused.status.view.status, paused.status.view.updated_by) == ("state", "paused", "bob")
        bob.act("team", lambda s, now: timer.skip(s, "bob", now))
        assert next(events).kind == "state"
        bob.act("team", lambda s, now: timer.stop(s, "bob", now))
        assert next(events).kind == "state"
        bob.act("team", lambda s, now: timer.start(s, "bob", now, duration_ms=300, phase="short_break"))
        assert next(events).kind == "state"
        ended = next(events)  # no write: time alone ends the 0.3 s phase
        assert (ended.kind, ended.status.view.status) == ("phase_end", "done")
        assert (ended.ended, ended.following) == (("short_break", 1), ("focus", 2))
        bob.leave("team")
        left = next(events)
        assert (left.kind, left.members, left.left, left.to_json()["left"]) == ("member_left", ["ana"], ("bob",), ["bob"])
    finally:
        events.close()


def test_phase_end_with_auto_advance_names_the_ended_and_the_next_phase(member: Any) -> None:
    ana = member("ana")
    ana.act("team", lambda s, now: timer.start(s, "ana", now), create=True)
    cycle = timer.Cycle(short_break_ms=60_000, auto_advance=True)
    ana.act("team", lambda s, now: timer.configure(s, "ana", now, cycle))
    ana.act("team", lambda s, now: timer.stop(s, "ana", now))
    ana.act("team", lambda s, now: timer.start(s, "ana", now, duration_ms=300))
    events = ana.watch("team", tick_s=0.05)
    try:
        assert next(events).kind == "state"
        ended = next(events)  # the 0.3 s focus block ends; the short break runs by itself
        assert (ended.kind, ended.status.view.phase, ended.status.view.status) == ("phase_end", "short_break", "running")
        data = ended.to_json()
        assert {k: data[k] for k in ("ended_phase", "ended_round", "next_phase", "next_round")} == {
            "ended_phase": "focus", "ended_round": 1, "next_phase": "short_break", "next_round": 1,
        }  # fmt: skip
        assert (data["phase"], data["status"]) == ("short_break", "running")  # the existing fields stay
    finally:
        events.close()


def test_piped_watch_lines_name_who_joined_and_left() -> None:
    from focuscli.render import watch_line
    from focuscli.service import Status, WatchEvent

    v = timer.view(timer.TimerState(), 0)
    status = Status("team", v, 0, 1_700_000_000_000)
    joined = WatchEvent("member_joined", status, ["ana", "bob", "cara", "dave"], "live", joined=("dave",))
    left = WatchEvent("member_left", status, ["ana", "cara"], "live", left=("bob", "dave"))
    assert watch_line(joined).split("  ", 1)[1] == "joined: dave · members: ana, bob, cara, dave"
    assert watch_line(left).split("  ", 1)[1] == "left: bob, dave · members: ana, cara"


def test_watch_json_lines_from_the_cli(member: Any, server_url: str, ns: str, tmp_path: Path) -> None:
    ana, bob = member("ana"), member("bob")
    ana.act("team", lambda s, now: timer.start(s, "ana", now), create=True)
    bob.join("team", ana.invite_code("team"))
    env = {
        **os.environ,
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
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert (first["event"], first["status"], first["session"], first["schema"]) == ("state", "running", "team", 1)
        assert {"remaining_ms", "updated_at", "members", "connection"} <= set(first)
        bob.act("team", lambda s, now: timer.pause(s, "bob", now))
        second = json.loads(proc.stdout.readline())
        assert (second["event"], second["status"], second["updated_by"]) == ("state", "paused", "bob")
        assert ana.presence("team")["ana"]["here"] is True  # watching: here
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert (proc.returncode, err) == (130, "")
    assert ana.presence("team")["ana"]["here"] is False  # away at once, not 45 s later

"""`focus watch` in a real terminal (a pty, read through a terminal emulator): another member
pauses, the screen shows it, a resize redraws it, keys act, q and Ctrl-C leave the terminal clean."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from focuscli import timer
from focuscli.service import Focus, Status, WatchEvent
from focuscli.terminal import _key_action
from tests.conftest import focus_env
from tests.terminal import Terminal


def _event(status: str, phase: str = "focus") -> WatchEvent:
    view = timer.TimerView(status, phase, 1, 1000, 1000, 0, None, None, 1, None, None, None)
    return WatchEvent("state", Status("team", view, 0, 0), ["ana"], "live")


@pytest.mark.parametrize(
    ("key", "status", "phase", "expected"),
    [
        ("q", "running", "focus", ("quit", "")),
        (" ", "running", "focus", ("pause", "")),
        (" ", "paused", "focus", ("resume", "")),
        ("s", "running", "focus", ("skip", "")),
        ("s", "done", "focus", ("skip", "")),
        ("n", "idle", "short_break", ("start", "")),  # the phase shown as next
        ("n", "done", "focus", ("skip", "")),  # the phase after the one that is over
        ("n", "running", "focus", ("", "n starts the next phase once this one is over or stopped; s skips to it now")),
        (" ", "idle", "focus", ("", "the timer is stopped; n starts focus")),
        ("s", "idle", "long_break", ("", "the timer is stopped; n starts long break")),
        (" ", "done", "focus", ("", "the phase is over; n starts the next one")),
        ("x", "running", "focus", ("", "")),
    ],
)
def test_keys(key: str, status: str, phase: str, expected: tuple[str, str]) -> None:
    assert _key_action(key, _event(status, phase)) == expected


@pytest.mark.focus_serve


def test_watch_in_a_terminal_shows_a_pause_survives_a_resize_and_quits_clean(
    member: Callable[[str], Focus], server_url: str, ns: str, tmp_path: Path
) -> None:
    ana, bob = member("ana"), member("bob")
    ana.act("team", lambda s, now: timer.start(s, "ana", now, duration_ms=25 * 60_000, label="deep work"), create=True)
    bob.join("team", ana.invite_code("team"))
    env = focus_env(f"{server_url}?ns={ns}", "ana", tmp_path / "w")
    argv = [sys.executable, "-m", "focuscli", "watch", "--session", "team"]
    snapshot = tmp_path / "w" / "state" / "focus" / "snapshot-team.json"  # for prompts, while it runs

    term = Terminal(argv, env, columns=100, lines=30)
    try:
        # Each wait names everything the frame must show at once: a frame read half-drawn
        # must not pass.
        keys = "space pause/resume · s skip · n start next · q quit"
        term.wait_for(lambda t: all(x in t for x in ("FOCUS · ROUND 1 · RUNNING", "● live", "deep work", "██", keys)), "running view")
        assert snapshot.exists()

        bob.act("team", lambda s, now: timer.pause(s, "bob", now))
        term.wait_for(lambda t: "focus · round 1 · paused" in t and "paused by bob" in t, "paused view", timeout=5.0)

        term.resize(44, 14)
        small = term.wait_for(lambda t: "paused by bob" in t and "focus · round 1 · paused" in t and "██" not in t, "resized view")
        assert max(map(len, small.splitlines())) <= 44

        term.resize(100, 30)
        term.wait_for(lambda t: "██" in t and "paused by bob" in t, "big view again")

        term.type(" ")  # the watcher resumes with a key
        term.wait_for(lambda t: "resumed by ana" in t and "FOCUS · ROUND 1 · RUNNING" in t, "resumed view")
        assert ana.status("team").view.status == "running"

        bob.act("team", lambda s, now: timer.stop(s, "bob", now))
        term.wait_for(lambda t: "stopped · next: focus · round 1" in t, "stopped view")
        term.type("n")  # the start key: the next phase, for everyone
        term.wait_for(lambda t: "started by ana" in t and "FOCUS · ROUND 1 · RUNNING" in t, "started view")
        assert ana.status("team").view.status == "running"

        term.type("q")
        assert term.wait() == 0
        after = term.text()
        assert "██" not in after and "resumed" not in after, after  # the alternate screen is gone
        assert term.canonical()  # cbreak was undone
        assert not snapshot.exists()  # q removes the prompt snapshot
        assert bob.presence("team")["ana"]["here"] is False  # and marks ana away at once
    finally:
        term.close()

    term = Terminal(argv, env, columns=100, lines=30)  # again, then Ctrl-C
    try:
        term.wait_for(lambda t: "started by ana" in t and "██" in t, "the view again")
        assert snapshot.exists()
        term.type("\x03")
        assert term.wait() == 130
        assert "██" not in term.text()
        assert term.canonical()
        assert not snapshot.exists()  # and so does Ctrl-C
    finally:
        term.close()

"""`focus watch` in a real terminal (a pty, read through a terminal emulator): another member
pauses, the screen shows it, a resize redraws it, keys act, q and Ctrl-C leave the terminal clean."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from focuscli import timer
from focuscli.service import Focus
from tests.conftest import focus_env
from tests.terminal import Terminal

pytestmark = pytest.mark.focus_serve


def test_watch_in_a_terminal_shows_a_pause_survives_a_resize_and_quits_clean(
    member: Callable[[str], Focus], server_url: str, ns: str, tmp_path: Path
) -> None:
    ana, bob = member("ana"), member("bob")
    ana.act("team", lambda s, now: timer.start(s, "ana", now, duration_ms=25 * 60_000, label="deep work"), create=True)
    bob.join("team", ana.invite_code("team"))
    env = focus_env(f"{server_url}?ns={ns}", "ana", tmp_path / "w")
    argv = [sys.executable, "-m", "focuscli", "watch", "--session", "team"]

    term = Terminal(argv, env, columns=100, lines=30)
    try:
        first = term.wait_for(lambda t: "FOCUS · ROUND 1 · RUNNING" in t and "● live" in t, "running view")
        assert "deep work" in first and "██" in first and "space pause/resume · s skip · q quit" in first

        bob.act("team", lambda s, now: timer.pause(s, "bob", now))
        paused = term.wait_for(lambda t: "focus · round 1 · paused" in t, "paused view", timeout=5.0)
        assert "paused by bob" in paused

        term.resize(44, 14)
        small = term.wait_for(lambda t: "paused by bob" in t and "██" not in t, "resized view")
        assert "focus · round 1 · paused" in small
        assert max(map(len, small.splitlines())) <= 44

        term.resize(100, 30)
        term.wait_for(lambda t: "██" in t and "paused by bob" in t, "big view again")

        term.type(" ")  # the watcher resumes with a key
        term.wait_for(lambda t: "resumed by ana" in t and "FOCUS · ROUND 1 · RUNNING" in t, "resumed view")
        assert ana.status("team").view.status == "running"

        term.type("q")
        assert term.wait() == 0
        after = term.text()
        assert "██" not in after and "resumed" not in after, after  # the alternate screen is gone
        assert term.canonical()  # cbreak was undone
    finally:
        term.close()

    term = Terminal(argv, env, columns=100, lines=30)  # again, then Ctrl-C
    try:
        term.wait_for(lambda t: "resumed by ana" in t and "██" in t, "the view again")
        term.type("\x03")
        assert term.wait() == 130
        assert "██" not in term.text()
        assert term.canonical()
    finally:
        term.close()

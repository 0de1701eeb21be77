"""`focus watch` in a real terminal: tmux runs it, another member pauses, the screen shows it."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from focuscli import timer
from focuscli.service import Focus

ROOT = Path(__file__).resolve().parent.parent
TMUX = shutil.which("tmux")

pytestmark = pytest.mark.focus_serve  # needs tmux (.ci/run installs it)


class Pane:
    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        assert TMUX is not None
        out = subprocess.run([TMUX, "-S", str(self.socket), *args], capture_output=True, text=True, timeout=10)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def text(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "w")

    def wait_for(self, check: Callable[[str], bool], what: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if check(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout} s; the pane shows:\n{text}")
            time.sleep(0.1)


def test_watch_in_tmux_shows_a_pause_survives_a_resize_and_quits_clean(
    member: Callable[[str], Focus], server_url: str, ns: str, tmp_path: Path
) -> None:
    ana, bob = member("ana"), member("bob")
    ana.act("team", lambda s, now: timer.start(s, "ana", now, duration_ms=25 * 60_000, label="deep work"), create=True)
    bob.join("team", ana.invite_code("team"))
    env = {
        "FOCUS_DATABASE_URL": f"{server_url}?ns={ns}",
        "FOCUS_USER": "ana",
        "XDG_STATE_HOME": str(tmp_path / "w" / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "w" / "config"),
        "XDG_DATA_HOME": str(tmp_path / "w" / "data"),
        "PYTHONPATH": str(ROOT),
        "PS1": "$ ",
    }
    command = " ".join(
        ["env", *(shlex.quote(f"{k}={v}") for k, v in env.items()), shlex.quote(sys.executable)]
        + ["-m", "focuscli", "watch", "--session", "team", ";", "echo", "exited=$?"]  # pane line: exited=0
    )
    pane = Pane(tmp_path / "tmux.sock")
    pane.tmux("new-session", "-d", "-s", "w", "-x", "100", "-y", "30", "env PS1='$ ' bash --norc --noprofile")
    try:
        pane.tmux("send-keys", "-t", "w", command, "Enter")
        first = pane.wait_for(lambda t: "FOCUS · ROUND 1 · RUNNING" in t and "● live" in t, "running view")
        assert "deep work" in first and "██" in first and "space pause/resume · s skip · q quit" in first

        bob.act("team", lambda s, now: timer.pause(s, "bob", now))
        paused = pane.wait_for(lambda t: "focus · round 1 · paused" in t, "paused view", timeout=5.0)
        assert "paused by bob" in paused

        pane.tmux("resize-window", "-t", "w", "-x", "44", "-y", "14")
        small = pane.wait_for(lambda t: "paused by bob" in t and max(map(len, t.splitlines())) <= 44, "resized view")
        assert "focus · round 1 · paused" in small

        pane.tmux("resize-window", "-t", "w", "-x", "100", "-y", "30")
        pane.wait_for(lambda t: "██" in t and "paused by bob" in t, "big view again")

        pane.tmux("send-keys", "-t", "w", "Space")  # the watcher resumes with a key
        pane.wait_for(lambda t: "resumed by ana" in t and "FOCUS · ROUND 1 · RUNNING" in t, "resumed view")
        assert ana.status("team").view.status == "running"

        pane.tmux("send-keys", "-t", "w", "q")
        done = pane.wait_for(lambda t: re.search(r"^exited=\d+$", t, re.M) is not None, "exit")
        assert re.search(r"^exited=0$", done, re.M), done
        assert done.rstrip().endswith("$"), done  # back at the shell prompt
        assert "██" not in done and "resumed" not in done  # the alternate screen is gone

        pane.tmux("send-keys", "-t", "w", "clear; " + command, "Enter")  # again, then Ctrl-C
        pane.wait_for(lambda t: "resumed by ana" in t and "██" in t, "the view again")
        pane.tmux("send-keys", "-t", "w", "C-c")
        interrupted = pane.wait_for(lambda t: re.search(r"^exited=\d+$", t, re.M) is not None, "exit")
        assert re.search(r"^exited=130$", interrupted, re.M), interrupted
        assert "██" not in interrupted
        pane.tmux("send-keys", "-t", "w", "stty -a | grep -q -- -icanon && echo cb''reak || echo can''onical", "Enter")
        tty_mode = pane.wait_for(lambda t: re.search(r"^(cbreak|canonical)$", t, re.M) is not None, "stty")
        assert re.search(r"^canonical$", tty_mode, re.M), tty_mode  # cbreak was undone
    finally:
        subprocess.run([TMUX or "tmux", "-S", str(tmp_path / "tmux.sock"), "kill-server"], capture_output=True, timeout=10)

"""Shared plumbing of the reliability suite: focus as separate processes, and what /proc says.

Everything here runs real processes (`focus serve`, `focus ...`) against real sockets and
directories; the tests inject faults (kill -9, SIGTERM, restarts, bad input) from outside.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
FOCUS_RULES_FILE = ROOT / "firebase" / "database.rules.json"


def focus_env(url: str, user: str, home: Path, **extra: str) -> dict[str, str]:
    """The environment of one user's `focus` process: database URL, identity, private XDG dirs."""
    env = {
        **os.environ,
        "FOCUS_DATABASE_URL": url,
        "FOCUS_USER": user,
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    env.pop("FIREBASE_DATABASE_EMULATOR_HOST", None)
    env.pop("FOCUS_SESSION", None)
    env.pop("FOCUS_CONFIG", None)
    return env


def focus_argv(*args: str) -> list[str]:
    """argv of the `focus` command as installed (python -m focuscli, same entry point)."""
    return [sys.executable, "-m", "focuscli", *args]


def run_focus(args: list[str], env: dict[str, str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        focus_argv(*args), env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def rss_kib(pid: int) -> int:
    """Resident set size of a live process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture
def env_for(tmp_path: Path) -> Callable[..., dict[str, str]]:
    """Factory: ``env_for(url, user, **extra)``, each user with a home under this test's tmp_path."""

    def make(url: str, user: str, **extra: str) -> dict[str, str]:
        return focus_env(url, user, tmp_path / "homes" / user, **extra)

    return make

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
from typing import Any

import pytest

from tests.conftest import focus_env

ROOT = Path(__file__).resolve().parent.parent.parent
FOCUS_RULES_FILE = ROOT / "firebase" / "database.rules.json"


def focus_argv(*args: str) -> list[str]:
    """argv of the `focus` command as installed (python -m focuscli, same entry point)."""
    return [sys.executable, "-m", "focuscli", *args]


def run_focus(args: list[str], env: dict[str, str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        focus_argv(*args), env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def apply_event(state: Any, kind: str, path: str, data: Any) -> Any:
    """A stream event (`put` or `patch` at `path`) applied to a client-side copy of the value."""
    keys = [k for k in path.split("/") if k]
    if kind == "patch":
        for key, value in data.items():
            state = apply_event(state, "put", "/".join([*keys, key]), value)
        return state
    if not keys:
        return data
    root = state if isinstance(state, dict) else {}
    node = root
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[keys[-1]] = data
    return prune(root)


def prune(value: Any) -> Any:
    """The database's view of a value: no null members, no empty objects."""
    if isinstance(value, dict):
        kept = {k: v for k, v in ((k, prune(v)) for k, v in value.items()) if v is not None}
        return kept or None
    return value


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

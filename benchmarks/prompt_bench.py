"""`focus status --format` answered from a running watch's snapshot: wall time of a fresh process.

The prompt path (issue 5: <= 60 ms, no network, no firebase-admin/typer/rich) is measured as a
shell prompt runs it: a new `python -m focuscli` process, N times, against a fresh snapshot,
with the database URL on a closed port so any network use would fail.

    python benchmarks/prompt_bench.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from focuscli import prompt  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FOCUS_", "XDG_"))}
        env.update(
            XDG_STATE_HOME=f"{tmp}/state", XDG_CONFIG_HOME=f"{tmp}/config", XDG_DATA_HOME=f"{tmp}/data",
            FOCUS_USER="ana", FOCUS_DATABASE_URL=f"http://127.0.0.1:{port}?ns=focus", PYTHONPATH=str(ROOT),
        )  # fmt: skip
        now = int(time.time() * 1000)
        status = {
            "schema": 1, "session": "team", "phase": "focus", "status": "running",
            "remaining_ms": 600_000, "duration_ms": 1_500_000, "elapsed_ms": 900_000, "label": "x",
            "round": 1, "ends_at": now + 600_000, "updated_by": "ana", "updated_at": now,
            "action": "start", "rev": 1, "clock_skew_ms": 0,
        }  # fmt: skip
        path = prompt.snapshot_path(Path(tmp) / "state" / "focus", "team")
        cmd = [sys.executable, "-m", "focuscli", "status", "--format", "{phase} {remaining}", "--session", "team"]
        times = []
        for _ in range(args.runs):
            prompt.write_snapshot(path, status, ["ana"], "live", pid=os.getpid())
            began = time.perf_counter()
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
            times.append((time.perf_counter() - began) * 1000)
            if done.returncode != 0:
                print(f"focus status failed: {done.stderr.strip()}", file=sys.stderr)
                return 1
        floor = []
        for _ in range(args.runs):
            began = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            floor.append((time.perf_counter() - began) * 1000)
    times.sort()
    median = statistics.median(times)
    print(f"focus status --format (snapshot): median {median:.1f} ms, p90 {times[int(len(times) * 0.9) - 1]:.1f} ms, "
          f"min {times[0]:.1f} ms over {args.runs} runs  [goal <= 60 ms: {'PASS' if median <= 60 else 'FAIL'}]")
    print(f"python -c pass (interpreter floor): median {statistics.median(floor):.1f} ms")
    return 0 if median <= 60 else 1


if __name__ == "__main__":
    sys.exit(main())

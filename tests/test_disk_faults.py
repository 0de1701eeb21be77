"""Disks that fail under focus: a read-only or full data directory when the embedded server
starts, and a disk that fills up under a running `focus serve` and then gets space back.

The faults are real: a small tmpfs mounted in a private mount namespace (`unshare --mount`,
util-linux) around the process under test, filled or mounted read-only there; the test reaches
that file system through /proc/<pid>/root of a process inside the namespace. Needs the right
to mount (root, as in CI, or unprivileged user namespaces).
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import FOCUS_RULES, focus_env

pytestmark = pytest.mark.focus_serve

ROOT = Path(__file__).resolve().parent.parent
OWNER = {"Authorization": "Bearer owner"}
# mount a tmpfs of $1 bytes at $2 (options $3), optionally fill it ($4 = fill), then run the rest
ON_SMALL_DISK = (
    'mount -t tmpfs -o "size=$1$3" tmpfs "$2" || exit 99; '
    'if [ "$4" = fill ]; then head -c 4194304 /dev/zero > "$2/filler" 2>/dev/null; fi; '
    'shift 4; exec "$@"'
)


def small_disk(mountpoint: Path, size: int, argv: list[str], *, options: str = "", fill: bool = False) -> list[str]:
    """``argv`` run in a private mount namespace with a tmpfs of ``size`` bytes at ``mountpoint``."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    opts = f",{options}" if options else ""
    return ["unshare", "--mount", "sh", "-c", ON_SMALL_DISK, "sh", str(size), str(mountpoint), opts,
            "fill" if fill else "-", *argv]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the embedded server's data directory at start (issue 12 item 5) ---------------------------


@pytest.mark.parametrize(
    ("case", "options", "fill", "message"),
    [
        ("read-only", "ro", False,
         "focus: cannot start the local database server: {data} is on a read-only file system; "
         "make it writable, or set XDG_DATA_HOME to a directory you can write"),
        ("full", "", True,
         "focus: cannot start the local database server: no space left on the disk of {data}; "
         "free some space there and run the command again"),
    ],
)  # fmt: skip
def test_an_unwritable_data_directory_at_embedded_start_is_one_line(
    tmp_path: Path, case: str, options: str, fill: bool, message: str
) -> None:
    disk = tmp_path / "disk"
    env = focus_env("", "ana", tmp_path / "home", XDG_DATA_HOME=str(disk), FOCUS_SERVE_PORT=str(_free_port()))
    env.pop("FOCUS_DATABASE_URL")
    argv = small_disk(disk, 65536, [sys.executable, "-m", "focuscli", "status", "--session", "team"], options=options, fill=fill)
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 99, f"could not mount a tmpfs: {done.stderr}"
    assert (done.returncode, done.stdout) == (1, ""), done
    assert done.stderr == message.format(data=disk / "focus") + "\n"


# -- a disk that fills up under a running server (issue 12 item 6) -----------------------------


class Serve:
    """`focus serve` on a small tmpfs of its own; the tmpfs as the test sees it: ``disk``."""

    def __init__(self, tmp_path: Path, size: int) -> None:
        mount = tmp_path / "disk"
        rules = tmp_path / "rules.json"
        rules.write_text(FOCUS_RULES)
        serve = [sys.executable, "-m", "focuscli", "serve", "--port", "0", "--data-dir", str(mount / "db"), "--rules", str(rules)]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            small_disk(mount, size, serve), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()
        assert ready, self.proc.communicate(timeout=10)
        self.url = "http://" + ready.strip().rsplit("FIREBASE_DATABASE_EMULATOR_HOST=", 1)[1]
        self.disk = Path(f"/proc/{self.proc.pid}/root") / str(mount).lstrip("/")

    def fill(self) -> None:
        """Fill the disk to the last byte (the way a runaway log file would)."""
        fd = os.open(self.disk / "filler", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            for size in (65536, 512, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * size)
                except OSError as err:
                    assert err.errno == errno.ENOSPC, err
        finally:
            os.close(fd)

    def free(self) -> None:
        (self.disk / "filler").unlink()

    def put(self, path: str, value: object) -> requests.Response:
        return requests.put(f"{self.url}/{path}.json?ns=t", json=value, headers=OWNER, timeout=10)

    def get(self, path: str) -> object:
        return requests.get(f"{self.url}/{path}.json?ns=t", headers=OWNER, timeout=10).json()

    def stop(self) -> str:
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=30)
        return err


def test_a_disk_that_fills_up_and_gets_space_back_recovers_by_itself(tmp_path: Path) -> None:
    server = Serve(tmp_path, 4 * 1024 * 1024)
    try:
        assert server.put("a", 1).status_code == 200
        server.fill()
        refused = server.put("a", "x" * 20_000)
        assert refused.status_code == 503
        data = str(tmp_path / "disk" / "db")
        assert refused.json() == {
            "error": f"Database unavailable: no space left on the disk of the data directory {data}; "
            "writes resume by themselves once there is space (reads still work)"
        }
        assert server.get("a") == 1  # the refused write is not read back
        assert server.put("b", 2).status_code == 503
        server.free()
        deadline = time.monotonic() + 10
        while (answer := server.put("a", 3)).status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert answer.status_code == 200, answer.text
        for i in range(50):  # and it keeps working
            assert server.put(f"n/{i}", "y" * 200).status_code == 200
        assert server.get("a") == 3 and server.get("b") is None
        copy = tmp_path / "copy"
        subprocess.run(["cp", "-r", str(server.disk / "db"), str(copy)], check=True)
    finally:
        err = server.stop()
    assert f"no space left on the disk of the data directory {data}: writes are refused until it takes data again" in err
    assert f"data directory {data} can be written again; accepting writes" in err
    from focuscli.server import LocalServer

    with LocalServer(port=0, data_dir=str(copy)) as again:  # the log is whole: recovery replays it
        tree = requests.get(f"{again.url}/.json?ns=t", headers=OWNER, timeout=10).json()
    assert tree["a"] == 3 and "b" not in tree and len(tree["n"]) == 50
    assert json.dumps(tree).count("x" * 100) == 0

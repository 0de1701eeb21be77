"""The embedded default backend: a detached `focus serve` on 127.0.0.1, started on demand.

`focus start` and `focus watch` are separate processes, so the default database must outlive
both: when no database is configured, the first command that needs it starts

    python -m focuscli serve --port PORT --rules <packaged rules> --data-dir DATA_DIR/database

in its own session (it survives the terminal), logging to DATA_DIR/serve.log, and records its
pid in STATE_DIR/serve.pid so that `stop` can end it. A lock file (STATE_DIR/serve.lock)
serialises starters on this machine; should two servers still race for the port, the loser
exits ("address in use") and everyone keeps using the winner.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from focuscli.errors import BackendError
from focuscli.settings import Settings

PROBE_TIMEOUT = 0.3  # seconds for one "is anybody there?" request
PROBE_BYTES = 4096  # written (and removed) to check that a directory takes data
START_TIMEOUT = 10.0  # seconds for a started server to answer
STOP_TIMEOUT = 10.0  # seconds for a stopped server to exit
RULES_FILE = "database.rules.json"

_started: dict[int, subprocess.Popen[bytes]] = {}  # children of this process (reaped in stop)
_resources = contextlib.ExitStack()
atexit.register(_resources.close)

Probe = Literal["ours", "none", "foreign"]


def packaged_rules() -> Path:
    """The security rules shipped inside the package (the same file `firebase deploy` reads)."""
    beside = Path(__file__).resolve().parent / RULES_FILE
    try:
        ref = resources.files("focuscli").joinpath(RULES_FILE)
        if ref.is_file():
            return Path(_resources.enter_context(resources.as_file(ref)))
    except (ModuleNotFoundError, OSError):
        pass
    return beside


def log_path(settings: Settings) -> Path:
    return settings.data_dir / "serve.log"


def pid_path(settings: Settings) -> Path:
    return settings.state_dir / "serve.pid"


def ensure_running(settings: Settings, *, say: Callable[[str], None]) -> None:
    """Make sure the embedded server answers, starting it if needed (a no-op for other kinds)."""
    if settings.target.kind != "embedded":
        return
    url, ns = _base_url(settings), _namespace(settings)
    if _probe(url, ns) == "ours":
        _sync_rules(settings, url, ns, say)
        return
    for directory, variable in ((settings.state_dir, "XDG_STATE_HOME"), (settings.data_dir, "XDG_DATA_HOME")):
        try:
            _check_writable(directory)
        except OSError as err:
            raise _unwritable(directory, variable, err) from None
    try:
        _start(settings, url, ns, say)
    except OSError as err:  # the disk filled up, or went read-only, in between
        raise _unwritable(settings.data_dir, "XDG_DATA_HOME", err) from None


def _check_writable(directory: Path) -> None:
    """Create ``directory`` if needed and write (and remove) a small file in it: a read-only,
    full or forbidden directory raises OSError here, before anything is started."""
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / f".probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0" * PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        probe.unlink(missing_ok=True)


def _unwritable(directory: Path, variable: str, err: OSError) -> BackendError:
    """One line for a directory the server cannot use: what is wrong with it, what to do."""
    elsewhere = f"set {variable} to a directory you can write"
    if err.errno == errno.EROFS:
        problem, todo = f"{directory} is on a read-only file system", f"make it writable, or {elsewhere}"
    elif err.errno in (errno.ENOSPC, errno.EDQUOT):
        problem, todo = f"no space left on the disk of {directory}", "free some space there and run the command again"
    elif err.errno in (errno.EACCES, errno.EPERM):
        problem, todo = f"{directory} is not writable (permission denied)", f"fix its permissions, or {elsewhere}"
    else:
        reason = (err.strerror or str(err)).lower()
        problem, todo = f"cannot write to {directory} ({reason})", f"check that disk, or {elsewhere}"
    return BackendError(f"cannot start the local database server: {problem}; {todo}")


def _start(settings: Settings, url: str, ns: str, say: Callable[[str], None]) -> None:
    with _locked(settings.state_dir / "serve.lock"):
        found = _probe(url, ns)  # someone may have started it while we waited for the lock
        if found == "foreign":
            raise BackendError(
                f"something other than focus serve answers at {url}; "
                "stop it or pick another port with FOCUS_SERVE_PORT"
            )
        if found == "ours":
            return
        proc = _spawn(settings)
        _wait_until_answering(settings, url, ns, proc)
        if proc.poll() is None:  # ours won the port: remember it for `stop`
            _write_pid(pid_path(settings), proc.pid)
            say(
                f"started a local database server (focus serve) on {url}; log: {log_path(settings)}"
            )


def _sync_rules(settings: Settings, url: str, ns: str, say: Callable[[str], None]) -> None:
    """A server that an older focus started enforces that version's rules, which may refuse
    this version's writes (a new field in the history, say): give it the packaged rules. Only
    the server focus started itself (its pid file): a `focus serve` you run keeps your rules."""
    pid = _read_pid(pid_path(settings))
    if pid is None or not _is_focus_serve(pid):
        return
    packaged = packaged_rules().read_bytes()
    location = f"{url}/.settings/rules.json?ns={ns}"
    owner = {"Authorization": "Bearer owner"}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(location, headers=owner), timeout=PROBE_TIMEOUT
        ) as response:
            if response.read() == packaged:
                return
        upload = urllib.request.Request(location, data=packaged, headers=owner, method="PUT")
        urllib.request.urlopen(upload, timeout=START_TIMEOUT).close()
    except (urllib.error.URLError, OSError):
        return  # a server going away: the command's own requests will say so
    say(f"updated the local database server's rules to this version of focus ({url})")


def stop(settings: Settings) -> str:
    """Stop the server `ensure_running` started (SIGTERM, then wait); a one-line report."""
    path = pid_path(settings)
    pid = _read_pid(path)
    if pid is None or not _is_focus_serve(pid):
        path.unlink(missing_ok=True)
        return "no focus serve started by focus is running"
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        return "no focus serve started by focus is running"
    except PermissionError:
        raise BackendError(f"not allowed to stop focus serve (pid {pid})") from None
    if not _wait_exit(pid, STOP_TIMEOUT):
        raise BackendError(
            f"focus serve (pid {pid}) did not stop within {STOP_TIMEOUT:.0f} s; "
            f"see {log_path(settings)}"
        )
    path.unlink(missing_ok=True)
    return f"stopped focus serve (pid {pid})"


def status(settings: Settings) -> dict[str, Any]:
    """For `focus doctor`: {"url", "pid" (alive, or None), "running" (answers), "log"}."""
    url = _base_url(settings) if settings.target.kind == "embedded" else settings.target.url
    pid = _read_pid(pid_path(settings))
    return {
        "url": url,
        "pid": pid if pid is not None and _is_focus_serve(pid) else None,
        "running": settings.target.kind == "embedded"
        and _probe(url, _namespace(settings)) == "ours",
        "log": str(log_path(settings)),
    }


# -- helpers ---------------------------------------------------------------------------------


def _base_url(settings: Settings) -> str:
    parts = urlsplit(settings.target.url)
    return f"{parts.scheme}://{parts.netloc}"


def _namespace(settings: Settings) -> str:
    query = urlsplit(settings.target.url).query
    return query.removeprefix("ns=") if query.startswith("ns=") else "focus"


def _probe(url: str, ns: str = "focus") -> Probe:
    """ "ours" if an RTDB-like server answers at `url`, "none" if nothing does, else "foreign"."""
    request = urllib.request.Request(
        f"{url}/.json?ns={ns}&shallow=true", headers={"Authorization": "Bearer owner"}
    )
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as response:
            json.loads(response.read() or b"null")
            return "ours"
    except urllib.error.HTTPError as err:
        err.close()
        return "foreign"
    except ValueError:  # answered, but not with JSON
        return "foreign"
    except (urllib.error.URLError, OSError):
        return "none"


def _spawn(settings: Settings) -> subprocess.Popen[bytes]:
    port = urlsplit(settings.target.url).port or 9000
    command = [
        sys.executable, "-m", "focuscli", "serve",
        "--port", str(port),
        "--rules", str(packaged_rules()),
        "--data-dir", str(settings.data_dir / "database"),
    ]  # fmt: skip
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    if Path(root).name not in ("site-packages", "dist-packages"):  # running from a checkout
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    with open(log_path(settings), "ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting focus serve\n".encode())
        log.flush()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd=settings.data_dir,
            env=env,
        )
    _started[proc.pid] = proc
    return proc


def _wait_until_answering(
    settings: Settings, url: str, ns: str, proc: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    exited_at: float | None = None
    while time.monotonic() < deadline:
        if _probe(url, ns) == "ours":
            return
        if proc.poll() is not None:
            # Lost a race for the port (the winner will answer soon) or failed to start.
            exited_at = exited_at or time.monotonic()
            if time.monotonic() - exited_at > 2.0:
                break
        time.sleep(0.05)
    last = _last_line(log_path(settings))
    reason = f" ({last})" if last else ""
    raise BackendError(
        f"the local database server did not start at {url}{reason}; see {log_path(settings)}"
    )


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1].strip()[:200] if lines and not lines[-1].startswith("---") else ""


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _write_pid(path: Path, pid: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(f"{pid}\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie child of ours is reaped and counts as gone)."""
    proc = _started.get(pid)
    if proc is not None:
        if proc.poll() is not None:
            _started.pop(pid, None)
            return False
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _is_focus_serve(pid: int) -> bool:
    """Alive and (where /proc tells) running `focuscli serve`, not a reused pid."""
    if not _alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True
    return b"focuscli" in argv and b"serve" in argv


def _wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)

"""The embedded default backend: a detached `focus serve` of this OS user, started on demand.

`focus start` and `focus watch` are separate processes, so the default database must outlive
both: when no database is configured, the first command that needs it starts

    python -m focuscli serve --secure --port PORT --rules <packaged rules>
        --data-dir DATA_DIR/database --admin-secret-file DATA_DIR/database/admin-secret

in its own session (it survives the terminal), logging to DATA_DIR/serve.log, and records its
pid in STATE_DIR/serve.pid (for `stop`) and its port in STATE_DIR/serve.port.

The server belongs to the OS user whose data directory holds its admin secret (mode 0600): a
server is "ours" only if it accepts that secret, so focus never talks to another user's server
as if it were its own. It runs in secure mode: members' ID tokens are signed and checked, and
`owner` is not an administrator, so no other local user (and no web page) can act as you.
The port is FOCUS_SERVE_PORT if set (refused, naming the problem, if someone else's server
holds it); otherwise the one this user's server used last, else 9000 if free, else any free
port. A lock file (STATE_DIR/serve.lock) serialises starters of one user.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
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
from focuscli.settings import EMBEDDED_HOST, EMBEDDED_NAMESPACE, EMBEDDED_PORT, Settings

PROBE_TIMEOUT = 0.3  # seconds for one "is anybody there?" request
PROBE_BYTES = 4096  # written (and removed) to check that a directory takes data
START_TIMEOUT = 10.0  # seconds for a started server to answer
STOP_TIMEOUT = 10.0  # seconds for a stopped server to exit
RULES_FILE = "database.rules.json"

_started: dict[int, subprocess.Popen[bytes]] = {}  # children of this process (reaped in stop)
_resources = contextlib.ExitStack()
atexit.register(_resources.close)

Probe = Literal["ours", "none", "foreign"]
PORT_TRIES = 5  # starts on a newly chosen port before giving up (each lost to a racing program)


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


def admin_secret_path(settings: Settings) -> Path:
    """The embedded server's admin secret (mode 0600, readable by this OS user only)."""
    return settings.data_dir / "database" / "admin-secret"


def port_path(settings: Settings) -> Path:
    return settings.state_dir / "serve.port"


def ensure_running(settings: Settings, *, say: Callable[[str], None]) -> Settings:
    """Make sure this user's embedded server answers, starting it if needed; returns the
    settings with the server's actual URL (unchanged for other kinds of backend)."""
    if settings.target.kind != "embedded":
        return settings
    fixed = settings.serve_port_fixed
    url, ns = _base_url(settings), _namespace(settings)
    secret = _secret(settings)
    if secret is not None and _probe(url, ns, secret) == "ours":
        _sync_rules(settings, url, ns, secret, say)
        return settings
    for directory, variable in ((settings.state_dir, "XDG_STATE_HOME"), (settings.data_dir, "XDG_DATA_HOME")):
        try:
            _check_writable(directory)
        except OSError as err:
            raise _unwritable(directory, variable, err) from None
    try:
        return _start(settings, ns, fixed, say)
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


def _start(settings: Settings, ns: str, fixed: bool, say: Callable[[str], None]) -> Settings:
    with _locked(settings.state_dir / "serve.lock"):
        for _ in range(PORT_TRIES):
            port = urlsplit(settings.target.url).port or EMBEDDED_PORT
            url = _base_url(settings)
            found = _probe(url, ns, _secret(settings))  # started meanwhile by another command?
            if found == "ours":
                return settings
            if found == "foreign" and _stop_older_server(settings, say):
                continue  # ours, started by an older focus without this user's secret
            if found == "foreign":
                if fixed:
                    raise BackendError(
                        f"port {port} (FOCUS_SERVE_PORT) is held by something other than your "
                        "focus serve (another user's, or another program); pick another port "
                        "with FOCUS_SERVE_PORT"
                    )
                settings = _on_port(settings, _free_port())
                continue
            proc = _spawn(settings)
            if _wait_until_answering(settings, url, ns, proc):
                _write_pid(pid_path(settings), proc.pid)
                _write_pid(port_path(settings), port)
                say(f"started a local database server (focus serve) on {url}; log: {log_path(settings)}")
                return settings
            if fixed:
                break
            settings = _on_port(settings, _free_port())  # lost the port to a racing program
        _fail_to_start(settings, url)
    raise AssertionError("unreachable")  # pragma: no cover


def _stop_older_server(settings: Settings, say: Callable[[str], None]) -> bool:
    """Stop this user's server if an older focus started it (it does not know the admin
    secret); True if one was stopped, so the start can go on in its place."""
    pid = _read_pid(pid_path(settings))
    if pid is None or not _is_focus_serve(pid) or not _owned_by_me(pid):
        return False
    say(stop(settings) + " (started by an older focus); starting it again in secure mode")
    return True


def _owned_by_me(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}").stat().st_uid == os.getuid()
    except OSError:
        return False


def _on_port(settings: Settings, port: int) -> Settings:
    from dataclasses import replace

    from focuscli.backend import Target

    return replace(settings, target=Target(f"http://{EMBEDDED_HOST}:{port}?ns={EMBEDDED_NAMESPACE}", None, "embedded"))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((EMBEDDED_HOST, 0))
        return int(sock.getsockname()[1])


def _secret(settings: Settings) -> str | None:
    """This user's embedded server's admin secret, if it was ever started."""
    try:
        secret = admin_secret_path(settings).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return secret or None


def _sync_rules(settings: Settings, url: str, ns: str, secret: str, say: Callable[[str], None]) -> None:
    """A server that an older focus started enforces that version's rules, which may refuse
    this version's writes (a new field in the history, say): give it the packaged rules. Only
    the server focus started itself (its pid file): a `focus serve` you run keeps your rules."""
    packaged = packaged_rules().read_bytes()
    location = f"{url}/.settings/rules.json?ns={ns}"
    owner = {"Authorization": f"Bearer {secret}"}
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
    """For `focus doctor`: {"url", "pid" (alive, or None), "running" (ours answers), "log"}."""
    url = _base_url(settings) if settings.target.kind == "embedded" else settings.target.url
    pid = _read_pid(pid_path(settings))
    secret = _secret(settings)
    return {
        "url": url,
        "pid": pid if pid is not None and _is_focus_serve(pid) else None,
        "running": settings.target.kind == "embedded"
        and secret is not None
        and _probe(url, _namespace(settings), secret) == "ours",
        "log": str(log_path(settings)),
    }


# -- helpers ---------------------------------------------------------------------------------


def _base_url(settings: Settings) -> str:
    parts = urlsplit(settings.target.url)
    return f"{parts.scheme}://{parts.netloc}"


def _namespace(settings: Settings) -> str:
    query = urlsplit(settings.target.url).query
    return query.removeprefix("ns=") if query.startswith("ns=") else "focus"


def _probe(url: str, ns: str, secret: str | None) -> Probe:
    """ "ours" if this user's server answers at `url` (it accepts our admin secret), "none" if
    nothing answers, else "foreign" (another user's server, or another program)."""
    if secret is None:
        secret = "-"  # no secret yet: whatever answers is not ours
    request = urllib.request.Request(
        f"{url}/.settings/rules.json?ns={ns}", headers={"Authorization": f"Bearer {secret}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as response:
            response.read()
            return "ours"
    except urllib.error.HTTPError as err:
        err.close()
        return "foreign"
    except (urllib.error.URLError, OSError, ValueError):
        return "none"


def _spawn(settings: Settings) -> subprocess.Popen[bytes]:
    port = urlsplit(settings.target.url).port or 9000
    command = [
        sys.executable, "-m", "focuscli", "serve", "--secure",
        "--port", str(port),
        "--rules", str(packaged_rules()),
        "--data-dir", str(settings.data_dir / "database"),
        "--admin-secret-file", str(admin_secret_path(settings)),
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
) -> bool:
    """True once the started server answers as ours; False if it exited (lost the port)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if _probe(url, ns, _secret(settings)) == "ours":
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    proc.terminate()
    return False


def _fail_to_start(settings: Settings, url: str) -> None:
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

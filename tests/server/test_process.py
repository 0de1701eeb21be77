"""`focus serve` as shipped: ready line, persistence across restarts, clean stops, bad options."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.focus_serve

OWNER = {"Authorization": "Bearer owner"}


def test_ready_line_then_data_survives_a_sigterm_restart(spawn_server: Any, tmp_path: Path) -> None:
    data = tmp_path / "db"
    first = spawn_server("--port", "0", "--data-dir", str(data))
    assert re.fullmatch(
        r"focus serve: listening on http://127\.0\.0\.1:(\d+) \(emulator mode; data in .+\); "
        r"FIREBASE_AUTH_EMULATOR_HOST=127\.0\.0\.1:\1; FIREBASE_DATABASE_EMULATOR_HOST=127\.0\.0\.1:\1",
        first.ready_line,
    )
    resp = requests.put(f"{first.url}/a/b.json?ns=p", json={"n": 1}, headers=OWNER, timeout=5)
    assert resp.status_code == 200
    code, _, err = first.terminate(signal.SIGTERM)
    assert (code, err) == (0, "")

    second = spawn_server("--port", "0", "--data-dir", str(data))
    assert requests.get(f"{second.url}/.json?ns=p", timeout=5).json() == {"a": {"b": {"n": 1}}}
    code, _, _ = second.terminate(signal.SIGINT)
    assert code == 0


def test_memory_keeps_nothing(spawn_server: Any) -> None:
    first = spawn_server("--port", "0", "--memory")
    assert "(emulator mode; in memory)" in first.ready_line
    requests.put(f"{first.url}/a.json", json=1, headers=OWNER, timeout=5)
    first.terminate()
    second = spawn_server("--port", "0", "--memory")
    assert requests.get(f"{second.url}/a.json", timeout=5).json() is None


def test_sigterm_closes_open_streams(spawn_server: Any) -> None:
    server = spawn_server("--port", "0", "--memory")
    stream = requests.get(
        f"{server.url}/x.json", headers={"Accept": "text/event-stream"}, stream=True, timeout=10
    )
    lines = stream.iter_lines()
    assert next(lines) == b"event: put"
    code, _, _ = server.terminate()
    assert code == 0
    rest = list(lines)  # the stream ends instead of hanging
    assert rest[:1] == [b'data: {"path":"/","data":null}']


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "focuscli", "serve", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_port_in_use_is_one_line_and_exit_1() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run("--port", str(port), "--memory")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"focus: cannot serve on 127.0.0.1:{port}: address already in use\n"


def test_second_server_on_the_same_data_dir_is_refused(spawn_server: Any, tmp_path: Path) -> None:
    spawn_server("--port", "0", "--data-dir", str(tmp_path))
    result = _run("--port", "0", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.startswith("focus: ")
    assert "in use by another" in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--memory", "--data-dir", "x"], "focus: --data-dir and --memory exclude each other; pick one; see focus serve --help\n"),
        (["--rules", "no/such/file.json"], "focus: --rules: cannot read no/such/file.json: no such file or directory\n"),
    ],
)
def test_bad_options_are_usage_errors(args: list[str], message: str) -> None:
    result = _run(*args)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message)


def test_broken_rules_file_refuses_to_start_with_a_caret(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text('{\n  "rules": {\n    ".read": tru\n  }\n}\n')
    result = _run("--rules", str(rules), "--memory", "--port", "0")
    assert result.returncode == 2
    assert result.stderr == (
        f"focus: {rules}:3:14: Parse error.\n"
        '      ".read": tru\n'
        "               ^\n"
    )


def test_unusable_data_dir_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = _run("--port", "0", "--data-dir", str(blocker / "db"))
    assert result.returncode == 1
    assert result.stderr.startswith("focus: ")
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_rules_with_a_bad_expression_refuse_to_start_with_a_caret(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text('{\n  "rules": {\n    ".read": "auth != null && nowx > 0"\n  }\n}\n')
    result = _run("--rules", str(rules), "--memory", "--port", "0")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"focus: {rules}:3:31: Unknown variable 'nowx'.\n"
        '      ".read": "auth != null && nowx > 0"\n'
        "                                ^\n"
    )


def test_rules_file_is_enforced_for_non_admin_callers(spawn_server: Any, tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text('{"rules": {"users": {"$uid": {".read": "auth.uid === $uid", ".write": "auth.uid === $uid"}}}}')
    server = spawn_server("--port", "0", "--memory", "--rules", str(rules))
    as_ana = {"auth_variable_override": '{"uid":"ana"}'}
    ok = requests.put(f"{server.url}/users/ana.json", params=as_ana, json=1, headers=OWNER, timeout=5)
    denied = requests.put(f"{server.url}/users/bob.json", params=as_ana, json=1, headers=OWNER, timeout=5)
    assert ok.status_code == 200
    assert (denied.status_code, denied.json()) == (401, {"error": "Permission denied"})

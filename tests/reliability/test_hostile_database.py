"""Issue 11 item 7: the CLI fuzzed with hostile database contents.

Each case arranges session ``team`` through the library (ana started a 25-minute block, bob
joined, there is a log entry and a state record) and then, as an administrator, writes one kind
of hostile content into it: wrong types everywhere, huge strings and lists, 1e308 and -1e12,
objects where text belongs, missing and extra fields, control characters, thousands of members,
a uid with ``/``. Data like this can come from before the rules, from an admin, or from a rule
hole; focus must live with it. Then every read command runs against it (in this process, through
`focuscli.cli.main`): status, status --json, status --format, who, who --json, log, log --json,
log --csv, log --ical, report, report --json, report --csv and session list; and a `focus watch` (a process, piped) runs until its
first line (or its end) and is stopped with Ctrl-C.

Checked for every command: a documented exit code (0, or 1 for the runtime error a malformed
session is; the watch also 130 for the Ctrl-C that ends it), no traceback and no internal error,
at most one line on stderr, and no raw control character, escape or bidi override on stdout or
stderr. KNOWN lists the (case, command) pairs where more than that is still wrong on this
branch (the `clients` work: one line naming what is malformed, a watch that keeps running): for
them only what already holds is checked (no Traceback, documented exit code).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from focuscli import timer
from focuscli.errors import ExitCode
from focuscli.service import Focus
from tests.conftest import focus_env, point_cli_at, seed_profile

pytestmark = pytest.mark.focus_serve

CONTROLS = "\x1b]0;t\x07\x1b]52;c;eA==\x07\x1b[2J\u202e\x00\x9b\x7f\r"
BIG = "x" * 1_000_000
S = "sessions/team"
# kind -> the admin's multi-path update (None deletes)
CASES: dict[str, dict[str, Any]] = {
    "label-number": {f"{S}/state/label": 12345},
    "label-object": {f"{S}/state/label": {"a": {"b": [1, 2]}}},
    "label-huge": {f"{S}/state/label": BIG},
    "label-controls": {f"{S}/state/label": CONTROLS, f"{S}/log/1/label": CONTROLS},
    "names-controls": {
        f"{S}/state/updated_by_name": CONTROLS,
        f"{S}/members/bob/name": CONTROLS,
        f"{S}/log/1/name": CONTROLS,
        f"{S}/state/action": CONTROLS,
    },  # fmt: skip
    "duration-1e308": {f"{S}/state/duration_ms": 1e308},
    "offset-minus-1e12": {f"{S}/state/offset_ms": -1e12},
    "offset-half": {f"{S}/state/offset_ms": 0.5},
    "started-1e308": {f"{S}/state/started_at": 1e308},
    "updated-at-far": {f"{S}/state/updated_at": 10**20},
    "round-text": {f"{S}/state/round": "1"},
    "rev-negative": {f"{S}/state/rev": -1},
    "status-unknown": {f"{S}/state/status": "exploded"},
    "phase-object": {f"{S}/state/phase": {"focus": True}},
    "state-missing-fields": {f"{S}/state/rev": None, f"{S}/state/phase": None},
    "state-text": {f"{S}/state": "running"},
    "state-list": {f"{S}/state": [1, 2, 3]},
    "state-extra-fields": {
        f"{S}/state/evil": {"deep": {"deeper": [1, 2]}},
        f"{S}/state/__proto__": 1,
    },
    "cycle-wrong": {f"{S}/state/cycle": {"focus_ms": "fast", "long_every": 0}},
    "uid-with-slash": {f"{S}/state/updated_by": "../../users/ana", f"{S}/log/1/by": "x/y"},
    "member-text": {f"{S}/members/bob": "bob"},
    "member-name-object": {f"{S}/members/bob/name": {"first": "bob"}},
    "member-times-wrong": {
        f"{S}/members/bob/seen_at": "yesterday",
        f"{S}/members/ana/seen_at": 1e308,
        f"{S}/members/bob/away_at": [1],
    },  # fmt: skip
    "members-huge": {
        f"{S}/members/m{i:05d}": {"name": f"member {i}", "joined_at": 1} for i in range(5000)
    },
    "log-wrong-types": {
        f"{S}/log/1": {
            "at": "now",
            "rev": {"x": 1},
            "action": 5,
            "label": [1, 2],
            "ms": "long",
            "phase": {"p": 1},
            "by": 7,
        }
    },  # fmt: skip
    "log-far-times": {
        f"{S}/log/1/at": 1e308,
        f"{S}/log/2": {"at": -1e12, "rev": 2, "action": "pause", "by": "bob"},
    },
    "log-text": {f"{S}/log": "history"},
    "states-wrong": {
        f"{S}/states/1": {"updated_at": "x", "status": 5, "label": {"a": 1}},
        f"{S}/states/2": "junk",
    },
    "meta-text": {f"{S}/meta": "team", f"{S}/state/status": "idle", f"{S}/state/started_at": None},
    "presence-roster-wrong": {
        f"{S}/presence": {"p1": {"seen": "x", "uid": 5}},
        f"{S}/roster": {"r1": "x"},
    },
}
# What is still wrong here beyond "no traceback, documented exit code", by case: parse logic in
# service.py / timer.py that the `clients` work (one line naming what is malformed, `focus
# reset`) changes; found by this test. Exit code and "no Traceback" are still checked for them.
MALFORMED_WATCH = (
    "a malformed state ends `focus watch` with 'internal error' and 6 traceback lines (exit 1) "
    "where it should show the problem and keep running"
)
KNOWN: dict[tuple[str, str], str] = {
    (kind, "watch"): MALFORMED_WATCH
    for kind in ("cycle-wrong", "label-number", "label-object", "offset-half", "phase-object", "rev-negative",
                 "round-text", "state-list", "state-missing-fields", "state-text", "status-unknown")
}  # fmt: skip
for kind in ("meta-text", "state-list", "state-text"):
    KNOWN[kind, "session"] = ("`focus session list` ends with 'internal error' when a session's meta or state "
                              "is not an object (Focus.cleanup_idle)")  # fmt: skip
COMMANDS = (
    ["status"], ["status", "--json"], ["status", "--format", "{label}|{updated_by}|{members}|{remaining}"],
    ["who"], ["who", "--json"], ["log"], ["log", "--json"], ["log", "--csv"], ["log", "--ical"], ["report"],
    ["report", "--json"], ["report", "--csv", "--by", "member"], ["session", "list"],
)  # fmt: skip
RAW = [chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))] + [
    "\u202e",
    "\u2066",
]


def _raw_controls(text: str) -> list[str]:
    """The raw controls in ``text`` (an iCalendar file's CRLF line ends are its format's own)."""
    return sorted({repr(c) for c in text.replace("\r\n", "\n") if c in RAW})


@pytest.fixture
def focus(
    rest: Any,
    server_url: str,
    ns: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Any,
) -> Any:
    point_cli_at(monkeypatch, f"{server_url}?ns={ns}", user="ana", columns=120)
    seed_profile(f"{server_url}?ns={ns}", tmp_path / "ana" / "config", "ana")
    return lambda *args: run_cli(["--session", "team", *args], tmp_path / "ana")


def _watch(env: dict[str, str], found: dict[str, Any]) -> subprocess.Popen[bytes]:
    """`focus watch` piped, its first line (or end) put in ``found``."""
    proc = subprocess.Popen([sys.executable, "-m", "focuscli", "watch", "--session", "team"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip

    def first_line() -> None:
        assert proc.stdout is not None
        found["line"] = proc.stdout.readline()
        found["ready"].set()

    threading.Thread(target=first_line, daemon=True).start()
    return proc


@pytest.mark.parametrize("kind", sorted(CASES))
def test_hostile_session_contents(
    kind: str,
    member: Callable[..., Focus],
    rest: Any,
    focus: Any,
    server_url: str,
    ns: str,
    tmp_path: Path,
) -> None:
    ana, bob = member("ana"), member("bob")
    ana.act(
        "team",
        lambda s, now: timer.start(s, "ana", now, duration_ms=25 * 60_000, label="deep work"),
        create=True,
    )
    bob.join("team", ana.invite_code("team"))
    answer = rest.patch("/.json", CASES[kind])
    assert answer.status_code == 200, answer.text

    found: dict[str, Any] = {"ready": threading.Event()}
    proc = _watch(focus_env(f"{server_url}?ns={ns}", "ana", tmp_path / "w"), found)
    problems = []
    try:
        for args in COMMANDS:
            result = focus(*args)
            problems += _check(args, result.code, result.out, result.err, kind)
        found["ready"].wait(30)  # its first line, or its end (an error ends it at once)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    problems += _check(["watch"], proc.returncode, found.get("line", b"").decode(errors="replace"), err.decode(errors="replace"),
                       kind, also=(int(ExitCode.INTERRUPTED),))  # fmt: skip
    assert not problems, "\n".join(problems)


def _check(
    args: list[str], code: int, out: str, err: str, kind: str, also: tuple[int, ...] = ()
) -> list[str]:
    what = f"focus {' '.join(args)} [{kind}]"
    problems = []
    if "Traceback" in err or "Traceback" in out:
        problems.append(f"{what}: a traceback: {err[-600:]!r}")
    if code not in (0, int(ExitCode.ERROR), *also):
        problems.append(f"{what}: exit {code}: {err[-300:]!r}")
    if (kind, args[0]) in KNOWN:
        return problems
    if "internal error" in err:
        problems.append(f"{what}: internal error: {err[-600:]!r}")
    if len(err.splitlines()) > 1:
        problems.append(f"{what}: {len(err.splitlines())} stderr lines: {err[:600]!r}")
    for name, text in (("stdout", out), ("stderr", err)):
        if raw := _raw_controls(text):
            problems.append(f"{what}: raw {', '.join(raw)} on {name}")
    if code == 0 and args[-1] == "--json":
        for line in out.splitlines():
            json.loads(line)
    return problems

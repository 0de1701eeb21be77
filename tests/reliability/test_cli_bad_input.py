"""Reliability item 5: bad input to the `focus` command line.

One table of cases — durations, names, flags, config files, credentials, unreachable or wrong
backends, permission denied, actions that make no sense now — and one of Ctrl-C at every stage
(while Python imports focus, while connecting to a dead or silent backend, with a write in
flight, during `focus wait`, during `focus watch --json`). Cases run as real `python -m
focuscli` processes (so a traceback printed by the interpreter itself is caught; see below for
the table's in-process part) against a real server with focus's rules; every case gets its own
namespace holding the same sessions, made through the library:

    team    ana owns it, bob joined with its code; a 25-minute focus block, running
    quiet   ana's; paused
    idle    ana's; created, never started

Every case must give the documented exit code (focuscli.errors.ExitCode), exactly one line on
stderr (the expected text, exact unless the words are typer's own), nothing on stdout, no
traceback, and leave the namespace as it was: the raw bytes of /sessions and /invites, and
/users apart from the clock samples every client writes under /users/<uid>/clock, are the same
before and after; the unreachable ones must fail within UNREACHABLE_LIMIT_S.

The table's cases in AS_PROCESS (at least two of every group, and every case that depends on the
process itself) run as processes, a few at a time; the others run meanwhile in this process
through the same focuscli.cli.main, which keeps the file within its 30 s budget on two cores. The
Ctrl-C cases run one by one, each SIGINT sent at a moment the test observes (an extension module
mapped into the process, a connection in SYN_SENT, a write held by a proxy, a file written, a
line printed), not after a guessed delay; each must exit 130 within 2 s of the signal, with at
most one stderr line, and leave the session unchanged, or — the one write it had already sent —
applied whole (state and log entry together), or — `focus watch` — with only its heartbeat.

Unreadable files as root: root reads a mode-000 file anyway, so when the tests run as root the
`focus` process for that case is started through a small trampoline that drops
CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from its capability bounding set before exec: the
kernel then enforces the mode as for any user.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from focuscli import timer
from focuscli.backend import CONNECT_TIMEOUT, Database, Target
from focuscli.errors import ExitCode
from focuscli.service import Focus
from tests.conftest import FOCUS_RULES, Rest
from tests.members import EmulatorMember
from tests.reliability.conftest import focus_argv, focus_env

DOCUMENTED = {int(code) for code in ExitCode}
WORKERS = 4  # table processes at a time (2 cores: most of a case is interpreter start-up)
# The SDK makes two connect attempts of CONNECT_TIMEOUT each; the rest is start-up on two busy
# cores. A regression to the read timeout (10 s, retried) or urllib3's own retry budget (minutes)
# would take 20 s or more.
UNREACHABLE_LIMIT_S = 2 * CONNECT_TIMEOUT + 6.0
FORMS = (
    "use 25 (minutes), 25m, 90s, 1h, 1h30m, 1h30m15s, 25:00 or 1:30:00; more than 0, at most 24h"
)
NAMES = "use 1-64 letters, digits, '-' or '_'"
URLS = "use https://… (a Firebase project) or http://host:port?ns=NAME (an emulator or focus serve)"
TOKENS = (
    "{remaining}, {remaining_ms}, {phase}, {status}, {label}, {round}, {session}, "
    "{updated_by}, {duration}, {members}"
)
NOT_MEMBER = "focus: you (eve) are not a member of 'team'; join with: focus join team --code CODE"
PROD = "https://demo-bad-input.firebaseio.com"
CONFIG_KEYS = (
    "db_url, api_key, auth_url, credentials, admin_secret_file, project, user, session, cleanup_after, hosting_url, hooks, hook_timeout, bell, notify"
)
HOOK_EVENTS = (
    "focus_started, break_started, paused, resumed, phase_ended, member_joined, member_left"
)
UNSET = None  # in Case.env: remove the variable


@dataclass(frozen=True)
class Case:
    """One bad input: `focus ARGV` as `user`, with its files and environment, and the outcome.

    Markers in argv, env values, files and `err`: <HOME> (the case's home directory), <CFG>
    (its config file), <URL> (its database URL), <BASE> (that URL without the query)."""

    id: str
    argv: tuple[str, ...]
    code: int
    err: str  # the one stderr line, exact (or a regex when `regex`)
    regex: bool = False
    user: str = "ana"
    backend: str = "server"  # server | closed | unknown_host | blackhole | http404 | html200
    config: str | bytes | None = None  # the config file's content
    files: Mapping[str, str | bytes] = field(default_factory=dict)  # more files under <HOME>
    env: Mapping[str, str | None] = field(default_factory=dict)
    unreadable: tuple[str, ...] = ()  # files under <HOME> made mode 000
    unreachable: bool = False  # timed: must fail within UNREACHABLE_LIMIT_S

    @property
    def process(self) -> bool:
        """Run as a `python -m focuscli` process (else in this process, through the same
        focuscli.cli.main): see AS_PROCESS."""
        return self.id in AS_PROCESS or self.unreachable or bool(self.unreadable)


def C(id: str, argv: str | tuple[str, ...], code: int, err: str, **kw: Any) -> Any:
    args = tuple(argv.split()) if isinstance(argv, str) else argv
    return pytest.param(Case(id, args, code, err, **kw), id=id)


def _dur(what: str, text: str, command: str) -> str:
    return f"focus: {what}: invalid duration {text!r}: {FORMS}; see focus {command} --help"


NO_DB = {"FOCUS_DATABASE_URL": UNSET, "FOCUS_SERVE_PORT": "<CLOSED_PORT>"}  # guard: never :9000

# fmt: off
CASES = [
    # -- durations ---------------------------------------------------------------------------
    C("duration-zero", "start 0 --session fresh", 2, _dur("DURATION", "0", "start")),
    C("duration-negative", "start -5 --session fresh", 2, _dur("DURATION", "-5", "start")),
    C("duration-negative-units", "extend -5m --session team", 2, _dur("DURATION", "-5m", "extend")),
    C("duration-over-max", "start 49h --session fresh", 2, _dur("DURATION", "49h", "start")),
    C("duration-bare-minutes-while-running", "start 25 --session team", 3,
      "focus: a timer is already running; use focus skip, extend or stop"),
    C("duration-letters", "start abc --session fresh", 2, _dur("DURATION", "abc", "start")),
    C("duration-99-minutes-after-hours", "start 1h99m --session fresh", 2, _dur("DURATION", "1h99m", "start")),
    C("duration-empty", ("start", "", "--session", "fresh"), 2, _dur("DURATION", "", "start")),
    C("duration-huge-number", "extend 99999999999999999999 --session team", 2,
      _dur("DURATION", "99999999999999999999", "extend")),
    C("duration-fullwidth-digits", "start ２５ --session fresh", 2, _dur("DURATION", "２５", "start")),
    C("duration-arabic-indic-digits", "extend ٢٥ --session team", 2, _dur("DURATION", "٢٥", "extend")),
    C("duration-cycle-zero", "session set --focus 0 --session team", 2, _dur("--focus", "0", "session set")),
    C("duration-timeout-negative", "wait --timeout -5 --session team", 2, _dur("--timeout", "-5", "wait")),
    # -- session and user names --------------------------------------------------------------
    C("session-empty", ("pause", "--session", ""), 2, f"focus: invalid session name '': {NAMES}"),
    C("session-empty-global", ("--session", "", "pause"), 2, f"focus: invalid session name '': {NAMES}"),
    C("session-too-long", ("pause", "--session", "s" * 65), 2,
      f"focus: invalid session name '{'s' * 65}': {NAMES}"),
    C("session-space", ("pause", "--session", "bad name"), 2, f"focus: invalid session name 'bad name': {NAMES}"),
    C("session-slash", "pause --session team/state", 2, f"focus: invalid session name 'team/state': {NAMES}"),
    C("session-dot", "status --session .", 2, f"focus: invalid session name '.': {NAMES}"),
    C("session-dotdot", "session create ..", 2, f"focus: invalid session name '..': {NAMES}"),
    C("session-unicode", "join café --code X", 2, f"focus: invalid session name 'café': {NAMES}"),
    C("session-unknown", "pause --session nosuch", 2,
      "focus: no session named 'nosuch'; start one with: focus start --session nosuch"),
    C("session-exists", "session create team", 2,
      "focus: you already own session 'team'; use it with: focus start --session team"),
    C("session-exists-not-a-member", "session create team", 2,
      "focus: session 'team' already exists; join it with: focus join team --code CODE", user="eve"),
    C("session-none-chosen", "pause", 2,
      "focus: no session chosen: pass --session NAME, set FOCUS_SESSION, or join one with focus join NAME"),
    C("user-empty", ("--user", "", "pause", "--session", "team"), 2, f"focus: invalid user name '': {NAMES}"),
    C("user-slash", "--user ana/x pause --session team", 2, f"focus: invalid user name 'ana/x': {NAMES}"),
    C("user-env-unicode", "pause --session team", 2, f"focus: invalid user name 'zoë': {NAMES}",
      env={"FOCUS_USER": "zoë"}),
    # -- flags -------------------------------------------------------------------------------
    C("flag-unknown", "status --bogus --session team", 2,
      "focus: no such option: --bogus; see focus status --help"),
    C("flag-typo", "start --lable x --session fresh", 2,
      "focus: no such option: --lable (possible options: --label); see focus start --help"),
    C("flag-missing-value", "status --session", 2,
      "focus: option '--session' requires an argument; see focus status --help"),
    C("flag-missing-argument", "join", 2, "focus: missing argument 'name'; see focus join --help"),
    C("flag-extra-argument", "start 25m extra --session fresh", 2,
      "focus: got unexpected extra argument(s) (extra); see focus start --help"),
    C("flag-unknown-command", "frobnicate", 2, "focus: no such command 'frobnicate'; see focus --help"),
    C("flag-command-typo", "stat", 2,
      "focus: no such command 'stat' (did you mean 'start', 'status'?); see focus --help"),
    C("flag-unknown-subcommand", "session bogus", 2, "focus: no such command 'bogus'; see focus session --help"),
    C("flag-break-and-long-break", "start --break --long-break --session fresh", 2,
      "focus: --break and --long-break exclude each other; pick one; see focus start --help"),
    C("flag-format-lone-brace", ("status", "--format", "{", "--session", "team"), 2,
      "focus: bad --format string: Single '{' encountered in format string; see focus status --help"),
    C("flag-format-unknown-token", ("status", "--format", "{nope}", "--session", "team"), 2,
      f"focus: unknown --format token {{nope}}; tokens: {TOKENS}; see focus status --help"),
    C("flag-json-and-format", ("status", "--json", "--format", "{phase}", "--session", "team"), 2,
      "focus: --json and --format exclude each other; pick one; see focus status --help"),
    C("flag-since-bogus", "log --since soon --session team", 2,
      "focus: --since: invalid duration 'soon': use 90s, 30m, 2h, 1:30:00, 7d or 1d12h; see focus log --help"),
    C("flag-limit-negative", "log --limit -1 --session team", 2,
      r"focus: invalid value for '--limit': .*\b1\b.*; see focus log --help", regex=True),
    C("flag-json-and-csv", "log --json --csv --session team", 2,
      "focus: --json and --csv exclude each other; pick one; see focus log --help"),
    C("flag-report-since", "report --since soon --session team", 2,
      "focus: --since: invalid duration or date 'soon': use a duration (7d, 2w, 36h, 1d12h, 90m, 1h30m) or a date (YYYY-MM-DD, today, yesterday); see focus report --help"),
    C("flag-report-date", "report --from 2024-02-30 --session team", 2,
      "focus: --from: invalid date '2024-02-30': use YYYY-MM-DD, today or yesterday; see focus report --help"),
    C("flag-report-range", "report --from 2024-06-09 --to 2024-06-03 --session team", 2,
      "focus: --to 2024-06-03 is before --from 2024-06-09; see focus report --help"),
    C("flag-report-by", "report --by week --session team", 2,
      "focus: --by must be day, member or label, not 'week'; see focus report --help"),
    C("flag-ical-and-json", "log --ical --json --session team", 2,
      "focus: --ical and --json exclude each other; pick one; see focus log --help"),
    C("flag-until-bogus", "wait --until lunch --session team", 2,
      "focus: --until must be end, break or focus, not 'lunch'; see focus wait --help"),
    C("flag-watchdog-zero", "watch --watchdog 0 --session team", 2,
      r"focus: invalid value for '--watchdog': .*\b1\b.*; see focus watch --help", regex=True),
    C("flag-nothing-to-set", "session set --session team", 2,
      "focus: nothing to set: pass --focus, --short-break, --long-break, --long-every or --auto-advance; "
      "see focus session set --help"),
    # -- config files --------------------------------------------------------------------------
    C("config-invalid-toml", "status --session team", 2,
      "focus: config file <CFG> is not valid TOML: Expected '=' after a key in a key/value pair "
      "(at line 1, column 6)", config='user "ana"\n'),
    C("config-wrong-type", "status --session team", 2, "focus: config file <CFG>: user must be a string",
      config="user = 5\n"),
    C("config-unknown-key", "status --session team", 2,
      f"focus: config file <CFG>: unknown key 'colour' (known: {CONFIG_KEYS})", config='colour = "red"\n'),
    C("config-unreadable", "status --session team", 2,
      "focus: cannot read config file <CFG>: permission denied", config='user = "ana"\n',
      unreadable=("config/focus/config.toml",)),
    C("config-not-utf8", "status --session team", 2,
      "focus: config file <CFG> is not UTF-8 text (byte 0xff at offset 12)", config=b'user = "ana"\xff\n'),
    C("config-env-missing-file", "status --session team", 2,
      "focus: config file <HOME>/nowhere.toml (from FOCUS_CONFIG) does not exist",
      env={"FOCUS_CONFIG": "<HOME>/nowhere.toml"}),
    C("config-env-directory", "status --session team", 2,
      "focus: cannot read config file <HOME>: is a directory", env={"FOCUS_CONFIG": "<HOME>"}),
    C("config-cleanup-after-bogus", "session list", 2,
      "focus: <CFG>: cleanup_after: invalid duration 'soon': use a number with d, h or m, like 7d or 12h",
      config='cleanup_after = "soon"\n'),
    C("config-cleanup-after-zero", "session list", 2,
      "focus: <CFG>: cleanup_after must be more than 0, like 7d or 12h", config='cleanup_after = "0d"\n'),
    C("config-hooks-not-a-table", "status --session team", 2,
      "focus: config file <CFG>: hooks must be a table ([hooks])", config='hooks = "notify-send"\n'),
    C("config-hook-unknown-event", "watch --session team", 2,
      f"focus: config file <CFG>: unknown hook event 'on_start' (known: {HOOK_EVENTS})",
      config='[hooks]\non_start = "true"\n'),
    C("config-hook-not-a-command", "wait --session team", 2,
      "focus: config file <CFG>: hooks.phase_ended must be a shell command (a string)",
      config="[hooks]\nphase_ended = 5\n"),
    C("config-hook-timeout-zero", "status --session team", 2,
      "focus: config file <CFG>: hook_timeout must be a number of seconds above 0 and at most 3600",
      config="hook_timeout = 0\n"),
    C("config-bad-db-url", "status --session team", 2,
      f"focus: invalid database URL 'ftp://db.example' (from db_url in <CFG>): {URLS}",
      config='db_url = "ftp://db.example"\n', env=NO_DB),
    # -- sign-in: members need the project's Web API key, never a key file ---------------------
    C("api-key-none-for-https", f"--db {PROD} status --session team", 2,
      f"focus: the Firebase project at {PROD} needs its Web API key to sign members in: set api_key in "
      "<CFG> or FOCUS_API_KEY (Firebase console → Project settings → General → Web API key; it is not a secret)"),
    C("api-key-empty-in-config", "status --session team", 2,
      f"focus: the Firebase project at {PROD} needs its Web API key to sign members in: set api_key in "
      "<CFG> or FOCUS_API_KEY (Firebase console → Project settings → General → Web API key; it is not a secret)",
      config=f'db_url = "{PROD}"\napi_key = ""\n', env=NO_DB),
    C("auth-url-not-a-url", f"--db {PROD} status --session team", 2,
      "focus: invalid auth_url 'ftp://x': use https://host[:port] (a proxy of Google's sign-in hosts)",
      env={"FOCUS_API_KEY": "k", "FOCUS_AUTH_URL": "ftp://x"}),
    C("auth-emulator-host-with-scheme", "status --session team", 2,
      "focus: FIREBASE_AUTH_EMULATOR_HOST must be host:port (like 127.0.0.1:9099), not 'http://127.0.0.1:9099'",
      env={"FIREBASE_AUTH_EMULATOR_HOST": "http://127.0.0.1:9099"}),
    # -- backends ----------------------------------------------------------------------------
    C("backend-refused", "status --session team", 1,
      "focus: cannot reach the database at <BASE> (connection refused); is focus serve running?",
      backend="closed", unreachable=True),
    C("backend-unknown-host", "pause --session team", 1,
      "focus: cannot reach the database at <BASE> (unknown host); is focus serve running?",
      backend="unknown_host", unreachable=True),
    C("backend-black-hole", "status --session team", 1,
      "focus: cannot reach the database at <BASE> (timed out); is focus serve running?",
      backend="blackhole", unreachable=True),
    C("backend-plain-http-404", "status --session team", 1,
      "focus: unexpected answer from <BASE> (HTTP 404); is that a focus serve or the Auth emulator? "
      "(the official database emulator needs FIREBASE_AUTH_EMULATOR_HOST too)", backend="http404"),
    C("backend-plain-http-html", "start --session team", 1,
      "focus: unexpected answer from <BASE> (not the Auth emulator's answer); is that a focus serve or "
      "the Auth emulator? (the official database emulator needs FIREBASE_AUTH_EMULATOR_HOST too)",
      backend="html200"),
    C("backend-bad-scheme", "--db ftp://127.0.0.1:9000 status --session team", 2,
      f"focus: invalid database URL 'ftp://127.0.0.1:9000' (from --db): {URLS}"),
    C("backend-no-ns", "status --session team", 2,
      f"focus: invalid database URL 'http://127.0.0.1:<CLOSED_PORT>' (from FOCUS_DATABASE_URL): {URLS}",
      env={"FOCUS_DATABASE_URL": "http://127.0.0.1:<CLOSED_PORT>"}),
    C("backend-no-port", "--db http://127.0.0.1?ns=team status --session team", 2,
      f"focus: invalid database URL 'http://127.0.0.1?ns=team' (from --db): {URLS}"),
    C("backend-bad-ns", "--db http://127.0.0.1:1?ns=a.b status --session team", 2,
      f"focus: invalid namespace name 'a.b': {NAMES}"),
    C("backend-empty-db-flag", ("--db", "", "status", "--session", "team"), 2,
      f"focus: invalid database URL '' (from --db): {URLS}"),
    C("backend-bad-serve-port", "status --session team", 2,
      "focus: FOCUS_SERVE_PORT must be a port number (1-65535), not '9o00'",
      env={**NO_DB, "FOCUS_SERVE_PORT": "9o00"}),
    # -- permission denied -------------------------------------------------------------------
    C("denied-non-member-pause", "pause --session team", 1, NOT_MEMBER, user="eve"),
    C("denied-non-member-invite", "session invite --session team", 1, NOT_MEMBER, user="eve"),
    C("denied-non-member-watch", "watch --json --session team", 1, NOT_MEMBER, user="eve"),
    C("denied-non-member-leave", "leave --session team", 1, NOT_MEMBER, user="eve"),
    C("denied-wrong-invite-code", "join team --code WRONGCODE1", 1,
      "focus: the invite code for 'team' is not right; ask a member for it", user="eve"),
    C("denied-join-without-code", "join team", 2,
      "focus: joining 'team' needs its invite code: focus join team --code CODE "
      "(a member gets it with: focus session invite)", user="eve"),
    # -- not now, and wait's own codes ---------------------------------------------------------
    C("not-now-pause-paused", "pause --session quiet", 3, "focus: the timer is already paused"),
    C("not-now-resume-running", "resume --session team", 3, "focus: the timer is not paused"),
    C("not-now-extend-idle", "extend 5m --session idle", 3, "focus: the timer is stopped; start it first"),
    C("wait-timeout", "wait --timeout 1s --session team", 4, "focus: gave up waiting for end after 0:01"),
    C("wait-stopped", "wait --until break --session idle", 5,
      "focus: the timer of 'idle' is stopped; nothing to wait for"),
]
# fmt: on


# Run as real processes: at least two of every group, everything that depends on the process
# itself (environment variables, file permissions, timing, the console-script path through
# entry.main and sys.argv), and every wrong backend. The rest run in-process through the same
# focuscli.cli.main, a few milliseconds each instead of a few hundred (the budget is 30 s on two
# busy cores); they still check the exit code, the one line, the empty stdout and the data.
# fmt: off
AS_PROCESS = {
    "duration-negative", "duration-99-minutes-after-hours",
    "session-empty-global", "session-unknown", "user-env-unicode",
    "flag-unknown", "flag-missing-value", "flag-format-unknown-token", "flag-limit-negative",
    "config-invalid-toml", "config-env-missing-file", "config-env-directory", "config-bad-db-url",
    "credentials-none-for-https", "credentials-json-array",
    "backend-plain-http-404", "backend-plain-http-html", "backend-no-ns", "backend-bad-serve-port",
    "denied-non-member-pause", "denied-wrong-invite-code",
    "not-now-pause-paused", "wait-timeout", "wait-stopped",
}
# fmt: on


# -- the world every case starts from --------------------------------------------------------


@dataclass
class World:
    url: str  # the server's base URL
    export: Any  # the template namespace's data, imported into each case's namespace
    closed_port: int
    blackhole_port: int
    http404_port: int
    html200_port: int


class _NotRtdb(BaseHTTPRequestHandler):
    """A plain web server: 404 pages, or 200 with an HTML page (`html` on the server)."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if getattr(self.server, "html", False):
            body = b"<!doctype html><html><body><h1>It works!</h1></body></html>\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _black_hole() -> Iterator[int]:
    """A port whose SYNs go unanswered: a listener with a full accept queue (backlog 0, one
    connection queued and never accepted), so the kernel drops further SYNs and a client's
    connect times out, as with a host that has gone away."""
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        filler.connect(("127.0.0.1", port))
        with socket.socket() as probe:  # the queue is full: this one must not connect
            probe.settimeout(0.3)
            with pytest.raises(TimeoutError):  # (not refused: tcp_abort_on_overflow is off)
                probe.connect(("127.0.0.1", port))
        yield port


@contextlib.contextmanager
def _web_server(html: bool) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotRtdb)
    server.daemon_threads = True
    server.html = html  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _template(server_url: str, state_root: Path) -> Any:
    """The three sessions, made through the library in a namespace of their own; its data."""
    ns = f"tpl{uuid.uuid4().hex[:12]}"
    rest = Rest(server_url, ns)
    rest.set_rules(FOCUS_RULES)
    target = Target(f"{server_url}?ns={ns}", None, "emulator")
    with Database(target, EmulatorMember("ana")) as ana_db, Database(target, EmulatorMember("bob")) as bob_db:
        ana = Focus(ana_db, EmulatorMember("ana"), state_dir=state_root / "ana")
        bob = Focus(bob_db, EmulatorMember("bob"), state_dir=state_root / "bob")

        def start(s: timer.TimerState, now: int) -> timer.TimerState:
            return timer.start(
                s, "ana", now, duration_ms=25 * 60_000, label="report", phase="focus"
            )

        ana.act("team", start, create=True)
        bob.join("team", ana.invite_code("team"))
        ana.act("quiet", start, create=True)
        ana.act("quiet", lambda s, now: timer.pause(s, "ana", now))
        ana.create("idle")
    data = rest.value("/.json")
    rest.delete("/.json")
    rest.session.close()
    return data


@pytest.fixture(scope="module")
def world(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    export = _template(server_url, tmp_path_factory.mktemp("template"))
    with _black_hole() as hole, _web_server(False) as p404, _web_server(True) as p200:
        yield World(server_url, export, _closed_port(), hole, p404, p200)


def _namespace(world: World) -> Rest:
    """A fresh namespace with focus's rules and the template's sessions."""
    rest = Rest(world.url, f"bad{uuid.uuid4().hex[:12]}")
    rest.set_rules(FOCUS_RULES)
    assert rest.put("/.json", world.export).status_code == 200
    return rest


def _stored(rest: Rest) -> tuple[bytes, bytes, str]:
    """What a case must not change: /sessions and /invites as the server sends them, and /users
    without the clock samples (`focus` measures the server clock by writing one)."""
    sessions, invites, users = (
        rest.get(path) for path in ("/sessions.json", "/invites.json", "/users.json")
    )
    assert sessions.status_code == invites.status_code == users.status_code == 200
    people = {
        uid: {k: v for k, v in rec.items() if k != "clock"}
        for uid, rec in (users.json() or {}).items()
    }
    return sessions.content, invites.content, json.dumps(people, sort_keys=True)


# -- running one case ------------------------------------------------------------------------

# Run as root, a process must lose the capabilities that let root read any file before the
# unreadable-file cases mean anything: drop them from the bounding set, then exec focus.
_DROP_DAC = (
    "import ctypes, os, sys\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH\n"
    "    if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP\n"
    "        sys.exit(f'cannot drop capability {cap}: {os.strerror(ctypes.get_errno())}')\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'focuscli', *sys.argv[1:]])\n"
)


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    seconds: float
    before: tuple[bytes, bytes, str]
    after: tuple[bytes, bytes, str]
    expected_err: str
    process: bool


def _in_process(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """`focus ARGS` through focuscli.cli.main in this process, with exactly `env` as its
    environment (main thread only: main installs a SIGINT handler)."""
    from focuscli.cli import main

    out, err = io.StringIO(), io.StringIO()
    previous = signal.getsignal(signal.SIGINT)
    code = 0
    with pytest.MonkeyPatch.context() as patch:
        for var in set(os.environ) - set(env):
            patch.delenv(var)
        for var, value in env.items():
            patch.setenv(var, value)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                main(args)
        except SystemExit as exc:
            code = int(exc.code or 0)
        finally:
            signal.signal(signal.SIGINT, previous)
    return code, out.getvalue(), err.getvalue()


def _run_case(case: Case, world: World, home: Path) -> Outcome:
    rest = _namespace(world)
    ns = rest.ns
    port = {
        "server": int(world.url.rsplit(":", 1)[1]),
        "closed": world.closed_port,
        "blackhole": world.blackhole_port,
        "http404": world.http404_port,
        "html200": world.html200_port,
        "unknown_host": world.closed_port,  # never dialled: the name does not resolve
    }[case.backend]
    host = "focus-bad-input.invalid" if case.backend == "unknown_host" else "127.0.0.1"
    base = f"http://{host}:{port}"
    cfg = home / "config" / "focus" / "config.toml"
    marks = {"<HOME>": str(home), "<CFG>": str(cfg), "<URL>": f"{base}?ns={ns}", "<BASE>": base,
             "<CLOSED_PORT>": str(world.closed_port)}  # fmt: skip

    def fill(text: str) -> str:
        for mark, value in marks.items():
            text = text.replace(mark, value)
        return text

    home.mkdir(parents=True)
    if case.config is not None:
        cfg.parent.mkdir(parents=True)
        cfg.write_bytes(
            case.config if isinstance(case.config, bytes) else fill(case.config).encode()
        )
    for name, content in case.files.items():
        (home / name).write_bytes(content if isinstance(content, bytes) else fill(content).encode())
    for name in case.unreadable:
        (home / name).chmod(0)
    # The case's profile is signed in as the member of the same name (see seed_profile), where
    # there is a server to sign in to and the name is one the CLI takes.
    seed = case.backend == "server" and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", case.user) is not None
    env = focus_env(f"{base}?ns={ns}", case.user, home, seed=seed)
    for var in (
        "GOOGLE_APPLICATION_CREDENTIALS",
        "FOCUS_PROJECT",
        "FOCUS_SERVE_PORT",
        "FOCUS_DEBUG",
    ):
        env.pop(var, None)
    for var, value in case.env.items():
        if value is None:
            env.pop(var, None)
        else:
            env[var] = fill(value)
    args = [fill(arg) for arg in case.argv]
    before = _stored(rest)
    began = time.monotonic()
    if case.process:
        argv = focus_argv(*args)
        if case.unreadable and os.geteuid() == 0:
            argv = [sys.executable, "-c", _DROP_DAC, *args]
        done = subprocess.run(
            argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
        )
        code, out, err = done.returncode, done.stdout, done.stderr
    else:
        code, out, err = _in_process(args, env)
    seconds = time.monotonic() - began
    after = _stored(rest)
    rest.session.close()
    return Outcome(code, out, err, seconds, before, after, fill(case.err), case.process)


@pytest.fixture(scope="module")
def outcomes(
    request: pytest.FixtureRequest, world: World, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    """Every selected case of the table, run a few processes at a time (slowest first)."""
    chosen = [
        case
        for item in request.session.items
        if getattr(item, "module", None) is request.module
        and isinstance(
            case := getattr(getattr(item, "callspec", None), "params", {}).get("case"), Case
        )
    ]
    chosen.sort(key=lambda case: not (case.unreachable or case.code == ExitCode.WAIT_TIMEOUT))
    root = tmp_path_factory.mktemp("homes")
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = {c.id: pool.submit(_run_case, c, world, root / c.id) for c in chosen if c.process}
        done = {c.id: _run_case(c, world, root / c.id) for c in chosen if not c.process}
        done.update((name, future.result()) for name, future in futures.items())
    return done


@pytest.mark.parametrize("case", CASES)
def test_bad_input(case: Case, outcomes: dict[str, Outcome]) -> None:
    got = outcomes[case.id]
    assert got.code in DOCUMENTED, got
    assert (got.code, got.out) == (case.code, ""), got
    assert "Traceback" not in got.err and "internal error" not in got.err, got.err
    assert got.err.endswith("\n") and got.err.count("\n") == 1, f"not one line: {got.err!r}"
    line = got.err[:-1]
    if case.regex:
        assert re.fullmatch(got.expected_err, line), line
    else:
        assert line == got.expected_err
    assert got.after == got.before, "the stored data changed"
    if case.unreachable:
        assert got.seconds < UNREACHABLE_LIMIT_S, got.seconds


def test_bad_input_figures(outcomes: dict[str, Outcome], figures: Callable[[str], None]) -> None:
    assert len(CASES) >= 40
    codes = Counter(outcome.code for outcome in outcomes.values())
    slowest = max((o.seconds for c, o in outcomes.items() if _case(c).unreachable), default=0.0)
    by_code = ", ".join(f"exit {code}: {n}" for code, n in sorted(codes.items()))
    processes = sum(o.process for o in outcomes.values())
    figures(
        f"{len(outcomes)} bad-input cases, {processes} of them as processes ({by_code}); "
        f"unreachable backends fail within {slowest:.2f} s"
    )


def _case(name: str) -> Case:
    return next(case for p in CASES if isinstance(case := p.values[0], Case) and case.id == name)


# -- Ctrl-C at every stage -------------------------------------------------------------------


@dataclass(frozen=True)
class Interrupt:
    """SIGINT to a `focus ARGV` process once `when` is observed; `stored` says what the
    session must look like afterwards: "unchanged", "applied" (the one write in flight took
    effect whole: a pause with its log entry), "created" (a new session, whole, whose timer was
    never started) or "presence" (a watcher's heartbeat only)."""

    id: str
    argv: tuple[str, ...]
    when: str  # maps:<modules> | syn_sent | accepted | held_write[:n] | clock_file | first_line
    backend: str = "server"  # server | blackhole | silent | deliver | drop
    stored: str = "unchanged"


def S(id: str, argv: str, when: str, **kw: Any) -> Any:
    return pytest.param(Interrupt(id, tuple(argv.split()), when, **kw), id=id)


# fmt: off
INTERRUPTS = [
    # Start-up, by the first extension module of a stage the process has mapped: json's
    # accelerator (entry.main is running, the prompt module loading), uuid's (typer loading,
    # inside `import focuscli.cli`), ssl's or cffi's (firebase-admin loading, after the CLI's own
    # handler is in place). Candidates in order; the first that this Python has as a shared
    # object (not built in) is the mark.
    S("startup-entry", "start 25m --session fresh", "maps:_json"),
    S("startup-typer", "start 25m --session fresh", "maps:_uuid,_posixsubprocess"),
    S("startup-sdk", "start 25m --session fresh", "maps:_ssl,_cffi_backend"),
    S("connecting-black-hole", "pause --session team", "syn_sent", backend="blackhole"),
    S("connected-silent-server", "pause --session team", "accepted", backend="silent"),
    # A pause whose PATCH has fully left the process and is held by a proxy: after the process
    # has gone, the proxy delivers it (a network that had the bytes) or drops the connection.
    S("write-in-flight-delivered", "pause --session team", "held_write", backend="deliver", stored="applied"),
    S("write-in-flight-lost", "pause --session team", "held_write", backend="drop"),
    # `start` of a new session is two writes: the session (meta, membership, its roster entry,
    # invite) and then the timer. Interrupted with the second in flight and lost, the first stays whole: the
    # session exists, idle, with no timer and no history.
    S("second-write-in-flight-lost", "start 25m --session fresh", "held_write:2", backend="drop",
      stored="created"),
    S("wait", "wait --session team", "clock_file"),
    S("watch-json", "watch --json --session team", "first_line", stored="presence"),
]
# fmt: on


class _Silent:
    """Accepts connections and never answers (a hung server)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.accepted = threading.Event()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(conn)
            self.accepted.set()

    def close(self) -> None:
        self.listener.close()
        for conn in self.conns:
            conn.close()


class _HoldWrites:
    """A TCP proxy to the server that passes everything through until one PATCH request has
    arrived in full, then holds it; `release(deliver)` sends it on (and waits for the server's
    answer) or closes the upstream connection without sending it."""

    def __init__(self, upstream_port: int, nth: int = 1) -> None:
        self.upstream_port = upstream_port
        self.nth = nth  # hold the nth PATCH; the ones before pass
        self.patches = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.held = threading.Event()
        self.client_gone = threading.Event()
        self.answered = threading.Event()
        self.released = False
        self.pending = b""
        self.upstream: socket.socket | None = None
        self.socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self.socks += [client, upstream]
            threading.Thread(target=self._up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client), daemon=True).start()

    def _up(self, client: socket.socket, upstream: socket.socket) -> None:
        holding = False
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            if not holding and not self.held.is_set() and data.startswith(b"PATCH "):
                self.patches += 1
                if self.patches == self.nth:
                    holding, self.upstream = True, upstream
            if not holding:
                upstream.sendall(data)
                continue
            self.pending += data
            head, sep, body = self.pending.partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if sep and length and len(body) >= int(length.group(1)):
                self.held.set()
        if holding:
            self.client_gone.set()

    def _down(self, upstream: socket.socket, client: socket.socket) -> None:
        while True:
            try:
                data = upstream.recv(65536)
            except OSError:
                return
            if not data:
                return
            if self.released and upstream is self.upstream:
                self.answered.set()
            with contextlib.suppress(OSError):
                client.sendall(data)

    def release(self, deliver: bool) -> None:
        assert self.client_gone.wait(10), "the interrupted process's connection did not end"
        assert self.upstream is not None
        self.released = True
        if deliver:
            self.upstream.sendall(self.pending)
            assert self.answered.wait(10), "the server did not answer the delivered write"
        else:
            self.upstream.close()

    def close(self) -> None:
        self.listener.close()
        for sock in self.socks:
            sock.close()


def _syn_sent_to(port: int) -> bool:
    """A TCP connection to 127.0.0.1:`port` in SYN_SENT (state 02 in /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[2] == f"0100007F:{port:04X}" and fields[3] == "02":
            return True
    return False


def _until(
    ready: Callable[[], bool], proc: subprocess.Popen[str], what: str, limit: float = 20.0
) -> None:
    """Poll `ready` until it holds; fails if the process ends first (the moment never came)."""
    deadline = time.monotonic() + limit
    while not ready():
        assert proc.poll() is None, f"focus ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"no {what} within {limit} s"
        time.sleep(0.001)


def _shared_object(modules: list[str]) -> str:
    """The file of the first of `modules` that this Python loads from a shared object."""
    import importlib.util

    for name in modules:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        if origin and os.path.isfile(origin):
            return os.path.realpath(origin)
    raise AssertionError(
        f"none of {modules} is a shared object in this Python: no mark for the stage"
    )


def _mapped(proc: subprocess.Popen[str], needle: str) -> bool:
    try:
        return needle in Path(f"/proc/{proc.pid}/maps").read_text()
    except OSError:
        return False


def _without_presence(rest: Rest) -> tuple[str, bytes]:
    """/sessions without the members' presence (`seen_at`, `away_at`, the presence spans and the
    span a record names), and /invites as stored."""
    sessions = rest.value("/sessions.json")
    for session in sessions.values():
        session.pop("presence", None)
        for record in session.get("members", {}).values():
            record.pop("seen_at", None)
            record.pop("away_at", None)
            record.pop("span", None)
    return json.dumps(sessions, sort_keys=True), rest.get("/invites.json").content


def _log(raw: Any) -> dict[int, Any]:
    """A stored log by rev (the server renders dense integer keys as an array)."""
    items = enumerate(raw) if isinstance(raw, list) else ((int(k), v) for k, v in raw.items())
    return {rev: entry for rev, entry in items if entry is not None}


def _first_line(proc: subprocess.Popen[str], limit: float = 20.0) -> str:
    import select

    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], limit)
    assert ready, f"no output within {limit} s"
    return proc.stdout.readline()


@pytest.mark.parametrize("case", INTERRUPTS)
def test_ctrl_c(
    case: Interrupt,
    world: World,
    tmp_path: Path,
    figures: Callable[[str], None],
    request: pytest.FixtureRequest,
) -> None:
    rest = _namespace(world)
    request.addfinalizer(rest.session.close)
    server_port = int(world.url.rsplit(":", 1)[1])
    helper: Any = None
    port = server_port
    if case.backend == "blackhole":
        port = world.blackhole_port
    elif case.backend == "silent":
        helper = _Silent()
        port = helper.port
    elif case.backend in ("deliver", "drop"):
        helper = _HoldWrites(server_port, int(case.when.partition(":")[2] or 1))
        port = helper.port
    home = tmp_path / "ana"
    # Signed in beforehand where something will answer (the black hole and the silent server
    # never do: there the command is interrupted while it tries to reach them).
    seed = case.backend not in ("blackhole", "silent")
    env = focus_env(f"http://127.0.0.1:{port}?ns={rest.ns}", "ana", home, seed=seed)
    before, before_state, quiet = (
        _stored(rest),
        rest.value("/sessions/team.json"),
        _without_presence(rest),
    )
    proc = subprocess.Popen(
        focus_argv(*case.argv), env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    first_line = ""
    try:
        kind, _, needle = case.when.partition(":")
        if kind == "maps":
            library = _shared_object(needle.split(","))
            _until(lambda: _mapped(proc, library), proc, f"{library} mapped", limit=20)
        elif kind == "syn_sent":
            _until(lambda: _syn_sent_to(port), proc, "a connect in SYN_SENT")
        elif kind == "accepted":
            _until(helper.accepted.is_set, proc, "a connection to the silent server")
        elif kind == "held_write":
            _until(helper.held.is_set, proc, "a PATCH held by the proxy")
        elif kind == "clock_file":
            _until(
                (home / "state" / "focus" / "clock.json").exists, proc, "the clock sample written"
            )
        elif kind == "first_line":
            first_line = _first_line(proc)
            assert first_line, proc.communicate()
        signaled = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
        exit_s = time.monotonic() - signaled
        if case.backend in ("deliver", "drop"):
            helper.release(deliver=case.backend == "deliver")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if helper is not None:
            helper.close()
    assert proc.returncode == ExitCode.INTERRUPTED, (proc.returncode, out, err)
    assert err.count("\n") <= 1 and "Traceback" not in err and "internal error" not in err, err
    assert exit_s < 2.0, f"took {exit_s:.2f} s to stop after SIGINT"
    if case.stored == "presence":  # state and log as they were; the watcher's heartbeat aside
        events = [json.loads(line) for line in (first_line + out).splitlines()]
        assert (
            events
            and events[0]["event"] == "state"
            and events[0]["rev"] == before_state["state"]["rev"]
        )
        assert _without_presence(rest) == quiet
        assert not (home / "state" / "focus" / "snapshot-team.json").exists(), (
            "the watch left its snapshot"
        )
    elif case.stored == "unchanged":
        assert out == ""
        assert _stored(rest) == before
    elif case.stored == "created":
        assert out == ""
        fresh = rest.value("/sessions/fresh.json")
        assert sorted(fresh) == ["members", "meta", "roster", "seats"] and fresh["meta"]["owner"] == "ana", fresh
        assert [(e["uid"], e["event"]) for e in fresh["roster"].values()] == [("ana", "joined")]
        assert list(fresh["members"]) == ["ana"] and rest.value("/invites/fresh/code.json")
        assert "fresh" in rest.value("/users/ana/sessions.json")
        assert rest.value("/sessions/team.json") == before_state
    else:  # applied: exactly the one pause, whole (the state and its log entry), nothing else
        assert out == ""
        after = rest.value("/sessions/team.json")
        rev = before_state["state"]["rev"] + 1
        state = after["state"]
        assert (state["status"], state["rev"], state["updated_by"], state["action"]) == (
            "paused",
            rev,
            "ana",
            "pause",
        )
        log = _log(after["log"])
        assert log == {
            **_log(before_state["log"]),
            rev: {**log[rev], "action": "pause", "by": "ana", "rev": rev},
        }
        assert log[rev]["at"] == state["updated_at"]
        assert {k: after[k] for k in ("meta", "members")} == {
            k: before_state[k] for k in ("meta", "members")
        }
    figures(
        f"SIGINT {case.id}: exit 130 {exit_s * 1000:.0f} ms after the signal, session {case.stored}"
    )

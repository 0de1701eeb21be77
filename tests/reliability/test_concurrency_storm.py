"""Reliability item 3: a concurrency storm on one session.

One `focus serve` subprocess with focus's rules; one session created by its owner; 20 member
processes (each its own user, joined with the invite code) issuing random valid and invalid
commands through focus's CLI for 30 s, plus two attackers bypassing the CLI: `mallory`, a
member, and `eve`, an outsider (and sometimes nobody at all), writing straight through REST what
the rules must refuse. Each worker is `storm_worker.py`: one Python process that calls
`focuscli.cli.main([...])` in a loop (a fresh `python -m focuscli` costs ~250 ms of start-up,
so one warm interpreter per user gives many times the commands, and the same code path).

Afterwards:
(a) every client's `focus status --json` is the same, except `clock_skew_ms` (each client's own
    estimate of the server clock), and so is every client's `focus log --json`;
(b) the history holds each accepted action exactly once, in server-time order: revs 1..N with
    no gap, `at` non-decreasing, and per user the accepted commands (exit 0) are exactly that
    user's log entries, in order, each committed while its command ran, with the arguments it
    was given; no entry makes no sense for the state before it (a lost update would);
(c) no rule was bypassed: every attacker write and read was refused (401), and the stored data
    keeps the invariants (state.rev == N, well-formed entries by members only, server times
    inside the storm window, membership, owner and invite untouched);
(d) no command printed a traceback or an internal error, every exit code is documented and the
    one the storm expects, and every failing command printed exactly one stderr line.
"""

from __future__ import annotations

import json
import os
import random
import selectors
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from focuscli.timer import Cycle, parse_duration

pytestmark = pytest.mark.focus_serve

HERE = Path(__file__).resolve().parent
WORKER = HERE / "storm_worker.py"
RULES = HERE.parent.parent / "firebase" / "database.rules.json"
SESSION = "storm"
MEMBERS = [f"w{i:02d}" for i in range(20)]  # w00 owns the session
OWNER = MEMBERS[0]
STORM_S = 30.0
DOCUMENTED = {0, 1, 2, 3}  # 4 and 5 are focus wait's, 130 is Ctrl-C: none of them apply here
ACTIONS = ("start", "pause", "resume", "stop", "skip", "extend")
LOG_KEYS = {"action", "by", "name", "at", "rev", "label", "phase", "ms", "op"}
STATE_KEYS = {"rev", "status", "phase", "round", "duration_ms", "started_at", "offset_ms",
              "paused_at", "label", "cycle", "updated_at", "updated_by", "updated_by_name", "action"}  # fmt: skip
COMMIT_SLACK_S = 0.05  # server and workers share this machine's clock; ms rounding only


class Worker:
    """One storm process and the lines it has written to its stdout so far."""

    def __init__(self, role: str, user: str, env: dict[str, str], tmp: Path, seed: int) -> None:
        self.role, self.user = role, user
        self.out = tmp / f"{user}.json"
        self.err_path = tmp / f"{user}.stderr"
        argv = [sys.executable, str(WORKER), role, user, SESSION, str(STORM_S), str(seed),
                str(self.out), OWNER, *MEMBERS]  # fmt: skip
        with self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err, bufsize=0)  # fmt: skip
        self.buf = b""

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def stderr_tail(self) -> str:
        return self.err_path.read_text(errors="replace")[-2000:]


def collect(workers: list[Worker], word: str, timeout: float) -> dict[str, str]:
    """The next line of each worker, which must start with `word`; at most `timeout` s."""
    deadline = time.monotonic() + timeout
    got: dict[str, str] = {}
    sel = selectors.DefaultSelector()
    pending = list(workers)
    for w in pending:
        assert w.proc.stdout is not None
        sel.register(w.proc.stdout, selectors.EVENT_READ, w)
    try:
        while pending:
            for w in list(pending):
                if b"\n" in w.buf:
                    raw, w.buf = w.buf.split(b"\n", 1)
                    line = raw.decode()
                    assert line.startswith(word), f"{w.user}: expected {word!r}, got {line!r}"
                    got[w.user] = line
                    pending.remove(w)
                    sel.unregister(w.proc.stdout)
            if not pending:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                tails = {w.user: w.stderr_tail() for w in pending}
                raise AssertionError(f"no {word!r} within {timeout} s: {tails}")
            for key, _ in sel.select(left):
                w = key.data
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    w.proc.wait(timeout=5)
                    raise AssertionError(
                        f"{w.user} exited ({w.proc.returncode}) before {word!r}: {w.stderr_tail()}"
                    )
                w.buf += chunk
    finally:
        sel.close()
    return got


def test_concurrency_storm(
    spawn_server: Callable[..., Any],
    env_for: Callable[..., dict[str, str]],
    tmp_path: Path,
    figures: Callable[[str], None],
) -> None:
    seed = int(os.environ.get("FOCUS_STORM_SEED") or random.randrange(10**6))  # choices only
    note = f"(storm seed {seed})"
    t_begin = time.time()
    server = spawn_server("--port", "0", "--memory")
    ns = "stormns"
    url = f"{server.url}?ns={ns}"
    admin = requests.Session()
    admin.headers["Authorization"] = "Bearer owner"
    put = admin.put(f"{server.url}/.settings/rules.json", params={"ns": ns},
                    data=RULES.read_bytes(), timeout=10)  # fmt: skip
    assert put.status_code == 200, put.text

    roles = [("member", u) for u in MEMBERS] + [("mallory", "mallory"), ("eve", "eve")]
    workers: list[Worker] = []
    try:
        for i, (role, user) in enumerate(roles):
            workers.append(Worker(role, user, env_for(url, user), tmp_path, seed * 100 + i))
        by_user = {w.user: w for w in workers}
        collect(workers, "loaded", 30)
        owner = by_user[OWNER]
        owner.send("create")
        code = collect([owner], "code", 20)[OWNER].split()[1]
        others = [w for w in workers if w is not owner]
        for w in others:
            w.send(f"join {code}")
        collect(others, "ready", 30)
        t_setup_done = time.time()

        t_go = time.time()
        for w in workers:
            w.send("go")
        collect(workers, "stormed", STORM_S + 30)
        t_stormed = time.time()
        owner.send("settle")
        collect([owner], "settled", 30)
        t_settled = time.time()
        for w in workers:
            w.send("final")
        collect(workers, "done", 60)
        t_done = time.time()
        for w in workers:
            assert w.proc.wait(timeout=10) == 0, f"{w.user}: {w.stderr_tail()}"
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.proc.kill()
                w.proc.wait(timeout=10)
            for pipe in (w.proc.stdin, w.proc.stdout):
                if pipe is not None:
                    pipe.close()
    raw = admin.get(f"{server.url}/.json", params={"ns": ns}, timeout=10).json()
    admin.close()
    results = {w.user: json.loads(w.out.read_text()) for w in workers}

    members = set(MEMBERS) | {"mallory"}
    sess = raw["sessions"][SESSION]
    log = _entries(sess.get("log"))
    n = len(log)
    state = sess["state"]
    problems: list[str] = []

    # -- (d) every command: a documented, expected exit code; one stderr line when it failed ---
    commands = [(u, c) for u, r in results.items() for c in r["commands"]]
    for user, c in commands:
        what = f"{user} `focus {' '.join(c['argv'])}` -> {c['code']!r} out={c['out']!r} err={c['err']!r}"
        if not isinstance(c["code"], int) or c["code"] not in DOCUMENTED:
            problems.append(f"undocumented exit code: {what}")
        elif c["code"] not in c["expect"]:
            problems.append(f"unexpected exit code (wanted {c['expect']}): {what}")
        if "Traceback" in c["out"] + c["err"] or "internal error" in c["err"]:
            problems.append(f"traceback / internal error: {what}")
        if c["code"] != 0:
            lines = c["err"].splitlines()
            if len(lines) != 1 or not lines[0].startswith("focus: ") or c["out"]:
                problems.append(f"a failure that is not exactly one stderr line: {what}")
        elif c["err"]:
            problems.append(f"stderr output on success: {what}")
    assert not problems, f"{len(problems)} problems {note}:\n" + "\n".join(problems[:25])

    # -- (c) the attackers: everything refused; mallory's unperturbed controls only lose races --
    attacks = [(u, a) for u, r in results.items() for a in r["attacks"]]
    for user, a in attacks:
        if a["status"] not in a["expect"]:
            problems.append(f"{user}: {a}")
        if a["attack"] == "control" and a["status"] == 401 and not a.get("race"):
            problems.append(f"{user}: a legitimate write refused without a race: {a}")
    assert not problems, f"rules bypassed or misapplied {note}:\n" + "\n".join(problems[:25])
    controls = [a for u, a in attacks if a["attack"] == "control" and a["status"] == 200]
    hostile = [a for u, a in attacks if a["expect"] == [401]]
    hostile_writes = [a for a in hostile if a.get("method") != "GET"]
    for user in ("mallory", "eve"):  # each kind of attack was tried
        tried = {a["attack"] for a in results[user]["attacks"] if a["expect"] == [401]}
        assert tried == set(results[user]["kinds"]) and len(tried) > 10, (user, tried)

    # -- (b) the history: revs 1..N, server times in order, each accepted action exactly once --
    assert [e["rev"] for e in log] == list(range(1, n + 1)), f"revs not contiguous {note}"
    assert 0 < n < 10_000, n
    ats = [e["at"] for e in log]
    assert ats == sorted(ats), f"log not in server-time order {note}"
    for user in sorted(members):
        commands_of = results[user]["commands"]
        accepted = [c for c in commands_of if c["kind"] == "action" and c["code"] == 0]
        mine = [e for e in log if e["by"] == user]
        if user == "mallory":
            want = [(a["rev"], a["action"]) for a in results[user]["attacks"]
                    if a["attack"] == "control" and a["status"] == 200]  # fmt: skip
            assert [(e["rev"], e["action"]) for e in mine] == want, f"mallory {note}"
            continue
        assert [c["argv"][0] for c in accepted] == [e["action"] for e in mine], f"{user} {note}"
        for c, e in zip(accepted, mine, strict=True):
            assert c["t0"] - COMMIT_SLACK_S <= e["at"] / 1000 <= c["t1"] + COMMIT_SLACK_S, (c, e)
            _check_arguments(c["argv"], e)
    _replay(log)

    # -- (c) the stored data keeps the rules' invariants -------------------------------------
    window = (t_go * 1000 - 1, t_settled * 1000 + 1)
    assert set(sess) <= {"meta", "members", "state", "log", "states", "roster", "presence", "seats"}, set(sess)
    # the history records: each state record is the state its rev made (as its log entry says),
    # the last one the state itself; the roster holds each member's joining, by themselves
    records = {e["rev"]: e for e in _entries(sess.get("states"))}
    assert set(records) <= set(range(1, n + 1)), sorted(set(records) - set(range(1, n + 1)))
    for rev, record in records.items():
        entry = log[rev - 1]
        assert (record["updated_by"], record["updated_at"], record["action"]) == (entry["by"], entry["at"], entry["action"]), (record, entry)
    assert records.get(n, sess["state"]) == sess["state"]
    roster = list((sess.get("roster") or {}).values())
    assert all(e["event"] == "joined" and e["by"] == e["uid"] == e["name"] for e in roster), roster
    assert {e["uid"] for e in roster} <= members
    assert sess["meta"]["owner"] == OWNER and set(sess["meta"]) == {"owner", "created_at"}
    assert t_begin * 1000 <= sess["meta"]["created_at"] <= t_setup_done * 1000
    assert set(sess["members"]) == members, set(sess["members"])
    for user, rec in sess["members"].items():
        # The CLI's members name their roster entry (mallory joined through REST, without one).
        roster_key = set() if user == "mallory" else {"roster"}
        assert set(rec) == ({"joined_at", "name", "seat"} if user == OWNER else {"joined_at", "name", "code", "seat"}) | roster_key, (user, rec)
        assert rec["name"] == user, (user, rec)  # each member's name is their token's
        assert rec.get("code", code) == code and t_begin * 1000 <= rec["joined_at"] <= t_go * 1000
    # Every member holds one seat of their own (the ceiling of members per session).
    seats = sess["seats"]
    held = {int(k): v for k, v in (enumerate(seats) if isinstance(seats, list) else seats.items()) if v is not None}
    assert sorted(held.values()) == sorted(members), held
    assert all(sess["members"][uid]["seat"] == seat for seat, uid in held.items()), held
    assert raw["invites"] == {SESSION: {"code": code}}
    assert SESSION not in raw["users"].get("eve", {}).get("sessions", {})
    for e in log:
        assert set(e) <= LOG_KEYS and e["action"] in ACTIONS and e["by"] in members and e["name"] == e["by"], e
        assert window[0] <= e["at"] <= window[1], (e, window)
    ops = [e["op"] for e in log if "op" in e]  # one per CLI action, whatever its attempts
    assert len(ops) == len(set(ops)), "an action's op is in the history twice"
    assert set(state) <= STATE_KEYS and state["rev"] == n, state
    last = log[-1]
    stamp = (state["updated_by"], state["updated_at"], state["action"])
    assert stamp == (last["by"], last["at"], last["action"]), (state, last)
    for anchor in ("started_at", "paused_at"):
        assert anchor not in state or state[anchor] in set(ats), (anchor, state)

    # -- (a) every client sees the same timer and the same history ---------------------------
    finals = {u: [c for c in r["commands"] if c["phase"] == "final"] for u, r in results.items()}
    statuses = {u: json.loads(f[0]["out"]) for u, f in finals.items() if u in members}
    skews = {u: s.pop("clock_skew_ms") for u, s in statuses.items()}
    distinct = {json.dumps(s, sort_keys=True) for s in statuses.values()}
    assert len(distinct) == 1, f"clients disagree {note}: {distinct}"
    seen = statuses[OWNER]
    stamp = (seen["rev"], seen["updated_by"], seen["action"], seen["updated_at"])
    assert stamp == (n, last["by"], last["action"], last["at"]), (seen, last)
    assert seen["status"] != "running", seen  # settled: nothing moves any more
    histories = {f[1]["out"] for u, f in finals.items() if u in members}
    assert len(histories) == 1
    # As `focus log --json` shows an entry: op not printed, `by` the name, `by_uid` the uid.
    shown = [{**{k: v for k, v in e.items() if k not in ("op", "name")}, "by": e["name"], "by_uid": e["by"]} for e in log]
    assert [json.loads(line) for line in histories.pop().splitlines()] == shown
    # Each client's own reads never went back in time (monotonic reads).
    for user, r in results.items():
        revs = [json.loads(c["out"])["rev"] for c in r["commands"]
                if c["kind"] == "status" and c["code"] == 0 and c["argv"][0] == "status"]  # fmt: skip
        assert revs == sorted(revs), (user, revs)

    storm = [c for _, c in commands if c["phase"] == "storm"]
    codes = Counter(c["code"] for c in storm)
    took = t_stormed - t_go
    # It was a storm: everyone kept acting, actions were accepted and refused, and races lost.
    busy = Counter(u for u, c in commands if c["phase"] == "storm")
    assert all(busy[u] >= 10 for u in MEMBERS), busy
    assert took >= STORM_S and n >= 50 and codes[3] >= 50, (took, n, codes)
    assert sum(r["cas_refused"] for r in results.values()) > 0
    figures(
        f"{len(MEMBERS)} CLI workers + 2 attackers (processes) for {took:.1f} s: "
        f"{len(storm)} commands ({len(storm) / took:.0f}/s), {n} accepted actions "
        f"({len(controls)} of them mallory's raw controls); refused: "
        f"{codes[3]} exit 3, {codes[2]} exit 2, {codes[1]} exit 1; "
        f"{len(hostile_writes)} attacker writes + {len(hostile) - len(hostile_writes)} reads, "
        f"all 401; {sum(r['cas_refused'] for r in results.values())} CAS retries (lost races; "
        f"at most {max(c['cas_refused'] for c in storm)} for one command); "
        f"clock_skew_ms {min(skews.values())}..{max(skews.values())}; "
        f"setup {t_go - t_begin:.1f} s, settle + final {t_done - t_stormed:.1f} s, "
        f"file wall {time.time() - t_begin:.1f} s"
    )


def _entries(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if isinstance(raw, list):
        return [e for e in raw if e is not None]
    return [raw[k] for k in sorted(raw, key=int)]


def _check_arguments(argv: list[str], entry: dict[str, Any]) -> None:
    """The log entry of an accepted start or extend carries what its command asked for."""
    args = argv[1 : argv.index("--session")]
    if argv[0] == "extend":
        assert entry["ms"] == parse_duration(args[0]), (argv, entry)
    elif argv[0] == "start":
        flags = {"--long-break": "long_break", "--break": "short_break"}
        phase = next((flags[a] for a in args if a in flags), "focus")
        label = args[args.index("--label") + 1] if "--label" in args else None
        positional = [a for i, a in enumerate(args) if not a.startswith("--")
                      and (i == 0 or args[i - 1] != "--label")]  # fmt: skip
        ms = parse_duration(positional[0]) if positional else Cycle().length(phase)
        got = (entry["phase"], entry["ms"], entry.get("label"))
        assert got == (phase, ms, label), (argv, entry)


def _replay(log: list[dict[str, Any]]) -> None:
    """Fold the history: no accepted action may make no sense for the state before it, as a
    lost update (two members acting on the same rev) would. A start needs an idle timer or a
    phase that is over (by the committing client's clock: 1 s of slack)."""
    status, base, length, paused_at = "idle", 0, 0, 0
    for e in log:
        action, at = e["action"], e["at"]
        where = f"rev {e['rev']} {action} after {status}"
        if action == "start":
            assert status == "idle" or (status == "running" and at + 1000 >= base + length), where
            status, base, length = "running", at, e["ms"]
        elif action == "pause":
            assert status == "running", where
            status, paused_at = "paused", at
        elif action == "resume":
            assert status == "paused", where
            status, base = "running", base + (at - paused_at)
        elif action == "stop":
            assert status != "idle", where
            status = "idle"
        elif action == "skip":
            assert status != "idle", where
            status, base, length = "running", at, e["ms"]
        elif action == "extend":
            assert status != "idle", where
            over = (at if status == "running" else paused_at) - base >= length
            if over:  # a phase already over runs again for `ms` (from commit, or the pause)
                base = (at if status == "running" else paused_at) - length
            length += e["ms"]

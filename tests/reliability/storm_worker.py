"""One process of the concurrency storm (test_concurrency_storm.py); not a test module.

    python storm_worker.py ROLE USER SESSION SECONDS SEED OUT [OWNER VICTIM...]

ROLE is `member` (runs focus's CLI in this process, `focuscli.cli.main([...])`, over and over:
one interpreter and one warm import of firebase-admin give ~20x the commands of a fresh
`python -m focuscli` each time), `mallory` (a member who bypasses the CLI and writes through
REST, as firebase-admin does: `Bearer owner` + `auth_variable_override`) or `eve` (a non-member,
and sometimes nobody at all, doing the same). The database URL and the user's XDG directories
come from the environment (FOCUS_DATABASE_URL, XDG_*_HOME).

The test drives it by lines on stdin and reads its answers on stdout:

    (start)                 -> loaded
    create                  -> code CODE            (the owner: focus session create; invite)
    join CODE               -> ready                (focus join --code; mallory through REST)
    go                      -> stormed              (SECONDS of random commands / attacks)
    settle                  -> settled              (the owner: pause a running timer)
    final                   -> done                 (status --json and log --json, then OUT)

Everything it did is written to OUT as JSON: every command with its argv, what the storm
expects of its exit code, the exit code, stdout, stderr and the local wall-clock interval.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import secrets
import sys
import time
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

ACTIONS = ("start", "pause", "resume", "stop", "skip", "extend")
GOOD_DURATIONS = ("2s", "5s", "9s", "30s", "90s", "1:30", "1m", "25m", "25", "1h", "1h30m", "24h")
BAD_DURATIONS = ("0", "0s", "25x", "25h", "1:75", "abc", "1h61mq", "9" * 40, " ", "-5m", "--")
SEED_LABELS = ("write the report", "tâche ✓", "a" * 200, "deep work")


def proto(line: str) -> None:
    sys.__stdout__.write(line + "\n")
    sys.__stdout__.flush()


class Recorder:
    def __init__(self, user: str) -> None:
        self.user = user
        self.commands: list[dict[str, Any]] = []
        self.attacks: list[dict[str, Any]] = []
        self.cas_refused = 0  # refused compare-and-set writes at sessions/<sid> (lost races)
        self.kinds: list[str] = []  # an attacker's kinds of attack

    def focus(
        self, argv: list[str], kind: str, expect: list[int], phase: str = "storm"
    ) -> dict[str, Any]:
        """Run `focus ARGV` in this process; record and return what it did."""
        from focuscli.cli import main

        out, err = io.StringIO(), io.StringIO()
        refused = self.cas_refused
        t0 = time.time()
        code: Any = 0
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                main(argv)
        except SystemExit as done:
            code = done.code
        except BaseException as exc:  # noqa: BLE001 - recorded, and the test fails on it
            code = f"escaped {type(exc).__name__}: {exc}"
        record = {
            "argv": argv, "kind": kind, "expect": expect, "code": code, "out": out.getvalue(),
            "err": err.getvalue(), "t0": t0, "t1": time.time(), "phase": phase,
            "cas_refused": self.cas_refused - refused,
        }  # fmt: skip
        self.commands.append(record)
        return record

    def dump(self, path: str, extra: dict[str, Any]) -> None:
        data = {"user": self.user, "commands": self.commands, "attacks": self.attacks,
                "cas_refused": self.cas_refused, "kinds": self.kinds, **extra}  # fmt: skip
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, path)


def count_cas_refusals(rec: Recorder, session: str) -> None:
    """Count the member's refused compare-and-set writes (observable only in-process)."""
    from focuscli import backend

    original = backend.Database.update

    def update(self: Any, path: str, values: dict[str, Any]) -> None:
        try:
            original(self, path, values)
        except backend.PermissionDenied:
            if path == f"sessions/{session}":
                rec.cas_refused += 1
            raise

    backend.Database.update = update  # type: ignore[method-assign]


# ---------------------------------------------------------------------------------------------
# Members: focus's CLI with random valid and invalid commands


def member_command(rnd: random.Random, user: str, session: str) -> tuple[list[str], str, list[int]]:
    """(argv, kind, expected exit codes) of one random command."""
    s = ["--session", session]
    roll = rnd.random()
    if roll < 0.62:  # a valid action: done (0) or senseless now (3)
        action = rnd.choice(ACTIONS + ("start", "pause", "resume"))
        args: list[str] = [action]
        if action == "start":
            if rnd.random() < 0.8:
                args.append(rnd.choice(GOOD_DURATIONS))
            if rnd.random() < 0.3:
                args += ["--label", rnd.choice(SEED_LABELS)]
            if rnd.random() < 0.2:
                args.append(rnd.choice(("--break", "--long-break")))
        elif action == "extend":
            args.append(rnd.choice(GOOD_DURATIONS[:8]))
        return args + s, "action", [0, 3]
    if roll < 0.74:
        return ["status", "--json", *s], "status", [0]
    if roll < 0.77:
        return ["log", "--json", "--limit", str(rnd.randint(1, 5)), *s], "log", [0]
    invalid: list[tuple[list[str], str, list[int]]] = [
        (["start", rnd.choice(BAD_DURATIONS), *s], "bad-duration", [2]),
        (["extend", rnd.choice(BAD_DURATIONS), *s], "bad-duration", [2]),
        (["extend", *s], "missing-argument", [2]),
        (["start", "5m", "--break", "--long-break", *s], "bad-flags", [2]),
        (["start", "5m", "--label", "x" * 201, *s], "bad-label", [2]),
        ([rnd.choice(ACTIONS[1:5]), "--bogus", *s], "unknown-option", [2]),
        (["frobnicate", *s], "unknown-command", [2]),
        ([rnd.choice(ACTIONS[1:5]), "--session", "no such session"], "bad-session-name", [2]),
        (
            [rnd.choice(("pause", "stop", "status")), "--session", f"nosuch-{user}"],
            "unknown-session",
            [2],
        ),
        (["--user", f"{user}-outsider", rnd.choice(ACTIONS[1:5]), *s], "non-member", [1]),
        (["--user", f"{user}-outsider", "status", "--json", *s], "non-member", [1]),
        (["log", "--limit", "0", *s], "bad-limit", [2]),
        (["status", "--json", "--format", "{phase}", *s], "bad-flags", [2]),
    ]
    return rnd.choice(invalid)


def run_member(rec: Recorder, session: str, seconds: float, rnd: random.Random) -> None:
    count_cas_refusals(rec, session)
    while True:
        line = sys.stdin.readline().strip()
        if line == "create":
            rec.focus(["session", "create", session], "setup", [0], phase="setup")
            got = rec.focus(
                ["session", "invite", "--json", "--session", session], "setup", [0], phase="setup"
            )
            code = json.loads(got["out"])["code"] if got["code"] == 0 else "NOCODE"
            proto(f"code {code}")
        elif line.startswith("join "):
            rec.focus(["join", session, "--code", line.split()[1]], "setup", [0], phase="setup")
            proto("ready")
        elif line == "go":
            break
        else:
            raise SystemExit(f"storm worker: unexpected {line!r}")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        argv, kind, expect = member_command(rnd, rec.user, session)
        rec.focus(argv, kind, expect)
    proto("stormed")
    line = sys.stdin.readline().strip()
    if line == "settle":  # freeze the timer so that every later status is the same for everyone
        for _ in range(3):
            got = rec.focus(
                ["status", "--json", "--session", session], "status", [0], phase="settle"
            )
            if got["code"] != 0 or json.loads(got["out"])["status"] != "running":
                break
            rec.focus(["pause", "--session", session], "action", [0, 3], phase="settle")
        proto("settled")
        line = sys.stdin.readline().strip()
    if line != "final":
        raise SystemExit(f"storm worker: expected 'final', got {line!r}")
    rec.focus(["status", "--json", "--session", session], "status", [0], phase="final")
    rec.focus(
        ["log", "--json", "--limit", "10000", "--session", session], "log", [0], phase="final"
    )


# ---------------------------------------------------------------------------------------------
# Attackers: raw REST, every write something the rules must refuse


class Rest:
    def __init__(self, url: str) -> None:
        import requests

        parts = urlsplit(url)
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.ns = parse_qs(parts.query)["ns"][0]
        self.http = requests.Session()

    def call(
        self, method: str, path: str, uid: str | None, body: Any = None, admin: bool = False
    ) -> Any:
        params = {"ns": self.ns}
        headers = {}
        if uid is not None or admin:
            headers["Authorization"] = "Bearer owner"
        if uid is not None:
            # As the member's ID token would say: their uid and their display name (here the same).
            params["auth_variable_override"] = json.dumps({"uid": uid, "token": {"name": uid}})
        kwargs: dict[str, Any] = {"params": params, "headers": headers, "timeout": 10}
        if body is not None or method in ("PUT", "PATCH"):
            kwargs["data"] = json.dumps(body)
        return self.http.request(method, f"{self.base}/{path.strip('/')}.json", **kwargs)


def legit_write(state_raw: Any, user: str, rnd: random.Random) -> dict[str, Any]:
    """The update a well-behaved client would send now (as focuscli.service.Focus.act builds it)."""
    from focuscli import plan, timer
    from focuscli.backend import to_wire
    from focuscli.timer import TimerState

    state = TimerState.from_wire(state_raw)
    now = int(time.time() * 1000)
    choices = {
        "idle": ["start"],
        "running": ["pause", "extend", "skip", "stop"],
        "paused": ["resume", "extend", "stop"],
    }[state.status]
    name = rnd.choice(choices)
    try:
        if name == "start":
            new = timer.start(state, user, now, duration_ms=rnd.choice((5_000, 60_000)))
        elif name == "extend":
            new = timer.extend(state, user, now, 30_000)
        else:
            new = getattr(timer, name)(state, user, now)
    except timer.TimerError:  # a running phase that is over: start the next one
        new = timer.stop(state, user, now)
    new = replace(new, updated_by_name=user)
    # the entry as the CLI makes it (a skip of a labelled block carries its label, as the rules ask)
    entry = plan.log_entry(new, user, user, secrets.token_urlsafe(12), {"ms": 30_000} if new.action == "extend" else None)
    wire: dict[str, Any] = to_wire({"state": new.to_wire(), f"log/{new.rev}": entry})
    return wire


def mallory_attack(
    name: str, legit: dict[str, Any], rev: int, session: str, victim: str, rnd: random.Random
) -> tuple[str, str, Any]:
    """(method, path, body) of attack `name` on top of a legitimate update of rev `rev` + 1."""
    sess = f"sessions/{session}"
    body = json.loads(json.dumps(legit))
    state, key = body["state"], f"log/{rev + 1}"
    entry = body[key]
    now = int(time.time() * 1000)
    old = rnd.randint(1, rev) if rev >= 1 else 1
    if name == "forge-updated_at":
        state["updated_at"] = now - 60_000
    elif name == "forge-future":
        state["updated_at"] = now + 60_000
        entry["at"] = now + 60_000
    elif name == "forge-log-at":
        entry["at"] = now - 3_600_000
    elif name == "forge-started_at":
        state.update(status="running", started_at=now - 600_000, offset_ms=0)
        state.pop("paused_at", None)
    elif name == "skip-rev":  # far ahead: rev + 2 may be legitimate by the time it lands
        state["rev"] = entry["rev"] = rev + 1000
        body = {"state": state, f"log/{rev + 1000}": entry}
    elif name == "rev-rollback":
        state["rev"] = entry["rev"] = rev - 1
        body = {"state": state, f"log/{rev - 1}": entry}
    elif name == "same-rev":
        state["rev"] = entry["rev"] = rev
        body = {"state": state, f"log/{rev}": entry}
    elif name == "state-without-log":
        body = {"state": state}
    elif name == "state-field-only":
        return "PATCH", f"{sess}/state", {"label": "pwned"}
    elif name == "log-without-state":
        return "PUT", f"{sess}/{key}", entry
    elif name == "rewrite-log":
        return (
            "PUT",
            f"{sess}/log/{old}",
            {"action": "stop", "by": "mallory", "at": {".sv": "timestamp"}, "rev": old},
        )
    elif name == "rewrite-log-field":
        return "PUT", f"{sess}/log/{old}/by", "mallory"
    elif name == "delete-log":
        return "DELETE", f"{sess}/log/{old}", None
    elif name == "delete-log-with-cas":
        body[f"log/{old}"] = None
    elif name == "rewrite-log-with-cas":
        body[f"log/{old}/by"] = "mallory"
    elif name == "impersonate":
        state["updated_by"] = entry["by"] = victim
    elif name == "log-by-other":
        entry["by"] = victim
    elif name == "forge-name":  # one's own uid, someone else's name
        state["updated_by_name"] = entry["name"] = victim
    elif name == "unknown-field":
        state["hacked"] = True
    elif name == "bad-status":
        state["status"] = "frozen"
    elif name == "overlong-phase":
        state.update(
            status="running", duration_ms=10**9, started_at={".sv": "timestamp"}, offset_ms=0
        )
        state.pop("paused_at", None)
    elif name == "delete-state":
        return "DELETE", f"{sess}/state", None
    elif name == "other-member-heartbeat":
        return "PATCH", f"{sess}/members/{victim}", {"seen_at": {".sv": "timestamp"}}
    elif name == "kick-member":
        return "DELETE", f"{sess}/members/{victim}", None
    elif name == "rejoin-other":
        return "PUT", f"{sess}/members/{victim}", {"joined_at": {".sv": "timestamp"}}
    elif name == "steal-owner":
        return "PATCH", f"{sess}/meta", {"owner": "mallory"}
    elif name == "new-invite":
        return "PUT", f"invites/{session}", {"code": "MALLORYCODE1"}
    elif name == "delete-session":
        return "PATCH", "/", {sess: None, f"invites/{session}": None}
    elif name == "replace-session":
        return "PUT", sess, {"meta": {"owner": "mallory", "created_at": {".sv": "timestamp"}}}
    else:
        raise AssertionError(name)
    return "PATCH", sess, body


MALLORY_ATTACKS = (
    "forge-updated_at", "forge-future", "forge-log-at", "forge-started_at", "skip-rev",
    "rev-rollback", "same-rev", "state-without-log", "state-field-only", "log-without-state",
    "rewrite-log", "rewrite-log-field",
    "delete-log", "delete-log-with-cas", "rewrite-log-with-cas", "impersonate", "log-by-other",
    "forge-name", "unknown-field", "bad-status", "overlong-phase", "delete-state", "other-member-heartbeat",
    "kick-member", "rejoin-other", "steal-owner", "new-invite", "delete-session", "replace-session",
)  # fmt: skip

EVE_ATTACKS = (
    "read-state", "read-log", "read-invite", "read-members", "cas-as-outsider", "join-wrong-code",
    "join-no-code", "join-as-victim", "heartbeat", "create-over-existing", "anonymous-read",
    "anonymous-cas", "anonymous-join",
)  # fmt: skip


def run_attacker(rec: Recorder, role: str, session: str, seconds: float, rnd: random.Random,
                 owner: str, victims: list[str]) -> None:  # fmt: skip
    rest = Rest(os.environ["FOCUS_DATABASE_URL"])
    user = rec.user
    while True:
        line = sys.stdin.readline().strip()
        if line.startswith("join "):
            if role == "mallory":  # a member: joins like anyone with the code, then attacks
                code = line.split()[1]
                # The last seat (the CLI's members take the lowest free ones) and a first slot.
                got = rest.call("PATCH", "/", user, {
                    f"sessions/{session}/members/{user}": {"joined_at": {".sv": "timestamp"}, "code": code, "name": user,
                                                          "seat": 200},
                    f"sessions/{session}/seats/200": user,
                    f"users/{user}/sessions/{session}": {"joined_at": {".sv": "timestamp"}, "slot": 1},
                    f"users/{user}/slots/1": session,
                })  # fmt: skip
                rec.attacks.append(
                    {"attack": "join (legit)", "status": got.status_code, "expect": [200]}
                )
            # One CLI command now (it measures the server clock), so the final one is quick.
            expect = [0] if role == "mallory" else [1]
            rec.focus(["status", "--json", "--session", session], "status", expect, phase="setup")
            proto("ready")
        elif line == "go":
            break
        else:
            raise SystemExit(f"storm worker: unexpected {line!r}")
    kinds = MALLORY_ATTACKS if role == "mallory" else EVE_ATTACKS
    rec.kinds = list(kinds)
    queue: list[str] = []  # every kind in turn, each round in a random order
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t0 = time.time()
        if not queue:
            queue = rnd.sample(kinds, len(kinds))
        # What the state is now: mallory reads it as a member; eve gets it from an accomplice
        # (admin), so that non-membership is the only thing wrong with her writes.
        got = rest.call("GET", f"sessions/{session}/state", user if role == "mallory" else None,
                        admin=role == "eve")  # fmt: skip
        if got.status_code != 200:
            rec.attacks.append({"attack": "read-state (setup)", "status": got.status_code, "expect": [200],
                                "t0": t0})  # fmt: skip
            continue
        raw = got.json()
        rev = raw["rev"] if isinstance(raw, dict) else 0
        legit = legit_write(raw, user, rnd)
        if role == "mallory":
            if rnd.random() < 0.08:  # a control: the same write unperturbed is accepted
                got = rest.call("PATCH", f"sessions/{session}", user, legit)
                record: dict[str, Any] = {"attack": "control", "status": got.status_code,
                                          "expect": [200, 401], "rev": rev + 1,
                                          "action": legit["state"]["action"], "t0": t0}  # fmt: skip
                if got.status_code == 401:  # only a lost race may refuse it
                    now_raw = rest.call("GET", f"sessions/{session}/state/rev", user).json()
                    record["race"] = now_raw != rev
                record["t1"] = time.time()
                rec.attacks.append(record)
                continue
            name = queue.pop()
            if rev < 1 and name.endswith("-log-with-cas"):  # no history yet to rewrite with it
                name = "forge-log-at"
            if rev < 2 and name == "rev-rollback":  # no earlier rev to roll back to
                name = "same-rev"
            method, path, body = mallory_attack(name, legit, rev, session, rnd.choice(victims), rnd)
            got = rest.call(method, path, user, body)
        else:
            name = queue.pop()
            method, path, body, uid = eve_attack(
                name, legit, session, owner, rnd.choice(victims), user
            )
            got = rest.call(method, path, uid, body)
        rec.attacks.append({"attack": name, "method": method, "path": path, "status": got.status_code,
                            "expect": [401], "body": got.text[:200], "t0": t0})  # fmt: skip
    proto("stormed")
    line = sys.stdin.readline().strip()
    if line != "final":
        raise SystemExit(f"storm worker: expected 'final', got {line!r}")
    # The rules apply to reading too: mallory sees what every member sees, eve nothing.
    expect = [0] if role == "mallory" else [1]
    rec.focus(["status", "--json", "--session", session], "status", expect, phase="final")
    rec.focus(
        ["log", "--json", "--limit", "10000", "--session", session], "log", expect, phase="final"
    )


def eve_attack(name: str, legit: dict[str, Any], session: str, owner: str, victim: str,
               user: str) -> tuple[str, str, Any, str | None]:  # fmt: skip
    """(method, path, body, acting uid or None for no credentials) of a non-member's attack."""
    sess = f"sessions/{session}"
    ts = {".sv": "timestamp"}
    member = {"joined_at": ts, "code": "WRONGCODE9"}
    body = legit  # built for `user`: only their non-membership is wrong with it
    if name == "read-state":
        return "GET", f"{sess}/state", None, user
    if name == "read-log":
        return "GET", f"{sess}/log", None, user
    if name == "read-invite":
        return "GET", f"invites/{session}", None, user
    if name == "read-members":
        return "GET", f"{sess}/members", None, user
    if name == "cas-as-outsider":
        return "PATCH", sess, body, user
    if name == "join-wrong-code":
        return (
            "PATCH",
            "/",
            {
                f"{sess}/members/{user}": member,
                f"users/{user}/sessions/{session}": {"joined_at": ts},
            },
            user,
        )
    if name == "join-no-code":
        return "PUT", f"{sess}/members/{user}", {"joined_at": ts}, user
    if name == "join-as-victim":
        return "PUT", f"{sess}/members/{victim}", member, user
    if name == "heartbeat":
        return "PATCH", f"{sess}/members/{user}", {"seen_at": ts}, user
    if name == "create-over-existing":
        return "PATCH", "/", {f"{sess}/meta": {"owner": user, "created_at": ts},
                              f"{sess}/members/{user}": {"joined_at": ts},
                              f"invites/{session}": {"code": "EVECODE123"}}, user  # fmt: skip
    if name == "anonymous-read":
        return "GET", sess, None, None
    if name == "anonymous-cas":
        return "PATCH", sess, body, None
    if name == "anonymous-join":
        return "PATCH", f"{sess}/members/{owner}", {"seen_at": ts}, None
    raise AssertionError(name)


def main() -> None:
    role, user, session, seconds, seed, out, *rest = sys.argv[1:]
    owner, victims = (rest[0], rest[1:]) if rest else (user, [user])
    rec = Recorder(user)
    rnd = random.Random(int(seed))
    # The warm imports the storm's in-process loop relies on (the CLI imports most lazily).
    import firebase_admin.db  # noqa: F401

    import focuscli.cli  # noqa: F401
    import focuscli.render  # noqa: F401
    import focuscli.service  # noqa: F401

    proto("loaded")
    try:
        if role == "member":
            run_member(rec, session, float(seconds), rnd)
        else:
            run_attacker(rec, role, session, float(seconds), rnd, owner, victims)
    finally:
        rec.dump(out, {"role": role})
    proto("done")
    os._exit(0)  # as focus's own entry point does: tearing down the SDK's modules is slow


if __name__ == "__main__":
    main()

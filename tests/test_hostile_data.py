"""Any JSON a member may write (the real rules decide), and any JSON an admin writes into a
session, leaves every read command and a watch standing: a documented exit code, never a
traceback, one stderr line when it fails (hypothesis, on one server for all examples)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import focus_env, point_cli_at, seed_profile

ROOT = Path(__file__).resolve().parent.parent
RULES = (ROOT / "firebase" / "database.rules.json").read_text()
SV = {".sv": "timestamp"}
CYCLE = {
    "focus_ms": 1_500_000,
    "short_break_ms": 300_000,
    "long_break_ms": 900_000,
    "long_every": 4,
    "auto_advance": False,
}
OP = "Ab3_-xYz09kLmNoP"
STATE_KEYS = ("rev", "status", "phase", "round", "duration_ms", "started_at", "offset_ms", "paused_at", "label",
              "cycle", "updated_at", "updated_by", "updated_by_name", "action")  # fmt: skip
ENTRY_KEYS = ("action", "by", "name", "at", "rev", "op", "phase", "ms", "label")
NUMBERS = (
    "rev",
    "round",
    "duration_ms",
    "offset_ms",
    "label",
    "phase",
)  # where the rules' holes were
MEMBER_KEYS = ("joined_at", "name", "seen_at", "away_at", "code")

# Every read command, and the exit codes it documents (2: the session is gone, as when its meta
# is deleted; wait: 4 on --timeout, 5 when stopped).
READS: list[tuple[list[str], set[int]]] = [
    (["status"], {0, 1, 2}),
    (["status", "--json"], {0, 1, 2}),
    (
        [
            "status",
            "--format",
            "{phase} {status} {remaining} {label} {round} {updated_by} {members}",
        ],
        {0, 1, 2},
    ),
    (["who"], {0, 1, 2}),
    (["who", "--json"], {0, 1, 2}),
    (["log"], {0, 1, 2}),
    (["log", "--json"], {0, 1, 2}),
    (["report", "--json"], {0, 1, 2}),
    (["wait", "--until", "break", "--timeout", "1s"], {0, 1, 2, 4, 5}),
]

# -- values ------------------------------------------------------------------------------------

key = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789-", min_size=1, max_size=8)
scalar = (
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.sampled_from([0, 1, -1, 2**53, 0.5, -1e12, 1e300])
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
    | st.sampled_from(["idle", "running", "paused", "focus", "short_break", "long_break", "start", "reset"])
)  # fmt: skip
json_value = st.recursive(
    scalar,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(key | st.sampled_from(STATE_KEYS), inner, max_size=4)
    ),
    max_leaves=8,
)


# Values the rules may well let through where a number or a text is due: odd numbers (fractions,
# extremes, negatives) and any text.
plausible = (
    st.integers(-(2**53), 2**53) | st.floats(-1e13, 1e13, allow_nan=False)
    | st.sampled_from([0.5, 2.5, -1, 0, 7.0, 1e12, -1e12, 172_800_000, 2**53, 2**60, -(2**60), 1e300, -1e300])
    | st.text(max_size=8)
)  # fmt: skip


def mutated(
    base: dict[str, Any], keys: tuple[str, ...], values: Any = None, fewest: int = 1
) -> st.SearchStrategy[dict[str, Any]]:
    """``base`` with ``fewest`` to 3 of ``keys`` given other values (arbitrary JSON unless
    ``values`` says; None: dropped)."""
    changes = st.dictionaries(
        st.sampled_from(keys), json_value if values is None else values, min_size=fewest, max_size=3
    )
    return changes.map(lambda ch: {k: v for k, v in {**base, **ch}.items() if v is not None})


def running_state(rev: int, by: str = "bob") -> dict[str, Any]:
    return {"rev": rev, "status": "running", "phase": "focus", "round": 1, "duration_ms": 1_500_000, "started_at": SV,
            "offset_ms": 0, "cycle": CYCLE, "updated_at": SV, "updated_by": by, "updated_by_name": by, "action": "start"}  # fmt: skip


def entry(rev: int, by: str = "bob") -> dict[str, Any]:
    return {
        "action": "start",
        "by": by,
        "name": by,
        "at": SV,
        "rev": rev,
        "op": OP,
        "phase": "focus",
        "ms": 1_500_000,
    }


def baseline(now: int) -> dict[str, Any]:
    """team, owned by ana, with bob a member and one start whose focus is over (so that
    `focus wait --until break` answers at once): what every example begins from."""
    began = now - 1_501_000
    state = {**running_state(1, "ana"), "started_at": began, "updated_at": began}
    return {
        "meta": {"owner": "ana", "created_at": now},
        "members": {"ana": {"joined_at": now, "name": "ana"}, "bob": {"joined_at": now, "name": "bob"}},
        "state": state, "states": {"1": state}, "log": {"1": {**entry(1, "ana"), "at": began}},
    }  # fmt: skip


# A member's write: the action (compare-and-set) shape with arbitrary fields, or arbitrary JSON
# at every node a member writes; the rules refuse what they refuse.
member_write = st.one_of(
    st.tuples(mutated(running_state(2), NUMBERS, plausible, 0), st.just(entry(2)) | mutated(entry(2), ENTRY_KEYS, plausible)).map(
        lambda se: ("PATCH", "sessions/team", {"state": se[0], "log/2": se[1], "states/2": se[0]})
    ),
    mutated({"joined_at": SV, "name": "bob"}, MEMBER_KEYS, plausible).map(lambda v: ("PUT", "sessions/team/members/bob", v)),
    st.tuples(st.sampled_from(["members/bob", "state", "meta", "log/2", "states/2", "presence/span0001", "roster/entry001"]),
              json_value).map(lambda pv: ("PUT", f"sessions/team/{pv[0]}", pv[1])),
    st.dictionaries(st.sampled_from(["state", "log/2", "states/2", "members/bob/seen_at", "members/bob/name",
                                     "presence/span0001", "roster/entry001", "meta/owner"]), json_value, min_size=1, max_size=3)
    .map(lambda body: ("PATCH", "sessions/team", body)),
)  # fmt: skip
SPAN = {"uid": "bob", "name": "bob", "from": SV, "seen": SV}
ROSTER = {"uid": "bob", "name": "bob", "event": "joined", "at": SV, "by": "bob"}
# Numbers no clock or counter can use: years away, fractions, past 2**53.
extreme = st.sampled_from([2**60, -(2**60), 1e300, -1e300, 0.5, -1, 2**53 + 2, 1e16, 7.0])
odd = extreme | plausible
# An admin's write: any JSON at any node of the session, or, in one update, a record of the
# right shape with odd values at every kind of record (state, log entry, state record, member,
# presence span, roster entry), so that every reader meets one.
admin_write = st.one_of(
    st.tuples(
        st.sampled_from(["state", "log", "log/1", "log/2", "members", "members/ana", "members/bob", "meta", "meta/owner",
                         "states", "states/1", "presence", "roster", "state/cycle", "state/rev", "state/offset_ms"]),
        json_value | mutated(running_state(1), STATE_KEYS),
    ).map(lambda pv: ("PUT", f"sessions/team/{pv[0]}", pv[1])),
    st.fixed_dictionaries({
        "state": mutated(running_state(2), STATE_KEYS, odd, 0),
        "log/2": mutated(entry(2), ENTRY_KEYS, odd, 0),
        "states/2": mutated(running_state(2), STATE_KEYS, odd, 0),
        "members/bob": mutated({"joined_at": SV, "name": "bob", "seen_at": SV}, MEMBER_KEYS, odd, 0),
        "presence/span0001": mutated(SPAN, (*SPAN, "to"), odd, 0),
        "roster/entry001": mutated(ROSTER, tuple(ROSTER), odd, 0),
    }).map(lambda body: ("PATCH", "sessions/team", body)),
)  # fmt: skip


# -- the server and the reader ------------------------------------------------------------------


@pytest.fixture
def world(
    rest: Any,
    server_url: str,
    ns: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Any,
) -> Any:
    rest.set_rules(RULES)
    point_cli_at(monkeypatch, f"{server_url}?ns={ns}", user="ana", columns=120)
    seed_profile(f"{server_url}?ns={ns}", tmp_path / "ana" / "config", "ana")

    class World:
        def reset(self) -> None:
            now = int(time.time() * 1000)
            assert rest.put("/sessions/team.json", baseline(now)).status_code == 200

        def write(self, uid: str | None, method: str, path: str, body: Any) -> int:
            params = (
                {
                    "auth_variable_override": json.dumps(
                        {"uid": uid, "token": {"name": uid, "sub": uid}}
                    )
                }
                if uid
                else None
            )
            return int(
                rest.request(
                    method, f"/{path}.json", data=json.dumps(body), params=params
                ).status_code
            )

        def read(self, argv: list[str]) -> Any:
            return run_cli([*argv, "--session", "team"], tmp_path / "ana")

    return World()


def _check(world: Any) -> None:
    for argv, codes in READS:
        got = world.read(argv)
        assert got.code in codes, (argv, got)
        assert "Traceback" not in got.err and "internal error" not in got.err, (argv, got)
        if got.code != 0:
            assert got.err.count("\n") == 1 and got.err.startswith("focus: "), (argv, got)


def bounded(examples: int) -> Any:
    """At most ``examples`` examples, on the one server and session (each example resets it):
    the file runs in under 30 s."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


@bounded(15)
@given(
    writes=st.lists(
        st.tuples(st.sampled_from(["ana", "bob"]), member_write), min_size=1, max_size=3
    )
)
def test_what_members_may_write_leaves_every_read_standing(world: Any, writes: list[Any]) -> None:
    world.reset()
    for uid, (method, path, body) in writes:
        assert world.write(uid, method, path, body) in (200, 400, 401)  # accepted, or refused whole
    _check(world)


@bounded(12)
@given(writes=st.lists(admin_write, min_size=1, max_size=4))
def test_what_an_admin_writes_into_a_session_leaves_every_read_standing(
    world: Any, writes: list[Any]
) -> None:
    world.reset()
    for method, path, body in writes:
        assert world.write(None, method, path, body) == 200
    _check(world)


@pytest.fixture
def watcher(world: Any, server_url: str, ns: str, tmp_path: Path) -> Any:
    """`focus watch --json` as ana, its lines in a queue."""
    world.reset()
    env = focus_env(f"{server_url}?ns={ns}", "ana", tmp_path / "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "focuscli", "watch", "--json", "--session", "team"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: Queue[str] = Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    proc.lines = lines  # type: ignore[attr-defined]
    yield proc
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert (proc.returncode, err.replace("\a", "")) == (130, "")  # (the bell rings at phase ends)


# What the watch is shown: every admin write but those to ana's own membership (removed, a watch
# ends, as it should).
OWN = ("sessions/team/members", "sessions/team/members/ana")
watched_write = admin_write.filter(lambda write: write[1] not in OWN)


def _until(proc: Any, label: str) -> list[dict[str, Any]]:
    """The watch's events up to the one showing the timer with ``label`` (at most 10 s)."""
    seen: list[dict[str, Any]] = []
    give_up = time.monotonic() + 10
    while time.monotonic() < give_up:
        try:
            event = json.loads(proc.lines.get(timeout=0.2))
        except Empty:
            assert proc.poll() is None, _ended(proc)
            continue
        seen.append(event)
        if event.get("label") == label:
            return seen
    raise AssertionError(f"no event with label {label!r} in {seen[-5:]}")


def _ended(proc: Any) -> str:
    proc.wait(timeout=5)
    assert proc.stderr is not None
    return f"the watch ended ({proc.returncode}): {proc.stderr.read()}"


@bounded(15)
@given(writes=st.lists(watched_write, min_size=1, max_size=4))
def test_a_watch_goes_on_over_any_states(world: Any, watcher: Any, writes: list[Any]) -> None:
    for method, path, body in writes:
        assert world.write(None, method, path, body) == 200  # each streamed, each shown
    label = f"sane {time.monotonic_ns()}"
    world.reset()
    assert world.write(None, "PATCH", "sessions/team/state", {"label": label, "rev": 2}) == 200
    for event in _until(watcher, label):
        assert event["event"] in (
            "state",
            "phase_end",
            "member_joined",
            "member_left",
            "connection",
            "malformed",
        )
        assert event["session"] == "team" and event["schema"] == 1
        if event["event"] == "malformed":
            assert (
                "focus reset --session team" in event["error"] or "an admin must" in event["error"]
            )
    assert watcher.poll() is None

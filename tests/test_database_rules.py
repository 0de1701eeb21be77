"""The shipped security rules (firebase/database.rules.json) against the data model of design.md.

Every test loads the REAL rules file into a fresh namespace, arranges data as admin (`Bearer
owner`), then acts as a user through `auth_variable_override` and asserts both the verdict
(200 allowed / 401 denied) and the resulting data read back as admin: a denied request must
leave the database exactly as it was. Runs against `focus serve` or, with
FIREBASE_DATABASE_EMULATOR_HOST set, the official emulator.

Cast: session `s1` owned by `ana`; `bob` is a member; `cara` is a signed-in non-member;
`ANON` is an unauthenticated caller.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
RULES_FILE = ROOT / "firebase" / "database.rules.json"

SV = {".sv": "timestamp"}
CODE = "Inv1te-code_0042"
# Each member's seat in s1 (the ceiling of members per session: docs/design.md, "What the rules
# admit, and the ceilings").
SEATS = {"ana": 1, "bob": 2, "cara": 3, "dan": 4, "eve": 5}
OP = "Ab3_-xYz09kLmNoP"  # an action's operation id, as secrets.token_urlsafe(12) makes them
HOUR = 3_600_000
OLD = 1_000_000  # a timestamp from 1970: long past, so "idle" and "not now"
CYCLE = {
    "focus_ms": 1_500_000,
    "short_break_ms": 300_000,
    "long_break_ms": 900_000,
    "long_every": 4,
    "auto_advance": True,
}
DROP = object()  # marks a field to remove from a request body
ANON = object()  # acting as an unauthenticated caller (auth == null)


# --------------------------------------------------------------------------------------------
# Helpers


def as_user(uid: Any, name: str | None = None) -> dict[str, str]:
    """Query parameters that make an admin request run as `uid` (ANON: unauthenticated), whose
    ID token names them `name` (default: the uid itself, as in the cast below)."""
    auth = None if uid is ANON else {"uid": uid, "token": {"name": uid if name is None else name, "sub": uid}}
    return {"auth_variable_override": json.dumps(auth)}


def url(path: str) -> str:
    return "/.json" if path.strip("/") == "" else "/" + path.strip("/") + ".json"


def now_ms() -> int:
    return int(time.time() * 1000)


def assert_server_time(value: Any) -> None:
    """A resolved server timestamp: an integer close to this machine's clock."""
    assert isinstance(value, int) and not isinstance(value, bool), value
    assert abs(value - now_ms()) < 120_000, value


def as_object(value: Any) -> Any:
    """RTDB returns objects with integer keys (the log, keyed by rev) as JSON arrays when they are
    dense enough; turn those back into objects keyed by the index, recursively."""
    if isinstance(value, list):
        return {str(i): as_object(v) for i, v in enumerate(value) if v is not None}
    if isinstance(value, dict):
        return {k: as_object(v) for k, v in value.items()}
    return value


def override(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if value is DROP:
            out.pop(key, None)
        else:
            out[key] = value
    return out


class Db:
    """The test namespace with the real rules loaded; writes/reads as a given user."""

    def __init__(self, rest: Any) -> None:
        self.rest = rest
        rest.set_rules(RULES_FILE.read_text())

    # admin
    def seed(self, data: Any) -> None:
        resp = self.rest.put("/.json", data=json.dumps(data).encode())
        assert resp.status_code == 200, resp.text

    def value(self, path: str = "/") -> Any:
        return as_object(self.rest.value(url(path)))

    # as a user
    def get(self, uid: Any, path: str, **query: str) -> requests.Response:
        return self.rest.get(url(path), params={**as_user(uid), **query})

    def patch(self, uid: Any, path: str, body: dict[str, Any]) -> requests.Response:
        return self.rest.patch(url(path), body, params=as_user(uid))

    def put(self, uid: Any, path: str, body: Any) -> requests.Response:
        return self.rest.put(url(path), body, params=as_user(uid))

    def delete(self, uid: Any, path: str) -> requests.Response:
        return self.rest.delete(url(path), params=as_user(uid))

    def denied(self, resp: requests.Response, before: Any) -> None:
        """401 Permission denied, and nothing changed."""
        assert resp.status_code == 401, resp.text
        assert resp.json() == {"error": "Permission denied"}
        assert self.value() == before, "a denied request changed the data"


@pytest.fixture
def db(rest: Any) -> Db:
    return Db(rest)


def session_data(
    *,
    owner: str = "ana",
    members: tuple[str, ...] = ("ana", "bob"),
    created_at: Any = OLD,
    state: dict[str, Any] | None = None,
    log: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Admin-side data for one session (timestamps are plain numbers unless given as SV)."""
    session: dict[str, Any] = {
        "meta": {"owner": owner, "created_at": created_at},
        "members": {m: {"joined_at": OLD, "name": m, "seat": SEATS[m]} for m in members},
        "seats": {str(SEATS[m]): m for m in members},
    }
    if state is not None:
        session["state"] = state
    if log is not None:
        session["log"] = log
    return session


def world(**kw: Any) -> dict[str, Any]:
    """s1 (ana owner, bob member) with its invite and users' lists; cara and dan exist as users."""
    members = kw.get("members", ("ana", "bob"))
    return {
        "sessions": {"s1": session_data(**kw)},
        "invites": {"s1": {"code": CODE}},
        "users": {
            **{m: {"sessions": {"s1": {"joined_at": OLD, "slot": 1}}, "slots": {"1": "s1"}} for m in members},
            "cara": {"clock": OLD},
        },
    }


def running_state(rev: int = 1, **changes: Any) -> dict[str, Any]:
    """A stored state (admin seed): running since OLD, last touched at `updated_at`."""
    base = {
        "rev": rev,
        "status": "running",
        "phase": "focus",
        "round": 1,
        "duration_ms": 1_500_000,
        "started_at": OLD,
        "offset_ms": 0,
        "cycle": CYCLE,
        "updated_at": OLD,
        "updated_by": "ana",
        "updated_by_name": "ana",
        "action": "start",
    }
    return override(base, changes)


def stored_entry(rev: int, action: str = "start", by: str = "ana") -> dict[str, Any]:
    return {"action": action, "by": by, "name": by, "at": OLD, "rev": rev}


def seeded_world(**state_changes: Any) -> dict[str, Any]:
    """s1 with a state at rev 1 (running since OLD) and its log entry."""
    return world(state=running_state(1, **state_changes), log={"1": stored_entry(1)})


def stopped_world(**state_changes: Any) -> dict[str, Any]:
    """s1 whose timer is stopped (status idle) at rev 1."""
    data = seeded_world(**state_changes)
    state = data["sessions"]["s1"]["state"]
    state["status"] = "idle"
    state.pop("started_at", None)
    state.pop("paused_at", None)
    return data


# The client's writes, exactly as the CLI sends them -----------------------------------------


def create_body(uid: str = "ana", sid: str = "s1", code: str = CODE, slot: int = 1) -> dict[str, Any]:
    return {
        f"sessions/{sid}/meta": {"owner": uid, "created_at": SV},
        f"sessions/{sid}/members/{uid}": {"joined_at": SV, "name": uid, "seat": 1},
        f"sessions/{sid}/seats/1": uid,
        f"invites/{sid}": {"code": code},
        f"users/{uid}/sessions/{sid}": {"joined_at": SV, "slot": slot},
        f"users/{uid}/slots/{slot}": sid,
    }


def join_body(uid: str, code: Any = CODE, sid: str = "s1", seat: int | None = None, slot: int = 1) -> dict[str, Any]:
    seat = SEATS[uid] if seat is None else seat
    member: dict[str, Any] = {"joined_at": SV, "name": uid, "seat": seat}
    if code is not None:
        member["code"] = code
    return {
        f"sessions/{sid}/members/{uid}": member,
        f"sessions/{sid}/seats/{seat}": uid,
        f"users/{uid}/sessions/{sid}": {"joined_at": SV, "slot": slot},
        f"users/{uid}/slots/{slot}": sid,
    }


def leave_body(uid: str, sid: str = "s1") -> dict[str, Any]:
    return {
        f"sessions/{sid}/members/{uid}": None,
        f"sessions/{sid}/seats/{SEATS[uid]}": None,
        f"users/{uid}/sessions/{sid}": None,
        f"users/{uid}/slots/1": None,
    }


def delete_body(sid: str = "s1") -> dict[str, Any]:
    return {f"sessions/{sid}": None, f"invites/{sid}": None}


def pause_body(
    by: str = "ana",
    rev: int = 2,
    state: dict[str, Any] | None = None,
    entry: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A pause of the seeded rev-1 state (started_at unchanged, paused_at = now), as one CAS."""
    new_state = {
        "rev": rev,
        "status": "paused",
        "phase": "focus",
        "round": 1,
        "duration_ms": 1_500_000,
        "started_at": OLD,
        "offset_ms": 0,
        "paused_at": SV,
        "cycle": CYCLE,
        "updated_at": SV,
        "updated_by": by,
        "updated_by_name": by,
        "action": "pause",
    }
    new_entry = {"action": "pause", "by": by, "name": by, "at": SV, "rev": rev}
    return {
        "state": override(new_state, state or {}),
        f"log/{rev}": override(new_entry, entry or {}),
    }


def start_body(by: str = "ana", rev: int = 1, **state_changes: Any) -> dict[str, Any]:
    """A start (new anchor at now) on top of rev - 1."""
    new_state = {
        "rev": rev,
        "status": "running",
        "phase": "focus",
        "round": 1,
        "duration_ms": 1_500_000,
        "started_at": SV,
        "offset_ms": 0,
        "label": "write the report",
        "cycle": CYCLE,
        "updated_at": SV,
        "updated_by": by,
        "updated_by_name": by,
        "action": "start",
    }
    return {
        "state": override(new_state, state_changes),
        f"log/{rev}": {
            "action": "start", "by": by, "name": by, "at": SV, "rev": rev, "label": "write the report",
            "phase": "focus", "ms": 1_500_000,
        },
    }


# --------------------------------------------------------------------------------------------
# 1. Creating a session


def test_create_session(db: Db) -> None:
    resp = db.patch("ana", "/", create_body())
    assert resp.status_code == 200, resp.text
    data = db.value()
    meta = data["sessions"]["s1"]["meta"]
    assert meta["owner"] == "ana"
    assert_server_time(meta["created_at"])
    assert data["sessions"]["s1"]["members"] == {"ana": {"joined_at": meta["created_at"], "name": "ana", "seat": 1}}
    assert data["invites"] == {"s1": {"code": CODE}}
    assert data["users"] == {"ana": {"sessions": {"s1": {"joined_at": meta["created_at"], "slot": 1}}, "slots": {"1": "s1"}}}
    assert data["sessions"]["s1"]["seats"] == {"1": "ana"}
    # The creator is a member: they read the whole session and the invite.
    assert db.get("ana", "sessions/s1").json()["meta"]["owner"] == "ana"
    assert db.get("ana", "invites/s1").json() == {"code": CODE}


@pytest.mark.parametrize(
    "code", ["abcdEFGH", "x" * 64, "0123-4567_89", "-_-_-_-_"], ids=["8", "64", "mixed", "symbols"]
)
def test_create_session_code_shapes_allowed(db: Db, code: str) -> None:
    assert db.patch("ana", "/", create_body(code=code)).status_code == 200
    assert db.value("invites/s1/code") == code


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


DENIED_CREATES: list[tuple[str, Any, dict[str, Any]]] = [
    ("unauthenticated", ANON, create_body()),
    ("owner is someone else", "ana", {**create_body(), "sessions/s1/meta": {"owner": "bob", "created_at": SV}}),
    ("created_at forged", "ana", {**create_body(), "sessions/s1/meta": {"owner": "ana", "created_at": 12345}}),
    ("created_at missing", "ana", {**create_body(), "sessions/s1/meta": {"owner": "ana"}}),
    ("extra meta field", "ana", {**create_body(), "sessions/s1/meta": {"owner": "ana", "created_at": SV, "x": 1}}),
    ("member joined_at forged", "ana", {**create_body(), "sessions/s1/members/ana": {"joined_at": 12345}}),
    ("user entry joined_at forged", "ana", {**create_body(), "users/ana/sessions/s1": {"joined_at": 12345}}),
    ("code too short", "ana", create_body(code="abc1234")),
    ("code too long", "ana", create_body(code="x" * 65)),
    ("code with a space", "ana", create_body(code="bad code!")),
    ("code not a string", "ana", {**create_body(), "invites/s1": {"code": 12345678}}),
    ("extra invite field", "ana", {**create_body(), "invites/s1": {"code": CODE, "x": 1}}),
    ("no invite", "ana", _without(create_body(), "invites/s1")),
    ("no member record", "ana", _without(create_body(), "sessions/s1/members/ana")),
    ("no meta", "ana", _without(create_body(), "sessions/s1/meta")),
    ("member record for someone else", "ana", {**_without(create_body(), "sessions/s1/members/ana"), "sessions/s1/members/bob": {"joined_at": SV}}),
    ("session id too long", "ana", create_body(sid="s" * 65)),
    ("invite only", "ana", {"invites/s1": {"code": CODE}}),
    ("whole session as one PUT-like value", "ana", {"sessions/s1": {"meta": {"owner": "ana", "created_at": SV}, "members": {"ana": {"joined_at": SV}}}, "invites/s1": {"code": CODE}}),
]


@pytest.mark.parametrize(("uid", "body"), [c[1:] for c in DENIED_CREATES], ids=[c[0] for c in DENIED_CREATES])
def test_create_session_denied(db: Db, uid: Any, body: dict[str, Any]) -> None:
    before = db.value()
    db.denied(db.patch(uid, "/", body), before)


@pytest.mark.parametrize("uid", ["ana", "bob", "cara"])
def test_create_existing_session_denied(db: Db, uid: str) -> None:
    """Only if sessions/S/meta does not exist: nobody takes over a session, not even its owner."""
    db.seed(world())
    before = db.value()
    db.denied(db.patch(uid, "/", create_body(uid=uid, code="Hijack-code-123")), before)


# --------------------------------------------------------------------------------------------
# 2. Joining, re-joining, leaving


def test_join_with_code(db: Db) -> None:
    db.seed(world())
    assert db.get("cara", "invites/s1").status_code == 401  # cara cannot read the code...
    resp = db.patch("cara", "/", join_body("cara"))  # ...but knows it from the owner
    assert resp.status_code == 200, resp.text
    data = db.value()
    member = data["sessions"]["s1"]["members"]["cara"]
    assert member["code"] == CODE
    assert_server_time(member["joined_at"])
    assert data["users"]["cara"]["sessions"]["s1"] == {"joined_at": member["joined_at"], "slot": 1}
    assert db.get("cara", "sessions/s1").status_code == 200
    assert db.get("cara", "invites/s1").json() == {"code": CODE}


DENIED_JOINS: list[tuple[str, Any, dict[str, Any]]] = [
    ("wrong code", "cara", join_body("cara", "Wrong-code-0042")),
    ("code of another session", "cara", join_body("cara", "Other-session-code")),
    ("no code", "cara", join_body("cara", None)),
    ("code as a number", "cara", join_body("cara", 12345678)),
    ("unauthenticated", ANON, join_body("cara")),
    ("adding someone else", "cara", join_body("dan")),
    ("member joined_at forged", "cara", {**join_body("cara"), "sessions/s1/members/cara": {"joined_at": 12345, "code": CODE}}),
    ("extra member field", "cara", {**join_body("cara"), "sessions/s1/members/cara": {"joined_at": SV, "code": CODE, "role": "owner"}}),
    ("no joined_at", "cara", {**join_body("cara"), "sessions/s1/members/cara": {"code": CODE}}),
    ("session that does not exist", "cara", join_body("cara", CODE, sid="nope")),
    ("owner re-join with a wrong code", "ana", join_body("ana", "Wrong-code-0042")),
    ("making oneself owner", "cara", {**join_body("cara"), "sessions/s1/meta/owner": "cara"}),
    ("rewriting the invite", "cara", {**join_body("cara"), "invites/s1/code": "Wrong-code-0042"}),
]


@pytest.mark.parametrize(("uid", "body"), [c[1:] for c in DENIED_JOINS], ids=[c[0] for c in DENIED_JOINS])
def test_join_denied(db: Db, uid: Any, body: dict[str, Any]) -> None:
    db.seed(world(members=("bob",)))  # the owner ana has left
    before = db.value()
    db.denied(db.patch(uid, "/", body), before)


def test_owner_rejoins_without_code(db: Db) -> None:
    db.seed(world(members=("bob",)))
    assert db.get("ana", "sessions/s1").status_code == 401  # left: no longer a member
    resp = db.patch("ana", "/", join_body("ana", None))
    assert resp.status_code == 200, resp.text
    member = db.value("sessions/s1/members/ana")
    assert set(member) == {"joined_at", "name", "seat"}
    assert_server_time(member["joined_at"])
    assert db.get("ana", "sessions/s1").status_code == 200


def test_leave(db: Db) -> None:
    db.seed(world())
    resp = db.patch("bob", "/", leave_body("bob"))
    assert resp.status_code == 200, resp.text
    data = db.value()
    assert set(data["sessions"]["s1"]["members"]) == {"ana"}
    assert "bob" not in data["users"]
    assert db.get("bob", "sessions/s1").status_code == 401
    assert db.get("bob", "invites/s1").status_code == 401


@pytest.mark.parametrize(
    ("uid", "body"),
    [
        ("bob", {"sessions/s1/members/ana": None}),  # a member is not the owner
        ("cara", leave_body("bob")),
        (ANON, {"sessions/s1/members/bob": None}),
        ("bob", {"sessions/s1/members": None}),
        ("ana", {"sessions/s1/members": None}),  # the owner removes one member at a time
        ("ana", {"sessions/s1/members/bob": {"joined_at": SV, "name": "bob"}}),  # nor rewrites one
    ],
    ids=["member removes the owner", "cara removes bob", "unauthenticated", "bob removes all members",
         "owner removes all members", "owner rewrites bob"],
)
def test_removing_others_denied(db: Db, uid: Any, body: dict[str, Any]) -> None:
    db.seed(world())
    before = db.value()
    db.denied(db.patch(uid, "/", body), before)


def test_member_record_is_written_only_by_its_user(db: Db) -> None:
    db.seed(world())
    before = db.value()
    db.denied(db.put("ana", "sessions/s1/members/bob", {"joined_at": SV}), before)
    db.denied(db.put("bob", "sessions/s1/members/bob/joined_at", 12345), before)


# --------------------------------------------------------------------------------------------
# 2b. Presence: a member's own heartbeat (members/$uid/seen_at = now)


def with_member_record(data: dict[str, Any], uid: str, **fields: Any) -> dict[str, Any]:
    data["sessions"]["s1"]["members"][uid].update(fields)
    return data


ALLOWED_HEARTBEATS: list[tuple[str, str, str, str, Any]] = [
    ("patch of the record", "bob", "patch", "sessions/s1/members/bob", {"seen_at": SV}),
    ("put of seen_at", "bob", "put", "sessions/s1/members/bob/seen_at", SV),
    ("multi-path patch of the session", "bob", "patch", "sessions/s1", {"members/bob/seen_at": SV}),
    ("owner", "ana", "patch", "sessions/s1/members/ana", {"seen_at": SV}),
]


@pytest.mark.parametrize(
    ("uid", "method", "path", "body"), [c[1:] for c in ALLOWED_HEARTBEATS], ids=[c[0] for c in ALLOWED_HEARTBEATS]
)
@pytest.mark.parametrize("record", ["first", "again", "joined with a code"])
def test_heartbeat(db: Db, uid: str, method: str, path: str, body: Any, record: str) -> None:
    data = world()
    if record == "again":
        with_member_record(data, uid, seen_at=OLD)
    elif record == "joined with a code":
        with_member_record(data, uid, code=CODE)
    db.seed(data)
    before = db.value()
    resp = db.patch(uid, path, body) if method == "patch" else db.put(uid, path, body)
    assert resp.status_code == 200, resp.text
    after = db.value()
    seen_at = after["sessions"]["s1"]["members"][uid]["seen_at"]
    assert_server_time(seen_at)
    expected = with_member_record(before, uid, seen_at=seen_at)
    assert after == expected  # only the heartbeat changed: joined_at, code and everyone else kept
    assert db.get("ana" if uid == "bob" else "bob", "sessions/s1/members").json()[uid]["seen_at"] == seen_at


DENIED_HEARTBEATS: list[tuple[str, Any, str, str, Any]] = [
    ("for someone else", "bob", "patch", "sessions/s1/members/ana", {"seen_at": SV}),
    ("owner for a member", "ana", "put", "sessions/s1/members/bob/seen_at", SV),
    ("someone else's, multi-path", "bob", "patch", "sessions/s1", {"members/ana/seen_at": SV}),
    ("forged in the past", "bob", "patch", "sessions/s1/members/bob", {"seen_at": OLD}),
    ("forged in the future", "bob", "put", "sessions/s1/members/bob/seen_at", 4_102_444_800_000),
    ("not a number", "bob", "put", "sessions/s1/members/bob/seen_at", "now"),
    ("as an object", "bob", "put", "sessions/s1/members/bob/seen_at", {"at": SV}),
    ("non-member", "cara", "patch", "sessions/s1/members/cara", {"seen_at": SV}),
    ("non-member, put", "cara", "put", "sessions/s1/members/cara/seen_at", SV),
    ("session that does not exist", "cara", "put", "sessions/nope/members/cara/seen_at", SV),
    ("unauthenticated", ANON, "patch", "sessions/s1/members/bob", {"seen_at": SV}),
    ("extra field", "bob", "patch", "sessions/s1/members/bob", {"seen_at": SV, "x": 1}),
    ("extra field, multi-path", "bob", "patch", "sessions/s1", {"members/bob/seen_at": SV, "members/bob/role": "owner"}),
    ("rewriting joined_at", "bob", "patch", "sessions/s1/members/bob", {"seen_at": SV, "joined_at": SV}),
    ("replacing the record", "bob", "put", "sessions/s1/members/bob", {"seen_at": SV}),
    ("with a state change", "bob", "patch", "sessions/s1", {"members/bob/seen_at": SV, "state/label": "x"}),
]


@pytest.mark.parametrize(
    ("uid", "method", "path", "body"), [c[1:] for c in DENIED_HEARTBEATS], ids=[c[0] for c in DENIED_HEARTBEATS]
)
def test_heartbeat_denied(db: Db, uid: Any, method: str, path: str, body: Any) -> None:
    db.seed(with_member_record(seeded_world(), "ana", seen_at=OLD))
    before = db.value()
    resp = db.patch(uid, path, body) if method == "patch" else db.put(uid, path, body)
    db.denied(resp, before)


@pytest.mark.parametrize("value", [OLD, 4_102_444_800_000, "now"], ids=["past", "future", "string"])
def test_forged_heartbeat_of_a_member_with_a_code_denied(db: Db, value: Any) -> None:
    """A record holding the invite code also passes the (re-)join grant: seen_at's own check
    (.validate: === now) still refuses a forged value."""
    db.seed(with_member_record(world(), "bob", code=CODE, seen_at=OLD + 1))
    before = db.value()
    db.denied(db.patch("bob", "sessions/s1/members/bob", {"seen_at": value}), before)


def test_heartbeat_of_a_member_who_left_denied(db: Db) -> None:
    """A heartbeat never re-creates a member record, not even the owner's (who may re-join)."""
    db.seed(world(members=("bob",)))
    before = db.value()
    db.denied(db.put("ana", "sessions/s1/members/ana/seen_at", SV), before)
    db.denied(db.patch("ana", "sessions/s1/members/ana", {"seen_at": SV}), before)
    assert db.patch("bob", "/", leave_body("bob")).status_code == 200
    gone = db.value()
    db.denied(db.patch("bob", "sessions/s1/members/bob", {"seen_at": SV}), gone)


def test_heartbeat_is_removed_by_others_never(db: Db) -> None:
    db.seed(with_member_record(world(), "bob", seen_at=OLD))
    before = db.value()
    db.denied(db.delete("ana", "sessions/s1/members/bob/seen_at"), before)
    db.denied(db.put("cara", "sessions/s1/members/bob/seen_at", SV), before)


# --------------------------------------------------------------------------------------------
# 2c. Presence: a watch that ends cleanly marks its member away (members/$uid/away_at = now)


ALLOWED_AWAY: list[tuple[str, str, str, str, Any]] = [
    ("put of away_at", "bob", "put", "sessions/s1/members/bob/away_at", SV),
    ("patch of the record", "bob", "patch", "sessions/s1/members/bob", {"away_at": SV}),
    ("multi-path patch of the session", "bob", "patch", "sessions/s1", {"members/bob/away_at": SV}),
    ("owner", "ana", "put", "sessions/s1/members/ana/away_at", SV),
]


@pytest.mark.parametrize(
    ("uid", "method", "path", "body"), [c[1:] for c in ALLOWED_AWAY], ids=[c[0] for c in ALLOWED_AWAY]
)
@pytest.mark.parametrize("record", ["after a heartbeat", "again", "joined with a code"])
def test_away(db: Db, uid: str, method: str, path: str, body: Any, record: str) -> None:
    data = with_member_record(world(), uid, seen_at=OLD)
    if record == "again":
        with_member_record(data, uid, away_at=OLD + 1)
    elif record == "joined with a code":
        with_member_record(data, uid, code=CODE)
    db.seed(data)
    before = db.value()
    resp = db.patch(uid, path, body) if method == "patch" else db.put(uid, path, body)
    assert resp.status_code == 200, resp.text
    after = db.value()
    away_at = after["sessions"]["s1"]["members"][uid]["away_at"]
    assert_server_time(away_at)
    assert after == with_member_record(before, uid, away_at=away_at)  # nothing else changed
    # and the next heartbeat is still accepted (here again)
    assert db.patch(uid, f"sessions/s1/members/{uid}", {"seen_at": SV}).status_code == 200


DENIED_AWAY: list[tuple[str, Any, str, str, Any]] = [
    ("for someone else", "bob", "put", "sessions/s1/members/ana/away_at", SV),
    ("owner for a member", "ana", "patch", "sessions/s1/members/bob", {"away_at": SV}),
    ("someone else's, multi-path", "bob", "patch", "sessions/s1", {"members/ana/away_at": SV}),
    ("forged in the past", "bob", "put", "sessions/s1/members/bob/away_at", OLD),
    ("forged in the future", "bob", "patch", "sessions/s1/members/bob", {"away_at": 4_102_444_800_000}),
    ("not a number", "bob", "put", "sessions/s1/members/bob/away_at", "now"),
    ("as an object", "bob", "put", "sessions/s1/members/bob/away_at", {"at": SV}),
    ("non-member", "cara", "put", "sessions/s1/members/cara/away_at", SV),
    ("session that does not exist", "cara", "put", "sessions/nope/members/cara/away_at", SV),
    ("unauthenticated", ANON, "put", "sessions/s1/members/bob/away_at", SV),
    ("with an extra field", "bob", "patch", "sessions/s1/members/bob", {"away_at": SV, "x": 1}),
    ("rewriting joined_at", "bob", "patch", "sessions/s1/members/bob", {"away_at": SV, "joined_at": SV}),
    ("forging seen_at", "bob", "patch", "sessions/s1/members/bob", {"away_at": SV, "seen_at": OLD}),
    ("with a state change", "bob", "patch", "sessions/s1", {"members/bob/away_at": SV, "state/label": "x"}),
    ("deleting it", "bob", "delete", "sessions/s1/members/bob/away_at", None),
]


@pytest.mark.parametrize(
    ("uid", "method", "path", "body"), [c[1:] for c in DENIED_AWAY], ids=[c[0] for c in DENIED_AWAY]
)
def test_away_denied(db: Db, uid: Any, method: str, path: str, body: Any) -> None:
    data = with_member_record(with_member_record(seeded_world(), "ana", seen_at=OLD), "bob", seen_at=OLD)
    db.seed(with_member_record(data, "bob", away_at=OLD + 1))
    before = db.value()
    if method == "delete":
        resp = db.delete(uid, path)
    else:
        resp = db.patch(uid, path, body) if method == "patch" else db.put(uid, path, body)
    db.denied(resp, before)


def test_away_of_a_member_who_left_denied(db: Db) -> None:
    """Marking away never re-creates a member record."""
    db.seed(world(members=("bob",)))
    assert db.patch("bob", "/", leave_body("bob")).status_code == 200
    gone = db.value()
    db.denied(db.put("bob", "sessions/s1/members/bob/away_at", SV), gone)


# --------------------------------------------------------------------------------------------
# 3. Reads


@pytest.mark.parametrize(
    ("uid", "path", "status"),
    [
        ("ana", "sessions/s1", 200),
        ("bob", "sessions/s1", 200),
        ("bob", "sessions/s1/state", 200),
        ("bob", "sessions/s1/members", 200),
        ("bob", "sessions/s1/meta", 200),
        ("bob", "invites/s1", 200),
        ("cara", "sessions/s1/meta", 200),
        ("cara", "sessions/s1/meta/owner", 200),
        ("cara", "sessions/nope/meta", 200),  # learning that a session does not exist
        ("cara", "sessions/s1", 401),
        ("cara", "sessions/s1/state", 401),
        ("cara", "sessions/s1/log", 401),
        ("cara", "sessions/s1/members", 401),
        ("cara", "sessions/s1/members/cara", 401),
        ("cara", "invites/s1", 401),
        ("cara", "invites/s1/code", 401),
        ("bob", "sessions", 401),
        ("bob", "invites", 401),
        ("bob", "users", 401),
        ("bob", "/", 401),
        ("ana", "users/ana", 200),
        ("bob", "users/bob/sessions", 200),
        ("bob", "users/ana", 401),
        ("cara", "users/ana/sessions", 401),
        (ANON, "sessions/s1/meta", 401),
        (ANON, "sessions/s1", 401),
        (ANON, "invites/s1", 401),
        (ANON, "users/ana", 401),
        (ANON, "/", 401),
    ],
)
def test_reads(db: Db, uid: Any, path: str, status: int) -> None:
    data = seeded_world()
    db.seed(data)
    resp = db.get(uid, path)
    assert resp.status_code == status, resp.text
    if status == 200:
        expected: Any = data
        for key in path.strip("/").split("/"):
            expected = expected.get(key) if isinstance(expected, dict) else None
        assert as_object(resp.json()) == expected
    else:
        assert resp.json() == {"error": "Permission denied"}


def test_member_reads_log_tail(db: Db) -> None:
    log = {str(r): stored_entry(r, "pause" if r % 2 == 0 else "resume") for r in range(1, 13)}
    db.seed(world(state=running_state(12), log=log))
    resp = db.get("bob", "sessions/s1/log", orderBy='"$key"', limitToLast="3")
    assert resp.status_code == 200, resp.text
    assert as_object(resp.json()) == {k: log[k] for k in ("10", "11", "12")}
    assert db.get("cara", "sessions/s1/log", orderBy='"$key"', limitToLast="3").status_code == 401


# --------------------------------------------------------------------------------------------
# 4. Actions: the compare-and-set


def test_first_action_on_new_session(db: Db) -> None:
    db.seed(world())
    resp = db.patch("bob", "sessions/s1", start_body("bob", 1))
    assert resp.status_code == 200, resp.text
    session = db.value("sessions/s1")
    state, entry = session["state"], session["log"]["1"]
    assert_server_time(state["updated_at"])
    assert state["started_at"] == state["updated_at"] == entry["at"]
    assert {k: v for k, v in state.items() if k not in ("started_at", "updated_at")} == {
        "rev": 1, "status": "running", "phase": "focus", "round": 1, "duration_ms": 1_500_000,
        "offset_ms": 0, "label": "write the report", "cycle": CYCLE, "updated_by": "bob",
        "updated_by_name": "bob", "action": "start",
    }
    assert entry == {"action": "start", "by": "bob", "name": "bob", "at": state["updated_at"], "rev": 1,
                     "label": "write the report", "phase": "focus", "ms": 1_500_000}


def test_action_sequence_start_pause_resume_stop(db: Db) -> None:
    """A realistic run: every step is rev + 1 with its log entry; timestamps are the server's."""
    db.seed(world())
    assert db.patch("ana", "sessions/s1", start_body("ana", 1)).status_code == 200
    started = db.value("sessions/s1/state/started_at")

    pause = pause_body("bob", 2, state={"started_at": started})
    assert db.patch("bob", "sessions/s1", pause).status_code == 200
    paused = db.value("sessions/s1/state")
    assert paused["status"] == "paused" and paused["started_at"] == started
    assert_server_time(paused["paused_at"])

    resumed = {
        "rev": 3, "status": "running", "phase": "focus", "round": 1, "duration_ms": 1_500_000,
        "started_at": SV, "offset_ms": paused["paused_at"] - started, "cycle": CYCLE,
        "updated_at": SV, "updated_by": "ana", "updated_by_name": "ana", "action": "resume",
    }
    body = {"state": resumed, "log/3": {"action": "resume", "by": "ana", "name": "ana", "at": SV, "rev": 3}}
    assert db.patch("ana", "sessions/s1", body).status_code == 200

    stopped = {
        "rev": 4, "status": "idle", "phase": "focus", "round": 1, "duration_ms": 1_500_000,
        "cycle": CYCLE, "updated_at": SV, "updated_by": "bob", "updated_by_name": "bob", "action": "stop",
    }
    body = {"state": stopped, "log/4": {"action": "stop", "by": "bob", "name": "bob", "at": SV, "rev": 4}}
    assert db.patch("bob", "sessions/s1", body).status_code == 200

    session = db.value("sessions/s1")
    assert session["state"]["rev"] == 4 and session["state"]["status"] == "idle"
    assert sorted(session["log"], key=int) == ["1", "2", "3", "4"]
    assert [session["log"][k]["action"] for k in ("1", "2", "3", "4")] == ["start", "pause", "resume", "stop"]
    assert all(session["log"][k]["rev"] == int(k) for k in session["log"])


ALLOWED_ACTIONS: list[tuple[str, dict[str, Any]]] = [
    ("pause", pause_body()),
    ("by bob", pause_body("bob")),
    ("label of 200 chars", pause_body(state={"label": "x" * 200})),
    ("relabel with 200 chars", pause_body(state={"status": "running", "paused_at": DROP, "action": "label", "label": "y" * 200},
                                          entry={"action": "label", "label": "y" * 200})),
    ("empty label", pause_body(state={"label": ""})),
    ("label of printable text", pause_body(state={"label": "Überarbeitung — レビュー 🍅 \u00a0x"})),
    ("re-anchor: offset lowered", pause_body(state={"status": "running", "paused_at": DROP, "action": "settings",
                                                    "offset_ms": -1_000_000_000_000}, entry={"action": "settings"})),
    ("pause entry with the state's phase and label", pause_body(state={"label": "x"}, entry={"phase": "focus", "label": "x"})),
    ("bounds high", pause_body(state={"round": 100_000, "duration_ms": 172_800_000,
                                      "cycle": {**CYCLE, "focus_ms": 86_400_000, "long_every": 100}})),
    ("bounds low", pause_body(state={"round": 1, "duration_ms": 1,
                                     "cycle": {**CYCLE, "short_break_ms": 1000, "long_every": 1, "auto_advance": False}})),
    ("restart: started_at now", pause_body(state={"status": "running", "started_at": SV, "paused_at": DROP, "action": "start"},
                                           entry={"action": "start", "phase": "focus", "ms": 1_500_000})),
    ("stop: idle without anchors", pause_body(state={"status": "idle", "started_at": DROP, "paused_at": DROP, "offset_ms": DROP,
                                                     "action": "stop"}, entry={"action": "stop"})),
    ("skip to a break", pause_body(state={"status": "running", "phase": "short_break", "started_at": SV, "paused_at": DROP,
                                          "action": "skip"}, entry={"action": "skip", "phase": "short_break", "ms": 1_500_000})),
    ("settings", pause_body(state={"status": "running", "paused_at": DROP, "action": "settings",
                                   "cycle": {**CYCLE, "auto_advance": False}}, entry={"action": "settings"})),
    ("extend", pause_body(state={"status": "running", "paused_at": DROP, "action": "extend", "duration_ms": 1_800_000},
                          entry={"action": "extend", "ms": 300_000})),
    ("relabel", pause_body(state={"status": "running", "paused_at": DROP, "action": "label", "label": "new"},
                           entry={"action": "label", "label": "new"})),
    ("reset: idle, round 1", pause_body(state={"status": "idle", "round": 1, "started_at": DROP, "paused_at": DROP,
                                               "offset_ms": 0, "label": DROP, "action": "reset"}, entry={"action": "reset"})),
    ("entry op", pause_body(entry={"op": OP})),
    ("entry op of 8 chars", pause_body(entry={"op": "aZ09_-aZ"})),
    ("entry op of 64 chars", pause_body(entry={"op": "x" * 64})),
]


@pytest.mark.parametrize("body", [c[1] for c in ALLOWED_ACTIONS], ids=[c[0] for c in ALLOWED_ACTIONS])
def test_action_allowed(db: Db, body: dict[str, Any]) -> None:
    db.seed(seeded_world())
    uid = body["state"]["updated_by"]
    resp = db.patch(uid, "sessions/s1", body)
    assert resp.status_code == 200, resp.text
    session = db.value("sessions/s1")
    state, entry = session["state"], session["log"]["2"]
    assert session["log"]["1"] == stored_entry(1)
    assert_server_time(state["updated_at"])
    assert entry["at"] == state["updated_at"]
    for key, sent in body["state"].items():
        assert state[key] == (state["updated_at"] if sent == SV else sent), key
    assert set(state) == set(body["state"])
    assert entry == {k: (state["updated_at"] if v == SV else v) for k, v in body["log/2"].items()}


def _state_only(body: dict[str, Any]) -> dict[str, Any]:
    return {"state": body["state"]}


# What the rules refuse in text that teammates see (labels, names): issue 11's attacks and a
# character of each refused range.
CONTROLS = [
    ("window title ESC ] 0", "\x1b]0;owned\x07"),
    ("clipboard ESC ] 52", "\x1b]52;c;ZXZpbA==\x07"),
    ("clear screen ESC [2J", "\x1b[2J"),
    ("NUL", "\x00"),
    ("TAB", "\t"),
    ("LF", "\n"),
    ("CR", "\r"),
    ("US", "\x1f"),
    ("DEL", "\x7f"),
    ("C1 CSI", "\x9b"),
    ("C1 APC", "\x9f"),
    ("NEL", "\x85"),
    ("LRE U+202A", "\u202a"),
    ("RLO U+202E", "\u202e"),
    ("LRI U+2066", "\u2066"),
    ("PDI U+2069", "\u2069"),
]

DENIED_ACTIONS: list[tuple[str, Any, dict[str, Any]]] = [
    # who
    ("non-member", "cara", pause_body("cara")),
    ("unauthenticated", ANON, pause_body()),
    # the compare-and-set
    ("rev not advanced", "ana", {"state": pause_body()["state"] | {"rev": 1}, "log/1": pause_body()["log/2"] | {"rev": 1}}),
    ("rev skipped", "ana", pause_body(rev=3)),
    ("rev as a string", "ana", {"state": pause_body()["state"] | {"rev": "2"}, "log/2": pause_body()["log/2"]}),
    ("state without its log entry", "ana", _state_only(pause_body())),
    ("log entry without the state", "ana", {"log/2": pause_body()["log/2"]}),
    ("log key not the new rev", "ana", {"state": pause_body()["state"], "log/3": pause_body()["log/2"] | {"rev": 3}}),
    ("entry rev not its key", "ana", pause_body(entry={"rev": 3})),
    ("an extra entry for a future rev", "ana", {**pause_body(), "log/3": pause_body(rev=3)["log/3"]}),
    ("an extra entry under another key", "ana", {**pause_body(), "log/x": pause_body()["log/2"]}),
    ("entry rev as a string", "ana", pause_body(entry={"rev": "2"})),
    ("state deleted", "ana", {"state": None, "log/2": pause_body()["log/2"]}),
    ("partial state update", "ana", {"state/status": "paused", "state/paused_at": SV}),
    ("partial update keeping another's updated_by", "bob",
     {"state/rev": 2, "state/updated_at": SV, "log/2": pause_body("bob")["log/2"]}),
    ("partial update keeping an old updated_at", "ana",
     {"state/rev": 2, "state/label": "x", "log/2": pause_body()["log/2"]}),
    # timestamps
    ("updated_at forged", "ana", pause_body(state={"updated_at": 12345})),
    ("updated_at missing", "ana", pause_body(state={"updated_at": DROP})),
    ("updated_by someone else", "ana", pause_body(state={"updated_by": "bob"})),
    ("started_at set to an old number", "ana", pause_body(state={"started_at": OLD - 60_000})),
    ("started_at in the future", "ana", pause_body(state={"started_at": now_ms() + 3_600_000})),
    ("paused_at forged", "ana", pause_body(state={"paused_at": 12345})),
    ("entry at forged", "ana", pause_body(entry={"at": 12345})),
    ("entry by someone else", "ana", pause_body(entry={"by": "bob"})),
    ("entry without at", "ana", pause_body(entry={"at": DROP})),
    # enums
    ("status unknown", "ana", pause_body(state={"status": "stopped"})),
    ("phase unknown", "ana", pause_body(state={"phase": "lunch"})),
    ("action unknown", "ana", pause_body(state={"action": "restart"})),
    ("entry action unknown", "ana", pause_body(entry={"action": "restart"})),
    ("entry phase unknown", "ana", pause_body(entry={"phase": "nap"})),
    # bounds and types
    ("round 0", "ana", pause_body(state={"round": 0})),
    ("round too big", "ana", pause_body(state={"round": 100_001})),
    ("round fractional", "ana", pause_body(state={"round": 1.5})),
    ("duration 0", "ana", pause_body(state={"duration_ms": 0})),
    ("duration over 48 h", "ana", pause_body(state={"duration_ms": 172_800_001})),
    ("duration as a string", "ana", pause_body(state={"duration_ms": "1500000"})),
    ("offset too big", "ana", pause_body(state={"offset_ms": 1_000_000_000_001})),
    ("offset too small", "ana", pause_body(state={"offset_ms": -1_000_000_000_001})),
    ("label too long", "ana", pause_body(state={"label": "x" * 201})),
    ("label not a string", "ana", pause_body(state={"label": 7})),
    ("entry label too long", "ana", pause_body(entry={"label": "x" * 201})),
    ("entry ms fractional", "ana", pause_body(entry={"ms": 1.5})),
    ("entry op of 7 chars", "ana", pause_body(entry={"op": "aZ09_-a"})),
    ("entry op of 65 chars", "ana", pause_body(entry={"op": "x" * 65})),
    ("entry op empty", "ana", pause_body(entry={"op": ""})),
    ("entry op with other characters", "ana", pause_body(entry={"op": "op id/1.2+x="})),
    ("entry op not a string", "ana", pause_body(entry={"op": 12345678})),
    ("entry op an object", "ana", pause_body(entry={"op": {"id": OP}})),
    ("cycle focus_ms too small", "ana", pause_body(state={"cycle": {**CYCLE, "focus_ms": 999}})),
    ("cycle long_break_ms too big", "ana", pause_body(state={"cycle": {**CYCLE, "long_break_ms": 86_400_001}})),
    ("cycle long_every 0", "ana", pause_body(state={"cycle": {**CYCLE, "long_every": 0}})),
    ("cycle long_every 101", "ana", pause_body(state={"cycle": {**CYCLE, "long_every": 101}})),
    ("cycle auto_advance not a bool", "ana", pause_body(state={"cycle": {**CYCLE, "auto_advance": "yes"}})),
    ("cycle field missing", "ana", pause_body(state={"cycle": {k: v for k, v in CYCLE.items() if k != "long_every"}})),
    ("cycle extra field", "ana", pause_body(state={"cycle": {**CYCLE, "x": 1}})),
    ("cycle missing", "ana", pause_body(state={"cycle": DROP})),
    # shape
    ("state extra field", "ana", pause_body(state={"admin": True})),
    ("entry extra field", "ana", pause_body(entry={"x": 1})),
    ("phase missing", "ana", pause_body(state={"phase": DROP})),
    ("paused without paused_at", "ana", pause_body(state={"paused_at": DROP})),
    ("running with paused_at", "ana", pause_body(state={"status": "running"})),
    ("running without started_at", "ana", pause_body(state={"status": "running", "started_at": DROP, "paused_at": DROP})),
    ("idle with started_at", "ana", pause_body(state={"status": "idle", "paused_at": DROP})),
    ("something else in the session", "ana", {**pause_body(), "chat/1": "hi"}),
    ("meta rewritten alongside", "bob", {**pause_body("bob"), "meta/owner": "bob"}),
    ("state name not the token's", "ana", pause_body(state={"updated_by_name": "bob"})),
    ("entry name not the token's", "ana", pause_body(entry={"name": "bob"})),
    ("entry without name", "ana", pause_body(entry={"name": DROP})),
    ("state without name", "ana", pause_body(state={"updated_by_name": DROP})),
    # issue 11, rule holes: numbers clients cannot live with
    ("offset fractional", "ana", pause_body(state={"offset_ms": 0.5})),
    ("rev fractional", "ana", {"state": pause_body()["state"] | {"rev": 1.5}, "log/2": pause_body()["log/2"] | {"rev": 1.5}}),
    ("offset -1e12 at a restart: stands still for ever", "ana",
     pause_body(state={"status": "running", "started_at": SV, "paused_at": DROP, "action": "start",
                       "offset_ms": -1_000_000_000_000}, entry={"action": "start", "phase": "focus", "ms": 1_500_000})),
    ("offset -1e12 at a re-anchor from now", "ana",
     pause_body(state={"status": "running", "started_at": SV, "paused_at": DROP, "action": "settings",
                       "offset_ms": -1_000_000_000_000}, entry={"action": "settings"})),
    ("offset 1e12 at a re-anchor: years of auto-advance, round 500000006", "ana",
     pause_body(state={"status": "running", "paused_at": DROP, "action": "settings", "offset_ms": 1_000_000_000_000,
                       "cycle": {**CYCLE, "focus_ms": 1000, "short_break_ms": 1000, "long_break_ms": 1000,
                                 "long_every": 1, "auto_advance": True}}, entry={"action": "settings"})),
    ("offset changed by a pause", "ana", pause_body(state={"offset_ms": -5000})),
    ("resume with a made-up offset", "ana",
     pause_body(state={"status": "running", "started_at": SV, "paused_at": DROP, "action": "resume",
                       "offset_ms": 123_456}, entry={"action": "resume"})),
    ("start not from now", "ana", pause_body(state={"status": "running", "paused_at": DROP, "action": "start"},
                                             entry={"action": "start", "phase": "focus", "ms": 1_500_000})),
    # issue 11, rule holes: the log entry tells the truth about the state change
    ("stop recorded as a start of a long break", "ana",
     pause_body(state={"status": "idle", "started_at": DROP, "paused_at": DROP, "offset_ms": DROP, "action": "stop"},
                entry={"action": "start", "phase": "long_break", "ms": 900_000})),
    ("entry action not the state's", "ana", pause_body(entry={"action": "resume"})),
    ("stop that leaves it running", "ana", pause_body(state={"status": "running", "paused_at": DROP, "action": "stop"},
                                                      entry={"action": "stop"})),
    ("pause that leaves it running", "ana", pause_body(state={"status": "running", "paused_at": DROP})),
    ("start that leaves it idle", "ana",
     pause_body(state={"status": "idle", "started_at": DROP, "paused_at": DROP, "action": "start"},
                entry={"action": "start", "phase": "focus", "ms": 1_500_000})),
    ("extend of a stopped timer", "ana",
     pause_body(state={"status": "idle", "started_at": DROP, "paused_at": DROP, "action": "extend", "duration_ms": 1_800_000},
                entry={"action": "extend", "ms": 300_000})),
    ("pause entry with a phase and ms", "ana", pause_body(entry={"phase": "long_break", "ms": 60_000})),
    ("pause entry with another label", "ana", pause_body(state={"label": "x"}, entry={"label": "y"})),
    ("pause entry with another phase", "ana", pause_body(entry={"phase": "long_break"})),
    ("pause entry with ms", "ana", pause_body(entry={"ms": 60_000})),
    ("start entry without its phase", "ana",
     pause_body(state={"status": "running", "started_at": SV, "paused_at": DROP, "action": "start"},
                entry={"action": "start", "ms": 1_500_000})),
    ("start entry with another phase", "ana",
     pause_body(state={"status": "running", "started_at": SV, "paused_at": DROP, "action": "start"},
                entry={"action": "start", "phase": "long_break", "ms": 1_500_000})),
    ("start entry with another length", "ana",
     pause_body(state={"status": "running", "started_at": SV, "paused_at": DROP, "action": "start"},
                entry={"action": "start", "phase": "focus", "ms": 900_000})),
    ("start entry with another label", "ana",
     pause_body(state={"status": "running", "started_at": SV, "paused_at": DROP, "action": "start", "label": "a"},
                entry={"action": "start", "phase": "focus", "ms": 1_500_000, "label": "b"})),
    ("start entry without the state's label", "ana",
     pause_body(state={"status": "running", "started_at": SV, "paused_at": DROP, "action": "start", "label": "a"},
                entry={"action": "start", "phase": "focus", "ms": 1_500_000})),
    ("extend entry claiming more than it added", "ana",
     pause_body(state={"status": "running", "paused_at": DROP, "action": "extend", "duration_ms": 1_800_000},
                entry={"action": "extend", "ms": 600_000})),
    ("extend entry without ms", "ana",
     pause_body(state={"status": "running", "paused_at": DROP, "action": "extend", "duration_ms": 1_800_000},
                entry={"action": "extend"})),
    ("relabel entry with another label", "ana",
     pause_body(state={"status": "running", "paused_at": DROP, "action": "label", "label": "new"},
                entry={"action": "label", "label": "old"})),
    # issue 11 (item 5): control characters in labels
    *((f"label with {name}", "ana", pause_body(state={"label": f"a{char}b"})) for name, char in CONTROLS),
    *((f"relabel entry with {name}", "ana",
       pause_body(state={"status": "running", "paused_at": DROP, "action": "label", "label": f"a{char}b"},
                  entry={"action": "label", "label": f"a{char}b"})) for name, char in CONTROLS),
]


@pytest.mark.parametrize(("uid", "body"), [c[1:] for c in DENIED_ACTIONS], ids=[c[0] for c in DENIED_ACTIONS])
def test_action_denied(db: Db, uid: Any, body: dict[str, Any]) -> None:
    db.seed(seeded_world())
    before = db.value()
    db.denied(db.patch(uid, "sessions/s1", body), before)


def test_action_by_owner_who_left_denied(db: Db) -> None:
    """Acting needs membership; owning the session is not enough."""
    db.seed(_owner_left(seeded_world()))
    before = db.value()
    db.denied(db.patch("ana", "sessions/s1", pause_body("ana")), before)


def test_log_entry_without_a_state_change_denied(db: Db) -> None:
    """Even where the entry of the current rev is missing (data arranged by an admin), a log
    entry is only ever added by the update that moves state/rev to its key."""
    data = seeded_world()
    del data["sessions"]["s1"]["log"]
    db.seed(data)
    before = db.value()
    entry = {"action": "start", "by": "ana", "at": SV, "rev": 1}
    db.denied(db.patch("ana", "sessions/s1", {"log/1": entry}), before)
    db.denied(db.put("ana", "sessions/s1/log/1", entry), before)


def test_partial_state_update_is_a_full_cas(db: Db) -> None:
    """Writing only some state fields is judged on the merged state: with rev + 1, its log entry,
    updated_at = now and updated_by = the caller it is the same as writing the whole state."""
    db.seed(seeded_world())
    body = {
        "state/rev": 2,
        "state/updated_at": SV,
        "state/updated_by": "bob",
        "state/updated_by_name": "bob",
        "state/label": "renamed",
        "state/action": "label",
        "log/2": {"action": "label", "by": "bob", "name": "bob", "at": SV, "rev": 2, "label": "renamed"},
    }
    resp = db.patch("bob", "sessions/s1", body)
    assert resp.status_code == 200, resp.text
    state = db.value("sessions/s1/state")
    assert_server_time(state["updated_at"])
    assert state == running_state(
        2, updated_at=state["updated_at"], updated_by="bob", updated_by_name="bob", label="renamed", action="label"
    )


def test_action_as_put_of_whole_session_denied(db: Db) -> None:
    """No grant at sessions/$sid except deletion: a member cannot rewrite the session."""
    data = seeded_world()
    db.seed(data)
    before = db.value()
    session = copy.deepcopy(data["sessions"]["s1"])
    session["state"] = pause_body()["state"]
    session["log"]["2"] = pause_body()["log/2"]
    db.denied(db.put("ana", "sessions/s1", session), before)


def test_cas_second_writer_on_same_rev_loses(db: Db) -> None:
    """Two members plan against rev 1: the first commit wins, the second is refused whole."""
    db.seed(seeded_world())
    first = pause_body("ana")
    second = start_body("bob", 2, started_at=SV)
    assert db.patch("ana", "sessions/s1", first).status_code == 200
    after_first = db.value()
    db.denied(db.patch("bob", "sessions/s1", second), after_first)
    session = after_first["sessions"]["s1"]
    assert session["state"]["rev"] == 2 and session["state"]["updated_by"] == "ana"
    assert set(session["log"]) == {"1", "2"} and session["log"]["2"]["by"] == "ana"
    # The loser re-plans against rev 2 and succeeds as rev 3.
    assert db.patch("bob", "sessions/s1", start_body("bob", 3)).status_code == 200
    assert db.value("sessions/s1/state/rev") == 3


def test_cas_concurrent_writers(db: Db, server_url: str, ns: str) -> None:
    """Many members send rev 2 at the same moment: exactly one wins, nothing is half-written."""
    writers = ["ana", "bob", "cara", "dan", "eve", "fay"]
    data = seeded_world()
    for uid in writers:
        data["sessions"]["s1"]["members"][uid] = {"joined_at": OLD}
    db.seed(data)
    barrier = threading.Barrier(len(writers))
    results: dict[str, int] = {}

    def send(uid: str) -> None:
        with requests.Session() as http:
            body = pause_body(uid, entry={"op": f"from-{uid}-000"})
            barrier.wait()
            resp = http.patch(
                f"{server_url}/sessions/s1.json",
                json=body,
                params={"ns": ns, **as_user(uid)},
                headers={"Authorization": "Bearer owner"},
                timeout=10,
            )
            results[uid] = resp.status_code

    threads = [threading.Thread(target=send, args=(uid,)) for uid in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [uid for uid, status in results.items() if status == 200]
    assert len(winners) == 1, results
    assert sorted(results.values()) == [200] + [401] * (len(writers) - 1)
    session = db.value("sessions/s1")
    assert session["state"]["rev"] == 2 and session["state"]["updated_by"] == winners[0]
    assert set(session["log"]) == {"1", "2"}
    assert session["log"]["2"]["by"] == winners[0] and session["log"]["2"]["op"] == f"from-{winners[0]}-000"


# --------------------------------------------------------------------------------------------
# 5. The log is append-only


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("put", "sessions/s1/log/1", {"action": "stop", "by": "ana", "at": SV, "rev": 1}),
        ("put", "sessions/s1/log/1/label", "rewritten"),
        ("delete", "sessions/s1/log/1", None),
        ("delete", "sessions/s1/log", None),
        ("put", "sessions/s1/log", {"2": {"action": "pause", "by": "ana", "at": SV, "rev": 2}}),
        ("patch", "sessions/s1", {"log/1": None}),
        ("patch", "sessions/s1", {"log/1/action": "stop"}),
        ("patch", "sessions/s1", {**pause_body(), "log/1": None}),  # a valid CAS plus a deletion
        ("patch", "sessions/s1", {**pause_body(), "log/1/by": "bob"}),  # ...plus a rewrite
        ("patch", "sessions/s1", {"state": pause_body(rev=1)["state"], "log/1": pause_body(rev=1)["log/1"]}),
        ("put", "sessions/s1/log/1/op", OP),
        ("patch", "sessions/s1", {**pause_body(), "log/1/op": OP}),  # ...plus an op added later
    ],
    ids=["overwrite", "overwrite a field", "delete", "delete the log", "replace the log",
         "delete by patch", "rewrite by patch", "cas plus delete", "cas plus rewrite", "cas over existing rev",
         "add an op", "cas plus add an op"],
)
@pytest.mark.parametrize("uid", ["ana", "bob"])
def test_log_is_append_only(db: Db, uid: str, method: str, path: str, body: Any) -> None:
    db.seed(seeded_world())
    before = db.value()
    if method == "put":
        resp = db.put(uid, path, body)
    elif method == "delete":
        resp = db.delete(uid, path)
    else:
        resp = db.patch(uid, path, body)
    db.denied(resp, before)


def test_resent_action_is_refused_and_its_op_stays(db: Db) -> None:
    """An action whose answer was lost is sent again as the very same PATCH (urllib3 retries it):
    the copy is refused whole, so the op stored with the first commit is how the client learns
    its action went in; nobody can rewrite, remove or reuse that op afterwards."""
    started = now_ms() - 60_000
    db.seed(seeded_world(started_at=started))
    body = pause_body("bob", state={"started_at": started}, entry={"op": OP})
    assert db.patch("bob", "sessions/s1", body).status_code == 200
    after = db.value()
    assert after["sessions"]["s1"]["log"]["2"]["op"] == OP
    db.denied(db.patch("bob", "sessions/s1", body), after)  # the re-sent copy
    for uid in ("ana", "bob"):
        db.denied(db.put(uid, "sessions/s1/log/2/op", "Another-op-0001"), after)
        db.denied(db.delete(uid, "sessions/s1/log/2/op"), after)
        db.denied(db.patch(uid, "sessions/s1/log/2", {"op": "Another-op-0001"}), after)
    # Planned again on rev 2 with the same op (a client that did not check): a new rev, allowed by
    # the rules; the client's duty is to look for its op first (tests/test_exactly_once.py).
    resumed = {
        "rev": 3, "status": "running", "phase": "focus", "round": 1, "duration_ms": 1_500_000,
        "started_at": SV, "offset_ms": after["sessions"]["s1"]["state"]["paused_at"] - started, "cycle": CYCLE,
        "updated_at": SV, "updated_by": "bob", "updated_by_name": "bob", "action": "resume",
    }
    entry = {"action": "resume", "by": "bob", "name": "bob", "at": SV, "rev": 3, "op": OP}
    assert db.patch("bob", "sessions/s1", {"state": resumed, "log/3": entry}).status_code == 200


# --------------------------------------------------------------------------------------------
# 6. /users: own list of sessions and the clock probe


def test_clock_probe(db: Db) -> None:
    db.seed(world())
    resp = db.put("cara", "users/cara/clock", SV)
    assert resp.status_code == 200, resp.text
    clock = db.value("users/cara/clock")
    assert_server_time(clock)
    assert db.get("cara", "users/cara/clock").json() == clock


@pytest.mark.parametrize(
    ("uid", "method", "path", "body", "status"),
    [
        ("cara", "put", "users/cara/clock", 12345, 401),
        ("cara", "put", "users/cara/clock", "now", 401),
        ("bob", "put", "users/cara/clock", SV, 401),
        (ANON, "put", "users/cara/clock", SV, 401),
        ("cara", "patch", "users/cara", {"sessions/s2": {"joined_at": SV, "slot": 1}, "slots/1": "s2"}, 200),
        ("cara", "put", "users/cara/sessions/s2", {"joined_at": SV}, 401),  # no slot
        ("cara", "patch", "users/cara", {"sessions/s2": {"joined_at": SV, "slot": 1}, "slots/1": "s3"}, 401),
        ("cara", "patch", "users/cara", {"sessions/s2": {"joined_at": SV, "slot": 201}, "slots/201": "s2"}, 401),
        ("cara", "patch", "users/cara", {"sessions/s2": {"joined_at": SV, "slot": 1.5}, "slots/1": "s2"}, 401),
        ("bob", "patch", "users/bob", {"sessions/s2": {"joined_at": SV, "slot": 1}, "slots/1": "s2"}, 401),  # s1 holds it
        ("bob", "delete", "users/bob/slots/1", None, 401),  # s1 holds it
        ("cara", "put", "users/cara/sessions/s2", {"joined_at": 12345}, 401),
        ("cara", "put", "users/cara/sessions/s2", {"joined_at": SV, "x": 1}, 401),
        ("cara", "put", "users/cara/sessions/s2", True, 401),
        ("cara", "put", "users/cara/sessions", "s2", 401),
        ("cara", "put", "users/cara/sessions/" + "s" * 65, {"joined_at": SV}, 401),
        ("bob", "put", "users/cara/sessions/s2", {"joined_at": SV}, 401),
        ("cara", "put", "users/cara/profile", {"name": "Cara"}, 401),
        ("cara", "put", "users/cara", "cara", 401),
        ("bob", "delete", "users/bob/sessions/s1", None, 401),  # still a member of s1
        ("bob", "delete", "users/bob", None, 401),
        ("ana", "delete", "users/bob/sessions/s1", None, 401),
        (ANON, "delete", "users/bob", None, 401),
    ],
)
def test_users_writes(db: Db, uid: Any, method: str, path: str, body: Any, status: int) -> None:
    db.seed(world())
    before = db.value()
    resp = db.put(uid, path, body) if method == "put" else db.patch(uid, path, body) if method == "patch" else db.delete(uid, path)
    if status == 401:
        db.denied(resp, before)
        return
    assert resp.status_code == 200, resp.text
    stored = db.value(path)
    if body is None:
        assert stored is None
    else:  # a new entry with its slot
        assert stored["slots"] == {"1": "s2"} and set(stored["sessions"]["s2"]) == {"joined_at", "slot"}
        assert_server_time(stored["sessions"]["s2"]["joined_at"])


# --------------------------------------------------------------------------------------------
# 7. Deleting a whole session


def _fresh_state_world() -> dict[str, Any]:
    return seeded_world(updated_at=SV)


def _owner_left(data: dict[str, Any]) -> dict[str, Any]:
    del data["sessions"]["s1"]["members"]["ana"]
    del data["users"]["ana"]
    return data


DELETE_CASES: list[tuple[str, Any, Callable[[], dict[str, Any]], dict[str, Any], int]] = [
    # (id, uid, data (built when the test runs: some are relative to now), body, status)
    ("owner, fresh session", "ana", lambda: _fresh_state_world(), delete_body(), 200),
    ("owner who left, fresh session", "ana", lambda: _owner_left(_fresh_state_world()), delete_body(), 200),
    # Only the owner deletes: a member could otherwise take over an idle session's name.
    ("member, idle state", "bob", lambda: stopped_world(updated_at=OLD), delete_body(), 401),
    ("member, state touched 61 min ago", "bob", lambda: stopped_world(updated_at=now_ms() - HOUR - 60_000), delete_body(), 401),
    ("member, timer running for hours", "bob", lambda: seeded_world(updated_at=OLD), delete_body(), 401),
    ("owner, timer running for hours", "ana", lambda: seeded_world(updated_at=OLD), delete_body(), 200),
    ("member, fresh state", "bob", lambda: _fresh_state_world(), delete_body(), 401),
    ("member, state touched 50 min ago", "bob", lambda: seeded_world(updated_at=now_ms() - HOUR + 600_000), delete_body(), 401),
    ("member, no state, old session", "bob", lambda: world(created_at=OLD), delete_body(), 401),
    ("member, no state, new session", "bob", lambda: world(created_at=SV), delete_body(), 401),
    ("non-member, idle state", "cara", lambda: seeded_world(updated_at=OLD), delete_body(), 401),
    ("unauthenticated, idle state", ANON, lambda: seeded_world(updated_at=OLD), delete_body(), 401),
    ("owner, session without invite", "ana", lambda: _fresh_state_world(), {"sessions/s1": None}, 401),
    ("owner, invite alone", "ana", lambda: _fresh_state_world(), {"invites/s1": None}, 401),
    ("member idle, session without invite", "bob", lambda: seeded_world(updated_at=OLD), {"sessions/s1": None}, 401),
    ("owner, meta alone", "ana", lambda: _fresh_state_world(), {"sessions/s1/meta": None}, 401),
    ("owner, state alone", "ana", lambda: _fresh_state_world(), {"sessions/s1/state": None}, 401),
    ("owner, whole sessions root", "ana", lambda: _fresh_state_world(), {"sessions": None, "invites": None}, 401),
    ("owner, other session's invite", "ana", lambda: _fresh_state_world(), {"sessions/s1": None, "invites/s2": None}, 401),
]


@pytest.mark.parametrize(
    ("uid", "make_data", "body", "status"), [c[1:] for c in DELETE_CASES], ids=[c[0] for c in DELETE_CASES]
)
def test_delete_session(
    db: Db, uid: Any, make_data: Callable[[], dict[str, Any]], body: dict[str, Any], status: int
) -> None:
    data = make_data()
    data["invites"]["s2"] = {"code": "Second-session-code"}
    data["sessions"]["s2"] = session_data(owner="cara", members=("cara", "ana", "bob"))
    db.seed(data)
    before = db.value()
    resp = db.patch(uid, "/", body)
    if status == 401:
        db.denied(resp, before)
        return
    assert resp.status_code == 200, resp.text
    after = db.value()
    assert "s1" not in after["sessions"] and "s1" not in after["invites"]
    # Nothing else is touched: the other session, its invite, the users' own lists.
    assert after["sessions"]["s2"] == before["sessions"]["s2"]
    assert after["invites"]["s2"] == before["invites"]["s2"]
    assert after["users"] == before["users"]


def test_delete_session_by_http_delete_denied(db: Db) -> None:
    """A DELETE of sessions/S alone would orphan its invite: refused, even for the owner."""
    db.seed(seeded_world())
    before = db.value()
    db.denied(db.delete("ana", "sessions/s1"), before)


# --------------------------------------------------------------------------------------------
# 7b. Owner powers: kick (with a new invite code), rotate the code, hand the session over;
#     names come from the ID token; every auth.uid path is guarded by the uid pattern


def test_owner_kicks_a_member_and_replaces_the_code(db: Db) -> None:
    db.seed(seeded_world())
    kick = {"sessions/s1/members/bob": None, "sessions/s1/seats/2": None, "invites/s1": {"code": "New-code-0001"}}
    resp = db.patch("ana", "/", kick)
    assert resp.status_code == 200, resp.text
    assert set(db.value("sessions/s1/members")) == {"ana"}
    # bob lost access at once, and the code he knew no longer lets him back in.
    assert db.get("bob", "sessions/s1").status_code == 401
    before = db.value()
    db.denied(db.patch("bob", "/", join_body("bob", CODE)), before)
    assert db.patch("bob", "/", join_body("bob", "New-code-0001")).status_code == 200


@pytest.mark.parametrize(
    ("uid", "body"),
    [
        ("bob", {"invites/s1": {"code": "New-code-0001"}}),
        ("cara", {"invites/s1": {"code": "New-code-0001"}}),
        ("ana", {"invites/s1": {"code": "short"}}),
        ("ana", {"invites/s2": {"code": "New-code-0001"}}),  # no such session
    ],
    ids=["member", "outsider", "bad code", "invite of a session that does not exist"],
)
def test_rotating_the_code_denied(db: Db, uid: str, body: dict[str, Any]) -> None:
    db.seed(seeded_world())
    before = db.value()
    db.denied(db.patch(uid, "/", body), before)


def test_owner_rotates_the_code(db: Db) -> None:
    db.seed(seeded_world())
    assert db.put("ana", "invites/s1", {"code": "Rotated-0001"}).status_code == 200
    before = db.value()
    db.denied(db.patch("cara", "/", join_body("cara", CODE)), before)
    assert db.patch("cara", "/", join_body("cara", "Rotated-0001")).status_code == 200


def test_owner_hands_the_session_over(db: Db) -> None:
    db.seed(seeded_world())
    resp = db.patch("ana", "sessions/s1/meta", {"owner": "bob"})
    assert resp.status_code == 200, resp.text
    assert db.value("sessions/s1/meta") == {"owner": "bob", "created_at": OLD}
    # Now bob has the owner's powers, and ana has none left.
    before = db.value()
    db.denied(db.patch("ana", "/", {"invites/s1": {"code": "New-code-0001"}}), before)
    assert db.patch("bob", "/", {"invites/s1": {"code": "New-code-0001"}}).status_code == 200


@pytest.mark.parametrize(
    ("uid", "body"),
    [
        ("bob", {"owner": "bob"}),  # a member takes it
        ("ana", {"owner": "cara"}),  # to a non-member
        ("ana", {"owner": "bob", "created_at": 5}),  # rewriting created_at on the way
        ("ana", {"owner": "b/ob"}),  # a key that is not a uid
        ("cara", {"owner": "cara"}),
    ],
    ids=["member takes it", "to a non-member", "created_at rewritten", "not a uid", "outsider"],
)
def test_handing_over_denied(db: Db, uid: str, body: dict[str, Any]) -> None:
    db.seed(seeded_world())
    before = db.value()
    db.denied(db.patch(uid, "sessions/s1/meta", body), before)


def test_names_are_the_tokens(db: Db) -> None:
    """A member record's name is the display name of the caller's ID token, nothing else."""
    db.seed(world())
    before = db.value()
    db.denied(db.patch("cara", "/", {**join_body("cara"), "sessions/s1/members/cara": {"joined_at": SV, "name": "ana", "code": CODE, "seat": 3}}), before)
    db.denied(db.patch("cara", "/", {**join_body("cara"), "sessions/s1/members/cara": {"joined_at": SV, "code": CODE, "seat": 3}}), before)
    resp = db.rest.patch(url("/"), join_body("cara") | {"sessions/s1/members/cara": {"joined_at": SV, "name": "Cara C.", "code": CODE, "seat": 3}}, params=as_user("cara", "Cara C."))
    assert resp.status_code == 200, resp.text
    assert db.value("sessions/s1/members/cara/name") == "Cara C."
    # A record never holds a name the caller's token does not state.
    beat = db.rest.patch(url("sessions/s1/members/cara"), {"seen_at": SV, "name": "x"}, params=as_user("cara", "Cara C."))
    assert beat.status_code == 401


@pytest.mark.parametrize("uid", ["a/b", "../ana", "x" * 129, ""], ids=["slash", "dots", "too long", "empty"])
def test_uids_that_are_not_uids_are_refused(db: Db, uid: str) -> None:
    """A uid holding '/' would address someone else's data in `'members/' + auth.uid`."""
    data = world()
    db.seed(data)
    before = db.value()
    for path, body in (
        ("/", create_body(sid="s9")),
        ("sessions/s1", start_body("ana", 1)),
        ("/", join_body("ana")),
    ):
        resp = db.rest.patch(url(path), body, params={"auth_variable_override": json.dumps({"uid": uid, "token": {"name": "ana"}})})
        db.denied(resp, before)
    assert db.rest.get(url("sessions/s1"), params={"auth_variable_override": json.dumps({"uid": uid})}).status_code == 401


# --------------------------------------------------------------------------------------------
# 7b. Names with control characters (issue 11, item 5): every write that stores the name


@pytest.mark.parametrize(("what", "char"), CONTROLS, ids=[c[0] for c in CONTROLS])
def test_names_with_control_characters_are_refused(db: Db, what: str, char: str) -> None:
    """A display name comes from the ID token: one holding a control character or a bidi override
    cannot join, create, act or open a presence span under it."""
    db.seed(seeded_world())
    before = db.value()
    name = f"Mal{char}lory"
    record = {"joined_at": SV, "name": name, "code": CODE, "seat": 3}
    writes = [
        ("/", join_body("cara") | {"sessions/s1/members/cara": record}, "cara"),
        ("/", create_body("cara", sid="s2") | {"sessions/s2/members/cara": {"joined_at": SV, "name": name, "seat": 1}}, "cara"),
        ("sessions/s1", pause_body("bob", state={"updated_by_name": name}, entry={"name": name}), "bob"),
        ("sessions/s1", {"members/bob/seen_at": SV, "presence/Span-0001": {"uid": "bob", "name": name, "from": SV, "seen": SV}}, "bob"),
    ]
    for path, body, uid in writes:
        db.denied(db.rest.patch(url(path), body, params=as_user(uid, name)), before)
    # The same writes under a printable name go in (so the refusals above are the name's).
    assert db.rest.patch(url("/"), join_body("cara") | {"sessions/s1/members/cara": record | {"name": "Mallory"}},
                         params=as_user("cara", "Mallory")).status_code == 200


# --------------------------------------------------------------------------------------------
# 7c. Ceilings and floods (issue 11): seats per session, slots per user, entries per write


def _seated_world(count: int) -> dict[str, Any]:
    """s1 with `count` seated members u1..u<count> (ana, the owner, is u1's seat-mate: u1 is ana)."""
    data = world(members=("ana",))
    session = data["sessions"]["s1"]
    for n in range(2, count + 1):
        uid = f"u{n}"
        session["members"][uid] = {"joined_at": OLD, "name": uid, "seat": n}
        session["seats"][str(n)] = uid
    return data


def test_flood_put_of_a_whole_session_list_refused(db: Db) -> None:
    """Issue 11: one member PUT of 200,000 entries under users/<uid>/sessions was accepted."""
    db.seed(world())
    before = db.value()
    flood = {f"s{i}": {"joined_at": SV, "slot": 1} for i in range(200_000)}
    db.denied(db.put("cara", "users/cara/sessions", flood), before)
    db.denied(db.put("cara", "users/cara", {"sessions": {"s2": {"joined_at": SV, "slot": 1}}, "slots": {"1": "s2"}}), before)


def test_flood_patch_of_list_entries_refused(db: Db) -> None:
    """Entries added one path each: each needs a slot of its own, and there are 200."""
    db.seed(world())
    before = db.value()
    flood: dict[str, Any] = {f"sessions/s{i}": {"joined_at": SV, "slot": 1} for i in range(5_000)}
    db.denied(db.patch("cara", "users/cara", {**flood, "slots/1": "s0"}), before)
    slots = {f"slots/{i}": f"s{i}" for i in range(1, 202)}
    entries = {f"sessions/s{i}": {"joined_at": SV, "slot": i} for i in range(1, 202)}
    db.denied(db.patch("cara", "users/cara", {**entries, **slots}), before)  # slot 201 does not exist
    del slots["slots/201"], entries["sessions/s201"]
    assert db.patch("cara", "users/cara", {**entries, **slots}).status_code == 200  # 200: the ceiling
    after = db.value()
    db.denied(db.patch("cara", "users/cara", {"sessions/s999": {"joined_at": SV, "slot": 7}, "slots/7": "s999"}), after)


def _creates(uid: str, count: int) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for i in range(1, count + 1):
        body |= create_body(uid, sid=f"s{i}", slot=i)
    return body


@pytest.mark.parametrize("count", [201, 5_000])
def test_flood_patch_creating_sessions_refused(db: Db, count: int) -> None:
    """Issue 11: one PATCH creating 5,000 sessions was accepted. Each needs a slot of its creator."""
    db.seed({"users": {"cara": {"clock": OLD}}})
    before = db.value()
    db.denied(db.patch("cara", "/", _creates("cara", count)), before)
    # Without slots (a creator's list entry for each): refused whatever the count.
    body = _creates("cara", 2)
    for key in [k for k in body if k.startswith("users/")]:
        del body[key]
    db.denied(db.patch("cara", "/", body), before)


def test_one_write_creates_at_most_200_sessions(db: Db) -> None:
    db.seed({"users": {"cara": {"clock": OLD}}})
    assert db.patch("cara", "/", _creates("cara", 200)).status_code == 200
    after = db.value()
    assert len(after["sessions"]) == 200 and len(after["users"]["cara"]["slots"]) == 200
    db.denied(db.patch("cara", "/", create_body("cara", sid="s201", slot=1)), after)  # slot 1 is s1's


def test_a_session_seats_at_most_200_members(db: Db) -> None:
    db.seed(_seated_world(200))
    before = db.value()
    db.denied(db.patch("cara", "/", join_body("cara", seat=201)), before)  # no seat 201
    db.denied(db.patch("cara", "/", join_body("cara", seat=7)), before)  # u7's seat
    db.denied(db.patch("cara", "/", {**join_body("cara", seat=7), "sessions/s1/members/u7": None}), before)
    # One leaves: their seat is free for the next.
    assert db.patch("u7", "/", {"sessions/s1/members/u7": None, "sessions/s1/seats/7": None}).status_code == 200
    assert db.patch("cara", "/", join_body("cara", seat=7)).status_code == 200
    assert db.value("sessions/s1/seats/7") == "cara"


def test_seats_are_read_by_anyone_signed_in_and_held_by_their_member(db: Db) -> None:
    db.seed(seeded_world())
    assert as_object(db.get("cara", "sessions/s1/seats").json()) == {"1": "ana", "2": "bob"}
    assert db.get(ANON, "sessions/s1/seats").status_code == 401
    before = db.value()
    db.denied(db.delete("cara", "sessions/s1/seats/2"), before)  # bob holds it
    db.denied(db.delete("ana", "sessions/s1/seats/2"), before)  # even the owner: kick frees it
    db.denied(db.put("cara", "sessions/s1/seats/3", "cara"), before)  # a seat without a record
    db.denied(db.put("bob", "sessions/s1/seats/3", "bob"), before)  # bob's record holds seat 2
    db.denied(db.put("cara", "sessions/s1/seats/0", "cara"), before)
    # A seat whose member went without freeing it (an older client) is free for anyone to clear.
    assert db.patch("ana", "/", {"sessions/s1/members/bob": None}).status_code == 200
    assert db.delete("cara", "sessions/s1/seats/2").status_code == 200


def test_members_from_before_the_ceilings_keep_working(db: Db) -> None:
    """Records without a seat and list entries without a slot stay valid: they heartbeat, act and
    leave as before (they count as nothing); only new memberships claim."""
    data = seeded_world()
    data["sessions"]["s1"].pop("seats")
    for uid in ("ana", "bob"):
        data["sessions"]["s1"]["members"][uid].pop("seat")
        data["users"][uid] = {"sessions": {"s1": {"joined_at": OLD}}}
    db.seed(data)
    assert db.patch("bob", "sessions/s1/members/bob", {"seen_at": SV}).status_code == 200
    assert db.patch("bob", "sessions/s1", pause_body("bob")).status_code == 200
    assert db.patch("bob", "/", {"sessions/s1/members/bob": None, "users/bob/sessions/s1": None}).status_code == 200
    assert db.patch("cara", "/", join_body("cara")).status_code == 200


# --------------------------------------------------------------------------------------------
# 8. The whole story, as the CLI would drive it


def test_end_to_end_flow(db: Db) -> None:
    assert db.patch("ana", "/", create_body()).status_code == 200
    assert db.get("bob", "sessions/s1/meta").json()["owner"] == "ana"
    assert db.get("bob", "sessions/s1").status_code == 401
    assert db.patch("bob", "/", join_body("bob", "not-the-code")).status_code == 401
    assert db.patch("bob", "/", join_body("bob")).status_code == 200
    assert db.patch("bob", "sessions/s1", start_body("bob", 1)).status_code == 200
    assert db.put("bob", "users/bob/clock", SV).status_code == 200
    log = db.get("ana", "sessions/s1/log", orderBy='"$key"', limitToLast="10")
    assert log.status_code == 200 and list(as_object(log.json())) == ["1"]
    # A fresh session: bob cannot clean it up, ana (owner) can.
    assert db.patch("bob", "/", delete_body()).status_code == 401
    assert db.patch("bob", "/", leave_body("bob")).status_code == 200
    assert db.patch("ana", "/", delete_body()).status_code == 200
    after = db.value()
    assert "sessions" not in after and "invites" not in after
    assert set(after["users"]) == {"ana", "bob"}  # their own lists and clocks are theirs

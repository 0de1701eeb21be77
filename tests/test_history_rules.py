"""The rules of the history nodes (docs/design.md, "History"): states/$rev, presence/$span, roster/$key.

As tests/test_database_rules.py (whose cast, helpers and writes this file reuses): the REAL rules
file, data arranged as admin, every request made as a member through `auth_variable_override`,
and a denied request leaves the data exactly as it was. Members only, server timestamps,
append-only, shapes bounded.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.test_database_rules import (
    ANON,
    CYCLE,
    DROP,
    OLD,
    SV,
    Db,
    as_object,
    assert_server_time,
    join_body,
    leave_body,
    now_ms,
    override,
    pause_body,
    seeded_world,
    start_body,
    world,
)  # fmt: skip


@pytest.fixture
def db(rest: Any) -> Db:
    return Db(rest)


SPAN = "Sp4n_-abcdEFGH12"
ROSTER = "R0st3r_-key12345"


def with_record(body: dict[str, Any], rev: int, **changes: Any) -> dict[str, Any]:
    """An action's update with its state record: a copy of the state, `changes` applied."""
    out = copy.deepcopy(body)
    out[f"states/{rev}"] = override(out["state"], changes)
    return out


# --------------------------------------------------------------------------------------------
# states/$rev: a copy of the new state, in the same update


def test_an_action_writes_its_state_record(db: Db) -> None:
    db.seed(world())
    assert db.patch("ana", "sessions/s1", with_record(start_body("ana", 1), 1)).status_code == 200
    assert db.patch("bob", "sessions/s1", with_record(pause_body("bob", 2, state={"started_at": db.value("sessions/s1/state/started_at")}), 2)).status_code == 200
    session = db.value("sessions/s1")
    assert session["states"]["2"] == session["state"]
    assert session["states"]["1"]["status"] == "running" and session["states"]["1"]["rev"] == 1
    assert_server_time(session["states"]["2"]["paused_at"])
    # read by time, as reports do
    resp = db.get("bob", "sessions/s1/states", orderBy='"updated_at"', startAt=str(now_ms() - 60_000))
    assert resp.status_code == 200 and set(as_object(resp.json())) == {"1", "2"}


DENIED_RECORDS: list[tuple[str, Any, dict[str, Any]]] = [
    ("another status", "bob", with_record(pause_body("bob"), 2, status="running")),
    ("another label", "bob", with_record(pause_body("bob"), 2, label="forged")),
    ("a label the state has not", "bob", with_record(pause_body("bob"), 2, label="x")),
    ("the state's label left out", "ana", with_record(start_body("ana", 2), 2, label=DROP)),
    ("a forged time", "bob", with_record(pause_body("bob"), 2, paused_at=OLD)),
    ("another updated_at", "bob", with_record(pause_body("bob"), 2, updated_at=OLD)),
    ("a cycle setting changed", "bob", with_record(pause_body("bob"), 2, cycle={**CYCLE, "focus_ms": 60_000})),
    ("a cycle setting missing", "bob", with_record(pause_body("bob"), 2, cycle={k: v for k, v in CYCLE.items() if k != "long_every"})),
    ("a cycle setting more", "bob", with_record(pause_body("bob"), 2, cycle={**CYCLE, "x": 1})),
    ("a field the state has not", "bob", with_record(pause_body("bob"), 2, extra=1)),
    ("required field missing", "bob", with_record(pause_body("bob"), 2, action=DROP)),
    ("under another rev", "bob", {**pause_body("bob"), "states/3": pause_body("bob")["state"]}),
    ("without a state change", "bob", {"states/2": pause_body("bob")["state"]}),
    ("by a non-member", "cara", with_record(pause_body("cara"), 2)),
    ("unauthenticated", ANON, with_record(pause_body("bob"), 2)),
]


@pytest.mark.parametrize(("uid", "body"), [c[1:] for c in DENIED_RECORDS], ids=[c[0] for c in DENIED_RECORDS])
def test_state_record_denied(db: Db, uid: Any, body: dict[str, Any]) -> None:
    db.seed(seeded_world())
    before = db.value()
    db.denied(db.patch(uid, "sessions/s1", body), before)


@pytest.mark.parametrize(("uid", "body"), [("bob", with_record(pause_body("bob"), 2)), ("ana", with_record(start_body("ana", 2), 2))],
                         ids=["pause", "start with a label"])  # fmt: skip
def test_state_record_control(db: Db, uid: str, body: dict[str, Any]) -> None:
    """The control for the table above: the same updates with a faithful record are accepted."""
    db.seed(seeded_world())
    assert db.patch(uid, "sessions/s1", body).status_code == 200
    session = db.value("sessions/s1")
    assert session["states"]["2"] == session["state"]


def test_state_records_are_append_only(db: Db) -> None:
    data = seeded_world()
    data["sessions"]["s1"]["states"] = {"1": data["sessions"]["s1"]["state"]}
    db.seed(data)
    before = db.value()
    db.denied(db.delete("ana", "sessions/s1/states/1"), before)
    db.denied(db.put("ana", "sessions/s1/states/1/label", "rewritten"), before)
    db.denied(db.patch("ana", "sessions/s1", with_record({**pause_body("ana", 1), "log/1": None}, 1)), before)
    # and a record of an old rev cannot be written later, even next to a new action
    db.denied(db.patch("bob", "sessions/s1", {**with_record(pause_body("bob"), 2), "states/1": {"rev": 1}}), before)


def test_an_action_without_a_record_is_still_accepted(db: Db) -> None:
    """Older clients write no record: the state and log rules are unchanged."""
    db.seed(seeded_world())
    assert db.patch("bob", "sessions/s1", pause_body("bob")).status_code == 200
    assert db.value("sessions/s1").get("states") is None


# --------------------------------------------------------------------------------------------
# presence/$span: opened, moved on and closed by its member, with server times


def opened(uid: str = "bob", **fields: Any) -> dict[str, Any]:
    return override({"uid": uid, "name": uid, "from": SV, "seen": SV}, fields)


def opening(key: str, uid: str = "bob", writer: str = "bob", **fields: Any) -> dict[str, Any]:
    """A new span `key` of `uid`, named by `writer`'s record in the same write (one per write),
    with the heartbeat, as the client sends it."""
    return {f"presence/{key}": opened(uid, **fields), f"members/{writer}/span": key, f"members/{writer}/seen_at": SV}


def with_span(data: dict[str, Any], uid: str = "bob", **fields: Any) -> dict[str, Any]:
    """`data` holding `uid`'s span SPAN, last seen 10 s ago (fresh) unless fields say else."""
    recent = now_ms() - 10_000
    data["sessions"]["s1"]["presence"] = {SPAN: override({"uid": uid, "name": uid, "from": recent - 60_000, "seen": recent}, fields)}
    return data


def test_a_watch_opens_moves_on_and_closes_its_span(db: Db) -> None:
    db.seed(world())
    first = {"members/bob/seen_at": SV, **opening(SPAN)}
    assert db.patch("bob", "sessions/s1", first).status_code == 200
    span = db.value(f"sessions/s1/presence/{SPAN}")
    assert_server_time(span["from"])
    assert span["seen"] == span["from"] == db.value("sessions/s1/members/bob/seen_at")
    assert db.patch("bob", "sessions/s1", {"members/bob/seen_at": SV, f"presence/{SPAN}/seen": SV}).status_code == 200
    assert db.patch("bob", "sessions/s1", {"members/bob/away_at": SV, f"presence/{SPAN}/to": SV}).status_code == 200
    span = db.value(f"sessions/s1/presence/{SPAN}")
    assert span["to"] == db.value("sessions/s1/members/bob/away_at") and span["from"] <= span["seen"] <= span["to"]
    before = db.value()
    db.denied(db.patch("bob", "sessions/s1", {f"presence/{SPAN}/seen": SV}), before)  # closed for good
    resp = db.get("ana", "sessions/s1/presence", orderBy='"seen"', startAt=str(span["seen"]))
    assert resp.status_code == 200 and list(resp.json()) == [SPAN]


DENIED_SPANS: list[tuple[str, Any, dict[str, Any]]] = [
    ("opened for someone else", "bob", opening(f"{SPAN}x", "ana")),
    ("another's name", "bob", opening(f"{SPAN}x", name="ana")),
    ("from in the past", "bob", opening(f"{SPAN}x", **{"from": OLD})),
    ("seen in the future", "bob", opening(f"{SPAN}x", seen=4_102_444_800_000)),
    ("opened closed", "bob", opening(f"{SPAN}x", to=SV)),
    ("a field more", "bob", opening(f"{SPAN}x", x=1)),
    ("a key too short", "bob", opening("abc")),
    ("a key with a dot-free oddity", "bob", opening("a" * 65)),
    ("by a non-member", "cara", opening(f"{SPAN}x", "cara", "cara")),
    ("unauthenticated", ANON, opening(f"{SPAN}x")),
    # issue 11, floods: one new span per write, the one the member's record names
    ("a span the record does not name", "bob", {f"presence/{SPAN}x": opened()}),
    ("a span another key is named for", "bob", {f"presence/{SPAN}x": opened(), "members/bob/span": f"{SPAN}y"}),
    ("two spans in one write", "bob", {**opening(f"{SPAN}x"), f"presence/{SPAN}y": opened()}),
    ("a thousand spans in one write", "bob",
     {**opening(f"{SPAN}x"), **{f"presence/{SPAN}{i:04d}": opened() for i in range(1000)}}),
    ("someone else's moved on", "ana", {f"presence/{SPAN}/seen": SV}),
    ("someone else's closed", "ana", {f"presence/{SPAN}/to": SV}),
    ("from rewritten", "bob", {f"presence/{SPAN}/from": SV}),
    ("name rewritten", "bob", {f"presence/{SPAN}/name": "bobby"}),
    ("uid rewritten", "bob", {f"presence/{SPAN}/uid": "ana"}),
    ("seen forged", "bob", {f"presence/{SPAN}/seen": OLD}),
    ("to forged", "bob", {f"presence/{SPAN}/to": OLD}),
    ("replaced whole", "bob", {f"presence/{SPAN}": opened()}),
    ("deleted", "bob", {f"presence/{SPAN}": None}),
]


@pytest.mark.parametrize(("uid", "body"), [c[1:] for c in DENIED_SPANS], ids=[c[0] for c in DENIED_SPANS])
def test_span_denied(db: Db, uid: Any, body: dict[str, Any]) -> None:
    db.seed(with_span(world()))
    before = db.value()
    db.denied(db.patch(uid, "sessions/s1", body), before)


def test_a_stale_span_stays_as_it_is(db: Db) -> None:
    """Its last heartbeat more than 45 s ago: it cannot be moved on or closed; a new one opens."""
    db.seed(with_span(world(), seen=now_ms() - 60_000))
    before = db.value()
    db.denied(db.patch("bob", "sessions/s1", {f"presence/{SPAN}/seen": SV}), before)
    db.denied(db.patch("bob", "sessions/s1", {f"presence/{SPAN}/to": SV}), before)
    assert db.patch("bob", "sessions/s1", opening(f"{SPAN}y")).status_code == 200


def test_a_member_who_left_writes_no_span(db: Db) -> None:
    db.seed(with_span(world()))
    assert db.patch("bob", "/", leave_body("bob")).status_code == 200
    gone = db.value()
    db.denied(db.patch("bob", "sessions/s1", {f"presence/{SPAN}/seen": SV}), gone)
    db.denied(db.patch("bob", "sessions/s1", opening(f"{SPAN}z")), gone)


# --------------------------------------------------------------------------------------------
# roster/$key: membership changes, in the same update as the change


def entry(uid: str, event: str, by: str | None = None, name: str | None = None, **fields: Any) -> dict[str, Any]:
    return override({"uid": uid, "name": name or uid, "event": event, "at": SV, "by": by or uid}, fields)


def joining(uid: str, key: str = ROSTER, named: str | None = None, **fields: Any) -> dict[str, Any]:
    """`uid` joins s1 with their roster entry `key`, which their new record names (`named`)."""
    body = join_body(uid)
    body[f"sessions/s1/members/{uid}"]["roster"] = key if named is None else named
    return {**body, f"sessions/s1/roster/{key}": entry(uid, "joined", **fields)}


GONE = f"bob-{OLD}"  # the roster key of bob's going: his uid and his record's joined_at


def test_joins_leaves_and_removals_are_recorded(db: Db) -> None:
    db.seed(world())
    assert db.patch("cara", "/", joining("cara")).status_code == 200
    assert db.patch("bob", "/", {**leave_body("bob"), f"sessions/s1/roster/{GONE}": entry("bob", "left")}).status_code == 200
    cara_joined = db.value("sessions/s1/members/cara/joined_at")
    kick = {"sessions/s1/members/cara": None, "sessions/s1/seats/3": None, "invites/s1": {"code": "N3w-c0de_1234"},
            f"sessions/s1/roster/cara-{cara_joined}": entry("cara", "removed", by="ana")}  # fmt: skip
    assert db.patch("ana", "/", kick).status_code == 200
    roster = db.value("sessions/s1/roster")
    assert {k: (e["uid"], e["event"], e["by"]) for k, e in roster.items()} == {
        ROSTER: ("cara", "joined", "cara"), GONE: ("bob", "left", "bob"), f"cara-{cara_joined}": ("cara", "removed", "ana"),
    }
    for e in roster.values():
        assert_server_time(e["at"])
    resp = db.get("ana", "sessions/s1/roster", orderBy='"at"', startAt=str(now_ms() - 60_000), endAt=str(now_ms() + 60_000))
    assert resp.status_code == 200 and len(resp.json()) == 3


def test_creating_a_session_records_its_owner_joining(db: Db) -> None:
    from tests.test_database_rules import create_body

    db.seed({"users": {"cara": {"clock": OLD}}})
    body = {**create_body("ana"), f"sessions/s1/roster/{ROSTER}": entry("ana", "joined")}
    body["sessions/s1/members/ana"]["roster"] = ROSTER
    assert db.patch("ana", "/", body).status_code == 200
    assert db.value(f"sessions/s1/roster/{ROSTER}")["event"] == "joined"


DENIED_ROSTER: list[tuple[str, Any, dict[str, Any]]] = [
    ("joined without joining", "cara", {f"sessions/s1/roster/{ROSTER}": entry("cara", "joined")}),
    ("joined for someone else", "cara", {**joining("cara"), f"sessions/s1/roster/{ROSTER}": entry("dan", "joined", by="cara")}),
    ("joined under another name", "cara", joining("cara", name="Boss")),
    ("left while staying", "bob", {f"sessions/s1/roster/{GONE}": entry("bob", "left")}),
    ("left for someone else", "bob", {**leave_body("bob"), f"sessions/s1/roster/ana-{OLD}": entry("ana", "left", by="bob")}),
    ("removed by a member", "bob", {"sessions/s1/members/ana": None, f"sessions/s1/roster/ana-{OLD}": entry("ana", "removed", by="bob")}),
    ("removed without removing", "ana", {f"sessions/s1/roster/{GONE}": entry("bob", "removed", by="ana")}),
    ("removed under another name", "ana", {"sessions/s1/members/bob": None, "invites/s1": {"code": "N3w-c0de_1234"},
                                          f"sessions/s1/roster/{GONE}": entry("bob", "removed", by="ana", name="x")}),
    ("a forged time", "bob", {**leave_body("bob"), f"sessions/s1/roster/{GONE}": entry("bob", "left", at=OLD)}),
    ("another event", "bob", {**leave_body("bob"), f"sessions/s1/roster/{GONE}": entry("bob", "banned")}),
    ("by someone else", "bob", {**leave_body("bob"), f"sessions/s1/roster/{GONE}": entry("bob", "left", by="ana")}),
    ("a field more", "bob", {**leave_body("bob"), f"sessions/s1/roster/{GONE}": entry("bob", "left", x=1)}),
    ("a bad key", "bob", {**leave_body("bob"), "sessions/s1/roster/k": entry("bob", "left")}),
    ("unauthenticated", ANON, {f"sessions/s1/roster/{GONE}": entry("bob", "left")}),
    # issue 11, floods: one entry per membership change, keyed by the membership
    ("joined under a key its record does not name", "cara", joining("cara", named=f"{ROSTER}x")),
    ("joined twice in one write", "cara", {**joining("cara"), f"sessions/s1/roster/{ROSTER}y": entry("cara", "joined")}),
    ("left under a random key", "bob", {**leave_body("bob"), f"sessions/s1/roster/{ROSTER}": entry("bob", "left")}),
    ("left under another joining time", "bob", {**leave_body("bob"), f"sessions/s1/roster/bob-{OLD + 1}": entry("bob", "left")}),
    ("a thousand left entries in one write", "bob",
     {**leave_body("bob"), **{f"sessions/s1/roster/{ROSTER}{i:04d}": entry("bob", "left") for i in range(1000)}}),
]


@pytest.mark.parametrize(("uid", "body"), [c[1:] for c in DENIED_ROSTER], ids=[c[0] for c in DENIED_ROSTER])
def test_roster_entry_denied(db: Db, uid: Any, body: dict[str, Any]) -> None:
    db.seed(world())
    before = db.value()
    db.denied(db.patch(uid, "/", body), before)


def test_roster_is_append_only(db: Db) -> None:
    data = world()
    data["sessions"]["s1"]["roster"] = {GONE: {"uid": "bob", "name": "bob", "event": "left", "at": OLD, "by": "bob"}}
    db.seed(data)
    before = db.value()
    db.denied(db.delete("bob", f"sessions/s1/roster/{GONE}"), before)
    db.denied(db.delete("ana", f"sessions/s1/roster/{GONE}"), before)
    db.denied(db.patch("bob", "/", {**leave_body("bob"), f"sessions/s1/roster/{GONE}": entry("bob", "left")}), before)

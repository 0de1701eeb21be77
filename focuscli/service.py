"""Use cases: sessions, members and timer actions for one user, over the database boundary."""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from focuscli import inert, plan, timer
from focuscli.backend import Database, PermissionDenied, Unreachable
from focuscli.errors import BackendError, FocusError, NotNow, UsageError, WaitStopped, WaitTimedOut
from focuscli.membership import Known, Membership, timestamp
from focuscli.timer import SERVER_NOW, Phase, TimerState, TimerView

# Compare-and-set attempts per action. Each refusal by a moved rev is a lost race; a busy session
# (the reliability storm: 20 members acting non-stop) sees 10 in a row now and then, so the budget
# is generous, and attempts are spread by a short random backoff so that the losers of one race
# do not all collide again on the next rev.
MAX_RETRIES = 30
SEAT_ATTEMPTS = MAX_RETRIES  # races for a free seat a join may lose (20 members joining at once)
# After a write that got no answer (timeout, dropped connection) and is found not to have landed,
# it is sent again this many times: its rev can be taken only once, so that is safe. (Nothing
# below resends on its own: the HTTP client never repeats a write.)
UNANSWERED_RETRIES = 2
RETRY_BACKOFF_S = (0.01, 0.2)  # upper bound of the random pause after the first lost race, cap
CLOCK_MAX_AGE_S = 600.0
CLOCK_STEP_S = 0.05
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
HEARTBEAT_S = 15.0  # while watching, a member writes members/$uid/seen_at this often
PRESENCE_FRESH_MS = 45_000  # here while seen_at is this recent: 3 heartbeats, so 2 may be lost
# A presence span goes on while its last heartbeat is this recent (by this machine's clock; the
# rules allow PRESENCE_FRESH_MS by the server's), else the next heartbeat opens a new one.
SPAN_FRESH_S = 40.0


class Me(Protocol):
    """The signed-in member: their uid (what the rules key everything on) and display name."""

    @property
    def uid(self) -> str: ...

    @property
    def name(self) -> str: ...


def normalize_code(code: str) -> str:
    """An invite code as stored: codes are made of CODE_ALPHABET, so any letter case is accepted."""
    return code.strip().upper()


@dataclass(frozen=True)
class WatchEvent:
    """One thing a watcher reports: what happened, and the session as it is now."""

    kind: str  # state | phase_end | member_joined | member_left | connection | malformed
    status: Status  # malformed: the last status seen (or the initial one), not to be shown
    members: list[str]
    connection: str  # connecting | live | reconnecting
    detail: str = ""
    ended: Phase | None = None  # phase_end: the (phase, round) that ended
    following: Phase | None = None  # phase_end: the one after it (running now with auto-advance)
    joined: tuple[str, ...] = ()  # member_joined: who
    left: tuple[str, ...] = ()  # member_left: who
    problem: str = ""  # malformed: the one line saying what is wrong with the timer, what to do

    def __post_init__(self) -> None:
        """Names and details as they come from the database, made inert (`focuscli.inert`)."""
        object.__setattr__(self, "members", [inert.text(m) for m in self.members])
        object.__setattr__(self, "joined", tuple(inert.text(m) for m in self.joined))
        object.__setattr__(self, "left", tuple(inert.text(m) for m in self.left))
        object.__setattr__(self, "detail", inert.text(self.detail))

    def to_json(self) -> dict[str, Any]:
        """A `focus watch --json` line: the event plus every `focus status --json` field (a
        malformed timer: ``schema``, ``session`` and ``error`` instead of the timer's fields)."""
        if self.kind == "malformed":
            return {
                "event": "malformed", "schema": 1, "session": self.status.session, "error": self.problem,
                "members": self.members, "connection": self.connection,
                **({"detail": self.detail} if self.detail else {}),
            }  # fmt: skip
        extra: dict[str, Any] = {}
        if self.kind == "phase_end":
            extra.update(phase_end_fields(self.ended, self.following))
        elif self.kind == "member_joined":
            extra["joined"] = list(self.joined)
        elif self.kind == "member_left":
            extra["left"] = list(self.left)
        return {
            "event": self.kind,
            **self.status.to_json(),
            "members": self.members,
            "connection": self.connection,
            **({"detail": self.detail} if self.detail else {}),
            **extra,
        }


def phase_end_fields(ended: Phase | None, following: Phase | None) -> dict[str, Any]:
    """The fields a phase_end event adds: ``ended_phase``/``ended_round``, ``next_phase``/``next_round``."""
    return {
        "ended_phase": ended[0] if ended else None,
        "ended_round": ended[1] if ended else None,
        "next_phase": following[0] if following else None,
        "next_round": following[1] if following else None,
    }


@dataclass(frozen=True)
class Status:
    """A session's timer as seen now, in server time."""

    session: str
    view: TimerView
    clock_skew_ms: int
    server_now: int

    def __post_init__(self) -> None:
        """The boundary: the text of a timer read from the database (label, who acted, the
        action) made inert (`focuscli.inert`), so that no output of a status can forget it."""
        v = self.view
        texts = {k: getattr(v, k) for k in ("label", "updated_by", "updated_by_name", "action", "phase", "status")}
        clean: dict[str, Any] = {k: inert.text(t) for k, t in texts.items() if isinstance(t, str) and not t.isprintable()}
        if clean:
            object.__setattr__(self, "view", replace(v, **clean))
        if not self.session.isprintable():
            object.__setattr__(self, "session", inert.text(self.session))

    def to_json(self) -> dict[str, Any]:
        """The versioned `focus status --json` object (schema 1, documented in the README)."""
        v = self.view
        return {
            "schema": 1,
            "session": self.session,
            "phase": v.phase,
            "status": v.status,
            "remaining_ms": v.remaining_ms,
            "duration_ms": v.duration_ms,
            "elapsed_ms": v.elapsed_ms,
            "label": v.label,
            "round": v.round,
            "ends_at": v.ends_at,
            "updated_by": v.updated_by_name or v.updated_by,
            "updated_by_uid": v.updated_by,
            "updated_at": v.updated_at,
            "action": v.action,
            "rev": v.rev,
            "clock_skew_ms": self.clock_skew_ms,
        }


class Focus:
    """What one member can do, against one database, with an estimate of the server clock."""

    def __init__(
        self,
        db: Database,
        me: Me,
        *,
        state_dir: Path,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = db
        self.me = me
        self.state_dir = state_dir
        self.clock = clock
        self.sleep = sleep
        self._offset: int | None = None
        self.created: list[str] = []  # sessions this object created (for a one-time notice)
        self.known = Known()  # what the rules in force know: history records, seats and slots
        self._membership = Membership(db, me, self.known)
        self._spans: dict[str, tuple[str, float]] = {}  # session -> (open span, clock() of its last heartbeat)

    # -- server clock -----------------------------------------------------------------------

    def clock_offset(self, *, fresh: bool = False) -> int:
        """Estimated server clock minus local clock, in ms (cached on disk for a while)."""
        if self._offset is not None and not fresh:
            return self._offset
        cache = self.state_dir / "clock.json"
        key = self.db.target.url
        # The wall clock minus the monotonic clock (system-wide since boot) moves only when the
        # wall clock is stepped; a cached offset from before a step is wrong by the step.
        anchor = self.clock() - time.monotonic()
        if not fresh:
            try:
                saved = json.loads(cache.read_text())
                if (
                    saved["url"] == key
                    and abs(saved["anchor"] - anchor) < CLOCK_STEP_S
                    and time.monotonic() - saved["measured_mono"] < CLOCK_MAX_AGE_S
                ):
                    self._offset = int(saved["offset_ms"])
                    return self._offset
            except (OSError, ValueError, KeyError, TypeError):
                pass
        offset, rtt = self.db.server_time()
        self._offset = offset
        record = {"url": key, "offset_ms": offset, "rtt_ms": rtt, "anchor": anchor, "measured_mono": time.monotonic()}
        _write_atomic(cache, json.dumps(record))
        return offset

    def server_now(self) -> int:
        return int(self.clock() * 1000) + self.clock_offset()

    @property
    def history(self) -> bool:
        """Whether the rules in force know history records (`Known.history`)."""
        return self.known.history

    @history.setter
    def history(self, value: bool) -> None:
        self.known.history = value

    @property
    def seating(self) -> bool:
        """Whether the rules in force know seats and slots (`Known.seating`)."""
        return self.known.seating

    @seating.setter
    def seating(self, value: bool) -> None:
        self.known.seating = value

    @property
    def uid(self) -> str:
        return self.me.uid

    @property
    def name(self) -> str:
        return self.me.name

    # -- sessions ---------------------------------------------------------------------------

    def exists(self, session: str) -> bool:
        return self.db.get(f"sessions/{session}/meta") is not None

    def create(self, session: str) -> str:
        """Create ``session`` with this member as owner; returns the invite code."""
        self._name_allowed()
        meta = self.db.get(f"sessions/{session}/meta")
        if meta is not None:
            raise self._exists(session)
        code = new_code()
        record: dict[str, Any] = {"joined_at": SERVER_NOW, "name": self.name}
        write = {
            f"sessions/{session}/meta": {"owner": self.uid, "created_at": SERVER_NOW},
            f"invites/{session}": {"code": code},
            **self._membership.joining(session, record, seat=1),
        }
        for attempt in range(UNANSWERED_RETRIES + 1):
            try:
                self.db.update("", write)
                break
            except (PermissionDenied, Unreachable) as err:
                # Unanswered, it may have committed all the same (its answer lost); the new random
                # invite code tells. Not in, and unanswered: sending it again is safe (meta can be
                # written once). Not in, and refused: someone else has the name.
                try:
                    landed = self._created_with(session, code)
                except Unreachable:
                    raise err from None
                if landed:
                    break
                if isinstance(err, PermissionDenied):
                    meta = self.db.get(f"sessions/{session}/meta")
                    if meta is not None:
                        raise self._exists(session) from None
                    if self._membership.without_unknown(write):
                        continue  # rules from before the roster or the ceilings: create it without
                    raise
                if attempt == UNANSWERED_RETRIES:
                    raise
        self.created.append(session)
        return code

    def _exists(self, session: str) -> UsageError:
        """The error for creating a session that exists: what to do depends on who you are."""
        meta = _object(self.db.get(f"sessions/{session}/meta"))
        try:
            member = self.db.get(f"sessions/{session}/members/{self.uid}") is not None
        except PermissionDenied:
            member = False
        use = f"use it with: focus start --session {session}"
        if meta.get("owner") == self.uid:
            if member:
                return UsageError(f"you already own session {session!r}; {use}")
            return UsageError(f"you own session {session!r} but left it; rejoin with: focus join {session}")
        if member:
            return UsageError(f"session {session!r} already exists and you are in it; {use}")
        return UsageError(f"session {session!r} already exists; join it with: focus join {session} --code CODE")

    def _created_with(self, session: str, code: str) -> bool:
        """Whether ``session`` exists with invite ``code`` (so this member's create committed)."""
        try:
            invite = self.db.get(f"invites/{session}")
        except PermissionDenied:
            return False  # not a member: someone else created it
        return isinstance(invite, dict) and invite.get("code") == code

    def join(self, session: str, code: str | None) -> None:
        self._name_allowed()
        meta = self.db.get(f"sessions/{session}/meta")
        if meta is None:
            raise UsageError(f"no session named {session!r}; create it with: focus session create {session}")
        record: dict[str, Any] = {"joined_at": SERVER_NOW, "name": self.name}
        if _object(meta).get("owner") != self.uid:
            if not code:
                raise UsageError(
                    f"joining {session!r} needs its invite code: focus join {session} --code CODE "
                    "(a member gets it with: focus session invite)"
                )
            record["code"] = normalize_code(code)
        lost = 0  # races lost for a seat
        seat = self._membership.free_seat(session) if self.seating else None
        write = self._membership.joining(session, record, seat)
        while True:
            try:
                self.db.update("", write)
                return
            except PermissionDenied:
                pass
            if (
                self.seating
                and seat is not None
                and self._membership.seat_holder(session, seat) not in (None, self.uid)
            ):
                # Someone else took that seat first: another one, at random among the free ones
                # so that the joiners who lost this race do not all collide again.
                lost += 1
                if lost >= SEAT_ATTEMPTS:
                    raise BackendError(f"too many members joining {session!r} at once; try again")
                first, cap = RETRY_BACKOFF_S
                self.sleep(random.uniform(0, min(cap, first * 2**lost)))
                seat = self._membership.free_seat(session, lowest=False)
                write = self._membership.joining(session, record, seat)
                continue
            if self._membership.without_unknown(write):
                continue  # rules from before the roster or the ceilings: once more without
            raise BackendError(f"the invite code for {session!r} is not right; ask a member for it")

    def leave(self, session: str) -> None:
        record = self._member_read(session, f"sessions/{session}/members/{self.uid}")
        if record is None:
            raise self._not_member(session)
        write = {
            f"sessions/{session}/members/{self.uid}": None,
            **self._membership.unseated(session, record),
            **self._membership.unlisted(session),
            **self._membership.roster(session, "left", self.uid, record),
        }
        self._membership.update_with_roster(write)

    def sessions(self) -> list[str]:
        mine = self.db.get(f"users/{self.uid}/sessions") or {}
        return sorted(mine)

    def _name_allowed(self) -> None:
        """Refuse, before anything is written, to store a display name the rules refuse."""
        if inert.refused(self.name):
            raise UsageError(
                f"your display name {self.name!r} holds control characters, which sessions refuse; "
                "choose another with: focus login EMAIL --name NAME"
            )

    # -- owner powers -------------------------------------------------------------------------

    def owner(self, session: str) -> str | None:
        meta = self._member_read(session, f"sessions/{session}/meta")
        return meta.get("owner") if isinstance(meta, dict) else None

    def find_member(self, session: str, who: str) -> tuple[str, dict[str, Any]]:
        """(uid, record) of the member ``who`` names: a display name, or a uid."""
        members = self.members(session)
        if who in members:
            record = members[who]
            return who, dict(record) if isinstance(record, dict) else {}
        matches = [(uid, rec) for uid, rec in members.items() if isinstance(rec, dict) and rec.get("name") == who]
        if not matches:
            names = ", ".join(sorted(str(rec.get("name", uid)) for uid, rec in members.items() if isinstance(rec, dict)))
            raise UsageError(f"{who!r} is not a member of {session!r} (members: {names})")
        if len(matches) > 1:
            uids = ", ".join(uid for uid, _ in matches)
            raise UsageError(f"more than one member of {session!r} is called {who!r}; name one by uid: {uids}")
        return matches[0][0], dict(matches[0][1])

    def _require_owner(self, session: str, what: str) -> None:
        if self.owner(session) != self.uid:
            raise BackendError(f"only the owner of {session!r} can {what}")

    def kick(self, session: str, who: str) -> tuple[str, str]:
        """Remove member ``who`` and replace the invite code in one update, so that the old code
        no longer lets them back in; returns (their name, the new code). Owner only."""
        self._require_owner(session, "remove members")
        uid, record = self.find_member(session, who)
        if uid == self.uid:
            raise UsageError("you cannot remove yourself; use focus leave (after focus session transfer)")
        code = new_code()
        write = {
            f"sessions/{session}/members/{uid}": None,
            **self._membership.unseated(session, record),
            **self._membership.stale_seats(session, self.members),
            f"invites/{session}": {"code": code},
            **self._membership.roster(session, "removed", uid, record),
        }
        self._membership.update_with_roster(write)
        return str(record.get("name") or uid), code

    def rotate_invite(self, session: str) -> str:
        """A new invite code (the old one stops working); owner only."""
        self._require_owner(session, "replace the invite code")
        code = new_code()
        self.db.update("", {f"invites/{session}": {"code": code}})
        return code

    def transfer(self, session: str, who: str) -> str:
        """Make member ``who`` the owner; returns their name. Owner only."""
        self._require_owner(session, "hand it over")
        uid, record = self.find_member(session, who)
        if uid == self.uid:
            raise UsageError(f"you already own {session!r}")
        self.db.update(f"sessions/{session}/meta", {"owner": uid})
        return str(record.get("name") or uid)

    def delete(self, session: str) -> None:
        """Delete the session and its invite; owner only."""
        self._require_owner(session, "delete it")
        write = {f"sessions/{session}": None, f"invites/{session}": None}
        self.db.update("", write | self._membership.unlisted(session))

    def invite_code(self, session: str) -> str:
        code = _object(self._member_read(session, f"invites/{session}")).get("code")
        if not isinstance(code, str) or not code:
            raise BackendError(f"session {session!r} has no invite code")
        return code

    def members(self, session: str) -> dict[str, Any]:
        """The session's member records by uid, as stored (whatever each holds)."""
        from focuscli.mirror import member_records

        return member_records(self._member_read(session, f"sessions/{session}/members"))

    def heartbeat(self, session: str) -> None:
        """Mark this member present: ``members/<uid>/seen_at`` = the server's now.

        Watchers call it every HEARTBEAT_S; the rules accept it only from a member, for their own
        record, with a server timestamp, and refuse anything else in the same write.
        """
        if self.history:
            span = self._spans.get(session)
            fresh = span is not None and self.clock() - span[1] < SPAN_FRESH_S
            for attempt in ((True, False) if fresh else (False,)):
                key = span[0] if attempt and span is not None else secrets.token_urlsafe(12)
                write: dict[str, Any] = {f"members/{self.uid}/seen_at": SERVER_NOW}
                if attempt:  # the span goes on
                    write[f"presence/{key}/seen"] = SERVER_NOW
                else:  # a new span: the first heartbeat of a watch, or after a silence; the
                    # record names it (the rules admit one new span per write, the one named)
                    write[f"presence/{key}"] = {"uid": self.uid, "name": self.name, "from": SERVER_NOW, "seen": SERVER_NOW}
                    write[f"members/{self.uid}/span"] = key
                try:
                    self.db.update(f"sessions/{session}", write)
                except PermissionDenied:
                    self._spans.pop(session, None)
                    continue  # gone stale on the server's clock: open a new one; else no spans
                self._spans[session] = (key, self.clock())
                return
            self.history = False
        try:
            self.db.update(f"sessions/{session}/members/{self.uid}", {"seen_at": SERVER_NOW})
        except PermissionDenied:
            raise self._not_member(session) from None

    def away(self, session: str) -> None:
        """Mark this user away at once: ``members/<user>/away_at`` = the server's now.

        A watch that ends cleanly calls it, so that the others do not see a member who quit as
        here for PRESENCE_FRESH_MS more; their next heartbeat (a later seen_at) undoes it."""
        span = self._spans.pop(session, None)
        if self.history and span is not None and self.clock() - span[1] < SPAN_FRESH_S:
            write = {f"members/{self.uid}/away_at": SERVER_NOW, f"presence/{span[0]}/to": SERVER_NOW}
            with contextlib.suppress(PermissionDenied):  # the span went stale: it ends at its last heartbeat
                self.db.update(f"sessions/{session}", write)
                return
        try:
            self.db.set(f"sessions/{session}/members/{self.uid}/away_at", SERVER_NOW)
        except PermissionDenied:
            raise self._not_member(session) from None

    def presence(self, session: str) -> dict[str, dict[str, Any]]:
        """The session's members with ``here`` and ``seen_at`` (see `presence`), by uid."""
        return presence(self.members(session), self.server_now())

    def cleanup_idle(self, idle_after_ms: int) -> list[str]:
        """Delete the sessions this member owns that were idle longer than ``idle_after_ms``;
        returns their names. Sessions that are gone, or that this member was removed from, are
        dropped from their list.

        Idle means the timer is stopped (or never started) and nothing changed for that long.
        Only a session's owner may delete it (so nobody can take over a session's name).
        """
        removed = []
        now = self.server_now()
        for session in self.sessions():
            try:
                meta = self.db.get(f"sessions/{session}/meta")
                state = self.db.get(f"sessions/{session}/state") if meta is not None else None
            except PermissionDenied:
                meta = state = None  # no longer a member
            if meta is None:
                self.db.update("", self._membership.unlisted(session))
                continue
            if state is not None and not isinstance(state, dict):
                continue  # malformed: never taken for idle
            meta, state = _object(meta), _object(state)
            if meta.get("owner") != self.uid:
                continue
            if state and state.get("status") != "idle":
                continue  # a running or paused timer is never idle, however long its phase
            last = state.get("updated_at") or meta.get("created_at")
            if isinstance(last, int) and now - last > idle_after_ms:
                self.delete(session)
                removed.append(session)
        return removed

    def watch_ended(self, session: str, detail: str) -> FocusError:
        """Why the server ended this member's stream of ``session``: it is gone, the member was
        removed, or ``detail`` (the stream's own reason)."""
        try:
            if self.db.get(f"sessions/{session}/meta") is None:
                return BackendError(f"session {session!r} no longer exists")
            self.db.get(f"sessions/{session}/members/{self.uid}")
        except PermissionDenied:
            return BackendError(
                f"you were removed from {session!r} (by its owner); to come back, ask a member "
                f"for the new invite code: focus join {session} --code CODE"
            )
        except BackendError:
            pass
        return BackendError(f"stopped watching {session!r}: {detail}")

    def _member_read(self, session: str, path: str) -> Any:
        try:
            return self.db.get(path)
        except PermissionDenied:
            raise self._not_member(session) from None

    def _not_member(self, session: str) -> FocusError:
        if not self.exists(session):
            return UsageError(f"no session named {session!r}; start one with: focus start --session {session}")
        return BackendError(f"you ({self.me.name}) are not a member of {session!r}; join with: focus join {session} --code CODE")

    # -- the timer --------------------------------------------------------------------------

    def state(self, session: str) -> TimerState:
        """The session's timer; malformed in the database: a BackendError saying what to do."""
        return parse_state(session, self._member_read(session, f"sessions/{session}/state"))

    def status(self, session: str) -> Status:
        state = self.state(session)
        now = self.server_now()
        return Status(session, timer.view(state, now), self.clock_offset(), now)

    def act(
        self,
        session: str,
        action: Callable[[TimerState, int], TimerState],
        *,
        create: bool = False,
        note: dict[str, Any] | None = None,
    ) -> Status:
        """Apply ``action`` through the compare-and-set protocol of docs/design.md, exactly once.

        ``action(state, server_now)`` returns the new state or raises TimerError; ``note`` adds
        fields to the history entry (e.g. the ``ms`` of an extension). Every write of this call
        carries the same operation id (``op`` in the log entry): a write refused or unanswered
        may still have committed (its answer lost, the copy urllib3 re-sent refused because the
        original already moved the rev), so before planning again the log is checked for it.
        """
        self._name_allowed()
        if create and not self.exists(session):
            try:  # refuse a senseless action before anything is written
                action(TimerState(), self.server_now())
            except timer.TimerError as err:
                raise NotNow(str(err)) from None
            self.create(session)
        return self._act_on(session, lambda raw, now: action(parse_state(session, raw), now), note)

    def reset(self, session: str) -> Status:
        """Bring the timer back to a clean stopped state (`timer.reset`), logged like any action;
        works on a malformed state too, as long as its rev admits a next one."""

        def plan(raw: Any, now: int) -> TimerState:
            try:
                return timer.reset(raw, self.uid, now)
            except ValueError as err:  # its rev: said as status says it
                why: Exception = err
                try:
                    TimerState.from_wire(raw)
                except (ValueError, TypeError) as parsed:
                    why = parsed
                raise malformed(session, raw, why) from None

        try:
            return self._act_on(session, plan, None)
        except PermissionDenied:
            raw = self._member_read(session, f"sessions/{session}/state")
            rev = raw.get("rev") if isinstance(raw, dict) else None
            if isinstance(rev, int | float) and not isinstance(rev, bool):
                raise BackendError(  # as a member may: only rules that do not know it refuse it
                    f"the rules in force refused the reset of {session!r} (they predate focus reset); "
                    "deploy focus's rules: cd firebase && firebase deploy --only database"
                ) from None
            raise BackendError(  # the rules count it as 0, and rev 1 is taken in the log
                f"the timer of {session!r} has no rev in the database (rev is {rev!r}), and the rules let "
                f"no member write one; an admin must set sessions/{session}/state/rev to the last rev of its log"
            ) from None

    def _act_on(
        self, session: str, action: Callable[[Any, int], TimerState], note: dict[str, Any] | None
    ) -> Status:
        """`act` on the stored state as read (``action`` gets the raw value: a reset plans on
        a malformed one, every other action parses it first)."""
        op = secrets.token_urlsafe(12)  # 16 of [A-Za-z0-9_-]: this action, in every attempt
        tried: dict[int, TimerState] = {}  # rev -> the state a write of this call asked for there
        unanswered = 0
        state = self._member_read(session, f"sessions/{session}/state")
        for attempt in range(MAX_RETRIES):
            now = self.server_now()
            try:
                new = action(state, now)
            except timer.TimerError as err:
                raise NotNow(str(err)) from None
            new = replace(new, updated_by_name=self.name)
            if new.label and new.label != _stored_label(state) and inert.refused(new.label):
                raise UsageError(f"the label {new.label!r} holds control characters, which sessions refuse")
            entry = plan.log_entry(new, self.uid, self.name, op, note)
            tried[new.rev] = new
            try:
                self.db.update(f"sessions/{session}", plan.update(new, entry, history=self.history))
            except PermissionDenied as err:
                failure: BackendError = err
                first, cap = RETRY_BACKOFF_S
                self.sleep(random.uniform(0, min(cap, first * 2**attempt)))
            except BackendError as err:  # no answer, or an error: the write may have landed
                failure = err
            else:
                return Status(session, timer.view(new_with_times(new, now), now), self.clock_offset(), now)
            try:
                current, landed = self._landed(session, op, tried)
            except Unreachable as err:  # cannot read back: whether it landed is unknown
                raise self._unconfirmed(session, new.action, err) from None
            if landed is not None:
                return landed  # committed by an earlier write of this call: never apply it again
            if _rev_of(current) != _rev_of(state):
                state = current  # lost a race with another member: plan again on it
                continue
            if not isinstance(failure, Unreachable):
                if self.history:  # rules from before states/<rev> refuse it: once more without
                    self.history = False
                    continue
                raise failure  # answered, not a lost race: a real refusal (not a member, bad input)
            if unanswered >= UNANSWERED_RETRIES:
                raise self._unconfirmed(session, new.action, failure)
            unanswered += 1  # not landed and its rev still free: sending it again is safe
        raise BackendError(f"too many members acting on {session!r} at once; try again")

    def _landed(self, session: str, op: str, tried: dict[int, TimerState]) -> tuple[Any, Status | None]:
        """The current state (as stored), and the status right after this action if a write of
        it committed.

        ``tried`` maps each rev a write of this action was for to the state it asked for. A rev
        up to the current one is taken for good (the log is append-only): it is ours exactly if
        its log entry carries ``op``; either way it is dropped from ``tried``.
        """
        current = self._member_read(session, f"sessions/{session}/state")
        stored = _rev_of(current)
        top = stored if isinstance(stored, int) and not isinstance(stored, bool) else 0
        for rev in sorted(r for r in tried if r <= top):
            planned = tried.pop(rev)
            entry = self._member_read(session, f"sessions/{session}/log/{rev}")
            if isinstance(entry, dict) and entry.get("op") == op:
                now = self.server_now()
                at = entry.get("at")
                committed = at if isinstance(at, int) and not isinstance(at, bool) else now
                return current, Status(session, timer.view(new_with_times(planned, committed), now), self.clock_offset(), now)
        return current, None

    def _unconfirmed(self, session: str, action: str | None, err: BackendError) -> BackendError:
        """The one-line error for a write whose outcome cannot be known (no answer, no read-back)."""
        what = err.message.split("; ")[0]
        return BackendError(
            f"{what}, so the {action or 'action'} on {session!r} may or may not have been applied; "
            f"check with: focus log --session {session}"
        )

    def log(self, session: str, *, limit: int, since_ms: int | None) -> list[dict[str, Any]]:
        raw = self._member_read_last(session, limit)
        entries = _entries(raw)
        if since_ms is not None:
            cutoff = self.server_now() - since_ms
            entries = [e for e in entries if isinstance(e.get("at"), int) and e["at"] >= cutoff]
        return [inert.value(e) for e in entries[-limit:]]  # made inert: see focuscli.inert

    def _member_read_last(self, session: str, limit: int) -> Any:
        try:
            return self.db.get_last(f"sessions/{session}/log", limit)
        except PermissionDenied:
            raise self._not_member(session) from None

    def watch(
        self,
        session: str,
        *,
        tick_s: float = 0.25,
        watchdog_s: float = 45.0,
        heartbeat_s: float = HEARTBEAT_S,
        revive: Callable[[], None] | None = None,
    ) -> Generator[WatchEvent, None, None]:
        """Follow ``session`` live: a `WatchEvent` for every change, phase end, member change
        and connection change, until the caller stops iterating (or the session goes away).

        Runs as this user over the database's change stream (rules apply), keeps a presence
        heartbeat while live, and refreshes the server clock estimate now and then. While
        disconnected, ``revive()`` (if given) is called now and then: the CLI passes one that
        starts the embedded server again.
        """
        if self._member_read(session, f"sessions/{session}/members/{self.uid}") is None:
            raise self._not_member(session)
        from focuscli.watching import follow

        return follow(self, session, tick_s=tick_s, watchdog_s=watchdog_s, heartbeat_s=heartbeat_s, revive=revive)

    def wait(
        self, session: str, until: str, timeout_ms: int | None, *, poll_s: float = 0.5
    ) -> tuple[Status, tuple[Phase, Phase] | None]:
        """Block until ``until`` (end|break|focus) is reached in server time; returns the status
        then and, for "end", the phase that ended and the one after it.

        "end" is the end of the phase current when the wait began (extensions move it): time
        running it out, with or without auto-advance, or an action moving to another phase.
        "break" is reached when no focus block runs: a break runs, or a focus phase is done and
        nobody has started the break yet (it is due). A stopped timer raises WaitStopped.
        """
        started = self.clock()
        waited_on: Phase | None = None  # "end": the (phase, round) whose end is awaited
        while True:
            state = self.state(session)
            now = self.server_now()
            status = Status(session, timer.view(state, now), self.clock_offset(), now)
            v = status.view
            if v.status == "idle":
                raise WaitStopped(f"the timer of {session!r} is stopped; nothing to wait for")
            if until == "end":
                current = (v.phase, v.round)
                if waited_on is not None and current != waited_on:  # over: by time or an action
                    following = state.cycle.after(*current) if v.status == "done" else current
                    return status, (waited_on, following)
                if v.status == "done":
                    return status, (current, state.cycle.after(*current))
                waited_on = current
            target = timer.next_moment(state, until, now)
            if until != "end" and target is not None and target <= status.server_now:
                return status, None
            waited_ms = (self.clock() - started) * 1000
            if timeout_ms is not None and waited_ms >= timeout_ms:
                raise WaitTimedOut(f"gave up waiting for {until} after {timer.format_duration(timeout_ms)}")
            pause = poll_s
            if target is not None:
                pause = min(pause, max(0.0, (target - status.server_now) / 1000))
            if timeout_ms is not None:
                pause = min(pause, max(0.0, (timeout_ms - waited_ms) / 1000))
            self.sleep(max(pause, 0.01))


def parse_state(session: str, raw: Any) -> TimerState:
    """The timer in the stored value ``raw`` of ``session``'s state; malformed: `malformed`."""
    try:
        return TimerState.from_wire(raw)
    except (ValueError, TypeError) as err:
        raise malformed(session, raw, err) from None


def malformed(session: str, raw: Any, err: Exception) -> BackendError:
    """The one line for a timer the database holds malformed: what is wrong, and what to do
    (`focus reset`, or, when even its rev is beyond a member's repair, an admin)."""
    what = str(err).removeprefix("invalid timer state: ").splitlines()[0][:200] if str(err) else type(err).__name__
    try:
        timer.next_rev(raw)
    except ValueError as bad:
        return _rev_beyond_repair(session, bad, what)
    return BackendError(
        f"the timer of {session!r} is malformed in the database ({what}); "
        f"run `focus reset --session {session}` to start clean"
    )


def _rev_beyond_repair(session: str, err: Exception, what: str | None = None) -> BackendError:
    """A timer whose stored rev admits no next rev: the rules let no member write over it."""
    detail = str(err) if what in (None, str(err)) else f"{what}; {err}"
    return BackendError(
        f"the timer of {session!r} is malformed in the database ({detail}), and that rev lets no member "
        f"write over it; an admin must set sessions/{session}/state/rev to the last rev of its log"
    )


def _object(raw: Any) -> dict[str, Any]:
    """A stored value that should be an object, as one (anything else: empty)."""
    return raw if isinstance(raw, dict) else {}


def _rev_of(raw: Any) -> Any:
    """The stored rev of a stored state (as is, whatever it is), for telling whether it moved."""
    return raw.get("rev") if isinstance(raw, dict) else None


def _stored_label(raw: Any) -> Any:
    """The label of a stored state as read (any value; None when there is none)."""
    return raw.get("label") if isinstance(raw, dict) else None


def new_code() -> str:
    """A fresh invite code: 10 characters of CODE_ALPHABET (no 0/O, 1/I)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))


def presence(members: Mapping[str, Any], server_now: int) -> dict[str, dict[str, Any]]:
    """Each member's record plus ``seen_at`` (server ms of the last heartbeat, or None if they
    never watched), ``away_at`` (when their last watch ended cleanly, or None) and ``here``: a
    heartbeat within PRESENCE_FRESH_MS of ``server_now`` and no clean end of a watch since.
    Uids and every text in a record are made inert (`focuscli.inert`)."""
    out: dict[str, dict[str, Any]] = {}
    for uid, rec in sorted(members.items()):
        record = dict(inert.value(rec)) if isinstance(rec, dict) else {}
        uid = inert.text(uid)
        seen_at, away_at = timestamp(record.get("seen_at")), timestamp(record.get("away_at"))
        record["seen_at"], record["away_at"] = seen_at, away_at
        fresh = seen_at is not None and server_now - seen_at <= PRESENCE_FRESH_MS
        record["here"] = fresh and (away_at is None or away_at < seen_at)  # type: ignore[operator]
        out[uid] = record
    return out


def new_with_times(state: TimerState, now: int) -> TimerState:
    """The state as the server will store it: SERVER_NOW read as ``now`` (for an immediate view)."""

    def fix(value: object) -> object:
        return now if value is SERVER_NOW else value

    return replace(state, started_at=fix(state.started_at), paused_at=fix(state.paused_at), updated_at=fix(state.updated_at))


def _entries(raw: Any) -> list[dict[str, Any]]:
    """Log entries in rev order; RTDB renders rev-keyed logs as arrays when keys are dense."""
    if raw is None:
        return []
    if isinstance(raw, list):
        items: Iterator[Any] = iter(raw)
    else:
        items = (raw[k] for k in sorted(raw, key=lambda k: int(k) if k.isdigit() else 0))
    return [e for e in items if isinstance(e, dict)]


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)

"""Membership bookkeeping: the seats, slots and roster entries of joining, leaving and removal."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from focuscli.backend import Database, PermissionDenied
from focuscli.errors import BackendError, FocusError
from focuscli.timer import SERVER_NOW

# Ceilings the rules enforce (docs/design.md, "What the rules admit, and the ceilings"): a
# membership holds one of a session's MAX_SEATS numbered seats, and an entry of a member's list
# of sessions one of their MAX_SLOTS.
MAX_SEATS = 200
MAX_SLOTS = 200


@dataclass
class Known:
    """What the rules in force know, as far as this member's writes have found out."""

    # History records (states/<rev>, presence spans, roster events) are written while the
    # rules in force accept them; rules from before them refuse the whole write, which is
    # then made again without them (and they are not tried again by this member's Focus).
    history: bool = True
    # Seats and slots (the ceilings) likewise: rules from before them refuse them, and the
    # membership write is then made again without them.
    seating: bool = True


class Holder(Protocol):
    """The member who joins, leaves or removes: seats, slots and roster entries name their uid."""

    @property
    def uid(self) -> str: ...


class Membership:
    """The writes of one member's membership changes, beside the record itself: their seat and
    list slot, freed seats and slots, roster entries; and making a write again without them
    when the rules in force do not know them."""

    def __init__(self, db: Database, me: Holder, known: Known) -> None:
        self.db = db
        self.me = me
        self.known = known

    @property
    def uid(self) -> str:
        return self.me.uid

    def roster(self, session: str, event: str, uid: str, record: Any) -> dict[str, Any]:
        """The roster entry of a membership change, for the same update as the change: ``joined``
        (``record`` is the new member record, which gets the entry's key as ``roster``), ``left``
        or ``removed`` (``record`` is the one that goes: the key is ``<uid>-<joined_at>``). None
        when the rules in force do not know the roster, or no name or joining time is known."""
        name = _name_in(record)
        if not self.known.history or name is None:
            return {}
        if event == "joined":
            key = secrets.token_urlsafe(12)
            record["roster"] = key
        else:
            joined_at = timestamp(record.get("joined_at"))
            if joined_at is None:
                return {}
            key = f"{uid}-{joined_at}"
        entry = {"uid": uid, "name": name, "event": event, "at": SERVER_NOW, "by": self.uid}
        return {f"sessions/{session}/roster/{key}": entry}

    # -- ceilings: seats and slots (docs/design.md, "What the rules admit") ---------------

    def joining(self, session: str, record: dict[str, Any], seat: int | None) -> dict[str, Any]:
        """The update of this member joining ``session``: record, seat, list entry, roster."""
        write = self.seated(session, record, seat)
        return write | self.roster(
            session, "joined", self.uid, write[f"sessions/{session}/members/{self.uid}"]
        )

    def seated(self, session: str, record: dict[str, Any], seat: int | None) -> dict[str, Any]:
        """The writes of this member's new membership: their record in ``seat`` (taking it) and
        their list entry in a free slot (keeping the one it has); without seats and slots when
        the rules in force do not know them. Raises when this member's list is full."""
        entry: dict[str, Any] = {"joined_at": SERVER_NOW}
        write: dict[str, Any] = {f"sessions/{session}/members/{self.uid}": dict(record)}
        if self.known.seating and seat is not None:
            write[f"sessions/{session}/members/{self.uid}"]["seat"] = seat
            write[f"sessions/{session}/seats/{seat}"] = self.uid
            slot = self.free_slot(session)
            entry["slot"] = slot
            write[f"users/{self.uid}/slots/{slot}"] = session
        write[f"users/{self.uid}/sessions/{session}"] = entry
        return write

    def free_seat(self, session: str, *, lowest: bool = True) -> int:
        """The lowest seat of ``session`` that nobody holds, or this member's own (``lowest``
        False: any free one, at random)."""
        seats = _numbered(self.db.get(f"sessions/{session}/seats"))
        free = [seat for seat in range(1, MAX_SEATS + 1) if seats.get(seat) in (None, self.uid)]
        own = [seat for seat in free if seats.get(seat) == self.uid]
        if free:
            return own[0] if own else free[0] if lowest else random.choice(free)
        raise BackendError(
            f"session {session!r} has {MAX_SEATS} members, the most a session can have; "
            "ask its owner to remove someone (focus session kick)"
        )

    def seat_holder(self, session: str, seat: int) -> Any:
        try:
            return self.db.get(f"sessions/{session}/seats/{seat}")
        except PermissionDenied:
            return None

    def free_slot(self, session: str) -> int:
        """The slot of this member's list entry for ``session``: the one it holds, else the
        lowest free one (held by no entry). Raises when all MAX_SLOTS are held."""
        mine = self.db.get(f"users/{self.uid}")
        mine = mine if isinstance(mine, dict) else {}
        listed = mine.get("sessions")
        entries: dict[str, Any] = listed if isinstance(listed, dict) else {}
        slots = _numbered(mine.get("slots"))

        def held(slot: int) -> bool:
            sid = slots.get(slot)
            entry = entries.get(sid) if isinstance(sid, str) else None
            return isinstance(entry, dict) and entry.get("slot") == slot

        own = entries.get(session)
        if isinstance(own, dict) and isinstance(own.get("slot"), int) and held(own["slot"]):
            return int(own["slot"])
        for slot in range(1, MAX_SLOTS + 1):
            if not held(slot):
                return slot
        raise BackendError(
            f"you are in {MAX_SLOTS} sessions, the most one member can be in; "
            "leave one first (focus session list shows them)"
        )

    def unseated(self, session: str, record: Any) -> dict[str, Any]:
        """Freeing the seat of a member record that goes (none for records from before seats)."""
        seat = record.get("seat") if isinstance(record, dict) else None
        if not self.known.seating or not isinstance(seat, int) or isinstance(seat, bool):
            return {}
        return {f"sessions/{session}/seats/{seat}": None}

    def unlisted(self, session: str) -> dict[str, Any]:
        """Removing this member's list entry for ``session``, and freeing the slot it holds."""
        write: dict[str, Any] = {f"users/{self.uid}/sessions/{session}": None}
        entry = self.db.get(f"users/{self.uid}/sessions/{session}")
        slot = entry.get("slot") if isinstance(entry, dict) else None
        held = self.known.seating and isinstance(slot, int) and not isinstance(slot, bool)
        if held and self.db.get(f"users/{self.uid}/slots/{slot}") == session:
            write[f"users/{self.uid}/slots/{slot}"] = None
        return write

    def stale_seats(self, session: str, members: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
        """Freeing the seats held by no member record (members who went with a client from
        before seats): a joiner cannot tell them from taken ones, the owner can. ``members``
        reads a session's member records by uid."""
        if not self.known.seating:
            return {}
        records = members(session)
        seats = _numbered(self.db.get(f"sessions/{session}/seats"))
        stale = [
            seat for seat, uid in seats.items()
            if not (isinstance(uid, str) and isinstance(records.get(uid), dict) and records[uid].get("seat") == seat)
        ]  # fmt: skip
        return {f"sessions/{session}/seats/{seat}": None for seat in stale}

    def without_seating(self, write: dict[str, Any]) -> bool:
        """Drop seats and slots from ``write`` (after a refusal); False if it had none."""
        keys = [k for k in write if "/seats/" in k or "/slots/" in k]
        for key in keys:
            del write[key]
        for key, value in write.items():
            if isinstance(value, dict) and ("/members/" in key or key.startswith("users/")):
                value.pop("seat", None)
                value.pop("slot", None)
        if keys:
            self.known.seating = False
        return bool(keys)

    def without_roster(self, write: dict[str, Any]) -> bool:
        """Drop the roster entry from ``write`` (after a refusal); False if it had none."""
        keys = [k for k in write if "/roster/" in k]
        for key in keys:
            del write[key]
        for key, value in write.items():
            if isinstance(value, dict) and "/members/" in key:
                value.pop("roster", None)
        if keys:
            self.known.history = False
        return bool(keys)

    def without_unknown(self, write: dict[str, Any]) -> bool:
        """Drop from ``write`` (after a refusal) its roster entry, else its seats and slots: what
        rules from before them refuse; False if it had neither."""
        return self.without_roster(write) or self.without_seating(write)

    def update_with_roster(self, write: dict[str, Any], refused: FocusError | None = None) -> None:
        """One update at the root; refused, once more without its roster entry (rules from
        before the roster), and without seats and slots (rules from before the ceilings), then
        ``refused`` (or the refusal itself)."""
        for _ in range(3):
            try:
                self.db.update("", write)
                return
            except PermissionDenied:
                if self.without_unknown(write):
                    continue
                if refused is not None:
                    raise refused from None
                raise


def _numbered(raw: Any) -> dict[int, Any]:
    """Seats or slots by number, as stored: an object keyed "1".."200" or, when the keys are
    dense enough, the array RTDB makes of it."""
    items = (
        enumerate(raw)
        if isinstance(raw, list)
        else raw.items()
        if isinstance(raw, dict)
        else iter(())
    )
    out: dict[int, Any] = {}
    for key, value in items:
        number = int(key) if isinstance(key, int) or (isinstance(key, str) and key.isdigit()) else 0
        if 1 <= number <= max(MAX_SEATS, MAX_SLOTS) and value is not None:
            out[number] = value
    return out


def _name_in(record: Any) -> str | None:
    name = record.get("name") if isinstance(record, dict) else None
    return name if isinstance(name, str) else None


def timestamp(value: Any) -> int | None:
    """A stored server timestamp (ms) as an int; anything else (a bool too): None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None

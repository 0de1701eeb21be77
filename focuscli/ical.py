"""`focus log --ical`: a session's focus blocks as iCalendar events (RFC 5545) for calendar apps."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import icalendar

from focuscli import blocks as blk
from focuscli.blocks import Block
from focuscli.timer import format_duration

PRODID = "-//focus//focus log --ical//EN"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
OUTCOME_WORDS = {
    blk.COMPLETED: "completed",
    blk.INTERRUPTED: "interrupted",
    blk.RUNNING: "in progress",
    blk.PAUSED: "in progress (paused)",
}


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _text(value: str) -> str:
    """Text from the database for a TEXT property: control and bidi characters removed (the
    library escapes the rest: backslash, comma, semicolon, newline)."""
    return _CONTROL.sub("", value)


def uid(session: str, block: Block, origin: str) -> str:
    """The event's UID: the block's start (server ms) and phase in this session of this
    database, the same in every export, so that calendars update the event instead of adding
    another."""
    domain = re.sub(r"[^A-Za-z0-9.-]+", "-", origin).strip("-") or "focus"
    return f"{block.start}-{block.phase}-{session}@{domain}"


def calendar(
    session: str, attended: list[tuple[Block, dict[str, int]]], names: dict[str, str], *, now: int, origin: str
) -> bytes:
    """The calendar (CRLF lines, folded at 75 octets) of the focus blocks someone attended: one
    VEVENT per block, from its start to its end (a block in progress: to when it would end if
    it runs on; paused: now). ``origin`` names the database (its host and namespace)."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", _text(f"focus: {session}"))
    for block, share in attended:
        if block.phase != "focus" or not share:
            continue
        if block.end is not None:
            end = block.end
        elif block.outcome == blk.RUNNING:
            end = now + max(0, block.length_ms - block.running_ms)
        else:
            end = now
        who = ", ".join(sorted(names.get(u, u) for u in share))
        title = f"Focus: {block.label}" if block.label else "Focus"
        if block.outcome == blk.INTERRUPTED:
            title += " (interrupted)"
        event = icalendar.Event()
        event.add("uid", uid(session, block, origin))
        event.add("dtstamp", _utc(now))
        event.add("dtstart", _utc(block.start))
        event.add("dtend", _utc(max(end, block.start + 1000)))
        event.add("summary", _text(title))
        event.add("description", _text(
            f"{OUTCOME_WORDS[block.outcome]}, {format_duration(block.running_ms)} of focus"
            f" (of {format_duration(block.length_ms)}) in session {session}\nwith {who}"
        ))  # fmt: skip
        event.add("categories", ["focus"])
        event.add("status", "TENTATIVE" if block.end is None else "CONFIRMED")
        event.add("transp", "OPAQUE")
        # Each change to the block (pause, extend, ...) and its end make a new version of the event.
        event.add("sequence", block.changes + (0 if block.end is None else 1))
        event.add("last-modified", _utc(block.runs[-1][1] if block.runs else block.start))
        cal.add_component(event)
    return bytes(cal.to_ical())

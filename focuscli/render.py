"""Plain-text and machine formats of what focus shows: status lines, history, members."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from focuscli import inert, prompt
from focuscli.errors import BadArgument
from focuscli.service import Status, WatchEvent
from focuscli.timer import Cycle, format_duration

PHASE_NAMES = {"focus": "focus", "short_break": "short break", "long_break": "long break"}
FORMAT_TOKENS = prompt.FORMAT_TOKENS
LOG_FIELDS = ("rev", "at", "action", "by", "by_uid", "phase", "ms", "label")


def clock_time(server_ms: object, offset_ms: int = 0, *, dated: bool | None = None) -> str:
    """A server timestamp as local wall-clock time: HH:MM:SS today, else YYYY-MM-DD HH:MM:SS
    (``dated`` forces one or the other); "-" for none, "?" for one no clock can show (a stored
    value that is no timestamp, or years away)."""
    if server_ms is None:
        return "-"
    local = _local(server_ms, offset_ms)
    if local is None:
        return "?"
    if dated is None:
        dated = not _today(server_ms, offset_ms)
    return time.strftime("%Y-%m-%d %H:%M:%S" if dated else "%H:%M:%S", local)


def _local(server_ms: object, offset_ms: int = 0) -> time.struct_time | None:
    """A stored server timestamp in local time; None when it is none a clock can show."""
    if not isinstance(server_ms, int) or isinstance(server_ms, bool):
        return None
    try:
        local = time.localtime((server_ms - offset_ms) / 1000)
    except (OverflowError, OSError, ValueError):
        return None
    return local if 1 <= local.tm_year <= 9999 else None


def _today(server_ms: object, offset_ms: int = 0) -> bool:
    """Whether a server timestamp falls on today's date in the user's time zone."""
    then, now = _local(server_ms, offset_ms), time.localtime()
    return then is not None and (then.tm_year, then.tm_yday) == (now.tm_year, now.tm_yday)


def iso_time(server_ms: object) -> str:
    """A server timestamp as ISO 8601 in the user's time zone, to the ms (CSV); "" for one no
    clock can show."""
    from datetime import datetime

    if not isinstance(server_ms, int) or _local(server_ms) is None:
        return ""
    try:
        return datetime.fromtimestamp(server_ms / 1000).astimezone().isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):
        return ""


def status_line(status: Status) -> str:
    """One line for humans: session, phase, state, time left, round, label."""
    v = status.view
    phase = PHASE_NAMES.get(v.phase, v.phase)
    if v.status == "idle":
        state = f"idle (next: {phase} {format_duration(v.duration_ms)})"
    elif v.status == "done":
        state = f"{phase} done"
    else:
        left = f"{format_duration(v.remaining_ms)} left of {format_duration(v.duration_ms)}"
        state = f"{phase} {v.status}, {left}"
    parts = [inert.text(status.session), state, f"round {v.round}"]
    if v.label:
        parts.append(quoted(v.label))
    line = " · ".join(parts)
    if v.updated_by and v.action:
        when = clock_time(v.updated_at, status.clock_skew_ms)
        line += f"\nlast: {inert.text(v.action)} by {inert.text(v.updated_by_name or v.updated_by)} at {when}"
    return line


def quoted(label: object) -> str:
    """A label in double quotes, made inert (`focuscli.inert`); a quote in it as ``\\"``."""
    return '"' + inert.text(label).replace('"', '\\"') + '"'


def action_line(status: Status) -> str:
    v = status.view
    phase = PHASE_NAMES.get(v.phase, v.phase)
    verbs = {
        "start": f"started {phase} ({format_duration(v.duration_ms)})",
        "pause": f"paused {phase} with {format_duration(v.remaining_ms)} left",
        "resume": f"resumed {phase}, {format_duration(v.remaining_ms)} left",
        "stop": "stopped the timer",
        "skip": f"skipped to {phase} ({format_duration(v.duration_ms)})",
        "extend": f"extended {phase} to {format_duration(v.duration_ms)}, {format_duration(v.remaining_ms)} left",
        "settings": "updated the cycle settings",
        "reset": "reset the timer (stopped, round 1)",
        "label": f"relabelled {phase}: {quoted(v.label)}" if v.label else f"cleared the label of {phase}",
    }
    return f"{inert.text(status.session)}: {verbs.get(v.action or '', inert.text(v.action or 'done'))}"


def cycle_line(session: str, cycle: Cycle) -> str:
    """`focus session show`: the session's Pomodoro cycle on one line."""
    return (
        f"{session}: focus {format_duration(cycle.focus_ms)} · short break {format_duration(cycle.short_break_ms)}"
        f" · long break {format_duration(cycle.long_break_ms)} after every {cycle.long_every} focus"
        f" round{'s' if cycle.long_every != 1 else ''} · auto-advance {'on' if cycle.auto_advance else 'off'}"
    )


def formatted(status: Status, fmt: str, members: Iterable[str] = ()) -> str:
    """``--format`` output: ``{token}`` fields (see FORMAT_TOKENS), ``{{``/``}}`` for braces.

    The token logic lives in `focuscli.prompt`, which the prompt fast path shares."""
    try:
        return prompt.format_status(fmt, prompt.token_values(status.to_json(), members))
    except prompt.FormatError as err:
        raise BadArgument(str(err)) from None


def shown_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A history entry as focus shows it: ``by`` is the member's name (as the rules checked it
    against their ID token when they acted), ``by_uid`` their uid."""
    return {**entry, "by": entry.get("name") or entry.get("by"), "by_uid": entry.get("by")}


def log_lines(entries: list[dict[str, Any]], offset_ms: int) -> list[str]:
    """`focus log`: one line per entry; every time dated when any entry is not from today."""
    dated = any(isinstance(e.get("at"), int) and not _today(e["at"], offset_ms) for e in entries)
    lines = []
    for e in map(shown_entry, entries):
        extra = []
        phase = e.get("phase")
        if phase:
            extra.append(inert.text(PHASE_NAMES.get(phase, phase) if isinstance(phase, str) else json.dumps(phase)))
        if isinstance(e.get("ms"), int) and not isinstance(e.get("ms"), bool):
            extra.append(format_duration(e["ms"]))
        if e.get("label"):
            extra.append(quoted(e["label"]))
        tail = (" " + " ".join(extra)) if extra else ""
        when = clock_time(e.get("at"), offset_ms, dated=dated)
        head = f"#{e.get('rev')}  {e.get('action')} by {e.get('by')}"
        lines.append(f"{when}  {inert.text(head)}{tail}")
    return lines


def log_json(entries: list[dict[str, Any]]) -> list[str]:
    return [json.dumps({k: e[k] for k in LOG_FIELDS if k in e}, ensure_ascii=False) for e in map(shown_entry, entries)]


def log_csv(entries: list[dict[str, Any]]) -> str:
    """`focus log --csv`: the JSON fields plus ``at_iso`` (``at`` in ISO 8601, local time zone)."""
    fields = ("rev", "at", "at_iso", *LOG_FIELDS[2:])
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for e in map(shown_entry, entries):
        at = e.get("at")
        row = {k: e.get(k, "") for k in LOG_FIELDS}
        row["at_iso"] = iso_time(at)
        writer.writerow(row)
    return out.getvalue()


def members_lines(presence: Mapping[str, Mapping[str, Any]], offset_ms: int) -> list[str]:
    """``focus who``: one line per member of a `service.presence` result, by name:
    ``ana  here``, ``bob  away (seen 10:02:03)`` or ``cara  away (never watched)``."""
    names = {uid: inert.text(rec.get("name") or uid) for uid, rec in presence.items()}
    width = max((len(name) for name in names.values()), default=0)
    lines = []
    for uid, rec in sorted(presence.items(), key=lambda item: (names[item[0]], item[0])):
        if rec.get("here"):
            where = "here"
        elif isinstance(rec.get("seen_at"), int):
            last = max(rec["seen_at"], rec.get("away_at") or 0)  # the heartbeat, or the quit after it
            where = f"away (seen {clock_time(last, offset_ms)})"
        else:
            where = "away (never watched)"
        lines.append(f"{names[uid].ljust(width)}  {where}")
    return lines


WATCH_WORDS = {
    "state": "",
    "phase_end": "phase over: ",
    "member_joined": "joined: ",
    "member_left": "left: ",
    "connection": "connection: ",
}


def watch_line(event: WatchEvent) -> str:
    """One line per watch event for people and logs (the live full-screen view is issue 5)."""
    when = clock_time(event.status.server_now, event.status.clock_skew_ms)
    if event.kind == "malformed":
        text = inert.text(event.problem)
    elif event.kind == "connection":
        text = event.connection + (f" ({inert.text(event.detail)})" if event.detail else "")
    elif event.kind in ("member_joined", "member_left"):
        who = event.joined if event.kind == "member_joined" else event.left
        text = inert.text(f"{', '.join(who)} · members: {', '.join(event.members) or '-'}")
    else:
        text = status_line(event.status).replace("\n", " · ")
    return f"{when}  {WATCH_WORDS.get(event.kind, '')}{text}"

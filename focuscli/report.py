"""Team reports: a session's blocks in a time range, attributed to members, summed by day, member and label.

Pure and stdlib-only: the stored history in (as read from the database, untrusted), the report
out, with "now", the range and the time zone as parameters. focuscli/web/report.js computes the
same report for the page; tests/cases/report/*.json hold both to it.

Definitions (docs/design.md, "Reports"):

- blocks come from `focuscli.blocks` (completed, interrupted, running or paused; running time
  without pauses); a block belongs to the day (in the time zone given) and the range it began in;
- a member **attended** a block when they acted on it (started it, paused, resumed, extended or
  relabelled it, changed the settings during it, stopped or skipped it before its end) or when
  one of their presence spans (watching) overlaps the time it ran;
- their share of its running time: all of it when they acted on it, else the overlap;
- the team's figures count the blocks someone attended; blocks nobody attended (a timer that ran
  on by itself) are counted apart, as ``unattended``;
- ``completed``/``interrupted``/``in_progress`` count focus blocks; ``breaks`` counts breaks;
- labels are those of focus blocks, as each block ended (a break keeps the label of the block
  before it, which says nothing about the break);
- the longest streak is the longest run of consecutive days with a completed focus block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Final
from zoneinfo import ZoneInfo

from focuscli import blocks as blk
from focuscli.blocks import Block
from focuscli.timer import Cycle, TimerState

SCHEMA: Final = 1
PRESENCE_FRESH_MS: Final = 45_000  # a span whose last heartbeat is this recent is still open
LOOKAHEAD_MS: Final = 2 * 24 * 3_600_000  # read past a range's end, so its last blocks can end
TALLY: Final = ("focus_ms", "break_ms", "completed", "interrupted", "in_progress", "breaks")
LABEL_TALLY: Final = ("focus_ms", "completed", "interrupted", "in_progress")  # labels: focus blocks


def zone(name: str | None) -> tzinfo | None:
    """The time zone named ``name`` (IANA), or None for this machine's local time; KeyError
    (unknown) or ValueError (malformed) otherwise."""
    return None if name is None else ZoneInfo(name)


def day_of(ms: int, tz: tzinfo | None) -> str:
    """The calendar date (YYYY-MM-DD) of server time ``ms`` in ``tz`` (None: local time)."""
    return datetime.fromtimestamp(ms / 1000, tz).date().isoformat()



def spans(presence: Any, now: int) -> list[tuple[str, str | None, int, int]]:
    """(uid, name, from, to) of each presence span: to is its clean end, else its last heartbeat
    (or now, while that is fresh)."""
    out = []
    items = presence.values() if isinstance(presence, Mapping) else presence if isinstance(presence, list) else []
    for span in items:
        one = span_of(span, now)
        if one is not None:
            out.append(one[:4])
    out.sort(key=span_order)
    return out


def span_order(span: tuple[Any, ...]) -> tuple[int, str, int, str]:
    """The order of `spans`: by start, then uid, end and name."""
    return (span[2], span[0], span[3], span[1] or "")


def span_of(span: Any, now: int) -> tuple[str, str | None, int, int, int] | None:
    """(uid, name, from, to, seen) of one stored presence span (see `spans`), None when it is
    malformed or lasted no time."""
    if not isinstance(span, Mapping) or not isinstance(span.get("uid"), str):
        return None
    start, seen, end = (_int(span.get(k)) for k in ("from", "seen", "to"))
    if start is None or seen is None:
        return None
    if end is None:
        end = now if now - seen <= PRESENCE_FRESH_MS else seen
    name = span.get("name") if isinstance(span.get("name"), str) else None
    return (span["uid"], name, start, end, seen) if end > start else None


def _int(value: Any) -> int | None:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def shares(block: Block, present: list[tuple[str, str | None, int, int]]) -> dict[str, int]:
    """Each attending member's share of ``block``'s running time (see the module's doc)."""
    actors, runs = block.actors, block.runs
    out = dict.fromkeys(actors, block.running_ms)
    for uid, _, start, end in present:
        if uid in actors:
            continue
        overlap = 0
        for a, b in runs:
            lo, hi = (a if a > start else start), (b if b < end else end)
            if hi > lo:
                overlap += hi - lo
        if overlap > 0:
            out[uid] = out.get(uid, 0) + overlap
    return out


def attendance(chosen: list[Block], present: list[tuple[str, str | None, int, int]]) -> list[dict[str, int]]:
    """`shares` of each block (in time order, as `blocks.replay` gives them), sweeping the
    spans (sorted by start) once instead of testing every span against every block."""
    out: list[dict[str, int]] = []
    active: list[tuple[str, str | None, int, int]] = []
    i = 0
    for block in chosen:
        first = block.runs[0][0] if block.runs else block.start
        last = block.runs[-1][1] if block.runs else block.start
        while i < len(present) and present[i][2] < last:
            active.append(present[i])
            i += 1
        active = [s for s in active if s[3] > first]
        out.append(shares(block, active))
    return out


def _dates(first: str, last: str) -> list[str]:
    day, end = date.fromisoformat(first), date.fromisoformat(last)
    out = []
    while day <= end:
        out.append(day.isoformat())
        day += timedelta(days=1)
    return out


def longest_streak(days: list[str]) -> dict[str, Any]:
    """The longest run of consecutive dates in ``days`` (sorted, unique): {days, from, to}."""
    best: dict[str, Any] = {"days": 0, "from": None, "to": None}
    run_start, prev = None, None
    for d in days:
        day = date.fromisoformat(d)
        if prev is None or day - prev != timedelta(days=1):
            run_start = day
        prev = day
        assert run_start is not None
        length = (day - run_start).days + 1
        if length > best["days"]:
            best = {"days": length, "from": run_start.isoformat(), "to": d}
    return best


@dataclass(frozen=True)
class History:
    """A session's history over a range: its blocks with each attending member's share, who is
    who, and what the replay could not know exactly."""

    blocks: list[tuple[Block, dict[str, int]]]  # the blocks that began in the range, in order
    steps: list[blk.Step]  # every action read (the range and around it); [] from the cache
    names: dict[str, str]  # uid -> display name (the latest known)
    members: list[str]  # the uids of the current members
    inexact: int  # actions whose state was replayed from the log, or unreadable
    actions: dict[str, int]  # uid -> actions taken in the range
    # days whose blocks are summed already (`day_sums`: the report cache keeps those of days that
    # can no longer change); their blocks are not in ``blocks``
    days: Mapping[str, Any] = field(default_factory=dict)


def analyse(
    history: Mapping[str, Any], *, start: int, end: int, now: int, horizon: int | None = None
) -> History:
    """The blocks that began in [start, end) (server ms) and who attended them.

    ``history``: the stored ``states``, ``log`` (entries of revs without a state record),
    ``presence``, ``roster``, ``members`` and the current ``state`` of the session, each as read
    (any may be missing or malformed). ``horizon``: how far the history read reaches (default
    ``now``); blocks still open then are in progress.
    """
    current = history.get("state")
    try:
        cycle = TimerState.from_wire(current).cycle if isinstance(current, Mapping) else Cycle()
    except (ValueError, TypeError):
        cycle = Cycle()
    steps, inexact = blk.steps(history.get("states"), history.get("log"), cycle=cycle)
    replayed = blk.replay(steps, now if horizon is None else min(now, horizon))
    chosen = [b for b in replayed if start <= b.start < end]
    actions: dict[str, int] = {}
    for step in steps:
        if start <= step.at < end and step.by:
            actions[step.by] = actions.get(step.by, 0) + 1
    named = {s.by: s.name for s in steps if s.by and s.name}
    return attend(
        chosen,
        history,
        start=start,
        end=end,
        now=now,
        named=named,
        actions=actions,
        steps=steps,
        inexact=inexact,
    )


def attend(
    chosen: list[Block], history: Mapping[str, Any], *, start: int, end: int, now: int,
    named: dict[str, str], actions: dict[str, int], steps: list[blk.Step] | None = None, inexact: int = 0,
    present: list[tuple[str, str | None, int, int]] | None = None,
    days: Mapping[str, Any] | None = None,
) -> History:  # fmt: skip
    """The `History` of the blocks ``chosen`` (those that began in [start, end), in replay
    order): who attended each, from the ``presence``, ``roster`` and ``members`` in ``history``;
    ``named``: the names the actions read gave (uid -> name), ``actions``: the actions taken
    in the range by uid. ``present``: `spans` of the presence, when known already; ``days``:
    the figures of days whose blocks are not in ``chosen`` (`History.days`)."""
    if present is None:
        present = spans(history.get("presence"), now)
    reach = max([*(b.runs[-1][1] for b in chosen if b.runs), *(part[REACH] for part in (days or {}).values()), end])
    present = [s for s in present if s[3] > start and s[2] < max(end, reach)]

    names: dict[str, str] = {}
    roster = history.get("roster")
    events = (
        [e for e in roster.values() if isinstance(e, Mapping)]
        if isinstance(roster, Mapping)
        else []
    )
    events = [e for e in events if isinstance(e.get("uid"), str) and isinstance(e.get("name"), str)]
    for event in sorted(events, key=lambda e: (_int(e.get("at")) or 0, e["uid"], e["name"])):
        names[event["uid"]] = event["name"]
    names.update(named)
    names.update({uid: name for uid, name, _, _ in present if name})
    members = history.get("members")
    current_members = (
        sorted(u for u, r in members.items() if isinstance(r, Mapping))
        if isinstance(members, Mapping)
        else []
    )
    for uid in current_members:
        name = members[uid].get("name")  # type: ignore[index]
        if isinstance(name, str):
            names[uid] = name
    return History(
        list(zip(chosen, attendance(chosen, present), strict=True)),
        steps or [],
        names,
        current_members,
        inexact,
        actions,
        days or {},
    )


def build(
    history: Mapping[str, Any], *, start: int, end: int, now: int, tz: tzinfo | None = None,
    horizon: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The report of the blocks that began in [start, end) (see `analyse` for the arguments)."""
    return summarise(
        analyse(history, start=start, end=end, now=now, horizon=horizon),
        start=start,
        end=end,
        now=now,
        tz=tz,
    )


# A day's figures (`day_sums`): plain lists, dicts, numbers and text, which the report cache
# keeps for days that can no longer change. A tally is a list in TALLY's order.
BLOCKS, ATTENDED, ROW, MEMBERS, LABELS, PEOPLE, COMPLETED_BY, TEAM_COMPLETED, UNATTENDED, REACH = range(10)
_FOCUS_MS, _BREAK_MS, _COMPLETED, _INTERRUPTED, _IN_PROGRESS, _BREAKS = range(len(TALLY))
_OUTCOME_AT: Final = {"completed": _COMPLETED, "interrupted": _INTERRUPTED}  # else in progress


def _day() -> list[Any]:
    return [0, 0, [0] * len(TALLY), {}, {}, {}, {}, False, [0, 0], 0]


def day_sums(blocks: list[tuple[Block, dict[str, int]]], tz: tzinfo | None = None) -> dict[str, list[Any]]:
    """The figures of ``blocks`` (with each one's shares, as `History.blocks`) per day they began
    on (YYYY-MM-DD in ``tz``): what `summarise` adds up. A day's figures, by index: BLOCKS (all
    begun on it), ATTENDED (those someone attended), their ROW (a tally), MEMBERS (uid -> focus
    ms), LABELS (label or None -> tally, focus blocks), PEOPLE (uid -> tally), COMPLETED_BY (uid
    -> 1: a completed focus block they attended), TEAM_COMPLETED (one that someone attended),
    UNATTENDED ([focus blocks nobody attended, their focus ms]) and REACH (the latest end of a run
    of its blocks, 0 for none: `attend` reads presence up to there).
    """
    out: dict[str, list[Any]] = {}
    for block, share in blocks:  # the hot loop of a year's report
        running, focus = block.running_ms, block.phase == "focus"
        d = day_of(block.start, tz)
        part = out.get(d)
        if part is None:
            part = out[d] = _day()
        part[BLOCKS] += 1
        if block.runs and block.runs[-1][1] > part[REACH]:
            part[REACH] = block.runs[-1][1]
        if not share:
            if focus:
                part[UNATTENDED][0] += 1
                part[UNATTENDED][1] += running
            continue
        part[ATTENDED] += 1
        row, on_day, people = part[ROW], part[MEMBERS], part[PEOPLE]
        if focus:  # a break keeps the label of the block before it: not its own
            key = _OUTCOME_AT.get(block.outcome, _IN_PROGRESS)
            label_row = part[LABELS].get(block.label or None)
            if label_row is None:
                label_row = part[LABELS][block.label or None] = [0] * len(TALLY)
            row[_FOCUS_MS] += running
            row[key] += 1
            label_row[_FOCUS_MS] += running
            label_row[key] += 1
        else:
            key = _BREAKS
            row[_BREAK_MS] += running
            row[_BREAKS] += 1
        completed = focus and block.outcome == blk.COMPLETED
        if completed:
            part[TEAM_COMPLETED] = True
        for uid, ms in share.items():
            person = people.get(uid)
            if person is None:
                person = people[uid] = [0] * len(TALLY)
            person[key] += 1
            if focus:
                person[_FOCUS_MS] += ms
                on_day[uid] = on_day.get(uid, 0) + ms
            else:
                person[_BREAK_MS] += ms
            if completed:
                part[COMPLETED_BY][uid] = 1
    return out


def _add(into: list[int], more: list[int]) -> None:
    for i, v in enumerate(more):
        into[i] += v


def summarise(
    seen: History, *, start: int, end: int, now: int, tz: tzinfo | None = None
) -> dict[str, Any]:
    """The report of ``seen`` (`analyse`, or `attend`), the blocks that began in [start, end):
    its blocks' figures per day (`day_sums`, in ``tz``) and those of its ``days``, added up."""
    width = len(TALLY)
    days = {d: [0] * width for d in _dates(day_of(start, tz), day_of(max(start, end - 1), tz))}
    day_members: dict[str, dict[str, int]] = {d: {} for d in days}
    totals, unattended = [0] * width, [0, 0]
    people: dict[str, list[int]] = {uid: [0] * width for uid in seen.members}
    labels: dict[str | None, list[int]] = {}
    team_days: set[str] = set()
    member_days: dict[str, set[str]] = {}
    parts: list[tuple[str, Any]] = [*day_sums(seen.blocks, tz).items(), *seen.days.items()]
    for d, part in parts:
        _add(unattended, part[UNATTENDED])
        if not part[ATTENDED]:
            continue
        row = days.get(d)
        if row is None:
            row = days[d] = [0] * width
        _add(row, part[ROW])
        _add(totals, part[ROW])
        on_day = day_members.setdefault(d, {})
        for uid, ms in part[MEMBERS].items():
            on_day[uid] = on_day.get(uid, 0) + ms
        for label, tally in part[LABELS].items():
            label_row = labels.get(label)
            if label_row is None:
                label_row = labels[label] = [0] * width
            _add(label_row, tally)
        for uid, tally in part[PEOPLE].items():
            person = people.get(uid)
            if person is None:
                person = people[uid] = [0] * width
            _add(person, tally)
        if part[TEAM_COMPLETED]:
            team_days.add(d)
        for uid in part[COMPLETED_BY]:
            member_days.setdefault(uid, set()).add(d)
    actions = 0
    acted: dict[str, int] = {}
    for uid, count in seen.actions.items():
        actions += count
        acted[uid] = acted.get(uid, 0) + count
        people.setdefault(uid, [0] * width)

    member_rows: list[dict[str, Any]] = [
        {"uid": uid, "name": seen.names.get(uid, uid), **dict(zip(TALLY, row, strict=True)),
         "actions": acted.get(uid, 0),
         "longest_streak": longest_streak(sorted(member_days.get(uid, ())))["days"]}
        for uid, row in people.items()
    ]  # fmt: skip
    member_rows.sort(key=lambda r: (-r["focus_ms"], r["name"], r["uid"]))
    label_rows: list[dict[str, Any]] = [
        {"label": label, **{k: row[TALLY.index(k)] for k in LABEL_TALLY}} for label, row in labels.items()
    ]
    label_rows.sort(key=lambda r: (-r["focus_ms"], r["label"] is None, r["label"] or ""))
    return {
        "schema": SCHEMA,
        "from": start,
        "to": end,
        "now": now,
        "exact": seen.inexact == 0,
        "inexact_actions": seen.inexact,
        "totals": {
            **dict(zip(TALLY, totals, strict=True)),
            "actions": actions,
            "members": sum(1 for r in member_rows if r["focus_ms"] or r["break_ms"] or r["actions"]),
            "longest_streak": longest_streak(sorted(team_days)),
            "unattended": {"blocks": unattended[0], "focus_ms": unattended[1]},
        },
        "days": [
            {"date": d, **dict(zip(TALLY, row, strict=True)), "members": dict(sorted(day_members[d].items()))}
            for d, row in sorted(days.items())
        ],
        "members": member_rows,
        "labels": label_rows,
    }  # fmt: skip

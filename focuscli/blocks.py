"""Phase runs replayed from a session's history: when each block ran, how it ended, who acted on it.

The history of a session is one state per rev: ``states/<rev>`` holds the state each action
made (written with the action since history records exist); for older revs only the log entry
``log/<rev>`` is there, and the state is replayed from it with the timer core (exact but for
the cycle a ``settings`` action set, which the log does not hold). Between two revs the state
is anchored on server time, so `timer.view` tells exactly where every phase began and ended,
auto-advance included (docs/design.md, "History").

A block is one run of one phase (focus or a break):

- it begins with a ``start`` or ``skip``, or by time (auto-advance);
- it is **completed** when its time ran out (its end is that moment, whatever happened later),
  **interrupted** when a ``stop``, ``skip`` or ``reset`` ended it before that;
- otherwise it is still **running** or **paused** at the horizon (now);
- its running time counts only the time it ran: pauses are left out;
- pause, resume, extend, label and settings change a block without ending it (an ``extend``
  after its time ran out makes it run again: it is then no longer completed until it runs out).

Everything here is pure: data in (stored values, untrusted), blocks out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from focuscli import timer
from focuscli.timer import SERVER_NOW, Cycle, TimerState

COMPLETED, INTERRUPTED, RUNNING, PAUSED = "completed", "interrupted", "running", "paused"
OUTCOMES = (COMPLETED, INTERRUPTED, RUNNING, PAUSED)
_NEW_BLOCK = ("start", "skip")
_ENDS_BLOCK = ("start", "skip", "stop", "reset")


@dataclass(frozen=True)
class Step:
    """One accepted action: its rev, server time, the state it made, and who took it."""

    rev: int
    at: int
    state: TimerState  # timestamps resolved (no SERVER_NOW)
    by: str | None  # the member's uid
    name: str | None  # their display name then
    exact: bool  # True: from its state record; False: replayed from its log entry


@dataclass
class Block:
    """One run of one phase; ``runs`` are the [from, to) server-ms spans it ran."""

    phase: str
    round: int
    start: int
    rev: int  # the rev of the state it began under
    length_ms: int  # its length, extensions included
    label: str | None
    end: int | None = None
    outcome: str = RUNNING
    runs: list[list[int]] = field(default_factory=list)
    actors: dict[str, int] = field(default_factory=dict)  # uid -> actions taken on it
    changes: int = 0  # actions that changed it after it began

    @property
    def running_ms(self) -> int:
        runs = self.runs
        if len(runs) == 1:  # most blocks (a year's report asks tens of thousands)
            return runs[0][1] - runs[0][0]
        return sum(b - a for a, b in runs)

    def run(self, start: int, end: int) -> None:
        if end <= start:
            return
        if self.runs and self.runs[-1][1] == start:
            self.runs[-1][1] = end
        else:
            self.runs.append([start, end])

    def to_json(self) -> dict[str, Any]:
        return {
            "phase": self.phase, "round": self.round, "start": self.start, "end": self.end,
            "outcome": self.outcome, "running_ms": self.running_ms, "length_ms": self.length_ms,
            "label": self.label, "rev": self.rev, "runs": [list(r) for r in self.runs],
            "actors": dict(sorted(self.actors.items())), "changes": self.changes,
        }  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Steps: the state each rev made


def by_rev(raw: Any) -> dict[int, dict[str, Any]]:
    """Children keyed by rev, from a stored value (an object with rev keys, or the array RTDB
    renders for dense integer keys); anything that is not an object is left out."""
    if isinstance(raw, list):
        items: Any = enumerate(raw)
    elif isinstance(raw, Mapping):
        items = ((_rev_key(k), v) for k, v in raw.items())
    else:
        return {}
    return {rev: dict(v) for rev, v in items if isinstance(v, Mapping) and rev > 0}


def _rev_key(key: object) -> int:
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and key.isascii() and key.isdigit() and len(key) < 16 and key == str(int(key)):
        return int(key)
    return 0  # not a rev (as the CLI writes them: 1, 2, ...): left out


def _ts(value: Any) -> int | None:
    """A whole number (JSON does not tell 1500.0 from 1500, nor does the page), else None."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _resolved(state: TimerState, at: int) -> TimerState:
    def fix(value: object) -> object:
        return at if value is SERVER_NOW else value

    return replace(state, started_at=fix(state.started_at), paused_at=fix(state.paused_at), updated_at=at)


_STATE_FIELDS = tuple(f for f in TimerState.__dataclass_fields__ if f != "cycle")
_PLAIN = (int, str)


def _state_of(record: Mapping[str, Any], cycles: dict[tuple[Any, ...], Cycle]) -> TimerState:
    """TimerState.from_wire, faster for the common record (whole numbers and text only, a cycle
    seen before): a year of history is tens of thousands of records."""
    wire = record.get("cycle")
    key = tuple(wire.items()) if isinstance(wire, dict) else None
    fields = {k: record[k] for k in _STATE_FIELDS if k in record}
    if key is None or not all(type(v) in _PLAIN for v in fields.values()):
        return TimerState.from_wire(record)
    cycle = cycles.get(key)
    if cycle is None:
        cycle = cycles[key] = Cycle.from_wire(wire)
    missing = [k for k in ("rev", "status", "phase", "round", "duration_ms") if k not in fields]
    if missing:
        return TimerState.from_wire(record)  # its error
    return TimerState(cycle=cycle, **fields)


def _from_record(rev: int, record: Mapping[str, Any], cycles: dict[tuple[Any, ...], Cycle]) -> Step | None:
    at = _ts(record.get("updated_at"))
    try:
        state = _state_of(record, cycles)
    except (ValueError, TypeError):
        return None
    if at is None or state.rev != rev or SERVER_NOW in (state.started_at, state.paused_at):
        return None
    return Step(rev, at, state, _text(record.get("updated_by")), _text(record.get("updated_by_name")), True)


def _replayed(rev: int, entry: Mapping[str, Any], prev: TimerState) -> Step | None:
    """The state a logged action made, replayed on ``prev`` at its server time (None when the
    entry is malformed or the action makes no sense on ``prev``)."""
    at, by, action = _ts(entry.get("at")), _text(entry.get("by")) or "", entry.get("action")
    if at is None:
        return None
    ms = _ts(entry.get("ms"))
    label = _text(entry.get("label"))
    try:
        if action == "start":
            new = timer.start(prev, by, at, duration_ms=ms, label=label, phase=entry.get("phase", "focus"))
        elif action == "skip":
            new = timer.skip(prev, by, at)
            if entry.get("phase") in timer.PHASES and ms is not None and ms > 0:
                new = replace(new, phase=entry["phase"], duration_ms=ms)
        elif action in ("pause", "resume", "stop"):
            new = getattr(timer, action)(prev, by, at)
        elif action == "extend" and ms is not None:
            new = timer.extend(prev, by, at, ms)
        elif action == "label":
            new = timer.relabel(prev, by, at, label or "")
        elif action == "settings":  # the cycle it set is not in the log: keep the one known
            new = timer.configure(prev, by, at, prev.cycle)
        elif action == "reset":
            new = timer.reset(prev, by, at)
        else:
            return None
    except (timer.TimerError, ValueError, TypeError):
        return None
    state = _resolved(replace(new, rev=rev, updated_by_name=_text(entry.get("name"))), at)
    return Step(rev, at, state, by or None, _text(entry.get("name")), False)


def steps(states: Any, log: Any = None, *, cycle: Cycle | None = None) -> tuple[list[Step], int]:
    """The history's actions in rev order, each with the state it made, and how many could not
    be known exactly (replayed from the log, or left out as unreadable).

    ``states`` and ``log`` are the stored ``states`` and ``log`` children (any subset of revs);
    a rev with a state record is taken from it, one with only a log entry is replayed on the
    state before it (starting from an idle timer with ``cycle`` when nothing is known before).
    """
    records, entries = by_rev(states), by_rev(log)
    out: list[Step] = []
    revs = sorted(records.keys() | entries.keys())
    inexact = revs[-1] - revs[0] + 1 - len(revs) if revs else 0  # revs missing between them
    prev = TimerState(cycle=cycle or Cycle())
    cycles: dict[tuple[Any, ...], Cycle] = {}
    for rev in revs:
        step = _from_record(rev, records[rev], cycles) if rev in records else None
        if step is None:
            inexact += 1
            if rev in entries:
                step = _replayed(rev, entries[rev], prev)
        if step is None or (out and step.at < out[-1].at):
            continue  # unreadable, or out of order (the server's commit times only grow)
        out.append(step)
        prev = step.state
    return out, inexact


# ---------------------------------------------------------------------------------------------
# Blocks


def replay(history: list[Step], horizon: int) -> list[Block]:
    """Every phase run from the first step up to ``horizon`` (server ms, normally now), in
    order. Blocks that ran for no time at all (begun and ended in the same millisecond) are left
    out."""
    run = Replay()
    run.feed(history)
    return run.finish(horizon)


@dataclass
class Replay:
    """`replay`, one step at a time, so that it can stop after any step and go on later (the
    report cache, focuscli/replaycache.py, keeps it between runs).

    ``blocks`` are the blocks begun so far: all but ``current`` are final, whatever steps come
    next. ``pending`` is the last step fed, whose run (up to the next step, or the horizon) is
    not made yet: nothing before it depends on the horizon.
    """

    blocks: list[Block] = field(default_factory=list)
    current: Block | None = None  # the block of the phase the timer is in (closed: it ran out)
    pending: Step | None = None

    def feed(self, history: list[Step]) -> None:
        for step in history:
            if self.pending is not None:
                self._step(self.pending, max(self.pending.at, step.at))
            self.pending = step

    def finish(self, horizon: int) -> list[Block]:
        """The blocks, the last step run up to ``horizon`` (the replay is over after this)."""
        last = self.pending
        if last is None:
            return []
        self._step(last, max(last.at, horizon))
        self.pending = None
        current = self.current
        if current is not None and current.end is None:
            v = timer.view(last.state, max(horizon, last.at))
            current.outcome = PAUSED if v.status == "paused" else RUNNING
        return [b for b in self.blocks if shown(b)]

    def _step(self, step: Step, until: int) -> None:
        blocks, current = self.blocks, self.current
        state, at, action = step.state, step.at, step.state.action
        if current is not None and action in _ENDS_BLOCK:
            if current.end is None:  # a stop or skip before its time ran out
                current.end, current.outcome = at, INTERRUPTED
                _acted(current, step)
            current = None
        entered = _enter(blocks, current, step)
        if entered is not None and entered is current:  # a change to the block: it goes on
            _acted(entered, step)
            entered.changes += 1
            entered.label = state.label
        current = entered
        if state.status == "running":
            current = _run(blocks, current, state, at, until)
        self.current = current


def shown(block: Block) -> bool:
    """Whether a replay's result has ``block``: not when it ran for no time at all."""
    return bool(block.runs) or block.outcome in (RUNNING, PAUSED)


def _acted(block: Block, step: Step) -> None:
    if step.by:
        block.actors[step.by] = block.actors.get(step.by, 0) + 1


def _enter(blocks: list[Block], current: Block | None, step: Step) -> Block | None:
    """The block of the phase ``step.state`` is in right after its action."""
    state, at = step.state, step.at
    if state.status == "idle":
        return None
    v = timer.view(state, at)
    key = (v.phase, v.round)
    if current is not None and (current.phase, current.round) == key and step.state.action not in _NEW_BLOCK:
        current.length_ms = v.duration_ms
        if current.end is not None and v.status in ("running", "paused") and v.remaining_ms > 0:
            current.end, current.outcome = None, RUNNING  # extended after its time ran out
        return current
    if v.status == "done":
        return None  # over, with no block to show for it (a history that begins here)
    if current is not None and current.end is None:  # (a history with a gap) it ended by now
        current.end, current.outcome = at, INTERRUPTED
    begun = at if state.action in _NEW_BLOCK or v.ends_at is None else v.ends_at - v.duration_ms
    block = Block(v.phase, v.round, begun, step.rev, v.duration_ms, state.label)
    _acted(block, step)  # its start or skip (or, after a gap, the first action seen on it)
    blocks.append(block)
    return block


def _run(blocks: list[Block], current: Block | None, state: TimerState, at: int, until: int) -> Block | None:
    """Let a running ``state`` run from ``at`` to ``until``: phases run out, and with
    auto-advance the next ones begin by themselves."""
    t = at
    while current is not None and current.end is None and t < until:
        v = timer.view(state, t)
        end = v.ends_at
        if v.status != "running" or end is None:
            break
        if end > until:
            current.run(t, until)
            break
        current.run(t, end)
        current.end, current.outcome = end, COMPLETED
        if not state.cycle.auto_advance:
            break
        nxt = timer.view(state, end)
        current = Block(nxt.phase, nxt.round, end, state.rev, nxt.duration_ms, state.label)
        blocks.append(current)
        t = end
    return current

"""The shared timer's pure core: state, wire form, view at a server time, and the actions."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final

PHASES: Final = ("focus", "short_break", "long_break")
STATUSES: Final = ("idle", "running", "paused")  # stored; a view may also say "done"
UNTIL: Final = ("end", "break", "focus")
SECOND_MS: Final = 1000
MINUTE_MS: Final = 60 * SECOND_MS
HOUR_MS: Final = 60 * MINUTE_MS
MAX_DURATION_MS: Final = 24 * HOUR_MS
MAX_PHASE_MS: Final = 48 * HOUR_MS  # a phase with extensions (the rules allow 48h)
MAX_LONG_EVERY: Final = 100


class ServerNow(enum.Enum):
    """The type of SERVER_NOW (an enum member, so it survives copy/pickle and `is` narrows)."""

    SERVER_NOW = "SERVER_NOW"

    def __repr__(self) -> str:
        return "SERVER_NOW"


SERVER_NOW: Final = ServerNow.SERVER_NOW  # "the server's time at commit"; see to_wire


class TimerError(Exception):
    """An action that makes no sense in the timer's current state; str() is a one-line message."""


class DurationError(ValueError):
    """Duration text that parse_duration does not accept; str() names the accepted forms."""


# ---------------------------------------------------------------------------------------------
# Durations

_FORMS = "use 25 (minutes), 25m, 90s, 1h, 1h30m, 1h30m15s, 25:00 or 1:30:00; more than 0, at most 24h"
_UNITS = re.compile(r"(?:([0-9]+)\s*h)?\s*(?:([0-9]+)\s*m)?\s*(?:([0-9]+)\s*s)?", re.ASCII | re.I)
_CLOCK = re.compile(r"(?:([0-9]+):([0-5][0-9])|([0-9]+)):([0-5][0-9])", re.ASCII)


def parse_duration(text: str) -> int:
    """Milliseconds in `text`: "25" (minutes), "25m", "90s", "1h30m15s", "25:00", "1:30:00"."""
    s = text.strip()
    ms: int | None = None
    if 0 < len(s) <= 32:
        if s.isascii() and s.isdigit():
            ms = int(s) * MINUTE_MS
        elif (m := _CLOCK.fullmatch(s)) is not None:
            h, mm, lead, ss = m.groups()
            minutes = int(mm) + int(h) * 60 if h is not None else int(lead)
            ms = (minutes * 60 + int(ss)) * SECOND_MS
        elif (m := _UNITS.fullmatch(s)) is not None and any(m.groups()):
            h, mm, ss = (int(g) if g is not None else 0 for g in m.groups())
            # 90m and 90s stand alone, but after a larger unit 1h99m or 1m75s is a typo
            if not ((m[1] and mm >= 60) or ((m[1] or m[2]) and ss >= 60)):
                ms = h * HOUR_MS + mm * MINUTE_MS + ss * SECOND_MS
    if ms is None or not 0 < ms <= MAX_DURATION_MS:
        raise DurationError(f"invalid duration {text[:40]!r}: {_FORMS}")
    return ms


def format_duration(ms: int) -> str:
    """Clock text: "0:07", "25:00" (m:ss) under an hour, "1:05:09" above; rounds up to seconds."""
    total = max(0, -(-ms // SECOND_MS))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"


# ---------------------------------------------------------------------------------------------
# State and wire form


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _whole(value: Any) -> Any:
    """A JSON value with every whole float read as an int: JSON does not tell 1500.0 from 1500,
    nor do the rules (``% 1 === 0``) or JavaScript, so neither does the timer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value


def _check(ok: bool, what: str, value: object) -> None:
    if not ok:
        raise ValueError(f"{what}, got {value!r}")


def _check_ts(name: str, value: object, required: bool) -> None:
    if value is None:
        _check(not required, f"'{name}' is required in this status", value)
    else:
        _check(_is_int(value) or value is SERVER_NOW, f"'{name}' must be a server timestamp", value)


@dataclass(frozen=True)
class Cycle:
    focus_ms: int = 25 * MINUTE_MS
    short_break_ms: int = 5 * MINUTE_MS
    long_break_ms: int = 15 * MINUTE_MS
    long_every: int = 4
    auto_advance: bool = False

    def __post_init__(self) -> None:
        for name in ("focus_ms", "short_break_ms", "long_break_ms"):
            value = getattr(self, name)
            ok = _is_int(value) and 0 < value <= MAX_DURATION_MS
            _check(ok, f"invalid cycle: '{name}' must be whole ms in (0, 24h]", value)
        ok = _is_int(self.long_every) and 1 <= self.long_every <= MAX_LONG_EVERY
        _check(ok, f"invalid cycle: 'long_every' must be 1..{MAX_LONG_EVERY}", self.long_every)
        _check(isinstance(self.auto_advance, bool), "invalid cycle: 'auto_advance' must be a boolean",
               self.auto_advance)

    def length(self, phase: str) -> int:
        """The configured length of a phase, in ms."""
        return {"focus": self.focus_ms, "short_break": self.short_break_ms,
                "long_break": self.long_break_ms}[phase]

    def after(self, phase: str, rnd: int) -> tuple[str, int]:
        """The phase and round that follow `phase` of round `rnd`."""
        if phase == "focus":
            return ("long_break" if rnd % self.long_every == 0 else "short_break"), rnd
        return "focus", rnd + 1

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, data: object) -> Cycle:
        """The cycle in an RTDB value; missing keys take defaults, bad ones raise ValueError."""
        data = _whole(data)
        if not isinstance(data, Mapping):
            raise ValueError(f"invalid cycle: expected an object, got {data!r}")
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


_TS_FIELDS: Final = ("started_at", "paused_at", "updated_at")


@dataclass(frozen=True)
class TimerState:
    """The stored timer (design.md): an anchor phase and server timestamps; never ticked."""

    rev: int = 0
    status: str = "idle"
    phase: str = "focus"
    round: int = 1
    duration_ms: int = Cycle().focus_ms
    started_at: int | object | None = None  # server ms, or SERVER_NOW in a state to be written
    offset_ms: int = 0
    paused_at: int | object | None = None
    label: str | None = None
    cycle: Cycle = field(default_factory=Cycle)
    updated_at: int | object | None = None
    updated_by: str | None = None  # the member's uid
    updated_by_name: str | None = None  # their display name (as their ID token said)
    action: str | None = None

    def __post_init__(self) -> None:
        if self._plainly_valid():
            return  # the common case; the checks below find what is wrong, and say so
        idle, paused = self.status == "idle", self.status == "paused"
        checks: list[tuple[bool, str, object]] = [
            (_is_int(self.rev) and self.rev >= 0, "'rev' must be an integer >= 0", self.rev),
            (self.status in STATUSES, "'status' must be one of idle, running, paused", self.status),
            (self.phase in PHASES, f"'phase' must be one of {', '.join(PHASES)}", self.phase),
            (_is_int(self.round) and self.round >= 1, "'round' must be an integer >= 1", self.round),
            (_is_int(self.duration_ms) and self.duration_ms > 0,
             "'duration_ms' must be an integer > 0", self.duration_ms),
            (_is_int(self.offset_ms), "'offset_ms' must be an integer", self.offset_ms),
            (not idle or self.started_at is None, "'started_at' must be absent when idle",
             self.started_at),
            (paused or self.paused_at is None, "'paused_at' must be absent unless paused",
             self.paused_at),
            *((v is None or isinstance(v, str), f"'{k}' must be text", v) for k, v in
              (("label", self.label), ("updated_by", self.updated_by),
               ("updated_by_name", self.updated_by_name), ("action", self.action))),
            (isinstance(self.cycle, Cycle), "'cycle' must be a Cycle", self.cycle),
        ]
        try:
            _check_ts("started_at", self.started_at, not idle)
            _check_ts("paused_at", self.paused_at, paused)
            _check_ts("updated_at", self.updated_at, False)
            for ok, what, value in checks:
                _check(ok, what, value)
        except ValueError as e:
            raise ValueError(f"invalid timer state: {e}") from None

    def _plainly_valid(self) -> bool:
        """The checks of __post_init__ without their messages, for exact types only (a subclass
        of int or str takes the long way): reports build tens of thousands of states."""
        idle, paused = self.status == "idle", self.status == "paused"
        return (
            type(self.rev) is int and self.rev >= 0 and self.status in STATUSES and self.phase in PHASES
            and type(self.round) is int and self.round >= 1
            and type(self.duration_ms) is int and self.duration_ms > 0 and type(self.offset_ms) is int
            and (self.started_at is None if idle else type(self.started_at) is int or self.started_at is SERVER_NOW)
            and (type(self.paused_at) is int or self.paused_at is SERVER_NOW if paused else self.paused_at is None)
            and (self.updated_at is None or type(self.updated_at) is int or self.updated_at is SERVER_NOW)
            and all(v is None or type(v) is str for v in (self.label, self.updated_by, self.updated_by_name, self.action))
            and type(self.cycle) is Cycle
        )  # fmt: skip

    @classmethod
    def from_wire(cls, data: Mapping[str, Any] | None) -> TimerState:
        """The state in an RTDB value (None: the initial idle state); malformed: ValueError.

        Unknown keys are ignored; `{".sv": "timestamp"}` and SERVER_NOW read as SERVER_NOW; a
        whole number written with a fraction (1500.0) is that integer."""
        if data is None:
            return cls()
        data = _whole(data)
        if not isinstance(data, Mapping):
            raise ValueError(f"invalid timer state: expected an object, got {data!r}")
        missing = [k for k in ("rev", "status", "phase", "round", "duration_ms") if k not in data]
        if missing:
            raise ValueError(f"invalid timer state: missing {', '.join(missing)}")
        names = [f for f in cls.__dataclass_fields__ if f != "cycle"]
        kwargs: dict[str, Any] = {k: data[k] for k in names if k in data}
        for k in _TS_FIELDS:
            if kwargs.get(k) == {".sv": "timestamp"}:
                kwargs[k] = SERVER_NOW
        if "cycle" in data:
            try:
                kwargs["cycle"] = Cycle.from_wire(data["cycle"])
            except ValueError as e:
                raise ValueError(f"invalid timer state: {e}") from None
        return cls(**kwargs)

    def to_wire(self) -> dict[str, Any]:
        """The RTDB value: design.md's fields, None ones omitted, SERVER_NOW left as is."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if value is not None:
                out[name] = value.to_wire() if isinstance(value, Cycle) else value
        return out


@dataclass(frozen=True)
class TimerView:
    """What the timer shows at one server time."""

    status: str  # "idle" | "running" | "paused" | "done"
    phase: str
    round: int
    remaining_ms: int
    duration_ms: int
    elapsed_ms: int  # duration_ms - remaining_ms
    label: str | None
    ends_at: int | None  # server ms the current phase ends (running), or ended (done)
    rev: int
    updated_at: int | None
    updated_by: str | None
    action: str | None
    updated_by_name: str | None = None


# ---------------------------------------------------------------------------------------------
# Where an anchored state is at a server time


@dataclass(frozen=True)
class _Pos:
    phase: str
    round: int
    start: int  # ms from the anchor phase's start to this phase's start
    length: int
    elapsed: int  # total elapsed since the anchor phase's start (clamped at 0)
    base: int  # server ms of the anchor phase's start: started_at - offset_ms


def _at(ts: object, now_ms: int) -> int:
    """A stored timestamp as server ms; SERVER_NOW (not yet committed) counts as now."""
    if ts is SERVER_NOW:
        return now_ms
    assert isinstance(ts, int), ts  # TimerState checks its timestamps
    return ts


def _locate(state: TimerState, now_ms: int) -> _Pos:
    """The phase that contains the elapsed time of a running or paused state, in O(long_every)."""
    started = _at(state.started_at, now_ms)
    ref = _at(state.paused_at, now_ms) if state.status == "paused" else now_ms
    elapsed = max(0, state.offset_ms + ref - started)
    base = started - state.offset_ms
    phase, rnd, start, length = state.phase, state.round, 0, state.duration_ms
    c = state.cycle
    if c.auto_advance and elapsed >= length:
        # Any 2*long_every consecutive phases after the anchor hold long_every focus phases and
        # long_every breaks, exactly one of them long: skip such whole periods arithmetically.
        period = c.long_every * c.focus_ms + (c.long_every - 1) * c.short_break_ms + c.long_break_ms
        phase, rnd = c.after(phase, rnd)
        start = length
        whole = (elapsed - start) // period
        start += whole * period
        rnd += whole * c.long_every
        length = c.length(phase)
        while elapsed >= start + length:  # at most 2 * long_every steps
            start += length
            phase, rnd = c.after(phase, rnd)
            length = c.length(phase)
    return _Pos(phase, rnd, start, length, elapsed, base)


def view(state: TimerState, now_ms: int) -> TimerView:
    """The timer as shown at server time `now_ms`."""
    updated_at = None if state.updated_at is None else _at(state.updated_at, now_ms)
    if state.status == "idle":
        status, phase, rnd, ends_at = "idle", state.phase, state.round, None
        length = remaining = state.cycle.length(state.phase)
    else:
        pos = _locate(state, now_ms)
        phase, rnd, length = pos.phase, pos.round, pos.length
        remaining = max(0, pos.length - (pos.elapsed - pos.start))
        status = "done" if state.status == "running" and remaining == 0 else state.status
        ends_at = None if status == "paused" else pos.base + pos.start + pos.length
    return TimerView(status=status, phase=phase, round=rnd, remaining_ms=remaining,
                     duration_ms=length, elapsed_ms=length - remaining, label=state.label,
                     ends_at=ends_at, rev=state.rev, updated_at=updated_at,
                     updated_by=state.updated_by, action=state.action,
                     updated_by_name=state.updated_by_name)


# ---------------------------------------------------------------------------------------------
# Actions
#
# Each action takes the state last read, the acting user and `now_ms` (the caller's best estimate
# of the server's current time) and returns the new state: rev + 1, updated_at = SERVER_NOW,
# updated_by = by, action = its name. It raises TimerError when the action makes no sense now.
# `now_ms` only chooses the current phase k (and decides "done"); every time the new state sets
# to "now" is SERVER_NOW, and everything else is computed exactly from stored server times.
#
# Elapsed in the anchor phase at server time t: offset_ms + ((paused_at if paused else t) -
# started_at). Without cycle.auto_advance the anchor phase is the current one and a running phase
# with no time left is "done". With it, phases follow with no writes: focus(r) -> long_break if
# r % long_every == 0 else short_break -> focus(r + 1) -> ...; the anchor phase lasts duration_ms,
# the later ones their cycle lengths (a paused timer shows the phase its paused elapsed is in).
#
# start      idle or done: a new anchor (started_at = SERVER_NOW, offset 0, running, label set).
#            Focus: round + 1 after a break or a done focus, else the same round; breaks keep it.
# pause      running, not done: paused_at = SERVER_NOW.
# resume     paused: offset_ms += paused_at - started_at, started_at = SERVER_NOW.
# stop       running, paused or done: idle in the current phase and round (anchors cleared).
# skip       not idle: the phase after the current one, its cycle length, running from now.
# extend     not idle: re-anchor on the current phase k (offset_ms minus the lengths of the k
#            phases before it, started_at/paused_at unchanged), then duration_ms += ms. A phase
#            already over is re-anchored so that exactly `ms` remain from commit time.
# relabel    not idle: the new label (or none); nothing else changes.
# configure  any status: store the cycle; running/paused re-anchor like extend (no time added),
#            so elapsed phases keep their lengths; idle shows the new length of its phase.
# reset      any state, even one that is malformed (see `reset`): idle, focus, round 1, the
#            stored cycle if it is readable (else the default one), no label.

_ALREADY_RUNNING: Final = "a timer is already running; use focus skip, extend or stop"
_STOPPED: Final = "the timer is stopped; start it first"


def _commit(state: TimerState, by: str, action: str, **changes: Any) -> TimerState:
    return replace(state, rev=state.rev + 1, updated_at=SERVER_NOW, updated_by=by,
                   updated_by_name=None, action=action, **changes)


def _positive(name: str, ms: int) -> None:
    if not _is_int(ms) or ms <= 0:
        raise ValueError(f"{name} must be a whole number of ms > 0, got {ms!r}")


def start(state: TimerState, by: str, now_ms: int, *, duration_ms: int | None = None,
          label: str | None = None, phase: str = "focus") -> TimerState:
    """Start a phase (default focus, at its cycle length) when idle or done."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
    v = view(state, now_ms)
    if v.status == "running":
        raise TimerError(_ALREADY_RUNNING)
    if v.status == "paused":
        raise TimerError("the timer is paused; resume it, or use focus skip or stop")
    rnd = v.round
    if phase == "focus" and (v.phase != "focus" or v.status == "done"):
        rnd += 1
    length = state.cycle.length(phase) if duration_ms is None else duration_ms
    _positive("duration_ms", length)
    return _commit(state, by, "start", status="running", phase=phase, round=rnd,
                   duration_ms=length, started_at=SERVER_NOW, offset_ms=0, paused_at=None,
                   label=label)


def pause(state: TimerState, by: str, now_ms: int) -> TimerState:
    v = view(state, now_ms)
    if v.status == "idle":
        raise TimerError(_STOPPED)
    if v.status == "paused":
        raise TimerError("the timer is already paused")
    if v.status == "done":
        raise TimerError("the phase is over; start the next one or skip")
    return _commit(state, by, "pause", status="paused", paused_at=SERVER_NOW)


def resume(state: TimerState, by: str, now_ms: int) -> TimerState:
    if state.status == "idle":
        raise TimerError(_STOPPED)
    if state.status != "paused":
        raise TimerError("the timer is not paused")
    elapsed = _at(state.paused_at, now_ms) - _at(state.started_at, now_ms)
    return _commit(state, by, "resume", status="running", offset_ms=state.offset_ms + elapsed,
                   started_at=SERVER_NOW, paused_at=None)


def stop(state: TimerState, by: str, now_ms: int) -> TimerState:
    v = view(state, now_ms)
    if v.status == "idle":
        raise TimerError("the timer is already stopped")
    phase, rnd = v.phase, v.round
    if v.status == "done":  # the phase was completed: the next start begins the one after it
        phase, rnd = state.cycle.after(phase, rnd)
    return _commit(state, by, "stop", status="idle", phase=phase, round=rnd,
                   duration_ms=state.cycle.length(phase), started_at=None, offset_ms=0,
                   paused_at=None)


def skip(state: TimerState, by: str, now_ms: int) -> TimerState:
    v = view(state, now_ms)
    if v.status == "idle":
        raise TimerError(_STOPPED)
    phase, rnd = state.cycle.after(v.phase, v.round)
    return _commit(state, by, "skip", status="running", phase=phase, round=rnd,
                   duration_ms=state.cycle.length(phase), started_at=SERVER_NOW, offset_ms=0,
                   paused_at=None)


def _reanchor(state: TimerState, now_ms: int, clamp: bool) -> dict[str, Any]:
    """Fields that make the current phase k the anchor, keeping every elapsed time exact.

    With `clamp`, a phase already over (only without auto-advance) is re-anchored so that its
    elapsed time is exactly its length at commit (running) or at the pause (paused)."""
    pos = _locate(state, now_ms)
    fields: dict[str, Any] = {"phase": pos.phase, "round": pos.round, "duration_ms": pos.length,
                              "offset_ms": state.offset_ms - pos.start}
    if clamp and pos.elapsed >= pos.start + pos.length:
        if state.status == "running":
            fields.update(offset_ms=pos.length, started_at=SERVER_NOW)
        else:
            ran = _at(state.paused_at, now_ms) - _at(state.started_at, now_ms)
            fields.update(offset_ms=pos.length - ran)
    return fields


def extend(state: TimerState, by: str, now_ms: int, ms: int) -> TimerState:
    """Add `ms` to the current phase (a phase that is over runs again for `ms`)."""
    _positive("ms", ms)
    if state.status == "idle":
        raise TimerError(_STOPPED)
    fields = _reanchor(state, now_ms, clamp=True)
    fields["duration_ms"] += ms
    if fields["duration_ms"] > MAX_PHASE_MS:
        raise TimerError(f"a phase can last at most {MAX_PHASE_MS // HOUR_MS}h; it would be "
                         f"{format_duration(fields['duration_ms'])}")
    return _commit(state, by, "extend", **fields)


MAX_LABEL: Final = 200  # UTF-16 code units, as the rules count them


def relabel(state: TimerState, by: str, now_ms: int, label: str) -> TimerState:
    """Give the current block a new label ("" clears it); time is untouched."""
    if len(label.encode("utf-16-le")) // 2 > MAX_LABEL:
        raise ValueError(f"label is longer than {MAX_LABEL} characters")
    if state.status == "idle":
        raise TimerError("the timer is stopped; give the next block its label with focus start --label")
    return _commit(state, by, "label", label=label or None)


def configure(state: TimerState, by: str, now_ms: int, cycle: Cycle) -> TimerState:
    """Store a new cycle; elapsed phases keep their lengths, later ones take the new ones."""
    if not isinstance(cycle, Cycle):
        raise ValueError(f"cycle must be a Cycle, got {cycle!r}")
    if state.status == "idle":
        return _commit(state, by, "settings", cycle=cycle, duration_ms=cycle.length(state.phase))
    # A done phase is clamped only when the new cycle advances, so overrun does not cascade.
    fields = _reanchor(state, now_ms, clamp=cycle.auto_advance)
    return _commit(state, by, "settings", cycle=cycle, **fields)


Phase = tuple[str, int]  # (phase, round)


def phase_change(state: TimerState, now_ms: int) -> tuple[Phase, Phase] | None:
    """(ended, next) when time alone has ended a phase by `now_ms`, else None.

    A done phase (no auto-advance): it, and the phase a skip would start. With auto-advance,
    a running phase that began by itself: the phase just before it, and it. A phase begun by an
    action (start, skip), a paused or an idle timer: None."""
    if state.status != "running":
        return None
    v = view(state, now_ms)
    if v.status == "done":
        return (v.phase, v.round), state.cycle.after(v.phase, v.round)
    pos = _locate(state, now_ms)
    if pos.start == 0:
        return None
    before = _locate(state, pos.base + pos.start - 1)  # 1 ms before the current phase began
    return (before.phase, before.round), (pos.phase, pos.round)


def next_moment(state: TimerState, until: str, now_ms: int) -> int | None:
    """Server ms at which `until` is reached with no further action (<= now_ms if it already is).

    "end": the end of the current phase. "break"/"focus": now if such a phase is running, else
    when one begins (auto-advance) or is due (the current phase of the other kind ends). None
    when it cannot happen without an action: idle, paused, or a done phase of that very kind."""
    if until not in UNTIL:
        raise ValueError(f"until must be one of {', '.join(UNTIL)}, got {until!r}")
    v = view(state, now_ms)
    if v.status not in ("running", "done"):
        return None
    if until == "end":
        return v.ends_at
    if (v.phase == "focus") == (until == "focus"):
        return now_ms if v.status == "running" else None
    return v.ends_at


MAX_REV: Final = 2**53 - 2  # the next rev must stay a safe integer (JavaScript, the rules' numbers)


def next_rev(raw: object) -> int:
    """The rev the rules accept for the state written over the stored state `raw` (a TimerState
    or any stored value): the stored rev + 1, or 1 when it is not a number at all (the rules count
    a missing or non-numeric rev as 0). A number that is no whole rev in 0..MAX_REV (0.5, -3,
    1e300) admits no next rev from a member: ValueError."""
    rev = raw.rev if isinstance(raw, TimerState) else raw.get("rev") if isinstance(raw, Mapping) else None
    if isinstance(rev, bool) or not isinstance(rev, int | float):
        return 1
    rev = _whole(rev)
    if not (_is_int(rev) and 0 <= rev <= MAX_REV):
        raise ValueError(f"'rev' must be a whole number from 0 to {MAX_REV}, got {rev!r}")
    return int(rev) + 1


def reset(raw: object, by: str, now_ms: int) -> TimerState:
    """A clean stopped timer over any stored state `raw` (a TimerState, or the stored value as
    read, however malformed): the next rev (`next_rev`), idle, focus, round 1, the stored cycle
    if it reads as one (else the default cycle), no label."""
    if isinstance(raw, TimerState):
        cycle = raw.cycle
    else:
        wire = raw.get("cycle") if isinstance(raw, Mapping) else None
        try:
            cycle = Cycle.from_wire(wire) if wire is not None else Cycle()
        except (ValueError, TypeError):
            cycle = Cycle()
    rev = next_rev(raw)
    return TimerState(rev=rev, status="idle", phase="focus", round=1, duration_ms=cycle.focus_ms,
                      cycle=cycle, updated_at=SERVER_NOW, updated_by=by, action="reset")

"""The pure timer core: actions in every status, the view over time, wire form, durations."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from focuscli.timer import (
    PHASES,
    SERVER_NOW,
    Cycle,
    DurationError,
    TimerError,
    TimerState,
    configure,
    extend,
    format_duration,
    next_moment,
    parse_duration,
    pause,
    phase_change,
    relabel,
    resume,
    skip,
    start,
    stop,
    view,
)

S = 1000
MIN = 60 * S
H = 60 * MIN
DAY = 24 * H
T0 = 1_700_000_000_000  # server ms of the first start in every scenario
MANUAL = Cycle()
AUTO = Cycle(auto_advance=True)


def commit(state: TimerState, at: int) -> TimerState:
    """What the server stores: every SERVER_NOW becomes the commit time `at`."""
    fields: dict[str, Any] = {k: at for k in ("started_at", "paused_at", "updated_at") if getattr(state, k) is SERVER_NOW}
    return replace(state, **fields)


def running(cycle: Cycle = MANUAL, at: int = T0, **kw: Any) -> TimerState:
    return commit(start(TimerState(cycle=cycle), "ann", at, **kw), at)


def paused(cycle: Cycle = MANUAL, at: int = T0 + 10 * MIN) -> TimerState:
    return commit(pause(running(cycle), "bob", at), at)


def stopped(at: int = T0 + 10 * MIN) -> TimerState:
    return commit(stop(running(), "bob", at), at)


# Every status a state can be in, with the server time at which it is looked at.
STATUS_CASES: dict[str, tuple[TimerState, int]] = {
    "idle": (TimerState(), T0),
    "running": (running(), T0 + 10 * MIN),
    "paused": (paused(), T0 + 20 * MIN),
    "done": (running(), T0 + 30 * MIN),
}


def test_status_cases_are_what_they_say() -> None:
    for name, (state, now) in STATUS_CASES.items():
        assert view(state, now).status == name


# ---------------------------------------------------------------------------------------------
# Every action in every status

STOPPED = "the timer is stopped; start it first"
ALREADY_RUNNING = "a timer is already running; use focus skip, extend or stop"
ALREADY_PAUSED = "the timer is paused; resume it, or use focus skip or stop"
ACTIONS: dict[str, Callable[[TimerState, str, int], TimerState]] = {
    "start": lambda s, by, now: start(s, by, now),
    "pause": pause,
    "resume": resume,
    "stop": stop,
    "skip": skip,
    "extend": lambda s, by, now: extend(s, by, now, 5 * MIN),
    "configure": lambda s, by, now: configure(s, by, now, Cycle(focus_ms=50 * MIN)),
    "label": lambda s, by, now: relabel(s, by, now, "new"),
}
# (action, status) -> status of the view right after the commit, or the TimerError message
MATRIX: list[tuple[str, str, str]] = [
    ("start", "idle", "running"),
    ("start", "running", ALREADY_RUNNING),
    ("start", "paused", ALREADY_PAUSED),
    ("start", "done", "running"),
    ("pause", "idle", STOPPED),
    ("pause", "running", "paused"),
    ("pause", "paused", "the timer is already paused"),
    ("pause", "done", "the phase is over; start the next one or skip"),
    ("resume", "idle", STOPPED),
    ("resume", "running", "the timer is not paused"),
    ("resume", "paused", "running"),
    ("resume", "done", "the timer is not paused"),
    ("stop", "idle", "the timer is already stopped"),
    ("stop", "running", "idle"),
    ("stop", "paused", "idle"),
    ("stop", "done", "idle"),
    ("skip", "idle", STOPPED),
    ("skip", "running", "running"),
    ("skip", "paused", "running"),
    ("skip", "done", "running"),
    ("extend", "idle", STOPPED),
    ("extend", "running", "running"),
    ("extend", "paused", "paused"),
    ("extend", "done", "running"),
    ("configure", "idle", "idle"),
    ("configure", "running", "running"),
    ("configure", "paused", "paused"),
    ("configure", "done", "done"),
    ("label", "idle", "the timer is stopped; give the next block its label with focus start --label"),
    ("label", "running", "running"),
    ("label", "paused", "paused"),
    ("label", "done", "done"),
]


def test_the_matrix_covers_every_action_in_every_status() -> None:
    assert {(a, s) for a, s, _ in MATRIX} == {(a, s) for a in ACTIONS for s in STATUS_CASES}


@pytest.mark.parametrize(("action", "status", "expected"), MATRIX)
def test_action_in_status(action: str, status: str, expected: str) -> None:
    state, now = STATUS_CASES[status]
    if expected not in ("idle", "running", "paused", "done"):
        with pytest.raises(TimerError) as excinfo:
            ACTIONS[action](state, "cy", now)
        assert str(excinfo.value) == expected
        return
    new = ACTIONS[action](state, "cy", now)
    assert (new.rev, new.updated_at, new.updated_by, new.action) == (
        state.rev + 1,
        SERVER_NOW,
        "cy",
        "settings" if action == "configure" else action,  # the log's name for a configure
    )
    assert view(commit(new, now + 3), now + 3).status == expected


def test_error_messages_are_one_line() -> None:
    for _, _, expected in MATRIX:
        assert "\n" not in expected


# ---------------------------------------------------------------------------------------------
# start


@pytest.mark.parametrize(
    ("state", "now", "phase", "expected_round"),
    [
        (TimerState(), T0, "focus", 1),  # the initial state
        (running(), T0 + 25 * MIN, "focus", 2),  # after a done focus
        (running(), T0 + 25 * MIN, "short_break", 1),  # a break keeps the round
        (running(phase="short_break"), T0 + 5 * MIN, "focus", 2),  # after a done break
        (stopped(), T0 + H, "focus", 1),  # idle after a stop mid-focus
        (commit(stop(running(phase="long_break"), "a", T0), T0), T0, "focus", 2),  # after a break
        (commit(stop(running(AUTO), "a", T0 + 40 * MIN), T0), T0, "focus", 2),  # stopped in round 2
        (replace(TimerState(), round=7), T0, "long_break", 7),
    ],
)
def test_start_round(state: TimerState, now: int, phase: str, expected_round: int) -> None:
    new = start(state, "ann", now, phase=phase)
    assert (new.phase, new.round, new.status) == (phase, expected_round, "running")
    assert (new.started_at, new.offset_ms, new.paused_at) == (SERVER_NOW, 0, None)


@pytest.mark.parametrize(
    ("kw", "duration", "label"),
    [
        ({}, 25 * MIN, None),
        ({"phase": "short_break"}, 5 * MIN, None),
        ({"phase": "long_break"}, 15 * MIN, None),
        ({"duration_ms": 50 * MIN, "label": "spec review"}, 50 * MIN, "spec review"),
        ({"phase": "short_break", "duration_ms": 90 * S}, 90 * S, None),
    ],
)
def test_start_duration_and_label(kw: dict[str, Any], duration: int, label: str | None) -> None:
    state = replace(running(label="old"), status="idle", started_at=None)  # a label to clear
    new = start(state, "ann", T0, **kw)
    assert (new.duration_ms, new.label) == (duration, label)


@pytest.mark.parametrize("kw", [{"phase": "nap"}, {"duration_ms": 0}, {"duration_ms": -5}])
def test_start_rejects_bad_arguments(kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        start(TimerState(), "ann", T0, **kw)


# ---------------------------------------------------------------------------------------------
# pause / resume: exact arithmetic on stored server times


def test_resume_arithmetic_uses_stored_server_times_only() -> None:
    s1 = running()  # started_at = T0
    # the client thinks it is T0 + 10m, the server commits the pause at T0 + 10m + 123
    s2 = commit(pause(s1, "bob", T0 + 10 * MIN), T0 + 10 * MIN + 123)
    assert s2.paused_at == T0 + 10 * MIN + 123 and s2.status == "paused"
    assert view(s2, T0 + 5 * H).remaining_ms == 15 * MIN - 123  # frozen while paused
    assert view(s2, T0 + 5 * H).ends_at is None
    # whatever the client's estimate, resume computes the same state
    r_a, r_b = resume(s2, "cy", T0 + 20 * MIN), resume(s2, "cy", T0 + 99 * H)
    assert r_a == r_b
    assert (r_a.offset_ms, r_a.started_at, r_a.paused_at) == (10 * MIN + 123, SERVER_NOW, None)
    s3 = commit(r_a, T0 + 20 * MIN + 7)
    v = view(s3, T0 + 20 * MIN + 7)
    assert (v.status, v.remaining_ms, v.elapsed_ms) == ("running", 15 * MIN - 123, 10 * MIN + 123)
    assert v.ends_at == T0 + 20 * MIN + 7 + 15 * MIN - 123
    # a second pause/resume accumulates
    s4 = commit(pause(s3, "ann", T0 + 30 * MIN), T0 + 30 * MIN + 1)
    s5 = commit(resume(s4, "ann", T0 + 40 * MIN), T0 + 40 * MIN)
    assert s5.offset_ms == 10 * MIN + 123 + 10 * MIN - 6
    assert view(s5, T0 + 40 * MIN).remaining_ms == 5 * MIN - 117


def test_resume_after_the_phase_ran_out_while_pausing_is_done() -> None:
    s = commit(pause(running(), "bob", T0 + 25 * MIN - 5), T0 + 25 * MIN + 2)  # committed late
    assert view(s, T0 + H).status == "paused" and view(s, T0 + H).remaining_ms == 0
    v = view(commit(resume(s, "bob", T0 + H), T0 + H), T0 + H)
    assert (v.status, v.remaining_ms, v.ends_at) == ("done", 0, T0 + H - 2)


# ---------------------------------------------------------------------------------------------
# The view: done detection and auto-advance


@pytest.mark.parametrize(
    ("now", "status", "remaining", "shown"),
    [
        (T0 - 50, "running", 25 * MIN, "25:00"),  # a client's estimate slightly behind the start
        (T0, "running", 25 * MIN, "25:00"),
        (T0 + 1, "running", 25 * MIN - 1, "25:00"),
        (T0 + 25 * MIN - 1, "running", 1, "0:01"),
        (T0 + 25 * MIN, "done", 0, "0:00"),
        (T0 + 3 * DAY, "done", 0, "0:00"),
    ],
)
def test_done_detection(now: int, status: str, remaining: int, shown: str) -> None:
    v = view(running(), now)
    assert (v.status, v.phase, v.round, v.remaining_ms) == (status, "focus", 1, remaining)
    assert format_duration(v.remaining_ms) == shown
    assert v.ends_at == T0 + 25 * MIN and v.elapsed_ms == 25 * MIN - remaining


def test_idle_view_shows_the_cycle_length_of_its_phase() -> None:
    v = view(TimerState(), T0)
    assert (v.status, v.phase, v.round, v.remaining_ms, v.ends_at, v.rev) == (
        "idle", "focus", 1, 25 * MIN, None, 0)
    v = view(commit(stop(running(phase="long_break"), "a", T0), T0), T0 + H)
    assert (v.status, v.phase, v.remaining_ms, v.updated_by, v.action) == (
        "idle", "long_break", 15 * MIN, "a", "stop")


def walk(anchor: tuple[str, int, int], cycle: Cycle, elapsed: int) -> tuple[str, int, int]:
    """Reference: step phase by phase (slow but obviously right). (phase, round, remaining)."""
    phase, rnd, length = anchor
    while elapsed >= length:
        elapsed -= length
        if phase == "focus":
            phase = "long_break" if rnd % cycle.long_every == 0 else "short_break"
        else:
            phase, rnd = "focus", rnd + 1
        length = cycle.length(phase)
    return phase, rnd, length - elapsed


@pytest.mark.parametrize(
    ("elapsed", "phase", "rnd", "remaining"),
    [
        (0, "focus", 1, 25 * MIN),
        (25 * MIN - 1, "focus", 1, 1),
        (25 * MIN, "short_break", 1, 5 * MIN),
        (30 * MIN, "focus", 2, 25 * MIN),
        (115 * MIN - 1, "focus", 4, 1),
        (115 * MIN, "long_break", 4, 15 * MIN),  # long break every 4
        (130 * MIN, "focus", 5, 25 * MIN),
        (245 * MIN, "long_break", 8, 15 * MIN),
        (3 * DAY, "focus", 134, 25 * MIN),  # 33 whole 130-minute periods + 30 minutes
        (3 * DAY - 1, "short_break", 133, 1),
    ],
)
def test_auto_advance_known_points(elapsed: int, phase: str, rnd: int, remaining: int) -> None:
    v = view(running(AUTO), T0 + elapsed)
    assert (v.status, v.phase, v.round, v.remaining_ms) == ("running", phase, rnd, remaining)
    assert v.ends_at == T0 + elapsed + remaining


CYCLES = [
    AUTO,
    Cycle(focus_ms=50 * MIN, short_break_ms=10 * MIN, long_break_ms=30 * MIN, long_every=3,
          auto_advance=True),
    Cycle(focus_ms=7 * S, short_break_ms=3 * S, long_break_ms=11 * S, long_every=1,
          auto_advance=True),
    Cycle(focus_ms=1, short_break_ms=2, long_break_ms=3, long_every=5, auto_advance=True),
]
ANCHORS = [("focus", 1, 25 * MIN), ("focus", 4, 3 * MIN), ("short_break", 2, 1),
           ("long_break", 3, 40 * MIN)]
ELAPSED = [0, 1, 2, 5, 17, 3 * MIN, 25 * MIN, 61 * MIN + 17, 5 * H - 1, DAY + 123_457, 3 * DAY + 1]


@pytest.mark.parametrize("cycle", CYCLES)
@pytest.mark.parametrize("anchor", ANCHORS)
def test_auto_advance_matches_a_step_by_step_walk(cycle: Cycle, anchor: tuple[str, int, int]) -> None:
    phase, rnd, duration = anchor
    state = TimerState(rev=3, status="running", phase=phase, round=rnd, duration_ms=duration,
                       started_at=T0, offset_ms=-7, cycle=cycle)
    elapsed_values = ELAPSED if cycle.focus_ms > 10 else [e for e in ELAPSED if e <= 3 * MIN]
    for elapsed in elapsed_values:
        v = view(state, T0 + 7 + elapsed)
        assert (v.phase, v.round, v.remaining_ms) == walk(anchor, cycle, elapsed), elapsed
        assert v.ends_at == T0 + 7 + elapsed + v.remaining_ms


def test_auto_advance_years_later_is_fast() -> None:
    cycle = Cycle(focus_ms=1, short_break_ms=1, long_break_ms=1, long_every=100, auto_advance=True)
    state = TimerState(status="running", duration_ms=1, started_at=0, cycle=cycle)
    v = view(state, 10 * 365 * DAY)  # 3e11 phases: must not be walked one by one
    assert (v.phase, v.round, v.remaining_ms) == ("focus", 10 * 365 * DAY // 2 + 1, 1)


@pytest.mark.parametrize(
    ("paused_at", "now", "phase", "rnd", "remaining"),
    [
        (T0 + 24 * MIN, T0 + 3 * H, "focus", 1, 1 * MIN),  # frozen before the boundary
        (T0 + 26 * MIN, T0 + 3 * H, "short_break", 1, 4 * MIN),  # the commit landed after it
        (T0 + 2 * DAY, T0 + 9 * DAY, "focus", 89, 5 * MIN),  # 22 periods + 20 minutes
    ],
)
def test_paused_across_a_boundary(paused_at: int, now: int, phase: str, rnd: int,
                                  remaining: int) -> None:
    s = commit(pause(running(AUTO), "bob", paused_at - 3), paused_at)
    v = view(s, now)
    assert (v.status, v.phase, v.round, v.remaining_ms, v.ends_at) == (
        "paused", phase, rnd, remaining, None)
    # resuming continues from exactly where it was paused
    r = commit(resume(s, "ann", now), now)
    assert (view(r, now).phase, view(r, now).remaining_ms) == (phase, remaining)
    nxt = view(r, now + remaining)
    assert nxt.phase == ("short_break" if phase == "focus" else "focus")


def test_a_pause_before_the_first_boundary_does_not_advance() -> None:
    s = paused(AUTO, T0 + 10 * MIN)
    assert view(s, T0 + 10 * DAY).phase == "focus"
    assert view(s, T0 + 10 * DAY).remaining_ms == 15 * MIN


# ---------------------------------------------------------------------------------------------
# extend, skip, stop, configure


def test_extend_in_phase_k_reanchors_without_a_new_timestamp() -> None:
    s = running(AUTO)  # at T0 + 40m it is focus 2 (k = 2), 10 minutes left
    new = extend(s, "bob", T0 + 40 * MIN, 5 * MIN)
    assert (new.phase, new.round, new.duration_ms, new.offset_ms, new.started_at) == (
        "focus", 2, 30 * MIN, -30 * MIN, T0)
    e = commit(new, T0 + 40 * MIN + 9)
    assert view(e, T0 + 40 * MIN).remaining_ms == 20 * MIN
    assert (view(e, T0 + 60 * MIN).phase, view(e, T0 + 60 * MIN).round) == ("short_break", 2)
    assert view(e, T0 + 65 * MIN).phase == "focus" and view(e, T0 + 65 * MIN).round == 3


def test_extend_paused_in_phase_k_keeps_the_pause() -> None:
    s = paused(AUTO, T0 + 40 * MIN)
    new = extend(s, "bob", T0 + 2 * H, 2 * MIN)
    assert (new.status, new.paused_at, new.started_at, new.offset_ms) == (
        "paused", T0 + 40 * MIN, T0, -30 * MIN)
    assert view(new, T0 + 3 * H).remaining_ms == 17 * MIN


def test_extend_running_adds_time_to_the_same_anchor() -> None:
    new = extend(running(), "bob", T0 + 10 * MIN, 90 * S)
    assert (new.duration_ms, new.offset_ms, new.started_at) == (25 * MIN + 90 * S, 0, T0)
    assert view(new, T0 + 10 * MIN).remaining_ms == 16 * MIN + 30 * S


def test_an_extended_done_phase_runs_again_for_exactly_the_extra_time() -> None:
    new = commit(extend(running(), "bob", T0 + 2 * H, 5 * MIN), T0 + 2 * H + 40)
    v = view(new, T0 + 2 * H + 40)
    assert (v.status, v.remaining_ms, v.duration_ms, v.ends_at) == (
        "running", 5 * MIN, 30 * MIN, T0 + 2 * H + 40 + 5 * MIN)


def test_extend_rejects_a_non_positive_amount() -> None:
    with pytest.raises(ValueError):
        extend(running(), "bob", T0, 0)


@pytest.mark.parametrize(
    ("state", "now", "phase", "rnd", "duration"),
    [
        (running(), T0 + MIN, "short_break", 1, 5 * MIN),
        (replace(running(), round=4), T0 + MIN, "long_break", 4, 15 * MIN),
        (running(phase="short_break"), T0 + MIN, "focus", 2, 25 * MIN),
        (replace(running(phase="long_break"), round=4), T0 + MIN, "focus", 5, 25 * MIN),
        (paused(), T0 + H, "short_break", 1, 5 * MIN),
        (running(), T0 + H, "short_break", 1, 5 * MIN),  # done
        (running(AUTO), T0 + 26 * MIN, "focus", 2, 25 * MIN),  # the current phase, not the anchor
        (running(AUTO), T0 + 114 * MIN, "long_break", 4, 15 * MIN),
    ],
)
def test_skip(state: TimerState, now: int, phase: str, rnd: int, duration: int) -> None:
    new = skip(state, "ann", now)
    assert (new.status, new.phase, new.round, new.duration_ms) == ("running", phase, rnd, duration)
    assert (new.started_at, new.offset_ms, new.paused_at) == (SERVER_NOW, 0, None)


def test_relabel_changes_the_label_only() -> None:
    state = running(label="draft")
    new = commit(relabel(state, "bob", T0 + MIN, "final"), T0 + MIN)
    assert (new.label, new.action, new.updated_by, new.rev) == ("final", "label", "bob", state.rev + 1)
    assert view(new, T0 + 2 * MIN).remaining_ms == view(state, T0 + 2 * MIN).remaining_ms
    assert relabel(state, "bob", T0, "").label is None  # an empty label clears it
    with pytest.raises(ValueError):
        relabel(state, "bob", T0, "x" * 201)


def test_stop_keeps_the_current_phase_round_cycle_and_label() -> None:
    s = running(AUTO, label="writing")
    new = stop(s, "ann", T0 + 120 * MIN)  # long break 4
    assert (new.status, new.phase, new.round, new.duration_ms, new.label, new.cycle) == (
        "idle", "long_break", 4, 15 * MIN, "writing", AUTO)
    assert (new.started_at, new.paused_at, new.offset_ms) == (None, None, 0)


def test_configure_mid_run_keeps_elapsed_phases_and_uses_new_lengths_after() -> None:
    s = running(AUTO)  # focus 2 at T0 + 40m
    cycle = Cycle(focus_ms=50 * MIN, short_break_ms=10 * MIN, long_every=2, auto_advance=True)
    new = configure(s, "cy", T0 + 40 * MIN, cycle)
    assert (new.phase, new.round, new.duration_ms, new.offset_ms, new.started_at, new.cycle) == (
        "focus", 2, 25 * MIN, -30 * MIN, T0, cycle)
    points = [(40 * MIN, "focus", 2, 15 * MIN), (55 * MIN, "long_break", 2, 15 * MIN),
              (70 * MIN, "focus", 3, 50 * MIN), (120 * MIN, "short_break", 3, 10 * MIN)]
    for at, phase, rnd, remaining in points:
        v = view(new, T0 + at)
        assert (v.phase, v.round, v.remaining_ms) == (phase, rnd, remaining), at


def test_configure_turning_auto_advance_off_stops_at_the_end_of_the_current_phase() -> None:
    new = configure(running(AUTO), "cy", T0 + 40 * MIN, Cycle())
    assert view(new, T0 + 54 * MIN).phase == "focus"
    v = view(new, T0 + 5 * H)
    assert (v.status, v.phase, v.round, v.ends_at) == ("done", "focus", 2, T0 + 55 * MIN)


def test_configure_turning_auto_advance_on_when_done_advances_from_the_commit() -> None:
    new = commit(configure(running(), "cy", T0 + 2 * H, AUTO), T0 + 2 * H + 5)
    v = view(new, T0 + 2 * H + 5)
    assert (v.status, v.phase, v.round, v.remaining_ms) == ("running", "short_break", 1, 5 * MIN)


def test_configure_when_idle_shows_the_new_length() -> None:
    cycle = Cycle(short_break_ms=7 * MIN)
    s = commit(stop(running(phase="short_break"), "a", T0), T0)
    new = configure(s, "cy", T0, cycle)
    assert (new.status, new.cycle, new.duration_ms) == ("idle", cycle, 7 * MIN)
    assert view(new, T0).remaining_ms == 7 * MIN


# ---------------------------------------------------------------------------------------------
# next_moment

E = T0 + 25 * MIN  # end of the first focus phase


@pytest.mark.parametrize(
    ("state", "now", "until", "expected"),
    [
        (TimerState(), T0, "end", None),
        (TimerState(), T0, "break", None),
        (TimerState(), T0, "focus", None),
        (paused(), T0 + H, "end", None),
        (paused(), T0 + H, "break", None),
        (paused(AUTO), T0 + H, "focus", None),
        (running(), T0 + MIN, "end", E),
        (running(), T0 + MIN, "break", E),  # the break is due when focus ends
        (running(), T0 + MIN, "focus", T0 + MIN),  # already reached
        (running(phase="short_break"), T0 + MIN, "end", T0 + 5 * MIN),
        (running(phase="short_break"), T0 + MIN, "break", T0 + MIN),
        (running(phase="short_break"), T0 + MIN, "focus", T0 + 5 * MIN),
        (running(), T0 + H, "end", E),  # done: the end, already past
        (running(), T0 + H, "break", E),
        (running(), T0 + H, "focus", None),  # a done focus needs an action to focus again
        (running(phase="short_break"), T0 + H, "break", None),
        (running(phase="short_break"), T0 + H, "focus", T0 + 5 * MIN),
        (running(AUTO), T0 + MIN, "end", E),
        (running(AUTO), T0 + MIN, "break", E),
        (running(AUTO), T0 + MIN, "focus", T0 + MIN),
        (running(AUTO), T0 + 26 * MIN, "end", T0 + 30 * MIN),
        (running(AUTO), T0 + 26 * MIN, "focus", T0 + 30 * MIN),
        (running(AUTO), T0 + 26 * MIN, "break", T0 + 26 * MIN),
        (running(AUTO), T0 + DAY, "break", T0 + 1455 * MIN),  # a day in: focus 45 (1430m-1455m)
    ],
)
def test_next_moment(state: TimerState, now: int, until: str, expected: int | None) -> None:
    assert next_moment(state, until, now) == expected


@pytest.mark.parametrize(
    ("state", "now", "expected"),
    [
        (TimerState(), T0, None),
        (running(), T0 + MIN, None),  # running in the phase it was started in: nothing ended
        (paused(), T0 + H, None),
        (running(), T0 + H, (("focus", 1), ("short_break", 1))),  # done: next is what skip starts
        (running(Cycle(long_every=1)), T0 + H, (("focus", 1), ("long_break", 1))),
        (running(phase="short_break"), T0 + H, (("short_break", 1), ("focus", 2))),
        (running(AUTO), T0 + 26 * MIN, (("focus", 1), ("short_break", 1))),  # moved on by itself
        (running(AUTO), T0 + 31 * MIN, (("short_break", 1), ("focus", 2))),
        (running(AUTO), T0 + DAY, (("long_break", 44), ("focus", 45))),  # a day in: focus 45 began at 1430m
        (paused(AUTO, at=T0 + 27 * MIN), T0 + H, None),  # paused in a later phase: nothing ends
    ],
)
def test_phase_change(state: TimerState, now: int, expected: tuple[tuple[str, int], tuple[str, int]] | None) -> None:
    assert phase_change(state, now) == expected


def test_next_moment_rejects_unknown_moments() -> None:
    with pytest.raises(ValueError):
        next_moment(running(), "lunch", T0)


# ---------------------------------------------------------------------------------------------
# Wire form


WIRE_STATES = [
    TimerState(),
    start(TimerState(), "ann", T0, label="deep work"),  # SERVER_NOW timestamps
    paused(AUTO),
    stopped(),
    commit(configure(running(), "cy", T0, Cycle(long_every=2, auto_advance=True)), T0),
    extend(paused(AUTO, T0 + 40 * MIN), "bob", T0 + H, MIN),  # negative offset
]


@pytest.mark.parametrize("state", WIRE_STATES)
def test_wire_round_trip(state: TimerState) -> None:
    wire = state.to_wire()
    assert all(v is not None for v in wire.values())
    assert wire["cycle"] == state.cycle.to_wire()
    assert TimerState.from_wire(wire) == state
    assert TimerState.from_wire(copy.deepcopy(wire)) == state


def test_to_wire_field_names_and_server_now() -> None:
    wire = start(TimerState(), "ann", T0).to_wire()
    assert wire == {
        "rev": 1, "status": "running", "phase": "focus", "round": 1, "duration_ms": 25 * MIN,
        "started_at": SERVER_NOW, "offset_ms": 0, "updated_at": SERVER_NOW, "updated_by": "ann",
        "action": "start",
        "cycle": {"focus_ms": 25 * MIN, "short_break_ms": 5 * MIN, "long_break_ms": 15 * MIN,
                  "long_every": 4, "auto_advance": False},
    }
    assert wire["started_at"] is SERVER_NOW
    assert pickle.loads(pickle.dumps(SERVER_NOW)) is SERVER_NOW and repr(SERVER_NOW) == "SERVER_NOW"


def test_from_wire_none_is_the_initial_state_and_sv_placeholders_read_as_server_now() -> None:
    assert TimerState.from_wire(None) == TimerState()
    wire = {**start(TimerState(), "a", T0).to_wire(), "started_at": {".sv": "timestamp"}, "x": 1}
    assert TimerState.from_wire(wire).started_at is SERVER_NOW


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, Cycle()),
        ({"focus_ms": 50 * MIN}, Cycle(focus_ms=50 * MIN)),
        ({"long_every": 2, "auto_advance": True, "other": "ignored"}, Cycle(long_every=2,
                                                                            auto_advance=True)),
    ],
)
def test_cycle_from_wire_defaults(data: dict[str, Any], expected: Cycle) -> None:
    assert Cycle.from_wire(data) == expected


GOOD = running().to_wire()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "expected an object"),
        ("running", "expected an object"),
        ({k: v for k, v in GOOD.items() if k != "rev"}, "missing rev"),
        ({"status": "idle"}, "missing rev, phase, round, duration_ms"),
        ({**GOOD, "rev": -1}, "'rev' must be an integer >= 0"),
        ({**GOOD, "rev": "3"}, "'rev' must be an integer >= 0"),
        ({**GOOD, "status": "done"}, "'status' must be one of idle, running, paused"),
        ({**GOOD, "phase": "nap"}, "'phase' must be one of focus, short_break, long_break"),
        ({**GOOD, "round": 0}, "'round' must be an integer >= 1"),
        ({**GOOD, "round": True}, "'round' must be an integer >= 1"),
        ({**GOOD, "duration_ms": 0}, "'duration_ms' must be an integer > 0"),
        ({**GOOD, "duration_ms": 1500.5}, "'duration_ms' must be an integer > 0"),
        ({**GOOD, "offset_ms": "0"}, "'offset_ms' must be an integer"),
        ({k: v for k, v in GOOD.items() if k != "started_at"}, "'started_at' is required"),
        ({**GOOD, "started_at": "now"}, "'started_at' must be a server timestamp"),
        ({**GOOD, "started_at": {".sv": "increment"}}, "'started_at' must be a server timestamp"),
        ({**GOOD, "status": "paused"}, "'paused_at' is required"),
        ({**GOOD, "paused_at": T0}, "'paused_at' must be absent unless paused"),
        ({**GOOD, "status": "idle"}, "'started_at' must be absent when idle"),
        ({**GOOD, "updated_at": []}, "'updated_at' must be a server timestamp"),
        ({**GOOD, "label": 5}, "'label' must be text"),
        ({**GOOD, "updated_by": None, "action": 3}, "'action' must be text"),
        ({**GOOD, "cycle": 25}, "invalid cycle: expected an object"),
        ({**GOOD, "cycle": {"focus_ms": 0}}, "'focus_ms' must be whole ms in (0, 24h]"),
        ({**GOOD, "cycle": {"long_break_ms": DAY + 1}}, "'long_break_ms' must be whole ms"),
        ({**GOOD, "cycle": {"long_every": 0}}, "'long_every' must be 1..100"),
        ({**GOOD, "cycle": {"auto_advance": "yes"}}, "'auto_advance' must be a boolean"),
        ({**GOOD, "cycle": {"short_break_ms": True}}, "'short_break_ms' must be whole ms"),
    ],
)
def test_malformed_wire_is_a_value_error(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match="^invalid ") as excinfo:
        TimerState.from_wire(data)
    assert message in str(excinfo.value) and "\n" not in str(excinfo.value)


@pytest.mark.parametrize("data", [None, [], {"focus_ms": "25"}])
def test_malformed_cycle_is_a_value_error(data: Any) -> None:
    with pytest.raises(ValueError, match="^invalid cycle"):
        Cycle.from_wire(data)


# ---------------------------------------------------------------------------------------------
# Durations


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("25", 25 * MIN),
        ("1", MIN),
        ("1440", DAY),
        ("25m", 25 * MIN),
        ("90s", 90 * S),
        ("1h", H),
        ("24h", DAY),
        ("1h30m", 90 * MIN),
        ("1h30m15s", 90 * MIN + 15 * S),
        ("1h15s", H + 15 * S),
        ("30m15s", 30 * MIN + 15 * S),
        ("90m", 90 * MIN),
        ("1:30:00", 90 * MIN),
        ("0:00:01", S),
        ("25:00", 25 * MIN),
        ("0:07", 7 * S),
        ("90:00", 90 * MIN),
        ("24:00:00", DAY),
        ("  25m\n", 25 * MIN),
        ("1H30M", 90 * MIN),
        ("25M", 25 * MIN),
        ("1h 30m", 90 * MIN),
    ],
)
def test_parse_duration_accepts(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize(
    "text",
    [
        "", "  ", "0", "0m", "0:00", "0:00:00", "1441", "25h", "24h1s", "24:00:01", "-5", "+5",
        "1.5", "1.5h", "abc", "m", "25 minutes", "30m1h", "1h1h", "1:60", "1:5", "1:30:60",
        "1:2:3:4", ":30", "25:", "٢٥", "２５", "1e3", "9" * 50, "25ms", "1d", "1h99m", "1m75s",
        "1h60s",
    ],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(DurationError) as excinfo:
        parse_duration(text)
    message = str(excinfo.value)
    assert "\n" not in message and "25m" in message and "1:30:00" in message
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (25 * MIN, "25:00"),
        (H + 5 * MIN + 9 * S, "1:05:09"),
        (7 * S, "0:07"),
        (6 * S + 1, "0:07"),  # rounds up
        (1, "0:01"),  # never 0:00 while time remains
        (0, "0:00"),
        (-5, "0:00"),
        (59 * S + 1, "1:00"),
        (H - 1, "1:00:00"),
        (H, "1:00:00"),
        (DAY + 1, "24:00:01"),
        (100 * H, "100:00:00"),
    ],
)
def test_format_duration(ms: int, text: str) -> None:
    assert format_duration(ms) == text


def test_phases() -> None:
    assert PHASES == ("focus", "short_break", "long_break")


def test_stopping_a_completed_focus_phase_counts_the_round() -> None:
    started = commit(start(TimerState(), "a", 0, duration_ms=1000), 0)
    stopped = commit(stop(started, "a", 5000), 5000)  # the focus phase ran out at 1000
    assert (stopped.phase, stopped.round) == ("short_break", 1)
    again = start(stopped, "a", 6000)
    assert (again.phase, again.round) == ("focus", 2)


def test_extend_refuses_a_phase_longer_than_48h() -> None:
    running = commit(start(TimerState(), "a", 0, duration_ms=24 * 3600_000), 0)
    longer = commit(extend(running, "a", 10, 24 * 3600_000), 10)
    assert longer.duration_ms == 48 * 3600_000
    with pytest.raises(TimerError, match=r"^a phase can last at most 48h; it would be 48:01:00$"):
        extend(longer, "a", 20, 60_000)

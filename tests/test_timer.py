"""The pure timer core, Python-only parts: the SERVER_NOW sentinel and the types of errors.

The timer's semantics (actions in every status, the view over time, auto-advance, the wire form,
durations) are data in tests/cases/timer/*.json, run by tests/test_timer_cases.py here and by
node against the page's focuscli/web/timer.js.
"""

from __future__ import annotations

import copy
import pickle
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
    parse_duration,
    pause,
    phase_change,
    relabel,
    start,
    view,
)

T0 = 1_700_000_000_000


def test_server_now_is_one_sentinel_that_survives_copy_and_pickle() -> None:
    assert pickle.loads(pickle.dumps(SERVER_NOW)) is SERVER_NOW
    assert copy.deepcopy(SERVER_NOW) is SERVER_NOW
    assert repr(SERVER_NOW) == "SERVER_NOW"


def test_to_wire_leaves_server_now_for_the_backend_and_from_wire_reads_the_placeholder() -> None:
    wire = start(TimerState(), "ann", T0).to_wire()
    assert wire["started_at"] is SERVER_NOW and wire["updated_at"] is SERVER_NOW
    back = TimerState.from_wire({**wire, "started_at": {".sv": "timestamp"}})
    assert back.started_at is SERVER_NOW
    assert back == TimerState.from_wire(copy.deepcopy(wire))


def test_configure_wants_a_cycle() -> None:
    with pytest.raises(ValueError, match=r"^cycle must be a Cycle, got \{'focus_ms': 1\}$"):
        configure(TimerState(), "ann", T0, {"focus_ms": 1})  # type: ignore[arg-type]


def test_timer_state_wants_a_cycle() -> None:
    with pytest.raises(ValueError, match=r"^invalid timer state: 'cycle' must be a Cycle, got None$"):
        TimerState(cycle=None)  # type: ignore[arg-type]


def test_duration_errors_are_value_errors() -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_duration("soon")
    assert isinstance(excinfo.value, DurationError)


def test_phases() -> None:
    assert PHASES == ("focus", "short_break", "long_break")
    assert Cycle().to_wire() == {"focus_ms": 1_500_000, "short_break_ms": 300_000, "long_break_ms": 900_000,
                                 "long_every": 4, "auto_advance": False}


# -- Python-only so far (the page has no relabel, and phase ends are the watch's) -------------

S, MIN = 1000, 60_000
H, DAY = 60 * MIN, 24 * 60 * MIN
MANUAL = Cycle()
AUTO = Cycle(auto_advance=True)


def _commit(state: TimerState, at: int) -> TimerState:
    """What the server stores: every SERVER_NOW becomes the commit time `at`."""
    fields = {k: at for k in ("started_at", "paused_at", "updated_at") if getattr(state, k) is SERVER_NOW}
    return replace(state, **fields)


def running(cycle: Cycle = MANUAL, at: int = T0, **kw: Any) -> TimerState:
    return _commit(start(TimerState(cycle=cycle), "ann", at, **kw), at)


def paused(cycle: Cycle = MANUAL, at: int = T0 + 10 * MIN) -> TimerState:
    return _commit(pause(running(cycle), "bob", at), at)


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


def test_relabel_changes_the_label_only() -> None:
    state = running(label="draft")
    new = _commit(relabel(state, "bob", T0 + MIN, "final"), T0 + MIN)
    assert (new.label, new.action, new.updated_by, new.rev) == ("final", "label", "bob", state.rev + 1)
    assert view(new, T0 + 2 * MIN).remaining_ms == view(state, T0 + 2 * MIN).remaining_ms
    assert relabel(state, "bob", T0, "").label is None  # an empty label clears it
    for status_state, now in ((paused(), T0 + 20 * MIN), (running(), T0 + 30 * MIN)):  # paused, done
        assert view(_commit(relabel(status_state, "cy", now, "x"), now), now).status == view(status_state, now).status
    with pytest.raises(TimerError, match="^the timer is stopped; give the next block its label with focus start --label$"):
        relabel(TimerState(), "bob", T0, "x")
    with pytest.raises(ValueError):
        relabel(state, "bob", T0, "x" * 201)

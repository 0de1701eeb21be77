"""The pure timer core, Python-only parts: the SERVER_NOW sentinel and the types of errors.

The timer's semantics (actions in every status, the view over time, auto-advance, the wire form,
durations) are data in tests/cases/timer/*.json, run by tests/test_timer_cases.py here and by
node against the page's focuscli/web/timer.js.
"""

from __future__ import annotations

import copy
import pickle

import pytest

from focuscli.timer import (
    PHASES,
    SERVER_NOW,
    Cycle,
    DurationError,
    TimerState,
    configure,
    parse_duration,
    start,
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

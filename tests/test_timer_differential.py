"""Python and the page's JavaScript on thousands of random cases: where they differ, they drifted.

Random scenarios (actions at random times, commits, views, next moments), random wire values
and random duration texts get their expected outcome from focuscli/timer.py, in the format of
tests/cases/timer/*.json; node runs them against focuscli/web/timer.js (tests/web/run_cases.mjs).
A case that differs belongs in the case files once its right answer is settled. Another seed:
TIMER_FUZZ_SEED=<n>.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from focuscli import timer
from focuscli.timer import Cycle, TimerState
from tests import node
from tests.test_timer_cases import apply, committed, outcome, to_json

SEED = int(os.environ.get("TIMER_FUZZ_SEED", "20240614"))
RUNNER = Path(__file__).parent / "web" / "run_cases.mjs"
S, MIN, H, DAY = 1000, 60_000, 3_600_000, 86_400_000
T0 = 1_700_000_000_000
# JSON values a field may hold by mistake (no whole floats: JavaScript reads 2.0 as 2, and so
# does timer.py's from_wire, but not an action's arguments)
ODD = [None, True, False, -1, 0, 1, 2.5, 1e-7, 2**40, "", "x", "it's", "\u200b", "🍅", [], [1, "a"], {},
       {".sv": "timestamp"}, {".sv": "increment"}, {"a": None}]  # fmt: skip
WHOLE = [2.0, 0.0, float(T0), [1.0], {"focus_ms": 60_000.0, "auto_advance": 1.0}]  # 2.0 is read as 2


def random_cycle(rng: random.Random, odd: bool = True) -> dict[str, Any]:
    tiny = rng.random() < 0.3
    pick = (lambda: rng.randint(1, 20)) if tiny else (lambda: rng.choice([1, 7, 90]) * rng.choice([S, MIN]))
    cycle = {"focus_ms": pick(), "short_break_ms": pick(), "long_break_ms": pick(),
             "long_every": rng.randint(1, 5), "auto_advance": rng.random() < 0.5}  # fmt: skip
    if odd and rng.random() < 0.05:
        cycle[rng.choice(list(cycle))] = rng.choice(ODD)
    return cycle


def random_args(rng: random.Random, action: str) -> dict[str, Any]:
    if action == "start":
        args: dict[str, Any] = {}
        if rng.random() < 0.5:
            args["duration_ms"] = rng.choice([1, 999, 25 * MIN, DAY, 47 * H, rng.randint(1, 3 * H)])
        if rng.random() < 0.4:
            args["phase"] = rng.choice(timer.PHASES)
        if rng.random() < 0.3:
            args["label"] = rng.choice(["", "deep work", "Überprüfung 📝"])
        if rng.random() < 0.05:
            args[rng.choice(["duration_ms", "phase", "label"])] = rng.choice(ODD)
        return args
    if action == "extend":
        ms = rng.choice([1, 90 * S, 5 * MIN, DAY, 30 * H, rng.randint(1, 2 * H)])
        return {"ms": rng.choice(ODD) if rng.random() < 0.05 else ms}
    if action == "configure":
        return {"cycle": random_cycle(rng)}
    return {}


def random_scenario(rng: random.Random, index: int) -> dict[str, Any]:
    cycle = Cycle.from_wire(random_cycle(rng, odd=False) if rng.random() < 0.5 else {})
    state = TimerState(cycle=cycle)
    case: dict[str, Any] = {"name": f"random {index}", "state": to_json(state.to_wire()), "steps": []}
    t = T0 + rng.randrange(DAY)
    for _ in range(rng.randint(1, 14)):
        t += rng.choice([0, 1, rng.randrange(2 * S), rng.randrange(30 * MIN), rng.randrange(3 * H), rng.randrange(3 * DAY)])
        roll = rng.random()
        if roll < 0.55:
            likely = {"idle": "start", "running": "pause", "paused": "resume", "done": "start"}
            status = timer.view(state, t).status
            action = likely[status] if rng.random() < 0.4 else rng.choice(ACTIONS)
            step: dict[str, Any] = {"do": action, "by": rng.choice(["ann", "bob"]), "now": t + rng.randint(-300, 300)}
            args = random_args(rng, action)
            if args:
                step["args"] = args
            got = outcome("state", lambda s=state, st=step: apply(s, st))
            if "state" in got:
                state = got["state"]
                got["state"] = to_json(state.to_wire())
            step.update(got)
            case["steps"].append(step)
            if "state" in got and rng.random() < 0.9:
                at = t + rng.randint(0, 400)
                case["steps"].append({"commit": at})
                state = committed(state, at)
        elif roll < 0.85:
            case["steps"].append({"view_at": t, "view": asdict(timer.view(state, t))})
        else:
            until = rng.choice([*timer.UNTIL, "lunch"] if rng.random() < 0.1 else timer.UNTIL)
            step = {"until": until, "now": t}
            step.update(outcome("next_moment", lambda s=state, u=until, n=t: timer.next_moment(s, u, n)))
            case["steps"].append(step)
    return case


def random_wire(rng: random.Random, index: int) -> dict[str, Any]:
    state = TimerState.from_wire(random_scenario(rng, index)["state"])
    for action in rng.sample(["start", "pause", "extend"], rng.randint(0, 3)):
        got = outcome("state", lambda s=state, a=action: apply(s, {"do": a, "by": "ann", "now": T0, "args": random_args(rng, a)}))
        state = committed(got["state"], T0 + 5) if "state" in got else state
    wire: Any = to_json(state.to_wire())
    for _ in range(rng.choice([0, 1, 1, 2])):
        key = rng.choice([*wire, "cycle", "paused_at", "label", "x"])
        if rng.random() < 0.2:
            wire.pop(key, None)
        else:
            wire[key] = rng.choice(ODD + WHOLE)
    case = {"name": f"random wire {index}", "wire": wire}
    case.update(outcome("state", lambda: to_json(TimerState.from_wire(wire).to_wire())))
    return case


ACTIONS = ["start", "pause", "resume", "stop", "skip", "extend", "extend", "configure"]
PIECES = ["0", "1", "5", "25", "59", "60", "90", "007", "1440", "h", "m", "s", "H", "M", ":", ":00", ":5",
          " ", "\t", "\n", "\u00a0", "\x1c", "\ufeff", "x", "1.5", "-", "+", "٢", "２", "🍅", "'", '"']  # fmt: skip


def random_duration(rng: random.Random, index: int) -> dict[str, Any]:
    number = lambda: str(rng.choice([0, 1, 5, 25, 59, 60, 61, 90, 1440, 1441, rng.randrange(100)]))  # noqa: E731
    roll = rng.random()
    if roll < 0.3:  # units, maybe spaced or in capitals
        text = "".join(number() + rng.choice(["", " "]) + u for u in rng.sample("hms", rng.randint(1, 3)))
        text = text.upper() if rng.random() < 0.2 else text
    elif roll < 0.5:  # a clock
        text = ":".join([number()] + [f"{rng.randrange(70):02d}" for _ in range(rng.randint(1, 2))])
    elif roll < 0.6:
        text = number()
    else:
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 6)))
    if rng.random() < 0.2:  # noise around or inside
        at = rng.choice([0, len(text)])
        text = text[:at] + rng.choice(PIECES) + text[at:]
    case = {"name": f"random text {index}", "text": text}
    case.update(outcome("ms", lambda: timer.parse_duration(text)))
    return case


def differences(tmp_path: Path, kind: str, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    file = tmp_path / f"{kind}.json"
    file.write_text(json.dumps({"kind": kind, "doc": "random", "cases": cases}), encoding="utf-8")
    done = subprocess.run([node.executable("node"), str(RUNNER), str(file)], env=node.environ(),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode in (0, 1) and not done.stderr, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.parametrize(("kind", "make", "count"), [
    ("scenario", random_scenario, 1500),
    ("state_wire", random_wire, 1500),
    ("duration", random_duration, 3000),
])  # fmt: skip
def test_python_and_javascript_agree(tmp_path: Path, kind: str, make: Any, count: int) -> None:
    rng = random.Random(f"{SEED}:{kind}")
    cases = [make(rng, i) for i in range(count)]
    bad = differences(tmp_path, kind, cases)
    shown = [next(c for c in cases if c["name"] == d["name"]) for d in bad[:3]]
    assert not bad, f"seed {SEED}: {len(bad)} of {count} differ, e.g. {bad[:3]}\ncases: {json.dumps(shown)[:6000]}"

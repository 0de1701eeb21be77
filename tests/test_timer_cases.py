"""The timer's semantics as data: every case in tests/cases/timer/*.json against the Python side.

The same files run against the page's JavaScript (focuscli/web/*.js) under node, through
tests/web/timer_cases.test.mjs, so the two implementations cannot drift. A file holds one
``kind`` of case; every expected value is exact (all fields, messages included):

- ``scenario``: from ``state`` (wire form; null is the initial state) run ``steps`` in order:
  ``{"do", "by", "now", "args"?}`` applies an action (start, pause, resume, stop, skip, extend
  {ms}, configure {cycle}, reset) and expects the new ``state``, or ``refused`` (TimerError) or
  ``invalid`` (ValueError) with its message; ``{"commit": t}`` stores the state as the server
  does when the write commits at ``t``; ``{"view_at": t, "view"}`` expects the view at ``t``;
  ``{"until", "now", "next_moment"}`` expects ``next_moment`` (or ``invalid``).
- ``state_wire`` / ``cycle_wire``: ``wire`` parses to ``state`` / ``cycle`` (its wire form), or
  ``invalid``.
- ``duration``: ``text`` parses to ``ms``, or ``invalid``. ``clock``: ``ms`` shows as ``text``.
- ``repr``: a message shows the bad ``value`` as ``repr``.
- ``plan``: the action (as in a scenario step) with operation id ``op`` writes ``update`` at
  ``sessions/<session>`` (focuscli/plan.py, as service.Focus.act sends it).
- ``action_line``: the line ``focus <action>`` prints for ``view``.
- ``reset``: `timer.reset` by ``by`` at ``now`` over ``wire`` (the stored value as read, however
  malformed) makes ``state`` (wire form), or is ``invalid``.

Every case has a ``name`` (unique in its file; the test id) and may have a ``doc``. Server
timestamps to be (SERVER_NOW) are ``{".sv": "timestamp"}`` in the files. Run one file with
``TIMER_CASES=<stem>``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

from focuscli import plan, prompt, render, timer
from focuscli.service import Status
from focuscli.timer import SERVER_NOW, Cycle, TimerError, TimerState, TimerView

CASES = Path(__file__).parent / "cases" / "timer"
SV = {".sv": "timestamp"}
OUTCOMES = ("state", "refused", "invalid")


def case_files() -> list[Path]:
    only = os.environ.get("TIMER_CASES")
    return [p for p in sorted(CASES.glob("*.json")) if not only or p.stem == only]


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _params() -> list[Any]:
    params = []
    for path in case_files():
        spec = load(path)
        for case in spec["cases"]:
            params.append(pytest.param(spec["kind"], case, id=f"{path.stem}:{case['name']}"))
    return params


def to_json(value: Any) -> Any:
    """`value` as the case files write it: SERVER_NOW as the RTDB placeholder."""
    if value is SERVER_NOW:
        return dict(SV)
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


def outcome(key: str, fn: Callable[[], Any]) -> dict[str, Any]:
    """{key: result} or {"refused": message} (TimerError) or {"invalid": message} (ValueError)."""
    try:
        return {key: fn()}
    except TimerError as err:
        return {"refused": str(err)}
    except ValueError as err:
        return {"invalid": str(err)}


def expected(step: dict[str, Any], key: str) -> dict[str, Any]:
    found = {k: step[k] for k in (key, "refused", "invalid") if k in step}
    assert len(found) == 1, f"a step expects exactly one outcome: {step}"
    return found


def apply(state: TimerState, step: dict[str, Any]) -> TimerState:
    """The action of a scenario step or plan case, called as the CLI calls it."""
    name, args, by, now = step["do"], step.get("args", {}), step["by"], step["now"]
    if name == "start":
        return timer.start(state, by, now, **args)
    if name == "extend":
        return timer.extend(state, by, now, args["ms"])
    if name == "configure":
        return timer.configure(state, by, now, Cycle.from_wire(args["cycle"]))
    assert name in ("pause", "resume", "stop", "skip", "reset") and not args, step
    action: Callable[[TimerState, str, int], TimerState] = getattr(timer, name)
    return action(state, by, now)


def committed(state: TimerState, at: int) -> TimerState:
    """The state as the server stores it when the write commits at `at`."""
    times = {k: at for k in ("started_at", "paused_at", "updated_at") if getattr(state, k) is SERVER_NOW}
    return replace(state, **times)


def run_scenario(case: dict[str, Any]) -> None:
    state = TimerState.from_wire(case["state"])
    for index, step in enumerate(case["steps"]):
        where = f"step {index}: {json.dumps(step)[:200]}"
        if "do" in step:
            got = outcome("state", lambda s=state, st=step: apply(s, st))
            want = expected(step, "state")
            if "state" in got:
                new = got["state"]
                got["state"] = to_json(new.to_wire())
                state = new
            assert got == want, where
        elif "commit" in step:
            state = committed(state, step["commit"])
        elif "view_at" in step:
            assert asdict(timer.view(state, step["view_at"])) == step["view"], where
        elif "until" in step:
            got = outcome("next_moment", lambda s=state, st=step: timer.next_moment(s, st["until"], st["now"]))
            assert got == expected(step, "next_moment"), where
        else:
            raise AssertionError(f"unknown step {where}")


def run_plan(case: dict[str, Any]) -> None:
    def write() -> dict[str, Any]:
        new = replace(apply(TimerState.from_wire(case["state"]), case), updated_by_name=case["display_name"])
        note = {"ms": case["args"]["ms"]} if case["do"] == "extend" else None  # as cli/timer.py
        return to_json(plan.update(new, plan.log_entry(new, case["by"], case["display_name"], case["op"], note)))

    assert outcome("update", write) == expected(case, "update")


def run_case(kind: str, case: dict[str, Any]) -> None:
    if kind == "scenario":
        run_scenario(case)
    elif kind == "state_wire":
        got = outcome("state", lambda: to_json(TimerState.from_wire(case["wire"]).to_wire()))
        assert got == expected(case, "state")
    elif kind == "cycle_wire":
        got = outcome("cycle", lambda: Cycle.from_wire(case["wire"]).to_wire())
        assert got == expected(case, "cycle")
    elif kind == "duration":
        assert outcome("ms", lambda: timer.parse_duration(case["text"])) == expected(case, "ms")
    elif kind == "clock":
        assert timer.format_duration(case["ms"]) == case["text"]
        assert prompt.format_duration(case["ms"]) == case["text"]  # the prompt's stdlib-only copy
    elif kind == "repr":
        assert repr(case["value"]) == case["repr"]
    elif kind == "plan":
        run_plan(case)
    elif kind == "reset":
        got = outcome("state", lambda: to_json(timer.reset(case["wire"], case["by"], case["now"]).to_wire()))
        assert got == expected(case, "state")
    elif kind == "action_line":
        view = TimerView(**case["view"])
        assert render.action_line(Status(case["session"], view, 0, 0)) == case["line"]
    else:
        raise AssertionError(f"unknown kind {kind!r}")


@pytest.mark.parametrize(("kind", "case"), _params())
def test_case(kind: str, case: dict[str, Any]) -> None:
    run_case(kind, case)


def test_case_files_are_well_formed() -> None:
    """Names are unique per file (they are the test ids here and under node) and every
    expected message is one line."""
    assert case_files(), "no case files"
    for path in case_files():
        spec = load(path)
        assert set(spec) == {"kind", "doc", "cases"}, path.name
        names = [case["name"] for case in spec["cases"]]
        assert len(names) == len(set(names)), f"{path.name}: duplicate names"
        assert all(n.strip() == n and n.isprintable() for n in names), path.name
        text = path.read_text(encoding="utf-8")
        for message in _messages(json.loads(text)):
            assert "\n" not in message, message


def _messages(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k in ("refused", "invalid") and isinstance(v, str)]
        return found + [m for v in value.values() for m in _messages(v)]
    if isinstance(value, list):
        return [m for v in value for m in _messages(v)]
    return []


def test_every_action_is_cased_in_every_status() -> None:
    names = {case["name"] for case in load(CASES / "actions.json")["cases"]}
    actions = ("start", "pause", "resume", "stop", "skip", "extend", "configure", "reset")
    missing = [f"{a} when {s}" for a in actions for s in ("idle", "running", "paused", "done") if f"{a} when {s}" not in names]
    assert not missing

"""A whole number written with a fraction (1500000.0) passes the rules (`% 1 === 0`); focus serve
stores and serves it as the integer it is, as Realtime Database does (issue 11), and the CLI
reads it as an integer too, as the page's JavaScript does, wherever it comes from: otherwise one
such write would leave the session unreadable for every terminal member."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from focuscli import plan, timer
from focuscli.timer import SERVER_NOW


def placeholders(value: Any) -> Any:
    if value is SERVER_NOW:
        return {".sv": "timestamp"}
    if isinstance(value, dict):
        return {k: placeholders(v) for k, v in value.items()}
    return value


def test_a_member_s_whole_float_keeps_the_session_usable(member: Any, rest: Any) -> None:
    ann, bob = member("ann"), member("bob")
    ann.act("s1", lambda s, now: timer.start(s, "ann", now), create=True)
    bob.join("s1", ann.invite_code("s1"))
    paused = replace(timer.pause(bob.state("s1"), "bob", bob.server_now()), updated_by_name="bob")
    update = placeholders(plan.update(paused, plan.log_entry(paused, "bob", "bob", "Ab3_-xYz09kLmNoP")))
    update["state"]["duration_ms"] = float(paused.duration_ms)  # as some JSON writers put it
    update["state"]["offset_ms"] = 0.0
    as_bob = {"auth_variable_override": json.dumps({"uid": "bob", "token": {"name": "bob"}})}
    written = rest.patch("/sessions/s1.json", update, params=as_bob)
    assert written.status_code == 200, written.text  # the rules accept it
    assert '"duration_ms":1500000,' in rest.get("/sessions/s1/state.json").text  # as RTDB serves it

    status = ann.status("s1")  # was: "the timer of 's1' is malformed in the database: ..."
    assert (status.view.status, status.view.duration_ms, status.view.rev) == ("paused", 1_500_000, 2)
    resumed = ann.act("s1", lambda s, now: timer.resume(s, "ann", now))
    assert (resumed.view.status, resumed.view.rev) == ("running", 3)

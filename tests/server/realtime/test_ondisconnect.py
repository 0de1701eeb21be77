"""onDisconnect writes held per connection (rtdb-websocket.md §8): the SDK's sparse tree."""

from __future__ import annotations

from focuscli.server import tree
from focuscli.server.access import OPEN_ACCESS
from focuscli.server.realtime.ondisconnect import OnDisconnect, placeholder, run_held


def held(od: OnDisconnect) -> dict[str, object]:
    return {tree.path_str(p): n for p, n in sorted(od.entries.items())}


def test_a_set_replaces_what_is_held_below_and_merges_into_a_set_above() -> None:
    od = OnDisconnect()
    od.remember(("a", "b"), 1)
    od.remember(("a", "c"), 2)
    od.remember(("a",), {"x": 1})
    assert held(od) == {"/a": {"x": 1}}
    od.remember(("a", "y", "z"), 3)
    assert held(od) == {"/a": {"x": 1, "y": {"z": 3}}}
    od.remember(("a", "x"), None)
    assert held(od) == {"/a": {"y": {"z": 3}}}


def test_a_cancel_below_a_held_set_keeps_the_siblings_as_their_own_sets() -> None:
    od = OnDisconnect()
    od.remember(("room",), {"x": 1, "y": 2, "z": {"deep": 3}})
    od.forget(("room", "y"))
    assert held(od) == {"/room/x": 1, "/room/z": {"deep": 3}}
    od.forget(("room", "z", "deep"))
    assert held(od) == {"/room/x": 1}
    od.forget(())
    assert not od


def test_a_cancel_below_a_held_leaf_or_delete() -> None:
    od = OnDisconnect()
    od.remember(("leaf",), "text")
    od.forget(("leaf", "child"))  # a leaf has no child to cancel: the set stays (as the SDK)
    od.remember(("gone",), None)
    od.forget(("gone", "child"))  # a held delete splits into nothing
    assert held(od) == {"/leaf": "text"}


def test_server_values_resolve_when_the_writes_run() -> None:
    od = OnDisconnect()
    path = ("seen",)
    od.remember(path, tree.normalize({"at": {".sv": "timestamp"}, "n": {".sv": {"increment": 2}}}, path, placeholder))
    change, new_root = run_held(od, False, None, {"seen": {"n": 40}}, OPEN_ACCESS, 1.234)  # type: ignore[misc]
    assert new_root == {"seen": {"at": 1234, "n": 42}}
    assert change.paths() == [("seen",)]


def test_a_record_round_trips_through_json() -> None:
    od = OnDisconnect()
    od.remember(("a", "b"), {"c": {".sv": "timestamp"}})
    od.remember(("d",), None)
    again = OnDisconnect.from_record(od.to_record())
    assert again.entries == od.entries

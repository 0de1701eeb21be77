"""Server values `.sv` (spec §3): timestamp and increment, resolved at commit time."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

TS = {".sv": "timestamp"}


def inc(delta: int | float) -> dict[str, Any]:
    return {".sv": {"increment": delta}}


class Window:
    lo: int
    hi: int

    def __contains__(self, value: object) -> bool:
        is_int = isinstance(value, int) and not isinstance(value, bool)
        return is_int and self.lo <= value <= self.hi  # type: ignore[operator]


@contextmanager
def request_window(slack_ms: int = 1000) -> Iterator[Window]:
    """The wall-clock interval (ms) around the requests made inside the block, plus slack."""
    window = Window()
    window.lo = int(time.time() * 1000) - slack_ms
    window.hi = 2**62
    yield window
    window.hi = int(time.time() * 1000) + slack_ms


# ---------------------------------------------------------------------------------------------
# timestamp


def test_timestamp_put_whole_body(rest: Any) -> None:
    with request_window() as window:
        resp = rest.put("/t.json", TS)
    assert resp.status_code == 200
    stored = rest.value("/t.json")
    assert stored in window
    assert resp.json() == stored  # spec §12.1: inferred — the echo is resolved


def test_timestamp_nested(rest: Any) -> None:
    with request_window() as window:
        assert rest.put("/t.json", {"a": {"b": TS}, "c": "x"}).status_code == 200
    stored = rest.value("/t.json")
    assert stored["c"] == "x"
    assert stored["a"]["b"] in window


def test_timestamp_post(rest: Any) -> None:
    with request_window() as window:
        resp = rest.post("/list.json", {"at": TS})
    assert resp.status_code == 200
    name = resp.json()["name"]
    assert set(resp.json()) == {"name"}
    assert rest.value(f"/list/{name}/at.json") in window


def test_timestamp_patch_multi_path(rest: Any) -> None:
    with request_window() as window:
        resp = rest.patch("/.json", {"a/at": TS, "b": {"at": TS}})
    assert resp.status_code == 200
    stored = rest.value("/.json")
    assert stored["a"]["at"] in window
    assert stored["a"]["at"] == stored["b"]["at"]


def test_timestamp_as_priority(rest: Any) -> None:
    with request_window() as window:
        assert rest.put("/p.json", {"v": 1, ".priority": TS}).status_code == 200
    exported = rest.get("/p.json", params={"format": "export"}).json()
    assert exported["v"] == 1
    assert exported[".priority"] in window
    assert rest.value("/p.json") == {"v": 1}


def test_one_timestamp_per_request(rest: Any) -> None:
    body = {"a": TS, "b": {"c": TS, "d": [TS, TS]}, "e": {".value": TS, ".priority": TS}}
    assert rest.put("/t.json", body).status_code == 200
    stored = rest.value("/t.json")
    exported = rest.get("/t/e.json", params={"format": "export"}).json()
    values = {stored["a"], stored["b"]["c"], *stored["b"]["d"], stored["e"], exported[".priority"]}
    assert len(values) == 1


def test_timestamps_of_separate_requests_do_not_decrease(rest: Any) -> None:
    assert rest.put("/a.json", TS).status_code == 200
    assert rest.put("/b.json", TS).status_code == 200
    stored = rest.value("/.json")
    assert stored["a"] <= stored["b"]


def test_get_never_shows_placeholders(rest: Any) -> None:
    assert rest.put("/t.json", {"a": TS, "n": inc(1)}).status_code == 200
    text = rest.get("/t.json").text + rest.get("/t.json", params={"format": "export"}).text
    assert ".sv" not in text


# ---------------------------------------------------------------------------------------------
# increment


@pytest.mark.parametrize(
    ("existing", "delta", "expected"),
    [
        (None, 3, 3),  # missing -> delta
        (5, 2, 7),
        (5, -7, -2),
        ("text", 2, 2),  # string -> delta
        (True, 2, 2),  # boolean -> delta
        ({"x": 1}, 4, 4),  # object -> delta
        (1.5, 1, 2.5),  # double + int
        (5, 0.5, 5.5),  # int + double
        (0.1, 0.2, 0.1 + 0.2),  # IEEE-754
        (None, 0.25, 0.25),
    ],
)
def test_increment_put(rest: Any, existing: Any, delta: Any, expected: Any) -> None:
    if existing is not None:
        assert rest.put("/n.json", existing).status_code == 200
    assert rest.put("/n.json", inc(delta)).status_code == 200
    stored = rest.value("/n.json")
    assert stored == expected
    assert isinstance(stored, (int, float)) and not isinstance(stored, bool)


def test_increment_int_plus_int_stays_integer(rest: Any) -> None:
    assert rest.put("/n.json", 2**40).status_code == 200
    assert rest.put("/n.json", inc(1)).status_code == 200
    resp = rest.get("/n.json")
    assert resp.json() == 2**40 + 1
    assert isinstance(resp.json(), int)


def test_increment_int64_overflow_becomes_double(rest: Any) -> None:
    assert rest.put("/n.json", 2**63 - 1).status_code == 200
    assert rest.put("/n.json", inc(1)).status_code == 200
    stored = rest.value("/n.json")
    assert stored == float(2**63)  # the double sum, not a wrapped negative int64


def test_increment_nested_in_put_uses_existing_child(rest: Any) -> None:
    assert rest.put("/c.json", {"n": 5, "other": 1}).status_code == 200
    assert rest.put("/c.json", {"n": inc(1), "m": inc(2)}).status_code == 200
    assert rest.value("/c.json") == {"n": 6, "m": 2}


def test_increment_patch(rest: Any) -> None:
    assert rest.put("/c.json", {"n": 5, "s": "x"}).status_code == 200
    resp = rest.patch("/c.json", {"n": inc(2), "s": inc(1), "new": inc(0.5)})
    assert resp.status_code == 200
    assert rest.value("/c.json") == {"n": 7, "s": 1, "new": 0.5}


def test_increment_patch_multi_path(rest: Any) -> None:
    assert rest.put("/.json", {"stats": {"count": 10}, "users": {"ada": {"age": 36}}}).ok
    body = {"stats/count": inc(1), "users/ada/age": inc(1), "users/bob/age": inc(1)}
    assert rest.patch("/.json", body).status_code == 200
    assert rest.value("/.json") == {
        "stats": {"count": 11},
        "users": {"ada": {"age": 37}, "bob": {"age": 1}},
    }


def test_increment_post(rest: Any) -> None:
    resp = rest.post("/list.json", {"n": inc(4)})
    assert resp.status_code == 200
    assert rest.value(f"/list/{resp.json()['name']}.json") == {"n": 4}


def test_increment_as_priority(rest: Any) -> None:
    assert rest.put("/p.json", {"v": 1, ".priority": inc(3)}).status_code == 200
    assert rest.get("/p.json", params={"format": "export"}).json() == {"v": 1, ".priority": 3}


def test_increments_accumulate_across_requests(rest: Any) -> None:
    for _ in range(10):
        assert rest.put("/n.json", inc(1), params={"print": "silent"}).status_code == 204
    assert rest.value("/n.json") == 10


def test_spec_examples(rest: Any) -> None:
    with request_window() as window:
        resp = rest.put("/counters/a.json", {"n": inc(2), "at": TS})
    assert resp.status_code == 200
    # spec §12.1: inferred — PUT/PATCH echo the data with placeholders resolved
    assert resp.json()["n"] == 2 and resp.json()["at"] in window
    resp = rest.patch("/counters/a.json", {"n": inc(0.5)})
    assert resp.status_code == 200
    assert resp.json() == {"n": 2.5}
    assert rest.value("/counters/a/n.json") == 2.5


@pytest.mark.parametrize(
    "body",
    [
        {".sv": "nonsense"},
        {".sv": {"increment": "1"}},
        {".sv": {"unknown": 1}},
        {".sv": "timestamp", "other": 1},
    ],
)
def test_invalid_server_value_is_400(rest: Any, body: Any) -> None:
    # spec §12.12: inferred — malformed placeholders are rejected with 400
    resp = rest.put("/n.json", data=json.dumps(body).encode())
    assert resp.status_code == 400
    assert isinstance(resp.json()["error"], str)
    assert rest.value("/.json") is None


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"x": 1, ".priority": 5}, {"x": 1, ".priority": 6}),
        ({".value": 10, ".priority": 5}, {".value": 10, ".priority": 6}),
    ],
)
def test_increment_as_priority_adds_to_the_current_priority(rest: Any, before: Any, after: Any) -> None:
    # §3: an increment adds to the existing value at its location; for `.priority` that is the
    # node's current priority, not the node's value.
    assert rest.put("/q.json", before).status_code == 200
    body = dict(before)
    body[".priority"] = {".sv": {"increment": 1}}
    assert rest.put("/q.json", body).status_code == 200
    assert rest.get("/q.json", params={"format": "export"}).json() == after

"""Regressions found by the HTTP fuzz (tests/reliability/test_http_fuzz.py): inputs that gave a
500, a write from a refused request, or a namespace left behind by a read."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.focus_serve

INVALID_JSON = {"error": "Invalid data; couldn't parse JSON object, array, or value."}
HUGE_INT = "1" + "0" * 400  # an integer past the range of a double


def token(claims_json: str) -> str:
    """An unsigned emulator-style ID token whose claims are this JSON text, sent as is."""

    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()

    return b64('{"alg":"none"}') + "." + b64(claims_json) + "."


def listed(rest: Any) -> set[str]:
    resp = rest.get("/.inspect/databases.json")
    assert resp.status_code == 200
    return {entry["name"] for entry in resp.json()}


# -- numbers past a double: 400, not 500, and nothing written --------------------------------


@pytest.mark.parametrize(
    "body",
    [HUGE_INT, "-" + HUGE_INT, '{"a": ' + HUGE_INT + "}", '{"a": 1, ".priority": ' + HUGE_INT + "}",
     '{".value": 1, ".priority": ' + HUGE_INT + "}", '{".sv": {"increment": ' + HUGE_INT + "}}"],
)  # fmt: skip
def test_integer_past_double_range_is_refused(rest: Any, body: str) -> None:
    resp = rest.put("/n.json", data=body.encode())
    assert resp.status_code == 400, resp.text
    assert resp.json() == INVALID_JSON
    assert rest.value("/.json") is None


@pytest.mark.parametrize(
    ("start", "delta"),
    [("1e308", "1e308"), ("-1e308", "-1e308"), ("5", HUGE_INT), ("1.5", HUGE_INT), ("1", "1e400")],
)
def test_increment_out_of_range_is_refused(rest: Any, start: str, delta: str) -> None:
    assert rest.put("/n.json", data=start.encode()).status_code == 200
    before = rest.value("/n.json")
    resp = rest.put("/n.json", data=b'{".sv": {"increment": ' + delta.encode() + b"}}")
    assert resp.status_code == 400, resp.text
    assert "error" in resp.json()
    assert rest.value("/n.json") == before
    # a priority increment goes the same way
    resp = rest.put("/p.json", data=b'{".value": 1, ".priority": {".sv": {"increment": ' + delta.encode() + b"}}}")
    assert resp.status_code in (200, 400)  # no priority yet: the delta itself (or refused as such)
    assert "Infinity" not in resp.text


def test_increment_within_range_still_works(rest: Any) -> None:
    assert rest.put("/n.json", data=b"1e308").status_code == 200
    resp = rest.put("/n.json", data=b'{".sv": {"increment": -1e308}}')
    assert resp.status_code == 200, resp.text
    assert rest.value("/n.json") == 0
    assert rest.put("/i.json", data=str(2**63 - 1).encode()).status_code == 200
    assert rest.put("/i.json", {".sv": {"increment": 1}}).json() == float(2**63)


# -- credentials nested too deep to parse -----------------------------------------------------


# Deep enough for the json module's recursion limit (3.11), short enough for one header line;
# parsed anyway, neither is a valid credential: the answer is the same.
DEEP = "[" * 2500 + "]" * 2500


def test_deeply_nested_token_is_unparsable(rest: Any) -> None:
    deep = token('{"sub":' + DEEP + "}")
    resp = rest.get("/.json", admin=False, headers={"Authorization": f"Bearer {deep}"})
    assert resp.status_code == 401
    assert resp.json() == {"error": "Could not parse auth token."}
    resp = rest.get("/.json", admin=False, params={"auth": deep})
    assert resp.status_code == 401


def test_deeply_nested_override_is_a_bad_override(rest: Any) -> None:
    deep = "[" * 1200 + "]" * 1200  # percent-encoded: 3 bytes a bracket, one request line
    resp = rest.get("/.json", params={"auth_variable_override": deep})
    assert resp.status_code == 400
    assert resp.json()["error"].startswith("Invalid auth_variable_override")


@pytest.mark.parametrize("exp", [HUGE_INT, "1e400"])
def test_stream_with_token_expiring_past_double_range(rest: Any, exp: str) -> None:
    user = token('{"sub":"u1","exp":' + exp + "}")
    with rest.get(
        "/.json", admin=False, stream=True,
        headers={"Authorization": f"Bearer {user}", "Accept": "text/event-stream"},
    ) as resp:  # fmt: skip
        assert resp.status_code == 200
        assert next(resp.iter_lines()) == b"event: put"


# -- a bad callback is refused before anything is written ------------------------------------


def test_bad_callback_refuses_the_write(rest: Any) -> None:
    resp = rest.put("/a.json", {"b": 1}, params={"callback": "1bad"})
    assert resp.status_code == 400
    assert resp.json() == {"error": "callback must be a JavaScript identifier."}
    assert rest.value("/.json") is None
    for method in ("POST", "PATCH", "DELETE"):
        assert rest.request(method, "/a.json", json={"b": 1}, params={"callback": "a(b)"}).status_code == 400
    assert rest.value("/.json") is None


def test_bad_callback_refuses_the_rules_upload(rest: Any) -> None:
    before = rest.get("/.settings/rules.json").content
    resp = rest.put("/.settings/rules.json", {"rules": {".read": False}}, params={"callback": "1bad"})
    assert resp.status_code == 400
    assert rest.get("/.settings/rules.json").content == before


def test_good_callback_still_wraps_reads(rest: Any) -> None:
    assert rest.put("/a.json", 1).status_code == 200
    resp = rest.get("/a.json", params={"callback": "cb"})
    assert resp.status_code == 200
    assert resp.text == "cb(1);"


# -- namespaces -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["abc\n", "abc\r", "a.b", ""])
def test_namespace_must_be_letters_digits_dash_underscore(server_url: str, name: str) -> None:
    resp = requests.get(f"{server_url}/.json", params={"ns": name}, timeout=10)
    assert resp.status_code == 400
    assert resp.json()["error"].startswith("Invalid namespace")


def test_reads_and_refusals_leave_no_namespace_behind(rest: Any) -> None:
    assert rest.get("/a.json").status_code == 200
    assert rest.get("/a.json", admin=False).status_code == 200
    assert rest.get("/.settings/rules.json").status_code == 200
    assert rest.put("/a.json", data=b"{").status_code == 400
    assert rest.put("/a.json", data=b"null").status_code == 200  # writes nothing
    assert rest.request("PUT", "/.settings/rules.json", data=b"{").status_code == 400
    assert rest.ns not in listed(rest)
    assert rest.put("/a.json", 1).status_code == 200
    assert rest.ns in listed(rest)


def test_a_stream_holds_its_namespace_only_while_open() -> None:
    from focuscli.server.sse import Listener
    from focuscli.server.store import Store

    loop = asyncio.new_event_loop()
    try:
        store = Store(loop, data_dir=None, default_rules=None, clock=time.time)
        ns = store.lookup("s1")
        assert "s1" not in store.namespaces
        listener = Listener((), None, True, None)
        store.subscribe(ns, listener)
        assert store.namespaces["s1"] is ns
        store.unsubscribe(ns, listener)
        assert "s1" not in store.namespaces  # it holds nothing: as after a restart, gone

        kept = store.lookup("s2")
        other = Listener((), None, True, None)
        store.subscribe(kept, other)
        assert store.lookup("s2") is kept
        loop.run_until_complete(_commit(store, kept))
        store.unsubscribe(kept, other)
        assert store.namespaces["s2"] is kept  # it has data
    finally:
        loop.close()


async def _commit(store: Any, ns: Any) -> None:
    from focuscli.server.sse import Change

    change = Change("put", ("a",), (((), 1),))
    await store.commit(ns, change, change.apply(ns.root))


def test_json_answers_stay_strict_json(rest: Any) -> None:
    assert rest.put("/n.json", data=b"1e308").status_code == 200
    rest.put("/n.json", data=b'{".sv": {"increment": 1e308}}')
    resp = rest.get("/.json")
    json.loads(resp.text, parse_constant=lambda name: pytest.fail(f"{name} in {resp.text}"))

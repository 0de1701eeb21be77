"""Numbers as Realtime Database has them: an integral double is an integer (issue 11 item 2).

The database stores doubles and serves integral values as integers: ``7.0`` written comes back
as ``7`` from every way out (REST, ``format=export``, shallow, queries, streams, ETags) and is
stored so, once, in the tree (the realtime protocol reads the same tree). The rules see one
number either way (``7.0 % 1 === 0`` holds in JavaScript).
"""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from focuscli.server import LocalServer, tree
from focuscli.server.journal import Journal

pytestmark = pytest.mark.focus_serve


def exact(resp: Any) -> str:
    """The raw text of an answer (resp.json() would hide 7.0 vs 7)."""
    assert resp.status_code == 200, resp.text
    return resp.text


@pytest.mark.parametrize(
    ("written", "served"),
    [("7.0", "7"), ("-3.0", "-3"), ("-0.0", "0"), ("1e3", "1000"), ("2.5", "2.5"),
     ("9007199254740993.0", "9007199254740992"), ("1e300", "1e+300"), ("7", "7")],
)  # fmt: skip
def test_integral_doubles_are_served_as_integers(rest: Any, written: str, served: str) -> None:
    resp = rest.put("/n.json", data=written.encode())
    assert exact(resp) == served  # the write's echo
    assert exact(rest.get("/n.json")) == served
    assert exact(rest.get("/.json")) == '{"n":' + served + "}"


def test_nested_numbers_priorities_and_arrays(rest: Any) -> None:
    body = '{"a": {"b": 7.0, "c": [1.0, 2.5, 3.0]}, "p": {".value": 4.0, ".priority": 2.0}}'
    assert rest.put("/x.json", data=body.encode()).status_code == 200
    assert exact(rest.get("/x.json")) == '{"a":{"b":7,"c":[1,2.5,3]},"p":4}'
    assert exact(rest.get("/x.json", params={"format": "export"})) == (
        '{"a":{"b":7,"c":{"0":1,"1":2.5,"2":3}},"p":{".value":4,".priority":2}}'
    )
    assert exact(rest.get("/x/a/b.json", params={"shallow": "true"})) == "7"


def test_patch_and_post_fold_too(rest: Any) -> None:
    assert exact(rest.patch("/x.json", data=b'{"a": 1.0, "b/c": 2.0}')) == '{"a":1,"b/c":2}'
    name = rest.post("/list.json", data=b"5.0").json()["name"]
    assert exact(rest.get(f"/list/{name}.json")) == "5"


def test_queries_see_and_return_integers(rest: Any) -> None:
    rest.put("/q.json", data=b'{"a": {"n": 1.0}, "b": {"n": 2.0}, "c": {"n": 2.5}}')
    resp = rest.get("/q.json", params={"orderBy": '"n"', "startAt": "2", "endAt": "2.0"})
    assert exact(resp) == '{"b":{"n":2}}'
    resp = rest.get("/q.json", params={"orderBy": '"n"', "equalTo": "1"})
    assert exact(resp) == '{"a":{"n":1}}'


def test_increments_that_land_on_an_integer_are_integers(rest: Any) -> None:
    rest.put("/n.json", data=b"1.5")
    assert exact(rest.put("/n.json", data=b'{".sv": {"increment": 1.5}}')) == "3"
    assert exact(rest.get("/n.json")) == "3"
    assert exact(rest.put("/m.json", data=b'{".sv": {"increment": 2.0}}')) == "2"  # nothing there
    rest.put("/p.json", data=b'{".value": 1, ".priority": 0.5}')
    rest.put("/p.json", data=b'{".value": 1, ".priority": {".sv": {"increment": 0.5}}}')
    assert exact(rest.get("/p.json", params={"format": "export"})) == '{".value":1,".priority":1}'


def test_etags_do_not_tell_7_from_7_0(rest: Any) -> None:
    rest.put("/a.json", data=b"7")
    first = rest.get("/a.json", headers={"X-Firebase-ETag": "true"}).headers["ETag"]
    rest.put("/a.json", data=b"7.0")
    assert rest.get("/a.json", headers={"X-Firebase-ETag": "true"}).headers["ETag"] == first
    # a conditional write with the ETag of 7 succeeds against a stored 7.0
    resp = rest.put("/a.json", data=b"8", headers={"if-match": first})
    assert resp.status_code == 200, resp.text


def test_rules_see_an_integral_double_as_an_integer(rest: Any) -> None:
    rest.set_rules({"rules": {".read": True, "n": {
        ".write": True, ".validate": "newData.isNumber() && newData.val() % 1 === 0"}}})  # fmt: skip
    assert rest.put("/n.json", data=b"7.0", admin=False).status_code == 200
    assert rest.put("/n.json", data=b"7.5", admin=False).status_code == 401
    assert exact(rest.get("/n.json")) == "7"


def test_streams_send_integers(rest: Any) -> None:
    parts = urlsplit(rest.base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", f"/s.json?ns={rest.ns}", headers={"Accept": "text/event-stream",
                                                           "Authorization": "Bearer owner"})
    resp = conn.getresponse()
    try:
        first = _next_data(resp)
        assert first == b'{"path":"/","data":null}'
        rest.put("/s.json", data=b'{"v": 7.0}')
        assert _next_data(resp) == b'{"path":"/","data":{"v":7}}'
        rest.patch("/s.json", data=b'{"w": 1.0}')
        assert _next_data(resp) == b'{"path":"/","data":{"w":1}}'
    finally:
        conn.close()


def _next_data(resp: Any) -> bytes:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = resp.fp.readline()
        if line.startswith(b"data: ") and line.strip() != b"data: null":
            return line[len(b"data: "):].strip()
    raise AssertionError("no event within 10 s")


def test_recovered_data_is_folded(tmp_path: Path) -> None:
    """A data directory written before numbers were folded still serves integers."""
    journal, _ = Journal.open(tmp_path, apply=lambda s, r: None, snapshot_provider=lambda: (0, {}),
                              on_durable=lambda seq: None)  # fmt: skip
    journal.append({"ns": "old", "e": [["/", {"a": 7.0, "b": {".value": 1.0, ".priority": 3.0}}]]})
    journal.close()
    with LocalServer(port=0, data_dir=tmp_path) as server:
        import requests

        resp = requests.get(f"{server.url}/.json?ns=old&format=export",
                            headers={"Authorization": "Bearer owner"}, timeout=10)  # fmt: skip
        assert resp.text == '{"a":7,"b":{".value":1,".priority":3}}'


def test_the_tree_folds_once_at_normalisation() -> None:
    assert tree.normalize(json.loads('{"a": 7.0, "b": [2.0]}')) == {"a": 7, "b": {"0": 2}}
    assert type(tree.normalize(7.0)) is int
    assert type(tree.normalize(2.5)) is float
    assert tree.fold_numbers({"a": 7.0, "b": {".value": 1.0, ".priority": 2.0}}) == {
        "a": 7, "b": {".value": 1, ".priority": 2}
    }

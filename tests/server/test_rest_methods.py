"""REST methods, paths, keys and value shapes (spec §1.3–1.5, §2, §8.4, §10).

Every assertion is taken from ../shared/spec/rtdb-rest.md; these tests must also pass against
the official emulator (FIREBASE_DATABASE_EMULATOR_HOST).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import requests

JSON_CT = "application/json; charset=utf-8"
OWNER = {"Authorization": "Bearer owner"}
PUSH_CHARS = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"

INVALID_JSON = "Invalid data; couldn't parse JSON object, array, or value."
INVALID_PATH = "Invalid path: Invalid token in path"
INVALID_KEY_PREFIX = "Invalid data; couldn't parse key beginning at"


def error_of(resp: requests.Response) -> str:
    """The `error` text of a JSON error body (asserts the §2.1 error shape)."""
    body = resp.json()
    assert isinstance(body, dict) and set(body) == {"error"}, resp.text
    assert isinstance(body["error"], str)
    return body["error"]


# ---------------------------------------------------------------------------------------------
# §1.3 paths


@pytest.mark.parametrize(
    "segment",
    [
        "a.b",  # stray "."
        "a$b",
        "a%23b",  # "#"
        "a%5Bb",  # "["
        "a%5Db",  # "]"
        "a%01b",  # control character
        "a%7Fb",  # DEL
        "a%2Fb",  # encoded "/" decodes inside the segment (§1.3.1)
        ".hidden",  # unknown reserved "." segment
        "x" * 769,  # longer than 768 bytes
    ],
)
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_invalid_path_segment_is_400(rest: Any, segment: str, method: str) -> None:
    body = b"1" if method == "PUT" else None
    resp = rest.request(method, f"/ok/{segment}/tail.json", data=body)
    assert resp.status_code == 400
    assert resp.headers["Content-Type"] == JSON_CT
    assert error_of(resp) == INVALID_PATH


def test_invalid_last_segment_is_400(rest: Any) -> None:
    resp = rest.get("/ok/a$b.json")
    assert resp.status_code == 400
    assert error_of(resp) == INVALID_PATH


def test_invalid_path_writes_nothing(rest: Any) -> None:
    assert rest.put("/ok/a$b.json", 1).status_code == 400
    assert rest.value("/.json") is None


def test_768_byte_segment_is_valid(rest: Any) -> None:
    key = "é" * 384  # 768 bytes of UTF-8
    assert rest.put(f"/k/{key}.json", 1).status_code == 200
    assert rest.value("/k.json") == {key: 1}


@pytest.mark.parametrize(
    ("url_path", "key"),
    [
        ("/p/al%20ice.json", "al ice"),
        ("/p/caf%C3%A9.json", "café"),
        ("/p/%F0%9F%98%80.json", "\U0001f600"),
        ("/p/a%2Bb.json", "a+b"),
        ("/p/a+b.json", "a+b"),  # "+" is only a space in query strings (§1.6), not in paths
        ("/p/a-b_c:d@e!f~g(h)i*j,k=l.json", "a-b_c:d@e!f~g(h)i*j,k=l"),
    ],
)
def test_percent_encoded_segments_decode_to_keys(rest: Any, url_path: str, key: str) -> None:
    assert rest.put(url_path, "v").status_code == 200
    assert rest.value("/p.json") == {key: "v"}
    assert rest.value(url_path) == "v"


def test_trailing_slash_before_json_is_the_same_location(rest: Any) -> None:
    assert rest.put("/a/.json", {"x": 1}).status_code == 200
    assert rest.value("/a.json") == {"x": 1}
    assert rest.put("/b.json", 2).status_code == 200
    assert rest.value("/b/.json") == 2


def test_root_is_slash_json(rest: Any) -> None:
    assert rest.put("/.json", {"r": 1}).status_code == 200
    assert rest.value("/.json") == {"r": 1}


def test_empty_segments_are_ignored(rest: Any) -> None:
    # spec §1.3.3 (INF): leading/trailing/double slashes do not create empty keys
    assert rest.put("/a//b.json", 1).status_code == 200
    assert rest.value("/a/b.json") == 1
    assert rest.value("/.json") == {"a": {"b": 1}}


def test_depth_within_limit_is_accepted(rest: Any) -> None:
    path = "/" + "/".join(f"d{i}" for i in range(20)) + ".json"
    assert rest.put(path, 1).status_code == 200
    assert rest.value(path) == 1


def test_path_deeper_than_32_levels_is_400(rest: Any) -> None:
    # spec §1.3.5: reject paths deeper than 32 levels (exact boundary INF, so test well above it)
    path = "/" + "/".join(f"d{i}" for i in range(40)) + ".json"
    resp = rest.put(path, 1)
    assert resp.status_code == 400
    error_of(resp)
    assert rest.value("/.json") is None


def test_write_deeper_than_32_levels_is_400(rest: Any) -> None:
    body: Any = 1
    for i in range(40):
        body = {f"d{i}": body}
    resp = rest.put("/deep.json", body)
    assert resp.status_code == 400
    error_of(resp)
    assert rest.value("/.json") is None


# ---------------------------------------------------------------------------------------------
# §1.2 namespaces


def test_namespaces_are_isolated(server_url: str, rest: Any) -> None:
    other = f"t{uuid.uuid4().hex[:16]}"
    assert rest.put("/shared.json", "mine").status_code == 200
    url = f"{server_url}/shared.json"
    resp = requests.get(url, params={"ns": other}, headers=OWNER, timeout=10)
    assert resp.status_code == 200 and resp.json() is None
    put = requests.put(url, params={"ns": other}, json="theirs", headers=OWNER, timeout=10)
    assert put.status_code == 200
    assert rest.value("/shared.json") == "mine"


def test_no_ns_means_fake_server(server_url: str) -> None:
    key = f"k{uuid.uuid4().hex[:12]}"
    with requests.Session() as s:
        s.headers.update(OWNER)
        try:
            assert s.put(f"{server_url}/{key}.json", json={"v": 1}, timeout=10).status_code == 200
            via_ns = s.get(f"{server_url}/{key}.json", params={"ns": "fake-server"}, timeout=10)
            assert via_ns.status_code == 200 and via_ns.json() == {"v": 1}
            plain = s.get(f"{server_url}/{key}.json", timeout=10)
            assert plain.status_code == 200 and plain.json() == {"v": 1}
        finally:
            s.delete(f"{server_url}/{key}.json", timeout=10)


# ---------------------------------------------------------------------------------------------
# §2.1–2.6 methods


def test_get_absent_is_200_null(rest: Any) -> None:
    resp = rest.get("/does/not/exist.json")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == JSON_CT
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.text.strip() == "null"


def test_put_echoes_value(rest: Any) -> None:
    value = {"first": "Jack", "last": "Sparrow", "age": 30, "ok": True, "score": 1.5}
    resp = rest.put("/users/jack/name.json", value)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == JSON_CT
    assert resp.json() == value
    assert rest.value("/users/jack/name.json") == value
    assert rest.value("/users.json") == {"jack": {"name": value}}


@pytest.mark.parametrize("value", ["s", "", 0, -7, 2.5, True, False, [1, 2], {"a": {"b": "c"}}])
def test_put_get_round_trip(rest: Any, value: Any) -> None:
    resp = rest.put("/v.json", value)
    assert resp.status_code == 200
    assert resp.json() == value
    got = rest.value("/v.json")
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("number", [2**53 + 1, 2**63 - 1, -(2**63), -(2**53) - 1])
def test_int64_values_stay_exact(rest: Any, number: int) -> None:
    # spec §12.11: inferred — integral numbers that fit in int64 are kept as integers
    assert rest.put("/n.json", number).status_code == 200
    got = rest.value("/n.json")
    assert got == number and isinstance(got, int)


def test_string_over_10_mb_is_400(rest: Any) -> None:
    # spec §1.5 / §9: strings are limited to 10 MB of UTF-8 (error text INF)
    resp = rest.put("/big.json", "x" * (10 * 1024 * 1024 + 1))
    assert resp.status_code == 400
    error_of(resp)
    assert rest.value("/.json") is None


def test_put_echo_is_normalised(rest: Any) -> None:
    # spec §12.1: inferred — the PUT echo is the re-rendered stored value (nulls pruned)
    resp = rest.put("/n.json", {"a": None, "b": 1, "c": {"d": {}}})
    assert resp.status_code == 200
    assert resp.json() == {"b": 1}


def test_empty_string_is_a_real_value(rest: Any) -> None:
    assert rest.put("/e.json", "").status_code == 200
    assert rest.value("/e.json") == ""
    assert rest.value("/.json") == {"e": ""}


@pytest.mark.parametrize("body", [None, {}, [], {"a": None}, {"a": {"b": {}}}, [None, None]])
def test_put_of_nothing_deletes(rest: Any, body: Any) -> None:
    assert rest.put("/x/y.json", 1).status_code == 200
    assert rest.put("/x/z.json", 2).status_code == 200
    resp = rest.put("/x/y.json", data=json.dumps(body).encode())
    assert resp.status_code == 200
    assert rest.value("/x.json") == {"z": 2}


def test_post_pushes_child(rest: Any) -> None:
    resp = rest.post("/msgs.json", {"text": "hi"})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == JSON_CT
    body = resp.json()
    assert set(body) == {"name"}
    assert rest.value("/msgs.json") == {body["name"]: {"text": "hi"}}


def test_post_empty_string_default(rest: Any) -> None:
    name = rest.post("/users.json", "").json()["name"]
    assert rest.value(f"/users/{name}.json") == ""


def test_post_ignores_content_type(rest: Any) -> None:
    resp = rest.post("/t.json", data=b'{"a":1}', headers={"Content-Type": "text/plain"})
    assert resp.status_code == 200
    assert rest.value("/t.json") == {resp.json()["name"]: {"a": 1}}


def test_patch_echoes_request(rest: Any) -> None:
    assert rest.put("/users/jack.json", {"first": "Jack", "last": "Sparrow"}).status_code == 200
    resp = rest.patch("/users/jack.json", {"last": "Jones"})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == JSON_CT
    assert resp.json() == {"last": "Jones"}
    assert rest.value("/users/jack.json") == {"first": "Jack", "last": "Jones"}


def test_delete_returns_null(rest: Any) -> None:
    assert rest.put("/d/a.json", 1).status_code == 200
    resp = rest.delete("/d/a.json")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == JSON_CT
    assert resp.json() is None
    assert rest.value("/.json") is None
    again = rest.delete("/d/a.json")
    assert again.status_code == 200 and again.json() is None


def test_delete_last_child_removes_ancestors(rest: Any) -> None:
    assert rest.put("/x/y/z.json", 1).status_code == 200
    assert rest.put("/keep.json", 1).status_code == 200
    assert rest.delete("/x/y/z.json").status_code == 200
    assert rest.value("/x.json") is None
    assert rest.value("/.json") == {"keep": 1}


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PUT", {"a": 1}), ("POST", {"a": 1}), ("PATCH", {"a": 1}), ("DELETE", None)],
)
def test_print_silent_is_204_empty(rest: Any, method: str, body: Any) -> None:
    assert rest.put("/s.json", {"b": 2}).status_code == 200
    resp = rest.request(method, "/s.json", params={"print": "silent"}, json=body)
    assert resp.status_code == 204
    assert resp.content == b""
    expected = {
        "GET": {"b": 2},
        "PUT": {"a": 1},
        "PATCH": {"a": 1, "b": 2},
        "DELETE": None,
    }
    if method == "POST":
        stored = rest.value("/s.json")
        pushed = [k for k in stored if k != "b"]
        assert len(pushed) == 1 and stored[pushed[0]] == {"a": 1}
    else:
        assert rest.value("/s.json") == expected[method]


def test_unknown_query_parameters_are_ignored(rest: Any) -> None:
    # spec §12.7: inferred — lenient about unknown parameters (production may answer 400)
    assert rest.put("/u.json", 1, params={"cachebust": "123"}).status_code == 200
    resp = rest.get("/u.json", params={"cachebust": "456", "disableTriggers": "true"})
    assert resp.status_code == 200 and resp.json() == 1


def test_print_pretty(rest: Any) -> None:
    value = {"a": {"b": [1, 2]}, "c": "d"}
    assert rest.put("/p.json", value).status_code == 200
    resp = rest.get("/p.json", params={"print": "pretty"})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == JSON_CT
    assert resp.json() == value
    assert "\n" in resp.text and "  " in resp.text


def test_print_pretty_on_write(rest: Any) -> None:
    resp = rest.put("/p.json", {"a": 1}, params={"print": "pretty"})
    assert resp.status_code == 200
    assert resp.json() == {"a": 1}
    assert "\n" in resp.text


# ---------------------------------------------------------------------------------------------
# §2.9 normalisation and the array rule


@pytest.mark.parametrize(
    ("written", "rendered"),
    [
        ([1, None, 3], [1, None, 3]),
        ({"a": {"b": {}}, "c": 1, "d": []}, {"c": 1}),
        ({"2": "c"}, {"2": "c"}),
        ({"1": "b"}, [None, "b"]),
        ({"0": "a", "1": "b"}, ["a", "b"]),
        ({"0": "a", "3": "d"}, ["a", None, None, "d"]),  # max 3 < 2 x 2
        ({"0": "a", "4": "e"}, {"0": "a", "4": "e"}),  # max 4 is not < 2 x 2
        ({"0": "a", "01": "b"}, {"0": "a", "01": "b"}),  # "01" is not an array index
        ({"0": "a", "x": "b"}, {"0": "a", "x": "b"}),
        ({"-1": "a"}, {"-1": "a"}),
        ([[1, 2], [3, None, 5]], [[1, 2], [3, None, 5]]),
        ({"list": ["x", "y"], "n": {"1": 1, "2": 2}}, {"list": ["x", "y"], "n": [None, 1, 2]}),
        ([None, None], None),
        ([], None),
    ],
)
def test_array_rule(rest: Any, written: Any, rendered: Any) -> None:
    assert rest.put("/arr.json", written).status_code == 200
    assert rest.value("/arr.json") == rendered


def test_array_with_first_element_removed(rest: Any) -> None:
    assert rest.put("/arr.json", ["a", "b", "c", "d"]).status_code == 200
    assert rest.delete("/arr/0.json").status_code == 200
    assert rest.value("/arr.json") == [None, "b", "c", "d"]


def test_array_elements_are_stored_as_keys(rest: Any) -> None:
    assert rest.put("/arr.json", [1, None, 3]).status_code == 200
    assert rest.value("/arr/0.json") == 1
    assert rest.value("/arr/1.json") is None
    assert rest.value("/arr/2.json") == 3
    assert rest.get("/arr.json", params={"shallow": "true"}).json() in (
        {"0": True, "2": True},
        [True, None, True],  # spec §12.10: inferred — shallow may apply the array rule
    )


# ---------------------------------------------------------------------------------------------
# §2.4 push ids


def push_id_millis(push_id: str) -> int:
    millis = 0
    for ch in push_id[:8]:
        millis = millis * 64 + PUSH_CHARS.index(ch)
    return millis


def test_push_ids_format_and_order(rest: Any) -> None:
    t0 = int(time.time() * 1000)
    ids = []
    for i in range(60):
        resp = rest.post("/q.json", i)
        assert resp.status_code == 200
        ids.append(resp.json()["name"])
    t1 = int(time.time() * 1000)
    for push_id in ids:
        assert len(push_id) == 20
        assert set(push_id) <= set(PUSH_CHARS)
        assert t0 - 3000 <= push_id_millis(push_id) <= t1 + 3000
        with pytest.raises(ValueError):
            int(push_id)
    assert all(a < b for a, b in zip(ids, ids[1:], strict=False)), "push ids must increase strictly"
    stored = rest.value("/q.json")
    assert stored == {push_id: i for i, push_id in enumerate(ids)}
    # plain string order == creation order, also after a round trip through the server
    assert [stored[k] for k in sorted(stored)] == list(range(60))


# ---------------------------------------------------------------------------------------------
# §2.5 multi-path PATCH


def test_patch_values_replace_not_merge(rest: Any) -> None:
    assert rest.put("/u.json", {"a": {"x": 1, "y": 2}, "b": 1}).status_code == 200
    assert rest.patch("/u.json", {"a": {"z": 3}}).status_code == 200
    assert rest.value("/u.json") == {"a": {"z": 3}, "b": 1}


def test_patch_multi_path(rest: Any) -> None:
    assert rest.put("/.json", {"users": {"ada": {"age": 36, "scratch": 1, "name": "Ada"}}}).ok
    resp = rest.patch("/.json", {"users/ada/age": 37, "users/ada/scratch": None, "stats/n": 1})
    assert resp.status_code == 200
    assert rest.value("/.json") == {
        "users": {"ada": {"age": 37, "name": "Ada"}},
        "stats": {"n": 1},
    }


def test_patch_null_deletes(rest: Any) -> None:
    assert rest.put("/u.json", {"name": "E", "since": 1900, "temp": True}).status_code == 200
    assert rest.patch("/u.json", {"temp": None}).status_code == 200
    assert rest.value("/u.json") == {"name": "E", "since": 1900}
    assert rest.patch("/u.json", {"name": None, "since": None}).status_code == 200
    assert rest.value("/.json") is None


@pytest.mark.parametrize(
    "body",
    [
        {"good": 1, "bad$key": 2},
        {"good": 1, "a/b.c": 2},
        {"good": 1, "nested": {"in#valid": 1}},
        {"good": 1, "x": {"": 1}},
    ],
)
def test_patch_is_atomic_on_invalid_entry(rest: Any, body: dict[str, Any]) -> None:
    assert rest.put("/p.json", {"keep": True}).status_code == 200
    resp = rest.patch("/p.json", body)
    assert resp.status_code == 400
    error_of(resp)
    assert rest.value("/p.json") == {"keep": True}


@pytest.mark.parametrize("body", [5, '"text"', "true"])
def test_patch_body_must_be_object(rest: Any, body: Any) -> None:
    # spec §2.5: anything but a JSON object -> 400 (text INF, §12.12)
    resp = rest.patch("/p.json", data=str(body).encode())
    assert resp.status_code == 400
    error_of(resp)
    assert rest.value("/.json") is None


def test_patch_overlapping_paths_is_400(rest: Any) -> None:
    # spec §12.12: inferred — an entry that is an ancestor of another entry is rejected
    resp = rest.patch("/.json", {"a": {"b": 1}, "a/b": 2})
    assert resp.status_code == 400
    error_of(resp)
    assert rest.value("/.json") is None


def test_patch_overlapping_paths_names_the_first_pair(rest: Any) -> None:
    # whatever the order of the body: the first ancestor in path order, and its first descendant
    body = {"b/c/d": 1, "a/x/y": 2, "b": 3, "a/x": 4, "c": 5, "b/c": 6, "a": 7}
    resp = rest.patch("/.json", body)
    assert resp.status_code == 400
    assert error_of(resp) == "Invalid data; path /a is an ancestor of /a/x in the same update."
    assert rest.value("/.json") is None


def test_patch_empty_object_is_noop(rest: Any) -> None:
    # spec §2.5 (INF): {} -> 200 no-op
    assert rest.put("/p.json", 1).status_code == 200
    assert rest.patch("/p.json", {}).status_code == 200
    assert rest.value("/p.json") == 1


def test_patch_onto_primitive_replaces_it(rest: Any) -> None:
    # spec §2.5 (INF): PATCH onto a primitive yields an object with the patched children
    assert rest.put("/p.json", "prim").status_code == 200
    assert rest.patch("/p.json", {"a": 1}).status_code == 200
    assert rest.value("/p.json") == {"a": 1}


# ---------------------------------------------------------------------------------------------
# §2.7 X-HTTP-Method-Override


def test_method_override_put(rest: Any) -> None:
    resp = rest.post("/o.json", {"a": 1}, headers={"X-HTTP-Method-Override": "PUT"})
    assert resp.status_code == 200
    assert resp.json() == {"a": 1}
    assert rest.value("/o.json") == {"a": 1}


def test_method_override_patch(rest: Any) -> None:
    assert rest.put("/o.json", {"a": 1, "b": 2}).status_code == 200
    resp = rest.post("/o.json", {"b": 3}, headers={"X-HTTP-Method-Override": "PATCH"})
    assert resp.status_code == 200
    assert rest.value("/o.json") == {"a": 1, "b": 3}


def test_method_override_delete(rest: Any) -> None:
    assert rest.put("/o.json", {"a": 1}).status_code == 200
    resp = rest.post("/o.json", data=b"", headers={"X-HTTP-Method-Override": "DELETE"})
    assert resp.status_code == 200
    assert resp.json() is None
    assert rest.value("/.json") is None


def test_method_override_get(rest: Any) -> None:
    assert rest.put("/o.json", {"a": 1}).status_code == 200
    resp = rest.post("/o.json", data=b"", headers={"X-HTTP-Method-Override": "GET"})
    assert resp.status_code == 200
    assert resp.json() == {"a": 1}
    assert rest.value("/o.json") == {"a": 1}


# ---------------------------------------------------------------------------------------------
# §8.4 CORS


def test_cors_preflight(rest: Any) -> None:
    origin = "http://localhost:4000"
    resp = rest.request(
        "OPTIONS",
        "/c.json",
        admin=False,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type,if-match,x-firebase-etag",
        },
    )
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] in (origin, "*")
    methods = {m.strip().upper() for m in resp.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"OPTIONS", "GET", "POST", "PUT", "DELETE", "PATCH"} <= methods
    allowed = {h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "if-match", "x-firebase-etag"} <= allowed


@pytest.mark.parametrize("origin", ["http://localhost:4000", "https://example.test"])
def test_cors_on_actual_response(rest: Any, origin: str) -> None:
    assert rest.put("/c.json", 1).status_code == 200
    resp = rest.get("/c.json", headers={"Origin": origin})
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] in (origin, "*")
    exposed = {h.strip().lower() for h in resp.headers["Access-Control-Expose-Headers"].split(",")}
    assert "etag" in exposed


def test_cors_without_origin(rest: Any) -> None:
    resp = rest.get("/c.json")
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


# ---------------------------------------------------------------------------------------------
# §2.3, §1.4, §10 error bodies


@pytest.mark.parametrize("method", ["PUT", "POST", "PATCH"])
@pytest.mark.parametrize("raw", [b"{not json", b"{'a': 1}", b"[1,", b"undefined", b"{\"a\":1}x"])
def test_invalid_json_body(rest: Any, method: str, raw: bytes) -> None:
    resp = rest.request(method, "/j.json", data=raw)
    assert resp.status_code == 400
    assert resp.headers["Content-Type"] == JSON_CT
    assert error_of(resp) == INVALID_JSON
    assert rest.value("/.json") is None


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_empty_body_is_invalid_json(rest: Any, method: str) -> None:
    # spec §2.3: the empty-body case is INF
    resp = rest.request(method, "/j.json", data=b"")
    assert resp.status_code == 400
    assert error_of(resp) == INVALID_JSON


@pytest.mark.parametrize(
    "body",
    [
        {"a.b": 1},
        {"a$b": 1},
        {"a#b": 1},
        {"a[b": 1},
        {"a]b": 1},
        {"a/b": 1},  # "/" is only a separator in PATCH keys
        {"": 1},
        {"a\u0001b": 1},
        {"a\u007fb": 1},
        {".foo": 1},
        {"ok": {"deeper": {"$bad": 1}}},
        {"x" * 769: 1},
    ],
)
@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_invalid_key_in_body(rest: Any, method: str, body: dict[str, Any]) -> None:
    resp = rest.request(method, "/k.json", data=json.dumps(body).encode())
    assert resp.status_code == 400
    message = error_of(resp)
    assert message.startswith(INVALID_KEY_PREFIX), message
    assert rest.value("/.json") is None


def test_invalid_key_message_has_position(rest: Any) -> None:
    resp = rest.put("/k.json", data=b'{"ok": 1, "b.ad": 2}')
    assert resp.status_code == 400
    message = error_of(resp)
    prefix, _, rest_of_message = message.partition(INVALID_KEY_PREFIX + " ")
    assert prefix == ""
    position, _, tail = rest_of_message.partition(". ")
    line, _, column = position.partition(":")
    assert line.isdigit() and column.isdigit(), message
    assert tail == "Key value can't be empty or contain $ # [ ] / or ."


@pytest.mark.parametrize("key", [".priority", ".value", ".sv"])
def test_dot_keys_with_meaning_are_allowed(rest: Any, key: str) -> None:
    bodies = {
        ".priority": {"a": 1, ".priority": 2},
        ".value": {".value": "v", ".priority": 1},
        ".sv": {"t": {".sv": "timestamp"}},
    }
    assert rest.put("/k.json", bodies[key]).status_code == 200


# ---------------------------------------------------------------------------------------------
# §2.10 priorities and format=export


def test_priorities_hidden_from_normal_reads(rest: Any) -> None:
    body = {
        "a": {".value": 1, ".priority": 5},
        "b": {"c": 1, ".priority": "x"},
        "d": 2,
        "e": {".value": "s", ".priority": None},
    }
    assert rest.put("/p.json", body).status_code == 200
    assert rest.value("/p.json") == {"a": 1, "b": {"c": 1}, "d": 2, "e": "s"}
    assert rest.value("/p/a.json") == 1


def test_format_export_includes_priorities(rest: Any) -> None:
    body = {
        "a": {".value": 1, ".priority": 5},
        "b": {"c": 1, ".priority": "x"},
        "d": 2,
        ".priority": 1.5,
    }
    assert rest.put("/p.json", body).status_code == 200
    resp = rest.get("/p.json", params={"format": "export"})
    assert resp.status_code == 200
    assert resp.json() == body
    assert rest.get("/p/a.json", params={"format": "export"}).json() == {
        ".value": 1,
        ".priority": 5,
    }
    assert rest.get("/p/d.json", params={"format": "export"}).json() == 2


def test_format_export_never_uses_arrays(rest: Any) -> None:
    # spec §2.9 (INF): export output is always objects
    assert rest.put("/arr.json", ["x", "y"]).status_code == 200
    assert rest.get("/arr.json", params={"format": "export"}).json() == {"0": "x", "1": "y"}


def test_export_round_trip(rest: Any) -> None:
    data = {
        "users": {
            "ada": {"name": "Ada", ".priority": 1},
            "bob": {"name": {".value": "Bob", ".priority": "z"}},
        },
        "list": ["a", None, "c"],
        "n": 3.25,
        "t": True,
        "empty": "",
    }
    assert rest.put("/.json", data).status_code == 200
    exported = rest.get("/.json", params={"format": "export"})
    assert exported.status_code == 200
    first = exported.json()
    assert rest.delete("/.json").status_code == 200
    assert rest.value("/.json") is None
    assert rest.put("/.json", first).status_code == 200
    again = rest.get("/.json", params={"format": "export"}).json()
    assert again == first
    assert rest.value("/.json") == {
        "users": {"ada": {"name": "Ada"}, "bob": {"name": "Bob"}},
        "list": ["a", None, "c"],
        "n": 3.25,
        "t": True,
        "empty": "",
    }

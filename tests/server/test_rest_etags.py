"""Conditional requests: ETag, if-match, if-none-match (spec §4)."""

from __future__ import annotations

from typing import Any

import pytest

ETAG_ON = {"X-Firebase-ETag": "true"}
IF_MATCH_UNSUPPORTED = "The 'if-match' header is not supported with GET, PATCH or POST requests"


def etag_of(rest: Any, path: str) -> str:
    resp = rest.get(path, headers=ETAG_ON)
    assert resp.status_code == 200
    etag = resp.headers["ETag"]
    assert isinstance(etag, str) and etag
    return etag


# ---------------------------------------------------------------------------------------------
# X-Firebase-ETag


def test_get_with_etag_header(rest: Any) -> None:
    assert rest.put("/v.json", 10).status_code == 200
    resp = rest.get("/v.json", headers=ETAG_ON)
    assert resp.status_code == 200
    assert resp.json() == 10
    assert resp.headers["ETag"] not in ("", "null_etag")


def test_no_etag_without_request_header(rest: Any) -> None:
    assert rest.put("/v.json", 10).status_code == 200
    resp = rest.get("/v.json")
    assert resp.status_code == 200
    assert "ETag" not in resp.headers


@pytest.mark.parametrize("body", [None, {}, []])
def test_empty_location_has_null_etag(rest: Any, body: Any) -> None:
    if body is not None:
        assert rest.put("/empty.json", body).status_code == 200
    resp = rest.get("/empty.json", headers=ETAG_ON)
    assert resp.status_code == 200
    assert resp.json() is None
    assert resp.headers["ETag"] == "null_etag"


def test_put_with_etag_header_reports_new_etag(rest: Any) -> None:
    resp = rest.put("/v.json", {"a": 1}, headers=ETAG_ON)
    assert resp.status_code == 200
    assert resp.headers["ETag"] == etag_of(rest, "/v.json")


def test_post_with_etag_header_reports_etag_of_request_path(rest: Any) -> None:
    resp = rest.post("/list.json", {"a": 1}, headers=ETAG_ON)
    assert resp.status_code == 200
    assert resp.headers["ETag"] == etag_of(rest, "/list.json")


def test_delete_with_etag_header_reports_null_etag(rest: Any) -> None:
    assert rest.put("/v.json", 1).status_code == 200
    resp = rest.delete("/v.json", headers=ETAG_ON)
    assert resp.status_code == 200
    assert resp.headers["ETag"] == "null_etag"


def test_shallow_with_etag_is_400(rest: Any) -> None:
    # spec §12.10: inferred — the SDK forbids etag+shallow client-side; the server rejects it
    assert rest.put("/v.json", {"a": 1}).status_code == 200
    resp = rest.get("/v.json", params={"shallow": "true"}, headers=ETAG_ON)
    assert resp.status_code == 400
    assert isinstance(resp.json()["error"], str)


# ---------------------------------------------------------------------------------------------
# content-derived values


def test_etag_depends_only_on_content(rest: Any) -> None:
    assert rest.put("/v.json", {"a": 1, "b": [1, 2]}).status_code == 200
    e_a = etag_of(rest, "/v.json")
    assert rest.put("/v.json", {"a": 2}).status_code == 200
    e_b = etag_of(rest, "/v.json")
    assert e_b != e_a
    assert rest.put("/v.json", {"a": 1, "b": [1, 2]}).status_code == 200
    assert etag_of(rest, "/v.json") == e_a
    assert rest.put("/elsewhere/deeper.json", {"b": [1, 2], "a": 1}).status_code == 200
    assert etag_of(rest, "/elsewhere/deeper.json") == e_a


@pytest.mark.parametrize(("one", "two"), [(1, "1"), (1, True), ("a", "b"), ({"a": 1}, {"b": 1})])
def test_different_content_different_etag(rest: Any, one: Any, two: Any) -> None:
    assert rest.put("/one.json", one).status_code == 200
    assert rest.put("/two.json", two).status_code == 200
    assert etag_of(rest, "/one.json") != etag_of(rest, "/two.json")


def test_etag_covers_priority(rest: Any) -> None:
    # spec §12.6: inferred — §4 recommends hashing the export format, so a priority is content
    assert rest.put("/a.json", {".value": 1, ".priority": 1}).status_code == 200
    assert rest.put("/b.json", {".value": 1, ".priority": 2}).status_code == 200
    assert etag_of(rest, "/a.json") != etag_of(rest, "/b.json")


# ---------------------------------------------------------------------------------------------
# if-match on PUT / DELETE


def test_put_if_match_success(rest: Any) -> None:
    assert rest.put("/videos/v1/upvotes.json", 10).status_code == 200
    e1 = etag_of(rest, "/videos/v1/upvotes.json")
    resp = rest.put("/videos/v1/upvotes.json", 11, headers={"if-match": e1})
    assert resp.status_code == 200
    assert resp.json() == 11
    new = resp.headers["ETag"]
    assert new != e1
    assert new == etag_of(rest, "/videos/v1/upvotes.json")
    assert rest.value("/videos/v1/upvotes.json") == 11


def test_put_if_match_stale_is_412(rest: Any) -> None:
    assert rest.put("/videos/v1/upvotes.json", 10).status_code == 200
    e1 = etag_of(rest, "/videos/v1/upvotes.json")
    assert rest.put("/videos/v1/upvotes.json", 11, headers={"if-match": e1}).status_code == 200
    resp = rest.put("/videos/v1/upvotes.json", 12, headers={"if-match": e1})
    assert resp.status_code == 412
    assert resp.json() == 11
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert resp.headers["ETag"] == etag_of(rest, "/videos/v1/upvotes.json")
    assert rest.value("/videos/v1/upvotes.json") == 11


@pytest.mark.parametrize("garbage", ["invalid-etag", "wrong_etag", "\"quoted\""])
def test_put_if_match_garbage_is_412(rest: Any, garbage: str) -> None:
    assert rest.put("/u.json", {"name": "Edward", "since": 1800}).status_code == 200
    resp = rest.put("/u.json", {"name": "Jack"}, headers={"if-match": garbage})
    assert resp.status_code == 412
    assert resp.json() == {"name": "Edward", "since": 1800}
    assert resp.headers["ETag"] == etag_of(rest, "/u.json")
    assert rest.value("/u.json") == {"name": "Edward", "since": 1800}


def test_412_on_empty_location(rest: Any) -> None:
    resp = rest.put("/nothing.json", 1, headers={"if-match": "stale"})
    assert resp.status_code == 412
    assert resp.json() is None
    assert resp.headers["ETag"] == "null_etag"
    assert rest.value("/.json") is None


def test_if_match_null_etag_on_empty_location(rest: Any) -> None:
    resp = rest.put("/fresh.json", {"a": 1}, headers={"if-match": "null_etag"})
    assert resp.status_code == 200
    assert rest.value("/fresh.json") == {"a": 1}


def test_if_match_null_etag_on_existing_location(rest: Any) -> None:
    assert rest.put("/fresh.json", "taken").status_code == 200
    resp = rest.put("/fresh.json", "mine", headers={"if-match": "null_etag"})
    assert resp.status_code == 412
    assert resp.json() == "taken"
    assert resp.headers["ETag"] == etag_of(rest, "/fresh.json")
    assert rest.value("/fresh.json") == "taken"


def test_delete_if_match(rest: Any) -> None:
    assert rest.put("/d.json", {"a": 1}).status_code == 200
    etag = etag_of(rest, "/d.json")
    stale = rest.delete("/d.json", headers={"if-match": "stale"})
    assert stale.status_code == 412
    assert stale.json() == {"a": 1}
    assert stale.headers["ETag"] == etag
    assert rest.value("/d.json") == {"a": 1}
    ok = rest.delete("/d.json", headers={"if-match": etag})
    assert ok.status_code == 200
    assert rest.value("/.json") is None


def test_if_match_compares_content_of_the_path_only(rest: Any) -> None:
    assert rest.put("/a.json", 1).status_code == 200
    etag = etag_of(rest, "/a.json")
    assert rest.put("/b.json", 2).status_code == 200  # a sibling changes, /a does not
    assert rest.put("/a.json", 3, headers={"if-match": etag}).status_code == 200
    assert rest.value("/a.json") == 3


def test_etag_loop_like_a_transaction(rest: Any) -> None:
    etag = etag_of(rest, "/counter.json")
    assert etag == "null_etag"
    value = None
    for _ in range(5):
        new = (value or 0) + 1
        resp = rest.put("/counter.json", new, headers={"if-match": etag})
        assert resp.status_code == 200
        value, etag = new, resp.headers["ETag"]
    assert rest.value("/counter.json") == 5


def test_print_silent_with_if_match_is_lenient(rest: Any) -> None:
    # spec §12.7: inferred — production rejects this pair, a local server is lenient by default
    assert rest.put("/v.json", 1).status_code == 200
    etag = etag_of(rest, "/v.json")
    resp = rest.put("/v.json", 2, params={"print": "silent"}, headers={"if-match": etag})
    assert resp.status_code == 204
    assert rest.value("/v.json") == 2


# ---------------------------------------------------------------------------------------------
# if-match where it is not supported


@pytest.mark.parametrize("method", ["GET", "PATCH", "POST"])
@pytest.mark.parametrize("etag", ["null_etag", "whatever"])
def test_if_match_not_supported(rest: Any, method: str, etag: str) -> None:
    assert rest.put("/v.json", {"a": 1}).status_code == 200
    body = None if method == "GET" else {"b": 2}
    resp = rest.request(method, "/v.json", json=body, headers={"if-match": etag})
    assert resp.status_code == 400
    assert resp.json() == {"error": IF_MATCH_UNSUPPORTED}
    assert rest.value("/v.json") == {"a": 1}


# ---------------------------------------------------------------------------------------------
# if-none-match


def test_if_none_match_current_is_304(rest: Any) -> None:
    assert rest.put("/v.json", {"a": 1}).status_code == 200
    etag = etag_of(rest, "/v.json")
    resp = rest.get("/v.json", headers={"if-none-match": etag})
    assert resp.status_code == 304
    assert resp.content == b""


def test_if_none_match_null_etag_on_empty_is_304(rest: Any) -> None:
    resp = rest.get("/none.json", headers={"if-none-match": "null_etag"})
    assert resp.status_code == 304
    assert resp.content == b""


@pytest.mark.parametrize("sent", ["wrong_etag", "null_etag"])
def test_if_none_match_stale_is_200_with_etag(rest: Any, sent: str) -> None:
    assert rest.put("/v.json", {"a": 1}).status_code == 200
    resp = rest.get("/v.json", headers={"if-none-match": sent})
    assert resp.status_code == 200
    assert resp.json() == {"a": 1}
    assert resp.headers["ETag"] == etag_of(rest, "/v.json")


def test_if_none_match_after_change(rest: Any) -> None:
    assert rest.put("/v.json", 1).status_code == 200
    old = etag_of(rest, "/v.json")
    assert rest.put("/v.json", 2).status_code == 200
    resp = rest.get("/v.json", headers={"if-none-match": old})
    assert resp.status_code == 200
    assert resp.json() == 2
    assert resp.headers["ETag"] != old
    assert rest.get("/v.json", headers={"if-none-match": resp.headers["ETag"]}).status_code == 304


# ---------------------------------------------------------------------------------------------
# order of checks (EMU-3P E13/E14), with literal rules only

RULES = {
    "rules": {
        "readonly": {".read": True, ".write": False},
        "closed": {".read": False, ".write": False},
    }
}


def test_stale_if_match_on_readable_but_unwritable_path_is_412(rest: Any) -> None:
    assert rest.put("/readonly.json", {"a": 1}).status_code == 200
    rest.set_rules(RULES)
    resp = rest.put("/readonly.json", {"a": 2}, admin=False, headers={"if-match": "stale"})
    assert resp.status_code == 412
    assert resp.json() == {"a": 1}
    assert resp.headers["ETag"] == etag_of(rest, "/readonly.json")


def test_stale_if_match_on_unreadable_path_is_401(rest: Any) -> None:
    assert rest.put("/closed.json", {"secret": 1}).status_code == 200
    rest.set_rules(RULES)
    resp = rest.put("/closed.json", {"a": 2}, admin=False, headers={"if-match": "stale"})
    assert resp.status_code == 401
    assert resp.json() == {"error": "Permission denied"}
    assert "secret" not in resp.text
    assert rest.value("/closed.json") == {"secret": 1}


def test_matching_if_match_still_needs_write_permission(rest: Any) -> None:
    assert rest.put("/readonly.json", {"a": 1}).status_code == 200
    rest.set_rules(RULES)
    etag = etag_of(rest, "/readonly.json")
    resp = rest.put("/readonly.json", {"a": 2}, admin=False, headers={"if-match": etag})
    assert resp.status_code == 401
    assert resp.json() == {"error": "Permission denied"}
    assert rest.value("/readonly.json") == {"a": 1}


def test_write_only_caller_may_create_if_absent_with_null_etag(rest: Any) -> None:
    # §4 order of checks: the read check is only needed to build a 412 body.
    rest.set_rules({"rules": {"wo": {".write": True}}})
    created = rest.put("/wo/new.json", {"a": 1}, admin=False, headers={"if-match": "null_etag"})
    assert created.status_code == 200
    again = rest.put("/wo/new.json", {"a": 2}, admin=False, headers={"if-match": "null_etag"})
    assert (again.status_code, again.json()) == (401, {"error": "Permission denied"})
    assert rest.value("/wo/new.json") == {"a": 1}

"""What firebase-tools' database:* commands need of REST: PATCH with a null body deletes, the
/.settings values are kept per namespace, and the rules coverage report (rtdb-rest.md §8.1)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.conftest import Rest


def test_patch_with_a_null_body_deletes_as_database_remove_sends_it(rest: Rest) -> None:
    rest.put("/x.json", {"leaf": "v", "keep": 1})
    resp = rest.patch("/x/leaf.json", data=b"null", params={"print": "silent", "writeSizeLimit": "tiny", "disableTriggers": "false"})
    assert (resp.status_code, resp.content) == (204, b"")
    assert rest.value("/x.json") == {"keep": 1}
    resp = rest.patch("/x.json", data=b"null")
    assert (resp.status_code, resp.json()) == (200, None)
    assert rest.value("/.json") is None


def test_a_null_patch_is_a_write_for_the_rules(rest: Rest) -> None:
    rest.set_rules({"rules": {".read": True, "locked": {".write": False}}})
    rest.put("/locked.json", "kept")
    resp = rest.patch("/locked.json", data=b"null", admin=False)
    assert resp.status_code == 401
    assert rest.value("/locked.json") == "kept"


@pytest.mark.parametrize(
    ("name", "default", "value", "shown"),
    [
        ("defaultWriteSizeLimit", "large", "small", "small"),
        ("strictTriggerValidation", {"value": True}, False, {"value": False}),
    ],
)
def test_settings_read_their_default_and_keep_what_is_put(rest: Rest, name: str, default: Any, value: Any, shown: Any) -> None:
    assert rest.value(f"/.settings/{name}.json") == default
    put = rest.put(f"/.settings/{name}.json", data=json.dumps(value).encode())
    assert (put.status_code, put.json()) == (200, value)
    assert rest.value(f"/.settings/{name}.json") == shown
    other = Rest(rest.base, rest.ns + "x")  # per namespace
    assert other.value(f"/.settings/{name}.json") == default


@pytest.mark.parametrize(
    ("name", "body", "error"),
    [
        ("defaultWriteSizeLimit", '"tiny"', "defaultWriteSizeLimit must be small, medium, large or unlimited (tiny is not allowed as a default)."),
        ("defaultWriteSizeLimit", "5", "defaultWriteSizeLimit must be small, medium, large or unlimited (tiny is not allowed as a default)."),
        ("strictTriggerValidation", '"yes"', "strictTriggerValidation must be true or false."),
    ],
)
def test_bad_settings_are_refused_and_nothing_changes(rest: Rest, name: str, body: str, error: str) -> None:
    before = rest.value(f"/.settings/{name}.json")
    put = rest.put(f"/.settings/{name}.json", data=body.encode())
    assert (put.status_code, put.json()) == (400, {"error": error})
    assert rest.value(f"/.settings/{name}.json") == before


def test_settings_are_for_admins(rest: Rest) -> None:
    assert rest.get("/.settings/defaultWriteSizeLimit.json", admin=False).status_code == 403
    assert rest.put("/.settings/defaultWriteSizeLimit.json", "small", admin=False).status_code == 403


RULES = (
    '{"rules": {\n'
    '  "users": {"$uid": {".read": "auth != null && auth.uid === $uid", ".write": "auth.uid === $uid"}},\n'
    '  "n": {".write": true, ".validate": "newData.val() > data.val()"}\n'
    "}}"
)


def test_the_coverage_report_counts_every_rule_expression(rest: Rest, server_url: str) -> None:
    rest.set_rules(RULES)
    rest.get("/users/ada.json", admin=False)  # denied: the read rule ran once, false
    rest.put("/n.json", 5, admin=False)  # validate: 5 > null is a runtime error
    report = requests.get(f"{server_url}/.inspect/coverage.json", params={"ns": rest.ns}, timeout=10).json()
    assert report["namespace"] == rest.ns and report["source"] == RULES
    counts = {(r["path"], r["rule"]): (r["evaluations"], r["true"], r["false"], r["errors"]) for r in report["rules"]}
    assert counts == {
        ("/users/$uid", ".read"): (1, 0, 1, 0),
        ("/users/$uid", ".write"): (0, 0, 0, 0),
        ("/n", ".validate"): (1, 0, 0, 1),
    }
    assert report["rules"][0]["line"] == 2 and report["rules"][0]["expression"] == "auth != null && auth.uid === $uid"
    page = requests.get(f"{server_url}/.inspect/coverage", params={"ns": rest.ns}, timeout=10)
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<span class="false" title="1 evaluations: 0 true, 1 false, 0 errors">auth != null &amp;&amp; auth.uid === $uid</span>' in page.text
    assert '<span class="none" title="0 evaluations: 0 true, 0 false, 0 errors">auth.uid === $uid</span>' in page.text


def test_an_upload_starts_the_counts_afresh_and_no_rules_means_an_empty_report(rest: Rest, server_url: str) -> None:
    url = f"{server_url}/.inspect/coverage.json"
    assert requests.get(url, params={"ns": rest.ns}, timeout=10).json() == {"namespace": rest.ns, "source": "", "rules": []}
    rest.set_rules(RULES)
    rest.get("/users/ada.json", admin=False)
    rest.set_rules(RULES)
    report = requests.get(url, params={"ns": rest.ns}, timeout=10).json()
    assert all(r["evaluations"] == 0 for r in report["rules"])


@pytest.mark.focus_serve
def test_settings_survive_a_restart(tmp_path: Any) -> None:
    from focuscli.server import LocalServer

    with LocalServer(port=0, data_dir=tmp_path) as server:
        rest = Rest(server.url, "kept")
        assert rest.put("/.settings/defaultWriteSizeLimit.json", "unlimited").status_code == 200
        server.restart()
        assert rest.value("/.settings/defaultWriteSizeLimit.json") == "unlimited"

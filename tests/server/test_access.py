"""The authorization seam: cascade, validation and indexes of literal rules through compile_access."""

from __future__ import annotations

import json
from typing import Any

import pytest

from focuscli.rules.document import RulesDocument
from focuscli.server.access import compile_access
from focuscli.server.tree import normalize, set_at


def access(rules: dict[str, Any]) -> Any:
    return compile_access(RulesDocument.parse(json.dumps({"rules": rules})))


def p(text: str) -> tuple[str, ...]:
    return tuple(seg for seg in text.split("/") if seg)


def test_open_default() -> None:
    acc = compile_access(None)
    assert acc.can_read((), None, None, 0, None)
    assert acc.can_read(p("a/b/c"), {"uid": "x"}, None, 0, {"orderBy": '"$key"'})
    assert acc.can_write(p("a/b"), None, None, {"a": {"b": 1}}, 0)
    assert acc.can_write((), None, {"a": 1}, None, 0)
    assert acc.index_on(p("a")) == ()


CASCADE = {
    ".read": False,
    "pub": {".read": True, "deep": {".read": False, "er": {".read": "false"}}},
    "priv": {"open": {".read": "true"}},
    "users": {"$uid": {".read": True, "secret": {}}, "admin": {".read": False}},
    "w": {".write": True},
    "rw": {"$x": {"$y": {".write": "true", ".read": "  true\n"}}},
}

READS = [
    ("/", False),
    ("/other", False),
    ("/pub", True),
    ("/pub/x/y/z", True),
    ("/pub/deep", True),  # cannot be revoked deeper
    ("/pub/deep/er/more", True),
    ("/priv", False),  # rules are not filters: the child grant does not cover the parent
    ("/priv/open", True),
    ("/priv/open/x", True),
    ("/priv/other", False),
    ("/users", False),
    ("/users/alice", True),  # wildcard matches any key
    ("/users/alice/secret/x", True),
    ("/users/admin", False),  # a named child shadows its wildcard sibling (rules.md §2)
    ("/users/admin/x", False),
    ("/rw/a", False),
    ("/rw/a/b", True),
    ("/rw/a/b/c", True),
    ("/w", False),
]


@pytest.mark.parametrize(("path", "allowed"), READS)
def test_read_cascade(path: str, allowed: bool) -> None:
    acc = access(CASCADE)
    assert acc.can_read(p(path), None, {"pub": 1}, 0, None) is allowed
    assert acc.can_read(p(path), {"uid": "alice"}, None, 0, {"orderBy": '"$key"'}) is allowed


WRITES = [
    ("/", False),
    ("/w", True),
    ("/w/a/b", True),
    ("/pub", False),
    ("/rw/a", False),  # a deeper grant does not cover a write above it
    ("/rw/a/b", True),
    ("/rw/a/b/c/d", True),
]


@pytest.mark.parametrize(("path", "allowed"), WRITES)
@pytest.mark.parametrize("value", [{"v": 1}, None], ids=["set", "delete"])
def test_write_cascade(path: str, allowed: bool, value: Any) -> None:
    acc = access(CASCADE)
    old = {"w": {"x": 1}, "rw": {"a": {"b": {"c": 2}}}}
    new = set_at(old, p(path), normalize(value))
    assert acc.can_write(p(path), None, old, new, 0) is allowed


def test_root_write_grant_covers_everything() -> None:
    acc = access({".write": True, "a": {".write": False}})
    assert acc.can_write(p("a/b"), None, None, {"a": {"b": 1}}, 0)


VALIDATED = {
    ".write": True,
    "frozen": {".validate": False},
    "box": {"$k": {".validate": "false"}, "ok": {".validate": True}},
    "deep": {"a": {"b": {"c": {".validate": False}}}},
    "top": {".validate": True, "$any": {"$x": {".validate": False}}},
}

VALIDATES = [
    # (write path, old tree, new value at the write path, allowed)
    ("/frozen", None, 1, False),
    ("/frozen", {"frozen": 1}, None, True),  # deletions are never validated
    ("/frozen/x/y", None, 1, False),  # an ancestor that is non-null afterwards is validated
    ("/frozen/x", {"frozen": {"x": 1, "y": 2}}, None, False),  # ... even by a deletion below
    ("/frozen/x", {"frozen": {"x": 1}}, None, True),  # ... unless it ends up empty
    ("/", None, {"frozen": {"a": 1}}, False),  # the written subtree below is validated
    ("/", None, {"other": 1}, True),
    ("/", {"frozen": 1}, {"other": 1}, True),  # frozen becomes null: not validated
    ("/box/ok", None, 5, True),  # the named child shadows "$k"
    ("/box/other", None, 5, False),
    ("/box", None, {"ok": 1}, True),
    ("/box", None, {"ok": 1, "bad": 2}, False),
    ("/box/other/x", None, 5, False),
    ("/deep", None, {"a": {"b": {"x": 1}}}, True),
    ("/deep", None, {"a": {"b": {"c": {"d": 1}}}}, False),
    ("/deep/a/b/c/d/e", None, True, False),
    ("/deep/a/b/x", {"deep": {"a": {"b": {"c": 1}}}}, 2, True),  # siblings are not validated
    ("/top/a", None, 5, True),  # a leaf: nothing for "$x" below
    ("/top/a", None, {"b": 1}, False),
    ("/top/a", None, {"b": {"c": 1}}, False),
    ("/top", None, {"a": {"b": {"c": None}}}, True),  # nulls vanish before validation
]


@pytest.mark.parametrize(("path", "old", "value", "allowed"), VALIDATES)
def test_validate_false(path: str, old: Any, value: Any, allowed: bool) -> None:
    acc = access(VALIDATED)
    new = set_at(old, p(path), normalize(value))
    assert acc.can_write(p(path), {"uid": "u"}, old, new, 123) is allowed


def test_validate_never_grants() -> None:
    acc = access({"a": {".validate": True}})
    assert not acc.can_write(p("a"), None, None, {"a": 1}, 0)


def test_index_on() -> None:
    acc = access({
        ".indexOn": "root",
        "dinos": {".indexOn": ["height", "length"]},
        "users": {"$uid": {".indexOn": ".value"}, "admin": {}},
    })
    assert acc.index_on(()) == ("root",)
    assert acc.index_on(p("dinos")) == ("height", "length")
    assert acc.index_on(p("dinos/x")) == ()
    assert acc.index_on(p("users/alice")) == (".value",)
    assert acc.index_on(p("users/admin")) == ()
    assert acc.index_on(p("elsewhere")) == ()

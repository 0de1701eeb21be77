"""Unit tests for focuscli.server.rulesdoc (the rules document) and focuscli.server.access."""

from __future__ import annotations

import json
from typing import Any

import pytest

from focuscli.server.access import UNSUPPORTED, compile_access
from focuscli.server.rulesdoc import (
    BAD_KEY,
    OPEN_RULES,
    OPEN_RULES_SOURCE,
    RulesDocument,
    RulesError,
)
from focuscli.server.tree import normalize, set_at


def error_of(source: str) -> str:
    with pytest.raises(RulesError) as info:
        RulesDocument.parse(source)
    err = info.value
    assert str(err) == f"{err.line}:{err.column}: {err.message}"
    return str(err)


# -- comments, strings, verbatim source --------------------------------------------------------

COMMENTED = """{
  // line comment with "quotes" and { braces
  "rules": { /* block
     comment */
    ".read": "true", // trailing
    "urls": {".read": "'http://x' // not a comment"},
    "blk": {".write": "/* kept */ false"},
    "multi": {".validate": "true &&
      true"}
  }
}
"""


def test_comments_are_skipped_and_source_kept() -> None:
    doc = RulesDocument.parse(COMMENTED)
    assert doc.source == COMMENTED
    assert doc.rules == {
        ".read": "true",
        "urls": {".read": "'http://x' // not a comment"},
        "blk": {".write": "/* kept */ false"},
        "multi": {".validate": "true &&\n      true"},
    }
    strict = doc.strict_json()
    assert strict == {"rules": doc.rules}
    assert json.loads(json.dumps(strict)) == strict  # plain JSON values only


def test_strict_json_is_a_copy() -> None:
    doc = RulesDocument.parse('{"rules": {"a": {".read": true}}}')
    doc.strict_json()["rules"]["a"][".read"] = False
    assert doc.rules == {"a": {".read": True}}


@pytest.mark.parametrize(
    "source",
    [
        '{"rules": {}}',
        '\ufeff{"rules": {}}',
        '/* lead */{"rules"/*a*/:/*b*/{}/*c*/}// end',
        '{"rules": {}}\n// no newline at the end',
        '{"rules": {".read": "a\\"b\\\\c\\/d\\u00e9\\n"}}',
    ],
)
def test_valid_oddities(source: str) -> None:
    RulesDocument.parse(source)


def test_escapes_decode_like_json() -> None:
    doc = RulesDocument.parse('{"rules": {".read": "a\\"b\\\\c\\/d\\u00e9\\ud83d\\ude00"}}')
    assert doc.rules[".read"] == 'a"b\\c/d\u00e9\U0001F600'
    pair = RulesDocument.parse('{"rules": {".read": "\\ud83d\\ude00x\\ud83dy"}}')
    assert pair.rules[".read"] == "\U0001F600x\ud83dy"
    assert pair.expression_position((".read",), 1) == (1, 34)  # the pair is one character
    assert pair.expression_position((".read",), 3) == (1, 41)  # a lone surrogate is one too


def test_repeated_key_last_wins() -> None:
    source = '{"rules": {"a": {"b": {}}, ".read": false,\n"a": {}, ".read": true}}'
    doc = RulesDocument.parse(source)
    assert doc.rules == {"a": {}, ".read": True}
    assert ("a", "b") not in doc.positions
    assert doc.positions[(".read",)] == (2, 19)


def test_open_rules() -> None:
    assert OPEN_RULES.source == OPEN_RULES_SOURCE
    assert json.loads(OPEN_RULES_SOURCE) == {"rules": {".read": True, ".write": True}}
    assert OPEN_RULES.strict_json() == {"rules": {".read": True, ".write": True}}


# -- errors ------------------------------------------------------------------------------------

PARSE_ERRORS = [
    ("", "1:1"),
    ("   \n  ", "2:3"),
    ('{"rules": {}', "1:13"),
    ('{"rules": {},}', "1:14"),
    ('{"rules": {".read": true,}}', "1:26"),
    ("{'rules': {}}", "1:2"),
    ("{rules: {}}", "1:2"),
    ('{"rules" {}}', "1:10"),
    ('{"rules": {}} x', "1:15"),
    ('{"rules": {}}{}', "1:14"),
    ('{\n  "rules": {\n    ".read": tru\n  }\n}', "3:14"),
    ('{"rules": {".read": "never closed}}', "1:21"),
    ('{"rules": {".read": "bad \\x escape"}}', "1:26"),
    ('{"rules": {".read": "\\u12G4"}}', "1:22"),
    ('{"rules": {}} /* open comment', "1:15"),
    ('{"rules": {}} / x', "1:15"),
    ('{"rules": 01}', "1:12"),
    ('{"rules": -}', "1:11"),
    ('{"rules": {".read": True}}', "1:21"),
    ("[" * 300 + "]" * 300, None),
]


@pytest.mark.parametrize(("source", "where"), PARSE_ERRORS)
def test_parse_errors(source: str, where: str | None) -> None:
    if where is None:
        assert error_of(source).endswith("nested too deeply.")
    else:
        assert error_of(source) == f"{where}: Parse error."


def test_parse_error_position_after_comments_and_multiline_strings() -> None:
    source = '/* one\ntwo */ {"rules": {".read": "a\nb", // c\n  ".write" true}}'
    assert error_of(source) == "4:12: Parse error."


KEY = BAD_KEY
STRUCTURE_ERRORS = [
    ("[]", "1:1: The rules document must be a JSON object."),
    ('"rules"', "1:1: The rules document must be a JSON object."),
    ("{}", "1:1: The rules document must have a \"rules\" member."),
    (' {"rules": {}, "extra": 1}', '1:16: Unexpected key "extra"; the rules document may only '
     'contain "rules".'),
    ('{"rules": true}', "1:11: Expected an object of rules."),
    ('{"rules": {"a": "yes"}}', "1:17: Expected an object of rules."),
    ('{"rules": {"a": {"b": null}}}', "1:23: Expected an object of rules."),
    ('{"rules": {".foo": true}}', f"1:12: {KEY}"),
    ('{"rules": {".value": true}}', f"1:12: {KEY}"),
    ('{"rules": {".READ": true}}', f"1:12: {KEY}"),
    ('{"rules": {"a.b": {}}}', f"1:12: {KEY}"),
    ('{"rules": {"a#": {}}}', f"1:12: {KEY}"),
    ('{"rules": {"a[0]": {}}}', f"1:12: {KEY}"),
    ('{"rules": {"a/b": {}}}', f"1:12: {KEY}"),
    ('{"rules": {"": {}}}', f"1:12: {KEY}"),
    ('{"rules": {"a\\u0001": {}}}', f"1:12: {KEY}"),
    ('{"rules": {"x": {"a$b": {}}}}', f"1:18: {KEY}"),
    ('{"rules": {"$": {}}}', f"1:12: {KEY}"),
    ('{"rules": {"$a$b": {}}}', f"1:12: {KEY}"),
    ('{"rules": {"$a.b": {}}}', f"1:12: {KEY}"),
    ('{"rules": {"$a": {}, "$b": {}}}',
     '1:22: Only one wildcard is allowed at one location; found "$a" and "$b".'),
    ('{"rules": {"x": {"$a": {}}, "$b": {"$c": {}, "y": {}, "$d": {}}}}',
     '1:55: Only one wildcard is allowed at one location; found "$c" and "$d".'),
    ('{"rules": {"$uid": {"posts": {"$uid": {}}}}}',
     '1:31: Wildcard "$uid" is already used at a parent location.'),
    ('{"rules": {".read": 1}}', '1:21: ".read" must be a boolean or a string.'),
    ('{"rules": {".write": null}}', '1:22: ".write" must be a boolean or a string.'),
    ('{"rules": {"a": {".validate": ["true"]}}}',
     '1:31: ".validate" must be a boolean or a string.'),
    ('{"rules": {".read": {"x": 1}}}', '1:21: ".read" must be a boolean or a string.'),
    ('{"rules": {".indexOn": 5}}', '1:24: ".indexOn" must be a string or an array of strings.'),
    ('{"rules": {".indexOn": ["a", 2]}}',
     '1:30: ".indexOn" must be a string or an array of strings.'),
    ('{"rules": {".indexOn": {"a": "b"}}}',
     '1:24: ".indexOn" must be a string or an array of strings.'),
    ('{\n  "rules": {\n    "users": {\n      "$uid": {\n        ".read": 7\n      }\n    }\n  }\n}',
     '5:18: ".read" must be a boolean or a string.'),
]


@pytest.mark.parametrize(("source", "message"), STRUCTURE_ERRORS)
def test_structure_errors(source: str, message: str) -> None:
    assert error_of(source) == message


def test_key_message_is_the_emulators() -> None:
    assert BAD_KEY == (
        'Key names can\'t contain ".", "#", "$", "/", "[", or "]" (unbound names start with "$")'
    )


def test_valid_structures() -> None:
    doc = RulesDocument.parse(
        '{"rules": {"$a": {"$b": {".read": "x"}}, "x": {"$z": {"$c": {}}},'
        ' "i": {".indexOn": "h", "j": {".indexOn": []}, "k": {".indexOn": [".value", "a/b"]}},'
        ' "-Nk_9 ü": {}, ".validate": false, ".write": "true"}}'
    )
    assert doc.rules["i"] == {".indexOn": "h", "j": {".indexOn": []},
                              "k": {".indexOn": [".value", "a/b"]}}


# -- positions ---------------------------------------------------------------------------------

POSITIONED = """{
  "rules": {
    ".read": false,
    "users": {
      "$uid": {
        ".write": "auth != null &&
          auth.uid == $uid",
        ".indexOn": ["a"]
      }
    },
    /* x */ "s": {".validate": "\\u00e9 && x"}
  }
}"""


def test_positions() -> None:
    doc = RulesDocument.parse(POSITIONED)
    assert dict(doc.positions) == {
        (): (2, 12),
        (".read",): (3, 14),
        ("users",): (4, 14),
        ("users", "$uid"): (5, 15),
        ("users", "$uid", ".write"): (6, 19),
        ("users", "$uid", ".indexOn"): (8, 21),
        ("s",): (11, 18),
        ("s", ".validate"): (11, 32),
    }


def test_expression_positions() -> None:
    doc = RulesDocument.parse(POSITIONED)
    write = ("users", "$uid", ".write")
    assert doc.expression_position(write) == (6, 20)
    assert doc.expression_position(write, 8) == (6, 28)  # the "n" of null
    text = doc.rules["users"]["$uid"][".write"]
    assert doc.expression_position(write, text.index("auth.uid")) == (7, 11)
    assert doc.expression_position(write, 10_000) == (7, 27)  # clamped to the closing quote
    validate = ("s", ".validate")
    assert doc.expression_position(validate, 1) == (11, 39)  # after the 6-char \u00e9 escape
    assert doc.expression_position((".read",), 3) == (3, 14)  # booleans: the value itself
    with pytest.raises(KeyError):
        doc.expression_position(("nope", ".read"))


# -- access ------------------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("source", "where"),
    [
        ('{"rules": {".read": "auth != null"}}', "1:22"),
        ('{"rules": {".read": true, "a": {".write": "  now > 0"}}}', "1:46"),
        ('{"rules": {"$uid": {".validate": ""}}}', "1:35"),
        ('{\n "rules": {\n  "x": {\n   ".read": "true", ".validate": "\n     newData.exists()"}}}',
         "5:6"),
        ('{"rules": {".read": "TRUE"}}', "1:22"),
    ],
)
def test_expressions_are_refused_at_compile_time(source: str, where: str) -> None:
    doc = RulesDocument.parse(source)
    with pytest.raises(RulesError) as info:
        compile_access(doc)
    assert str(info.value) == f"{where}: {UNSUPPORTED}"
    assert UNSUPPORTED == "Rule expressions are not supported yet; only true and false"

"""Unit tests for focuscli.rules.document: parsing the rules document, errors, positions."""

from __future__ import annotations

import json

import pytest

from focuscli.rules.document import (
    BAD_KEY,
    OPEN_RULES,
    OPEN_RULES_SOURCE,
    RulesDocument,
    RulesError,
)


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

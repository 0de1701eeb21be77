"""Lexer: token kinds, values and spans; exact error messages with a caret."""

from __future__ import annotations

import pytest

from focuscli.rules.errors import LexError
from focuscli.rules.lexer import Token, tokenize


def kinds(text: str) -> list[tuple[str, object]]:
    return [(t.kind, t.value) for t in tokenize(text)][:-1]


def test_spans_and_eof() -> None:
    assert tokenize("auth != null") == [
        Token("name", "auth", 0, 4),
        Token("!=", "!=", 5, 7),
        Token("literal", None, 8, 12),
        Token("eof", None, 12, 12),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", [("number", 0)]),
        ("42", [("number", 42)]),
        ("0.5", [("number", 0.5)]),
        (".5", [("number", 0.5)]),
        ("1e3", [("number", 1000.0)]),
        ("1.5E-2", [("number", 0.015)]),
        ("true false null", [("literal", True), ("literal", False), ("literal", None)]),
        ("$uid", [("name", "$uid")]),
        ("newData_2", [("name", "newData_2")]),
        ("'it\\'s'", [("string", "it's")]),
        ('"say \\"hi\\""', [("string", 'say "hi"')]),
        ("'a\\\\b'", [("string", "a\\b")]),
        ("'\\n\\t\\r\\b\\f\\v\\0'", [("string", "\n\t\r\b\f\v\0")]),
        ("'\\x41\\u0042\\u{43}'", [("string", "ABC")]),
        ("'\\ud83d\\ude00'", [("string", "\U0001f600")]),
        ("'\\.'", [("string", ".")]),
        ("'a' + \"b\"", [("string", "a"), ("+", "+"), ("string", "b")]),
        ("a===b!==c", [("name", "a"), ("===", "==="), ("name", "b"), ("!==", "!=="), ("name", "c")]),
        ("a<=b>=c<d>e", [("name", "a"), ("<=", "<="), ("name", "b"), (">=", ">="), ("name", "c"),
                         ("<", "<"), ("name", "d"), (">", ">"), ("name", "e")]),
        ("!a&&b||c", [("!", "!"), ("name", "a"), ("&&", "&&"), ("name", "b"), ("||", "||"),
                      ("name", "c")]),
        ("a?b:c", [("name", "a"), ("?", "?"), ("name", "b"), (":", ":"), ("name", "c")]),
        ("a.b[0](1,2)", [("name", "a"), (".", "."), ("name", "b"), ("[", "["), ("number", 0),
                         ("]", "]"), ("(", "("), ("number", 1), (",", ","), ("number", 2),
                         (")", ")")]),
        ("x\n&&\ty", [("name", "x"), ("&&", "&&"), ("name", "y")]),
    ],
)  # fmt: skip
def test_tokens(text: str, expected: list[tuple[str, object]]) -> None:
    assert kinds(text) == expected


def test_slash_is_a_regex_where_an_operand_may_start() -> None:
    assert kinds("s.matches(/^a\\/b[/]$/i)") == [
        ("name", "s"), (".", "."), ("name", "matches"), ("(", "("),
        ("regex", ("^a\\/b[/]$", "i")), (")", ")"),
    ]  # fmt: skip
    assert kinds("a / b / c") == [
        ("name", "a"), ("/", "/"), ("name", "b"), ("/", "/"), ("name", "c"),
    ]  # fmt: skip
    assert kinds("(1) / 2") == [("(", "("), ("number", 1), (")", ")"), ("/", "/"), ("number", 2)]


def test_refused_syntax_still_lexes_so_the_parser_can_explain() -> None:
    assert [k for k, _ in kinds("a = b; c ** d ++ { } & | ^ ~ =>")] == [
        "name", "=", "name", ";", "name", "**", "name", "++", "{", "}", "&", "|", "^", "~", "=>",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("auth # 1", "1:6: Unexpected character '#'.\nauth # 1\n     ^"),
        ("'abc", "1:1: Unterminated string.\n'abc\n^"),
        ('x == "ab\ncd"', '1:6: Unterminated string.\nx == "ab\n     ^'),
        ("'\\x4'", "1:2: Invalid escape sequence.\n'\\x4'\n ^"),
        ("'\\u12'", "1:2: Invalid escape sequence.\n'\\u12'\n ^"),
        ("s.matches(/abc", "1:11: Unterminated regular expression.\ns.matches(/abc\n          ^"),
        ("1 +\n  12abc", "2:3: Invalid number.\n  12abc\n  ^"),
        ("1e+", "1:1: Invalid number.\n1e+\n^"),
        ("017", "1:1: Invalid number (octal literals are not supported).\n017\n^"),
        ("a // b", "1:3: Comments are not allowed in an expression.\na // b\n  ^"),
        ("\ta\t@", "1:4: Unexpected character '@'.\n\ta\t@\n\t \t^"),
        ("é", "1:1: Unexpected character 'é'.\né\n^"),
    ],
)
def test_error_messages(text: str, message: str) -> None:
    with pytest.raises(LexError) as info:
        tokenize(text)
    assert str(info.value) == message

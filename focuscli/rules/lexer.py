"""Lexer: rule expression text -> tokens.

The token set is JavaScript's, cut down to what rule expressions can use, plus a few tokens the
language refuses (``=``, ``;``, ``**``, ``++``, ``{`` ...) so that the parser can say *why* they
are refused instead of "unexpected character". A ``/`` starts a regular-expression literal
wherever an operand may start (the JavaScript rule), and a division operator elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .errors import LexError

# Longest first within each starting character.
OPERATORS = (
    "===", "!==", "**", "==", "!=", "&&", "||", "<=", ">=", "++", "--", "=>",
    "+", "-", "*", "/", "%", "<", ">", "!", "?", ":", ".", "[", "]", "(", ")", ",",
    "=", ";", "{", "}", "&", "|", "^", "~",
)  # fmt: skip
_BY_FIRST: dict[str, tuple[str, ...]] = {}
for _op in OPERATORS:
    _BY_FIRST.setdefault(_op[0], ())
    _BY_FIRST[_op[0]] += (_op,)

LITERAL_WORDS = {"true": True, "false": False, "null": None}

# After one of these, an operand has just ended and "/" divides; elsewhere it opens a regex.
_ENDS_OPERAND = frozenset({"number", "string", "name", "literal", "regex", ")", "]"})
_SIMPLE_ESCAPES = {
    "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0",
}  # fmt: skip
_WHITESPACE = " \t\r\n\v\f\u00a0\ufeff\u2028\u2029"
_DIGITS = "0123456789"
_HEX = "0123456789abcdefABCDEF"


@dataclass(frozen=True, slots=True)
class Token:
    """One token. ``kind`` is ``number``, ``string``, ``name``, ``literal`` (true/false/null),
    ``regex`` (value ``(pattern, flags)``), ``eof``, or the operator text itself."""

    kind: str
    value: Any
    start: int
    end: int


def _is_name_start(ch: str) -> bool:
    return ch.isascii() and (ch.isalpha() or ch in "_$")


def _is_name_part(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch in "_$")


def tokenize(text: str) -> list[Token]:
    """All tokens of ``text``, ending with an ``eof`` token. Raises LexError."""
    return list(_Lexer(text).tokens())


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str, offset: int) -> LexError:
        return LexError(message, self.text, offset)

    def tokens(self) -> Iterator[Token]:
        text, n = self.text, len(self.text)
        previous = ""
        while True:
            while self.pos < n and text[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos >= n:
                yield Token("eof", None, n, n)
                return
            start = self.pos
            ch = text[start]
            if ch in _DIGITS or (ch == "." and text[start + 1 : start + 2] in tuple(_DIGITS)):
                token = self.number()
            elif ch in "'\"":
                token = self.string()
            elif _is_name_start(ch):
                token = self.name()
            elif ch == "/" and text.startswith(("//", "/*"), start):
                raise self.fail("Comments are not allowed in an expression.", start)
            elif ch == "/" and previous not in _ENDS_OPERAND:
                token = self.regex()
            elif ch in _BY_FIRST:
                op = next(o for o in _BY_FIRST[ch] if text.startswith(o, start))
                self.pos = start + len(op)
                token = Token(op, op, start, self.pos)
            else:
                raise self.fail(f"Unexpected character {ch!r}.", start)
            previous = token.kind
            yield token

    def number(self) -> Token:
        text, start = self.text, self.pos
        i = start
        while i < len(text) and text[i] in _DIGITS:
            i += 1
        is_float = False
        if text[i : i + 1] == ".":
            is_float = True
            i += 1
            while i < len(text) and text[i] in _DIGITS:
                i += 1
        if text[i : i + 1] in ("e", "E"):
            j = i + 1
            if text[j : j + 1] in ("+", "-"):
                j += 1
            if not (j < len(text) and text[j] in _DIGITS):
                raise self.fail("Invalid number.", start)
            while j < len(text) and text[j] in _DIGITS:
                j += 1
            is_float = True
            i = j
        if i < len(text) and (_is_name_part(text[i]) or text[i] == "."):
            raise self.fail("Invalid number.", start)
        raw = text[start:i]
        if len(raw) > 1 and raw[0] == "0" and raw[1] in _DIGITS:
            raise self.fail("Invalid number (octal literals are not supported).", start)
        self.pos = i
        value: int | float = float(raw) if is_float else int(raw)
        if isinstance(value, int) and abs(value) > 2**53:
            value = float(value)
        return Token("number", value, start, i)

    def string(self) -> Token:
        text, start = self.text, self.pos
        quote = text[start]
        parts: list[str] = []
        i = start + 1
        while True:
            if i >= len(text) or text[i] in "\n\r\u2028\u2029":
                raise self.fail("Unterminated string.", start)
            ch = text[i]
            if ch == quote:
                self.pos = i + 1
                return Token("string", "".join(parts), start, i + 1)
            if ch != "\\":
                parts.append(ch)
                i += 1
                continue
            esc = text[i + 1 : i + 2]
            if esc == "":
                raise self.fail("Unterminated string.", start)
            if esc in _SIMPLE_ESCAPES and not (esc == "0" and text[i + 2 : i + 3] in _DIGITS):
                parts.append(_SIMPLE_ESCAPES[esc])
                i += 2
            elif esc == "x":
                digits = text[i + 2 : i + 4]
                if len(digits) != 2 or any(c not in _HEX for c in digits):
                    raise self.fail("Invalid escape sequence.", i)
                parts.append(chr(int(digits, 16)))
                i += 4
            elif esc == "u":
                i = self.unicode_escape(i, parts)
            elif esc in "\r\n\u2028\u2029":  # a line continuation
                i += 3 if text.startswith("\r\n", i + 1) else 2
            elif esc in _DIGITS:
                raise self.fail("Invalid escape sequence.", i)
            else:
                parts.append(esc)  # identity escape: \' \" \\ \/ ...
                i += 2

    def unicode_escape(self, i: int, parts: list[str]) -> int:
        text = self.text
        if text[i + 2 : i + 3] == "{":
            close = text.find("}", i + 3)
            digits = text[i + 3 : close] if close > 0 else ""
            if not digits or any(c not in _HEX for c in digits) or int(digits, 16) > 0x10FFFF:
                raise self.fail("Invalid escape sequence.", i)
            parts.append(chr(int(digits, 16)))
            return close + 1
        digits = text[i + 2 : i + 6]
        if len(digits) != 4 or any(c not in _HEX for c in digits):
            raise self.fail("Invalid escape sequence.", i)
        code = int(digits, 16)
        if parts and 0xDC00 <= code < 0xE000 and 0xD800 <= ord(parts[-1][-1]) < 0xDC00:
            parts[-1] = chr(0x10000 + ((ord(parts[-1]) - 0xD800) << 10) + (code - 0xDC00))
        else:
            parts.append(chr(code))
        return i + 6

    def name(self) -> Token:
        text, start = self.text, self.pos
        i = start + 1
        while i < len(text) and _is_name_part(text[i]):
            i += 1
        self.pos = i
        word = text[start:i]
        if word in LITERAL_WORDS:
            return Token("literal", LITERAL_WORDS[word], start, i)
        return Token("name", word, start, i)

    def regex(self) -> Token:
        text, start = self.text, self.pos
        i = start + 1
        in_class = False
        while True:
            if i >= len(text) or text[i] in "\n\r\u2028\u2029":
                raise self.fail("Unterminated regular expression.", start)
            ch = text[i]
            if ch == "\\":
                if i + 1 >= len(text) or text[i + 1] in "\n\r\u2028\u2029":
                    raise self.fail("Unterminated regular expression.", start)
                i += 2
                continue
            if ch == "[":
                in_class = True
            elif ch == "]":
                in_class = False
            elif ch == "/" and not in_class:
                break
            i += 1
        pattern = text[start + 1 : i]
        i += 1
        flags_start = i
        while i < len(text) and _is_name_part(text[i]):
            i += 1
        self.pos = i
        return Token("regex", (pattern, text[flags_start:i]), start, i)

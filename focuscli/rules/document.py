"""The rules document: parse uploaded rules source once, check its structure, remember positions."""

from __future__ import annotations

import bisect
import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NoReturn

from focuscli.server.tree import is_valid_key

RuleKey = tuple[str, ...]  # keys inside "rules" down to a rule node, optionally + a dot-key
RULE_KEYS = (".read", ".write", ".validate")
INDEX_ON = ".indexOn"

# Texts: the first two are the emulator's own (rtdb-rest.md §8.2); the rest are ours.
PARSE_ERROR = "Parse error."
BAD_KEY = 'Key names can\'t contain ".", "#", "$", "/", "[", or "]" (unbound names start with "$")'
NOT_AN_OBJECT = "The rules document must be a JSON object."
NO_RULES = 'The rules document must have a "rules" member.'
EXTRA_MEMBER = 'Unexpected key "{key}"; the rules document may only contain "rules".'
NOT_A_NODE = "Expected an object of rules."
BAD_RULE_VALUE = '"{key}" must be a boolean or a string.'
BAD_INDEX_ON = '".indexOn" must be a string or an array of strings.'
TWO_WILDCARDS = 'Only one wildcard is allowed at one location; found "{first}" and "{second}".'
WILDCARD_REUSED = 'Wildcard "{key}" is already used at a parent location.'
TOO_DEEP = "The rules document is nested too deeply."

OPEN_RULES_SOURCE = '{\n    "rules": {\n        ".read": true,\n        ".write": true\n    }\n}'
"""What the emulator shows for a namespace whose rules were never set (its 4-space layout)."""

_MAX_NESTING = 200
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_CHUNK = re.compile(r'[^"\\]*')
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class RulesError(ValueError):
    """The document cannot be loaded; ``str(err)`` is ``"<line>:<column>: <message>"`` (1-based)."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(f"{line}:{column}: {message}")
        self.line = line
        self.column = column
        self.message = message


class _Lines:
    """Offset -> (line, column) for one source text; only ``\\n`` ends a line."""

    def __init__(self, source: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", source)]

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1

    def error(self, offset: int, message: str) -> RulesError:
        return RulesError(*self.position(offset), message)


@dataclass(frozen=True)
class RulesDocument:
    """One successfully parsed rules upload."""

    source: str  # verbatim as uploaded (comments kept)
    rules: dict[str, Any]  # the parsed "rules" member (plain JSON values)
    # RuleKey -> (line, column) of the value: for `path + (dot-key,)` the rule's value token
    # (a string's opening quote), for a bare `path` the rule node's "{".
    positions: Mapping[RuleKey, tuple[int, int]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _offsets: Mapping[RuleKey, int] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def parse(cls, source: str) -> RulesDocument:
        """Parse and check rules source text (JSON, comments and raw line breaks in strings
        allowed). Expressions are not looked at. Raises RulesError."""
        lines = _Lines(source)
        top = _Parser(source, lines).document()
        checker = _Checker(lines)
        rules = checker.document(top)
        positions = {key: lines.position(off) for key, off in checker.offsets.items()}
        offsets = MappingProxyType(checker.offsets)
        return cls(source, rules, MappingProxyType(positions), offsets)

    def strict_json(self) -> dict[str, Any]:
        """``{"rules": {...}}`` without comments (``GET /.settings/rules.json?format=strict``)."""
        return {"rules": copy.deepcopy(self.rules)}

    def expression_position(self, key: RuleKey, index: int = 0) -> tuple[int, int]:
        """(line, column) in the source of character ``index`` of the string rule at ``key``
        (escapes and line breaks inside the literal accounted for). For a boolean rule value, the
        value's own position. Raises KeyError for an unknown key."""
        offset = self._offsets[key]
        src, lines = self.source, _Lines(self.source)
        if not src.startswith('"', offset):
            return lines.position(offset)
        i = offset + 1
        for _ in range(max(index, 0)):
            if src[i] == '"':
                break
            if src[i] != "\\":
                i += 1
            elif src[i + 1] != "u":
                i += 2
            elif _is_pair(src[i : i + 12]):
                i += 12  # an escaped surrogate pair decodes to one character
            else:
                i += 6
        return lines.position(i)


def _is_pair(text: str) -> bool:
    """``text`` is an escaped UTF-16 surrogate pair such as ``\\ud83d\\ude00``."""
    if len(text) < 12 or text[6:8] != "\\u" or not _HEX4.fullmatch(text, 8):
        return False
    return 0xD800 <= int(text[2:6], 16) < 0xDC00 <= int(text[8:12], 16) < 0xE000


@dataclass(slots=True)
class _Tok:
    """A parsed JSON value with its source offset; objects keep their members in source order."""

    offset: int
    value: Any
    members: list[tuple[str, int, _Tok]] | None = None  # objects: (key, key offset, value)
    items: list[_Tok] | None = None  # arrays


class _Parser:
    """JSON plus ``//`` and ``/* */`` comments and raw control characters inside strings."""

    def __init__(self, source: str, lines: _Lines) -> None:
        self.src = source
        self.i = 0
        self.lines = lines
        self.nesting = 0

    def fail(self, offset: int | None = None, message: str = PARSE_ERROR) -> NoReturn:
        raise self.lines.error(self.i if offset is None else offset, message)

    def document(self) -> _Tok:
        if self.src.startswith("\ufeff"):
            self.i = 1
        tok = self.value()
        self.skip()
        if self.i < len(self.src):
            self.fail()
        return tok

    def skip(self) -> None:
        src, n = self.src, len(self.src)
        while self.i < n:
            ch = src[self.i]
            if ch in " \t\r\n":
                self.i += 1
            elif src.startswith("//", self.i):
                end = src.find("\n", self.i)
                self.i = n if end < 0 else end + 1
            elif src.startswith("/*", self.i):
                end = src.find("*/", self.i + 2)
                if end < 0:
                    self.fail()  # an unterminated comment: point at its start
                self.i = end + 2
            else:
                return

    def value(self) -> _Tok:
        self.skip()
        src, start = self.src, self.i
        ch = src[start : start + 1]
        if ch in ("{", "["):
            self.nesting += 1
            if self.nesting > _MAX_NESTING:
                self.fail(start, TOO_DEEP)
            tok = self.object() if ch == "{" else self.array()
            self.nesting -= 1
            return tok
        if ch == '"':
            return _Tok(start, self.string())
        for word, literal in (("true", True), ("false", False), ("null", None)):
            if src.startswith(word, start):
                self.i += len(word)
                return _Tok(start, literal)
        match = _NUMBER.match(src, start)
        if match is None:
            self.fail()
        self.i = match.end()
        text = match.group()
        number = float(text) if any(c in text for c in ".eE") else int(text)
        return _Tok(start, number)

    def expect(self, ch: str) -> bool:
        """Skip blanks; consume ``ch`` when it comes next."""
        self.skip()
        if self.src.startswith(ch, self.i):
            self.i += 1
            return True
        return False

    def object(self) -> _Tok:
        members: list[tuple[str, int, _Tok]] = []
        value: dict[str, Any] = {}
        tok = _Tok(self.i, value, members=members)
        self.i += 1
        if self.expect("}"):
            return tok
        while True:
            self.skip()
            if not self.src.startswith('"', self.i):
                self.fail()
            key_offset = self.i
            key = self.string()
            if not self.expect(":"):
                self.fail()
            child = self.value()
            members.append((key, key_offset, child))
            value.pop(key, None)  # a repeated key: the last one wins, as in JSON.parse
            value[key] = child.value
            if self.expect("}"):
                return tok
            if not self.expect(","):
                self.fail()

    def array(self) -> _Tok:
        tok = _Tok(self.i, [], items=[])
        self.i += 1
        if self.expect("]"):
            return tok
        while True:
            item = self.value()
            assert tok.items is not None
            tok.items.append(item)
            tok.value.append(item.value)
            if self.expect("]"):
                return tok
            if not self.expect(","):
                self.fail()

    def string(self) -> str:
        src, start = self.src, self.i
        parts: list[str] = []
        i = start + 1
        while True:
            chunk = _CHUNK.match(src, i)
            assert chunk is not None
            parts.append(chunk.group())
            i = chunk.end()
            if i >= len(src):
                self.fail(start)  # unterminated: point at the opening quote
            if src[i] == '"':
                self.i = i + 1
                text = "".join(parts)
                if any("\ud800" <= c <= "\udfff" for c in text):  # join escaped surrogate pairs
                    raw = text.encode("utf-16-le", "surrogatepass")
                    text = raw.decode("utf-16-le", "surrogatepass")
                return text
            esc = src[i + 1 : i + 2]
            if esc in _ESCAPES:
                parts.append(_ESCAPES[esc])
                i += 2
            elif esc == "u" and _HEX4.fullmatch(src, i + 2, i + 6):
                parts.append(chr(int(src[i + 2 : i + 6], 16)))
                i += 6
            else:
                self.fail(i)


class _Checker:
    """Checks the document's shape and records the offset of every rule node and rule value."""

    def __init__(self, lines: _Lines) -> None:
        self.lines = lines
        self.offsets: dict[RuleKey, int] = {}

    def fail(self, offset: int, message: str) -> NoReturn:
        raise self.lines.error(offset, message)

    def document(self, top: _Tok) -> dict[str, Any]:
        if top.members is None:
            self.fail(top.offset, NOT_AN_OBJECT)
        rules: _Tok | None = None
        for key, key_offset, child in top.members:
            if key != "rules":
                self.fail(key_offset, EXTRA_MEMBER.format(key=key))
            rules = child
        if rules is None:
            self.fail(top.offset, NO_RULES)
        self.node(rules, (), frozenset())
        result: dict[str, Any] = rules.value
        return result

    def node(self, tok: _Tok, path: RuleKey, bound: frozenset[str]) -> None:
        if tok.members is None:
            self.fail(tok.offset, NOT_A_NODE)
        self.offsets[path] = tok.offset
        wildcard: str | None = None
        seen: set[str] = set()
        for key, key_offset, child in tok.members:
            if key in seen:  # a repeated key replaces the earlier one: forget its positions
                here = path + (key,)
                for stale in [k for k in self.offsets if k[: len(here)] == here]:
                    del self.offsets[stale]
            seen.add(key)
            if key in RULE_KEYS:
                if not isinstance(child.value, (bool, str)):
                    self.fail(child.offset, BAD_RULE_VALUE.format(key=key))
                self.offsets[path + (key,)] = child.offset
            elif key == INDEX_ON:
                self.index_on(child)
                self.offsets[path + (key,)] = child.offset
            elif key.startswith("$"):
                if not is_valid_key(key[1:]):
                    self.fail(key_offset, BAD_KEY)
                if key in bound:
                    self.fail(key_offset, WILDCARD_REUSED.format(key=key))
                if wildcard is not None and wildcard != key:
                    self.fail(key_offset, TWO_WILDCARDS.format(first=wildcard, second=key))
                wildcard = key
                self.node(child, path + (key,), bound | {key})
            elif is_valid_key(key):
                self.node(child, path + (key,), bound)
            else:  # including unknown dot-keys, which the emulator's key check also refuses
                self.fail(key_offset, BAD_KEY)

    def index_on(self, tok: _Tok) -> None:
        if isinstance(tok.value, str):
            return
        if tok.items is None:
            self.fail(tok.offset, BAD_INDEX_ON)
        for item in tok.items:
            if not isinstance(item.value, str):
                self.fail(item.offset, BAD_INDEX_ON)


OPEN_RULES = RulesDocument.parse(OPEN_RULES_SOURCE)

"""JSON for big documents, in small steps: a thread parsing or encoding one lets the loop run.

The json module's C parser and encoder hold the GIL for a whole document (half a second for
20 MB, seconds for 256 MB), so a worker thread using them stalls the event loop as much as
doing the work on it. Here the parser walks containers in Python (strings and numbers are
still scanned in C, one at a time) and the encoder is the json module's Python one, so the
interpreter can switch threads between any two values. The parser also counts values and
nesting as it goes, so a body that would unfold into too many objects is refused before it
does. Stdlib only.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_BATCH = 4096  # encoded pieces joined at a time
# The json module's string scanner (in C where built): (text, index after the quote, strict).
_scanstring: Callable[[str, int, bool], tuple[str, int]] = getattr(json.decoder, "scanstring")  # noqa: B009


class JsonError(ValueError):
    """Not JSON (the message says where)."""


class TooManyValues(ValueError):
    """The document holds more values than the caller allows."""


class TooDeep(ValueError):
    """The document nests deeper than the caller allows."""


def parse(text: str, *, max_values: int | None = None, max_depth: int = 64) -> Any:
    """``json.loads(text)`` (no NaN/Infinity), in Python steps, counting values as it goes.

    Raises JsonError, TooManyValues (more than ``max_values`` values: every string, number,
    literal, object and array counts one) or TooDeep (containers nested past ``max_depth``).
    """
    count = 0
    limit = max_values if max_values is not None else -1
    end_of_text = len(text)
    whitespace = JSON_WHITESPACE.match
    number = _NUMBER.match
    scanstring = _scanstring

    def skip(i: int) -> int:
        """The index of the first non-whitespace character at or after ``i``."""
        if text[i : i + 1] in (" ", "\t", "\n", "\r"):
            found = whitespace(text, i)
            return found.end() if found is not None else i
        return i
    keys: dict[str, str] = {}  # one object per distinct key, as the json module does

    def value(i: int, depth: int) -> tuple[Any, int]:
        nonlocal count
        count += 1
        if count == limit + 1:
            raise TooManyValues(f"more than {max_values} values")
        char = text[i : i + 1]
        if char == '"':
            return scanstring(text, i + 1, True)
        if char == "{":
            if depth >= max_depth:
                raise TooDeep(f"nested deeper than {max_depth} levels")
            return members(i + 1, depth + 1)
        if char == "[":
            if depth >= max_depth:
                raise TooDeep(f"nested deeper than {max_depth} levels")
            return elements(i + 1, depth + 1)
        if char == "n" and text.startswith("null", i):
            return None, i + 4
        if char == "t" and text.startswith("true", i):
            return True, i + 4
        if char == "f" and text.startswith("false", i):
            return False, i + 5
        match = number(text, i)
        if match is None:
            raise JsonError(f"expecting a value at character {i}")
        integer, fraction, exponent = match.groups()
        if fraction or exponent:
            result: Any = float(integer + (fraction or "") + (exponent or ""))
        else:
            result = int(integer)
        return result, match.end()

    def members(i: int, depth: int) -> tuple[dict[str, Any], int]:
        obj: dict[str, Any] = {}
        i = skip(i)
        if text[i : i + 1] == "}":
            return obj, i + 1
        while True:
            if text[i : i + 1] != '"':
                raise JsonError(f"expecting a property name at character {i}")
            key, i = scanstring(text, i + 1, True)
            key = keys.setdefault(key, key)
            i = skip(i)
            if text[i : i + 1] != ":":
                raise JsonError(f"expecting ':' at character {i}")
            item, i = value(skip(i + 1), depth)
            obj[key] = item
            i = skip(i)
            char = text[i : i + 1]
            if char == ",":
                i = skip(i + 1)
            elif char == "}":
                return obj, i + 1
            else:
                raise JsonError(f"expecting ',' or '}}' at character {i}")

    def elements(i: int, depth: int) -> tuple[list[Any], int]:
        items: list[Any] = []
        i = skip(i)
        if text[i : i + 1] == "]":
            return items, i + 1
        while True:
            item, i = value(i, depth)
            items.append(item)
            i = skip(i)
            char = text[i : i + 1]
            if char == ",":
                i = skip(i + 1)
            elif char == "]":
                return items, i + 1
            else:
                raise JsonError(f"expecting ',' or ']' at character {i}")

    try:
        result, end = value(skip(0), 0)
    except ValueError as err:  # scanstring's errors (bad escapes, control characters, ...) too
        if isinstance(err, (TooManyValues, TooDeep, JsonError)):
            raise
        raise JsonError(str(err)) from None
    end = skip(end)
    if end != end_of_text:
        raise JsonError(f"extra data at character {end}")
    return result


def decode_utf8(data: bytes, step: int = 1 << 20) -> str:
    """``data.decode("utf-8")`` a megabyte at a time (raises UnicodeDecodeError)."""
    if len(data) <= step:
        return data.decode("utf-8")
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    parts = [decoder.decode(view[i : i + step]) for i in range(0, len(data), step)]
    parts.append(decoder.decode(b"", final=True))
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# encoding

_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_STRICT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


_SMALL = 256  # values in a container at most this many: encoded in one go, by the C encoder


def pieces(value: Any, *, strict: bool = False) -> Iterator[str]:
    """Compact JSON text of ``value`` (as ``json.dumps(value, separators=(",", ":"),
    ensure_ascii=False)`` writes it) in pieces. Containers are walked in Python; a member
    holding few values is encoded in one go by the json module's C encoder (which holds the
    GIL only that long), anything bigger by the walk."""
    encoder = _STRICT if strict else _COMPACT
    batch: list[str] = []
    for piece in _walk(value, encoder):
        batch.append(piece)
        if len(batch) >= _BATCH:
            yield "".join(batch)
            batch.clear()
    if batch:
        yield "".join(batch)


def _walk(value: Any, encoder: json.JSONEncoder) -> Iterator[str]:
    kind = type(value)
    if kind is dict and value and all(type(key) is str for key in value):
        sep = "{"
        for key, child in value.items():
            yield sep
            yield encoder.encode(key)
            yield ":"
            yield from _member(child, encoder)
            sep = ","
        yield "}"
    elif kind is list and value:
        sep = "["
        for child in value:
            yield sep
            yield from _member(child, encoder)
            sep = ","
        yield "]"
    elif kind is dict or kind is list:
        yield from encoder.iterencode(value)  # other keys: as the json module writes them
    else:
        yield encoder.encode(value)


def _member(child: Any, encoder: json.JSONEncoder) -> Iterator[str]:
    if type(child) not in (dict, list) or _values_at_most(child, _SMALL):
        yield encoder.encode(child)
    else:
        yield from _walk(child, encoder)


def _values_at_most(value: Any, limit: int) -> bool:
    """Whether ``value`` holds at most ``limit`` values (counting stops past it)."""
    count = 0
    stack = [value]
    while stack:
        item = stack.pop()
        count += 1
        if count > limit:
            return False
        kind = type(item)
        if kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
    return True


def encode(value: Any, errors: str = "backslashreplace", *, strict: bool = False) -> bytes:
    """``pieces`` as UTF-8 bytes (``errors`` handles lone surrogates)."""
    out = bytearray()
    for text in pieces(value, strict=strict):
        out += text.encode("utf-8", errors)
    return bytes(out)


def sha1(value: Any) -> bytes:
    """SHA-1 of the UTF-8 (surrogates passed) compact JSON of ``value``, without building it."""
    digest = hashlib.sha1()
    for text in pieces(value):
        digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.digest()

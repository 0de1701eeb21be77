"""Text from the database made inert for a terminal: controls, escapes and bidi overrides shown as \\u escapes."""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: `focus status --format` imports this, and typing costs ~3 ms
if TYPE_CHECKING:
    from typing import Any


def text(value: object) -> str:
    """``value`` as text that cannot drive a terminal: every character that is not printable
    (C0 and C1 controls such as ESC, NUL, BEL and CSI, DEL, bidi overrides and isolates and the
    other format characters, line and paragraph separators, lone surrogates, unassigned code
    points) becomes a visible ``\\u001b``-style escape; printable text and spaces (U+00A0, U+3000,
    ...) are kept. ``ESC ] 0;title BEL`` reads ``\\u001b]0;title\\u0007``: its words are still
    there to see, but no terminal acts on them."""
    s = value if isinstance(value, str) else str(value)
    if s.isprintable():
        return s  # the common case, at C speed
    import unicodedata  # the slow path only: prompts import this module

    return "".join(
        c if c.isprintable() or unicodedata.category(c) == "Zs" else _escaped(c) for c in s
    )


def refused(value: str) -> bool:
    """Whether focus's rules refuse ``value`` as a name or label: it holds a C0 control (tab
    and newlines too), DEL, a C1 control, or a bidi override or isolate (U+202A-202E,
    U+2066-2069); clients check it before writing, so that the refusal is theirs to explain."""
    return any(
        o < 0x20 or 0x7F <= o <= 0x9F or 0x202A <= o <= 0x202E or 0x2066 <= o <= 0x2069
        for o in map(ord, value)
    )


def _escaped(c: str) -> str:
    code = ord(c)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def value(data: Any) -> Any:
    """A JSON value with `text` applied to every string in it, object keys included; numbers,
    booleans and null as they are. The same object when nothing needed it."""
    if isinstance(data, (dict, list)) and _clean(data):
        return data
    return _value(data)


def _clean(data: dict[Any, Any] | list[Any]) -> bool:
    """Whether no text in ``data`` needs `text`, found at C speed (a report reads tens of
    thousands of records): JSON writes a control character as an escape (so no backslash may
    appear) and a bidi override or C1 control as itself (so the whole must be printable)."""
    import json

    try:
        encoded = json.dumps(data, ensure_ascii=False, check_circular=False)
    except (TypeError, ValueError, RecursionError):
        return False
    return "\\" not in encoded and encoded.isprintable()


def _value(data: Any) -> Any:
    if isinstance(data, str):
        return data if data.isprintable() else text(data)
    if isinstance(data, dict):
        out = {text(k) if isinstance(k, str) else k: _value(v) for k, v in data.items()}
        return data if _same(out, data) else out
    if isinstance(data, list):
        items = [_value(v) for v in data]
        return data if all(a is b for a, b in zip(items, data, strict=True)) else items
    return data


def _same(out: dict[Any, Any], data: dict[Any, Any]) -> bool:
    return len(out) == len(data) and all(k in data and out[k] is data[k] for k in out)

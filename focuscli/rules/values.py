"""JavaScript value semantics for rules: number text, UTF-16 strings, ==, arithmetic, order.

Runtime values are plain Python: None, bool, int/float (JavaScript doubles), str, the dicts and
lists of the auth JSON, Snapshot, Children (what ``val()`` gives for a node with children) and
Query (the ``query`` variable, a dict). The operators check their operands' runtime kinds: a
mismatch raises EvalError, and the rule as a whole counts as false (rules.md §11).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .errors import EvalError
from .snapshot import Children, Snapshot

_MAX_SAFE = 2**53
NAN = float("nan")


def number_text(x: int | float) -> str:
    """JavaScript's ``String(number)``: the shortest round-trip text, in its own format."""
    if type(x) is int:
        if -(10**21) < x < 10**21:
            return str(x)
        x = float(x)
    if x != x:
        return "NaN"
    if x in (math.inf, -math.inf):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    point = len(whole) + int(exp or 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    e = point - 1
    tail = "." + digits[1:] if k > 1 else ""
    return f"{sign}{digits[0]}{tail}e{'+' if e >= 0 else '-'}{abs(e)}"


def string_length(s: str) -> int:
    """Length in UTF-16 code units, as JavaScript counts (rules.md §19 item 11)."""
    if s.isascii():
        return len(s)
    return len(s) + sum(1 for ch in s if ord(ch) > 0xFFFF)


def _utf16(s: str) -> bytes:
    return s.encode("utf-16-be", "surrogatepass")


def _num(x: int | float) -> int | float:
    """Keep exact ints while JavaScript would too; beyond 2**53 become a double."""
    if type(x) is int and not -_MAX_SAFE <= x <= _MAX_SAFE:
        return float(x)
    return x


def is_number(v: Any) -> bool:
    t = type(v)
    return t is int or t is float


def equal(a: Any, b: Any) -> bool:
    """``==``/``===``: same type and same value, never a coercion (rules.md §5.1)."""
    ta, tb = type(a), type(b)
    if ta is tb:
        if ta is dict or ta is list or ta is Children or ta is Snapshot:
            return a is b
        return bool(a == b)
    return (ta is int or ta is float) and (tb is int or tb is float) and a == b


def kind_of(v: Any) -> str:
    if v is None:
        return "null"
    if type(v) is bool:
        return "boolean"
    if is_number(v):
        return "number"
    if type(v) is str:
        return "string"
    return "object"


def need_number(v: Any, op: str) -> int | float:
    if type(v) is int or type(v) is float:
        return v
    raise EvalError(f"'{op}' needs a number, not {kind_of(v)}")


def need_string(v: Any, what: str) -> str:
    if type(v) is str:
        return v
    raise EvalError(f"{what} needs a string, not {kind_of(v)}")


def need_bool(v: Any, what: str) -> bool:
    if type(v) is bool:
        return v
    raise EvalError(f"{what} needs a boolean, not {kind_of(v)}")


def add(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is str:
        if tb is str:
            return a + b
        if tb is int or tb is float:
            return a + number_text(b)
    elif ta is int or ta is float:
        if tb is int or tb is float:
            return _num(a + b)
        if tb is str:
            return number_text(a) + b
    raise EvalError(f"'+' cannot join {kind_of(a)} and {kind_of(b)}")


def subtract(a: Any, b: Any) -> Any:
    return _num(need_number(a, "-") - need_number(b, "-"))


def multiply(a: Any, b: Any) -> Any:
    return _num(need_number(a, "*") * need_number(b, "*"))


def divide(a: Any, b: Any) -> Any:
    x, y = need_number(a, "/"), need_number(b, "/")
    if y == 0:
        return NAN  # not Infinity (rules.md §5.3)
    return x / y


def remainder(a: Any, b: Any) -> Any:
    x, y = need_number(a, "%"), need_number(b, "%")
    if y == 0 or x != x or y != y or x in (math.inf, -math.inf):
        return NAN
    if y in (math.inf, -math.inf):
        return x
    if type(x) is int and type(y) is int:
        r = abs(x) % abs(y)
        return -r if x < 0 else r
    return math.fmod(x, y)


def negate(a: Any) -> Any:
    return -need_number(a, "-")


def _ordered(a: Any, b: Any, op: str) -> tuple[Any, Any]:
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return a, b
    if ta is str and tb is str:
        if a.isascii() and b.isascii():
            return a, b
        return _utf16(a), _utf16(b)  # code unit order (rules.md §19 item 3)
    raise EvalError(f"'{op}' cannot compare {kind_of(a)} with {kind_of(b)}")


def less(a: Any, b: Any) -> bool:
    x, y = _ordered(a, b, "<")
    return bool(x < y)


def less_equal(a: Any, b: Any) -> bool:
    x, y = _ordered(a, b, "<=")
    return bool(x <= y)


def greater(a: Any, b: Any) -> bool:
    x, y = _ordered(a, b, ">")
    return bool(x > y)


def greater_equal(a: Any, b: Any) -> bool:
    x, y = _ordered(a, b, ">=")
    return bool(x >= y)


BINARY_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": add, "-": subtract, "*": multiply, "/": divide, "%": remainder,
    "<": less, "<=": less_equal, ">": greater, ">=": greater_equal,
}  # fmt: skip


def get_member(obj: Any, key: Any) -> Any:
    """``obj.key``/``obj[key]`` on a JSON value from ``auth`` (rules.md §5.5)."""
    if obj is None:
        if key == "length":
            raise EvalError("null has no length")
        return None
    t = type(obj)
    if t is dict:
        if type(key) is str:
            return obj.get(key)
        if is_number(key):
            return obj.get(number_text(key))
        raise EvalError(f"a member name must be a string, not {kind_of(key)}")
    if t is str and key == "length":
        return string_length(obj)
    if t is list:
        if key == "length":
            return len(obj)
        if is_number(key) or type(key) is str:
            text = number_text(key) if is_number(key) else key
            if text.isascii() and text.isdigit() and int(text) < len(obj):
                return obj[int(text)]
            return None
    raise EvalError(f"cannot read member {key!r} of {kind_of(obj)}")

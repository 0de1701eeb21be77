"""The node hash the Firebase SDKs compute for a transaction's compare-and-set (``h``).

A transaction sends its new value with ``h``, the hash of the value it last saw; the write
goes through only if the stored node hashes alike (rtdb-websocket.md §5). The hash is SHA-1,
Base64, over a typed text of the node: leaves as ``<type>:<value>``, numbers as 16 hex digits
of a double, inner nodes as ``:<key>:<child hash>`` for each child in priority order, each
prefixed by ``priority:<priority text>:`` when the node has a priority; absent data hashes to
the empty string.

The JavaScript SDK derives a double's bits with logarithms, which for a few rare values
differs from the true IEEE-754 bits the Java SDK uses; ``hashes`` gives both so a server can
accept either client. Stdlib only.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from collections.abc import Callable

from focuscli.server import tree
from focuscli.server.tree import Node

_BIAS = 1023
_FRACTION_BITS = 52
_LN2 = math.log(2)
_INF = float("inf")


def _js_round(x: float) -> float:
    """JavaScript's Math.round: to the nearest integer, halves towards +infinity."""
    if math.isinf(x) or math.isnan(x):
        return x
    low = math.floor(x)
    return low + 1 if x - low >= 0.5 else low


def _pow2(exponent: int) -> float:
    try:
        return math.ldexp(1.0, exponent)
    except OverflowError:
        return _INF


def js_double_hex(value: float) -> str:
    """The JS SDK's ``doubleToIEEE754String``: the same steps, the same rounding quirks."""
    v = float(value)
    if v == 0:
        sign, exponent, fraction = (1 if math.copysign(1.0, v) < 0 else 0), 0.0, 0.0
    else:
        sign = 1 if v < 0 else 0
        v = abs(v)
        if v >= _pow2(1 - _BIAS):
            ln = min(math.floor(math.log(v) / _LN2), _BIAS)
            exponent = float(ln + _BIAS)
            scaled = v * _pow2(_FRACTION_BITS - ln)
            fraction = _js_round(scaled - _pow2(_FRACTION_BITS))
        else:
            exponent = 0.0
            fraction = _js_round(v / _pow2(1 - _BIAS - _FRACTION_BITS))
    bits: list[int] = []
    for _ in range(_FRACTION_BITS):
        bits.append(1 if _js_mod2(fraction) else 0)
        fraction = _js_floor_half(fraction)
    for _ in range(11):
        bits.append(1 if _js_mod2(exponent) else 0)
        exponent = _js_floor_half(exponent)
    bits.append(sign)
    bits.reverse()
    number = 0
    for bit in bits:
        number = (number << 1) | bit
    return f"{number:016x}"


def _js_mod2(x: float) -> bool:
    """Truthiness of JavaScript's ``x % 2`` (NaN for infinities: false)."""
    if math.isinf(x) or math.isnan(x):
        return False
    return math.fmod(x, 2.0) != 0


def _js_floor_half(x: float) -> float:
    if math.isinf(x) or math.isnan(x):
        return x
    return float(math.floor(x / 2))


def ieee_double_hex(value: float) -> str:
    """The true IEEE-754 bits of a double, as the Java SDK hashes numbers."""
    return struct.pack(">d", float(value)).hex()


def _sha1(text: str) -> str:
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()
    return base64.b64encode(digest).decode("ascii")


def _priority_order(item: tuple[str, Node]) -> tuple[object, ...]:
    """Children sort by priority (none, then numbers, then strings), ties by key order."""
    key, child = item
    prio = tree.priority(child)
    if prio is None:
        rank: tuple[object, ...] = (0,)
    elif type(prio) is str:
        rank = (2, prio.encode("utf-16-be", "surrogatepass"))
    else:
        rank = (1, prio)
    return (rank, tree.key_order(key))


def _hasher(number: Callable[[float], str]) -> Callable[[Node], str]:
    def priority_text(prio: object) -> str:
        if type(prio) is str:
            return "string:" + prio
        return "number:" + number(prio)  # type: ignore[arg-type]

    def node_hash(node: Node) -> str:
        if node is None:
            return ""
        prio = tree.priority(node)
        head = "" if prio is None else "priority:" + priority_text(prio) + ":"
        if not tree.has_children(node):
            leaf = tree.leaf_value(node)
            if type(leaf) is bool:
                body = "boolean:" + ("true" if leaf else "false")
            elif type(leaf) in (int, float):
                body = "number:" + number(leaf)
            else:
                body = "string:" + leaf
            return _sha1(head + body)
        parts = [head]
        for key, child in sorted(tree.children(node), key=_priority_order):
            child_hash = node_hash(child)
            if child_hash:
                parts.append(":" + key + ":" + child_hash)
        text = "".join(parts)
        return _sha1(text) if text else ""

    return node_hash


js_hash = _hasher(js_double_hex)
"""The hash the JavaScript SDK computes for a stored node."""

ieee_hash = _hasher(ieee_double_hex)
"""The hash the Java SDK computes for a stored node."""


def matches(node: Node, client_hash: str) -> bool:
    """True when ``client_hash`` is the hash of ``node`` as either SDK computes it."""
    if js_hash(node) == client_hash:
        return True
    return ieee_hash(node) == client_hash

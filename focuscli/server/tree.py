"""The database tree: immutable JSON nodes, paths and keys, normalisation, rendering and ETags.

Representation (the "stored form", which is also the export format):

* absent: ``None``
* a leaf: ``str``, ``int``, ``float`` or ``bool``
* a leaf with a priority: ``{".value": leaf, ".priority": p}``
* an inner node: a non-empty ``dict`` of child key -> node, plus an optional ``".priority"``

Nodes are never mutated once they are part of a committed tree; every write path-copies
(``set_at``), so an old root stays a valid snapshot forever and "did this subtree change"
is usually an identity test. Stdlib only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeAlias

Node: TypeAlias = Any  # None | str | int | float | bool | dict[str, Node]
Path: TypeAlias = tuple[str, ...]

MAX_DEPTH = 32
MAX_KEY_BYTES = 768
MAX_STRING_BYTES = 10 * 1024 * 1024
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
PRIORITY = ".priority"
VALUE = ".value"
SV = ".sv"
_INF = float("inf")
_DOUBLE_INT64_MIN = -(2.0**63)
_DOUBLE_INT64_END = 2.0**63
_DIGIT_OR_MINUS = frozenset("-0123456789")
_FORBIDDEN = frozenset(".$#[]/") | frozenset(chr(c) for c in range(0x20)) | {"\x7f"}

INVALID_JSON = "Invalid data; couldn't parse JSON object, array, or value."
INVALID_PATH = "Invalid path: Invalid token in path"
KEY_RULE = "Key value can't be empty or contain $ # [ ] / or ."


class TreeError(ValueError):
    """A request's path or data cannot be stored; ``str()`` is the client-facing text."""


class InvalidKey(TreeError):
    """A key inside a written value is not a valid key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Invalid data; key {key!r} is not allowed. {KEY_RULE}")
        self.key = key


# ---------------------------------------------------------------------------------------------
# keys and paths


def is_valid_key(key: str) -> bool:
    """True when ``key`` may name a child: non-empty, short enough, no forbidden character."""
    if not key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return False
    return not any(ch in _FORBIDDEN for ch in key)


def parse_path(segments: Iterable[str]) -> Path:
    """Validate already-decoded path segments (empty ones are skipped) into a Path."""
    path = tuple(s for s in segments if s != "")
    for seg in path:
        if not is_valid_key(seg):
            raise TreeError(INVALID_PATH)
    if len(path) > MAX_DEPTH:
        raise TreeError(INVALID_PATH)
    return path


def path_str(path: Path) -> str:
    """The slash form used on the wire: ``/`` for the root, ``/a/b`` otherwise."""
    return "/" + "/".join(path)


def first_overlap(paths: Iterable[Path]) -> tuple[Path, Path] | None:
    """The first pair (in sorted order) of ``paths`` where one is at or below the other: the
    smallest such ancestor and the smallest path at or below it; None when they are disjoint.
    Step by step in Python, not by sorting them all: a member's update can hold hundreds of
    thousands of paths, and one sort of them holds the GIL for a second (the loop stalls)."""
    seen: set[Path] = set()
    overlaps: list[tuple[Path, Path]] = []
    for path in paths:
        if path in seen:
            overlaps.append((path, path))
        seen.add(path)
    for path in seen:
        for depth in range(len(path)):
            if path[:depth] in seen:
                overlaps.append((path[:depth], path))
    if not overlaps:
        return None
    ancestor = min(pair[0] for pair in overlaps)
    return ancestor, min(pair[1] for pair in overlaps if pair[0] == ancestor)


def split_path(text: str) -> Path:
    """Inverse of ``path_str`` for stored records (no validation)."""
    return tuple(s for s in text.split("/") if s)


# Bounded: the cache keeps every key it has seen, also long after the key left the tree (each
# push id is new), about 300 bytes per key; 2**16 keys is ~20 MB, where 2**20 was ~300 MB.
@functools.lru_cache(maxsize=1 << 16)
def key_order(key: str) -> tuple[int, int, int] | tuple[int, bytes]:
    """Sort key giving Firebase key order.

    Keys that read as 32-bit signed integers come first, by value (ties: shorter string first);
    every other key follows, compared by UTF-16 code units as Java and JavaScript do.
    """
    body = key[1:] if key.startswith("-") else key
    if len(body) > 0 and body.isascii() and body.isdigit():
        digits = body.lstrip("0")
        if len(digits) <= 10:
            value = -int(body) if key.startswith("-") else int(body)
            if -(2**31) <= value <= 2**31 - 1:
                return (0, value, len(key))
    return (1, key.encode("utf-16-be", "surrogatepass"))


# ---------------------------------------------------------------------------------------------
# reading


def children(node: Node) -> Iterator[tuple[str, Node]]:
    """The (key, child) pairs of an inner node, unordered; nothing for leaves and None."""
    if type(node) is dict and VALUE not in node:
        for key, child in node.items():
            if key != PRIORITY:
                yield key, child


def has_children(node: Node) -> bool:
    return type(node) is dict and VALUE not in node and len(node) > (PRIORITY in node)


def priority(node: Node) -> str | int | float | None:
    if type(node) is dict:
        return node.get(PRIORITY)
    return None


def leaf_value(node: Node) -> Node:
    """The primitive of a leaf (unwrapping ``.value``); inner nodes and None come back as is."""
    if type(node) is dict and VALUE in node:
        return node[VALUE]
    return node


def get(node: Node, path: Path) -> Node:
    """The node at ``path`` below ``node`` (None when absent or when a leaf is in the way)."""
    for seg in path:
        if type(node) is not dict:
            return None
        node = node.get(seg)
        if node is None or seg.startswith("."):
            return None
    return node


def render(node: Node) -> Any:
    """The value a normal read returns: no priorities, arrays where the array rule says so."""
    if type(node) is not dict:
        return node
    if VALUE in node:
        return node[VALUE]
    keys = [k for k in node if k != PRIORITY]
    count = len(keys)
    max_key = -1
    for key in keys:
        if not (key.isascii() and key.isdigit()) or (key[0] == "0" and key != "0"):
            break
        number = int(key)
        if number > max_key:
            max_key = number
    else:
        if max_key < 2 * count:
            out: list[Any] = [None] * (max_key + 1)
            for key in keys:
                out[int(key)] = render(node[key])
            return out
    if all(key.isascii() and key[0] not in _DIGIT_OR_MINUS for key in keys):
        keys.sort()  # no key reads as an integer, and ASCII sorts as UTF-16 does: key order
    else:
        keys.sort(key=key_order)
    rendered: dict[str, Any] = {}
    for key in keys:
        child = node[key]
        rendered[key] = render(child) if type(child) is dict else child
    return rendered


def export(node: Node) -> Any:
    """The value a ``format=export`` read returns: priorities kept, never arrays, key order."""
    if type(node) is not dict or VALUE in node:
        return node
    out: dict[str, Any] = {}
    for key in sorted((k for k in node if k != PRIORITY), key=key_order):
        out[key] = export(node[key])
    if PRIORITY in node:
        out[PRIORITY] = node[PRIORITY]
    return out


def shallow(node: Node) -> Any:
    """``shallow=true``: primitives as they are, inner nodes as ``{child: true}``."""
    if not has_children(node):
        return render(node)
    return render({key: True for key, _ in children(node)})


NULL_ETAG = "null_etag"


def etag(node: Node) -> str:
    """Opaque content hash: equal content gives an equal ETag; absent data is ``null_etag``."""
    if node is None:
        return NULL_ETAG
    canonical = json.dumps(export(node), separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha1(canonical.encode("utf-8", "surrogatepass")).digest()
    return base64.b64encode(digest).decode("ascii")


# ---------------------------------------------------------------------------------------------
# writing


def set_at(node: Node, path: Path, value: Node) -> Node:
    """A new tree equal to ``node`` with ``value`` at ``path``; emptied ancestors vanish."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if has_children(node):
        child = node.get(head)
        new_child = set_at(child, rest, value)
        if new_child is child:
            return node
        new = dict(node)
        if new_child is None:
            del new[head]
            if not has_children(new):
                return None
        else:
            new[head] = new_child
        return new
    new_child = set_at(None, rest, value)
    if new_child is None:
        return node
    new = {head: new_child}
    prio = priority(node)
    if prio is not None:
        new[PRIORITY] = prio
    return new


def set_many(node: Node, base: Path, entries: Iterable[tuple[Path, Node]]) -> Node:
    """``set_at`` for several relative paths below ``base`` (none a prefix of another) at once:
    each node on the way is copied once, however many entries land in it (one ``set_at`` per
    entry would copy a parent of n new children n times)."""
    entries = list(entries)
    if len(entries) == 1:
        return set_at(node, base + entries[0][0], entries[0][1])
    updates: dict[str, Any] = {}
    for rel, value in entries:
        level = updates
        for key in rel[:-1]:
            nested = level.get(key)
            if type(nested) is not dict:
                nested = level[key] = {}
            level = nested
        level[rel[-1]] = _Put(value)
    return set_at(node, base, _merge(get(node, base), updates))


class _Put:
    """A value to put in ``set_many``'s nested updates (a dict there is a level of keys)."""

    __slots__ = ("value",)

    def __init__(self, value: Node) -> None:
        self.value = value


def _merge(node: Node, updates: dict[str, Any]) -> Node:
    if has_children(node):
        new: dict[str, Node] | None = None
        for key, update in updates.items():
            child = node.get(key)
            value = update.value if type(update) is _Put else _merge(child, update)
            if value is child:
                continue
            if new is None:
                new = dict(node)
            if value is None:
                new.pop(key, None)
            else:
                new[key] = value
        if new is None:
            return node
        return new if has_children(new) else None
    fresh: dict[str, Node] = {}
    for key, update in updates.items():
        value = update.value if type(update) is _Put else _merge(None, update)
        if value is not None:
            fresh[key] = value
    if not fresh:
        return node
    prio = priority(node)
    if prio is not None:
        fresh[PRIORITY] = prio
    return fresh


def count_at_most(node: Node, limit: int) -> int:
    """The number of nodes in ``node`` (inner nodes and leaves), counting no further than
    ``limit + 1``: cheap to ask of a huge tree whether it is small."""
    count = 0
    stack = [node]
    while stack:
        item = stack.pop()
        if item is None:
            continue
        count += 1
        if count > limit:
            return count
        if type(item) is dict and VALUE not in item:
            stack.extend(child for key, child in item.items() if key != PRIORITY)
    return count


def depth(node: Node) -> int:
    """Levels of children below ``node`` (0 for a leaf)."""
    if not has_children(node):
        return 0
    return 1 + max(depth(child) for _, child in children(node))


ServerValue = Callable[[Path, Any], Any]


def normalize(value: Any, path: Path = (), server_value: ServerValue | None = None) -> Node:
    """Turn parsed request JSON into stored form.

    Drops nulls and empty objects, turns arrays into objects keyed "0", "1", …, checks keys,
    depth and sizes, folds ``.value``/``.priority`` and resolves ``{".sv": …}`` placeholders
    through ``server_value(path, spec)``. ``path`` is the absolute location of ``value``.
    Raises ``TreeError``.
    """
    if len(path) > MAX_DEPTH:
        raise TreeError("Invalid data; the data is nested deeper than 32 levels.")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        too_long = kind is str and len(value) > MAX_STRING_BYTES // 4
        if too_long and len(value.encode("utf-8", "surrogatepass")) > MAX_STRING_BYTES:
            raise TreeError("Invalid data; a string value is longer than 10 MB.")
        return value
    if kind is int:
        if INT64_MIN <= value <= INT64_MAX:
            return value
        try:
            return float(value)
        except OverflowError:  # past the range of a double: not a number the database can hold
            raise TreeError(INVALID_JSON) from None
    if kind is float:
        if value != value or value in (_INF, -_INF):
            raise TreeError(INVALID_JSON)
        return number(value)
    if kind is list:
        value = {str(i): v for i, v in enumerate(value)}
    elif kind is not dict:
        raise TreeError(INVALID_JSON)
    if SV in value:
        if len(value) != 1:
            raise TreeError("Invalid data; a server value object may only hold '.sv'.")
        return _server_value(path, value[SV], server_value)
    prio: Any = None
    if PRIORITY in value:
        prio = _priority(path, value[PRIORITY], server_value)
    if VALUE in value:
        if any(k not in (VALUE, PRIORITY) for k in value):
            raise TreeError("Invalid data; '.value' may only be combined with '.priority'.")
        leaf = normalize(value[VALUE], path, server_value)
        if type(leaf) is dict:
            raise TreeError("Invalid data; '.value' must hold a primitive value.")
        if leaf is None or prio is None:
            return leaf
        return {VALUE: leaf, PRIORITY: prio}
    out: dict[str, Node] = {}
    for key, child in value.items():
        if key == PRIORITY:
            continue
        if not is_valid_key(key):
            raise InvalidKey(key)
        stored = normalize(child, path + (key,), server_value)
        if stored is not None:
            out[key] = stored
    if not out:
        return None
    if prio is not None:
        out[PRIORITY] = prio
    return out


def number(value: float) -> int | float:
    """A double as the database keeps it: integral values within int64 are integers (7.0 is 7,
    -0.0 is 0), as Realtime Database serves them; the rest stay doubles."""
    if value.is_integer() and _DOUBLE_INT64_MIN <= value < _DOUBLE_INT64_END:
        return int(value)
    return value


def fold_numbers(node: Node) -> Node:
    """``node`` with every integral double (values and priorities) as an integer: for data
    stored before numbers were folded at normalisation."""
    kind = type(node)
    if kind is float:
        return number(node)
    if kind is dict:
        return {key: fold_numbers(child) for key, child in node.items()}
    return node


def _priority(path: Path, raw: Any, server_value: ServerValue | None) -> Any:
    if type(raw) is dict and set(raw) == {SV}:
        return _server_value(path + (PRIORITY,), raw[SV], server_value)
    if raw is None or type(raw) is str or (type(raw) in (int, float)):
        return normalize(raw, path, None)
    raise TreeError("Invalid data; a priority must be a string, a number or null.")


def _server_value(path: Path, spec: Any, server_value: ServerValue | None) -> Any:
    if server_value is None:
        raise TreeError("Invalid data; server values are not allowed here.")
    return server_value(path, spec)


def key_error_message(raw_body: str, key: str) -> str:
    """The production error for an invalid key, pointing at where the key starts in the body."""
    needle = json.dumps(key)
    offset = raw_body.find(needle)
    if offset < 0:
        needle = json.dumps(key, ensure_ascii=False)
        offset = raw_body.find(needle)
    offset = max(offset, 0)
    line = raw_body.count("\n", 0, offset) + 1
    column = offset - (raw_body.rfind("\n", 0, offset) + 1) + 1
    return f"Invalid data; couldn't parse key beginning at {line}:{column}. {KEY_RULE}"


def server_values(now_ms: int, root: Node) -> ServerValue:
    """Resolver for ``{".sv": …}`` placeholders at one commit: a single timestamp per request,
    increments computed against ``root`` (the tree before the write)."""

    def resolve(path: Path, spec: Any) -> Any:
        if spec == "timestamp":
            return now_ms
        if type(spec) is dict and set(spec) == {"increment"}:
            delta = spec["increment"]
            if type(delta) not in (int, float) or delta != delta or delta in (_INF, -_INF):
                raise TreeError("Invalid data; increment needs a numeric operand.")
            current: Any
            if path and path[-1] == PRIORITY:  # an increment of a priority adds to the priority
                current = priority(get(root, path[:-1]))
            else:
                current = leaf_value(get(root, path))
            if type(current) not in (int, float):
                return normalize(delta)
            try:
                total = current + delta
                if type(total) is int and not INT64_MIN <= total <= INT64_MAX:
                    total = float(current) + float(delta)
            except OverflowError:  # an int operand past the range of a double
                total = _INF
            if total in (_INF, -_INF):
                raise TreeError("Invalid data; the result of the increment is out of range.")
            return number(total) if type(total) is float else total
        raise TreeError(f"Invalid data; unknown server value {json.dumps(spec)}.")

    return resolve

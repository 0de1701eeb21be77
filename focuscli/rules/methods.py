"""The methods of snapshots and strings: arity, static result type and implementation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..server import tree
from .errors import EvalError
from .snapshot import Children, Snapshot, split_child_path
from .statictypes import BOOL, PRIM, SNAP, STR
from .values import is_number, kind_of, need_string

# -- snapshot methods ---------------------------------------------------------------------------


def snap_val(s: Snapshot) -> Any:
    node = s.node
    if type(node) is dict:
        if tree.VALUE in node:
            return node[tree.VALUE]
        return Children(node)
    return node


def snap_parent(s: Snapshot) -> Snapshot:
    if not s.path:
        raise EvalError("the root has no parent")
    path = s.path[:-1]
    return Snapshot(s.root, path, tree.get(s.root, path))


def snap_child(s: Snapshot, p: Any) -> Snapshot:
    return s.child(split_child_path(need_string(p, "child()")))


def snap_has_child(s: Snapshot, p: Any) -> bool:
    segments = split_child_path(need_string(p, "hasChild()"))
    return segments is not None and tree.get(s.node, segments) is not None


def snap_has_children(s: Snapshot) -> bool:
    return tree.has_children(s.node)


def snap_has_all(s: Snapshot, names: list[Any]) -> bool:
    node = s.node  # an empty list holds: production allows hasChildren([]) (pyric r27)
    result = True
    for name in names:
        segments = split_child_path(need_string(name, "hasChildren()"))
        if segments is None or tree.get(node, segments) is None:
            result = False  # keep checking: a later null element is still an error
    return result


def snap_exists(s: Snapshot) -> bool:
    return s.node is not None


def snap_priority(s: Snapshot) -> Any:
    return tree.priority(s.node)


def snap_is_number(s: Snapshot) -> bool:
    return is_number(tree.leaf_value(s.node))


def snap_is_string(s: Snapshot) -> bool:
    return type(tree.leaf_value(s.node)) is str


def snap_is_boolean(s: Snapshot) -> bool:
    return type(tree.leaf_value(s.node)) is bool


@dataclass(frozen=True)
class _Method:
    arity: tuple[int, ...]
    result: str
    impl: Callable[..., Any]


SNAPSHOT_METHODS: dict[str, _Method] = {
    "val": _Method((0,), PRIM, snap_val),
    "child": _Method((1,), SNAP, snap_child),
    "parent": _Method((0,), SNAP, snap_parent),
    "hasChild": _Method((1,), BOOL, snap_has_child),
    "hasChildren": _Method((0, 1), BOOL, snap_has_children),
    "exists": _Method((0,), BOOL, snap_exists),
    "getPriority": _Method((0,), PRIM, snap_priority),
    "isNumber": _Method((0,), BOOL, snap_is_number),
    "isString": _Method((0,), BOOL, snap_is_string),
    "isBoolean": _Method((0,), BOOL, snap_is_boolean),
}


# -- string methods -----------------------------------------------------------------------------


def string_receiver(v: Any, name: str) -> str:
    if type(v) is str:
        return v
    raise EvalError(f"{name}() needs a string receiver, not {kind_of(v)}")


def str_contains(s: Any, sub: Any) -> bool:
    return need_string(sub, "contains()") in string_receiver(s, "contains")


def str_begins_with(s: Any, sub: Any) -> bool:
    return string_receiver(s, "beginsWith").startswith(need_string(sub, "beginsWith()"))


def str_ends_with(s: Any, sub: Any) -> bool:
    return string_receiver(s, "endsWith").endswith(need_string(sub, "endsWith()"))


def str_replace(s: Any, old: Any, new: Any) -> str:
    # Every occurrence, taken literally (rules.md §8), unlike JavaScript's first-only replace.
    text = string_receiver(s, "replace")
    return text.replace(need_string(old, "replace()"), need_string(new, "replace()"))


def str_lower(s: Any) -> str:
    return string_receiver(s, "toLowerCase").lower()


def str_upper(s: Any) -> str:
    return string_receiver(s, "toUpperCase").upper()


STRING_METHODS: dict[str, _Method] = {
    "contains": _Method((1,), BOOL, str_contains),
    "beginsWith": _Method((1,), BOOL, str_begins_with),
    "endsWith": _Method((1,), BOOL, str_ends_with),
    "replace": _Method((2,), STR, str_replace),
    "toLowerCase": _Method((0,), STR, str_lower),
    "toUpperCase": _Method((0,), STR, str_upper),
    "matches": _Method(
        (1,), BOOL, lambda s, r: r.search(string_receiver(s, "matches")) is not None
    ),
}

"""Static types of rule expressions (rules.md §4, §10), and those of the ``query`` fields."""

from __future__ import annotations

BOOL, NUM, STR, NULL = "boolean", "number", "string", "null"
SNAP, QUERY, ANY, PRIM = "RuleDataSnapshot", "query", "any", "primitive"
REGEX, ARRAY = "regular expression", "array"

QUERY_FIELDS: dict[str, str] = {
    "orderByKey": BOOL, "orderByPriority": BOOL, "orderByValue": BOOL, "orderByChild": PRIM,
    "startAt": PRIM, "endAt": PRIM, "equalTo": PRIM, "limitToFirst": PRIM, "limitToLast": PRIM,
}  # fmt: skip

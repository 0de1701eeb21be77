"""The emulator's admin endpoints: /.settings (rules, tooling settings) and /.inspect."""

from __future__ import annotations

from typing import Any

from focuscli.rules.document import OPEN_RULES, RulesDocument, RulesError
from focuscli.server import coverage
from focuscli.server.access import compile_access
from focuscli.server.auth import Identity
from focuscli.server.store import Store
from focuscli.server.wire import (
    JSON_TYPE,
    HttpError,
    Request,
    Response,
    json_response,
    parse_body,
    text,
)

WRITE_SIZE_LIMITS = ("small", "medium", "large", "unlimited")  # tiny is not allowed as a default
# Tooling settings (firebase-tools' database:settings:*): name -> (default, check, error text).
SETTINGS: dict[str, tuple[Any, Any, str]] = {
    "defaultWriteSizeLimit": (
        "large", lambda v: v in WRITE_SIZE_LIMITS,
        "defaultWriteSizeLimit must be small, medium, large or unlimited (tiny is not allowed as a default).",
    ),
    "strictTriggerValidation": (
        True, lambda v: type(v) is bool, "strictTriggerValidation must be true or false.",
    ),
}  # fmt: skip


async def settings(
    store: Store, method: str, rest: list[str], params: dict[str, str], request: Request,
    who: Identity, name: str,
) -> Response:  # fmt: skip
    """``/.settings/rules.json`` (read and upload rules) and settings tooling sends."""
    if not who.admin:
        raise HttpError(403, "Permission denied")
    if rest == ["rules"]:
        ns = store.lookup(name)
        doc = ns.rules or OPEN_RULES
        if method == "GET":
            if params.get("format") == "strict":
                return json_response(200, doc.strict_json(), params, {})
            return Response(200, doc.source.encode("utf-8"), {"content-type": JSON_TYPE})
        if method == "PUT":
            source = text(request.body)
            try:
                doc = RulesDocument.parse(source)
                access = compile_access(doc)
            except RulesError as err:
                raise HttpError(400, f"{err}\n") from None
            await store.set_rules(ns, doc, access)
            return json_response(200, {"status": "ok"}, params, {})
        raise HttpError(405, f"Method {method} is not supported on /.settings/rules.json.")
    if len(rest) == 1 and rest[0] in SETTINGS:
        return await _setting(store, method, rest[0], params, request, name)
    if rest and rest[0] == "functionTriggers":
        # Accepted for tooling compatibility; focus serve has no Cloud Functions integration.
        return json_response(200, {"status": "ok"} if method != "GET" else None, params, {})
    raise HttpError(404, "Not found")


async def _setting(store: Store, method: str, setting: str, params: dict[str, str], request: Request,
                   name: str) -> Response:  # fmt: skip
    """A stored tooling setting: kept per namespace, durably; not enforced by focus serve."""
    default, valid, error = SETTINGS[setting]
    ns = store.lookup(name)
    if method == "GET":
        value = ns.settings.get(setting, default)
        # firebase-tools reads strictTriggerValidation as an object holding `value`
        return json_response(200, {"value": value} if type(default) is bool else value, params, {})
    if method == "PUT":
        value = parse_body(request.body)
        if type(value) is str and value.startswith('"'):  # sent JSON-encoded twice
            value = parse_body(value.encode())
        if not valid(value):
            raise HttpError(400, error)
        await store.set_setting(ns, setting, value)
        return json_response(200, value, params, {})
    raise HttpError(405, f"Method {method} is not supported on /.settings/{setting}.json.")


def inspect(store: Store, rest: list[str], name: str, who: Identity, open_inspection: bool) -> Response:
    """``/.inspect/databases.json`` (every namespace this server knows) and the rules coverage
    report of one namespace, ``/.inspect/coverage`` (HTML) and ``coverage.json``."""
    if rest == ["databases"]:
        # Reserved namespaces (".auth": the accounts) are not databases.
        names = sorted(n for n in store.namespaces if not n.startswith("."))
        return json_response(200, [{"name": n} for n in names], {}, {})
    if rest in (["coverage"], ["coverage.html"]):
        # The report shows the rules source: anyone on a loopback server (as the emulator),
        # admins only on a server teammates reach.
        if not (open_inspection or who.admin):
            raise HttpError(403, "Permission denied")
        access = store.lookup(name).access
        if rest == ["coverage"]:  # /.inspect/coverage.json
            source, rules = coverage.report(access)
            return json_response(200, {"namespace": name, "source": source, "rules": rules}, {}, {})
        page = coverage.page(name, access).encode("utf-8")
        return Response(200, page, {"content-type": "text/html; charset=utf-8", "cache-control": "no-cache"})
    raise HttpError(404, "Not found")

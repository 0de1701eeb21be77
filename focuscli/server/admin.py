"""The emulator's admin endpoints: /.settings (rules, tooling settings) and /.inspect."""

from __future__ import annotations

from focuscli.rules.document import OPEN_RULES, RulesDocument, RulesError
from focuscli.server.access import compile_access
from focuscli.server.auth import Identity
from focuscli.server.store import Store
from focuscli.server.wire import JSON_TYPE, HttpError, Request, Response, json_response, text


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
    if rest and rest[0] in ("functionTriggers", "defaultWriteSizeLimit"):
        # Accepted for tooling compatibility; focus serve has no Cloud Functions integration.
        return json_response(200, {"status": "ok"} if method != "GET" else None, params, {})
    raise HttpError(404, "Not found")


def inspect(store: Store, rest: list[str]) -> Response:
    """``/.inspect/databases.json``: every namespace this server knows."""
    if rest == ["databases"]:
        # Reserved namespaces (".auth": the accounts) are not databases.
        names = sorted(n for n in store.namespaces if not n.startswith("."))
        return json_response(200, [{"name": n} for n in names], {}, {})
    raise HttpError(404, "Not found")

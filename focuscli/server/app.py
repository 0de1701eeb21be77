"""The protocol core: one HTTP request value in, one response (or an opened stream) out; no sockets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from focuscli.server import admin, tree
from focuscli.server.auth import AuthError, Identities, Identity
from focuscli.server.change import Change
from focuscli.server.pushid import PushIds
from focuscli.server.query import Query, QueryError, parse_query, run_query
from focuscli.server.sse import Listener
from focuscli.server.store import (
    DEFAULT_NAMESPACE,
    Namespace,
    Store,
    StoreUnavailable,
    namespace_error,
)
from focuscli.server.tree import Node, Path, TreeError
from focuscli.server.wire import (
    SSE_TYPE,
    HttpError,
    Request,
    Response,
    check_callback,
    error_response,
    json_response,
    parse_body,
    parse_params,
    text,
    uploaded_file,
)

WRITE_SIZE_LIMITS = frozenset({"tiny", "small", "medium", "large", "unlimited"})
_TIMEOUT = re.compile(r"^(\d+)(ms|s|min)$")
IF_MATCH_NOT_SUPPORTED = "The 'if-match' header is not supported with GET, PATCH or POST requests"
JSONP_NEEDS_MEMBER = (
    "callback= (JSONP) is not available to the admin secret on a secure server: a page that "
    "includes the script would read the data as admin. Use a member's token or a plain request."
)


@dataclass
class StreamOpen:
    """The request opened a stream: the transport sends headers and then the listener's bytes."""

    namespace: Namespace
    listener: Listener
    headers: dict[str, str]


class App:
    """Routes requests to the store; every failure becomes ``{"error": …}`` with its status."""

    def __init__(self, store: Store, *, identities: Identities, enforce_indexes: bool = False):
        self.store = store
        self.identities = identities  # credentials -> Identity, shared with every front door
        self.enforce_indexes = enforce_indexes
        self.push_ids = PushIds()

    async def handle(self, request: Request) -> Response | StreamOpen:
        origin = request.headers.get("origin")
        try:
            result = await self._route(request)
        except HttpError as err:
            result = error_response(err.status, err.message)
        except AuthError as err:
            result = error_response(err.status, err.message)
        except StoreUnavailable as err:
            result = error_response(503, f"Database unavailable: {err}")
        cors = {
            "access-control-allow-origin": origin or "*",
            "access-control-expose-headers": "ETag, Content-Length",
        }
        if origin:
            cors["vary"] = "Origin"
        result.headers.update(cors)
        return result

    # -- routing ------------------------------------------------------------------------------

    async def _route(self, request: Request) -> Response | StreamOpen:
        method = request.method.upper()
        if method == "POST" and "x-http-method-override" in request.headers:
            method = request.headers["x-http-method-override"].strip().upper()
        if method == "OPTIONS":
            return self._preflight(request)
        params = parse_params(request.query_string)
        segments = request.raw_path.split("/")
        if request.raw_path == "/.inspect/coverage":  # the HTML rules coverage report
            segments[-1] = "coverage.html.json"
        last = segments[-1]
        if last == ".upload" and method == "POST":
            # The emulator UI's import: a multipart file written at the path, like a PUT.
            segments[-1] = ".json"
            request = Request("PUT", "/".join(segments), request.query_string, request.headers,
                              uploaded_file(request))
            method, last = "PUT", ".json"
        if not last.endswith(".json"):
            raise HttpError(404, "Not found: REST paths end in .json (for example /path/to/data.json)")
        segments[-1] = last[: -len(".json")]
        try:
            decoded = [unquote(s, errors="strict") for s in segments]
        except UnicodeDecodeError:
            raise HttpError(400, tree.INVALID_PATH) from None
        name = params.get("ns", DEFAULT_NAMESPACE)
        refused = namespace_error(name)
        if refused:
            raise HttpError(400, refused)
        clean = [s for s in decoded if s]
        identity = self.identities.resolve(request.headers, params)
        check_callback(params)  # before anything is written (a rules upload too)
        if "callback" in params and identity.admin_credential and self.identities.secure:
            raise HttpError(403, JSONP_NEEDS_MEMBER)
        if clean and clean[0] == ".settings":
            return await admin.settings(self.store, method, clean[1:], params, request, identity, name)
        if clean and clean[0] == ".inspect":
            if self.identities.secure and not identity.admin:
                raise HttpError(403, "Permission denied")
            return admin.inspect(self.store, clean[1:], name, identity, not self.identities.secure)
        try:
            path = tree.parse_path(clean)
        except TreeError as err:
            raise HttpError(400, str(err)) from None
        ns = self.store.lookup(name)
        if method == "GET":
            if "text/event-stream" in request.headers.get("accept", ""):
                return self._stream(ns, path, params, identity)
            return await self._get(ns, path, params, request, identity)
        if method in ("PUT", "POST", "PATCH", "DELETE"):
            _check_write_params(params)
            return await self._write(method, ns, path, params, request, identity)
        raise HttpError(405, f"Method {method} is not supported.")

    def _preflight(self, request: Request) -> Response:
        headers = {
            "access-control-allow-methods": "OPTIONS,GET,POST,PUT,DELETE,PATCH",
            "access-control-max-age": "3600",
        }
        asked = request.headers.get("access-control-request-headers")
        if asked:
            headers["access-control-allow-headers"] = asked
        return Response(200, b"", headers)

    # -- reads --------------------------------------------------------------------------------

    async def _get(
        self, ns: Namespace, path: Path, params: dict[str, str], request: Request, who: Identity
    ) -> Response:
        if "if-match" in request.headers:
            raise HttpError(400, IF_MATCH_NOT_SUPPORTED)
        _check_timeout(params)
        shallow = params.get("shallow") == "true"
        want_etag = request.headers.get("x-firebase-etag", "").lower() == "true"
        if shallow and want_etag:
            # spec §12.10 (inferred): the SDK refuses this pair client-side; say why here too.
            raise HttpError(400, "shallow=true cannot be combined with X-Firebase-ETag.")
        query = self._query(params, shallow=shallow)
        root = ns.root
        pending = self.store.barrier()
        if pending is not None:
            await pending
        if not who.admin and not ns.access.can_read(path, who.auth, root, self.store.now_ms(), params):
            raise HttpError(401, "Permission denied")
        if query is not None and self.enforce_indexes:
            self._check_index(ns, path, query)
        node = tree.get(root, path)
        if query is not None:
            node = run_query(node, query)
        if shallow:
            value = tree.shallow(node)
        elif params.get("format") == "export":
            value = tree.export(node)
        else:
            value = tree.render(node)
        headers: dict[str, str] = {}
        if_none = request.headers.get("if-none-match")
        if want_etag or if_none is not None:
            current = tree.etag(tree.get(root, path))
            headers["etag"] = current
            if if_none is not None and if_none == current:
                return Response(304, b"", headers)
        response = json_response(200, value, params, headers)
        return response

    def _query(self, params: dict[str, str], *, shallow: bool) -> Query | None:
        try:
            return parse_query(params, shallow=shallow)
        except QueryError as err:
            raise HttpError(400, str(err)) from None

    def _check_index(self, ns: Namespace, path: Path, query: Query) -> None:
        index = query.index_name()
        if index is not None and index not in ns.access.index_on(path):
            shown = index if index != ".value" else ".value"
            raise HttpError(
                400,
                f'Index not defined, add ".indexOn": "{shown}", for path "{tree.path_str(path)}", '
                "to the rules",
            )

    def _stream(self, ns: Namespace, path: Path, params: dict[str, str], who: Identity) -> StreamOpen:
        query = self._query(params, shallow=False)
        listener = Listener(path, query, who.admin, who.auth, params, expires_at=_expiry(who))
        if not ns.can_read(listener, ns.published, self.store.now_ms()):
            raise HttpError(401, "Permission denied")
        self.store.subscribe(ns, listener)
        return StreamOpen(ns, listener, {"content-type": SSE_TYPE, "cache-control": "no-cache"})

    # -- writes -------------------------------------------------------------------------------

    async def _write(
        self,
        method: str,
        ns: Namespace,
        path: Path,
        params: dict[str, str],
        request: Request,
        who: Identity,
    ) -> Response:
        if_match = request.headers.get("if-match")
        if if_match is not None and method in ("PATCH", "POST"):
            raise HttpError(400, IF_MATCH_NOT_SUPPORTED)
        now = self.store.now_ms()
        root = ns.root
        resolve = tree.server_values(now, root)
        name: str | None = None
        request_path = path
        if method == "DELETE" or (method == "PATCH" and parse_body(request.body) is None):
            # PATCH with the body null deletes, as production does: firebase-tools' database:remove
            change = Change("put", path, (((), None),))
        elif method == "PATCH":
            change = self._patch_change(path, request, resolve)
        else:
            raw = parse_body(request.body)
            if method == "POST":
                name = self.push_ids.next(now)
                path = path + (name,)
            change = Change("put", path, (((), _normalize(raw, path, resolve, request.body)),))
        if if_match is not None:
            current = tree.get(root, path)
            current_tag = tree.etag(current)
            if if_match != current_tag:
                # The 412 carries the current value: only for callers who may read it, and
                # only once that value is durable.
                if not who.admin and not ns.access.can_read(path, who.auth, root, now, None):
                    raise HttpError(401, "Permission denied")
                pending = self.store.barrier()
                if pending is not None:
                    await pending
                return json_response(412, tree.render(current), {}, {"etag": current_tag})
        new_root = change.apply(root)
        if not who.admin:
            for target in change.paths():
                if not ns.access.can_write(target, who.auth, root, new_root, now):
                    raise HttpError(401, "Permission denied")
        if new_root is not root:
            await self.store.commit(ns, change, new_root)
        else:
            pending = self.store.barrier()
            if pending is not None:
                await pending
        headers: dict[str, str] = {}
        want_etag = request.headers.get("x-firebase-etag", "").lower() == "true"
        if if_match is not None or (want_etag and method != "PATCH"):
            headers["etag"] = tree.etag(tree.get(new_root, request_path))
        if method == "POST":
            return json_response(200, {"name": name}, params, headers)
        if method == "DELETE" or change.kind == "put" and method == "PATCH":
            return json_response(200, None, params, headers)
        if method == "PATCH":
            echo = {
                "/".join(rel): tree.render(tree.get(new_root, path + rel)) for rel, _ in change.entries
            }
            return json_response(200, echo, params, headers)
        return json_response(200, tree.render(tree.get(new_root, path)), params, headers)

    def _patch_change(self, path: Path, request: Request, resolve: tree.ServerValue) -> Change:
        raw = parse_body(request.body)
        if type(raw) is not dict:
            raise HttpError(400, "Invalid data; a PATCH body must be a JSON object.")
        entries: list[tuple[Path, Node]] = []
        for key, value in raw.items():
            try:
                rel = tree.parse_path(key.split("/"))
            except TreeError:
                raise HttpError(400, tree.key_error_message(text(request.body), key)) from None
            if not rel:
                raise HttpError(400, tree.key_error_message(text(request.body), key))
            entries.append((rel, _normalize(value, path + rel, resolve, request.body)))
        ordered = sorted(rel for rel, _ in entries)
        for before, after in zip(ordered, ordered[1:], strict=False):
            if after[: len(before)] == before:
                raise HttpError(
                    400,
                    f"Invalid data; path {tree.path_str(before)} is an ancestor of "
                    f"{tree.path_str(after)} in the same update.",
                )
        return Change("patch", path, tuple(entries))


def _expiry(who: Identity) -> float | None:
    """When a user's token expires (its ``exp`` claim), for streams to end with auth_revoked."""
    token = (who.auth or {}).get("token")
    exp = token.get("exp") if isinstance(token, dict) else None
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return None
    try:
        return float(exp)
    except OverflowError:  # an integer past the range of a double: never
        return None


def _normalize(value: Any, path: Path, resolve: tree.ServerValue, body: bytes) -> Node:
    try:
        return tree.normalize(value, path, resolve)
    except tree.InvalidKey as err:
        raise HttpError(400, tree.key_error_message(text(body), err.key)) from None
    except TreeError as err:
        raise HttpError(400, str(err)) from None
    except RecursionError:
        raise HttpError(400, "Invalid data; the data is nested deeper than 32 levels.") from None


def _check_timeout(params: dict[str, str]) -> None:
    value = params.get("timeout")
    if value is None:
        return
    match = _TIMEOUT.match(value)
    if not match:
        raise HttpError(400, "timeout must be a positive duration such as 500ms, 3s or 1min.")
    amount, unit = int(match.group(1)), match.group(2)
    ms = amount * {"ms": 1, "s": 1000, "min": 60000}[unit]
    if ms <= 0 or ms > 15 * 60000:
        raise HttpError(400, "timeout must be positive and at most 15min.")


def _check_write_params(params: dict[str, str]) -> None:
    limit = params.get("writeSizeLimit")
    if limit is not None and limit not in WRITE_SIZE_LIMITS:
        raise HttpError(
            400, "writeSizeLimit must be one of tiny, small, medium, large or unlimited."
        )

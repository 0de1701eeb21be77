"""The protocol core: one HTTP request value in, one response (or an opened stream) out; no sockets."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from dataclasses import dataclass
from urllib.parse import unquote

from focuscli.server import admin, bigjson, bigrequests, offload, tree
from focuscli.server.auth import AuthError, Identities, Identity
from focuscli.server.change import Change
from focuscli.server.limits import Limits
from focuscli.server.offload import Worker, is_big
from focuscli.server.pushid import PushIds
from focuscli.server.query import (
    Query,
    QueryError,
    parse_query,
    run_query,
    run_sorted,
    sorted_entries,
)
from focuscli.server.rendered import Rendered
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

    def __init__(
        self, store: Store, *, identities: Identities, enforce_indexes: bool = False,
        limits: Limits | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.identities = identities  # credentials -> Identity, shared with every front door
        self.enforce_indexes = enforce_indexes
        self.push_ids = PushIds()
        self.limits = limits or Limits()
        self.worker = Worker()
        self.rendered = Rendered()  # the worker thread's, for big reads

    async def handle(self, request: Request) -> Response | StreamOpen:
        origin = request.headers.get("origin")
        ticket = _Ticket(self.worker.lane)
        try:
            result = await self._route(request, ticket)
        except HttpError as err:
            result = error_response(err.status, err.message)
        except AuthError as err:
            result = error_response(err.status, err.message)
        except StoreUnavailable as err:
            result = error_response(503, f"Database unavailable: {err}")
        finally:
            ticket.release()
        cors = {
            "access-control-allow-origin": origin or "*",
            "access-control-expose-headers": "ETag, Content-Length",
        }
        if origin:
            cors["vary"] = "Origin"
        result.headers.update(cors)
        return result

    # -- routing ------------------------------------------------------------------------------

    async def _body(self, request: Request, ticket: _Ticket) -> Request:
        """``request`` with its body read (against the limits; the lane taken if it is big)."""
        if request.reader is None:
            return request
        body = await request.reader(ticket.take)
        return dataclasses.replace(request, body=body, reader=None)

    async def _route(self, request: Request, ticket: _Ticket) -> Response | StreamOpen:
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
            request = await self._body(request, ticket)
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
            if identity.admin:  # (anyone else is refused before a body is read)
                request = await self._body(request, ticket)
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
            return await self._write(method, ns, path, params, request, identity, ticket)
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
        node = whole = tree.get(root, path)
        if query is not None and ns.indexes.wants(node, query) and _declared(ns, path, query):
            node = await self._indexed(ns, path, node, query)
            query = None
        if is_big(node, self.limits.inline_nodes):  # rendered and encoded off the loop
            return await self.worker.run(
                bigrequests.read_response,
                whole,
                query,
                shallow,
                params,
                request.headers,
                want_etag,
                (node,),
                self.rendered,
            )
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

    async def _indexed(self, ns: Namespace, path: Path, node: Node, query: Query) -> Node:
        """``run_query(node, query)`` read off the namespace's index of ``node`` (built on the
        worker thread the first time: sorting many children takes a while)."""
        index = ns.indexes.get(path, node, query.order_by)
        if index is None:
            entries = await self.worker.run(sorted_entries, node, query.order_by)
            index = ns.indexes.add(path, node, query.order_by, entries)
        return run_sorted(node, query, index.entries)

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
        ticket: _Ticket,
    ) -> Response:
        if_match = request.headers.get("if-match")
        if if_match is not None and method in ("PATCH", "POST"):
            raise HttpError(400, IF_MATCH_NOT_SUPPORTED)
        if not who.admin and not ns.access.may_write(path, who.auth, self.store.now_ms(), method):
            # No rule can let them write here: refused with the body unread. (A stale ETag is
            # still reported first, as the emulator orders its checks.)
            if if_match is not None:
                stale = await self._stale(ns, path, who, if_match)
                if stale is not None:
                    return stale
            raise HttpError(401, "Permission denied")
        if method != "DELETE":
            request = await self._body(request, ticket)
        big = self._heavy(request.body) or (
            if_match is not None and is_big(tree.get(ns.root, path), self.limits.inline_nodes)
        )
        if big:
            await ticket.take()
            limit = None if who.admin else self.limits.max_write_values
            job = bigrequests.Write(self.store, ns, method, path, params, request, who, limit,
                                    self.push_ids)  # fmt: skip
            return await job.run(self.worker)
        while ns.gate is not None:  # a big write is being judged with writes held back
            await asyncio.shield(ns.gate)
        return await self._write_small(method, ns, path, params, request, who, if_match)

    def _heavy(self, body: bytes) -> bool:
        """Would parsing ``body`` and judging it hold up the loop? Small bodies never; up to a
        few MB, those with many values (a long string alone is quick to parse and encode; the
        count of commas and colons bounds the values from above, cheaply)."""
        limits = self.limits
        if len(body) <= limits.inline_bytes:
            return False
        if len(body) > limits.inline_max_bytes:
            return True
        return body.count(b",") + body.count(b":") > limits.inline_nodes

    async def _write_small(
        self,
        method: str,
        ns: Namespace,
        path: Path,
        params: dict[str, str],
        request: Request,
        who: Identity,
        if_match: str | None,
    ) -> Response:
        """A write judged and committed on the loop, in one step (nothing else runs between)."""
        now = self.store.now_ms()
        root = ns.root
        resolve = tree.server_values(now, root)
        name: str | None = None
        request_path = path
        if method == "DELETE" or (method == "PATCH" and parse_body(request.body) is None):
            # PATCH with the body null deletes, as production does: firebase-tools' database:remove
            change = Change("put", path, (((), None),))
        elif method == "PATCH":
            change = bigrequests.patch_change(path, parse_body(request.body), request.body, resolve)
        else:
            raw = parse_body(request.body)
            if method == "POST":
                name = self.push_ids.next(now)
                path = path + (name,)
            change = Change("put", path, (((), bigrequests.normalize(raw, path, resolve, request.body)),))
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
            node = tree.get(new_root, request_path)
            if is_big(node, self.limits.inline_nodes):  # the parent of a POST's new child
                headers["etag"] = await self.worker.run(offload.etag, node)
            else:
                headers["etag"] = tree.etag(node)
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


    async def _stale(self, ns: Namespace, path: Path, who: Identity, if_match: str) -> Response | None:
        """The 412 for an ``if-match`` that is not the current ETag (401 if the caller may not
        read the current value); None if it is current."""
        root, now = ns.root, self.store.now_ms()
        current = tree.get(root, path)
        big = is_big(current, self.limits.inline_nodes)
        tag = await self.worker.run(offload.etag, current) if big else tree.etag(current)
        if tag == if_match:
            return None
        if not who.admin and not ns.access.can_read(path, who.auth, root, now, None):
            raise HttpError(401, "Permission denied")
        pending = self.store.barrier()
        if pending is not None:
            await pending
        if big:
            shown = await self.worker.run(lambda: bigjson.encode(tree.render(current)))
            return json_response(412, None, {}, {"etag": tag}, encoded=shown)
        return json_response(412, tree.render(current), {}, {"etag": tag})


class _Ticket:
    """A request's place in the worker's lane, taken when the request proves big."""

    def __init__(self, lane: asyncio.Lock) -> None:
        self.lane = lane
        self.held = False

    async def take(self) -> None:
        if not self.held:
            await self.lane.acquire()
            self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.lane.release()


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


def _declared(ns: Namespace, path: Path, query: Query) -> bool:
    """Whether ``query``'s order has an index at ``path``: ``$key`` always, a child or
    ``.value`` when ``.indexOn`` declares it there (the rules bound what is kept)."""
    return query.order_by == "$key" or query.index_name() in ns.access.index_on(path)

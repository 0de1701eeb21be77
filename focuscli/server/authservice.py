"""The Auth emulator inside `focus serve`: its core on a worker thread (password hashing never
stalls the event loop), its accounts durable in the store, its public keys, its CORS headers.

Accounts live in the store's reserved namespace ``.auth`` (no REST, SSE or WebSocket request can
name it: namespace names start with a letter or digit), one JSON text per record at
``/<project>/<kind>/k<base64url key>``, so the journal, group commit and compaction that make the
database durable make accounts durable too; a reply waits until its changes are on disk.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from focuscli.server import tree
from focuscli.server.authemu import errors as E
from focuscli.server.authemu.routes import JSON_TYPE, AuthEmulator, Reply
from focuscli.server.authemu.routes import owns as routes_owns
from focuscli.server.change import Change
from focuscli.server.signing import JWKS_PATH, X509_PATH, RS256Codec
from focuscli.server.store import Store, StoreUnavailable
from focuscli.server.wire import Request, Response

log = logging.getLogger("focuscli.server")

RESERVED_NAMESPACE = ".auth"
KEY_PATHS = (JWKS_PATH, X509_PATH)
PREFLIGHT_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE"


def _encode_key(key: str) -> str:
    return "k" + base64.urlsafe_b64encode(key.encode("utf-8", "surrogatepass")).decode().rstrip("=")


def _decode_key(text: str) -> str:
    raw = text[1:]
    return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-8", "surrogatepass")


def records_of(root: tree.Node) -> dict[tuple[str, str, str], str]:
    """The account records held in the reserved namespace's tree."""
    records: dict[tuple[str, str, str], str] = {}
    for project, kinds in tree.children(root):
        for kind, entries in tree.children(kinds):
            for key, text in tree.children(entries):
                records[(project, kind, _decode_key(key))] = text
    return records


class AuthService:
    """Serves the Auth emulator's routes and the public-key routes of one server."""

    def __init__(self, store: Store, emulator: AuthEmulator, *, log_codes: bool) -> None:
        self.store = store
        self.emulator = emulator
        self.log_codes = log_codes  # emulator mode: print action links, as the emulator does
        self.codec = emulator.settings.codec
        self.ns = store.lookup(RESERVED_NAMESPACE)
        emulator.load(records_of(self.ns.root))
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="focus-auth")

    def close(self) -> None:
        self._worker.shutdown(wait=True)

    async def handle(self, request: Request, base_url: str) -> Response:
        if request.method == "OPTIONS":
            return self._with_cors(Response(204, b"", {}), request, preflight=True)
        if request.raw_path in KEY_PATHS and request.method in ("GET", "HEAD"):
            return self._with_cors(self._public_keys(request.raw_path), request)
        loop = asyncio.get_running_loop()
        reply: Reply = await loop.run_in_executor(
            self._worker, lambda: self.emulator.handle(
                request.method, request.raw_path, request.query_string, request.headers,
                request.body, now=self.store.clock(), base_url=base_url,
            ),
        )
        try:
            await self._persist(reply)
        except StoreUnavailable as err:
            await loop.run_in_executor(self._worker, self._reload)
            reply = Reply(503, E.unavailable(str(err)).envelope())
        if self.log_codes:
            for line in reply.log:
                log.info("%s", line)
        headers = {"content-type": JSON_TYPE, "cache-control": "no-store"}
        return self._with_cors(Response(reply.status, reply.encoded(), headers), request)

    async def _persist(self, reply: Reply) -> None:
        if reply.writes and self.store.journal is not None:  # --memory: nothing is kept
            entries = []
            for (project, kind, key), text in sorted(reply.writes.items()):
                entries.append(((project, kind, _encode_key(key)), text))
            change = Change("patch", (), tuple(entries))
            await self.store.commit(self.ns, change, change.apply(self.ns.root))
        pending = self.store.barrier()
        if pending is not None:
            await pending  # what this reply shows is durable before it is shown

    def _reload(self) -> None:
        """After a failed commit the namespace holds the last durable accounts: so does the core."""
        self.emulator.load(records_of(self.ns.root))

    def _public_keys(self, path: str) -> Response:
        if isinstance(self.codec, RS256Codec):
            value: Any = self.codec.jwks() if path == JWKS_PATH else self.codec.x509_certificates()
        else:
            value = {"keys": []} if path == JWKS_PATH else {}  # emulator mode: nothing is signed
        body = json.dumps(value, indent=2).encode()
        return Response(200, body, {"content-type": JSON_TYPE, "cache-control": "public, max-age=3600"})

    def _with_cors(self, response: Response, request: Request, *, preflight: bool = False) -> Response:
        """The emulator's CORS: the (already admitted) Origin and requested headers reflected."""
        origin = request.headers.get("origin")
        if origin:
            response.headers["access-control-allow-origin"] = origin
            response.headers["vary"] = "Origin"
        if preflight:
            response.headers["access-control-allow-methods"] = PREFLIGHT_METHODS
            asked = request.headers.get("access-control-request-headers")
            if asked:
                response.headers["access-control-allow-headers"] = asked
            if request.headers.get("access-control-request-private-network"):
                response.headers["access-control-allow-private-network"] = "true"
        return response


def owns(path: str) -> bool:
    """Whether a request path is the Auth emulator's (or its public keys'); the rest is the
    database's."""
    return routes_owns(path) or path in KEY_PATHS

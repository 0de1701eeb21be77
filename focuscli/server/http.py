"""HTTP transport: aiohttp's low-level server moving bytes between sockets and the protocol core."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from focuscli.server.app import App
from focuscli.server.authservice import AuthService, owns
from focuscli.server.limits import Limits
from focuscli.server.offload import Lazy
from focuscli.server.origins import HostPolicy, OriginPolicy, host_name
from focuscli.server.page import PageFiles
from focuscli.server.sse import KEEP_ALIVE, Listener
from focuscli.server.store import Store
from focuscli.server.wire import TOO_BIG, HttpError, Request, Response, error_response, parse_params
from focuscli.server.ws import RealtimeServer

log = logging.getLogger("focuscli.server")

SLOW_BODY = (
    "The request body arrived too slowly: send it within {timeout:g} s, and at least "
    "{rate} KiB/s after that."
)
BAD_BODY = "The request body is malformed (its framing or encoding is broken)."
AUTH_MAX_BODY_BYTES = 1024 * 1024  # Auth emulator requests are small JSON objects
MISDIRECTED = (
    "Host {name} is not a name of this server, so the request was refused (DNS rebinding "
    "protection); if it is one, start focus serve with --allow-host {name}."
)
FOREIGN_ORIGIN = (
    "Origin {origin} may not use this server (secure mode); to allow a web app there, start "
    "focus serve with --allow-origin {origin}."
)
# At shutdown: how long requests under way get to finish, how long streams get to send what
# they hold, and then how long aiohttp's own shutdown waits for a request that started meanwhile.
SHUTDOWN_TIMEOUT_S = 2.0
STREAM_FLUSH_S = 0.5
AIOHTTP_SHUTDOWN_S = 0.25
NO_LONG_POLLING = (
    "Long polling (/.lp) is not supported by focus serve: the Firebase SDKs reach it by WebSocket "
    "(/.ws). A browser falls back to long polling after a WebSocket that closed early; call "
    "forceWebSockets() before using the database, or remove 'firebase:previous_websocket_failure' "
    "from the page's localStorage."
)
LONG_POLL_LOG_EVERY_S = 60.0


class HttpServer:
    """Serves one App on one listening socket; streams are plain chunked responses."""

    def __init__(
        self,
        app: App,
        store: Store,
        *,
        keepalive: float,
        auth: AuthService | None = None,
        hosts: HostPolicy | None = None,
        origins: OriginPolicy | None = None,
        scheme: str = "http",
        page: PageFiles | None = None,
    ) -> None:
        self.app = app
        self.store = store
        self.keepalive = keepalive
        self.limits: Limits = app.limits
        self.auth = auth  # the Auth emulator, on the same port (its paths: authservice.owns)
        self.hosts = hosts
        self.origins = origins
        self.scheme = scheme
        self.page = page  # the browser page at / and /s/NAME, and its files
        self._runner: web.ServerRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._streams: dict[Listener, web.BaseRequest] = {}  # open streams and their requests
        self._requests: set[int] = set()  # ids of the requests under way, streams excepted
        self._stopping = False
        self._long_poll_logged = -LONG_POLL_LOG_EVERY_S
        self.realtime = RealtimeServer(store, identities=app.identities)
        self.host = ""
        self.port = 0

    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        # Malformed requests (bad method, broken framing) already get aiohttp's 400; a traceback
        # per such request in the server's log helps nobody.
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
        # aiohttp's keep-alive timeout also runs from the moment a connection opens, and closes
        # a connection still waiting for a request's headers when it fires: the header timeout.
        server = web.Server(
            self._handle, access_log=None, keepalive_timeout=self.limits.request_timeout
        )
        self._runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=AIOHTTP_SHUTDOWN_S)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, host, port, reuse_address=True, backlog=1024, ssl_context=ssl_context
        )
        await site.start()
        address = self._runner.addresses[0]
        self.host, self.port = str(address[0]), int(address[1])
        self._ticker = asyncio.get_running_loop().create_task(self._keepalive_loop())
        await self.realtime.start()

    async def stop(self) -> None:
        self._stopping = True
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._runner is not None:
            for site in list(self._runner.sites):
                await site.stop()  # no new connections from here on
        for listener in self.store.all_listeners():
            listener.close()
        await self.realtime.stop()  # sockets close; their onDisconnect writes land first
        # Requests under way (also those whose headers are in but not yet handled: hence two
        # idle checks in a row) finish, each response now closing its connection, and streams
        # send what they hold and end. Only then aiohttp's shutdown: it drops whatever arrives on
        # a connection once it starts (a request body still on its way hangs until its timeout,
        # then fails), and waits twice its timeout for a stream whose client stopped reading:
        # such a stream is cut after a short grace instead.
        start = time.monotonic()
        idle = 0
        while idle < 2:
            waited = time.monotonic() - start
            if self._streams and waited >= STREAM_FLUSH_S:
                for request in list(self._streams.values()):
                    if request.transport is not None:
                        request.transport.abort()
            if waited >= SHUTDOWN_TIMEOUT_S:
                break
            idle = 0 if self._requests or self._streams else idle + 1
            await asyncio.sleep(0.01)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.app.worker.close()

    async def _keepalive_loop(self) -> None:
        tick = min(1.0, self.keepalive / 4)
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            wall = self.store.clock()
            for listener in self.store.all_listeners():
                if listener.expired(wall):
                    listener.revoke()
                elif now - listener.last_sent >= self.keepalive and not listener.chunks:
                    listener.push(KEEP_ALIVE)
            # aiohttp does not cancel a handler whose client hung up, and a stream's handler
            # only notices when it next writes: end streams whose connection is gone now rather
            # than at their next event or keep-alive (they would linger, and get fanned out to).
            for listener, request in list(self._streams.items()):
                if request.transport is None:
                    listener.close()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self._requests.add(id(request))
        try:
            response = await self._serve(request)
        finally:
            self._requests.discard(id(request))
        if self._stopping and not response.prepared:
            response.force_close()  # the last request on this connection
        return response

    async def _serve(self, request: web.BaseRequest) -> web.StreamResponse:
        refused = self._refused(request)
        if refused is not None:
            return _as_aiohttp(refused)
        path, _, query = request.raw_path.partition("?")
        if self.page is not None:
            headers = {k.lower(): v for k, v in request.headers.items()}
            page = self.page.answer(request.method, path, query, headers, self.scheme)
            if page is not None:
                return _as_aiohttp(page)
        if self.auth is not None and owns(path):
            return await self._serve_auth(request, self.auth)
        if path == "/.ws":
            self._requests.discard(id(request))  # a connection from now on: stop() ends it
            return await self.realtime.handle(request, parse_params(query))
        if path == "/.lp":
            now = time.monotonic()
            if now - self._long_poll_logged >= LONG_POLL_LOG_EVERY_S:
                self._long_poll_logged = now
                log.warning("a client tried long polling (/.lp), which focus serve does not support; "
                            "it keeps retrying until it uses WebSocket (forceWebSockets() in a browser)")
            return _as_aiohttp(error_response(404, NO_LONG_POLLING))
        length = request.content_length
        if length is not None and length > self.limits.max_body_bytes:
            return _as_aiohttp(error_response(413, TOO_BIG))  # before a byte of it is read
        headers = {k.lower(): v for k, v in request.headers.items()}

        async def reader(when_big: Callable[[], Awaitable[None]]) -> bytes:
            return await self._read_body(request, when_big)

        try:
            result = await self.app.handle(Request(request.method, path, query, headers, b"", reader))
        except Exception:
            log.exception("internal error on %s %s", request.method, path)
            return _as_aiohttp(error_response(500, "Internal server error"))
        if isinstance(result, Response):
            return _as_aiohttp(result)
        listener = result.listener
        if self._stopping:  # opened after stop() closed the streams: the initial put, then the end
            listener.close()
        response = web.StreamResponse(status=200, headers=result.headers)
        try:
            await response.prepare(request)
            self._requests.discard(id(request))  # a stream from now on: stop() ends it
            self._streams[listener] = request
            while True:
                if not listener.chunks and not listener.closed:
                    await listener.wakeup.wait()
                for chunk in listener.take():
                    data = await self.app.worker.run(chunk) if isinstance(chunk, Lazy) else chunk
                    await response.write(data)
                    listener.last_sent = time.monotonic()
                if listener.closed:
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._streams.pop(listener, None)
            listener.close()
            self.store.unsubscribe(result.namespace, listener)
        return response


    async def _read_body(
        self, request: web.BaseRequest, when_big: Callable[[], Awaitable[None]],
        max_bytes: int | None = None,
    ) -> bytes:
        """The body, read as it streams: 413 past the size limit, 408 if it comes too slowly.

        The body has ``request_timeout`` seconds, plus one second per ``min_body_rate`` bytes
        received; waiting for the lane (``when_big``, awaited once the body proves bigger than
        ``inline_bytes``) is not counted against it. (aiohttp's own ``read()`` enforces a size
        limit but no time.)"""
        limits = self.limits
        limit = limits.max_body_bytes if max_bytes is None else max_bytes
        if request.content_length is not None and request.content_length > limit:
            raise HttpError(413, TOO_BIG)
        loop = asyncio.get_running_loop()
        if request.content_length is not None and request.content_length > limits.inline_bytes:
            await when_big()
            big = True
        else:
            big = False
        start = loop.time()
        body = bytearray()
        content = request.content
        while True:
            deadline = start + limits.request_timeout + len(body) / limits.min_body_rate
            try:
                async with asyncio.timeout_at(deadline):
                    chunk = await content.readany()
            except TimeoutError:
                message = SLOW_BODY.format(timeout=limits.request_timeout, rate=limits.min_body_rate // 1024)
                raise HttpError(408, message) from None
            except (RequestPayloadError, HttpProcessingError):  # broken chunked framing, ...
                raise HttpError(400, BAD_BODY) from None
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > limit:
                raise HttpError(413, TOO_BIG)
            if not big and len(body) > limits.inline_bytes:
                big = True
                waited = loop.time()
                await when_big()
                start += loop.time() - waited

    def _refused(self, request: web.BaseRequest) -> Response | None:
        """Requests for another host name (DNS rebinding) or, in secure mode, from a foreign
        browser origin are answered before anything else is read."""
        host = request.headers.get("Host")
        if self.hosts is not None and not self.hosts.allows(host):
            name = host_name(host or "") or repr(host)
            return error_response(421, MISDIRECTED.format(name=name))
        origin = request.headers.get("Origin")
        if self.origins is not None and not self.origins.allows(origin, host, self.scheme):
            return error_response(403, FOREIGN_ORIGIN.format(origin=origin))
        return None

    async def _serve_auth(self, request: web.BaseRequest, auth: AuthService) -> web.StreamResponse:
        try:
            body = await self._read_body(request, _no_lane, max_bytes=AUTH_MAX_BODY_BYTES)
        except HttpError as err:
            if err.status == 413:
                return _as_aiohttp(error_response(413, "An Auth request body may not exceed 1 MiB."))
            return _as_aiohttp(error_response(err.status, err.message))
        path, _, query = request.raw_path.partition("?")
        headers = {k.lower(): v for k, v in request.headers.items()}
        base_url = f"{self.scheme}://{request.headers.get('Host') or f'{self.host}:{self.port}'}"
        try:
            result = await auth.handle(Request(request.method, path, query, headers, body), base_url)
        except Exception:
            log.exception("internal error on %s %s", request.method, path)
            return _as_aiohttp(error_response(500, "Internal server error"))
        return _as_aiohttp(result)


async def _no_lane() -> None:
    """Auth requests are small: they never queue for the worker."""


def _as_aiohttp(response: Response) -> web.Response:
    return web.Response(status=response.status, body=response.body, headers=response.headers)

"""HTTP transport: aiohttp's low-level server moving bytes between sockets and the protocol core."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time

from aiohttp import web

from focuscli.server.app import App
from focuscli.server.sse import KEEP_ALIVE
from focuscli.server.store import Store
from focuscli.server.wire import Request, Response, error_response

log = logging.getLogger("focuscli.server")

MAX_BODY_BYTES = 256 * 1024 * 1024
TOO_BIG = "Data to write exceeds the maximum size that can be modified with a single request."


class HttpServer:
    """Serves one App on one listening socket; streams are plain chunked responses."""

    def __init__(self, app: App, store: Store, *, keepalive: float) -> None:
        self.app = app
        self.store = store
        self.keepalive = keepalive
        self._runner: web.ServerRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.host = ""
        self.port = 0

    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        # Malformed requests (bad method, broken framing) already get aiohttp's 400; a traceback
        # per such request in the server's log helps nobody.
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
        server = web.Server(self._handle, access_log=None)
        self._runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, host, port, reuse_address=True, backlog=1024, ssl_context=ssl_context
        )
        await site.start()
        address = self._runner.addresses[0]
        self.host, self.port = str(address[0]), int(address[1])
        self._ticker = asyncio.get_running_loop().create_task(self._keepalive_loop())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for listener in self.store.all_listeners():
            listener.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

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

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            return _as_aiohttp(error_response(400, TOO_BIG))
        body = await request.content.read()
        if len(body) > MAX_BODY_BYTES:
            return _as_aiohttp(error_response(400, TOO_BIG))
        raw = request.raw_path
        path, _, query = raw.partition("?")
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            result = await self.app.handle(Request(request.method, path, query, headers, body))
        except Exception:
            log.exception("internal error on %s %s", request.method, path)
            return _as_aiohttp(error_response(500, "Internal server error"))
        if isinstance(result, Response):
            return _as_aiohttp(result)
        listener = result.listener
        response = web.StreamResponse(status=200, headers=result.headers)
        try:
            await response.prepare(request)
            while True:
                if not listener.chunks and not listener.closed:
                    await listener.wakeup.wait()
                data = listener.take()
                if data:
                    await response.write(data)
                    listener.last_sent = time.monotonic()
                if listener.closed:
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            listener.close()
            self.store.unsubscribe(result.namespace, listener)
        return response


def _as_aiohttp(response: Response) -> web.Response:
    return web.Response(status=response.status, body=response.body, headers=response.headers)

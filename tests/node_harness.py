"""The Node suite's servers: focus serve's engine on port 0, and a small control endpoint the
JavaScript tests call for what the SDKs cannot do (restart a server, shift its clock, cut or
count its sockets, push an `ac`).

Control API (JSON over HTTP on 127.0.0.1, for tests only):

* ``POST /servers`` ``{"dataDir": bool, "clockOffsetMs": n}`` -> ``{"id", "url"}``: a server of
  its own (server ``main`` is shared by every test and has no data directory)
* ``POST /servers/<id>/restart``, ``POST /servers/<id>/stop`` -> ``{"url"}``
* ``POST /servers/<id>/clock`` ``{"offsetMs": n}``
* ``GET /servers/<id>/sockets?ns=N`` -> ``[{"session", "lastSession", "framesIn", "framesOut",
  "stale"}]`` (``lastSession``: the ``ls`` it presented; ``stale``: datastale answers)
* ``POST /servers/<id>/close?ns=N``: close the namespace's sockets from the server side
* ``POST /servers/<id>/revoke?ns=N``: push `ac` (expired_token) on them
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable, Coroutine
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from focuscli.server import LocalServer
from focuscli.server.ws import Connection


class ShiftedClock:
    """The server's clock: wall time plus an offset a test may change."""

    def __init__(self, offset_ms: int = 0) -> None:
        self.offset_s = offset_ms / 1000

    def __call__(self) -> float:
        return time.time() + self.offset_s


class Servers:
    """Every server the suite started, by id."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.servers: dict[str, tuple[LocalServer, ShiftedClock]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def create(self, name: str | None = None, data_dir: bool = False, offset_ms: int = 0) -> str:
        with self._lock:
            name = name or f"s{next(self._ids)}"
        clock = ShiftedClock(offset_ms)
        directory = self.tmp / name if data_dir else None
        server = LocalServer(port=0, data_dir=directory, clock=clock).start()
        with self._lock:
            self.servers[name] = (server, clock)
        return name

    def get(self, name: str) -> tuple[LocalServer, ShiftedClock]:
        with self._lock:
            return self.servers[name]

    def stop_all(self) -> None:
        with self._lock:
            servers = list(self.servers.values())
        for server, _ in servers:
            server.stop()

    def on_loop(self, name: str, work: Callable[[list[Connection]], Any]) -> Any:
        """Run ``work(connections)`` on the server's event loop and return its result."""
        server, _ = self.get(name)
        loop = server._loop
        running = server._running
        assert loop is not None and running is not None, f"server {name} is not running"

        async def call() -> Any:
            return work(list(running.http.realtime.connections))

        return _wait(loop, call())


def _wait(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)


def _in(ns: str | None) -> Callable[[Connection], bool]:
    return lambda conn: ns is None or conn.ns.name == ns


class Control:
    """The control endpoint on its own thread: ``with Control(tmp) as control: control.url``."""

    def __init__(self, tmp: Path) -> None:
        self.servers = Servers(tmp)
        servers = self.servers

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def _route(self, method: str) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                try:
                    result = route(servers, method, parts.path.strip("/").split("/"), query, body)
                except Exception as err:  # the test gets the reason
                    self._send(500, {"error": repr(err)})
                else:
                    self._send(200, result)

            def _send(self, status: int, value: Any) -> None:
                data = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Control:
        self.servers.create("main")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.servers.stop_all()


def route(servers: Servers, method: str, parts: list[str], query: dict[str, str], body: Any) -> Any:
    if parts == ["servers"] and method == "POST":
        name = servers.create(data_dir=bool(body.get("dataDir")), offset_ms=int(body.get("clockOffsetMs", 0)))
        return {"id": name, "url": servers.get(name)[0].url}
    if len(parts) != 3 or parts[0] != "servers":
        raise ValueError(f"no such control path: {'/'.join(parts)}")
    name, verb = parts[1], parts[2]
    server, clock = servers.get(name)
    ns = query.get("ns")
    if verb == "restart" and method == "POST":
        server.restart()
        return {"url": server.url}
    if verb == "stop" and method == "POST":
        server.stop()
        return {"url": server.url}
    if verb == "clock" and method == "POST":
        clock.offset_s = int(body.get("offsetMs", 0)) / 1000
        return {}
    if verb == "sockets" and method == "GET":
        return servers.on_loop(name, lambda conns: [
            {"session": c.session.id, "lastSession": c.last_session, "framesIn": c.frames_in,
             "framesOut": c.frames_out, "stale": c.session.stale_answers}
            for c in conns if _in(ns)(c)
        ])  # fmt: skip
    if verb == "close" and method == "POST":
        return servers.on_loop(name, lambda conns: [c.close() for c in conns if _in(ns)(c)] and {})
    if verb == "revoke" and method == "POST":
        return servers.on_loop(name, lambda conns: [
            c.perform(c.session.revoke_auth()) for c in conns if _in(ns)(c)
        ] and {})  # fmt: skip
    raise ValueError(f"no such control path: {'/'.join(parts)}")


if __name__ == "__main__":  # for running the Node suite by hand: prints the URLs, serves until ^C
    import contextlib
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, Control(Path(tmp)) as control:
        print(json.dumps({"control": control.url, "url": control.servers.get("main")[0].url}))
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()

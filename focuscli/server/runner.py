"""Server lifecycle: ``run`` in the foreground until a signal, ``LocalServer`` on a background thread."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from focuscli.rules.document import RulesDocument
from focuscli.server.app import App
from focuscli.server.auth import load_or_create_secret
from focuscli.server.http import HttpServer
from focuscli.server.journal import JournalError
from focuscli.server.limits import Limits
from focuscli.server.store import Store


class ServerStartError(Exception):
    """The server could not start (address in use, data directory unusable or damaged)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 9000
    data_dir: str | os.PathLike[str] | None = None
    rules_source: str | None = None
    keepalive: float = 30.0
    admin_secret_file: str | os.PathLike[str] | None = None
    admin_token: str | None = None  # the only admin credential instead of `owner` (any address)
    ssl_context: ssl.SSLContext | None = None  # serve HTTPS, as production does
    enforce_indexes: bool = False
    clock: Callable[[], float] = time.time
    limits: Limits = field(default_factory=Limits)  # request sizes and timeouts


class _Running:
    """A started server on the current event loop."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.secret_path: Path | None = None
        admin_secret = config.admin_token
        if admin_secret is None and not is_loopback(config.host):
            self.secret_path = Path(config.admin_secret_file or _default_secret_path(config))
            admin_secret = load_or_create_secret(self.secret_path)
        rules = RulesDocument.parse(config.rules_source) if config.rules_source else None
        try:
            self.store = Store(
                asyncio.get_running_loop(),
                data_dir=config.data_dir,
                default_rules=rules,
                clock=config.clock,
            )
        except JournalError as err:
            raise ServerStartError(f"cannot use data directory: {err}") from None
        except OSError as err:
            reason = err.strerror.lower() if err.strerror else str(err)
            raise ServerStartError(f"cannot use data directory {err.filename}: {reason}") from None
        self.app = App(
            self.store, admin_secret=admin_secret, enforce_indexes=config.enforce_indexes,
            limits=config.limits,
        )  # fmt: skip
        self.http = HttpServer(self.app, self.store, keepalive=config.keepalive)

    async def start(self) -> None:
        try:
            await self.http.start(self.config.host, self.config.port, self.config.ssl_context)
        except OSError as err:
            self.store.close()
            reason = os.strerror(err.errno).lower() if err.errno else str(err)
            raise ServerStartError(
                f"cannot serve on {self.config.host}:{self.config.port}: {reason}"
            ) from None
        except BaseException:
            self.store.close()
            raise

    async def stop(self) -> None:
        await self.http.stop()
        self.store.close()

    @property
    def url(self) -> str:
        host = self.http.host
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if self.config.ssl_context is not None else "http"
        return f"{scheme}://{shown}:{self.http.port}"


def _default_secret_path(config: ServerConfig) -> Path:
    if config.data_dir is not None:
        return Path(config.data_dir) / "admin-secret"
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "focus" / "admin-secret"


def run(config: ServerConfig, on_ready: Callable[[str, Path | None], None]) -> None:
    """Serve in the foreground until SIGINT or SIGTERM; data is flushed before returning."""

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("focus serve: %(message)s"))
    server_log = logging.getLogger("focuscli.server")
    server_log.addHandler(handler)
    server_log.propagate = False

    async def main() -> None:
        running = _Running(config)
        await running.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            on_ready(running.url, running.secret_path)
            await stop.wait()
        finally:
            await running.stop()

    asyncio.run(main())


class LocalServer:
    """The server on a background thread: ``with LocalServer(port=0) as s: s.url``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: str | os.PathLike[str] | None = None,
        rules_source: str | None = None,
        keepalive: float = 30.0,
        **options: object,
    ) -> None:
        self.config = ServerConfig(
            host=host, port=port, data_dir=data_dir, rules_source=rules_source, keepalive=keepalive,
            **options,  # type: ignore[arg-type]
        )
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: _Running | None = None
        self.url = ""

    def start(self) -> LocalServer:
        ready = threading.Event()
        failure: list[BaseException] = []

        def target() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                running = loop.run_until_complete(self._create())
                self._running = running
                self.url = running.url
                self.config.port = running.http.port  # a restart comes back on the same port
            except BaseException as err:  # reported to the starting thread
                failure.append(err)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(running.stop())
            loop.close()

        self._thread = threading.Thread(target=target, name="focus-serve", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    async def _create(self) -> _Running:
        running = _Running(self.config)
        await running.start()
        return running

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._thread = None
        self._loop = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

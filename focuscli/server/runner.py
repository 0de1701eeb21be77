"""Server lifecycle: ``run`` in the foreground until a signal, ``LocalServer`` on a background thread."""

from __future__ import annotations

import asyncio
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
from focuscli.server.auth import Identities, load_or_create_secret
from focuscli.server.authemu.context import Settings
from focuscli.server.authemu.routes import AuthEmulator
from focuscli.server.authemu.tokens import ID_TOKEN_LIFETIME, TokenCodec, UnsignedCodec
from focuscli.server.authservice import AuthService
from focuscli.server.http import HttpServer
from focuscli.server.journal import JournalError
from focuscli.server.limits import Limits
from focuscli.server.origins import HostPolicy, OriginPolicy, is_loopback
from focuscli.server.page import PageFiles

__all__ = ["DEFAULT_PROJECT", "LocalServer", "ServerConfig", "ServerStartError", "is_loopback", "run"]
from focuscli.server.signing import KEY_FILE, KeyFileError, RS256Codec, SigningKey
from focuscli.server.store import Store

DEFAULT_PROJECT = "demo-focus"


class ServerStartError(Exception):
    """The server could not start (address in use, data directory unusable or damaged)."""


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
    # Secure mode (also forced on any non-loopback address): signed ID tokens, admin secret only.
    secure: bool = False
    project_id: str = DEFAULT_PROJECT  # the Auth emulator's default project; tokens' aud/iss
    token_lifetime: int = ID_TOKEN_LIFETIME  # seconds; short values are for tests
    allow_hosts: tuple[str, ...] = ()  # more Host names than the bound address and loopback
    allow_origins: tuple[str, ...] = ()  # browser origins a secure server answers

    @property
    def is_secure(self) -> bool:
        return self.secure or not is_loopback(self.host)


class _Running:
    """A started server on the current event loop."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.secret_path: Path | None = None
        secure = config.is_secure
        admin_secret = config.admin_token
        if admin_secret is None and secure:
            self.secret_path = Path(config.admin_secret_file or _default_secret_path(config))
            admin_secret = load_or_create_secret(self.secret_path)
        codec: TokenCodec = UnsignedCodec()
        if secure:
            codec = RS256Codec(_signing_key(config))
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
        identities = Identities(admin_secret=admin_secret, codec=codec if secure else None,
                                project_id=config.project_id, clock=config.clock)
        emulator = AuthEmulator(
            default_project=config.project_id,
            settings=Settings(codec=codec, secure=secure, lifetime=config.token_lifetime),
            admin_secret=admin_secret,
        )
        self.auth = AuthService(self.store, emulator, log_codes=not secure)
        self.app = App(
            self.store, identities=identities, enforce_indexes=config.enforce_indexes,
            limits=config.limits,
        )  # fmt: skip
        self.http = HttpServer(
            self.app, self.store, keepalive=config.keepalive, auth=self.auth,
            hosts=HostPolicy(config.host, config.allow_hosts),
            origins=OriginPolicy(secure=secure, allowed=config.allow_origins),
            scheme="https" if config.ssl_context is not None else "http",
            page=PageFiles(project_id=config.project_id, secure=secure),
        )

    async def start(self) -> None:
        try:
            await self.http.start(self.config.host, self.config.port, self.config.ssl_context)
        except OSError as err:
            self.auth.close()
            self.store.close()
            reason = os.strerror(err.errno).lower() if err.errno else str(err)
            raise ServerStartError(
                f"cannot serve on {self.config.host}:{self.config.port}: {reason}"
            ) from None
        except BaseException:
            self.auth.close()
            self.store.close()
            raise

    async def stop(self) -> None:
        await self.http.stop()
        self.auth.close()
        self.store.close()

    @property
    def url(self) -> str:
        host = self.http.host
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if self.config.ssl_context is not None else "http"
        return f"{scheme}://{shown}:{self.http.port}"


def _signing_key(config: ServerConfig) -> SigningKey:
    """Secure mode's key: kept in the data directory, or for this process only with --memory."""
    if config.data_dir is None:
        return SigningKey.ephemeral()
    try:
        return SigningKey.load_or_create(Path(config.data_dir) / KEY_FILE)
    except (KeyFileError, OSError) as err:
        raise ServerStartError(f"cannot use the token signing key: {err}") from None


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
            # Connections still lingering (reading away the body of a request answered early)
            # end here, as asyncio.run would end them, rather than being destroyed pending.
            leftovers = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
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

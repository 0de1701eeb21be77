"""`focus serve`: a local Realtime Database server speaking the Firebase emulator's wire protocol.

The protocol pieces (tree, query, rules document, access, auth, push ids) import only the
standard library, so importing them does not load the transport; the lifecycle API
(``LocalServer``, ``ServerConfig``, ``run``) is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from focuscli.server.runner import LocalServer, ServerConfig, ServerStartError, is_loopback, run

__all__ = ["LocalServer", "ServerConfig", "ServerStartError", "is_loopback", "run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from focuscli.server import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

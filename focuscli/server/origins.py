"""Which requests may reach the server at all: Host names (against DNS rebinding) and, in secure
mode, browser origins (CORS)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})
_LOCAL_CACHE_SIZE = 256


def host_name(header: str) -> str | None:
    """The name part of a Host header (``[::1]:9000`` -> ``::1``), lower-case; None if malformed."""
    text = header.strip().lower()
    if text.startswith("["):
        name, sep, rest = text[1:].partition("]")
        if not sep or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
    else:
        name, _, port = text.partition(":") if text.count(":") <= 1 else (text, "", "")
        if port and not port.isdigit():
            return None
    name = name.rstrip(".")
    return name or None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HostPolicy:
    """The Host names a request may carry: loopback names for a loopback bind, the bound address,
    the machine's own names (and, for a wildcard bind, any of its addresses), and ``extra``."""

    def __init__(self, bind_host: str, extra: Iterable[str] = ()) -> None:
        bind = bind_host.strip("[]").lower()
        self.wildcard = bind in WILDCARDS
        names = {bind} if bind else set()
        if self.wildcard or is_loopback(bind):
            names |= LOOPBACK_NAMES
        if not is_loopback(bind):
            for own in (socket.gethostname(), socket.getfqdn()):
                if own:
                    names.add(own.lower())
        names |= {n.strip("[]").lower().rstrip(".") for n in extra}
        self.names = frozenset(names)
        self._local: dict[str, bool] = {}

    def allows(self, header: str | None) -> bool:
        if header is None:
            return True  # HTTP/1.0 without Host: no browser sends that, so no rebinding either
        name = host_name(header)
        if name is None:
            return False
        if name in self.names:
            return True
        return self.wildcard and _is_ip(name) and self._is_local_address(name)

    def _is_local_address(self, address: str) -> bool:
        """Whether ``address`` is one of this machine's (it can be bound to)."""
        known = self._local.get(address)
        if known is None:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            try:
                with socket.socket(family, socket.SOCK_DGRAM) as probe:
                    probe.bind((address, 0))
                known = True
            except OSError:
                known = False
            if len(self._local) >= _LOCAL_CACHE_SIZE:
                self._local.clear()
            self._local[address] = known
        return known


def normalize_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case, or None when ``origin`` is not one."""
    text = origin.strip().lower().rstrip("/")
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in ("http", "https") or not rest or "/" in rest or "?" in rest:
        return None
    return text


class OriginPolicy:
    """Browser origins a secure server answers: the configured ones and its own (the Host the
    request came to). Emulator mode answers every origin, as the official emulators do."""

    def __init__(self, *, secure: bool, allowed: Iterable[str] = ()) -> None:
        self.secure = secure
        self.allowed = frozenset(o for o in (normalize_origin(a) for a in allowed) if o)

    def allows(self, origin: str | None, host: str | None, scheme: str) -> bool:
        if origin is None or not self.secure:
            return True
        shown = normalize_origin(origin)
        if shown is None:
            return False  # "null" (sandboxed frames, files) and anything unparsable
        if shown in self.allowed:
            return True
        return host is not None and shown == f"{scheme}://{host.strip().lower()}"

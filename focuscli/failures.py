"""Short, human reasons for network failures ("connection refused", "timed out", ...)."""

from __future__ import annotations

import socket
import ssl


def failure_reason(cause: BaseException) -> str:
    """A short reason for a failed connection or request: 'connection refused', 'timed out', ...

    Works on the standard library's errors (OSError, ssl, http.client) and on requests' own
    (recognised by name and text, so that this module never imports requests).
    """
    if isinstance(cause, ssl.SSLCertVerificationError):
        return "TLS certificate not trusted; see SSL_CERT_FILE"
    if isinstance(cause, TimeoutError | socket.timeout) or type(cause).__name__ in (
        "Timeout", "ConnectTimeout", "ReadTimeout",
    ):  # fmt: skip
        return "timed out"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, socket.gaierror):
        return "unknown host"
    if isinstance(cause, ConnectionResetError):
        return "connection reset"
    text = str(cause).lower()
    for needle, reason in (
        ("refused", "connection refused"),
        ("name or service not known", "unknown host"),
        ("nodename nor servname", "unknown host"),
        ("temporary failure in name resolution", "unknown host"),
        ("timed out", "timed out"),
        ("network is unreachable", "network unreachable"),
        ("reset by peer", "connection reset"),
        ("remote end closed", "connection closed by the server"),
        ("certificate verify failed", "TLS certificate not trusted; see SSL_CERT_FILE"),
    ):
        if needle in text:
            return reason
    return "connection failed"

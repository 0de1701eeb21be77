"""Short, human reasons for network failures ("connection refused", "timed out", ...)."""

from __future__ import annotations


def failure_reason(cause: BaseException) -> str:
    """A short reason for a requests failure: 'connection refused', 'timed out', ..."""
    import requests

    if isinstance(cause, requests.Timeout):
        return "timed out"
    text = str(cause).lower()
    for needle, reason in (
        ("refused", "connection refused"),
        ("name or service not known", "unknown host"),
        ("nodename nor servname", "unknown host"),
        ("temporary failure in name resolution", "unknown host"),
        ("timed out", "timed out"),
        ("network is unreachable", "network unreachable"),
        ("reset by peer", "connection reset"),
        ("certificate verify failed", "TLS certificate not trusted; see REQUESTS_CA_BUNDLE"),
    ):
        if needle in text:
            return reason
    return "connection failed"

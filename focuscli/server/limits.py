"""What `focus serve` accepts from one request: body size, time to send it, values per write."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Bounds applied before (or while) a request is buffered; see README "Hostile input"."""

    # Headers must be complete within this many seconds of the connection opening (or of the
    # previous answer on a kept-alive connection); a body within this many seconds of its
    # headers plus one second per ``min_body_rate`` bytes received.
    request_timeout: float = 60.0
    min_body_rate: int = 64 * 1024
    # One REST write carries at most 256 MB (rtdb-rest.md §1.5): more is a 413 before it is read.
    max_body_bytes: int = 256 * MIB
    # A non-admin write unfolds into at most this many JSON values (2 per key-value pair, ...):
    # about 40 MB of typical data, a few hundred MB of server memory. Admins are not bounded.
    max_write_values: int = 2_000_000
    # Bodies up to ``inline_bytes`` are handled on the event loop as they come (a fraction of a
    # millisecond), and so are bodies up to ``inline_max_bytes`` with at most ``inline_nodes``
    # values (a long string); the rest, and reads of subtrees of more than ``inline_nodes``
    # nodes, in the worker thread. Bodies past ``inline_bytes`` queue for it one at a time.
    inline_bytes: int = 16 * 1024
    inline_max_bytes: int = 4 * MIB
    inline_nodes: int = 2_000

"""Work too big for the event loop: one worker thread, one big request at a time.

A request whose body or data is big (parsing, normalising, rule evaluation, rendering and
encoding megabytes) runs its heavy steps here, with bigjson's step-by-step JSON so that the
loop thread gets the GIL back within milliseconds and keeps serving everyone else. The *lane*
admits one big request at a time: a second waits before its body is read (its sender is held
by TCP flow control), so server memory holds at most one big body and its parsed form.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
from collections.abc import Callable
from typing import Any, TypeVar

from focuscli.server import bigjson, tree

T = TypeVar("T")


class Worker:
    """The thread that does heavy work, and the lane big requests queue in."""

    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="focus-heavy")
        self.lane = asyncio.Lock()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the worker thread; its exception (an HttpError, ...) is raised here."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        """Take no more work; what runs finishes on its own (its result is not waited for)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class Lazy:
    """Bytes computed on first use, on the worker thread (shared by the streams that send them)."""

    __slots__ = ("_make", "_value")

    SIZE_HINT = 1024 * 1024  # what one counts for in a stream's buffer (see Listener.push)

    def __init__(self, make: Callable[[], bytes]) -> None:
        self._make: Callable[[], bytes] | None = make
        self._value = b""

    def __call__(self) -> bytes:
        if self._make is not None:  # only ever called on the (single) worker thread
            self._value = self._make()
            self._make = None
        return self._value


def etag(node: tree.Node) -> str:
    """``tree.etag`` computed step by step (the same value, for any size)."""
    if node is None:
        return tree.NULL_ETAG
    return base64.b64encode(bigjson.sha1(tree.export(node))).decode("ascii")


def is_big(node: tree.Node, limit: int) -> bool:
    return tree.count_at_most(node, limit) > limit

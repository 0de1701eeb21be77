"""Push ids: 20-character keys that sort in creation order (time prefix + increasing random tail)."""

from __future__ import annotations

import secrets

ALPHABET = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


class PushIds:
    """Generates strictly increasing push ids; one generator per server."""

    def __init__(self) -> None:
        self._last_ms = -1
        self._tail: list[int] = []

    def next(self, now_ms: int) -> str:
        # Never step back in time: a clock that jumps backwards keeps using the last instant,
        # so ids stay strictly increasing.
        now_ms = max(now_ms, self._last_ms)
        if now_ms == self._last_ms:
            self._increment()
        else:
            self._last_ms = now_ms
            self._tail = [secrets.randbelow(64) for _ in range(12)]
        head = []
        value = self._last_ms
        for _ in range(8):
            head.append(ALPHABET[value % 64])
            value //= 64
        return "".join(reversed(head)) + "".join(ALPHABET[i] for i in self._tail)

    def _increment(self) -> None:
        for i in range(11, -1, -1):
            if self._tail[i] != 63:
                self._tail[i] += 1
                return
            self._tail[i] = 0
        # 72 bits exhausted within one millisecond: move to the next millisecond instead.
        self._last_ms += 1
        self._tail = [secrets.randbelow(64) for _ in range(12)]

"""Texts on the socket: keep-alives, frame counts, reassembly with a size cap, envelopes.

Each WebSocket text is a whole JSON envelope ``{"t": "c"|"d", "d": …}``, or a frame count (a
decimal of at most six characters) announcing that the next *n* texts concatenate to one
envelope, or, from a client, the keep-alive ``0`` (rtdb-websocket.md §1.4, §1.5).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_PIECE_CHARS = 16384
"""The SDKs cut messages into pieces of this many characters; the server does the same."""

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""The largest message a client may send (UTF-8), as production limits an SDK write to 16 MB."""

TOO_BIG = "Data to write exceeds the maximum size that can be modified with a single request."

_COUNT = re.compile(r"[0-9]{1,6}")
# The SDKs serialise a request as {"t":"d","d":{"r":<n>,"a":"<action>",...}: enough of an
# oversized message to answer it without reading the rest.
_REQUEST_HEAD = re.compile(r'\{"t":"d","d":\{"r":([0-9]{1,15}),')


class ProtocolError(ValueError):
    """The peer broke the framing or sent something that is not an envelope."""


@dataclass(frozen=True)
class Envelope:
    """One complete message: ``layer`` is ``c`` (control) or ``d`` (data)."""

    layer: str
    body: Any


@dataclass(frozen=True)
class KeepAlive:
    """The client's ``0``: nothing to answer."""


@dataclass(frozen=True)
class Oversized:
    """A message over the cap was skipped; ``request`` is its number when it could be read."""

    request: int | None


Incoming = Envelope | KeepAlive | Oversized


class Reassembler:
    """Turns the texts of one connection into messages, buffering counted pieces."""

    def __init__(self, max_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._expected = 0
        self._pieces: list[str] = []
        self._size = 0
        self._skipping = False
        self._request: int | None = None

    def feed(self, text: str) -> Incoming | None:
        """The message ``text`` completes, or None while counted pieces are still due.

        Raises ProtocolError for text that is neither a count, a keep-alive nor an envelope.
        """
        if self._expected == 0:
            if len(text) <= 6 and _COUNT.fullmatch(text):
                count = int(text)
                if count == 0:
                    return KeepAlive()
                self._expected, self._pieces, self._size = count, [], 0
                self._skipping, self._request = False, None
                return None
            return _parse(text) if len(text.encode("utf-8", "surrogatepass")) <= self.max_bytes \
                else Oversized(_request_number(text))
        return self._piece(text)

    def _piece(self, text: str) -> Incoming | None:
        if not self._pieces and not self._skipping and self._request is None:
            self._request = _request_number(text)
        self._expected -= 1
        if not self._skipping:
            self._size += len(text.encode("utf-8", "surrogatepass"))
            if self._size > self.max_bytes:
                self._skipping, self._pieces = True, []
            else:
                self._pieces.append(text)
        if self._expected:
            return None
        if self._skipping:
            return Oversized(self._request)
        whole = "".join(self._pieces)
        self._pieces = []
        return _parse(whole)


def _request_number(text: str) -> int | None:
    match = _REQUEST_HEAD.match(text)
    return int(match.group(1)) if match else None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse(text: str) -> Envelope:
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ProtocolError("a message is not JSON") from None
    if type(value) is not dict or "t" not in value or "d" not in value:
        raise ProtocolError('a message is not an envelope {"t": …, "d": …}')
    layer = value["t"]
    if type(layer) is not str:
        raise ProtocolError("a message's layer is not a string")
    return Envelope(layer, value["d"])


def dumps(value: Any) -> str:
    """Compact JSON text that is valid UTF-8 (lone surrogates are escaped, never sent raw)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"))
    return text


def encode(envelope: dict[str, Any]) -> list[str]:
    """The texts that carry one envelope: itself, or a count followed by its pieces.

    Never a short numeric text on its own (a JS client would take it for a frame count), and
    never a piece over 16,384 characters (at most 64 KiB of UTF-8: the Java SDK's frame cap).
    """
    return frame(dumps(envelope))


def frame(text: str) -> list[str]:
    if len(text) <= MAX_PIECE_CHARS:
        return [text]
    pieces = [text[i : i + MAX_PIECE_CHARS] for i in range(0, len(text), MAX_PIECE_CHARS)]
    return [str(len(pieces)), *pieces]


def control(kind: str, data: Any) -> dict[str, Any]:
    """A control envelope (``h`` hello, ``o`` pong, ``s`` shutdown, ``e`` error…)."""
    return {"t": "c", "d": {"t": kind, "d": data}}


def response(request: Any, status: str, data: Any) -> dict[str, Any]:
    """The answer to request number ``request``."""
    return {"t": "d", "d": {"r": request, "b": {"s": status, "d": data}}}


def push(action: str, body: dict[str, Any]) -> dict[str, Any]:
    """A server push (``d`` data, ``m`` merge, ``c`` listen revoked, ``ac`` auth revoked)."""
    return {"t": "d", "d": {"a": action, "b": body}}

"""HTTP values for the protocol core: requests, responses, errors, parameters and JSON bodies."""

from __future__ import annotations

import email.policy
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from typing import Any
from urllib.parse import unquote_plus

from focuscli.server import tree
from focuscli.server.sse import dumps

JSON_TYPE = "application/json; charset=utf-8"
TOO_BIG = "Data to write exceeds the maximum size that can be modified with a single request."
SSE_TYPE = "text/event-stream; charset=utf-8"


# Reads a request's body against the limits; its argument is awaited once the body proves big
# (more than Limits.inline_bytes), before the rest is read.
BodyReader = Callable[[Callable[[], Awaitable[None]]], Awaitable[bytes]]


@dataclass
class Request:
    method: str
    raw_path: str  # percent-encoded, without the query string
    query_string: str
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    reader: BodyReader | None = None  # the body not read yet: ``body`` is empty until it is


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class HttpError(Exception):
    """A failure answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_params(query_string: str) -> dict[str, str]:
    """Form-style decoding (``+`` is a space); the first occurrence of a name wins."""
    params: dict[str, str] = {}
    for item in query_string.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        params.setdefault(unquote_plus(name), unquote_plus(value))
    return params


def error_response(status: int, message: str) -> Response:
    """Errors are pretty-printed, as production and the emulator print them."""
    headers = {"content-type": JSON_TYPE, "cache-control": "no-cache"}
    return Response(status, pretty({"error": message}), headers)


def json_response(
    status: int, value: Any, params: dict[str, str], headers: dict[str, str],
    encoded: bytes | None = None,
) -> Response:  # fmt: skip
    """A JSON answer honouring ``print=silent|pretty``, ``callback`` and ``download``.

    ``encoded`` is ``value`` already encoded as compact JSON (big values are, off the loop)."""
    headers = {"content-type": JSON_TYPE, "cache-control": "no-cache", **headers}
    printing = params.get("print")
    if printing == "silent" and status < 300:
        del headers["content-type"]
        return Response(204, b"", headers)
    if printing == "pretty":
        body = pretty(value)
    else:
        body = encoded if encoded is not None else dumps(value)
    callback = params.get("callback")
    if callback is not None and status == 200:
        check_callback(params)
        headers["content-type"] = "application/javascript; charset=utf-8"
        body = callback.encode() + b"(" + body + b");"
    download = params.get("download")
    if download is not None and status == 200:
        safe = re.sub(r"[^\w.\- ]", "_", download) or "download"
        headers["content-disposition"] = f'attachment; filename="{safe}"'
    return Response(status, body, headers)


def check_callback(params: dict[str, str]) -> None:
    """Refuse a ``callback`` that is not a JavaScript identifier (checked before a request has
    any effect: a write must not be refused once it is done)."""
    callback = params.get("callback")
    if callback is not None and not re.match(r"^[A-Za-z_$][\w$.]*$", callback):
        raise HttpError(400, "callback must be a JavaScript identifier.")


def pretty(value: Any) -> bytes:
    """Production's pretty style: two-space indent and ``"key" : value``."""
    text = json.dumps(value, indent=2, separators=(",", " : "), ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace")


def text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, tree.INVALID_JSON) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def parse_body(body: bytes) -> Any:
    """The request body as JSON (NaN and Infinity are not JSON); 400 otherwise."""
    try:
        return json.loads(text(body), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise HttpError(400, tree.INVALID_JSON) from None


def uploaded_file(request: Request) -> bytes:
    """The bytes of the ``myFile`` part of a multipart/form-data body (the emulator UI's import)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise HttpError(400, "An upload must be multipart/form-data with a part named myFile.")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "myFile":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload
    raise HttpError(400, "An upload must be multipart/form-data with a part named myFile.")

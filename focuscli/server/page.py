"""The browser page's files: / and /s/NAME, its modules and the vendored SDK, and the page's
Firebase config at /__/firebase/init.json, answered as Firebase Hosting answers them.

Pure (no sockets): ``PageFiles.answer`` takes one request's method, path, query and headers and
returns a `Response`, or None for a request that is not the page's (the database's, the Auth
emulator's). The files are the package's ``focuscli/web`` directory, the same directory
`firebase deploy --only hosting` uploads (firebase/public links to it), so what focus serve
serves and what Hosting serves cannot differ. Every file is read and gzipped once.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

from focuscli.server.store import namespace_error
from focuscli.server.wire import Response, error_response

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
INIT_PATH = "/__/firebase/init.json"
SESSION_PREFIX = "/s/"
# The namespace the page uses when its URL names none: the embedded default's
# (focuscli.settings.EMBEDDED_NAMESPACE), so http://127.0.0.1:9000/ is a person's own timer.
DEFAULT_NAMESPACE = "focus"
# Any non-empty key does on an emulator (the official emulator's own choice, as the CLI's).
EMULATOR_API_KEY = "fake-api-key"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Cache policy, the same as firebase/firebase.json's hosting headers (a test holds them equal):
# the page's own files carry no content hash in their names, so browsers revalidate them on
# every load (a cheap 304 with the ETag); the vendored SDK sits under its version and never
# changes, so it is cached for a year.
PAGE_CACHE = "no-cache"
VENDOR_CACHE = "public, max-age=31536000, immutable"
VENDOR_PREFIX = "/vendor/"
MIN_GZIP_BYTES = 512
COMMON_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


@dataclass(frozen=True)
class PageFile:
    body: bytes
    gzipped: bytes | None  # None: too small to be worth it
    content_type: str
    etag: str
    cache: str


def load_files(root: Path = WEB_ROOT) -> dict[str, PageFile]:
    """Every file the page may load, by URL path (``/page.js``, ``/vendor/firebase/13.2.0/...``)."""
    files: dict[str, PageFile] = {}
    for path in sorted(root.rglob("*")):
        kind = TYPES.get(path.suffix)
        relative = path.relative_to(root).as_posix()
        if kind is None or not path.is_file() or any(part.startswith((".", "_")) for part in relative.split("/")):
            continue
        body = path.read_bytes()
        url = "/" + relative
        packed = gzip.compress(body, compresslevel=9, mtime=0) if len(body) >= MIN_GZIP_BYTES else None
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        cache = VENDOR_CACHE if url.startswith(VENDOR_PREFIX) else PAGE_CACHE
        files[url] = PageFile(body, packed, kind, etag, cache)
    return files


class PageFiles:
    """Answers the page's requests for one server (its project id and mode)."""

    def __init__(self, *, project_id: str, secure: bool, root: Path = WEB_ROOT) -> None:
        self.project_id = project_id
        self.secure = secure
        self.files = load_files(root)

    def answer(self, method: str, path: str, query: str, headers: dict[str, str], scheme: str) -> Response | None:
        """The page's response, or None when the request is not for the page (``headers`` keys
        lower-case; the Host header already checked by the server)."""
        if method not in ("GET", "HEAD"):
            return None
        if path == INIT_PATH:
            return self._init(query, headers, scheme)
        if path == "/":
            if "text/html" not in headers.get("accept", ""):
                return None  # API clients: the Auth emulator's readiness answer
            name = "/index.html"
        elif path.startswith(SESSION_PREFIX):
            name = "/index.html"  # Hosting's rewrite of /s/** (the page reads the name itself)
        else:
            name = path
        page = self.files.get(name)
        if page is None:
            return None
        return _file_response(page, headers)

    def _init(self, query: str, headers: dict[str, str], scheme: str) -> Response:
        params = dict(parse_qsl(query, keep_blank_values=True))
        ns = params.get("ns", DEFAULT_NAMESPACE)
        refused = namespace_error(ns)
        if refused:
            return error_response(400, refused)
        host = headers.get("host", "")
        name, port = _split_host(host)
        if name is None:
            return error_response(400, "The request has no usable Host header: the page needs to know where it is.")
        config = {
            "apiKey": EMULATOR_API_KEY,
            "projectId": self.project_id,
            "authDomain": host,
            "databaseURL": f"{scheme}://{host}?ns={ns}",
            # What Hosting's init.json does not have: the page connects its SDK to this server
            # (connectAuthEmulator / connectDatabaseEmulator) instead of Google's.
            "emulator": {
                "url": f"{scheme}://{host}", "host": name, "port": port,
                "mode": "secure" if self.secure else "emulator",
            },
        }
        body = json.dumps(config, indent=2).encode()
        out = {"content-type": "application/json; charset=utf-8", "cache-control": "no-cache", **COMMON_HEADERS}
        return Response(200, body, out)


def _split_host(host: str) -> tuple[str | None, int]:
    """(name, port) of a Host header: ``[::1]:9000`` -> ``("[::1]", 9000)``; the port defaults to 80."""
    text = host.strip()
    if not text:
        return None, 0
    if text.startswith("["):
        name, _, rest = text.partition("]")
        name += "]"
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port_text = text.partition(":")
    if port_text and not port_text.isdigit():
        return None, 0
    return name, int(port_text) if port_text else 80


def _file_response(page: PageFile, headers: dict[str, str]) -> Response:
    """The file, gzipped when the client takes it, or 304 when it has this version (a HEAD
    request gets the same headers: the transport leaves the body out)."""
    out = {
        "content-type": page.content_type,
        "cache-control": page.cache,
        "etag": page.etag,
        "vary": "Accept-Encoding",
        **COMMON_HEADERS,
    }
    if page.etag in [tag.strip() for tag in headers.get("if-none-match", "").split(",")]:
        return Response(304, b"", out)
    body = page.body
    if page.gzipped is not None and _accepts_gzip(headers.get("accept-encoding", "")):
        body = page.gzipped
        out["content-encoding"] = "gzip"
    return Response(200, body, out)


def _accepts_gzip(header: str) -> bool:
    for item in header.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip()
            return not (q.startswith("q=") and _quality(q[2:]) == 0)
    return False


def _quality(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 1.0

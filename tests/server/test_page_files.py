"""focus serve serves the browser page as Firebase Hosting would: /, /s/NAME, the page's files
and the vendored SDK (gzipped, revalidated or cached by version), and /__/firebase/init.json;
firebase/firebase.json deploys the same directory with the same rules."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
import requests

from focuscli.server.page import DEFAULT_NAMESPACE, PAGE_CACHE, VENDOR_CACHE, WEB_ROOT
from focuscli.settings import EMBEDDED_NAMESPACE

pytestmark = pytest.mark.focus_serve

ROOT = Path(__file__).resolve().parent.parent.parent
INDEX = (WEB_ROOT / "index.html").read_bytes()
VERSION = next(p.name for p in (WEB_ROOT / "vendor" / "firebase").iterdir() if p.is_dir())


def get(url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers=headers, timeout=10)


def test_browsers_get_the_page_at_the_root_and_api_clients_the_readiness_answer(server_url: str) -> None:
    page = get(server_url + "/", Accept="text/html,application/xhtml+xml,*/*;q=0.8")
    assert (page.status_code, page.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert page.content == INDEX
    assert page.headers["cache-control"] == PAGE_CACHE
    api = get(server_url + "/")
    assert api.status_code == 200 and api.json()["authEmulator"]["ready"] is True


@pytest.mark.parametrize("path", ["/s/team", "/s/team/", "/s/Team_2-b?ns=x", "/s/not%20a%20name"])
def test_every_session_address_is_the_page(server_url: str, path: str) -> None:
    """As Hosting's /s/** rewrite: the page itself reads (and checks) the name."""
    page = get(server_url + path)
    assert page.status_code == 200 and page.content == INDEX


def test_files_are_gzipped_revalidated_and_the_sdk_cached_by_version(server_url: str) -> None:
    plain = requests.get(server_url + "/page.js", headers={"Accept-Encoding": "identity"}, timeout=10)
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
    assert plain.content == (WEB_ROOT / "page.js").read_bytes()
    assert "content-encoding" not in plain.headers and plain.headers["cache-control"] == PAGE_CACHE
    packed = requests.get(server_url + "/page.js", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=10)
    raw = packed.raw.read()
    assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(raw) == plain.content and len(raw) < len(plain.content) / 2
    again = get(server_url + "/page.js", **{"If-None-Match": plain.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")
    sdk = get(server_url + f"/vendor/firebase/{VERSION}/firebase-database.js")
    assert sdk.status_code == 200 and sdk.headers["cache-control"] == VENDOR_CACHE
    assert sdk.content == (WEB_ROOT / "vendor" / "firebase" / VERSION / "firebase-database.js").read_bytes()
    css = get(server_url + "/page.css")
    assert css.headers["content-type"] == "text/css; charset=utf-8" and css.headers["x-content-type-options"] == "nosniff"
    head = requests.head(server_url + "/page.css", timeout=10)
    assert head.status_code == 200 and head.content == b""


@pytest.mark.parametrize("path", ["/nothing.js", "/vendor/firebase/LICENSE", "/../pyproject.toml", "/vendor/x.js"])
def test_anything_else_is_not_the_page_s(server_url: str, path: str) -> None:
    """Unknown files fall through to the database, which names what its paths look like."""
    answer = get(server_url + path)
    assert answer.status_code in (400, 404) and "error" in answer.json()


def test_writes_to_page_paths_are_the_database_s(server_url: str) -> None:
    answer = requests.post(server_url + "/page.js", data=b"x", timeout=10)
    assert answer.status_code == 404 and "REST paths end in .json" in answer.json()["error"]


def test_init_json_tells_the_page_where_its_database_and_sign_in_are(server_url: str) -> None:
    host = server_url.removeprefix("http://")
    config = get(server_url + "/__/firebase/init.json?ns=team-db").json()
    assert config == {
        "apiKey": "fake-api-key",
        "projectId": "demo-focus",
        "authDomain": host,
        "databaseURL": f"http://{host}?ns=team-db",
        "emulator": {"url": server_url, "host": host.split(":")[0], "port": int(host.split(":")[1]), "mode": "emulator"},
    }
    assert get(server_url + "/__/firebase/init.json").json()["databaseURL"].endswith(f"?ns={DEFAULT_NAMESPACE}")
    bad = get(server_url + "/__/firebase/init.json?ns=a/b")
    assert bad.status_code == 400 and bad.json() == {"error": "Invalid namespace 'a/b': use letters, digits, '-' and '_'."}


def test_the_default_namespace_is_the_embedded_server_s() -> None:
    assert DEFAULT_NAMESPACE == EMBEDDED_NAMESPACE


def test_firebase_json_deploys_the_same_files_with_the_same_rules() -> None:
    """`firebase deploy --only hosting,database` from firebase/: public is the package's web
    directory (a link, as database.rules.json), /s/** is the page, cache headers as ours."""
    config = json.loads((ROOT / "firebase" / "firebase.json").read_text())
    hosting = config["hosting"]
    public = ROOT / "firebase" / hosting["public"]
    assert public.is_symlink() and public.resolve() == WEB_ROOT.resolve()
    assert {"source": "/s/**", "destination": "/index.html"} in hosting["rewrites"]
    rules = {rule["source"]: {h["key"]: h["value"] for h in rule["headers"]} for rule in hosting["headers"]}
    assert rules["/vendor/**"] == {"Cache-Control": VENDOR_CACHE}
    for source in ("/", "/s/**", "/*.@(html|js|css|svg)"):
        assert rules[source] == {"Cache-Control": PAGE_CACHE}, source
    assert config["database"] == {"rules": "database.rules.json"}


def test_the_page_maps_the_sdk_s_cdn_url_to_our_copy() -> None:
    """The import map in index.html names the vendored version (and no other URL is loaded)."""
    html = INDEX.decode()
    imports = json.loads(re.search(r'<script type="importmap">(.*?)</script>', html, re.S).group(1))["imports"]
    assert imports == {
        f"https://www.gstatic.com/firebasejs/{VERSION}/firebase-app.js": f"/vendor/firebase/{VERSION}/firebase-app.js",
    }
    firebase_js = (WEB_ROOT / "firebase.js").read_text()
    assert set(re.findall(r'"\./vendor/firebase/([^/]+)/', firebase_js)) == {VERSION}
    assert not re.search(r'(src|href)="(https?:)?//', html), "the page loads something from elsewhere"


def test_the_content_security_policy_lets_only_our_files_run() -> None:
    """The page's CSP allows scripts from the page's own origin and the inline import map by
    its hash (which must follow any change of the map), and nothing inline else."""
    import base64
    import hashlib

    html = INDEX.decode()
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html).group(1)
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    importmap = re.search(r'<script type="importmap">(.*?)</script>', html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(importmap.encode()).digest()).decode()
    assert directives["script-src"] == f"'self' 'sha256-{digest}'"
    assert directives["default-src"] == "'self'" and directives["object-src"] == "'none'"
    assert len(re.findall(r"<script\b", html)) == 2  # the import map and the page's module

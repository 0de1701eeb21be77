"""The page's vendored Firebase JS SDK: the npm build of the pinned version, unmodified, shipped.

focuscli/web/vendor/firebase/<version>/ holds the browser ES-module builds of the app, auth and
database products (the files the gstatic CDN serves), byte for byte those of the npm package
`firebase` at the version tests/node/package.json pins, with the SDK's LICENSE and a VERSION
file; `pip install` carries them, so the page needs no CDN and works offline.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests import node

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "node"
VENDOR = ROOT / "focuscli" / "web" / "vendor" / "firebase"
PRODUCTS = ("firebase-app.js", "firebase-auth.js", "firebase-database.js")


def pinned_version() -> str:
    return str(json.loads((NODE_DIR / "package.json").read_text())["dependencies"]["firebase"])


def vendored() -> Path:
    versions = [p for p in VENDOR.iterdir() if p.is_dir()]
    assert len(versions) == 1, f"one vendored version, found {[p.name for p in versions]}"
    return versions[0]


def test_the_vendored_version_is_the_pinned_one() -> None:
    version = pinned_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "pin an exact version"
    assert vendored().name == version
    assert (vendored() / "VERSION").read_text() == f"{version}\n"
    assert sorted(p.name for p in vendored().iterdir()) == sorted([*PRODUCTS, "LICENSE", "VERSION"])
    assert "Apache License" in (vendored() / "LICENSE").read_text()


def test_the_vendored_files_are_the_npm_package_s_unmodified() -> None:
    node.npm_ci(NODE_DIR)
    package = NODE_DIR / "node_modules" / "firebase"
    assert json.loads((package / "package.json").read_text())["version"] == pinned_version()
    for name in PRODUCTS:
        assert (vendored() / name).read_bytes() == (package / name).read_bytes(), f"{name} differs from npm's"


def test_only_the_app_module_is_imported_and_by_its_cdn_url() -> None:
    """Why the page needs an import map (and no rewriting): auth and database import the app
    module by its absolute gstatic URL, nothing else, and nothing dynamically."""
    cdn = f"https://www.gstatic.com/firebasejs/{pinned_version()}/firebase-app.js"
    for name in PRODUCTS:
        text = (vendored() / name).read_text()
        imported = set(re.findall(r"""(?:\bfrom|\bimport)\s*["']([^"']+)["']""", text))
        assert imported == (set() if name == "firebase-app.js" else {cdn}), name
        assert not re.search(r"\bimport\s*\(", text), f"{name} imports dynamically"


def test_the_wheel_carries_the_page(tmp_path: Path) -> None:
    """pip install gives the page's modules and the SDK (package data), built from a copy of
    the checkout so that nothing is written into it."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "focuscli", src / "focuscli", ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("focuscli-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    web = ROOT / "focuscli" / "web"
    expected = {f"focuscli/web/{p.relative_to(web).as_posix()}" for p in web.rglob("*") if p.is_file()}
    assert expected and expected <= shipped, sorted(expected - shipped)

"""A real browser for the page's tests: Debian's Chromium, driven by Playwright for Python.

Playwright starts the system browser (`executable_path`), never one it downloads; the flags
keep a headless Chromium from reaching for the network on its own (this machine refuses such
connections, and a test must not depend on them). Each `launch` gets a fresh profile directory
from Playwright, and each browser context is a separate person (own storage, own sign-in).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

INSTALL_HINT = "run: sudo python tests/setup_browser.py (or: sudo apt-get install chromium)"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--mute-audio",
)  # fmt: skip


def find_chromium() -> str | None:
    """FOCUS_CHROMIUM, else chromium (or chromium-browser) on PATH."""
    explicit = os.environ.get("FOCUS_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_path() -> str:
    """The Chromium to drive; AssertionError naming the fix when there is none."""
    found = find_chromium()
    if found is None:
        raise AssertionError(f"Chromium not found for the browser tests; {INSTALL_HINT}")
    return found


def launch(playwright: Any) -> Any:
    """A headless Chromium (Playwright's Browser)."""
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=list(FLAGS))

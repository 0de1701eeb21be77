#!/usr/bin/env python3
"""Takes the README's screenshots of the browser page: light, dark and phone width, into docs/.

A `focus serve` (emulator mode, in memory) with a session in which ana started a block from her
terminal, bob watches from his and cara is away; dana uses the page. Needs the test extras and
Chromium (python tests/setup_browser.py). Run: python docs/screenshots.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from focuscli.server import LocalServer  # noqa: E402
from tests.browser import launch  # noqa: E402

RULES = (ROOT / "firebase" / "database.rules.json").read_text()
SHOTS = {  # file: (viewport, colour scheme, device scale)
    "page-light.png": ({"width": 1100, "height": 860}, "light", 1),
    "page-dark.png": ({"width": 1100, "height": 860}, "dark", 1),
    "page-phone.png": ({"width": 390, "height": 844}, "light", 2),
}


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as home, LocalServer(port=0, rules_source=RULES) as server:
        db = f"{server.url}?ns=team-db"

        def env(user: str) -> dict[str, str]:
            base = Path(home) / user
            return {**os.environ, "FOCUS_DATABASE_URL": db, "FOCUS_USER": user, "PYTHONPATH": str(ROOT),
                    "XDG_CONFIG_HOME": str(base / "c"), "XDG_STATE_HOME": str(base / "s"), "XDG_DATA_HOME": str(base / "d")}

        def focus(user: str, *args: str) -> str:
            done = subprocess.run([sys.executable, "-m", "focuscli", *args], env=env(user), capture_output=True,
                                  text=True, timeout=60, check=True)
            return done.stdout.strip()

        focus("ana", "start", "25m", "--label", "write the quarterly report", "--session", "team")
        code = focus("ana", "session", "invite")
        for user in ("bob", "cara"):
            focus(user, "join", "team", "--code", code)
        focus("bob", "pause")
        focus("ana", "resume")
        focus("ana", "extend", "5m")
        watch = subprocess.Popen([sys.executable, "-m", "focuscli", "watch", "--json"], env=env("bob"),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                first = True
                for name, (viewport, scheme, scale) in SHOTS.items():
                    context = browser.new_context(viewport=viewport, color_scheme=scheme, device_scale_factor=scale,
                                                  is_mobile=scale > 1, has_touch=scale > 1, bypass_csp=True)
                    page = context.new_page()
                    page.goto(f"{server.url}/s/team?ns=team-db")
                    page.get_by_role("textbox", name="Email").fill("dana@example.com")
                    page.get_by_role("textbox", name="Password").fill("correct horse")
                    if first:
                        page.get_by_role("textbox", name="Name").fill("dana")
                        page.get_by_role("button", name="Create account").click()
                        page.get_by_role("textbox", name="Invite code").fill(code)
                        page.get_by_role("button", name="Join").click()
                        first = False
                    else:
                        page.get_by_role("button", name="Sign in").click()
                    page.locator("[role=timer][data-status=running]").wait_for()
                    page.wait_for_function("document.querySelector('#here').textContent.includes('bob')")
                    page.evaluate("document.getElementById('notice').textContent = ''")
                    time.sleep(0.3)
                    page.screenshot(path=str(ROOT / "docs" / name), full_page=scale > 1)
                    print(f"docs/{name}")
                    context.close()
                browser.close()
        finally:
            watch.terminate()
            watch.wait(timeout=10)


if __name__ == "__main__":
    main()

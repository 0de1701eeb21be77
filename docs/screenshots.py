#!/usr/bin/env python3
"""Takes the README's screenshots of the browser page: light, dark, phone width and its report, into docs/.

A `focus serve` (emulator mode, in memory) with a session that has four days of history (written
as the CLI writes it) and in which ana started a block from her terminal, bob watches from his
and cara is away; dana uses the page. Needs the test extras and Chromium (python
tests/setup_browser.py). Run: python docs/screenshots.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from focuscli import timer  # noqa: E402
from focuscli.server import LocalServer  # noqa: E402
from focuscli.service import new_with_times  # noqa: E402
from tests.browser import launch  # noqa: E402

RULES = (ROOT / "firebase" / "database.rules.json").read_text()
SHOTS = {  # file: (viewport, colour scheme, device scale)
    "page-light.png": ({"width": 1100, "height": 860}, "light", 1),
    "page-dark.png": ({"width": 1100, "height": 860}, "dark", 1),
    "page-phone.png": ({"width": 390, "height": 844}, "light", 2),
    "page-report.png": ({"width": 1100, "height": 860}, "light", 1),  # the Report section only
}
M, DAY = 60_000, 86_400_000
LABELS = ("write the quarterly report", "code review", "planning")


def history(uids: dict[str, str], now: int) -> dict[str, Any]:
    """Four days of blocks before today (as the CLI writes them: a state record and a log entry
    per action), with who watched them: the nodes to add to the session."""
    nodes: dict[str, Any] = {}
    state = timer.TimerState()
    for day in range(4, 0, -1):
        at = now - day * DAY
        for i in range(2 + day % 3):
            who = list(uids)[(day + i) % len(uids)]
            state = replace(new_with_times(timer.start(state, uids[who], at, label=LABELS[(day + i) % 3]), at), updated_by_name=who)
            entry = {"action": "start", "by": uids[who], "name": who, "at": at, "rev": state.rev, "phase": "focus",
                     "ms": state.duration_ms, "label": state.label}
            nodes.update({"state": state.to_wire(), f"states/{state.rev}": state.to_wire(), f"log/{state.rev}": entry})
            for j, (watcher, uid) in enumerate(uids.items()):
                if watcher != who and (day + i + j) % 2:
                    nodes[f"presence/shot{state.rev:04d}{j}{'x' * 4}"] = {"uid": uid, "name": watcher, "from": at, "seen": at + 25 * M, "to": at + 25 * M}
            at += 35 * M
    return nodes


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

        focus("ana", "session", "create", "team")
        code = focus("ana", "session", "invite", "--session", "team")
        for user in ("bob", "cara"):
            focus(user, "join", "team", "--code", code)
        uids = {user: json.loads(focus(user, "whoami", "--json"))["uid"] for user in ("ana", "bob", "cara")}
        requests.patch(f"{server.url}/sessions/team.json", params={"ns": "team-db"}, timeout=10,
                       json=history(uids, int(time.time() * 1000)), headers={"Authorization": "Bearer owner"}).raise_for_status()
        focus("ana", "start", "25m", "--label", "write the quarterly report", "--session", "team")
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
                    page.locator("#report[aria-busy=false] #report-chart rect").first.wait_for()
                    time.sleep(0.3)
                    if name == "page-report.png":
                        page.locator("#report").screenshot(path=str(ROOT / "docs" / name))
                    else:
                        page.screenshot(path=str(ROOT / "docs" / name), full_page=scale > 1)
                    print(f"docs/{name}")
                    context.close()
                browser.close()
        finally:
            watch.terminate()
            watch.wait(timeout=10)


if __name__ == "__main__":
    main()

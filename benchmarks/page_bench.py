#!/usr/bin/env python3
"""Benchmark of the browser page on a local `focus serve`: load to a live countdown, the bytes it
costs, and a terminal member's action reaching the page.

Setup: ``python -m focuscli serve --port 0 --memory --rules firebase/database.rules.json`` in a
subprocess; a session ``team`` whose owner (a library member, focuscli.service.Focus) started a
one-hour block; Debian's headless Chromium driven by Playwright (python tests/setup_browser.py
installs it), where a member signed in on the page once and joined.

1. Page load to live countdown: a fresh browser context (empty HTTP cache) with the member's
   stored sign-in opens /s/team; the time from navigation start until the page shows the running
   countdown over a live connection (read in the page: performance.now() when the timer element
   first says running while the connection says live). Then the same with a warm cache (reload).
2. Bytes transferred: what the cold load fetched over HTTP (Resource Timing transferSize:
   compressed bodies plus headers; the WebSocket's frames are not counted), and the same bodies
   uncompressed.
3. A terminal member's action to the page: the owner pauses and resumes through the library
   (the CLI's code path: read the state, one compare-and-set write); latency = the page's
   Date.now() when its timer element shows the new rev minus the local time just before the
   action began (same machine, same clock). Goal p99 <= 200 ms.

Usage (from the repository root): python benchmarks/page_bench.py [--quick]
Only 127.0.0.1 is contacted; the server gets SIGTERM, temporary directories are removed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import Child, child_env, percentile, start_server  # noqa: E402
from tests.browser import launch  # noqa: E402
from tests.members import EmulatorMember  # noqa: E402

NS = "bench"
PASSWORD = "correct horse"
OBSERVE = """
(() => {
  window.__focusBench = { liveAt: null, revAt: {} };
  const check = () => {
    const t = document.querySelector('[role=timer]');
    const conn = document.getElementById('connection');
    if (!t || !conn) return;
    const live = !document.getElementById('panel-timer').hidden && conn.classList.contains('live');
    if (live && t.dataset.status === 'running' && window.__focusBench.liveAt === null) {
      window.__focusBench.liveAt = performance.now();
    }
    const rev = t.dataset.rev;
    if (rev && !(rev in window.__focusBench.revAt)) window.__focusBench.revAt[rev] = Date.now();
  };
  new MutationObserver(check).observe(document, { subtree: true, attributes: true, childList: true, characterData: true });
})();
"""
LOADED_BYTES = """() => {
  const all = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
  return { transfer: all.reduce((n, e) => n + e.transferSize, 0), decoded: all.reduce((n, e) => n + e.decodedBodySize, 0),
           files: all.length };
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 loads and 20 actions instead of 15 and 100")
    args = parser.parse_args()
    loads, actions = (5, 20) if args.quick else (15, 100)
    from playwright.sync_api import sync_playwright

    from focuscli import timer
    from focuscli.backend import Database, Target
    from focuscli.service import Focus

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server, port = start_server(work, child_env(), Child)
        base = f"http://127.0.0.1:{port}"
        me = EmulatorMember("lead", "Lead")
        db = Database(Target(f"{base}?ns={NS}", None, "emulator"), me)
        try:
            lead = Focus(db, me, state_dir=work / "lead")
            lead.act("team", lambda s, now: timer.start(s, "lead", now, duration_ms=3_600_000), create=True)
            code = lead.invite_code("team")
            url = f"{base}/s/team?ns={NS}"
            with sync_playwright() as playwright:
                browser = launch(playwright)
                first = browser.new_context()
                page = first.new_page()
                page.goto(url)
                page.get_by_role("textbox", name="Email").fill("dana@example.com")
                page.get_by_role("textbox", name="Password").fill(PASSWORD)
                page.get_by_role("textbox", name="Name").fill("Dana")
                page.get_by_role("button", name="Create account").click()
                page.get_by_role("textbox", name="Invite code").fill(code)
                page.get_by_role("button", name="Join").click()
                page.locator("[role=timer][data-status=running]").wait_for()
                signed_in = first.storage_state(indexed_db=True)
                first.close()

                cold: list[float] = []
                warm: list[float] = []
                sizes: dict[str, Any] = {}
                for _ in range(loads):
                    context = browser.new_context(storage_state=signed_in, bypass_csp=True)  # page.wait_for_function evaluates strings
                    context.add_init_script(OBSERVE)
                    page = context.new_page()
                    page.goto(url)
                    page.wait_for_function("window.__focusBench.liveAt !== null", timeout=10_000)
                    cold.append(page.evaluate("window.__focusBench.liveAt"))
                    sizes = page.evaluate(LOADED_BYTES)
                    page.reload()
                    page.wait_for_function("window.__focusBench.liveAt !== null", timeout=10_000)
                    warm.append(page.evaluate("window.__focusBench.liveAt"))
                    context.close()

                context = browser.new_context(storage_state=signed_in, bypass_csp=True)  # page.wait_for_function evaluates strings
                context.add_init_script(OBSERVE)
                page = context.new_page()
                page.goto(url)
                page.wait_for_function("window.__focusBench.liveAt !== null", timeout=10_000)
                latencies: list[float] = []
                for i in range(actions):
                    action = timer.pause if i % 2 == 0 else timer.resume
                    began = time.time() * 1000
                    status = lead.act("team", lambda s, now, fn=action: fn(s, "lead", now))
                    rev = status.view.rev
                    page.wait_for_function(f"'{rev}' in window.__focusBench.revAt", timeout=10_000)
                    latencies.append(page.evaluate(f"window.__focusBench.revAt['{rev}']") - began)
                    time.sleep(0.05)
                context.close()
                browser.close()
        finally:
            db.close()
            server.stop(signal.SIGTERM)

    cold.sort()
    warm.sort()
    latencies.sort()
    print(f"page bench: focus serve --memory on 127.0.0.1, Chromium headless; {loads} loads, {actions} actions")
    print(f"page load to live countdown, cold cache: p50 {percentile(cold, 0.5):.0f} ms, max {cold[-1]:.0f} ms (goal <= 1000 ms)")
    print(f"page load to live countdown, warm cache: p50 {percentile(warm, 0.5):.0f} ms, max {warm[-1]:.0f} ms")
    print(f"bytes transferred, cold load: {sizes['transfer'] / 1024:.1f} KiB compressed over {sizes['files']} requests "
          f"({sizes['decoded'] / 1024:.1f} KiB uncompressed); the WebSocket not counted")
    print(f"terminal action to the page: p50 {percentile(latencies, 0.5):.0f} ms, p99 {percentile(latencies, 0.99):.0f} ms, "
          f"max {latencies[-1]:.0f} ms (goal p99 <= 200 ms)")


if __name__ == "__main__":
    main()

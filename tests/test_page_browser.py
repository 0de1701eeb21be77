"""The page in a real browser: two people on pages and one in a terminal share one timer.

Headless Chromium (Debian's), driven by Playwright, against a `focus serve --secure` (signed
RS256 tokens: what the embedded default runs): the pages sign in and join through their forms,
the terminal member acts through the CLI, and every claim of issue 14 item 5 is checked on the
page and in `focus status` / `focus who`. One browser and one server serve the module.
"""

from __future__ import annotations

import io
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from focuscli.server import LocalServer
from tests.browser import launch

pytestmark = pytest.mark.focus_serve

ROOT = Path(__file__).resolve().parent.parent
RULES = (ROOT / "firebase" / "database.rules.json").read_text()
SECRET = "page-browser-test-secret-0123456789"
PASSWORD = "correct horse"
FAST_S = 1.0  # issue 14: a change shows on the other side within a second


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(port=0, secure=True, admin_token=SECRET, rules_source=RULES) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


class Terminal:
    """One person's `focus`, run in this process with a HOME of their own."""

    def __init__(self, url: str, home: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Any) -> None:
        self.url, self.home, self.monkeypatch, self.run_cli = url, home, monkeypatch, run_cli

    def __call__(self, *args: str, stdin: str = "") -> Any:
        for var in ("FOCUS_SESSION", "FOCUS_CONFIG", "FOCUS_USER", "GOOGLE_APPLICATION_CREDENTIALS"):
            self.monkeypatch.delenv(var, raising=False)
        self.monkeypatch.setenv("FOCUS_DATABASE_URL", self.url)
        self.monkeypatch.setenv("HOME", str(self.home))
        self.monkeypatch.setenv("USER", "cli")
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        result = self.run_cli(list(args), self.home)
        assert result.code == 0, result
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").out)


def sign_up(server: LocalServer, email: str, name: str) -> None:
    """An account made beforehand through the Auth REST API (as another device would)."""
    base = f"{server.url}/identitytoolkit.googleapis.com/v1"
    answer = requests.post(f"{base}/accounts:signUp?key=k", json={"email": email, "password": PASSWORD, "returnSecureToken": True}, timeout=10)
    assert answer.status_code == 200, answer.text
    named = requests.post(f"{base}/accounts:update?key=k", json={"idToken": answer.json()["idToken"], "displayName": name}, timeout=10)
    assert named.status_code == 200, named.text


def notice(page: Any) -> Any:
    return page.locator("#notice")


def within(seconds: float, check: Callable[[], bool], what: str) -> float:
    """Polls `check` until true; the time it took. Fails after `seconds`."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > seconds:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.01)


def timer_status(page: Any) -> str:
    return str(page.locator("[role=timer]").get_attribute("data-status"))


def test_two_pages_and_a_terminal_share_one_timer(
    server: LocalServer, browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Any
) -> None:
    from playwright.sync_api import expect

    ns = f"p{uuid.uuid4().hex[:10]}"
    requests.put(f"{server.url}/.settings/rules.json", params={"ns": ns}, data=RULES.encode(),
                 headers={"Authorization": f"Bearer {SECRET}"}, timeout=10).raise_for_status()  # fmt: skip
    cli = Terminal(f"{server.url}?ns={ns}", tmp_path / "cli", monkeypatch, run_cli)
    cli("login", f"cli@{ns}.example.com", "--create", "--name", "Cy", "--password-stdin", stdin=PASSWORD + "\n")
    cli("session", "create", "team")
    code = cli("session", "invite").out.strip()
    sign_up(server, f"bo@{ns}.example.com", "Bo")
    page_url = f"{server.url}/s/team?ns={ns}"

    loaded: list[str] = []
    problems: list[str] = []  # uncaught errors, and anything the Content-Security-Policy blocked
    ana_ctx, bo_ctx = browser.new_context(), browser.new_context()
    ana, bo = ana_ctx.new_page(), bo_ctx.new_page()
    for page in (ana, bo):
        page.on("request", lambda request: loaded.append(request.url))
        page.on("pageerror", lambda err: problems.append(str(err)))
        page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
        page.goto(page_url)

    # Ana makes her account on the page, then joins with the code typed in lower case.
    ana.get_by_role("textbox", name="Email").fill(f"ana@{ns}.example.com")
    ana.get_by_role("textbox", name="Password").fill(PASSWORD)
    ana.get_by_role("textbox", name="Name").fill("Ana")
    ana.get_by_role("button", name="Create account").click()
    ana.get_by_role("textbox", name="Invite code").fill(code.lower())
    ana.get_by_role("button", name="Join").click()
    expect(ana.locator("[role=timer]")).to_be_visible()

    # Bo mistypes his password, then the invite code: each time the page says so.
    bo.get_by_role("textbox", name="Email").fill(f"bo@{ns}.example.com")
    bo.get_by_role("textbox", name="Password").fill("wrong password")
    bo.get_by_role("button", name="Sign in").click()
    expect(notice(bo)).to_have_text("Wrong email or password.")
    bo.get_by_role("textbox", name="Password").fill(PASSWORD)
    bo.get_by_role("button", name="Sign in").click()
    bo.get_by_role("textbox", name="Invite code").fill("WRONGCODE2")
    bo.get_by_role("button", name="Join").click()
    expect(notice(bo)).to_have_text("The invite code for team is not right; ask a member for it.")
    bo.get_by_role("textbox", name="Invite code").fill(code)
    bo.get_by_role("button", name="Join").click()
    expect(bo.locator("[role=timer]")).to_be_visible()

    # The terminal starts a block: both pages show it running within a second.
    cli("start", "25m", "--label", "<b>write</b> the report", "--session", "team")
    started = time.monotonic()
    for page in (ana, bo):
        within(FAST_S - (time.monotonic() - started), lambda p=page: timer_status(p) == "running", "the CLI's start on a page")
    for page in (ana, bo):  # text from the database stays text
        expect(page.locator("#timer-label")).to_have_text("<b>write</b> the report")
        assert page.locator("#timer-label b").count() == 0
        expect(page.locator("#last-action")).to_contain_text("started by Cy")

    # The time left on a page agrees with `focus status` within 100 ms.
    status = cli.json("status", "--session", "team")
    cli_local = (status["ends_at"] - status["remaining_ms"] - status["clock_skew_ms"]) / 1000  # when it was computed
    shown = ana.locator("[role=timer]")
    remaining, at = int(shown.get_attribute("data-remaining-ms") or 0), int(shown.get_attribute("data-shown-at") or 0)
    page_remaining_then = remaining - (cli_local * 1000 - at)
    assert abs(page_remaining_then - status["remaining_ms"]) <= 100, (page_remaining_then, status)
    assert ana.locator("[role=timer]").text_content() == bo.locator("[role=timer]").text_content()

    # A page pauses: `focus status` says so within a second, naming who did it.
    ana.get_by_role("button", name="Pause").click()
    paused = time.monotonic()
    within(FAST_S, lambda: cli.json("status", "--session", "team")["status"] == "paused", "the page's pause in focus status")
    assert time.monotonic() - paused <= FAST_S
    status = cli.json("status", "--session", "team")
    assert status["updated_by"] == "Ana" and status["action"] == "pause"
    expect(bo.locator("#last-action")).to_contain_text("paused by Ana")
    expect(notice(ana)).to_have_text(f"team: paused focus with {ana.locator('[role=timer]').text_content()} left")

    # Keyboard: space resumes, s skips to the break (in the history, newest first).
    ana.locator("body").press(" ")
    within(FAST_S, lambda: timer_status(bo) == "running", "space resumes")
    ana.locator("body").press("s")
    expect(bo.locator("#phase-line")).to_have_text("short break · round 1 · running")
    expect(bo.locator("#history li").first).to_contain_text("skip by Ana short break 5:00")

    # Everyone is here; closing Bo's page turns him away for `focus who` at once.
    def presence() -> dict[str, bool]:
        return {m["name"]: m["here"] for m in cli.json("who", "--session", "team")}

    within(5, lambda: presence() == {"Ana": True, "Bo": True, "Cy": False}, "both pages here")
    expect(ana.locator("#here")).to_have_text("Ana, Bo")
    bo_ctx.close()
    closed = time.monotonic()
    within(FAST_S, lambda: presence()["Bo"] is False, "a closed page's member away")
    assert time.monotonic() - closed <= FAST_S
    expect(ana.locator("#away")).to_have_text("Bo, Cy")

    # Everything the pages loaded came from focus serve itself: no CDN, nothing else.
    assert loaded and all(url.startswith(server.url + "/") for url in loaded), sorted(set(loaded))
    assert problems == []
    ana_ctx.close()

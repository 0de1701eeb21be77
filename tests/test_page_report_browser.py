"""The page's Report section and its presence spans, in a real browser (issue 15 item 4).

A history is arranged in the database (written with the timer core, as the CLI writes it, around
the real clock: the page's ranges end now); the page, signed in as a member in Europe/Berlin,
must show the numbers `focus report --json` prints in the same time zone for the same range
(the command the page itself names), for every range it offers. A page kept open writes presence
spans as a watch does, so a report counts its member in the blocks that ran meanwhile, and
closing the page (or signing out) ends the span.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from focuscli import timer
from focuscli.server import LocalServer
from focuscli.service import new_with_times
from focuscli.timer import TimerState
from tests import test_page_browser as shared
from tests.test_page_browser import PASSWORD, RULES, SECRET, Terminal, within

pytestmark = pytest.mark.focus_serve
server, browser = (
    shared.server,
    shared.browser,
)  # its module fixtures: one server and browser here too

M = 60_000
H = 60 * M
DAY = 24 * H
ZONE = "Europe/Berlin"
MARKUP = "<b>write</b> the report"
ANA = "Ana <i>A.</i>"  # names are database text too


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process (the CLI) in Europe/Berlin, as the browser."""
    monkeypatch.setenv("TZ", ZONE)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


class Admin:
    """The database as its administrator (the server's admin token): arranging and checking."""

    def __init__(self, server: LocalServer, ns: str) -> None:
        self.base, self.ns = server.url, ns

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        answer = requests.request(method, f"{self.base}/{path}.json", params={"ns": self.ns}, json=body,
                                  headers={"Authorization": f"Bearer {SECRET}"}, timeout=10)  # fmt: skip
        assert answer.status_code == 200, answer.text
        return answer.json()

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def patch(self, path: str, body: dict[str, Any]) -> None:
        self._call("PATCH", path, body)


def account(server: LocalServer, email: str, name: str) -> str:
    """An account made through the Auth REST API (as another device would); its uid."""
    base = f"{server.url}/identitytoolkit.googleapis.com/v1"
    made = requests.post(
        f"{base}/accounts:signUp?key=k",
        json={"email": email, "password": PASSWORD, "returnSecureToken": True},
        timeout=10,
    )
    assert made.status_code == 200, made.text
    named = requests.post(
        f"{base}/accounts:update?key=k",
        json={"idToken": made.json()["idToken"], "displayName": name},
        timeout=10,
    )
    assert named.status_code == 200, named.text
    return str(made.json()["localId"])


class History:
    """A session's stored history, written action by action with the timer core (as the CLI)."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.state = TimerState()
        self.nodes: dict[str, Any] = {}

    def act(self, fn: Any, by: str, at: int, *args: Any, **kwargs: Any) -> History:
        new = new_with_times(fn(self.state, by, at, *args, **kwargs), at)
        self.state = new = replace(new, updated_by_name=self.names[by])
        entry = {"action": new.action, "by": by, "name": self.names[by], "at": at, "rev": new.rev}
        if new.action in ("start", "skip"):
            entry.update(
                phase=new.phase, ms=new.duration_ms, **({"label": new.label} if new.label else {})
            )
        self.nodes.update(
            {"state": new.to_wire(), f"states/{new.rev}": new.to_wire(), f"log/{new.rev}": entry}
        )
        return self

    def watched(self, uid: str, start: int, end: int) -> History:
        key = f"span{sum(k.startswith('presence/') for k in self.nodes):04d}{uid[:20]}"
        self.nodes[f"presence/{key}"] = {
            "uid": uid,
            "name": self.names[uid],
            "from": start,
            "seen": end,
            "to": end,
        }
        return self


def team(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Any, session: str
) -> tuple[Admin, Terminal, str, str]:
    """A namespace with focus's rules, a session made by Cy in a terminal, and Ana (a page's
    account) made a member of it: (admin, Cy's terminal, Cy's uid, Ana's uid)."""
    ns = f"r{uuid.uuid4().hex[:10]}"
    requests.put(f"{server.url}/.settings/rules.json", params={"ns": ns}, data=RULES.encode(),
                 headers={"Authorization": f"Bearer {SECRET}"}, timeout=10).raise_for_status()  # fmt: skip
    cli = Terminal(f"{server.url}?ns={ns}", tmp_path / "cli", monkeypatch, run_cli)
    cli(
        "login",
        f"cli@{ns}.example.com",
        "--create",
        "--name",
        "Cy",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    cli("session", "create", session)
    admin = Admin(server, ns)
    cy = admin.get(f"sessions/{session}/meta")["owner"]
    ana = account(server, f"ana@{ns}.example.com", ANA)
    joined = admin.get(f"sessions/{session}/members/{cy}")["joined_at"]
    admin.patch("", {f"sessions/{session}/members/{ana}": {"joined_at": joined, "name": ANA},
                     f"users/{ana}/sessions/{session}": {"joined_at": joined}})  # fmt: skip
    return admin, cli, cy, ana


def open_page(
    browser: Any, server: LocalServer, admin: Admin, session: str
) -> tuple[Any, Any, list[str]]:
    """Ana's page of `session`, signed in, in Europe/Berlin: (context, page, page errors)."""
    from playwright.sync_api import expect

    context = browser.new_context(timezone_id=ZONE)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(str(err)))
    page.on(
        "console",
        lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.goto(f"{server.url}/s/{session}?ns={admin.ns}")
    page.get_by_role("textbox", name="Email").fill(f"ana@{admin.ns}.example.com")
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("[role=timer]")).to_be_visible()
    return context, page, problems


def shown(page: Any) -> dict[str, Any]:
    """The Report section's numbers, read from the page (the values behind the texts)."""
    return page.evaluate(
        """() => {
          const q = (s) => [...document.querySelectorAll(s)];
          const totals = Object.fromEntries(q("#report-totals dd").map((d) => [d.dataset.key, Number(d.dataset.value)]));
          const members = Object.fromEntries(q("#report-members tbody tr").map((r) => [r.dataset.uid, Number(r.dataset.focusMs)]));
          const labels = q("#report-labels tbody tr[data-focus-ms]").map((r) =>
            [r.querySelector("th").classList.contains("none") ? null : r.querySelector("th").textContent, Number(r.dataset.focusMs)]);
          const days = q("#report-days tbody tr").map((r) => [r.dataset.date, Number(r.dataset.focusMs)]);
          const bars = {};
          for (const rect of q("#report-chart rect")) (bars[rect.dataset.date] ??= {})[rect.dataset.uid] = Number(rect.dataset.ms);
          return { totals, members, labels, days, bars, command: document.getElementById("report-command").textContent };
        }"""
    )  # fmt: skip


def expected(cli_json: dict[str, Any]) -> dict[str, Any]:
    """The same numbers from `focus report --json`."""
    t = cli_json["totals"]
    return {
        "totals": {"focus_ms": t["focus_ms"], "completed": t["completed"], "interrupted": t["interrupted"],
                   "breaks": t["breaks"], "longest_streak": t["longest_streak"]["days"]},
        "members": {m["uid"]: m["focus_ms"] for m in cli_json["members"]},
        "labels": [[row["label"], row["focus_ms"]] for row in cli_json["labels"]],
        "days": [[d["date"], d["focus_ms"]] for d in cli_json["days"]],
        "bars": {d["date"]: {u: ms for u, ms in d["members"].items() if ms > 0} for d in cli_json["days"] if any(d["members"].values())},
    }  # fmt: skip


def dayname(ms: int) -> str:
    """ "Mon 2024-06-03": the day of server time `ms` in Europe/Berlin, as the page names it."""
    return datetime.fromtimestamp(ms / 1000, ZoneInfo(ZONE)).strftime("%a %Y-%m-%d")


def wait_drawn(page: Any, range_id: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator(f"#report[data-shown='{range_id}'][aria-busy='false']")).to_have_count(1)


def test_the_report_on_the_page_is_focus_report(
    server: LocalServer,
    browser: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Any,
    berlin: None,
) -> None:
    from playwright.sync_api import expect

    admin, cli, cy, ana = team(server, tmp_path, monkeypatch, run_cli, "team")
    now = int(time.time() * 1000)
    d1, d2, d3 = now - 3 * DAY - H, now - DAY - H, now - 3 * H
    history = (
        History({cy: "Cy", ana: ANA})
        .watched(ana, d1 - 5 * M, d1 + 30 * M)
        .act(timer.start, cy, d1, label=MARKUP)  # Ana watched it: both count it
        .act(timer.start, ana, d2, duration_ms=50 * M, label="review")
        .act(timer.pause, ana, d2 + 20 * M)
        .act(timer.resume, ana, d2 + 30 * M)
        .act(timer.stop, cy, d2 + 40 * M)  # interrupted
        .act(timer.start, cy, d3, phase="short_break")
        .act(timer.start, cy, d3 + 10 * M)  # no label; done long before now
    )
    admin.patch("sessions/team", history.nodes)
    context, page, problems = open_page(browser, server, admin, "team")

    expect(page.get_by_role("heading", name="Report")).to_be_visible()
    expect(page.get_by_role("button", name="7 days")).to_have_attribute("aria-pressed", "true")
    for button, range_id in (
        ("7 days", "7d"),
        ("Today", "today"),
        ("This week", "week"),
        ("This month", "month"),
    ):
        page.get_by_role("button", name=button).click()
        expect(page.get_by_role("button", name=button)).to_have_attribute("aria-pressed", "true")
        wait_drawn(page, range_id)
        got = shown(page)
        words = got.pop("command").split()
        assert words[:3] == ["focus", "report", "--since"] and words[4:] == ["--session", "team"], (
            words
        )
        if range_id == "7d":
            assert words[3] == "7d"
        cli_json = cli.json(*words[1:])
        assert got == expected(cli_json), (button, got)
    # the 7 days hold every block: Ana's and Cy's, the label with markup as text
    page.get_by_role("button", name="7 days").click()
    wait_drawn(page, "7d")
    got = shown(page)
    assert got["totals"] == {
        "focus_ms": 25 * M + 30 * M + 25 * M,
        "completed": 2,
        "interrupted": 1,
        "breaks": 1,
        "longest_streak": 1,
    }
    assert got["members"] == {cy: 80 * M, ana: 55 * M}
    assert got["labels"] == [["review", 30 * M], [MARKUP, 25 * M], [None, 25 * M]]
    expect(page.locator("#report-labels th", has_text=MARKUP)).to_have_text(MARKUP)
    assert page.locator("#report b").count() == 0
    expect(page.locator("#report-legend li")).to_have_text(["Cy", ANA])
    expect(page.locator("#report-members tbody th")).to_have_text(["Cy", ANA])
    assert page.locator("#report i").count() == 0
    assert page.locator("#report-chart").get_attribute("role") == "img"
    expect(page.locator("#report-chart-summary")).to_contain_text(
        f"the highest: {dayname(d2)}, 1:00:00 across members"
    )

    # A change of state shows in the report by itself (debounced): a block started in a terminal.
    cli("start", "25m", "--label", "live", "--session", "team")
    expect(page.locator("#report-labels th", has_text="live")).to_have_count(1)
    assert problems == []
    context.close()


def test_a_page_kept_open_is_present_in_reports_and_closing_it_ends_its_span(
    server: LocalServer,
    browser: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Any,
    berlin: None,
) -> None:
    admin, cli, cy, ana = team(server, tmp_path, monkeypatch, run_cli, "pair")

    def spans() -> list[dict[str, Any]]:
        stored = admin.get("sessions/pair/presence") or {}
        return [{"key": k, **v} for k, v in stored.items() if v.get("uid") == ana]

    context, page, problems = open_page(browser, server, admin, "pair")
    within(10, lambda: len(spans()) == 1, "a presence span of the page's member")
    (span,) = spans()
    assert span["name"] == ANA and span["from"] <= span["seen"] and "to" not in span
    assert admin.get(f"sessions/pair/members/{ana}")["seen_at"] >= span["from"]

    # Cy starts a block in a terminal; Ana only has the page open: the report counts her in it.
    cli("start", "25m", "--label", "pairing", "--session", "pair")
    members = {
        m["uid"]: m for m in cli.json("report", "--since", "today", "--session", "pair")["members"]
    }
    assert (
        members[ana]["actions"] == 0
        and members[ana]["focus_ms"] > 0
        and members[ana]["in_progress"] == 1
    )

    # Closing the page ends the span at once (onDisconnect), as a watch's clean quit does.
    context.close()
    within(5, lambda: "to" in spans()[0], "the closed page's span ended")
    (ended,) = spans()
    assert ended["key"] == span["key"] and ended["to"] >= ended["seen"] >= span["seen"]
    assert admin.get(f"sessions/pair/members/{ana}")["away_at"] == ended["to"]
    assert {m["name"]: m["here"] for m in cli.json("who", "--session", "pair")}[ANA] is False
    assert problems == []

    # Open again: a new span; signing out ends it too.
    context, page, problems = open_page(browser, server, admin, "pair")
    within(10, lambda: len(spans()) == 2, "a new span for the page opened again")
    page.get_by_role("button", name="Sign out").click()
    within(5, lambda: all("to" in s for s in spans()), "the span ended by signing out")
    assert problems == []
    context.close()

"""Issue 11, terminal injection: text from the database never drives a terminal.

Each attack of the issue (ESC ] 0 sets the window title, ESC ] 52 the clipboard, ESC [2J clears
the screen, U+202E turns text around, a NUL broke hooks) is put in the database as an
administrator would (the rules refuse such labels and names, data from before them or written
by an admin does not pass them), then read back through every output mode: the plain, JSON,
CSV and --format forms, who, log, report, whoami, an error line, a hook's environment, a piped
watch, and a real terminal (a pty read by pyte) for `status` and the full-screen `watch`, where
the raw bytes the program wrote are checked too.

Decision (JSON, CSV): the text is made inert there as well, to the same visible escapes as in
the plain forms, rather than carrying the raw value JSON-escaped: `jq -r .label` turns
``\\u001b`` back into a real ESC, so a raw value in JSON would reach the terminal of anyone who
pipes focus into jq.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from focuscli import inert, timer
from focuscli.hooks import HookRunner
from focuscli.service import Focus, Status, WatchEvent
from tests.conftest import focus_env, point_cli_at, seed_profile
from tests.terminal import Terminal

TITLE, CLIPBOARD, CLEAR, RLO, NUL = (
    "\x1b]0;PWNED\x07",
    "\x1b]52;c;cm0gLXJmIH4=\x07",
    "\x1b[2J",
    "\u202e",
    "\x00",
)
ATTACKS = {"title": TITLE, "clipboard": CLIPBOARD, "clear": CLEAR, "bidi": RLO, "nul": NUL}
SHOWN = {
    "title": "\\u001b]0;PWNED\\u0007",
    "clipboard": "\\u001b]52;c;cm0gLXJmIH4=\\u0007",
    "clear": "\\u001b[2J",
    "bidi": "\\u202e",
    "nul": "\\u0000",
}
LABEL = f"a{TITLE}b{CLIPBOARD}c{CLEAR}d{RLO}e{NUL}f"
LABEL_SHOWN = "a\\u001b]0;PWNED\\u0007b\\u001b]52;c;cm0gLXJmIH4=\\u0007c\\u001b[2Jd\\u202ee\\u0000f"
NAME = f"[bold red]eve{CLEAR}[/]{RLO}"  # markup, too: never read as such
NAME_SHOWN = "[bold red]eve\\u001b[2J[/]\\u202e"
RAW_BAD = ("\x1b", "\x00", "\x07", "\u202e", "\x9b")  # no such character may reach stdout or stderr


def _inert(out: str) -> bool:
    return not any(c in out for c in RAW_BAD)


# -- the sanitiser ----------------------------------------------------------------------------


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_each_attack_is_shown_escaped(attack: str) -> None:
    assert inert.text(f"x{ATTACKS[attack]}y") == f"x{SHOWN[attack]}y"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("write the report", "write the report"),
        (
            "café ☕ 日本\u3000語 a\u00a0b",
            "café ☕ 日本\u3000語 a\u00a0b",
        ),  # printable text and spaces kept
        ("\x9b2J", "\\u009b2J"),  # C1 CSI
        ("a\tb\nc\rd\x7f", "a\\u0009b\\u000ac\\u000dd\\u007f"),
        ("\u2066x\u2069\u200f\u061c", "\\u2066x\\u2069\\u200f\\u061c"),  # isolates, marks
        ("\u2028", "\\u2028"),
        ("\ud800", "\\ud800"),  # a lone surrogate would not even encode
        ("\U000e0041", "\\U000e0041"),  # a tag character
        (7, "7"),
        (None, "None"),
    ],
)
def test_text(raw: Any, shown: str) -> None:
    assert inert.text(raw) == shown


def test_value_makes_every_string_and_key_inert_and_keeps_the_rest() -> None:
    data = {"a\x1b": ["\x00", 1, 2.5, None, True, {"k": RLO}], "b": "x\\y"}
    assert inert.value(data) == {
        "a\\u001b": ["\\u0000", 1, 2.5, None, True, {"k": "\\u202e"}],
        "b": "x\\y",
    }
    clean = {"a": [1, "é", {"b": None}], "c": "x\\y"}
    assert inert.value(clean) == clean
    assert inert.value(clean["a"]) is clean["a"]  # nothing to do: not even a copy


def test_a_status_and_a_watch_event_are_inert_when_made() -> None:
    """The boundary: whatever makes a Status or WatchEvent, its text is inert from then on."""
    view = timer.TimerView(
        "running", "focus", 1, 1000, 1000, 0, LABEL, 5000, 1, 0, "uid" + NUL, "start", NAME
    )
    status = Status("team" + CLEAR, view, 0, 0)
    assert (status.session, status.view.label, status.view.updated_by, status.view.updated_by_name) == (
        "team\\u001b[2J", LABEL_SHOWN, "uid\\u0000", NAME_SHOWN)  # fmt: skip
    event = WatchEvent("member_joined", status, [NAME], "reconnecting", TITLE, joined=(NAME,))
    assert (event.members, event.joined, event.detail) == (
        [NAME_SHOWN],
        (NAME_SHOWN,),
        SHOWN["title"],
    )
    assert _inert(json.dumps(event.to_json(), ensure_ascii=False))


def test_prompt_tokens_are_inert_even_from_a_snapshot_file() -> None:
    """`status --format` may answer from the snapshot file a watch wrote: its values are made
    inert again; escapes in the template itself are the user's own (prompt colours) and stay."""
    from focuscli import prompt

    values = prompt.token_values(
        {"label": LABEL, "session": "team" + NUL, "updated_by": NAME, "phase": RLO}, [NAME]
    )
    fmt = "\x1b[31m{label}|{session}|{updated_by}|{phase}|{members}\x1b[0m"
    assert prompt.format_status(fmt, values) == (
        f"\x1b[31m{LABEL_SHOWN}|team\\u0000|{NAME_SHOWN}|\\u202e|{NAME_SHOWN}\x1b[0m"
    )


# -- every output mode, from data an admin wrote -----------------------------------------------


@pytest.fixture
def hostile(member: Callable[..., Focus], rest: Any) -> dict[str, Any]:
    """Session `team`: ana started a block, eve joined; then, as admin, the label, eve's name,
    the name of who acted and the log entry's label and name hold every attack."""
    ana, eve = member("ana"), member("eve")
    ana.act(
        "team",
        lambda s, now: timer.start(s, "ana", now, duration_ms=25 * 60_000, label="deep work"),
        create=True,
    )
    eve.join("team", ana.invite_code("team"))
    write = {
        "sessions/team/state/label": LABEL,
        "sessions/team/state/updated_by_name": NAME,
        "sessions/team/members/eve/name": NAME,
        "sessions/team/log/1/label": LABEL,
        "sessions/team/log/1/name": NAME,
        "sessions/team/states/1/label": LABEL,
        "sessions/team/states/1/updated_by_name": NAME,
    }
    assert rest.patch("/.json", write).status_code == 200
    return {"ana": ana, "eve": eve}


@pytest.fixture
def focus(
    rest: Any,
    server_url: str,
    ns: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Any,
) -> Any:
    point_cli_at(monkeypatch, f"{server_url}?ns={ns}", columns=300)

    def run(*args: str, user: str = "ana", name: str | None = None) -> Any:
        monkeypatch.setenv("FOCUS_USER", user)
        seed_profile(f"{server_url}?ns={ns}", tmp_path / user / "config", user, name=name)
        result = run_cli(["--session", "team", *args], tmp_path / user)
        assert _inert(result.out) and _inert(result.err), result
        return result

    return run


def test_status_in_every_form(hostile: Any, focus: Any) -> None:
    plain = focus("status")
    assert plain.code == 0, plain
    first, last = plain.out.splitlines()
    assert first.startswith("team · focus running, ") and first.endswith(
        f' · round 1 · "{LABEL_SHOWN}"'
    ), first
    assert last.startswith(f"last: start by {NAME_SHOWN} at "), last

    data = json.loads(focus("status", "--json").out)
    assert (data["label"], data["updated_by"]) == (LABEL_SHOWN, NAME_SHOWN)

    fmt = focus("status", "--format", "{label}|{updated_by}|{members}")
    assert fmt.out == f"{LABEL_SHOWN}|{NAME_SHOWN}|{NAME_SHOWN},ana\n"


def test_who_log_and_report(hostile: Any, focus: Any) -> None:
    who = focus("who")
    assert who.out.splitlines() == [f"{NAME_SHOWN}  away (never watched)",
                                    f"ana{' ' * (len(NAME_SHOWN) - 3)}  away (never watched)"]  # fmt: skip
    assert [m["user"] for m in json.loads(focus("who", "--json").out)] == ["ana", NAME_SHOWN]

    (line,) = focus("log").out.splitlines()
    assert line.endswith(f'  #1  start by {NAME_SHOWN} focus 25:00 "{LABEL_SHOWN}"'), line
    entry = json.loads(focus("log", "--json").out)
    assert (entry["by"], entry["label"]) == (NAME_SHOWN, LABEL_SHOWN)
    (row,) = csv.DictReader(io.StringIO(focus("log", "--csv").out))
    assert (row["by"], row["label"]) == (NAME_SHOWN, LABEL_SHOWN)
    ical = focus("log", "--ical")
    assert ical.code == 0 and "PWNED" in ical.out  # the words stay; the escapes go (ical.py)

    report = focus("report", "--by", "label")
    assert report.code == 0, report
    assert report.out.splitlines()[0].startswith("team: ")
    assert any(line.startswith(LABEL_SHOWN + "   0:") for line in report.out.splitlines()), (
        report.out
    )
    by_member = focus("report", "--by", "member").out.splitlines()
    assert (
        f"{NAME_SHOWN}   0:00          0            0            0    0:00        0  0 days"
        in by_member
    ), by_member
    data = json.loads(focus("report", "--json").out)
    assert [label["label"] for label in data["labels"]] == [LABEL_SHOWN]


def test_an_error_line_quoting_the_database(hostile: Any, focus: Any) -> None:
    kick = focus("session", "kick", "zed")
    assert (kick.code, kick.out) == (2, "")
    assert kick.err == f"focus: 'zed' is not a member of 'team' (members: {NAME_SHOWN}, ana)\n"


def test_session_names_invite_codes_and_doctor(hostile: Any, rest: Any, focus: Any) -> None:
    """Keys cannot hold C0 controls; a bidi override or a C1 control they can."""
    evil = "evil\u202eabc\u009b2J"
    write = {
        f"users/ana/sessions/{evil}": True,
        f"sessions/{evil}": {
            "meta": {"owner": "eve", "created_at": 1},
            "members": {"ana": {"name": "ana"}},
        },
        "invites/team/code": f"ABC{TITLE}",
    }
    assert rest.patch("/.json", write).status_code == 200
    listed = focus("session", "list")
    assert listed.out.splitlines() == ["evil\\u202eabc\\u009b2J", "team"]
    assert focus("session", "invite").out == f"ABC{SHOWN['title']}\n"
    assert json.loads(focus("session", "invite", "--json").out) == {"code": f"ABC{SHOWN['title']}"}
    doctor = focus("doctor", user="mal", name=f"mal{CLEAR}")
    assert f"identity: mal{SHOWN['clear']}, uid mal" in doctor.out, doctor


def test_whoami_and_login_with_a_hostile_display_name(rest: Any, focus: Any) -> None:
    """The name comes from the sign-in service (set by anyone who can sign up)."""
    who = focus("whoami", user="mal", name=f"mal{TITLE}")
    assert who.out.splitlines()[0] == f"mal{SHOWN['title']} (uid mal)"
    assert json.loads(focus("whoami", "--json", user="mal").out)["name"] == f"mal{SHOWN['title']}"


def test_a_piped_watch_prints_inert_lines(
    hostile: Any, server_url: str, ns: str, tmp_path: Path
) -> None:
    env = focus_env(f"{server_url}?ns={ns}", "ana", tmp_path / "w")
    for args, check in (
        ([], lambda line: line.endswith(f' · round 1 · "{LABEL_SHOWN}" · last: start by {NAME_SHOWN} at ' + line[-8:])),
        (["--json"], lambda line: json.loads(line)["label"] == LABEL_SHOWN and json.loads(line)["members"] == [NAME_SHOWN, "ana"]),
    ):  # fmt: skip
        proc = subprocess.Popen([sys.executable, "-m", "focuscli", "watch", "--session", "team", *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        try:
            assert proc.stdout is not None
            raw = proc.stdout.readline()
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=15)
        line = raw.decode()
        assert _inert(line) and _inert(err.decode()), (line, err)
        assert check(line.rstrip("\n")), line


def test_hooks_get_inert_environment_values(tmp_path: Path) -> None:
    """A NUL in a label made every hook fail with a thread traceback (the environment cannot
    hold a NUL); now the value arrives inert, and stdin's JSON too."""
    out = tmp_path / "hook.out"
    failures: list[Any] = []
    previous = threading.excepthook
    threading.excepthook = failures.append
    try:
        runner = HookRunner(
            {
                "focus_started": f'printf "%s|%s|%s" "$FOCUS_LABEL" "$FOCUS_BY" "$FOCUS_SESSION" > {out}; cat >> {out}'
            },
            log_path=tmp_path / "hooks.log",
        )
        runner.fire("focus_started", {"label": LABEL, "session": "team" + NUL}, by=NAME)
        runner.join(15)
    finally:
        threading.excepthook = previous
    assert not failures
    assert not (tmp_path / "hooks.log").exists()
    env_part, _, stdin = out.read_text().partition("{")
    assert env_part == f"{LABEL_SHOWN}|{NAME_SHOWN}|team\\u0000"
    assert json.loads("{" + stdin) == {"label": LABEL_SHOWN, "session": "team\\u0000"}


def test_a_hook_run_by_focus_wait_gets_the_label_inert(
    member: Callable[..., Focus], rest: Any, focus: Any, tmp_path: Path
) -> None:
    """End to end: a block with a NUL and escapes in its label ends; `focus wait` runs the
    phase_ended hook, which sees the label inert in its environment and on stdin."""
    ana = member("ana")
    ana.act("team", lambda s, now: timer.start(s, "ana", now, duration_ms=1500), create=True)
    assert rest.put("/sessions/team/state/label.json", LABEL).status_code == 200
    out = tmp_path / "hook.out"
    config = tmp_path / "ana" / "config" / "focus" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    hook = f'printf "%s|" "$FOCUS_LABEL" > {out}; cat >> {out}'
    config.write_text(f"bell = false\nnotify = false\n[hooks]\nphase_ended = {json.dumps(hook)}\n")
    waited = focus("wait", "--until", "end")
    assert waited.code == 0, waited
    label, _, stdin = out.read_text().partition("|")
    assert label == LABEL_SHOWN
    assert json.loads(stdin)["label"] == LABEL_SHOWN
    assert not (tmp_path / "ana" / "state" / "focus" / "hooks.log").exists()


# -- a real terminal ---------------------------------------------------------------------------


def _no_attack_bytes(raw: bytes) -> None:
    """None of the attacks' bytes reached the terminal: no OSC at all (focus sends none), no
    clear from the data, no bidi override, no NUL."""
    assert b"\x1b]" not in raw
    assert b"\x1b[2Jd" not in raw and b"\x1b[2J[/]" not in raw
    assert RLO.encode() not in raw and b"\x00" not in raw and b"\xc2\x9b" not in raw


def test_status_on_a_terminal(hostile: Any, server_url: str, ns: str, tmp_path: Path) -> None:
    env = focus_env(f"{server_url}?ns={ns}", "ana", tmp_path / "t")
    for args, shown in ((["--format", "{label}"], LABEL_SHOWN), ([], f'"{LABEL_SHOWN}"')):
        term = Terminal(
            [sys.executable, "-m", "focuscli", "status", "--session", "team", *args],
            env,
            columns=200,
            lines=10,
        )
        try:
            assert term.wait() == 0
            assert shown in term.text(), term.text()
            _no_attack_bytes(bytes(term.raw))
        finally:
            term.close()


def test_watch_full_screen_shows_the_attacks_as_text(
    hostile: Any, server_url: str, ns: str, tmp_path: Path
) -> None:
    env = focus_env(f"{server_url}?ns={ns}", "ana", tmp_path / "w")
    term = Terminal(
        [sys.executable, "-m", "focuscli", "watch", "--session", "team"], env, columns=160, lines=30
    )
    try:
        screen = term.wait_for(
            lambda t: LABEL_SHOWN in t and f"started by {NAME_SHOWN}" in t and "● live" in t,
            "the view",
        )
        assert (
            f"{NAME_SHOWN}" in screen.split("here: ", 1)[-1] or f"away: {NAME_SHOWN}" in screen
        ), screen
        term.type("q")
        assert term.wait() == 0
        _no_attack_bytes(bytes(term.raw))
    finally:
        term.close()

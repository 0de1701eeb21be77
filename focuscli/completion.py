"""Shell completion values: the sessions this user has used (kept locally) and --until's (stdlib only).

Tab completion must answer at once and must not touch the network, so the session names come
from a small local list, ``<state_dir>/sessions.json``, that the commands which learn about
membership keep up to date (create, join, start of a new session, leave, and `focus session
list`, which replaces it with the database's answer), plus the remembered default session.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

KNOWN_FILE = "sessions.json"
UNTIL = (
    ("end", "the end of the phase running now"),
    ("break", "no focus block running: a break, or a focus phase that is over"),
    ("focus", "a focus phase running"),
)


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """$XDG_STATE_HOME/focus (as focuscli.settings resolves it, without reading the config)."""
    env = os.environ if environ is None else environ
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    xdg = env.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else home / ".local" / "state"
    return base / "focus"


def known_sessions(directory: Path) -> list[str]:
    """The sessions listed in ``directory``'s known list and its remembered session, sorted."""
    names = set(_listed(directory / KNOWN_FILE))
    try:
        remembered = (directory / "session").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        remembered = ""
    if remembered:
        names.add(remembered)
    return sorted(names)


def note_sessions(
    directory: Path, *, add: Iterable[str] = (), remove: Iterable[str] = (), replace: Iterable[str] | None = None
) -> None:
    """Update the known list (best effort: completion is a convenience, never an error)."""
    path = directory / KNOWN_FILE
    try:
        current = set(replace) if replace is not None else set(_listed(path))
        current |= set(add)
        current -= set(remove)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(sorted(current)), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def _listed(path: Path) -> list[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [n for n in data if isinstance(n, str)] if isinstance(data, list) else []


def complete_session(incomplete: str) -> list[str]:
    """Typer autocompletion for session names."""
    return [name for name in known_sessions(state_dir()) if name.startswith(incomplete)]


def complete_until(incomplete: str) -> list[tuple[str, str]]:
    """Typer autocompletion for `focus wait --until`."""
    return [(value, help) for value, help in UNTIL if value.startswith(incomplete)]


REPORT_ROWS = (
    ("day", "a row per day"),
    ("member", "a row per member"),
    ("label", "a row per label"),
)


def complete_by(incomplete: str) -> list[tuple[str, str]]:
    """Typer autocompletion for `focus report --by`."""
    return [(value, help) for value, help in REPORT_ROWS if value.startswith(incomplete)]

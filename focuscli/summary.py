"""Plain-text, CSV and JSON forms of a team report (`focus report`); the chart is focuscli/chart.py."""

from __future__ import annotations

import csv
import io
import os
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any, Final

from focuscli.inert import text as shown
from focuscli.timer import format_duration

BY: Final = ("day", "member", "label")
COUNTS: Final = ("completed", "interrupted", "in_progress")
LONG_RANGE_DAYS: Final = 31  # past that, the day table leaves out the days nothing ran
CSV_FIELDS: Final = {
    "day": ("date", "focus_ms", "break_ms", "completed", "interrupted", "in_progress", "breaks"),
    "member": ("uid", "name", "focus_ms", "break_ms", "completed", "interrupted", "in_progress", "breaks",
               "actions", "longest_streak"),
    "label": ("label", "focus_ms", "completed", "interrupted", "in_progress"),
}  # fmt: skip


def iso(ms: int, tz: tzinfo | None = None) -> str:
    """Server ms as ISO 8601 with its UTC offset, in ``tz`` (None: local time), to the second."""
    stamp = datetime.fromtimestamp(ms / 1000, tz)
    return (stamp if tz is not None else stamp.astimezone()).isoformat(timespec="seconds")


def zone_name(tz: tzinfo | None) -> str:
    """The IANA name of the time zone (TZ, else /etc/localtime's target), else its abbreviation."""
    if tz is not None:
        return str(tz)
    name = os.environ.get("TZ", "").lstrip(":")
    if name and "/" in name and not name.startswith("/"):
        return name
    try:
        target = str(Path("/etc/localtime").resolve())
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        return target.split("zoneinfo/", 1)[1]
    return datetime.now().astimezone().tzname() or "local"


def to_json(report: dict[str, Any], session: str, tz: tzinfo | None = None) -> dict[str, Any]:
    """`focus report --json` (schema 1, in the README): the report plus the session, the time
    zone and the range and now as ISO 8601."""
    out = {"schema": report["schema"], "session": session, "time_zone": zone_name(tz)}
    out.update({k: v for k, v in report.items() if k != "schema"})
    for key in ("from", "to", "now"):
        out[f"{key}_iso"] = iso(report[key], tz)
    return out


def to_csv(report: dict[str, Any], by: str) -> str:
    """`focus report --csv`: one row per day, member or label, with a header row."""
    rows = {"day": report["days"], "member": report["members"], "label": report["labels"]}[by]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS[by], extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in CSV_FIELDS[by]})
    return out.getvalue()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def headline(report: dict[str, Any], session: str, first: str, last: str, tz: tzinfo | None = None) -> list[str]:
    """The summary above the table: the range, then the team's totals."""
    t = report["totals"]
    span = first if first == last else f"{first} – {last}"
    lines = [f"{shown(session)}: {span} ({zone_name(tz)})"]
    blocks = t["completed"] + t["interrupted"] + t["in_progress"]
    focus = f"focus {format_duration(t['focus_ms'])} in {_plural(blocks, 'block')}: {t['completed']} completed, {t['interrupted']} interrupted"
    if t["in_progress"]:
        focus += f", {t['in_progress']} in progress"
    streak = t["longest_streak"]
    best = "no completed block" if not streak["days"] else (
        f"longest streak {_plural(streak['days'], 'day')}"
        + ("" if streak["days"] == 1 else f" ({streak['from']} – {streak['to']})")
    )  # fmt: skip
    lines.append(f"{focus} · breaks {format_duration(t['break_ms'])} in {t['breaks']} · {best}")
    lines.append(f"{_plural(t['members'], 'member')} took part, {_plural(t['actions'], 'action')}")
    if t["unattended"]["blocks"]:
        u = t["unattended"]
        lines.append(f"not counted: {_plural(u['blocks'], 'focus block')} ({format_duration(u['focus_ms'])}) that ran with nobody there")
    if not report["exact"]:
        lines.append(f"approximate: {_plural(report['inexact_actions'], 'action')} from before state history, replayed from the log")
    return lines


def table(report: dict[str, Any], by: str) -> list[str]:
    """The rows of the breakdown ``by`` (day, member or label), as aligned text."""
    head = {"day": "date", "member": "member", "label": "label"}[by]
    columns = [head, "focus", "completed", "interrupted", "in progress"]
    if by != "label":
        columns.append("breaks")
    if by == "member":
        columns += ["actions", "streak"]
    rows: list[list[str]] = []
    chosen = {"day": report["days"], "member": report["members"], "label": report["labels"]}[by]
    hidden = 0
    if by == "day" and len(chosen) > LONG_RANGE_DAYS:  # a long range: the days something ran
        kept = [d for d in chosen if any(d[k] for k in ("focus_ms", "break_ms", *COUNTS, "breaks"))]
        hidden, chosen = len(chosen) - len(kept), kept
    for row in chosen:
        if by == "day":
            first = f"{date.fromisoformat(row['date']).strftime('%a')} {row['date']}"
        elif by == "member":
            first = shown(row["name"])
        else:
            first = "(no label)" if row["label"] is None else shown(row["label"])
        cells = [first, format_duration(row["focus_ms"]), *(str(row[k]) for k in COUNTS)]
        if by != "label":
            cells.append(format_duration(row["break_ms"]))
        if by == "member":
            cells += [str(row["actions"]), _plural(row["longest_streak"], "day")]
        rows.append(cells)
    note = [f"({_plural(hidden, 'day')} without blocks not shown)"] if hidden else []
    if not rows:
        return [f"(no {head}s with blocks)"]
    widths = [max(len(r[i]) for r in [columns, *rows]) for i in range(len(columns))]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
            for r in [columns, *rows]] + note  # fmt: skip

"""The page's report ranges as data: every case in tests/cases/ranges/*.json against focuscli/period.py.

A case is one range the page offers (``range``: today, 7d, week or month) at server time ``now``
in the IANA time zone ``tz``, and what `focus report --since <since>` makes of it: ``start`` and
``end`` (server ms) and the ``first`` and ``last`` dates. The same files run against the page's
focuscli/web/ranges.js under node (tests/web/ranges_cases.test.mjs), which must also find
``since`` itself: the page and the terminal cannot disagree on what "this week" is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from focuscli import report
from focuscli.period import period

CASES = Path(__file__).parent / "cases" / "ranges"


def case_files() -> list[Path]:
    return sorted(CASES.glob("*.json"))


def _params() -> list[Any]:
    params = []
    for path in case_files():
        spec = json.loads(path.read_text(encoding="utf-8"))
        assert spec["kind"] == "ranges"
        names = [case["name"] for case in spec["cases"]]
        assert len(names) == len(set(names)), f"{path.name}: case names repeat"
        params += [pytest.param(case, id=f"{path.stem}:{case['name']}") for case in spec["cases"]]
    return params


@pytest.mark.parametrize("case", _params())
def test_case(case: dict[str, Any]) -> None:
    got = period(
        since=case["since"], first=None, last=None, now=case["now"], tz=report.zone(case["tz"])
    )
    assert (got.start, got.end, got.first, got.last) == (
        case["start"],
        case["end"],
        case["first"],
        case["last"],
    )

"""The page's report ranges as data: every case in tests/cases/ranges/*.json against focuscli/period.py.

A case is one range the page offers (``range``: today, 7d, week or month) at server time ``now``
in the IANA time zone ``tz``, and what `focus report --since <since>` makes of it: ``start`` and
``end`` (server ms) and the ``first`` and ``last`` dates. The same files run against the page's
focuscli/web/ranges.js under node (tests/web/ranges_cases.test.mjs), which must also find
``since`` itself: the page and the terminal cannot disagree on what "this week" is.
"""

from __future__ import annotations

from typing import Any

import pytest

from focuscli import report
from focuscli.period import period
from tests import casefiles


@pytest.mark.parametrize("case", casefiles.case_params("ranges", "ranges"))
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

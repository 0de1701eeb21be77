"""Reports as data: every case in tests/cases/report/*.json against focuscli/blocks.py and report.py.

The same files run against the page's focuscli/web/report.js under node, through
tests/web/report_cases.test.mjs, so the two cannot drift. A case holds a session's ``history``
(its stored values as read: ``states``, ``log``, ``presence``, ``roster``, ``members``,
``state``; untrusted, so malformed values are part of the cases), the range [``start``,
``end``), ``now``, the IANA time zone ``tz`` and optionally ``horizon``; it expects ``blocks``
(those that began in the range, each as `Block.to_json` plus ``shares``: each attending member's
share of its running time) and ``report``: some of the report's top-level keys, each compared
whole. Every case has a ``name`` (unique in its file; the test id) and may have a ``doc``.
"""

from __future__ import annotations

from typing import Any

import pytest

from focuscli import report
from tests import casefiles


def run_case(case: dict[str, Any]) -> None:
    args = {k: case[k] for k in ("start", "end", "now")} | ({"horizon": case["horizon"]} if "horizon" in case else {})
    seen = report.analyse(case["history"], **args)
    blocks = [{**block.to_json(), "shares": dict(sorted(share.items()))} for block, share in seen.blocks]
    assert blocks == case["blocks"]
    built = report.build(case["history"], tz=report.zone(case["tz"]), **args)
    for key, value in case["report"].items():
        assert built[key] == value, key


@pytest.mark.parametrize("case", casefiles.case_params("report", "report"))
def test_case(case: dict[str, Any]) -> None:
    run_case(case)

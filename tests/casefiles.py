"""The shared case files under tests/cases/<folder>/*.json, as pytest parameters (one per case)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parent / "cases"


def case_files(folder: str) -> list[Path]:
    """The case files of ``folder``, in name order."""
    return sorted((ROOT / folder).glob("*.json"))


def case_params(folder: str, kind: str) -> list[Any]:
    """Every case of ``folder``'s files (each file of ``kind``, its case names unique), with the
    test id ``<file stem>:<case name>``."""
    params = []
    for path in case_files(folder):
        spec = json.loads(path.read_text(encoding="utf-8"))
        assert spec["kind"] == kind
        names = [case["name"] for case in spec["cases"]]
        assert len(names) == len(set(names)), f"{path.name}: case names repeat"
        params += [pytest.param(case, id=f"{path.stem}:{case['name']}") for case in spec["cases"]]
    return params

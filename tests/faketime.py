"""A shifted wall clock for child processes: libfaketime as the `libfaketime` package on PyPI
ships it (its prebuilt ``libfaketime.so.1``), preloaded into the child, so no system package
(Debian's ``faketime``) is needed. The monotonic clock is left alone, as a real skew would."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def library() -> Path:
    """The path of ``libfaketime.so.1``; AssertionError when it is missing (the README's test
    command installs it: pip install -e '.[test]')."""
    spec = importlib.util.find_spec("libfaketime")
    if spec is None or spec.origin is None:
        raise AssertionError("libfaketime not installed: pip install -e '.[test]' brings it")
    path = Path(spec.origin).parent / "vendor" / "libfaketime" / "src" / "libfaketime.so.1"
    if not path.is_file():
        raise AssertionError(f"the libfaketime package has no {path.name} for this platform")
    return path


def environ(shift: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) for a child whose wall clock runs
    ``shift`` (e.g. "+10s", "-10s") off the real one."""
    env = dict(os.environ if base is None else base)
    preload = [str(library())] + ([env["LD_PRELOAD"]] if env.get("LD_PRELOAD") else [])
    env.update(
        LD_PRELOAD=":".join(preload),
        FAKETIME=shift,
        FAKETIME_DONT_FAKE_MONOTONIC="1",
        FAKETIME_NO_CACHE="1",
    )
    return env

"""Install what the page's browser tests drive: Debian's Chromium (the README's test command
runs this before pytest). Playwright, the automation library, comes from pip with the test
extras and never downloads a browser of its own; it starts this one.

Does nothing when a Chromium is already there (FOCUS_CHROMIUM, or chromium on PATH). Otherwise
installs Debian's `chromium` package with apt-get, which needs root: as another user it prints
the command to run and exits 1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.browser import INSTALL_HINT, find_chromium  # noqa: E402


def main() -> int:
    found = find_chromium()
    if found is not None:
        print(f"setup_browser: using {found}")
        return 0
    if shutil.which("apt-get") is None:
        print(f"setup_browser: no Chromium and no apt-get here; {INSTALL_HINT}", file=sys.stderr)
        return 1
    if os.geteuid() != 0:
        print(f"setup_browser: Chromium is missing and installing it needs root; {INSTALL_HINT}", file=sys.stderr)
        return 1
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]):
        done = subprocess.run(command, env=env, check=False)
        if done.returncode != 0:
            print(f"setup_browser: {' '.join(command)} failed (exit {done.returncode})", file=sys.stderr)
            return 1
    found = find_chromium()
    if found is None:
        print("setup_browser: apt-get installed chromium, yet no chromium is on PATH", file=sys.stderr)
        return 1
    print(f"setup_browser: installed {found}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Dependencies point inward: who may import which framework, checked on the source."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "focuscli"
STDLIB = set(sys.stdlib_module_names)

# module (relative to focuscli/) -> third-party or focuscli modules it may import
RULES = sorted(p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "rules").glob("*.py"))
AUTHEMU = sorted(p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "server" / "authemu").glob("*.py"))
# The realtime protocol core: no aiohttp, no asyncio, only the stdlib and the other cores.
REALTIME = sorted(p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "server" / "realtime").glob("*.py"))
PURE_CORES = [
    "timer.py", "plan.py", "prompt.py", "completion.py", "blocks.py", "report.py", "period.py", "inert.py", "server/tree.py", "server/query.py", "server/pushid.py", "server/index.py", "server/rendered.py",
    "server/access.py", "server/sdkhash.py", "server/change.py", "server/coverage.py", "server/bigjson.py",
    "server/limits.py", "server/offload.py", *RULES, *AUTHEMU, *REALTIME,
]  # fmt: skip
ALLOWED: dict[str, set[str]] = {
    "server/http.py": {"aiohttp"},
    "server/ws.py": {"aiohttp"},
    "server/signing.py": {"jwt", "cryptography"},  # RS256 for secure mode's ID tokens
    "cli/__init__.py": {"typer"},
    "cli/common.py": {"typer"},
    "cli/timer.py": {"typer"},
    "cli/sessions.py": {"typer"},
    "cli/serve.py": {"typer"},
    "cli/watch.py": {"typer"},
    "cli/account.py": {"typer"},
    "cli/web.py": {"typer"},
    "adminapi.py": {"firebase_admin", "requests"},  # administrator tasks only; members never load it
    "view.py": {"rich"},
    "terminal.py": {"rich"},
    "chart.py": {"rich"},  # focus report's chart
    "cli/reports.py": {"typer"},
    "ical.py": {"icalendar"},  # focus log --ical
}
FRAMEWORKS = {"typer", "rich", "firebase_admin", "aiohttp", "click", "requests", "jwt", "cryptography", "icalendar"}


def _imports(path: Path) -> set[str]:
    """Absolute names of everything a module imports (relative imports resolved)."""
    package = ["focuscli", *path.relative_to(PACKAGE).parent.parts]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _module_file(name: str) -> str | None:
    """The focuscli module file an imported name lives in (None for a package itself)."""
    parts = name.split(".")[1:]
    while parts:
        candidate = "/".join(parts) + ".py"
        if (PACKAGE / candidate).exists():
            return candidate
        parts.pop()
    return None


MODULES = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("module", MODULES)
def test_frameworks_have_one_importer(module: str) -> None:
    tops = {name.split(".")[0] for name in _imports(PACKAGE / module)}
    used = tops & FRAMEWORKS
    assert used <= ALLOWED.get(module, set()), f"{module} imports {sorted(used)}"
    assert "click" not in tops


@pytest.mark.parametrize("module", PURE_CORES)
def test_pure_cores_use_only_the_stdlib_and_each_other(module: str) -> None:
    for name in _imports(PACKAGE / module):
        top = name.split(".")[0]
        if name in ("focuscli", "focuscli.server"):
            continue  # the packages themselves load nothing heavy (see the test below)
        if top == "focuscli":
            target = _module_file(name)
            assert target is None or target in PURE_CORES, f"{module} imports {name}"
        else:
            assert top in STDLIB, f"{module} imports {name}"


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith("server/")])
def test_the_server_never_imports_the_client(module: str) -> None:
    for name in _imports(PACKAGE / module):
        if name.startswith("focuscli"):
            assert name.startswith(("focuscli.server", "focuscli.rules")), f"{module} imports {name}"


@pytest.mark.parametrize("module", AUTHEMU)
def test_the_auth_emulator_core_stands_beside_the_database(module: str) -> None:
    """authemu/ imports only itself: not the store, the tree, the rules or any transport."""
    for name in _imports(PACKAGE / module):
        if name.startswith("focuscli"):
            assert name.startswith("focuscli.server.authemu") or name in ("focuscli", "focuscli.server"), (
                f"{module} imports {name}"
            )


@pytest.mark.parametrize("module", RULES)
def test_the_rules_language_needs_only_the_data_tree(module: str) -> None:
    for name in _imports(PACKAGE / module):
        if name.startswith("focuscli") and not name.startswith("focuscli.rules"):
            assert _module_file(name) in (None, "server/tree.py"), f"{module} imports {name}"


@pytest.mark.parametrize("module", REALTIME)
def test_the_realtime_core_does_no_io(module: str) -> None:
    tops = {name.split(".")[0] for name in _imports(PACKAGE / module)}
    assert not tops & {"asyncio", "socket", "selectors", "threading"}, f"{module} imports {sorted(tops)}"


def test_nothing_imports_the_cli() -> None:
    for module in MODULES:
        if module in ("__main__.py", "entry.py") or module.startswith("cli/"):
            continue  # entry.py: the console script hands what it does not answer to the CLI
        assert "focuscli.cli" not in _imports(PACKAGE / module), module


def test_pure_cores_import_without_the_transport() -> None:
    code = (
        "import sys\n"
        + "".join(f"import focuscli.{m[:-3].replace('/', '.')}\n" for m in PURE_CORES)
        + "print(sorted(m for m in ('aiohttp', 'typer', 'rich', 'firebase_admin') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


WEB = PACKAGE / "web"
# The page's shell: firebase.js is the only importer of the SDK; page.js alone touches the DOM
# and browser globals (and imports the other modules). Everything else is pure, run by node.
WEB_SHELL = {"firebase.js", "page.js"}
WEB_MODULES = sorted(p.name for p in WEB.glob("*.js"))
WEB_PURE = [m for m in WEB_MODULES if m not in WEB_SHELL]
JS_IMPORT = re.compile(r"""^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']|\bimport\s*\(""", re.M)
SDK_IMPORT = re.compile(r"\./vendor/firebase/\d+\.\d+\.\d+/firebase-(app|auth|database)\.js")
BROWSER_GLOBALS = re.compile(r"\b(document|window|navigator|localStorage|sessionStorage|fetch|location|Notification|AudioContext)\b")


def _js_imports(module: str) -> list[str]:
    text = (WEB / module).read_text()
    targets = []
    for match in JS_IMPORT.finditer(text):
        target = match.group(1)
        assert target is not None, f"{module} imports dynamically: {match.group(0)}"
        targets.append(target)
    return targets


def test_nothing_in_python_imports_the_page() -> None:
    """focuscli/web holds the page's files (package data), no Python module."""
    assert not list(WEB.rglob("*.py"))
    for module in MODULES:
        assert not any(n == "focuscli.web" or n.startswith("focuscli.web.") for n in _imports(PACKAGE / module)), module


def test_the_page_shell_modules_exist() -> None:
    assert set(WEB_MODULES) >= WEB_SHELL


@pytest.mark.parametrize("module", WEB_PURE)
def test_page_modules_are_pure(module: str) -> None:
    """The page's own modules import only each other (no npm package, no SDK, no dynamic
    import) and touch no browser global, so node runs them as they ship."""
    for target in _js_imports(module):
        assert re.fullmatch(r"\./[a-z_]+\.js", target), f"{module} imports {target}"
        assert target[2:] not in WEB_SHELL, f"{module} imports the shell module {target}"
        assert (WEB / target[2:]).exists(), f"{module} imports a missing {target}"
    globals_used = BROWSER_GLOBALS.findall((WEB / module).read_text())
    assert not globals_used, f"{module} uses {sorted(set(globals_used))}"


@pytest.mark.parametrize("module", sorted(WEB_SHELL))
def test_only_firebase_js_imports_the_sdk(module: str) -> None:
    for target in _js_imports(module):
        if SDK_IMPORT.fullmatch(target):
            assert module == "firebase.js", f"{module} imports the SDK ({target}); only firebase.js may"
            assert (WEB / target[2:]).exists(), f"{module} imports a missing {target}"
        else:
            assert re.fullmatch(r"\./[a-z_]+\.js", target) and (WEB / target[2:]).exists(), f"{module} imports {target}"
    if module == "firebase.js":
        assert not re.search(r"\b(document|window)\b", (WEB / module).read_text()), "firebase.js touches the DOM"


def test_focus_help_does_not_load_the_server_or_sdk() -> None:
    code = (
        "import sys, focuscli.cli as c\n"
        "heavy = [m for m in ('aiohttp', 'firebase_admin', 'focuscli.server.runner') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_prompt_path_loads_no_framework() -> None:
    """`focus status --format` from a snapshot must stay fast: focuscli.entry (and the hooks
    module watch uses) import nothing heavy."""
    code = (
        "import sys, focuscli.entry, focuscli.prompt, focuscli.hooks\n"
        "heavy = ('firebase_admin', 'typer', 'rich', 'aiohttp', 'requests', 'click', 'focuscli.backend')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_membership_stands_below_the_use_cases() -> None:
    """membership.py (seats, slots, roster entries) needs only the database boundary, the errors
    and the timer's SERVER_NOW; service.py imports it, never the reverse."""
    mine = {n for n in _imports(PACKAGE / "membership.py") if n.startswith("focuscli")}
    assert {_module_file(n) for n in mine} <= {"backend.py", "errors.py", "timer.py"}, sorted(mine)
    assert "focuscli.membership" in _imports(PACKAGE / "service.py")

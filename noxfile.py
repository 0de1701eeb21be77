"""nox sessions for focus: tests, lint, typecheck, emulator, bench, reliability."""

from __future__ import annotations

import shutil

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The suite as the README runs it: one process per core, then the reliability tests alone."""
    session.install("-e", ".[test]")
    if session.posargs:
        session.run("pytest", *session.posargs)
        return
    session.run("pytest", "-n", "auto", "--dist", "loadfile", "--ignore=tests/reliability")
    session.run("pytest", "tests/reliability")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the package, tests and benchmarks."""
    session.install("ruff")
    session.run("ruff", "check", "focuscli", "tests", "benchmarks", *session.posargs)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package."""
    session.install("-e", ".[test]", "mypy")
    session.run("mypy", *session.posargs)


@nox.session(default=False)
def emulator(session: nox.Session) -> None:
    """The whole suite against the official emulator (needs firebase-tools + Java).

    Tests marked `focus_serve` (our process, durability, security) skip themselves there.
    """
    if shutil.which("firebase") is None:
        session.error("firebase-tools is not installed: npm install -g firebase-tools")
    session.install("-e", ".[test]")
    tests = " ".join(session.posargs) or "../tests"
    session.chdir("firebase")  # firebase.json: emulators.database on 127.0.0.1:9000
    session.run(
        "firebase", "emulators:exec", "--only", "database", "--project", "demo-focus",
        f"python -m pytest {tests}",
        external=True,
    )


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks of focus serve; prints the figures recorded in the README."""
    session.install("-e", ".[test]")
    session.run("python", "benchmarks/serve_bench.py", *session.posargs)
    session.run("python", "benchmarks/journal_bench.py")
    session.run("python", "benchmarks/rules_bench.py")
    session.run("python", "benchmarks/cli_bench.py")
    session.run("python", "benchmarks/watch_bench.py")
    session.run("python", "benchmarks/watch_idle_skew_bench.py")
    session.run("python", "benchmarks/prompt_bench.py")
    session.run("python", "benchmarks/hostile_bench.py")
    session.run("python", "benchmarks/ws_bench.py")


@nox.session(default=False)
def reliability(session: nox.Session) -> None:
    """The reliability suite in full, the 10-minute soak included; prints its figures.

    The fast suite (and CI) runs the same tests except those marked slow.
    FOCUS_SOAK_SECONDS shortens or lengthens the soak.
    """
    session.install("-e", ".[test]")
    session.run("pytest", "tests/reliability", "--slow", *session.posargs)

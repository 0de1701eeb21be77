"""Docs are executable: every command has help with an example and appears in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from focuscli.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
COMMANDS = sorted(cmd.name or cmd.callback.__name__ for cmd in app.registered_commands if cmd.callback)


def test_there_are_commands() -> None:
    assert "serve" in COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0
    assert re.search(r"Example: focus " + command, result.stdout), result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_in_the_readme(command: str) -> None:
    assert f"focus {command}" in README


def test_readme_synopsis_of_serve_lists_every_option() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    options = set(re.findall(r"(--[a-z][a-z-]+)", result.stdout)) - {"--help"}
    synopsis = README.split("```\nfocus serve ", 1)[1].split("```", 1)[0]
    assert options == set(re.findall(r"(--[a-z][a-z-]+)", synopsis))


def test_readme_set_up_commands_are_what_ci_runs() -> None:
    blocks = re.findall(r"```sh\n(.+?)\n```", README)
    install_and_run, install_and_test = blocks[0], blocks[1]
    assert "pip install -e ." in install_and_run and "focus start" in install_and_run
    ci = (ROOT / ".ci" / "run").read_text()
    assert install_and_test in ci

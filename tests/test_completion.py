"""Shell completion (bash, zsh, fish) through Typer's protocol: commands, session names (from
what this user has created, joined or listed, read locally) and `--until` values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FOCUS_RULES


def _complete(run_cli: Any, monkeypatch: pytest.MonkeyPatch, home: Path, shell: str, line: str) -> list[str]:
    """The candidates `focus` offers for the command line ``line`` (the cursor at its end)."""
    words = line.split(" ")
    monkeypatch.setenv("_FOCUS_COMPLETE", f"complete_{shell}")
    if shell == "bash":
        monkeypatch.setenv("COMP_WORDS", line)
        monkeypatch.setenv("COMP_CWORD", str(len(words) - 1))
    else:
        monkeypatch.setenv("_TYPER_COMPLETE_ARGS", line)
        if shell == "fish":
            monkeypatch.setenv("_TYPER_COMPLETE_FISH_ACTION", "get-args")
    try:
        result = run_cli([], home)
    finally:
        for var in ("_FOCUS_COMPLETE", "COMP_WORDS", "COMP_CWORD", "_TYPER_COMPLETE_ARGS", "_TYPER_COMPLETE_FISH_ACTION"):
            monkeypatch.delenv(var, raising=False)
    assert (result.code, result.err) == (0, ""), result
    out = result.out
    if shell == "zsh":  # _arguments '*: :(("value":"help"\n"value2"))': one value a line
        import re

        return re.findall(r'(?:^|\(\()"([^"]*)"', out, re.M)
    return [line.split("\t")[0] for line in out.splitlines() if line]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_commands_complete(run_cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shell: str) -> None:
    assert _complete(run_cli, monkeypatch, tmp_path, shell, "focus sta") == ["start", "status"]
    assert _complete(run_cli, monkeypatch, tmp_path, shell, "focus session s") == ["show", "set"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_until_values_complete(run_cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shell: str) -> None:
    assert _complete(run_cli, monkeypatch, tmp_path, shell, "focus wait --until ") == ["end", "break", "focus"]
    assert _complete(run_cli, monkeypatch, tmp_path, shell, "focus wait --until b") == ["break"]
    assert _complete(run_cli, monkeypatch, tmp_path, shell, "focus report --by ") == ["day", "member", "label"]
    assert _complete(run_cli, monkeypatch, tmp_path, shell, "focus report --by m") == ["member"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_session_names_complete_from_what_you_joined(
    run_cli: Any, monkeypatch: pytest.MonkeyPatch, rest: Any, server_url: str, ns: str, tmp_path: Path, shell: str
) -> None:
    rest.set_rules(FOCUS_RULES)
    monkeypatch.setenv("FOCUS_DATABASE_URL", f"{server_url}?ns={ns}")
    monkeypatch.delenv("FOCUS_SESSION", raising=False)
    ana, bob = tmp_path / "ana", tmp_path / "bob"
    monkeypatch.setenv("FOCUS_USER", "ana")
    for name in ("team", "team-b", "other"):
        assert run_cli(["session", "create", name], ana).code == 0
    code = run_cli(["session", "invite", "--session", "team"], ana).out.strip()
    monkeypatch.setenv("FOCUS_USER", "bob")
    assert run_cli(["join", "team", "--code", code], bob).code == 0
    monkeypatch.setenv("FOCUS_USER", "ana")
    assert _complete(run_cli, monkeypatch, ana, shell, "focus status --session te") == ["team", "team-b"]
    assert _complete(run_cli, monkeypatch, ana, shell, "focus --session o") == ["other"]
    assert _complete(run_cli, monkeypatch, ana, shell, "focus session invite -s ") == ["other", "team", "team-b"]
    assert _complete(run_cli, monkeypatch, bob, shell, "focus pause --session ") == ["team"]
    monkeypatch.setenv("FOCUS_USER", "ana")
    assert run_cli(["leave", "--session", "team-b"], ana).code == 0
    assert _complete(run_cli, monkeypatch, ana, shell, "focus status --session te") == ["team"]


def test_completion_is_offered_for_install(run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    helped = run_cli(["--help"], tmp_path)
    assert "--install-completion" in helped.out and "--show-completion" in helped.out
    # Without a shell to detect (which depends on the processes this test runs under), Typer
    # takes the shell as the option's value.
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    script = run_cli(["--show-completion", "bash"], tmp_path)
    assert script.code == 0 and "_FOCUS_COMPLETE=complete_bash" in script.out

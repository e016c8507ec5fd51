"""The README keeps up with the CLI: every command and option is documented, exit codes agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from zipfit_cli.cli import app
from zipfit_cli.errors import ExitCode

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
runner = CliRunner()
COMMANDS = sorted(c.name or "" for c in typer.main.get_command(app).commands.values())  # type: ignore[attr-defined]


def test_commands_are_the_documented_set() -> None:
    assert COMMANDS == ["align", "background", "merge", "score", "select"]


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help_and_a_readme_section(command: str) -> None:
    for flag in ("--help", "-h"):
        result = runner.invoke(app, [command, flag])
        assert result.exit_code == 0, result.output
        assert "Example:" in result.stdout
    assert f"zipfit {command}" in README


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_is_in_the_readme(command: str) -> None:
    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    for param in click_command.params:
        for name in param.opts:
            if name.startswith("--"):
                assert f"`{name}" in README or f"{name} " in README or f"/{name}" in README, name


def test_exit_codes_table_matches_the_enum() -> None:
    table = dict(re.findall(r"^\| (\d+) \| (.+) \|$", README, re.MULTILINE))
    assert {int(code) for code in table} == {int(code) for code in ExitCode}
    help_text = runner.invoke(app, ["--help"]).stdout
    for code in ExitCode:
        assert str(int(code)) in help_text

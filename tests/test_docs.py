"""The README keeps up with the CLI: every command and option is documented, exit codes agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from zipfit_cli.base.errors import ExitCode
from zipfit_cli.cli.app import app

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


# --- drift: --help, the error hints and the README's options reference come from flags.py ----


def test_readme_options_reference_is_what_the_declarations_give() -> None:
    from zipfit_cli.cli.readme_options import rewritten

    assert rewritten(README) == README, "README's options reference is stale: run `make docs`"


def test_a_stale_readme_reference_is_caught_and_rewritten() -> None:
    from zipfit_cli.cli.readme_options import START, rewritten

    stale = README.replace("| `--force` |", "| `--forced` |")
    assert stale != README and START in stale
    assert rewritten(stale) == README  # what the README test compares: the edit shows as drift


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lists_exactly_the_declared_options(command: str) -> None:
    from zipfit_cli.cli.flags import OPTIONS
    from zipfit_cli.cli.optspec import declared

    text = runner.invoke(app, [command, "--help"]).stdout
    text = text[text.index("\nArguments:\n") :]  # the parameters, after the command's own help
    shown = set()
    for entry in re.findall(r"^  (-[\w-]+(?:, -[\w-]+)*)", text, re.MULTILINE):
        shown.update(entry.split(", "))
    own = declared(OPTIONS, command)
    assert shown == {flag for option in own for flag in option.flags} | {"-h", "--help"}
    for option in own:  # each with its own help text and value name, in its group
        assert "".join(option.help.split()) in "".join(text.split()), option.name  # however wrapped
        assert f"\n{option.group}:\n" in text or not option.flags, option.group
        if option.metavar and option.flags:
            assert f"{option.long_flag} {option.metavar}" in text, option.name


def test_error_hints_cover_every_setting_the_library_names() -> None:
    from zipfit_cli.base.errors import REASON_SETTINGS
    from zipfit_cli.cli.exits import SETTING_HINTS

    package = Path(__file__).resolve().parent.parent / "zipfit_cli"
    named = set(REASON_SETTINGS.values())
    for path in package.rglob("*.py"):
        source = path.read_text()
        named.update(re.findall(r"setting=\"(\w+)\"", source))
        for group in re.findall(r"setting=\(([^)]*)\)", source):
            named.update(re.findall(r"\"(\w+)\"", group))
    assert {"contrast_weight", "background", "background_size", "adaptive_z"} <= named
    assert named <= set(SETTING_HINTS), named - set(SETTING_HINTS)

"""README.md's options reference, generated from the declarations in `flags.py`.

The reference sits between two marker comments; `rewrite` replaces what is between them
(`python -m zipfit_cli.cli.optspec --readme`), and the tests fail when the README's copy
differs from `reference()`.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from .flags import OPTIONS
from .optspec import Option

START = "<!-- options: generated from zipfit_cli/cli/flags.py by `make docs` -->"
END = "<!-- options: end -->"
EVERY_COMMAND = ("select", "score", "merge", "align", "background")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _spelling(option: Option) -> str:
    """The option as typed: `-t/--target PATH`, `SOURCE...`."""
    if not option.flags:
        return f"`{option.metavar}...`"
    flags = sorted(option.flags, key=lambda flag: flag.startswith("--"))
    value = f" {option.metavar}" if option.metavar else ""
    return f"`{'/'.join(flags)}{value}`"


def _default(option: Option) -> str:
    if option.doc_default is not None:
        return option.doc_default
    value: Any = option.default
    if value is False:
        return "off"
    if value is None or value is True or value == []:
        return ""
    if isinstance(value, float | Decimal):
        return f"{value:g}"
    return f"`{value}`" if isinstance(value, str) else str(value)


def _env(option: Option) -> str:
    """The variable that sets an option, as the README's meaning ends."""
    if option.env is None:
        return ""
    if option.type is bool:
        negative = "--no-" + option.long_flag.removeprefix("--")
        return f"env `{option.env}=1` (`{negative}` overrides it)"
    return f"env `{option.env}`"


def _commands(option: Option) -> str:
    if set(option.commands) == set(EVERY_COMMAND):
        return "all"
    return ", ".join(name for name in EVERY_COMMAND if name in option.commands)


def reference() -> str:
    """The reference: a table for each group of options, in declaration order."""
    groups: dict[str, list[Option]] = {}
    for option in OPTIONS:
        groups.setdefault(option.group, []).append(option)
    lines: list[str] = []
    for group, options in groups.items():
        lines += [
            f"#### {group}",
            "",
            "| option | commands | default | meaning |",
            "| --- | --- | --- | --- |",
        ]
        for option in options:
            meaning = option.doc or option.help
            extra = [said for said in (option.form, _env(option)) if said]
            if extra:  # the suffixes a value takes, the variable that sets it
                meaning = "; ".join([meaning.rstrip("."), *extra])
            cells = (_spelling(option), _commands(option), _default(option), meaning)
            lines.append(f"| {' | '.join(_cell(cell) for cell in cells)} |")
        lines.append("")
    return "\n".join(lines)


def rewritten(readme: str) -> str:
    """`readme` with the text between the markers replaced by the current reference."""
    head, start, rest = readme.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"README has no options markers: {START} ... {END}")
    return f"{head}{START}\n\n{reference()}\n{END}{tail}"


def rewrite(path: Path) -> bool:
    """Rewrite the reference in the README at `path`; False when it was up to date."""
    old = path.read_text(encoding="utf-8")
    new = rewritten(old)
    if new != old:
        path.write_text(new, encoding="utf-8")
    return new != old

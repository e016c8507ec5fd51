"""What an option declaration is, and what is built from the declarations in `flags.py`:
each command's Typer signature, the typed options objects its body receives, the error
hints, and the README's options reference.

An option is declared once, as an `Option` in `flags.OPTIONS`. Its `name` is the Click
parameter's name and the field of the options object it fills (`ScoringOptions.text_key`
for `--text-key`): a command's body takes its options objects as typed parameters, and
`command` fills each object field by field from the parameters of the same name.

`python -m zipfit_cli.cli.optspec --readme` rewrites README.md's options reference; a test
fails when the README differs from what the declarations give.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ..base.errors import shown
from .quantities import COUNT_FORM, SIZE_FORM, quantity

T = TypeVar("T")
Body = TypeVar("Body", bound=Callable[..., None])

# The largest count or size an option takes (2**53, some 9e15): far above any real run, and
# an integer every JSON reader keeps exact in a report or a shard part. Larger values would
# overflow C integers deep inside (an OverflowError, not a message).
MOST = 2**53
MOST_WORKERS = 4096  # processes on one machine
MOST_SECONDS = 86400.0  # a day: --connect-timeout


@dataclass(frozen=True)
class Option:
    """One option (or argument) of one or more commands, as the user meets it everywhere."""

    name: str  # the Click parameter, and the field of the options object it fills
    flags: tuple[str, ...]  # empty: the command's positional argument
    type: Any  # the Python type Typer converts the value to
    default: Any
    help: str
    group: str  # the section of --help and of the README's reference
    commands: tuple[str, ...]
    metavar: str | None = None
    setting: str | None = None  # the library's name for it in errors; `name` when None
    hint: str | None = None  # the error hint, instead of "see FLAG"
    parser: Callable[[str], Any] | None = None
    min: int | None = None
    max: int | None = None
    show_default: bool = True
    doc: str | None = None  # the README's meaning, when more than `help`
    doc_default: str | None = None  # the README's default, when not the value itself
    quantity: str | None = None  # "count" (10k, 2M) or "size" (bytes: 1MB, 64MiB), see quantities
    env: str | None = None  # the environment variable a Makefile or cron line sets it with

    @property
    def long_flag(self) -> str:
        return next((f for f in self.flags if f.startswith("--")), self.metavar or self.name)

    @property
    def form(self) -> str:
        """What --help and the README add to the help: the suffixes a value takes."""
        return {"count": COUNT_FORM, "size": SIZE_FORM}.get(self.quantity or "", "")

    @property
    def spellings(self) -> tuple[str, ...]:
        """The flags as Click takes them: a switch set from the environment can also be
        turned off on the command line (`--no-force` over ZIPFIT_FORCE=1)."""
        if self.env is None or self.type is not bool:
            return self.flags
        negative = "--no-" + self.long_flag.removeprefix("--")
        return (f"{self.long_flag}/{negative}", *(f for f in self.flags if f != self.long_flag))

    def parameter(self) -> inspect.Parameter:
        """The parameter of a command's signature, as Typer reads it."""
        info: Any
        if not self.flags:
            info = typer.Argument(metavar=self.metavar, help=self.help, show_default=False)
            default: Any = inspect.Parameter.empty
        else:
            parser = self.parser
            if self.quantity is not None:  # suffixes read, bounds checked (Typer checks neither then)
                parser = quantity(self.min, self.max, binary=self.quantity == "size")
            info = typer.Option(
                *self.spellings,
                metavar=self.metavar,
                help=f"{self.help} {self.form[0].upper()}{self.form[1:]}." if self.form else self.help,
                envvar=self.env,
                show_envvar=self.env is not None,
                # A switch with its --no- form would show "[default: no-force]": noise.
                show_default=self.show_default and self.spellings == self.flags,
                rich_help_panel=self.group,
                min=self.min,
                max=self.max,
                parser=parser,
            )
            default = self.default
        return inspect.Parameter(
            self.name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[self.type, info], default=default
        )


def finite(minimum: float | None = None, maximum: float | None = None) -> Callable[[str], float]:
    """The parser of a float option: a finite number, at least `minimum` (and at most
    `maximum`). Click's float type takes inf and nan, and 1e400 overflows to inf; none is a
    weight, a bound or a threshold."""

    def parse(value: str | float) -> float:
        try:
            number = float(value)
        except ValueError:
            raise typer.BadParameter(f"'{shown(value)}' is not a number") from None
        if not math.isfinite(number):
            raise typer.BadParameter(f"'{shown(value)}' is not a finite number")
        if minimum is not None and number < minimum:
            raise typer.BadParameter(f"must be at least {minimum:g}, not {shown(value)}")
        if maximum is not None and number > maximum:
            raise typer.BadParameter(f"must be at most {maximum:g}, not {shown(value)}")
        return number

    return parse


def decimal(value: str | float | Decimal) -> Decimal:
    """The parser of --fraction: the decimal number as typed (0.145 stays 0.145, where a float
    holds 0.14499999999999999), so that rounding half up rounds what the user wrote. A
    Decimal (a declared default, which Click parses too) is taken as it is."""
    if isinstance(value, Decimal):
        return value
    try:
        number = Decimal(value.strip() if isinstance(value, str) else repr(value))
    except InvalidOperation:
        raise typer.BadParameter(f"'{shown(value)}' is not a number") from None
    if not number.is_finite():
        raise typer.BadParameter(f"'{shown(value)}' is not a finite number")
    return number


def declared(options: Sequence[Option], command: str) -> list[Option]:
    """The options `command` takes, in declaration order."""
    return [option for option in options if command in option.commands]


def default_of(options: Sequence[Option], name: str) -> Any:
    """The one default declared for `name` (every declaration of it must agree)."""
    defaults = [option.default for option in options if option.name == name]
    if not defaults or any(d != defaults[0] for d in defaults):
        raise LookupError(f"option {name!r}: declared {len(defaults)} times, defaults {defaults}")
    return defaults[0]


def flag_of(options: Sequence[Option], name: str) -> str:
    """The long flag of option `name`, for messages."""
    return next(option.long_flag for option in options if option.name == name)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _given(ctx: typer.Context, name: str) -> bool:
    """The user gave the option on the command line, whatever its value: Click's parameter
    source, not a comparison with the default. A value from the environment is a standing
    default for every run (ZIPFIT_SCHEDULER exported for a whole Makefile), so it is not held
    against the other options the way a flag typed for this run is."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def fill(kind: type[T], ctx: typer.Context, params: dict[str, Any]) -> T:
    """An options object: each of its fields that the command declares, from the parameter
    of the same name, the others at their defaults. Its `given` field (if it has one) names
    the options the user gave; its `command_line` is the command line as given (Click's
    `ctx.obj`, see exits.Commands)."""
    names = {f.name for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    filled = [name for name in params if name in names]
    values = {name: _plain(params[name]) for name in filled}
    if "given" in names:
        values["given"] = frozenset(name for name in filled if _given(ctx, name))
    if "command_line" in names:
        values["command_line"] = list(ctx.obj or [])
    return kind(**values)


def command(app: typer.Typer, options: Sequence[Option], **settings: Any) -> Callable[[Body], Body]:
    """Register `body` as the command of its name, taking the options declared for it.

    Each of the body's parameters is an options dataclass; every declared option must be a
    field of exactly one of them (checked here, when the module loads: a misspelled name
    fails at once instead of being silently ignored).
    """

    def register(body: Body) -> Body:
        name = body.__name__.strip("_")
        own = declared(options, name)
        kinds: dict[str, type[Any]] = {
            p: kind for p, kind in inspect.get_annotations(body, eval_str=True).items() if p != "return"
        }
        homes = {
            o.name: [k for k in kinds.values() if o.name in {f.name for f in dataclasses.fields(k)}]
            for o in own
        }
        wrong = {n: [k.__name__ for k in found] for n, found in homes.items() if len(found) != 1}
        if wrong:
            raise TypeError(f"{name}: each option must fill one field of {list(kinds)}: {wrong}")

        def callback(ctx: typer.Context, **params: Any) -> None:
            body(**{p: fill(kind, ctx, params) for p, kind in kinds.items()})

        # Typer reads the signature: the context (for parameter sources), then each option.
        parameters = [
            inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
            *(o.parameter() for o in own),
        ]
        callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        callback.__annotations__ = {p.name: p.annotation for p in parameters}
        callback.__doc__ = body.__doc__
        callback.__name__ = name
        app.command(name, **settings)(callback)
        return body

    return register


def setting_hints(options: Sequence[Option], command: str | None = None) -> dict[str, str]:
    """Each setting the library names in errors, and the flag to look at: among `command`'s
    own options, or (no command) the first declaration of each setting."""
    hints: dict[str, str] = {}
    for option in declared(options, command) if command else options:
        if option.flags:
            hints.setdefault(option.setting or option.name, option.hint or f"see {option.long_flag}")
    return hints


def main(argv: Sequence[str]) -> int:
    """`python -m zipfit_cli.cli.optspec --readme [README.md]`: rewrite the options reference."""
    from .readme_options import rewrite

    if not argv or argv[0] != "--readme":
        print("usage: python -m zipfit_cli.cli.optspec --readme [README.md]", file=sys.stderr)
        return 2
    path = Path(argv[1] if len(argv) > 1 else "README.md")
    changed = rewrite(path)
    print(f"{path}: options reference {'rewritten' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

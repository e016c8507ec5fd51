"""Counts and byte sizes as the user types them: `10k`, `2M`, `64MiB`.

One rule for every count and size option (`-k 10k`, `--budget-tokens 1M`,
`--max-line-bytes 64MiB`, `--blocksize 16MiB`):

- k, M, G, T are powers of 1000, for counts and sizes alike (`1M` = 1,000,000), with an
  optional B on sizes (`1MB`); letters are read in any case (`10K`, `64mib`);
- KiB, MiB, GiB, TiB (or Ki, Mi, Gi, Ti) are powers of 1024, for byte sizes only;
- the number is whole: `1.5M`, `1e6` and `0.5` are refused with the whole number to write
  instead (`1500k`), so that no value is silently rounded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

import typer

from ..base.errors import shown

_DECIMAL = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}
_BINARY = {"ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}
_FORM = re.compile(r"\s*([+-]?[0-9][0-9_.eE+-]*)\s*([A-Za-z]*)\s*")

# What --help and the README say a value may look like.
COUNT_FORM = "takes 10k, 2M (k, M, G: 1000s)"
SIZE_FORM = "takes 1MB, 64MiB (kB, MB, GB: 1000s; KiB, MiB, GiB: 1024s)"


def multiplier(unit: str, binary: bool) -> int | None:
    """What `unit` multiplies by (None: not a unit of this kind of value)."""
    unit = unit.lower()
    if binary and unit.endswith("b"):  # bytes: 1MB, 64MiB, 100B
        unit = unit[:-1]
    if unit in _DECIMAL:
        return _DECIMAL[unit]
    return _BINARY.get(unit) if binary else None


def parse_quantity(text: str, binary: bool) -> int:
    """A count (binary=False) or a byte size (binary=True) as typed; ValueError says why not."""
    form = "a size like 1000000, 1MB or 64MiB" if binary else "a count like 20000, 20k or 2M"
    match = _FORM.fullmatch(text)
    factor = multiplier(match[2], binary) if match else None
    if match is None or factor is None:
        raise ValueError(f"'{shown(text)}' is not {form}")
    digits = match[1].replace("_", "")
    if len(digits) > 30:  # far past any bound, and past what int() reads from text
        raise ValueError(f"'{shown(text)}' is too large")
    if digits.lstrip("+-").isdigit():
        return int(digits) * factor
    try:
        value = Decimal(digits) * factor
        whole = value.is_finite() and value == value.to_integral_value()
    except ArithmeticError:  # not a number (InvalidOperation), or an exponent past Decimal's
        raise ValueError(f"'{shown(text)}' is not {form}") from None
    if whole and abs(value) >= 2**63:
        raise ValueError(f"'{shown(text)}' is too large")
    if whole:
        raise ValueError(f"'{shown(text)}' is not a whole number: write {int(value)}")
    raise ValueError(f"'{shown(text)}' is not a whole number")


def quantity(minimum: int | None, maximum: int | None, binary: bool) -> Callable[[str | int], int]:
    """The parser of a count (binary=False) or byte-size option, within its bounds."""

    def parse(value: str | int) -> int:
        try:
            number = value if isinstance(value, int) else parse_quantity(value, binary)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            low, high = "" if minimum is None else f"{minimum}<=", "" if maximum is None else f"<={maximum}"
            raise typer.BadParameter(f"{number} is not in the range {low}x{high}")
        return number

    return parse

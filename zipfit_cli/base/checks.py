"""Arguments of the Python API, checked by the rules the command line's options follow.

Click checks the options' types and ranges before zipfit sees them; a script calling the
library can pass anything, and a wrong value would not fail but do something else: a
`str` where a list of texts belongs is a sequence of one-character texts, `True` is the
count 1, `batch_size=0` scores nothing. Each check raises TypeError or ArgumentError (a
ValueError, and a UsageError: exit code 2 should the CLI meet it) naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TypeVar

from .errors import UsageError

T = TypeVar("T")


class ArgumentError(UsageError, ValueError):
    """A value out of range: what a caller of the Python API catches as a ValueError.

    Not every UsageError is one: code that turns a ValueError from a library into a one-line
    message (an unreadable URL, say) must not catch zipfit's own usage errors with it.
    """


def count(name: str, value: object, minimum: int = 1) -> int:
    """An int of at least `minimum` (bools are not counts)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ArgumentError(f"{name} must be at least {minimum}, not {value}")
    return value


def number(name: str, value: object, minimum: float = -math.inf, *, setting: str | None = None) -> float:
    """A finite number of at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value) or value < minimum:
        least = f" of at least {minimum:g}" if math.isfinite(minimum) else ""
        raise ArgumentError(f"{name} must be a finite number{least}, not {value}", setting=setting)
    return float(value)


def text(name: str, value: object, what: str = "a str") -> str:
    """A non-empty str: a key, a compressor's name."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be {what}, not {type(value).__name__}")
    if not value:
        raise ArgumentError(f"{name} is empty: give {what}")
    return value


def many(name: str, value: T, what: str = "texts") -> T:
    """A collection of items, not one item: a bare str or bytes (or one record) is refused."""
    if isinstance(value, str | bytes | bytearray | Mapping):
        single = "record" if isinstance(value, Mapping) else type(value).__name__
        raise TypeError(f"{name} must be an iterable of {what}, not a single {single}; wrap it in a list")
    if not isinstance(value, Iterable):
        raise TypeError(f"{name} must be an iterable of {what}, not {type(value).__name__}")
    return value


def texts(name: str, value: Iterable[object], *, empty_ok: bool = False, blank_ok: bool = False) -> None:
    """A list of str or bytes texts, and (unless `empty_ok`) at least one of them, none of
    them blank (as the CLI refuses an empty target). The value is read through: give a list,
    not an iterator."""
    many(name, value)
    size = 0
    for i, text in enumerate(value):
        if not isinstance(text, str | bytes):
            raise TypeError(f"{name}[{i}] must be str or bytes, not {type(text).__name__}")
        if not blank_ok and not text.strip():
            raise ArgumentError(f"{name}[{i}] is empty or whitespace only: it has no meaningful score")
        size += 1
    if not size and not empty_ok:
        raise ArgumentError(f"{name} is empty: give at least one text")

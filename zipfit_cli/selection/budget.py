"""Sizes of records in characters or tokens, and taking a ranking up to a size budget.

Counters (`make_counter(spec)`):

- ``"chars"``: Unicode code points of the text (not bytes).
- ``"approx"`` (the default for tokens): the number of pieces GPT-2's pre-tokenizer regex
  splits the text into (letter runs, digit runs and punctuation runs, each with an optional
  leading space; whitespace runs). No vocabulary, no downloads, about 15 MB/s in one core
  (tiktoken: about 8).
  Real BPE splits rare words into several tokens but merges some whitespace and
  punctuation, and the two effects nearly cancel: on sample_data (4,040 texts) the
  tiktoken ``cl100k_base`` count is 0.98x the approximate count in total (by kind of text:
  C 0.96, prose 0.98, Python 0.99, Perl 1.04), and 0.85x-1.10x for 90% of single
  records. Budgets over many records are therefore met within a few percent.
- ``"tiktoken:<encoding>"``, e.g. ``"tiktoken:cl100k_base"``: exact BPE counts from the
  optional tiktoken package. tiktoken downloads its BPE file on first use; offline,
  copy it into ``$TIKTOKEN_CACHE_DIR`` beforehand.

Counters are picklable (tiktoken's encoding is loaded lazily in each process) and accept
``str`` or UTF-8 ``bytes``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from ..base.errors import UsageError

T = TypeVar("T")

# GPT-2's split pattern with Python `re` classes: [^\W\d_] is a letter, \d a digit,
# (?:[^\s\w]|_) anything else that is not whitespace.
APPROX_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""

COUNTER_SPECS = ("chars", "approx", "tiktoken:<encoding>")


def _as_str(text: str | bytes) -> str:
    return text.decode("utf-8", "surrogatepass") if isinstance(text, bytes) else text


class SizeCounter:
    """Base class: `counter(text)` is the size of `text` in the counter's unit."""

    spec: str = ""

    def __call__(self, text: str | bytes) -> int:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"make_counter({self.spec!r})"


class CharCounter(SizeCounter):
    """Unicode code points."""

    spec = "chars"

    def __call__(self, text: str | bytes) -> int:
        return len(_as_str(text))


class ApproxTokenCounter(SizeCounter):
    """Pieces of GPT-2's pre-tokenizer split; close to BPE token counts (see module docs)."""

    spec = "approx"
    _findall = staticmethod(re.compile(APPROX_PATTERN).findall)

    def __call__(self, text: str | bytes) -> int:
        return len(self._findall(_as_str(text)))


class TiktokenCounter(SizeCounter):
    """Exact token counts from a tiktoken encoding; special-token text counts as plain text."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.spec = f"tiktoken:{encoding}"
        self._encode: Callable[[str], list[int]] | None = None
        self.load()

    def load(self) -> Callable[[str], list[int]]:
        if self._encode is None:
            try:
                import tiktoken
            except ImportError:
                raise UsageError(
                    f"token counter {self.spec!r} needs the tiktoken package: pip install tiktoken"
                ) from None
            try:
                enc = tiktoken.get_encoding(self.encoding)
            except ValueError as exc:
                raise UsageError(f"token counter {self.spec!r}: {exc}") from None
            except OSError as exc:
                raise UsageError(
                    f"token counter {self.spec!r}: cannot download the {self.encoding} BPE file "
                    f"({type(exc).__name__}); offline, put it in $TIKTOKEN_CACHE_DIR, or use "
                    "the built-in 'approx' counter"
                ) from None
            # encode_ordinary treats "<|endoftext|>" in data as text instead of raising.
            self._encode = enc.encode_ordinary
        return self._encode

    def __call__(self, text: str | bytes) -> int:
        encode = self._encode or self.load()
        return len(encode(_as_str(text)))

    def __getstate__(self) -> dict[str, Any]:
        return {"encoding": self.encoding}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.encoding = state["encoding"]
        self.spec = f"tiktoken:{self.encoding}"
        self._encode = None  # loaded on first use in this process


def make_counter(spec: str = "approx") -> SizeCounter:
    """The counter named by `spec`: "chars", "approx" or "tiktoken:<encoding>".

    Raises UsageError for an unknown spec, or when tiktoken or its encoding is unavailable.
    """
    if spec == "chars":
        return CharCounter()
    if spec == "approx":
        return ApproxTokenCounter()
    if spec.startswith("tiktoken:") and spec != "tiktoken:":
        return TiktokenCounter(spec.split(":", 1)[1])
    raise UsageError(f"unknown size counter {spec!r}; choose one of: {', '.join(COUNTER_SPECS)}")


@dataclass
class BudgetTally:
    """What `take_within_budget` took: records and their total size."""

    records: int = 0
    used: int = 0


def take_within_budget(
    ranked: Iterable[T], size: Callable[[T], int], budget: int, tally: BudgetTally | None = None
) -> Iterator[T]:
    """Items of `ranked`, in order, while their running total of `size` stays <= `budget`.

    Stops at the first item that would take the total over the budget, without reading
    further: the output is always a prefix of the ranking, so a larger budget only adds
    records at the end. (It never skips a long record to fit shorter, lower-ranked ones.)
    A first item larger than the whole budget therefore yields nothing. Pass a
    `BudgetTally` to learn the count and total used without sizing records twice.
    """
    if budget < 0:
        raise UsageError(f"the budget must be 0 or more, not {budget}")
    tally = tally if tally is not None else BudgetTally()
    for item in ranked:
        n = size(item)
        if tally.used + n > budget:
            return
        tally.used += n
        tally.records += 1
        yield item


def take_shortest_within_budget(
    candidates: Iterable[T], size: Callable[[T], int], budget: int, tally: BudgetTally | None = None
) -> Iterator[T]:
    """The shortest of `candidates` (ties: the earlier first) while their running total of
    `size` stays <= `budget`, yielded in the candidates' own order.

    `--budget-fill shortest`: a budget spent on as many of the selected records as fit, not
    on a prefix of the ranking. It reads every candidate first, so they are a bounded set (a
    top K), never a whole ranking. A longer candidate is never taken before a shorter one.
    """
    if budget < 0:
        raise UsageError(f"the budget must be 0 or more, not {budget}")
    tally = tally if tally is not None else BudgetTally()
    held = list(candidates)
    sizes = [size(item) for item in held]
    taken: list[int] = []
    for position in sorted(range(len(held)), key=lambda i: (sizes[i], i)):
        if tally.used + sizes[position] > budget:
            break
        tally.used += sizes[position]
        tally.records += 1
        taken.append(position)
    for position in sorted(taken):
        yield held[position]

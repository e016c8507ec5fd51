"""Corpus scoring for large target sets: one compression per source instead of n pairs.

The target set T (texts joined with a newline) primes the compressor as a dictionary of
prior history, and a source is scored by how much that history shortens it:

    corpus_score(x) = (C(x) - C(x | T)) / C(x)

C(x) is the compressed size used everywhere else in zipfit (compressors.py: gzip with its
18 framing bytes, the LZ4 block, the zstd frame), and C(x | T) the same with T loaded as
dictionary. 0 means T does not help at all; near 1, x is (a copy of something) inside T.
Higher is better, as for alignment, but the two are on different scales and are not
interchangeable: the corpus score rewards the best-matching material anywhere in T,
where alignment averages over targets. On sample_data (4,000 sources, 40 targets) the
top 10% by corpus score shares 60% of its records with the top 10% by pairwise gzip:9
alignment for gzip:9 (45% zstd:3, 30% lz4:0) and is 63% Python against 91% for pairwise
(15% of all records are Python): much faster, clearly worse. Fast modes (lz4 0, gzip 1)
find only part of a match in the dictionary: a verbatim target copy scores 0.54-0.96.

Each compressor only looks back so far, so T is cut to a dictionary budget first:
gzip (deflate) sees 32 KiB, LZ4 64 KiB; zstd's reach depends on its level (each
compressor's `dictionary_reach`, measured: beyond it, dictionary content far from the end
is no longer found). When T is
larger than the budget, whole targets are sampled to fit, deterministically for a seed
(`targets_used` says how many), and kept in their original order.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..base.errors import UsageError
from ..files.records import encode_text
from .compressors import Compressor, get_compressor
from .pairwise import texts_digest

if TYPE_CHECKING:
    from .scorers import ScoringInputs

SEPARATOR = b"\n"


def build_dictionary(
    texts: Sequence[bytes], max_bytes: int, seed: int = 0, separator: bytes = SEPARATOR
) -> tuple[bytes, int]:
    """(dictionary, targets used): all texts joined, or a seeded sample of whole texts that fits.

    Sampling visits targets in a seeded random order and keeps each one that still fits;
    the kept ones are joined in their original order. If not even one fits, the last
    `max_bytes` of the first target in that order are used.
    """
    total = sum(len(t) for t in texts) + len(separator) * max(len(texts) - 1, 0)
    if total <= max_bytes:
        return separator.join(texts), len(texts)
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    chosen: list[int] = []
    used = 0
    for j in order:
        cost = len(texts[j]) + (len(separator) if chosen else 0)
        if used + cost <= max_bytes:
            chosen.append(j)
            used += cost
    if not chosen:
        return texts[order[0]][-max_bytes:], 1
    return separator.join(texts[j] for j in sorted(chosen)), len(chosen)


class CorpusScorer:
    """Scores sources against a whole target set at once; build with `from_targets`.

    Picklable: only the settings and the dictionary travel; native compressor objects
    are rebuilt on first use in each process.
    """

    comparisons = 1  # one compression with the dictionary per record, beyond its own

    def __init__(
        self,
        dictionary: bytes,
        compressor: Compressor,
        targets_used: int,
        targets_total: int,
        target_sha256: str,
    ) -> None:
        self.plain = compressor
        self.dictionary = dictionary
        self.targets_used = targets_used
        self.targets_total = targets_total
        self.target_sha256 = target_sha256
        self._conditional: Callable[[bytes], int] | None = None

    @classmethod
    def from_targets(
        cls,
        texts: Sequence[str | bytes],
        compressor: str | Compressor = "gzip",
        level: int | None = None,
        *,
        max_dict_bytes: int | None = None,
        seed: int = 0,
    ) -> CorpusScorer:
        """A scorer primed with `texts`; `max_dict_bytes=None` uses the compressor's reach."""
        encoded = [encode_text(t) for t in texts]
        if not encoded:
            raise UsageError("the target set is empty: give at least one target example")
        plain = get_compressor(compressor, level) if isinstance(compressor, str) else compressor
        reach = plain.dictionary_reach()
        if not reach:
            raise UsageError(
                f"the corpus method needs a compressor that takes a dictionary (gzip, lz4, zstd), "
                f"not {plain.name}",
                setting="compressor",
            )
        budget = reach if max_dict_bytes is None else max_dict_bytes
        if budget < 1:
            raise UsageError(f"the dictionary budget must be at least 1 byte, not {budget}")
        dictionary, used = build_dictionary(encoded, min(budget, reach), seed)
        return cls(dictionary, plain, used, len(encoded), texts_digest(encoded))

    @classmethod
    def from_inputs(cls, inputs: ScoringInputs) -> CorpusScorer:
        return cls.from_targets(inputs.targets, inputs.compressor)

    def spec(self) -> str:
        return f"corpus:{self.plain.spec()}"

    @property
    def dict_bytes(self) -> int:
        return len(self.dictionary)

    def describe(self) -> dict[str, Any]:
        return {
            "method": "corpus",
            "compressor": self.plain.name,
            "level": self.plain.level,
            "n_targets": self.targets_total,
            "target_sha256": self.target_sha256,
            "targets_used": self.targets_used,
        }

    def conditional_size(self, source: bytes) -> int:
        """C(source | T): compressed size of `source` with the targets as dictionary."""
        if self._conditional is None:
            self._conditional = self.plain.dictionary_sizer(self.dictionary)
        return self._conditional(source)

    def score(self, source: bytes) -> float:
        """(C(x) - C(x | T)) / C(x): the share of x's compressed size the targets save."""
        c_x = self.plain.size(source)
        return (c_x - self.conditional_size(source)) / c_x if c_x else 0.0

    def scores(self, sources: Iterable[bytes]) -> list[float]:
        return [self.score(s) for s in sources]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_conditional"] = None  # native compressor state: rebuilt in each process
        return state

    def __repr__(self) -> str:
        return (
            f"CorpusScorer({self.spec()}, {self.dict_bytes} dictionary bytes, "
            f"{self.targets_used}/{self.targets_total} targets)"
        )

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
gzip (deflate) sees 32 KiB, LZ4 64 KiB; zstd's reach depends on its level (DICT_REACH,
measured: beyond it, dictionary content far from the end is no longer found). When T is
larger than the budget, whole targets are sampled to fit, deterministically for a seed
(`targets_used` says how many), and kept in their original order.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from .compressors import GZIP_FRAMING, get_compressor
from .errors import UsageError

SEPARATOR = b"\n"
GZIP_DICT_BYTES = 32 * 1024  # deflate's window; zlib keeps only the last 32 KiB of a zdict
LZ4_DICT_BYTES = 64 * 1024  # LZ4 offsets are 16-bit
# zstd levels -> bytes of dictionary still found from its far end, measured with
# zstandard 0.25 (libzstd 1.5.7) on sample_data: above this, copies of text placed at the
# start of the dictionary compressed no better than without it. It is set by the
# level's hash table size, not its window.
ZSTD_DICT_REACH = {1: 32 << 10, 2: 64 << 10, 3: 512 << 10, 4: 1 << 20, 5: 1 << 20, 6: 1 << 20}
ZSTD_DICT_REACH_MAX = 2 << 20  # levels 7-22 all reached 2 MiB; some failed at 4 MiB


def default_dict_bytes(compressor: str, level: int) -> int:
    """The dictionary budget for a compressor at a level (see the module docs)."""
    if compressor == "gzip":
        return GZIP_DICT_BYTES
    if compressor == "lz4":
        return LZ4_DICT_BYTES
    return ZSTD_DICT_REACH.get(level, ZSTD_DICT_REACH_MAX)


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

    def __init__(
        self, dictionary: bytes, compressor: str, level: int | None, targets_used: int, targets_total: int
    ) -> None:
        self.plain = get_compressor(compressor, level)  # checks the name and level
        self.compressor = compressor
        self.level = self.plain.level
        self.dictionary = dictionary
        self.targets_used = targets_used
        self.targets_total = targets_total
        self._conditional: Any = None

    @classmethod
    def from_targets(
        cls,
        texts: Sequence[str | bytes],
        compressor: str = "gzip",
        level: int | None = None,
        *,
        max_dict_bytes: int | None = None,
        seed: int = 0,
    ) -> CorpusScorer:
        """A scorer primed with `texts`; `max_dict_bytes=None` uses `default_dict_bytes`."""
        encoded = [t.encode("utf-8") if isinstance(t, str) else t for t in texts]
        if not encoded:
            raise UsageError("the target set is empty: give at least one target example")
        plain = get_compressor(compressor, level)
        budget = default_dict_bytes(compressor, plain.level) if max_dict_bytes is None else max_dict_bytes
        if budget < 1:
            raise UsageError(f"the dictionary budget must be at least 1 byte, not {budget}")
        if compressor == "gzip":
            budget = min(budget, GZIP_DICT_BYTES)
        elif compressor == "lz4":
            budget = min(budget, LZ4_DICT_BYTES)
        dictionary, used = build_dictionary(encoded, budget, seed)
        return cls(dictionary, compressor, plain.level, used, len(encoded))

    def spec(self) -> str:
        return f"corpus:{self.plain.spec()}"

    @property
    def dict_bytes(self) -> int:
        return len(self.dictionary)

    def _build(self) -> Any:
        level, name = self.level, self.compressor
        if name == "gzip":
            primed = zlib.compressobj(level, zlib.DEFLATED, -15, zdict=self.dictionary)

            def gzip_size(x: bytes) -> int:
                c = primed.copy()  # cheaper than loading the dictionary again
                return len(c.compress(x)) + len(c.flush()) + GZIP_FRAMING

            return gzip_size
        if name == "lz4":
            import lz4.block

            compress, dictionary = lz4.block.compress, self.dictionary
            mode = "default" if level < 3 else "high_compression"

            def lz4_size(x: bytes) -> int:
                return len(compress(x, mode=mode, compression=level, store_size=False, dict=dictionary))

            return lz4_size
        if name == "zstd":
            import zstandard

            zdict = zstandard.ZstdCompressionDict(self.dictionary, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
            zdict.precompute_compress(level=level)
            zc = zstandard.ZstdCompressor(
                level=level,
                dict_data=zdict,
                write_content_size=False,
                write_checksum=False,
                write_dict_id=False,
            )
            compress = zc.compress

            def zstd_size(x: bytes) -> int:
                return len(compress(x))

            return zstd_size
        raise UsageError(f"corpus scoring does not support the {name} compressor")

    def conditional_size(self, source: bytes) -> int:
        """C(source | T): compressed size of `source` with the targets as dictionary."""
        if self._conditional is None:
            self._conditional = self._build()
        size: int = self._conditional(source)
        return size

    def score(self, source: bytes) -> float:
        """(C(x) - C(x | T)) / C(x): the share of x's compressed size the targets save."""
        c_x = self.plain.size(source)
        return (c_x - self.conditional_size(source)) / c_x if c_x else 0.0

    # The name the pipeline calls, shared with TargetSet.
    alignment = score

    def scores(self, sources: Iterable[bytes]) -> list[float]:
        return [self.score(s) for s in sources]

    def __getstate__(self) -> dict[str, Any]:
        return {
            "dictionary": self.dictionary,
            "compressor": self.compressor,
            "level": self.level,
            "targets_used": self.targets_used,
            "targets_total": self.targets_total,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def __repr__(self) -> str:
        return (
            f"CorpusScorer({self.spec()}, {self.dict_bytes} dictionary bytes, "
            f"{self.targets_used}/{self.targets_total} targets)"
        )

"""Dataset-level alignment: the mean of 1 - NCD(x, t) over dataset x target pairs (the paper's
measure that predicts fine-tuning loss), exactly or from a seeded uniform sample of pairs.

Sampling streams the dataset once through a reservoir of pairs (Li's Algorithm L over the
N*n pair indexes, record-major), so memory is bounded by the sample size and the texts it
holds, never by N; the NCDs are computed at the end, only for the pairs that stayed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..base import checks
from ..base.errors import InputError, UsageError
from .pairwise import TargetSet, ncd

Z95 = 1.959963984540054  # two-sided 95% quantile of the standard normal
_ALMOST_ONE = 1.0 - 2.0**-53
_NEVER = 2**63


@dataclass(frozen=True)
class AlignmentResult:
    """Mean and spread of per-pair alignment 1 - NCD(x, t).

    `std` is the sample standard deviation (n - 1) of the per-pair values. The 95%
    interval is mean ± 1.96·std/√n_pairs when `exact` is False; it treats pairs as
    independent, which understates the uncertainty a little because sampled pairs share
    targets (and, for small datasets, records). When `exact` is True every pair was
    scored, the mean has no sampling error, and the interval is [mean, mean].
    """

    mean: float
    std: float
    n_pairs: int  # pairs scored
    ci_low: float
    ci_high: float
    n_records: int  # records in the dataset (all of them, sampled or not)
    n_targets: int
    exact: bool

    @property
    def total_pairs(self) -> int:
        return self.n_records * self.n_targets

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_pairs": self.total_pairs}


class _Moments:
    """Running mean and variance (Welford), deterministic for a given order of values."""

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self._m2 = 0.0

    def add(self, value: float) -> None:
        self.count += 1
        delta = value - self.mean
        self.mean += delta / self.count
        self._m2 += delta * (value - self.mean)

    @property
    def std(self) -> float:
        return math.sqrt(self._m2 / (self.count - 1)) if self.count > 1 else 0.0


def pair_alignments(source: bytes, target_indexes: Sequence[int], targets: TargetSet) -> list[float]:
    """1 - NCD(source, t_j) for each j in `target_indexes`, in that order."""
    c_x, c_xts = targets.compressor.sizer([targets.texts[j] for j in target_indexes])(source)
    return [1.0 - ncd(c_x, targets.sizes[j], c_xt) for j, c_xt in zip(target_indexes, c_xts, strict=True)]


class PairReservoir:
    """A uniform sample without replacement of `size` pairs from dataset x targets, streamed.

    Feed records in order with `offer(text)`; `groups()` then gives the sampled pairs
    grouped by record. While N*n <= size the sample holds every pair (`exact`).
    Deterministic for a given seed, record order and target count.
    """

    def __init__(self, n_targets: int, size: int, seed: int = 0) -> None:
        if size < 1:
            raise UsageError(f"the number of pairs to sample must be at least 1, not {size}")
        if n_targets < 1:
            raise UsageError("the target set is empty: give at least one target example")
        self.n_targets = n_targets
        self.size = size
        self.records = 0
        self._rng = random.Random(seed)
        self._slots: list[tuple[int, int]] = []  # (record index, target index)
        self._texts: dict[int, bytes] = {}  # records that own at least one slot
        self._refs: dict[int, int] = {}
        self._w = 1.0
        self._next = 0  # once full: the pair index to take next

    @property
    def exact(self) -> bool:
        return self.records * self.n_targets <= self.size

    def _uniform(self) -> float:
        u = self._rng.random()
        while u == 0.0:
            u = self._rng.random()
        return u

    def _advance(self, last: int) -> None:
        # Algorithm L: the gap to the next replaced pair is geometric with parameter W.
        log_keep = math.log1p(-min(self._w, _ALMOST_ONE))
        if log_keep == 0.0:  # W underflowed: no pair will ever be replaced again
            self._next = _NEVER
        else:
            self._next = last + math.floor(math.log(self._uniform()) / log_keep) + 1

    def offer(self, text: bytes) -> None:
        i = self.records
        self.records += 1
        n, k, slots = self.n_targets, self.size, self._slots
        start, end = i * n, (i + 1) * n
        taken = 0
        if len(slots) < k:
            m = min(n, k - len(slots))
            slots.extend((i, j) for j in range(m))
            taken = m
            if len(slots) == k:
                self._w = math.exp(math.log(self._uniform()) / k)
                self._advance(start + m - 1)
        while len(slots) == k and self._next < end:
            slot = self._rng.randrange(k)
            old = slots[slot][0]
            if old != i:
                self._release(old)
                taken += 1
            slots[slot] = (i, self._next - start)
            self._w *= math.exp(math.log(self._uniform()) / k)
            self._advance(self._next)
        if taken:
            self._texts[i] = text
            self._refs[i] = self._refs.get(i, 0) + taken

    def _release(self, record: int) -> None:
        left = self._refs[record] - 1
        if left:
            self._refs[record] = left
        else:
            del self._refs[record]
            del self._texts[record]

    def groups(self) -> Iterator[tuple[int, bytes, list[int]]]:
        """(record index, text, sorted target indexes) of the sample, by record index."""
        by_record: dict[int, list[int]] = {}
        for i, j in self._slots:
            by_record.setdefault(i, []).append(j)
        for i in sorted(by_record):
            yield i, self._texts[i], sorted(by_record[i])


def summarize(values: Iterable[float], n_records: int, n_targets: int, exact: bool) -> AlignmentResult:
    """An AlignmentResult from per-pair alignments (in a fixed order, for reproducible sums)."""
    moments = _Moments()
    for v in values:
        moments.add(v)
    return _result(moments, n_records, n_targets, exact)


def _result(moments: _Moments, n_records: int, n_targets: int, exact: bool) -> AlignmentResult:
    if moments.count == 0:
        raise InputError("the dataset is empty: no records to measure")
    half = 0.0 if exact else Z95 * moments.std / math.sqrt(moments.count)
    return AlignmentResult(
        mean=moments.mean,
        std=moments.std,
        n_pairs=moments.count,
        ci_low=moments.mean - half,
        ci_high=moments.mean + half,
        n_records=n_records,
        n_targets=n_targets,
        exact=exact,
    )


def dataset_alignment(
    texts: Iterable[bytes], targets: TargetSet, pairs: int | None = None, seed: int = 0
) -> AlignmentResult:
    """Mean alignment of a dataset to `targets` over its record x target pairs.

    `pairs=None` scores all N*n pairs in one streaming pass (constant memory). Otherwise
    at most `pairs` pairs are scored: all of them (exact) when N*n <= pairs, else a
    uniform seeded sample, drawn without replacement in one pass. The result depends
    only on the texts, their order, the targets, `pairs` and `seed`.
    """
    if pairs is not None:
        checks.count("pairs", pairs)
    n = len(targets)
    all_targets = list(range(n))
    if pairs is None:
        moments = _Moments()
        records = 0
        for text in texts:
            records += 1
            for v in pair_alignments(text, all_targets, targets):
                moments.add(v)
        return _result(moments, records, n, exact=True)
    reservoir = PairReservoir(n, pairs, seed)
    for text in texts:
        reservoir.offer(text)
    values = (v for _, text, js in reservoir.groups() for v in pair_alignments(text, js, targets))
    return summarize(values, reservoir.records, n, reservoir.exact)

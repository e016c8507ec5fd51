"""Adaptive top K: the same selection with a fraction of the compressions.

Each record is compared with the targets (and, with --contrast, the background) in one
fixed, seeded order. At checkpoints (after a tenth, a fifth, two fifths and four fifths of
them; for lz4, whose NCDs are noisier, from a fifth on: `Compressor.adaptive_checkpoints`)
the partial mean NCD and its standard error, with the finite-population correction
√(1 − m/n), give an optimistic score: the estimate plus z standard errors. A record
whose optimistic score is still below the threshold stops there and is not selected; a
record that might enter the top K is compared with every target, and its score is
computed exactly as exhaustive scoring computes it, bit for bit.

The threshold depends on input positions only, never on timing: records are taken in
blocks of `block`; block j uses the K-th best exact score among the records of blocks
0..j−2 (−inf while fewer than K are known). The engine cuts batches at block edges and
sends a batch of block j only once blocks 0..j−2 have come back (`Thresholds`).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import checks
from .contrast import ContrastScorer
from .scoring import TargetSet

DEFAULT_Z = 4.0
DEFAULT_BLOCK = 1024  # records
PRUNED = "pruned"  # result reason of a record stopped at a checkpoint; detail "SHARE COMPARISONS"

Getter = Callable[[bytes], tuple[int, Callable[[int], int]]]


@dataclass(frozen=True)
class Part:
    """One mean-NCD term of a score: coefficient × mean NCD to these texts, in this order."""

    texts: TargetSet
    coefficient: float
    order: tuple[int, ...]
    copies: dict[bytes, frozenset[int]]  # texts left out of their own copies' means


class AdaptiveScorer:
    """Wraps a pairwise (TargetSet) or contrastive scorer; `score(text, threshold)` returns the
    exact score, or (PRUNED, "checkpoint cost") when the record cannot reach the threshold.
    """

    def __init__(
        self,
        scorer: TargetSet | ContrastScorer,
        z: float = DEFAULT_Z,
        checkpoints: Sequence[float] | None = None,
        seed: int = 0,
    ) -> None:
        if not isinstance(scorer, TargetSet | ContrastScorer):
            raise TypeError(f"scorer must be a TargetSet or a ContrastScorer, not {type(scorer).__name__}")
        if checks.number("z", z, setting="adaptive_z") <= 0:
            raise checks.ArgumentError(f"the adaptive bound needs z > 0, not {z}", setting="adaptive_z")
        if checkpoints is None:  # shares of the comparisons, measured per compressor
            inner = scorer.targets if isinstance(scorer, ContrastScorer) else scorer
            checkpoints = inner.compressor.adaptive_checkpoints
        shares = list(checkpoints)
        if not shares or any(not 0 < f < 1 for f in shares) or shares != sorted(shares):
            raise checks.ArgumentError(
                "adaptive checkpoints are increasing shares of the targets, each in (0, 1)"
            )
        self.scorer, self.z, self.checkpoints, self.seed = scorer, z, tuple(checkpoints), seed
        rng = random.Random(seed)
        if isinstance(scorer, ContrastScorer):  # a record's own copies leave its background mean
            copies = {text: frozenset(js) for text, js in scorer.copies.items()}
            sets = [(scorer.targets, -1.0, {}), (scorer.background, scorer.weight, copies)]
            self.offset = 0.0
        else:
            sets = [(scorer, -1.0, {})]
            self.offset = 1.0
        self.parts = [
            Part(
                texts,
                coefficient,
                tuple(rng.sample(range(len(texts)), len(texts))),
                own,
            )
            for texts, coefficient, own in sets
        ]
        self._getters: list[Getter] | None = None

    @property
    def comparisons(self) -> int:
        return sum(len(part.texts) for part in self.parts)

    def describe(self) -> dict[str, Any]:
        return {"z": self.z, "checkpoints": list(self.checkpoints), "seed": self.seed}

    def score(self, text: bytes, threshold: float) -> float | tuple[str, str]:
        if self._getters is None:  # native compressor state: built in the process that scores
            self._getters = [part.texts.compressor.pair_getter(part.texts.texts) for part in self.parts]
        states = []
        for part, getter in zip(self.parts, self._getters, strict=True):
            c_x, pair = getter(text)
            skip = part.copies.get(text, frozenset())
            order = [j for j in part.order if j not in skip] or list(part.order)
            states.append(_Term(part, c_x, pair, order))
        for share in self.checkpoints:
            wanted = [max(2, math.ceil(share * len(state.order))) for state in states]
            if any(m >= len(state.order) for m, state in zip(wanted, states, strict=True)):
                break  # as costly as finishing: score the rest exactly
            for m, state in zip(wanted, states, strict=True):
                state.extend(m)
            estimate = self.offset + sum(state.coefficient * state.mean() for state in states)
            spread = math.sqrt(sum(state.coefficient**2 * state.variance_of_mean() for state in states))
            if estimate + self.z * spread < threshold:
                return PRUNED, f"{share:g} {sum(wanted)}"
        for state in states:
            state.extend(len(state.order))
        return self.offset + sum(state.coefficient * state.exact_mean() for state in states)


class _Term:
    """One part's NCDs for one record, computed in the part's order as far as asked."""

    def __init__(self, part: Part, c_x: int, pair: Callable[[int], int], order: list[int]) -> None:
        self.coefficient = part.coefficient
        self.sizes = part.texts.sizes
        self.c_x, self.pair, self.order = c_x, pair, order
        self.ncds: dict[int, float] = {}  # target position -> NCD

    def extend(self, m: int) -> None:
        c_x = self.c_x
        for j in self.order[len(self.ncds) : m]:
            c_t = self.sizes[j]
            lo, hi = (c_x, c_t) if c_x < c_t else (c_t, c_x)
            self.ncds[j] = (self.pair(j) - lo) / hi

    def mean(self) -> float:
        return sum(self.ncds.values()) / len(self.ncds)

    def variance_of_mean(self) -> float:
        m, n = len(self.ncds), len(self.order)
        mean = self.mean()
        sample = sum((d - mean) ** 2 for d in self.ncds.values()) / (m - 1)
        return sample / m * (1 - m / n)

    def exact_mean(self) -> float:
        # Summed in target order, as TargetSet.mean_ncd sums: the same float, bit for bit.
        total = 0.0
        for j in sorted(self.ncds):
            total += self.ncds[j]
        return total / len(self.ncds)


class Thresholds:
    """The pruning threshold of each block of records, from exact scores by position only.

    Feed every record of the run in input order (`add`: its exact score, or None for a
    record with none: invalid, set aside or pruned). Block j's threshold is the K-th best
    exact score among positions before (j − 1) × block.
    """

    def __init__(self, k: int, block: int = DEFAULT_BLOCK) -> None:
        self.k, self.block = k, block
        self.done = 0  # records added
        self._best: list[float] = []  # min-heap of the k best exact scores so far
        self._cuts: dict[int, float] = {}

    def add(self, score: float | None) -> None:
        if self.done % self.block == 0:  # blocks before this one are complete
            self._cuts[self.done // self.block + 1] = self._kth()
        self.done += 1
        if score is None:
            return
        if len(self._best) < self.k:
            heapq.heappush(self._best, score)
        elif score > self._best[0]:
            heapq.heapreplace(self._best, score)

    def _kth(self) -> float:
        return self._best[0] if len(self._best) >= self.k else -math.inf

    def ready(self, position: int) -> bool:
        """Whether the threshold of the block holding `position` is known yet."""
        return self.done >= (position // self.block - 1) * self.block

    def threshold(self, position: int) -> float:
        block = position // self.block
        if block < 2:
            return -math.inf
        cut = self._cuts.get(block)
        if cut is None:  # exactly at the edge: nothing of block j-1 has been added yet
            assert self.done == (block - 1) * self.block, "threshold asked before its blocks were done"
            return self._kth()
        return cut

"""Adaptive top K: the same selection with a fraction of the compressions.

Each record is compared with the texts of each of its scorer's mean-NCD terms
(`ncd_terms()`: the targets and, with --contrast, the background) in one
fixed, seeded order. At checkpoints (shares of the comparisons, per compressor:
`Compressor.adaptive_checkpoints`, never before MIN_SEEN of a part) an optimistic score is
formed from the partial means: each mean moved z standard errors in the record's favour
(finite-population correction √(1 − m/n); the spread never taken below the compressor's
`adaptive_sd_floor`, so two near-equal values cannot make it look certain), plus an
allowance for unseen texts at the far end of the NCD range: r targets at NCD 0 lower the
final target mean by up to r × mean/n, r being the most targets within NEAR of any one
target (a record that nearly copies a target is near its near-duplicates too: HumanEval-like
sets hold pairs at NCD 0.12); OUTLIERS background texts at NCD_CEILING raise the background
mean. A record whose optimistic score is still below the
threshold stops there and is not selected; a record that might enter the top K is compared
with every target, and its score is computed exactly as exhaustive scoring computes it.

With fewer than MIN_TARGETS targets no checkpoint is safe: the scorer runs exhaustively
(`exhaustive_reason`), and the run says so. `Audit` measures, on every run, how many stopped
records would have entered the top K, and puts them there.

The threshold depends on input positions only, never on timing: records are taken in
blocks of `block`; block j uses the K-th best exact score among the records of blocks
0..j−2 (−inf while fewer than K are known). The engine cuts batches at block edges and
sends a batch of block j only once blocks 0..j−2 have come back (thresholds.py). Over
regular files a threshold from a scored sample can raise it from the first record on
(presample.py), without changing what is selected.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..base import checks
from ..base.results import Pruned
from .pairwise import HasNcdTerms, NcdTerm, TargetSet, ncd

DEFAULT_Z = 4.0
DEFAULT_AUDIT = 256  # stopped records compared with every target after the run
MIN_TARGETS = 16  # fewer: no checkpoint leaves enough unseen targets to stop anything safely
MIN_SEEN = 2  # no check on fewer texts of a part; the spread floor stands in for what 2 cannot show
OUTLIERS = 1  # unseen background texts allowed at the far end of the NCD range
NEAR = 0.5  # targets this close to one target: a record that nearly copies it is near them all
NCD_FLOOR = 0.0  # the lowest NCD an unseen target can have (an exact copy comes close)
NCD_CEILING = 1.25  # the highest NCD an unseen background text is allowed (lz4 reached 1.18)

Getter = Callable[[bytes], tuple[int, Callable[[int], int]]]


@dataclass(frozen=True)
class Part:
    """One mean-NCD term of a score: coefficient × mean NCD to these texts, in this order."""

    texts: TargetSet
    coefficient: float
    order: tuple[int, ...]
    copies: dict[bytes, frozenset[int]]  # texts left out of their own copies' means
    ranked_sizes: tuple[int, ...]  # the texts' compressed sizes, smallest first (size floors)
    extremes: tuple[float, ...]  # the most favourable NCDs allowed for unseen texts (see _extremes)


def optimistic(offset: float, terms: Sequence[Term], z: float, floor: float) -> float:
    """The highest score a record can plausibly reach: offset + Σ coefficient × mean, each
    mean (of the m NCDs seen among n, given by their sum and sum of squares) moved in the
    record's favour by z standard errors and by an allowance for unseen texts at the far end
    of the range (`extremes`, most favourable first: one per text allowed there). A negative
    coefficient (targets) gains from low NCDs, a positive one (background) from high ones."""
    estimate, variance, allowance, least = offset, 0.0, 0.0, floor * floor
    for coefficient, total, squares, m, n, extremes in terms:
        mean = total / m
        spread = (squares - total * mean) / (m - 1)
        estimate += coefficient * mean
        variance += coefficient * coefficient * (spread if spread > least else least) / m * (1 - m / n)
        for extreme in extremes[: n - m]:
            gain = coefficient * (extreme - mean)
            if gain > 0:
                allowance += gain / n
    return estimate + z * math.sqrt(variance) + allowance


# One part's figures at a checkpoint: coefficient, sum and sum of squares of the m NCDs
# seen, m, n, and the most favourable NCDs unseen texts may have.
Term = tuple[float, float, float, int, int, Sequence[float]]


def _part(term: NcdTerm, rng: random.Random, near: int) -> Part:
    """A term's part: its texts in a seeded order, the copies it leaves out, and the most
    favourable NCDs allowed for unseen texts (`near` at the floor for targets, OUTLIERS at
    the ceiling for background texts)."""
    texts = term.texts
    copies = texts.positions() if term.leave_out_copies else {}
    extremes = (NCD_CEILING,) * OUTLIERS if term.weight > 0 else (NCD_FLOOR,) * near
    order = tuple(rng.sample(range(len(texts)), len(texts)))
    return Part(texts, term.weight, order, copies, tuple(sorted(texts.sizes)), extremes)


class AdaptiveScorer:
    """Wraps any scorer whose score is mean-NCD terms (`ncd_terms()`, pairwise.NcdTerms:
    a negative weight for targets, a positive one for a background); `score(text, threshold)`
    returns the exact score, or `Pruned` (checkpoint, cost) when the record cannot reach it.
    """

    def __init__(
        self,
        scorer: HasNcdTerms,
        z: float = DEFAULT_Z,
        checkpoints: Sequence[float] | None = None,
        seed: int = 0,
        audit: int = DEFAULT_AUDIT,
    ) -> None:
        if not isinstance(scorer, HasNcdTerms):
            raise TypeError(
                "scorer must be a TargetSet or a ContrastScorer (a scorer with mean-NCD terms, "
                f"`ncd_terms()`), not {type(scorer).__name__}"
            )
        if checks.number("z", z, setting="adaptive_z") <= 0:
            raise checks.ArgumentError(f"the adaptive bound needs z > 0, not {z}", setting="adaptive_z")
        described = scorer.ncd_terms()
        if not described.terms:
            raise checks.ArgumentError("an adaptive score needs at least one mean-NCD term")
        compressor = described.terms[0].texts.compressor  # the targets' (checkpoints, spread floor)
        if checkpoints is None:  # shares of the comparisons, measured per compressor
            checkpoints = compressor.adaptive_checkpoints
        shares = list(checkpoints)
        if not shares or any(not 0 < f < 1 for f in shares) or shares != sorted(shares):
            raise checks.ArgumentError(
                "adaptive checkpoints are increasing shares of the targets, each in (0, 1)"
            )
        checks.count("audit", audit, minimum=0)
        self.scorer, self.z, self.checkpoints, self.seed = scorer, z, tuple(checkpoints), seed
        self.audit = audit
        self.sd_floor = compressor.adaptive_sd_floor
        self.described = described
        self.exhaustive_reason: str | None = None
        fewest = min((len(term.texts) for term in described.terms if term.weight < 0), default=MIN_TARGETS)
        if fewest < MIN_TARGETS:  # the targets: terms that reward a record near their texts
            self.exhaustive_reason = (
                f"--adaptive scored every record in full: {fewest} targets are too few to stop "
                f"any safely (it needs {MIN_TARGETS})"
            )
        near = [
            near_targets(term.texts) if self.exhaustive_reason is None and term.weight < 0 else 1
            for term in described.terms
        ]
        self.outliers = max(near)
        rng = random.Random(seed)
        self.parts = [_part(term, rng, r) for term, r in zip(described.terms, near, strict=True)]
        self._getters: list[Getter] | None = None
        self._plans: dict[tuple[int, ...], list[tuple[tuple[int, ...], Pruned]]] = {}

    @property
    def comparisons(self) -> int:
        return sum(len(part.texts) for part in self.parts)

    def describe(self) -> dict[str, Any]:
        return {
            "z": self.z,
            "checkpoints": list(self.checkpoints),
            "seed": self.seed,
            "min_seen": MIN_SEEN,
            "sd_floor": self.sd_floor,
            "outliers": self.outliers,
            "exhaustive": self.exhaustive_reason is not None,
            "audit": self.audit,
        }

    def score(self, text: bytes, threshold: float) -> float | Pruned:
        if self._getters is None:  # native compressor state: built in the process that scores
            self._getters = [part.texts.compressor.pair_getter(part.texts.texts) for part in self.parts]
        states = []
        for part, getter in zip(self.parts, self._getters, strict=True):
            c_x, pair = getter(text)
            skip = part.copies.get(text) if part.copies else None
            order = part.order if not skip else [j for j in part.order if j not in skip] or part.order
            states.append(_Term(part, c_x, pair, order))
        if self.exhaustive_reason is None and threshold > -math.inf:
            stopped = self._check(states, threshold)
            if stopped is not None:
                return stopped
        for state in states:
            state.extend(len(state.order))
        return self.described.combine(state.exact_mean() for state in states)

    def _check(self, states: list[_Term], threshold: float) -> Pruned | None:
        """Compare the record as far as each checkpoint asks; `Pruned` where it cannot
        reach the threshold, None when it has to be scored in full."""
        offset, z, floor = self.described.offset, self.z, self.sd_floor
        extremes = [self._extremes(state) for state in states]
        for wanted, stop in self._plan(tuple(len(state.order) for state in states)):
            terms = []
            for m, state, far in zip(wanted, states, extremes, strict=True):
                state.extend(m)
                terms.append((state.coefficient, state.total, state.squares, m, len(state.order), far))
            if optimistic(offset, terms, z, floor) < threshold:
                return stop
        return None

    def _plan(self, lengths: tuple[int, ...]) -> list[tuple[tuple[int, ...], Pruned]]:
        """The checkpoints a record with parts of these lengths goes through: the texts to
        compare in each part by then, and the result of a record stopped there."""
        plan = self._plans.get(lengths)
        if plan is None:
            plan = []
            for share in self.checkpoints:
                wanted = tuple(max(MIN_SEEN, math.ceil(share * n)) for n in lengths)
                if any(m >= n for m, n in zip(wanted, lengths, strict=True)):
                    break  # as costly as finishing: score the rest exactly
                if plan and plan[-1][0] == wanted:
                    continue  # the minimum made this checkpoint the same as the last one
                done = sum(wanted)
                plan.append((wanted, Pruned(f"{done / sum(lengths):.3g}", done)))
            self._plans[lengths] = plan
        return plan

    def _extremes(self, state: _Term) -> Sequence[float]:
        """The most favourable NCDs unseen texts of this part may have, one per text allowed
        there: for targets, the size floors (`Compressor.adaptive_size_slack`) of the texts
        nearest the record in compressed size; for background texts, NCD_CEILING."""
        part = state.part
        if state.coefficient > 0:
            return part.extremes
        slack = part.texts.compressor.adaptive_size_slack
        if slack is None:
            return part.extremes
        r, c_x, ranked = len(part.extremes), state.c_x, part.ranked_sizes
        i = bisect.bisect_left(ranked, c_x)
        floors = [
            1 - (c + slack) / c_x if c < c_x else 1 - (c_x + slack) / c for c in ranked[max(0, i - r) : i + r]
        ]
        floors.sort()
        return [f if f > 0.0 else 0.0 for f in floors[:r]]


def near_targets(targets: TargetSet) -> int:
    """The most targets within NCD NEAR of any one target, itself included (n² comparisons,
    once a run: a fraction of a second for 100 targets with gzip-9)."""
    getter = targets.compressor.pair_getter(targets.texts)
    most = 1
    for text in targets.texts:
        c_x, pair = getter(text)
        near = sum(1 for j, c_t in enumerate(targets.sizes) if ncd(c_x, c_t, pair(j)) <= NEAR)
        most = max(most, near)
    return most


class _Term:
    """One part's NCDs for one record, computed in the part's order as far as asked, with
    their running sum and sum of squares."""

    __slots__ = ("c_x", "coefficient", "ncds", "order", "pair", "part", "sizes", "squares", "total")

    def __init__(self, part: Part, c_x: int, pair: Callable[[int], int], order: Sequence[int]) -> None:
        self.part, self.coefficient, self.sizes = part, part.coefficient, part.texts.sizes
        self.c_x, self.pair, self.order = c_x, pair, order
        self.ncds: dict[int, float] = {}  # target position -> NCD
        self.total = self.squares = 0.0

    def extend(self, m: int) -> None:
        c_x, sizes, pair, ncds = self.c_x, self.sizes, self.pair, self.ncds
        total, squares = self.total, self.squares
        for j in self.order[len(ncds) : m]:
            c_t = sizes[j]
            d = (pair(j) - c_x) / c_t if c_x < c_t else (pair(j) - c_t) / c_x
            ncds[j] = d
            total += d
            squares += d * d
        self.total, self.squares = total, squares

    def exact_mean(self) -> float:
        # Summed in target order, as TargetSet.mean_ncd sums: the same float, bit for bit.
        total = 0.0
        for j in sorted(self.ncds):
            total += self.ncds[j]
        return total / len(self.ncds)


_MASK = (1 << 64) - 1


def scatter(seed: int, index: int) -> int:
    """A seeded 64-bit hash of a record's position (SplitMix64's finalizer): positions with
    the smallest values form a seeded sample that needs no random state, nor any order."""
    z = (index * 0x9E3779B97F4A7C15 + seed * 0xD1B54A32D192ED03 + 0x632BE59BD9B4E019) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


class Audit:
    """A seeded sample of up to `size` stopped records, drawn as they stream by: the records
    with the smallest hashes of (seed, input index), so the sample depends on the input and
    the options only, and memory holds `size` lines at most.

    `finish` scores each with every target (the exhaustive score, bit for bit) and returns
    those that belong among the k best, counting them as misses of the bound.
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed = size, seed
        # A max-heap on the hash: (-hash, index, line, checkpoint the record stopped at).
        self._heap: list[tuple[int, int, bytes, str]] = []
        self.sampled = 0
        self.misses = 0

    def offer(self, index: int, line: bytes, checkpoint: str) -> None:
        if self.size == 0:
            return
        entry = (-scatter(self.seed, index), index, line, checkpoint)
        if len(self._heap) < self.size:
            heapq.heappush(self._heap, entry)
        elif entry > self._heap[0]:
            heapq.heapreplace(self._heap, entry)

    def discard(self, indexes: set[int]) -> None:
        """Leave these records out of the sample: they were scored after all."""
        self._heap = [entry for entry in self._heap if entry[1] not in indexes]
        heapq.heapify(self._heap)

    def indexes(self) -> set[int]:
        return {entry[1] for entry in self._heap}

    def finish(
        self,
        score: Callable[[bytes], float | None],
        best: Sequence[tuple[float, int]],
        k: int | None,
        floor: float = -math.inf,
    ) -> list[tuple[float, int, bytes, str]]:
        """(score, index, line, checkpoint) of the sampled records that enter the k best of
        `best` (the run's (score, -index) entries; every record without k) and reach
        `floor`; `score` gives a line's exact score."""
        scored = []
        for _, index, line, checkpoint in sorted(self._heap, key=lambda e: e[1]):
            value = score(line)
            if value is not None:
                scored.append((value, index, line, checkpoint))
        self._heap.clear()
        self.sampled = len(scored)
        entries = [*best, *((value, -index) for value, index, _, _ in scored)]
        top = set(heapq.nlargest(k, entries)) if k is not None else set(entries)
        entered = [record for record in scored if (record[0], -record[1]) in top and record[0] >= floor]
        self.misses = len(entered)
        return entered

"""`select --coverage F`: a share of the K records taken so that every target is covered.

The rule, exactly (README "Which score to use"):

- C = round(F × K), half up. The first C records of the selection are taken by coverage,
  the other K − C by score (the paper's or --contrast's, ranked as without --coverage).
- A record's distance to target j is NCD(x, t_j), with --contrast minus w × its mean NCD
  to the background (scoring/distances.py). Each target keeps a list of its q nearest
  records, q = list_length(C, n): nearest first, ties by input order.
- Coverage goes round the targets in target-file order; each takes the nearest record of
  its list not taken yet (a record that --dedupe drops is passed over, and the target takes
  its next one); a target whose list is used up drops out of the round. It stops when C
  are taken or every list is used up.
- The score part: the records in rank order, leaving out those the coverage part took
  (or dropped as duplicates), up to K in all.
- Output order: coverage picks in the order taken, then score picks in rank order.

The lists are bounded (memory about K + n × q records, never N) and the rule is defined
on them, so it is exact and deterministic however the input is split: a target's q
nearest over the whole input are among the union of each part's q nearest, and the K best
by score among the union of each part's K best (`Candidates.kept`).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Generic, TypeVar

from ..base.checks import ArgumentError
from ..scoring.distances import CoverageScore
from .ranking import TopK

T = TypeVar("T")
Record = tuple[float, int, bytes]

# Each target's list holds twice its even share of the C picks plus this many: room for
# the records its neighbours take first (BENCHMARKS.md §8 measures the difference from
# unbounded lists).
LIST_SLACK = 8


def check_coverage(value: object) -> Decimal:
    """--coverage F: a number from 0 (off) to 1 (every pick by coverage), as a decimal."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise TypeError(f"coverage must be a number, not {type(value).__name__}")
    share = value if isinstance(value, Decimal) else Decimal(repr(value))
    if not share.is_finite() or not 0 <= share <= 1:
        raise ArgumentError(f"--coverage takes a share from 0 to 1, not {value}", setting="coverage")
    return share


def check_share_of_k(share: Decimal, top_k: int | None, fraction: object) -> None:
    """--coverage F takes a share of K: K must come from -k or --fraction."""
    if share and top_k is None and fraction is None:
        raise ArgumentError(
            "--coverage takes a share of the K records: give -k or --fraction", setting="coverage"
        )


def coverage_count(share: Decimal | float, k: int) -> int:
    """C: how many of the K records coverage takes, round(F × K) with halves up, exactly."""
    product = check_coverage(share) * k
    return int(product.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def list_length(count: int, n_targets: int) -> int:
    """q: how many nearest records each target keeps for C coverage picks (0 when C is 0)."""
    if count <= 0:
        return 0
    share = math.ceil(count / n_targets)
    return 2 * share + LIST_SLACK


class Nearest(Generic[T]):
    """Each target's q nearest (distance, index, item), in O(n × q) memory."""

    def __init__(self, n_targets: int, q: int) -> None:
        self.q = q
        # Max-heaps on (distance, index), negated: the root is the entry to drop first.
        self._heaps: list[list[tuple[float, int, T]]] = [[] for _ in range(n_targets)]

    def push(self, distances: Sequence[float], index: int, item: T) -> None:
        q = self.q
        if q == 0:
            return
        if len(distances) != len(self._heaps):
            raise ValueError(f"{len(distances)} distances for {len(self._heaps)} targets")
        for heap, distance in zip(self._heaps, distances, strict=True):
            entry = (-distance, -index, item)
            if len(heap) < q:
                heapq.heappush(heap, entry)
            elif (entry[0], entry[1]) > (heap[0][0], heap[0][1]):
                heapq.heapreplace(heap, entry)

    def sizes(self) -> list[int]:
        return [len(heap) for heap in self._heaps]

    def lists(self) -> list[list[tuple[float, int, T]]]:
        """Each target's list, nearest first (ties: earlier input first)."""
        return [[(-d, -i, item) for d, i, item in sorted(heap, reverse=True)] for heap in self._heaps]

    def entries(self) -> Iterator[tuple[int, T]]:
        """(index, item) of every entry of every list (a record in several lists, once each)."""
        for heap in self._heaps:
            for _, neg, item in heap:
                yield -neg, item


def go_round(
    lists: Sequence[Sequence[tuple[float, int, T]]],
    count: int,
    accept: Callable[[int, T], bool] | None = None,
) -> tuple[list[tuple[int, T]], set[int]]:
    """The coverage picks, (index, item) in the order taken, and every index passed (taken,
    or refused by `accept`: a duplicate). Round robin over the lists as the module says."""
    picks: list[tuple[int, T]] = []
    passed: set[int] = set()
    cursors = [0] * len(lists)
    active = list(range(len(lists)))
    while active and len(picks) < count:
        still: list[int] = []
        for turn, j in enumerate(active):
            if len(picks) >= count:
                still += active[turn:]
                break
            chosen = _next_of(lists[j], cursors, j, passed, accept)
            if chosen is not None:
                picks.append(chosen)
                still.append(j)
        active = still
    return picks, passed


def _next_of(
    entries: Sequence[tuple[float, int, T]],
    cursors: list[int],
    j: int,
    passed: set[int],
    accept: Callable[[int, T], bool] | None,
) -> tuple[int, T] | None:
    """Target j's nearest entry not passed yet, taken; None when its list is used up."""
    c = cursors[j]
    while c < len(entries):
        _, index, item = entries[c]
        c += 1
        if index in passed:
            continue
        passed.add(index)
        if accept is None or accept(index, item):
            cursors[j] = c
            return index, item
    cursors[j] = c
    return None


class Candidates(Generic[T]):
    """The records a coverage selection of K may take: the K best by score and each
    target's q nearest. `push` them all; `ranked` is what a part of the input hands on (a
    Dask partition), `select` the selection itself."""

    def __init__(self, k: int, share: Decimal | float, n_targets: int, q: int | None = None) -> None:
        self.k = k
        self.count = coverage_count(share, k)
        self.best: TopK[T] = TopK(k)
        q = list_length(self.count, n_targets) if q is None else q  # given: tests, benchmarks
        self.near: Nearest[tuple[float, T]] = Nearest(n_targets, q)

    def push(self, score: float, index: int, item: T) -> None:
        if not isinstance(score, CoverageScore):
            raise TypeError("a coverage selection needs scores with distances (scoring.distances)")
        self.best.push(score, index, item)
        self.near.push(score.distances, index, (score, item))

    def ranked(self) -> list[tuple[float, int, T]]:
        """Every record kept, once each, in rank order (scores keep their distances)."""
        found = {index: (score, index, item) for score, index, item in self.best.ranked()}
        for index, (score, item) in self.near.entries():
            found.setdefault(index, (score, index, item))
        return sorted(found.values(), key=lambda r: (-r[0], r[1]))

    def select(self, picked: set[int] | None = None) -> Iterator[tuple[float, int, T]]:
        """The selection: coverage picks in the order taken, then by score; `picked` gets
        the coverage picks' indexes."""
        picks, passed = go_round(self.near.lists(), self.count)
        if picked is not None:
            picked.update(index for index, _ in picks)
        for index, (score, item) in picks:
            yield float(score), index, item
        rest = (r for r in self.best.ranked() if r[1] not in passed)
        for score, index, item in _first(self.k - len(picks), rest):
            yield float(score), index, item


def _first(n: int, records: Iterable[T]) -> Iterator[T]:
    for _, record in zip(range(max(n, 0)), records, strict=False):
        yield record


def select_top(
    records: Iterable[Record],
    k: int,
    share: Decimal | float,
    n_targets: int,
    picked: set[int] | None = None,
    q: int | None = None,
) -> Generator[Record, None, None]:
    """A coverage selection of k from a stream of (CoverageScore, index, line)."""
    found: Candidates[bytes] = Candidates(k, share, n_targets, q)
    for score, index, line in records:
        found.push(score, index, line)
    yield from found.select(picked)

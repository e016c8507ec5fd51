"""The threshold --adaptive prunes against, block by block, from exact scores by position
only (never from timing), so the output does not depend on which worker finished first;
and --min-score, a floor known before the first record.
"""

from __future__ import annotations

import heapq
import math

DEFAULT_BLOCK = 1024  # records


class Thresholds:
    """The pruning threshold of each block of records, from exact scores by position only.

    Feed every record of the run in input order (`add`: its exact score, or None for a
    record with none: invalid, set aside or pruned). Block j's threshold is the K-th best
    exact score among positions before (j − 1) × block, or `floor` (--min-score, known
    before the first record) where that is higher; without k, `floor` for every block.
    """

    def __init__(self, k: int | None, block: int = DEFAULT_BLOCK, floor: float | None = None) -> None:
        self.k, self.block = k, block
        self.floor = -math.inf if floor is None else floor
        self.done = 0  # records added
        self._best: list[tuple[float, int]] = []  # min-heap of the k best (score, -index) so far
        self._cuts: dict[int, float] = {}

    def add(self, score: float | None, index: int = 0) -> None:
        if self.done % self.block == 0:  # blocks before this one are complete
            self._cuts[self.done // self.block + 1] = self.kth()
        self.done += 1
        if score is not None:
            self.offer(score, index)

    def offer(self, score: float, index: int) -> None:
        """An exact score that counts for the k best, whatever its position."""
        entry = (score, -index)  # ranking.TopK's order: equal scores keep the earlier record
        if self.k is None:
            return
        if len(self._best) < self.k:
            heapq.heappush(self._best, entry)
        elif entry > self._best[0]:
            heapq.heapreplace(self._best, entry)

    def best(self) -> list[tuple[float, int]]:
        """The k best (score, -index) added so far."""
        return list(self._best)

    def kth(self) -> float:
        """The k-th best exact score added so far (−inf while fewer than k, or without k)."""
        return self._best[0][0] if self.k is not None and len(self._best) >= self.k else -math.inf

    def bar(self) -> float:
        """The score a record must reach to be selected, as far as known now."""
        return max(self.kth(), self.floor)

    def ready(self, position: int) -> bool:
        """Whether the threshold of the block holding `position` is known yet."""
        return self.k is None or self.done >= (position // self.block - 1) * self.block

    def threshold(self, position: int) -> float:
        block = position // self.block
        if block < 2 or self.k is None:
            return self.floor
        cut = self._cuts.get(block)
        if cut is None:  # exactly at the edge: nothing of block j-1 has been added yet
            assert self.done == (block - 1) * self.block, "threshold asked before its blocks were done"
            cut = self.kth()
        return max(cut, self.floor)

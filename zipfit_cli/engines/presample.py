"""A starting threshold for --adaptive, from a seeded sample of the input.

Without one, block j of an adaptive run prunes against the K-th best exact score of the
blocks before j − 1: nothing at all in the first two blocks, and a low bar over the first
tenth of the input, where the K-th best of a few thousand records sits far below the K-th
best of all of them. When every source is a regular file it can be read twice: a first
reading counts the records and draws a seeded sample (at most SAMPLE records, and at most
one in SHARE); the sample is scored in full, and the score that about Q × K records of the
input reach (the sample's ⌈Q·S·K/N⌉-th best) becomes a floor under every block's threshold.
The sampled records keep their exact scores: the run does not compare them again.

A sample can mislead. When the run ends with its K-th best exact score below the sampled
threshold, the records stopped against that threshold are read again and scored against the
K-th best the run found, so the selection is what it would have been without the sample,
always; the summary says how many were read again.
"""

from __future__ import annotations

import heapq
import math
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..base.errors import InputError, shown
from ..base.results import Pruned
from ..base.stats import RunStats
from ..files.batches import Batch, Slicing, read_batches
from ..files.locations import STDIN, is_url
from ..files.records import RecordError
from ..scoring.adaptive import scatter
from ..scoring.thresholds import DEFAULT_BLOCK
from .runner import ScoreJob, map_batches

if TYPE_CHECKING:
    from ..files.records import TextSpec
    from ..scoring.adaptive import AdaptiveScorer

SAMPLE = 500  # records scored in full before the run, at most
SHARE = 20  # ... and at most one record in SHARE
Q = 3.0  # the threshold is a score about Q × K records reach: well below the K-th best
MIN_RANK = 8  # never the sample's very best: one lucky record says little


def rereadable(sources: Sequence[str]) -> bool:
    """Whether every source is a regular local file (not stdin, a pipe or a URL): only
    those give the same records when read a second time."""
    for path in sources:
        if path == STDIN or is_url(path):
            return False
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                return False
        except OSError:
            return False  # the run's own reading reports it
    return True


def _fingerprint(sources: Sequence[str]) -> list[tuple[int, int]]:
    found = []
    for path in sources:
        info = os.stat(path)
        found.append((info.st_size, info.st_mtime_ns))
    return found


@dataclass
class WarmStart:
    """The sampled threshold of one run, and what the run stopped against it."""

    threshold: float
    known: dict[int, tuple[bytes, float]]  # position -> (line, exact score) of the sampled records
    sampled: int  # sampled records with a score
    fingerprint: list[tuple[int, int]]
    used: dict[int, float] = field(default_factory=dict)  # block -> threshold, where the sample's was higher
    stopped: bytearray = field(default_factory=bytearray)  # bit per position: stopped in such a block

    def payload(self, batch: Batch, lagging: float) -> tuple[float, dict[int, float]]:
        """The threshold a batch is scored against, and the exact scores it already has (by
        position in the batch; a line that differs from the sampled one is scored anew)."""
        threshold = lagging
        if self.threshold > lagging:
            threshold = self.threshold
            self.used[batch.first // DEFAULT_BLOCK] = threshold
        known = {}
        for offset, line in enumerate(batch.lines):
            hit = self.known.get(batch.first + offset)
            if hit is not None and hit[0] == line:
                known[offset] = hit[1]
        return threshold, known

    def note(self, position: int) -> None:
        """A record stopped at `position`: remembered when the sample's threshold stopped it."""
        if position // DEFAULT_BLOCK not in self.used:
            return
        byte = position >> 3
        if byte >= len(self.stopped):
            self.stopped.extend(bytes(byte + 1 - len(self.stopped) + (len(self.stopped) >> 1)))
        self.stopped[byte] |= 1 << (position & 7)

    def stopped_at(self, position: int) -> bool:
        byte = position >> 3
        return byte < len(self.stopped) and bool(self.stopped[byte] >> (position & 7) & 1)


def warm_start(
    sources: Sequence[str], slicing: Slicing, job: ScoreJob, workers: int, k: int, seed: int
) -> WarmStart | None:
    """Draw and score the sample; None when the input is too small or K too large for it."""
    fingerprint = _fingerprint(sources)
    heap: list[tuple[int, int, bytes]] = []  # (-hash, position, line): the smallest hashes
    salted = seed ^ 0x5A3D  # not the audit's sample (adaptive.Audit): a different draw
    count = 0
    for batch in read_batches(sources, slicing, RunStats()):
        for offset, (index, line) in enumerate(zip(batch.indexes, batch.lines, strict=True)):
            entry = (-scatter(salted, index), batch.first + offset, line)
            if len(heap) < SAMPLE:
                heapq.heappush(heap, entry)
            elif entry > heap[0]:
                heapq.heapreplace(heap, entry)
        count = batch.first + len(batch.lines)
    chosen = sorted(sorted(heap, reverse=True)[: count // SHARE], key=lambda e: e[1])
    if not chosen:
        return None
    scores = _score(chosen, job, workers)
    known = {position: (line, score) for (_, position, line), score in zip(chosen, scores, strict=True)
             if isinstance(score, float)}  # fmt: skip
    valid = sorted((score for _, score in known.values()), reverse=True)
    if not valid:
        return None
    rank = max(MIN_RANK, math.ceil(Q * len(chosen) * k / count))
    if rank > len(valid) // 2:  # K is a large share of the input: a sample adds little
        return None
    return WarmStart(valid[rank - 1], known, len(valid), fingerprint)


def _score(chosen: list[tuple[int, int, bytes]], job: ScoreJob, workers: int) -> list[float | None]:
    """Exact scores of the sampled lines (None for a record the run will skip or stop at)."""
    lines = [line for _, _, line in chosen]
    size = max(1, math.ceil(len(lines) / (4 * workers)))
    chunks = ((None, lines[i : i + size]) for i in range(0, len(lines), size))
    scores: list[float | None] = []
    for _, results in map_batches(ScoreJob(job.scorer, job.spec, job.decontaminate), chunks, workers):
        scores.extend(r if isinstance(r, float) else None for r in results)
    return scores


def rescore(
    warm: WarmStart,
    sources: Sequence[str],
    slicing: Slicing,
    spec: TextSpec,
    adaptive: AdaptiveScorer,
    kth: float,
    stats: RunStats,
) -> Iterator[tuple[float, int, bytes]]:
    """Read the input again and score, against `kth` (the run's K-th best exact score), every
    record the sample's threshold stopped; yields (score, index, line) of those that now
    have a score, and moves the counts from stopped to scored."""
    if _fingerprint(sources) != warm.fingerprint:
        raise InputError(
            "a source changed during the run, and --adaptive had to read it again: run again "
            "on files that stay as they are (" + ", ".join(shown(path) for path in sources) + ")"
        )
    for batch in read_batches(sources, slicing, RunStats()):
        for offset, (index, line) in enumerate(zip(batch.indexes, batch.lines, strict=True)):
            position = batch.first + offset
            if not warm.stopped_at(position):
                continue
            try:
                text = spec.parse(line)[1]
            except RecordError:  # it was scored once: cannot happen, never a reason to fail
                continue
            before = adaptive.score(text, warm.used[position // DEFAULT_BLOCK])
            assert isinstance(before, Pruned), "a record stopped once stops again"
            stats.add_pruned(before, -1)
            stats.rescored += 1
            now = adaptive.score(text, kth)
            if isinstance(now, Pruned):
                stats.add_pruned(now)
                continue
            stats.add_score(now)
            yield now, index, line

"""Counters and the score distribution of a run, in memory that does not grow with input."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError
from .results import Pruned

# A histogram of fine bins gives the median and the distribution without keeping every
# score. Bins are kept sparsely by number (floor(score / width)), so any score range
# works: the paper's alignment (about 0..0.4), contrast (either sign), corpus scores.
BIN_WIDTH = 0.0005
# Bins beyond this hold every score past it: a finite score near the float limit (a huge
# contrast weight, say) would overflow `score / BIN_WIDTH`, and a bin's middle a float.
LAST_BIN = 2**60


# A run that scores at most this many records keeps the scores (8 bytes each) for an exact
# median; parts and Dask partitions carry theirs, so a merge's median is the single run's.
# Past it the median is the histogram's, to half a bin, and says so (`median_exact`).
EXACT_SCORES = 1 << 16
# Partitions of a directory output or a select on Dask send their scores to the client only
# while the input handed out before them (bytes on disk) is under this: 65,536 records of
# 4 KiB. Decided as each is submitted, it bounds what the client receives for the median
# whatever the number of partitions in flight; a run of more input has the histogram's.
EXACT_SCORES_BYTES = EXACT_SCORES * 4096


def bin_of(score: float) -> int:
    """The fine bin a score falls in, clamped to ±LAST_BIN."""
    scaled = score / BIN_WIDTH
    if math.isinf(scaled):
        return LAST_BIN if scaled > 0 else -LAST_BIN
    return max(-LAST_BIN, min(LAST_BIN, math.floor(scaled)))


# How each counter of RunStats adds up over shards and partitions (`+=`); a new counter
# goes in one of these (tests/test_stats.py fails on a field in none), and in PART_COUNTS
# when shard parts carry it, so that `merge` adds it up too.
SUMMED = ("records_read", "blank_lines", "scored", "selected", "pairs", "bytes_read", "elapsed",
          "contaminated", "pruned_pairs", "pairs_exhaustive", "audited", "audit_misses", "presampled",
          "rescored", "below_min_score")  # fmt: skip
TALLIED = ("skipped", "histogram", "duplicates", "pruned", "selected_by")  # Counters, added key by key
OWN = ("score_min", "score_max", "scores", "threshold", "warnings", "budget_used", "budget_unit",
       "budget_fill", "shards_elapsed", "start_threshold", "min_score")  # fmt: skip
# Counts a part carries besides scored, pairs, bytes_read, elapsed, the score range and the
# histogram: 0 when a part written before them lacks one.
PART_COUNTS = ("pruned_pairs", "pairs_exhaustive", "audited", "audit_misses", "presampled", "rescored",
               "below_min_score")  # fmt: skip


@dataclass
class RunStats:
    records_read: int = 0  # non-blank lines seen (in this shard, with --shard)
    blank_lines: int = 0
    scored: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    selected: int = 0
    pairs: int = 0
    bytes_read: int = 0
    score_min: float = math.inf
    score_max: float = -math.inf
    histogram: Counter[int] = field(default_factory=Counter)  # bin number -> scores in it
    scores: list[float] | None = field(default_factory=list)  # all of them, or None past EXACT_SCORES
    threshold: float | None = None  # lowest selected score
    elapsed: float = 0.0  # seconds
    contaminated: int = 0  # near-copies of a target, dropped by --decontaminate
    duplicates: Counter[str] = field(default_factory=Counter)  # dropped by --dedupe: exact, near
    selected_by: Counter[str] = field(default_factory=Counter)  # --coverage: records by rule taking them
    budget_used: int | None = None  # tokens or characters selected under a budget
    budget_unit: str | None = None  # "tokens" or "characters"
    budget_fill: str | None = None  # --budget-fill, when a budget applied: "rank" or "shortest"
    warnings: list[str] = field(default_factory=list)  # shown unless --quiet, kept in the report
    shards_elapsed: float | None = None  # a merge: the shards' seconds, added up (elapsed is its own)
    pruned: Counter[str] = field(default_factory=Counter)  # --adaptive: records stopped, by checkpoint
    pruned_pairs: int = 0  # --adaptive: comparisons made for the records stopped early
    pairs_exhaustive: int = 0  # comparisons that scoring every record fully would have made
    audited: int = 0  # --adaptive: stopped records sampled and compared with every target after the run
    audit_misses: int = 0  # --adaptive: of those, the ones that belonged in the top K (put there)
    presampled: int = 0  # --adaptive: records scored in full before the run, for its starting threshold
    start_threshold: float | None = None  # --adaptive: that threshold (one run's, never added up)
    rescored: int = 0  # --adaptive: records stopped by it that were read and scored again
    min_score: float | None = None  # --min-score: records scoring below it are not written
    below_min_score: int = 0  # records scored in full below --min-score (stopped ones count as pruned)

    @property
    def work_time(self) -> float:
        """Seconds the scoring took: a merge's shards, added up, else this run's."""
        return self.shards_elapsed if self.shards_elapsed is not None else self.elapsed

    def check_any_scored(self) -> None:
        """A run that skipped every record is almost always a wrong text key or the wrong
        file: it fails instead of writing an empty output."""
        if self.scored == 0 and self.skipped and not self.pruned:
            reasons = ", ".join(f"{r} {n:,}" for r, n in sorted(self.skipped.items()))
            raise InputError(
                f"no record could be scored: all {sum(self.skipped.values()):,} were skipped ({reasons}); "
                "check the text key and the input files",
                setting="text_key",
            )

    def check_selection(self) -> None:
        """An empty selection is a warning: the run succeeds, but a cron job should notice."""
        if self.selected == 0:
            self.warnings.append("nothing was selected: the output holds no records")

    def check_attribute_lines(self, output_format: str = "attributes") -> None:
        """Attribute files have no line for a blank line of a source: after one, their line
        numbers are not the documents'. A warning, so that --strict fails the run."""
        if output_format == "attributes" and self.blank_lines:
            self.warnings.append(
                f"the sources hold {self.blank_lines:,} blank line(s), which get no attribute line: "
                "after the first, attribute lines and document lines no longer share line numbers "
                "(remove blank lines from documents a mixer reads)"
            )

    def add_pruned(self, pruned: Pruned, sign: int = 1) -> None:
        """Count a record --adaptive stopped (sign −1: take one back, scored after all)."""
        self.pruned[pruned.checkpoint] += sign
        self.pruned_pairs += sign * pruned.cost

    def count_pairs(self, comparisons: int) -> None:
        """The comparisons made and those exhaustive scoring would have made, from the
        counts: each record scored made `comparisons`, each stopped one what it says."""
        self.pairs = self.scored * comparisons + self.pruned_pairs
        self.pairs_exhaustive = (self.scored + sum(self.pruned.values())) * comparisons

    def add_score(self, score: float) -> None:
        score = float(score)  # a subclass (a score with its distances, --coverage) is kept as the float
        self.scored += 1
        if score < self.score_min:
            self.score_min = score
        if score > self.score_max:
            self.score_max = score
        self.histogram[bin_of(score)] += 1
        if self.scores is not None:
            if len(self.scores) < EXACT_SCORES:
                self.scores.append(score)
            else:
                self.scores = None

    def __iadd__(self, other: RunStats) -> RunStats:
        """Add another run's counters, e.g. one partition's (datatrove's stats do the same)."""
        for name in SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in TALLIED:
            getattr(self, name).update(getattr(other, name))
        self.score_min = min(self.score_min, other.score_min)
        self.score_max = max(self.score_max, other.score_max)
        self.scores = _joined(self.scores, other.scores)
        if other.threshold is not None:
            self.threshold = (
                other.threshold if self.threshold is None else min(self.threshold, other.threshold)
            )
        self.warnings += [w for w in other.warnings if w not in self.warnings]
        return self

    def to_part(self) -> dict[str, Any]:
        """Everything a merge needs to add shards' statistics up exactly (sparse histogram)."""
        return {
            "scored": self.scored,
            "pairs": self.pairs,
            "bytes_read": self.bytes_read,
            "elapsed": self.elapsed,
            "score_min": self.score_min if self.scored else None,
            "score_max": self.score_max if self.scored else None,
            "histogram": {str(b): c for b, c in sorted(self.histogram.items())},
            **({"scores": self.scores} if self.median_exact else {}),
            "pruned": dict(self.pruned),
            **{name: getattr(self, name) for name in PART_COUNTS},
        }

    @classmethod
    def from_part(cls, part: dict[str, Any]) -> RunStats:
        stats = cls(scored=part["scored"], pairs=part["pairs"], bytes_read=part["bytes_read"])
        stats.elapsed = part["elapsed"]
        if part["score_min"] is not None:
            stats.score_min, stats.score_max = part["score_min"], part["score_max"]
        stats.histogram.update({int(b): c for b, c in part["histogram"].items()})
        # A part without its scores (too many, or from before they were kept): approximate.
        stats.scores = list(part["scores"]) if "scores" in part else None if stats.scored else []
        stats.pruned.update(part.get("pruned", {}))
        for name in PART_COUNTS:
            setattr(stats, name, part.get(name, 0))
        if "pairs_exhaustive" not in part:  # a part from before --adaptive: every pair was made
            stats.pairs_exhaustive = stats.pairs
        return stats

    def asks_scores(self, bytes_before: int) -> bool:
        """Whether a partition after `bytes_before` bytes of input is asked for its scores:
        only while the run may still have an exact median (EXACT_SCORES_BYTES)."""
        return self.scores is not None and bytes_before < EXACT_SCORES_BYTES

    @property
    def median_exact(self) -> bool:
        """Whether every score was kept, so `median()` is exact."""
        return self.scores is not None and len(self.scores) == self.scored

    def median(self) -> float | None:
        """The median score (the mean of the two middle ones for an even count): exact when
        `median_exact`, else from the histogram, to half a bin."""
        if self.scores is not None and self.median_exact and self.scores:
            return statistics.median(self.scores)
        return self.quantile(0.5)

    def quantile(self, q: float) -> float | None:
        """Approximate quantile (to half a bin, 0.00025), clamped to the exact min and max."""
        if not self.scored:
            return None
        rank = q * (self.scored - 1)
        seen = 0
        for b, count in sorted(self.histogram.items()):
            seen += count
            if seen > rank:
                mid = (b + 0.5) * BIN_WIDTH
                return min(max(mid, self.score_min), self.score_max)
        return self.score_max

    def coarse_histogram(self, bins: int = 10) -> list[tuple[float, float, int]]:
        """(low, high, count) over [min, max] in `bins` equal bins, from the fine histogram."""
        if not self.scored:
            return []
        # Scores of both signs near the float limit overflow hi - lo: work at half scale then.
        scale = 1.0 if math.isfinite(self.score_max - self.score_min) else 0.5
        lo, hi = self.score_min * scale, self.score_max * scale
        width = (hi - lo) / bins or 1.0
        counts = [0] * bins
        for b, count in self.histogram.items():
            mid = min(max((b + 0.5) * BIN_WIDTH, self.score_min), self.score_max) * scale
            counts[min(int((mid - lo) / width), bins - 1)] += count
        edges = [min((lo + i * width) / scale, self.score_max) for i in range(bins + 1)]
        return [(edges[i], edges[i + 1], c) for i, c in enumerate(counts)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "records_read": self.records_read,
            "blank_lines": self.blank_lines,
            "scored": self.scored,
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_total": sum(self.skipped.values()),
            "selected": self.selected,
            "pairs": self.pairs,
            "pruned": dict(sorted(self.pruned.items())),
            "pruned_total": sum(self.pruned.values()),
            "pairs_exhaustive": self.pairs_exhaustive,
            "audited": self.audited,
            "audit_misses": self.audit_misses,
            "presampled": self.presampled,
            "start_threshold": self.start_threshold,
            "rescored": self.rescored,
            "min_score": self.min_score,
            "below_min_score": self.below_min_score,
            "bytes_read": self.bytes_read,
            "score_min": self.score_min if self.scored else None,
            "score_median": self.median(),
            "score_median_exact": self.median_exact if self.scored else None,
            "score_max": self.score_max if self.scored else None,
            "threshold": self.threshold,
            "contaminated": self.contaminated,
            "duplicates": dict(sorted(self.duplicates.items())),
            "selected_by": dict(sorted(self.selected_by.items())),
            "budget_used": self.budget_used,
            "budget_unit": self.budget_unit,
            "budget_fill": self.budget_fill,
            "elapsed_s": round(self.elapsed, 3),
            "shards_elapsed_s": None if self.shards_elapsed is None else round(self.shards_elapsed, 3),
            "records_per_s": round(self.records_read / self.work_time, 1) if self.work_time else None,
            "pairs_per_s": round(self.pairs / self.work_time, 1) if self.work_time else None,
        }


def _joined(scores: list[float] | None, more: list[float] | None) -> list[float] | None:
    """Two runs' kept scores as one run's: None once either lacks them or they are too many."""
    if scores is None or more is None or len(scores) + len(more) > EXACT_SCORES:
        return None
    return scores + more

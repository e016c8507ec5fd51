"""`zipfit merge` of parts written by `select --coverage --shard` (selection/coverage.py).

A shard with -k K writes the records a coverage selection of K may take from its slice (its
K best and each target's q nearest), each with its distances to the targets; without -k,
every record. The union over the shards holds every record the whole input's selection
takes, so the merge selects exactly as one run would.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from decimal import Decimal
from typing import Any, Protocol

from ..base.errors import InputError, UsageError, shown
from ..base.stats import RunStats
from ..files.records import TextSpec
from ..files.shards import untag_distances
from ..scoring.distances import CoverageScore
from ..selection.coverage import select_top
from ..selection.coverage_spool import select_spooled
from ..selection.rules import Filters

Record = tuple[float, int, bytes]


class _Part(Protocol):
    path: str
    info: dict[str, Any]

    @property
    def complete(self) -> bool: ...


def with_distances(score: float, line: bytes, n_targets: int) -> tuple[CoverageScore, bytes]:
    """A --coverage part's record: its score with its distances, and the line without them
    (ValueError when they are missing or not one a target)."""
    distances, clean = untag_distances(line)
    if distances is None or len(distances) != n_targets:
        raise ValueError("no distances")
    return CoverageScore(score, distances), clean


def check_covering_parts(
    parts: Sequence[_Part], keep: int | None, filters: Filters | None, raised: bool = False
) -> Decimal:
    """The parts' --coverage share, once they are known to hold what a selection of `keep`
    needs: a part cut to its shard's K holds each target's nearest for that K only, over
    all its records, so none with --dedupe, a budget or a --min-score `raised` above its own
    (a target's nearest at or above it may be in no list)."""
    if keep is None:
        raise UsageError("--coverage parts take a share of the K records: give the merge -k or --fraction")
    for part in parts:
        made = part.info.get("top_k")
        if not part.complete and (filters or raised or made is None or made < keep):
            why = " with --dedupe or a budget" if filters else " with its own --min-score" if raised else ""
            raise InputError(
                f"{shown(part.path)} holds what a --coverage selection of {made} needs; the merge selects "
                f"{keep}{why}: write parts with {'no -k' if filters or raised else 'a larger -k or none'}"
            )
    return Decimal(parts[0].info["coverage"])


def merge_covering(
    parts: Sequence[_Part],
    merged: Iterator[Record],
    keep: int | None,
    filters: Filters | None,
    stats: RunStats,
    spool_dir: str | None,
    floor: float | None = None,
) -> Generator[Record, None, None]:
    """The selection from the parts' records (in rank order, with distances), in output
    order; counted by rule in `stats.selected_by`. `floor`: the merge's --min-score (at
    least the parts' own)."""
    raised = floor != parts[0].info.get("min_score")
    share = check_covering_parts(parts, keep, filters, raised)
    assert keep is not None
    info, picked = parts[0].info, set[int]()
    n_targets, spec = info["n_targets"], TextSpec.build(info["text_key"])
    if filters:
        chosen = select_spooled(
            merged,
            top_k=keep,
            fraction=None,
            share=share,
            n_targets=n_targets,
            spec=spec,
            filters=filters,
            stats=stats,
            spool_dir=spool_dir,
            picked=picked,
        )
    else:
        chosen = select_top(merged, keep, share, n_targets, picked)
    lowest = None
    for score, index, line in chosen:
        stats.selected_by["coverage" if index in picked else "score"] += 1
        lowest = score if lowest is None else min(lowest, score)
        yield score, index, line
    stats.threshold = lowest  # once the last is written: coverage picks come first, not best

"""What a Dask worker does for `select --fraction` / `--min-score` without sending records to
the client (dask_select.py plans it): score a partition and hold its scores, count them in
buckets for the client's exact selection of the K-th score, then re-read the partition and
write its selected records as one sorted run.

A partition's kept scores stay on the worker, in the result of `hold_scores` (a Dask future
the client keeps): 24 bytes a record scored at or above --min-score. Scores are compared by
their order-preserving 64-bit key (`score_key`), in which -0.0 and 0.0 are one score, as
they are to Python's comparisons and so to the ranking.
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from ..base.errors import OutputError, shown
from ..base.stats import RunStats
from ..files.locations import url_to_fs
from ..files.reading import DEFAULT_MAX_LINE_BYTES
from ..files.sources import open_range
from ..selection.rules import below
from .dask_worker import Partition, PartResult, Row, score_partition
from .runner import ScoreJob

LIMIT = DEFAULT_MAX_LINE_BYTES
DIGIT_BITS = 8  # bits of the key a counting pass decides: 8 passes of 256 buckets
RUN_HEADER = struct.Struct("<dqI")  # a run's record: score, global index, line length; the line
_SIGN = 1 << 63
_BITS = struct.Struct("<Q")
_FLOAT = struct.Struct("<d")


def score_key(score: float) -> int:
    """An unsigned 64-bit key that orders as the scores do (finite floats; -0.0 as 0.0)."""
    bits: int = _BITS.unpack(_FLOAT.pack(score + 0.0))[0]
    return (bits ^ 0xFFFF_FFFF_FFFF_FFFF) if bits & _SIGN else bits | _SIGN


def key_score(key: int) -> float:
    """The score of a key (score_key's inverse)."""
    bits = key & ~_SIGN if key & _SIGN else key ^ 0xFFFF_FFFF_FFFF_FFFF
    score: float = _FLOAT.unpack(_BITS.pack(bits))[0]
    return score


@dataclass
class Held:
    """A partition's summary for the client, and its kept scores, on the worker."""

    summary: PartResult  # counters and errors; rows: only the records that were not scored
    scores: array  # type: ignore[type-arg]  # in rank order: higher score first, then input order
    indexes: array  # type: ignore[type-arg]  # the partition's own index of each, same order
    keys: array  # type: ignore[type-arg]  # score_key of each, ascending (for counting)


def hold_scores(
    job: ScoreJob,
    part: Partition,
    *,
    batch_size: int,
    skip_invalid: bool,
    floor: float | None,
    keep_scores: bool,
) -> Held:
    """Score the partition; keep (score, index) of every record at or above `floor`."""
    counts = RunStats(scores=[] if keep_scores else None)
    kept: list[tuple[float, int]] = []
    aside: list[Row] = []

    def drain(rows: list[Row]) -> None:
        for row in rows:
            score = row[3]
            if not isinstance(score, float):
                aside.append(row)  # near-copies and bad records: the client handles them
                continue
            counts.add_score(score)
            if below(score, floor):
                counts.below_min_score += 1
            else:
                kept.append((-score, row[0]))

    result = score_partition(
        job, part, batch_size=batch_size, keep=None, cap=None, skip_invalid=skip_invalid, drain=drain
    )
    result.stats += counts
    result.rows = aside
    kept.sort()
    scores = array("d", (-negative for negative, _ in kept))
    keys = array("Q", map(score_key, reversed(scores)))  # keys order as scores: ascending
    return Held(result, scores, array("q", (index for _, index in kept)), keys)


def summary_of(held: Held) -> PartResult:
    """What the client receives from the first pass: no scores beyond the median's."""
    return held.summary


def bucket_counts(held: Held, low: int, shift: int) -> list[int]:
    """How many kept keys fall in each of 2**DIGIT_BITS buckets of width 2**shift from `low`."""
    keys, width = held.keys, 1 << shift
    edges = [bisect_left(keys, low + i * width) for i in range((1 << DIGIT_BITS) + 1)]
    if low + (width << DIGIT_BITS) > 0xFFFF_FFFF_FFFF_FFFF:
        edges[-1] = len(keys)
    return [edges[i + 1] - edges[i] for i in range(1 << DIGIT_BITS)]


def above_and_at(held: Held, key: int) -> tuple[int, int]:
    """How many kept keys are above `key`, and how many equal it."""
    keys = held.keys
    at_or_above = len(keys) - bisect_left(keys, key)
    above = len(keys) - bisect_right(keys, key)
    return above, at_or_above - above


def write_run(
    held: Held, part: Partition, count: int, offset: int, url: str, max_line_bytes: int = LIMIT
) -> int:
    """Write the partition's first `count` records in rank order (its selected ones) to `url`,
    their lines read again from the source (not scored again); each with its global index
    (`offset` plus its own). Returns how many it wrote: fewer when the source changed."""
    wanted = {held.indexes[i]: i for i in range(count)}
    lines: list[bytes | None] = [None] * count
    source = open_range(part.path, part.url, part.start, part.end, max_line_bytes)
    try:
        for index, (_, text) in enumerate(source):
            place = wanted.get(index)
            if place is not None:
                lines[place] = text
    finally:
        source.close()
    fs, inner = url_to_fs(url)
    written = 0
    try:
        with fs.open(inner, "wb") as out:
            for i, found in enumerate(lines):
                if found is None:
                    break
                out.write(RUN_HEADER.pack(held.scores[i], offset + held.indexes[i], len(found)) + found)
                written += 1
    except OSError as exc:  # a full disk reached the user as a bare "No space left on device"
        raise OutputError(
            f"cannot write the sorted run {shown(url)} under --spill-dir: {exc.strerror or exc}"
        ) from None
    return written

"""The background of contrastive scoring: a seeded uniform sample of the sources' records.

One reading pass over the sources (reading costs little next to scoring) keeps a
reservoir of `size` records (Algorithm R with a seeded generator), so memory holds the
sample, not the input. Only records whose text can be scored take part; the sample is
returned in input order. The same sources, text key, limit and seed always give the same
sample, so every shard of a run, a merge and a Dask run agree on it without being told.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..base import checks
from ..base.errors import InputError, UsageError, shown
from ..files.locations import STDIN, file_size
from ..files.reading import LongLine
from ..files.records import RecordError, TextSpec
from ..files.sources import open_source


@dataclass(frozen=True)
class Sampled:
    index: int  # position among the records of all sources
    line: bytes  # the record as read
    text: bytes  # its text


@dataclass(frozen=True)
class Sample:
    records: list[Sampled]  # in input order
    valid: int  # records that could be scored, which the sample was drawn from
    read: int  # records read


PROGRESS_EVERY = 1024  # records between calls of `progress`


def sample_background(
    sources: Sequence[str],
    spec: TextSpec,
    size: int,
    seed: int = 0,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Sample:
    """`size` records drawn uniformly without replacement from the valid records of `sources`
    (the first `limit` records only, when given). `progress(records, bytes)` hears how far
    the pass has gone, as a run's display does (display.Display.update)."""
    _check_sampling(sources, size, limit)
    rng = random.Random(seed)
    reservoir: list[Sampled] = []
    seen = 0  # valid records so far
    position = 0
    done_before = 0  # bytes of the sources before this one
    for path in sources:
        # Unmeasured: an over-long line ends the sampling, so input with no end (/dev/zero) does too.
        source = open_source(path, spec.max_line_bytes, measure_long=False)
        try:
            for line_no, line in source:
                if limit is not None and position >= limit:
                    break
                position += 1
                if progress is not None and position % PROGRESS_EVERY == 0:
                    on_disk = source.position()
                    progress(position, done_before + (source.consumed if on_disk is None else on_disk))
                if isinstance(line, LongLine):
                    _too_long(path, line_no, line)
                try:
                    text = spec.parse(line)[1]
                except RecordError:
                    continue  # the scoring pass reports (or skips) it
                if seen < size:
                    reservoir.append(Sampled(position - 1, line, text))
                else:
                    j = rng.randrange(seen + 1)
                    if j < size:
                        reservoir[j] = Sampled(position - 1, line, text)
                seen += 1
        finally:
            source.close()
        done_before += file_size(path) or source.consumed
        if limit is not None and position >= limit:
            break
    if progress is not None:
        progress(position, done_before)
    if seen < size:
        raise InputError(
            f"the background wants {size:,} records but the sources hold only {seen:,} that can be scored",
            setting="background_size",
        )
    return Sample(sorted(reservoir, key=lambda s: s.index), seen, position)


def _check_sampling(sources: Sequence[str], size: int, limit: int | None) -> None:
    checks.many("sources", sources, "paths")
    if checks.count("size", size, minimum=0) < 1:
        raise checks.ArgumentError(
            f"the background needs at least 1 record, not {size}", setting="background_size"
        )
    if limit is not None:
        checks.count("limit", limit)
    if STDIN in sources:
        raise UsageError(
            "stdin can be read only once, and sampling a background needs a pass of its own: "
            "give a background file (make one with `zipfit background`)",
            setting="background",
        )


def _too_long(path: str, line_no: int, line: LongLine) -> None:
    """A line over --max-line-bytes is not skipped like other invalid records: reading it to
    its end could take for ever."""
    try:
        TextSpec.build("text").parse(line)
    except RecordError as exc:
        raise InputError(f"{shown(path)}:{line_no}: background: {exc.detail}", setting=exc.settings) from None

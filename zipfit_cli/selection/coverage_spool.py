"""`--coverage` when K is known only at the end (--fraction) or the ranking is read past
the K best (--dedupe, budgets): every record is spooled as without --coverage, and its
distances to the targets go to a second temporary file, read once at the end to build
each target's bounded list (coverage.py). Memory: the spool's 16 bytes a record, as
without --coverage, plus n × q list entries.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from array import array
from collections.abc import Callable, Generator, Iterator
from decimal import Decimal

from ..base.errors import ZipfitError
from ..base.stats import RunStats
from ..files.records import TextSpec
from ..scoring.distances import CoverageScore
from .coverage import Candidates, Nearest, coverage_count, go_round, list_length
from .ranking import Share, Spool, count_for_fraction
from .rules import Filters, apply_filters, limited

Record = tuple[float, int, bytes]
_READ_RECORDS = 4096  # distances read back this many records at a time


class DistanceSpool:
    """n distances a record, in a deleted temporary file (as ranking.Spool keeps lines)."""

    def __init__(self, n_targets: int, directory: str | None = None) -> None:
        where = os.path.abspath(directory or tempfile.gettempdir())
        try:
            self._file = tempfile.TemporaryFile(prefix=".zipfit-distances-", dir=where)
        except OSError as exc:
            raise ZipfitError(f"cannot create a temporary file in {where}: {exc.strerror or exc}") from None
        self.n = n_targets
        self.count = 0

    def add(self, distances: tuple[float, ...]) -> None:
        if len(distances) != self.n:
            raise ValueError(f"{len(distances)} distances for {self.n} targets")
        try:
            self._file.write(array("d", distances).tobytes())
        except OSError as exc:
            raise _failed(exc) from None
        self.count += 1

    def _flush(self) -> None:
        try:
            self._file.flush()
        except OSError as exc:  # the last writes, held in the buffer, did not fit either
            raise _failed(exc) from None

    def read(self) -> Iterator[tuple[int, array[float]]]:
        """(position, distances) of every record, in the order added."""
        self._flush()
        self._file.seek(0)
        width = 8 * self.n
        position = 0
        while position < self.count:
            chunk = array("d")
            chunk.frombytes(self._file.read(width * min(_READ_RECORDS, self.count - position)))
            for at in range(0, len(chunk), self.n):
                yield position, chunk[at : at + self.n]
                position += 1

    def row(self, position: int) -> tuple[float, ...]:
        """The distances of the record added at `position`."""
        self._flush()
        self._file.seek(8 * self.n * position)
        found = array("d")
        found.frombytes(self._file.read(8 * self.n))
        return tuple(found)

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:  # unnamed: what did not reach it is not needed any more (and an error
            pass  # here, in a `finally`, would hide the one that says what to do)


def _failed(exc: OSError) -> ZipfitError:
    return ZipfitError(
        f"cannot write a temporary file in $TMPDIR: {exc.strerror or exc}; "
        "set TMPDIR to a directory with more room"
    )


def candidates(
    records: Iterator[Record], top_k: int | None, share: Decimal, n_targets: int, spool_dir: str | None = None
) -> Generator[Record, None, None]:
    """What a shard hands on to the merge, in rank order, scores with their distances: with
    top_k, the K best and each target's nearest (coverage.Candidates); else every record."""
    if top_k is not None:
        found: Candidates[bytes] = Candidates(top_k, share, n_targets)
        for score, index, line in records:
            found.push(score, index, line)
        yield from found.ranked()
        return
    spool, distances = Spool(spool_dir), DistanceSpool(n_targets, spool_dir)
    try:
        for score, index, line in records:
            spool.add(score, index, line)
            distances.add(_distances(score))
        for position in spool.order():
            score, index, line = spool.record(position)
            yield CoverageScore(score, distances.row(position)), index, line
    finally:
        distances.close()
        spool.close()


def _distances(score: float) -> tuple[float, ...]:
    if not isinstance(score, CoverageScore):
        raise TypeError("a coverage selection needs scores with distances (scoring.distances)")
    return score.distances


def select_spooled(
    records: Iterator[Record],
    *,
    top_k: int | None,
    fraction: Share | None,
    share: Decimal,
    n_targets: int,
    spec: TextSpec,
    filters: Filters,
    stats: RunStats,
    spool_dir: str | None = None,
    total: Callable[[], int] | None = None,
    picked: set[int] | None = None,
) -> Generator[Record, None, None]:
    """The coverage selection of K = top_k, or `fraction` of `total()` (default: the records
    spooled), with dedupe and a budget applied in selection order."""
    spool = Spool(spool_dir)
    distances = DistanceSpool(n_targets, spool_dir)
    try:
        for score, index, line in records:
            spool.add(score, index, line)
            distances.add(_distances(score))
        of = len(spool) if total is None else total()
        k = count_for_fraction(fraction, of) if fraction is not None else top_k
        if k is None:
            raise ValueError("a coverage selection needs top_k or fraction")
        count = coverage_count(share, k)
        near: Nearest[int] = Nearest(n_targets, list_length(count, n_targets))
        for position, row in distances.read():
            near.push(row, spool.indexes[position], position)
        distances.close()
        yield from _chosen(spool, near, count, k, spec, filters, stats, picked)
    finally:
        distances.close()
        spool.close()


def _chosen(
    spool: Spool,
    near: Nearest[int],
    count: int,
    k: int,
    spec: TextSpec,
    filters: Filters,
    stats: RunStats,
    picked: set[int] | None,
) -> Iterator[Record]:
    dedupe = filters.dedupe

    def accept(index: int, position: int) -> bool:
        if dedupe is None:
            return True
        kind = dedupe.check(spec.parse(spool.record(position)[2])[1])
        if kind is not None:
            stats.duplicates[kind] += 1
        return kind is None

    picks, passed = go_round(near.lists(), count, accept)
    if picked is not None:
        picked.update(index for index, _ in picks)
    chosen = [spool.record(position) for _, position in picks]
    rest: Iterator[Record] = (r for r in spool.ranked(None if filters else k) if r[1] not in passed)
    if dedupe is not None:
        rest = apply_filters(rest, spec, Filters(dedupe=dedupe), stats)
    selection: Iterator[Record] = itertools.chain(chosen, rest)
    yield from limited(selection, spec, filters.without_dedupe(), stats, k)

"""Choosing and ordering records by score, in memory bounded by what is kept.

Order everywhere: higher score first; equal scores keep input order (earlier wins).
"""

from __future__ import annotations

import heapq
import os
import tempfile
from array import array
from collections.abc import Callable, Generator, Iterable, Iterator
from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_UP, Decimal, Inexact, localcontext
from typing import Generic, TypeVar

from ..base.checks import ArgumentError
from ..base.errors import ZipfitError

T = TypeVar("T")
Record = tuple[float, int, bytes]  # (score, input index, output line)


# A share of the records (--fraction): a Decimal as the user typed it, or a float, read as
# the shortest decimal that gives it back (0.145, not the binary 0.14499999999999999...).
Share = float | Decimal


def exact_share(fraction: Share) -> Decimal:
    """The fraction as the decimal number it was written as."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float | Decimal):
        raise TypeError(f"fraction must be a number, not {type(fraction).__name__}")
    return fraction if isinstance(fraction, Decimal) else Decimal(repr(fraction))


def check_limits(top_k: int | None, fraction: Share | None) -> None:
    """How many to keep: a count, a fraction of the scored records, or (neither) all of them."""
    if top_k is not None and fraction is not None:
        raise ArgumentError("give either a top-K count or a fraction, not both", setting="top_k")
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, int):
            raise TypeError(f"the top-K count must be an int, not {type(top_k).__name__}")
        if top_k < 1:
            raise ArgumentError(f"the top-K count must be at least 1, not {top_k}", setting="top_k")
    if fraction is not None:
        share = exact_share(fraction)
        if not share.is_finite() or not 0 < share <= 1:
            raise ArgumentError(f"the fraction must be in (0, 1], not {fraction}", setting="fraction")


def count_for_fraction(fraction: Share, total: int) -> int:
    """How many records --fraction keeps out of `total`: rounded half up, at least 1.

    Computed exactly on the decimal given: 0.145 of 100 keeps 15, where floating point
    makes 0.145 * 100 = 14.499999999999998 and keeps 14. A share below 1/total keeps 1
    whatever its exponent: 1e-999999999 is never expanded into a billion-digit number.
    """
    if total == 0:
        return 0
    share = exact_share(fraction)
    total_digits = len(str(total))
    if share.adjusted() + 1 + total_digits <= 0:  # share < 10**-total_digits: share * total < 1
        return 1
    with localcontext() as exact:
        # Enough digits for the product to be exact; the exponent range of the share's own.
        exact.prec = len(share.as_tuple().digits) + total_digits + 2
        exact.Emin, exact.Emax = MIN_EMIN, MAX_EMAX
        exact.traps[Inexact] = True
        product = share * total
        exact.traps[Inexact] = False  # rounding the product to a count is the point
        kept = product.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return max(1, int(kept))


class TopK(Generic[T]):
    """The best k (score, index, item) seen so far, in O(k) memory."""

    def __init__(self, k: int) -> None:
        self.k = k
        # Min-heap on (score, -index): the root is the record to drop first. Indexes are
        # unique, so tuple comparison never reaches the item.
        self._heap: list[tuple[float, int, T]] = []

    def push(self, score: float, index: int, item: T) -> None:
        entry = (score, -index, item)
        if len(self._heap) < self.k:
            heapq.heappush(self._heap, entry)
        elif (score, -index) > self._heap[0][:2]:
            heapq.heapreplace(self._heap, entry)

    def ranked(self) -> list[tuple[float, int, T]]:
        best = sorted(self._heap, key=lambda e: (-e[0], -e[1]))
        return [(score, -neg, item) for score, neg, item in best]


class Spool:
    """Every scored record, for a full ranking or a fraction: lines go to a temporary file,
    scores and offsets stay in memory (16 bytes a record).

    The file is unlinked as soon as it is created and used through its open descriptor, so
    no way out of the process, not even SIGKILL or a full disk, can leave it behind.
    """

    def __init__(self, directory: str | None = None) -> None:
        where = os.path.abspath(directory or tempfile.gettempdir())
        try:
            fd, path = tempfile.mkstemp(prefix=".zipfit-spool-", dir=where)
        except OSError as exc:
            raise ZipfitError(f"cannot create a temporary file in {where}: {exc.strerror or exc}") from None
        self.path = path
        os.unlink(path)
        self._file = os.fdopen(fd, "w+b")
        self.scores = array("d")
        self.indexes = array("q")
        self._offsets = array("q")
        self._end = 0

    def _failed(self, exc: OSError) -> ZipfitError:
        return ZipfitError(
            f"cannot write the temporary file {self.path} (deleted, in $TMPDIR): {exc.strerror or exc}; "
            "set TMPDIR to a directory with more room"
        )

    def __len__(self) -> int:
        return len(self.scores)

    def add(self, score: float, index: int, line: bytes) -> None:
        self.scores.append(score)
        self.indexes.append(index)
        self._offsets.append(self._end)
        try:
            self._file.write(line)
        except OSError as exc:
            raise self._failed(exc) from None
        self._end += len(line)

    def record(self, position: int) -> tuple[float, int, bytes]:
        """The record spooled at `position` (0: the first added)."""
        try:
            self._file.flush()
        except OSError as exc:
            raise self._failed(exc) from None
        n = len(self.scores)
        start, end = self._offsets[position], self._offsets[position + 1] if position + 1 < n else self._end
        self._file.seek(start)
        return self.scores[position], self.indexes[position], self._file.read(end - start)

    def order(self, k: int | None = None) -> list[int]:
        """The positions of the k best (all if None), in rank order."""
        n = len(self.scores)
        scores = self.scores
        if k is None or k >= n:
            candidates: Iterable[int] = range(n)
        elif k == 0:
            return []
        else:
            # Memory in k, not n: the k-th best score bounds the candidates (ties included).
            threshold = heapq.nlargest(k, scores)[-1]
            candidates = [i for i, score in enumerate(scores) if score >= threshold]
        # A stable sort over candidates in input order keeps equal scores in input order.
        return sorted(candidates, key=scores.__getitem__, reverse=True)[:k]

    def ranked(self, k: int | None = None) -> Iterator[tuple[float, int, bytes]]:
        """The k best (all if None) in rank order, read back from the spool file."""
        for i in self.order(k):
            yield self.record(i)

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass  # unlinked already: whatever did not reach it is not needed any more

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rank(
    records: Iterator[tuple[float, int, bytes]],
    top_k: int | None = None,
    fraction: Share | None = None,
    spool_dir: str | None = None,
    total: Callable[[], int] | None = None,
) -> Generator[tuple[float, int, bytes], None, None]:
    """(score, index, line) in rank order: the top_k, the best fraction, or all. The
    fraction is of `total()`, asked once every record is in (default: the records ranked);
    under --min-score a run passes its count of records scored, above the threshold or not."""
    if top_k is not None:
        best: TopK[bytes] = TopK(top_k)
        for score, index, line in records:
            best.push(score, index, line)
        yield from best.ranked()
        return
    with Spool(spool_dir) as spool:
        for score, index, line in records:
            spool.add(score, index, line)
        of = len(spool) if total is None else total()
        k = None if fraction is None else count_for_fraction(fraction, of)
        yield from spool.ranked(k)

"""Choosing and ordering records by score, in memory bounded by what is kept.

Order everywhere: higher score first; equal scores keep input order (earlier wins).
"""

from __future__ import annotations

import heapq
import math
import os
import tempfile
from array import array
from collections.abc import Iterator
from typing import Generic, TypeVar

import orjson

T = TypeVar("T")


def add_score(line: bytes, key: str, score: float) -> bytes:
    """The JSONL line with `key: score` added, every original byte of the record kept."""
    key_json = orjson.dumps(key)
    body = line.rstrip()
    if key_json in body:
        # The record may already carry the key (re-scoring earlier output): rebuild it.
        record = orjson.loads(body)
        if isinstance(record, dict) and key in record:
            record[key] = score
            return orjson.dumps(record) + b"\n"
    head = body[:-1].rstrip()
    sep = b"" if head.endswith(b"{") else b","
    return head + sep + key_json + b":" + orjson.dumps(score) + b"}\n"


def count_for_fraction(fraction: float, total: int) -> int:
    """How many records --fraction keeps out of `total`: rounded half up, at least 1."""
    if total == 0:
        return 0
    return max(1, math.floor(fraction * total + 0.5))


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
    """

    def __init__(self, directory: str | None = None) -> None:
        fd, self.path = tempfile.mkstemp(prefix=".zipfit-spool-", dir=directory)
        self._file = os.fdopen(fd, "w+b")
        self.scores = array("d")
        self.indexes = array("q")
        self._offsets = array("q")
        self._end = 0

    def __len__(self) -> int:
        return len(self.scores)

    def add(self, score: float, index: int, line: bytes) -> None:
        self.scores.append(score)
        self.indexes.append(index)
        self._offsets.append(self._end)
        self._file.write(line)
        self._end += len(line)

    def ranked(self, k: int | None = None) -> Iterator[tuple[float, int, bytes]]:
        """The k best (all if None) in rank order, read back from the spool file."""
        n = len(self.scores)
        # Both sorts are stable, so equal scores stay in input order.
        order: list[int] = (
            sorted(range(n), key=self.scores.__getitem__, reverse=True)
            if k is None or k >= n
            else heapq.nlargest(k, range(n), key=self.scores.__getitem__)
        )
        self._file.flush()
        offsets = self._offsets
        for i in order:
            start, end = offsets[i], offsets[i + 1] if i + 1 < n else self._end
            self._file.seek(start)
            yield self.scores[i], self.indexes[i], self._file.read(end - start)

    def close(self) -> None:
        self._file.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

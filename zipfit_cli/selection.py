"""Choosing and ordering records by score, in memory bounded by what is kept.

Order everywhere: higher score first; equal scores keep input order (earlier wins).
"""

from __future__ import annotations

import heapq
import math
import os
import tempfile
from array import array
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

import orjson

from .errors import ZipfitError

T = TypeVar("T")


def add_score(line: bytes, key: str, score: float) -> bytes:
    """The JSONL line with `key: score` added, every original byte of the record kept.

    If the record already has the key (re-scoring earlier output), its value is replaced
    in place, so the other fields keep their exact bytes (big integers, 1.10, escapes).
    """
    key_json = orjson.dumps(key)
    value = orjson.dumps(score)
    body = line.rstrip()
    # Scanning is slow in Python: only when the key is there, or may be there escaped.
    maybe_escaped = key_json not in body and b"\\" in body and key in orjson.loads(body)
    if key_json in body or maybe_escaped:
        span = _top_level_value(body, key)
        if span is not None:
            start, end = span
            return body[:start] + value + body[end:] + b"\n"
    head = body[:-1].rstrip()
    sep = b"" if head.endswith(b"{") else b","
    return head + sep + key_json + b":" + value + b"}\n"


def _top_level_value(obj: bytes, key: str) -> tuple[int, int] | None:
    """Byte span of the last top-level value under `key` in a valid JSON object, if any."""
    found = None
    depth = 0
    i, n = 0, len(obj)
    want_key = False  # at depth 1, the next string is a key
    while i < n:
        c = obj[i]
        if c == 0x22:  # a string
            j = _string_end(obj, i)
            if depth == 1 and want_key:
                colon = obj.index(b":", j)
                if orjson.loads(obj[i:j]) == key:
                    start = colon + 1
                    while obj[start] in b" \t\r\n":
                        start += 1
                    found = (start, _value_end(obj, start))
                want_key = False
                i = colon + 1
                continue
            i = j
            continue
        if c in b"{[":
            depth += 1
            if depth == 1:
                want_key = True
        elif c in b"}]":
            depth -= 1
        elif c == 0x2C and depth == 1:  # ","
            want_key = True
        i += 1
    return found


def _string_end(obj: bytes, i: int) -> int:
    """Index just past the JSON string that starts at `i` (its opening quote)."""
    i += 1
    while obj[i] != 0x22:
        i += 2 if obj[i] == 0x5C else 1
    return i + 1


def _value_end(obj: bytes, start: int) -> int:
    """Index just past the JSON value that starts at `start`."""
    first = obj[start]
    if first == 0x22:
        return _string_end(obj, start)
    if first in b"{[":
        depth, i = 0, start
        while True:
            c = obj[i]
            if c == 0x22:
                i = _string_end(obj, i)
                continue
            if c in b"{[":
                depth += 1
            elif c in b"}]":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
    i = start  # a number, true, false or null
    while obj[i] not in b",}] \t\r\n":
        i += 1
    return i


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

    def ranked(self, k: int | None = None) -> Iterator[tuple[float, int, bytes]]:
        """The k best (all if None) in rank order, read back from the spool file."""
        n = len(self.scores)
        scores = self.scores
        if k is None or k >= n:
            candidates: Iterable[int] = range(n)
        elif k == 0:
            return
        else:
            # Memory in k, not n: the k-th best score bounds the candidates (ties included).
            threshold = heapq.nlargest(k, scores)[-1]
            candidates = [i for i, score in enumerate(scores) if score >= threshold]
        # A stable sort over candidates in input order keeps equal scores in input order.
        order = sorted(candidates, key=scores.__getitem__, reverse=True)[:k]
        try:
            self._file.flush()
        except OSError as exc:
            raise self._failed(exc) from None
        offsets = self._offsets
        for i in order:
            start, end = offsets[i], offsets[i + 1] if i + 1 < n else self._end
            self._file.seek(start)
            yield self.scores[i], self.indexes[i], self._file.read(end - start)

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass  # unlinked already: whatever did not reach it is not needed any more

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

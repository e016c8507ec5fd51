"""Functions for notebooks and scripts: score texts, pick the top K records, in memory."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from .errors import UsageError
from .records import RecordError, TextSpec
from .runner import ScoreJob, map_batches
from .scoring import TargetSet
from .selection import TopK


def _targets(targets: TargetSet | Sequence[str], compressor: str, level: int | None) -> TargetSet:
    return targets if isinstance(targets, TargetSet) else TargetSet.from_texts(targets, compressor, level)


def _batched(items: Iterable[bytes], size: int) -> Iterator[tuple[None, list[bytes]]]:
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield None, batch


def _encode(i: int, text: str | bytes) -> bytes:
    # The same rule as the CLI's empty_text: an empty text has no meaningful score.
    if not text.strip():
        raise RecordError("empty_text", f"text {i} is empty or whitespace only")
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")


def score_texts(
    texts: Iterable[str | bytes],
    targets: TargetSet | Sequence[str],
    *,
    compressor: str = "gzip",
    level: int | None = None,
    workers: int = 1,
    batch_size: int = 256,
    progress: bool = False,
) -> Iterator[float]:
    """Alignment of each text (str, or UTF-8 bytes) with the targets, in order (lazy; 1.0
    means identical). With workers > 1, call it under `if __name__ == "__main__":` in a
    script: worker processes import the script again.

    >>> scores = list(score_texts(["def f(x): return x"], ["def g(y): return y"]))
    """
    target_set = _targets(targets, compressor, level)
    encoded: Iterable[bytes] = map(_encode, itertools.count(), texts)
    if progress:
        from tqdm.auto import tqdm  # type: ignore[import-untyped]

        total = len(texts) if isinstance(texts, Sequence) else None
        encoded = tqdm(encoded, total=total, unit="text")
    for _, results in map_batches(ScoreJob(target_set), _batched(encoded, batch_size), workers):
        for result in results:
            assert isinstance(result, float)
            yield result


def select_top_k(
    records: Iterable[Mapping[str, Any]],
    targets: TargetSet | Sequence[str],
    k: int,
    *,
    text_key: str = "text",
    compressor: str = "gzip",
    level: int | None = None,
    workers: int = 1,
    progress: bool = False,
) -> list[tuple[float, Mapping[str, Any]]]:
    """The k records best aligned with the targets as (score, record), best first.

    Ties keep input order. Raises RecordError for a record without usable text.
    """
    if k < 1:
        raise UsageError(f"k must be at least 1, not {k}")
    spec = TextSpec.build(text_key)
    best: TopK[Mapping[str, Any]] = TopK(k)
    # Records wait here between handing their text to the scorer and getting a score back.
    waiting: deque[Mapping[str, Any]] = deque()

    def texts() -> Iterator[str]:
        for record in records:
            waiting.append(record)
            yield spec.text_of(dict(record)).decode("utf-8", "surrogatepass")

    scores = score_texts(
        texts(), targets, compressor=compressor, level=level, workers=workers, progress=progress
    )
    for index, score in enumerate(scores):
        best.push(score, index, waiting.popleft())
    return [(score, record) for score, _, record in best.ranked()]


__all__ = ["RecordError", "score_texts", "select_top_k"]

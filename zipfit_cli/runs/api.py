"""Functions for notebooks and scripts: score texts, pick the top K records, in memory."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

from ..base import checks
from ..engines.runner import ScoreJob, map_batches
from ..files.batches import BATCH_BYTES
from ..files.records import RecordError, TextSpec, encode_text
from ..scoring.contrast import DEFAULT_WEIGHT
from ..scoring.distances import WithDistances
from ..scoring.pairwise import TargetSet
from ..selection.budget import make_counter, take_shortest_within_budget, take_within_budget
from ..selection.coverage import Candidates, check_coverage
from ..selection.ranking import TopK
from ..selection.rules import check_budget_fill

if TYPE_CHECKING:
    from ..scoring.scorers import Scorer


Targets = Union["Scorer", Sequence[str | bytes]]


def _scorer(
    targets: Targets,
    compressor: str,
    level: int | None,
    background: Sequence[str | bytes] | None,
    contrast_weight: float,
) -> Scorer:
    """A scorer as given (TargetSet, CorpusScorer, ContrastScorer), or one built from texts:
    the paper's score, or contrast when a background is given."""
    checks.text("compressor", compressor, "a compressor's name")
    if background is None and contrast_weight != DEFAULT_WEIGHT:
        raise checks.ArgumentError("contrast_weight goes with a background given as texts")
    if isinstance(targets, str | bytes):
        checks.many("targets", targets)  # raises: one text would be a target per character
    if not isinstance(targets, Sequence):
        if not callable(getattr(targets, "score", None)):
            raise TypeError(f"targets must be a list of texts or a scorer, not {type(targets).__name__}")
        if background is not None:
            raise checks.ArgumentError(
                "give the background as texts together with target texts, not with a scorer"
            )
        return targets
    checks.texts("targets", targets)
    if background is not None:
        from ..scoring.contrast import ContrastScorer

        return ContrastScorer.from_texts(targets, background, compressor, level, contrast_weight)
    return TargetSet.from_texts(targets, compressor, level)


def _batched(items: Iterable[bytes], size: int) -> Iterator[tuple[None, list[bytes]]]:
    """At most `size` texts a batch, and at most BATCH_BYTES of them (a larger text goes alone)."""
    batch: list[bytes] = []
    held = 0
    for item in items:
        if batch and held + len(item) > BATCH_BYTES:
            yield None, batch
            batch, held = [], 0
        batch.append(item)
        held += len(item)
        if len(batch) >= size:  # sent at once: a text is not pulled before it is needed
            yield None, batch
            batch, held = [], 0
    if batch:
        yield None, batch


def _encode(i: int, text: str | bytes) -> bytes:
    if not isinstance(text, str | bytes):
        raise TypeError(f"texts[{i}] must be str or bytes, not {type(text).__name__}")
    # The same rule as the CLI's empty_text: an empty text has no meaningful score.
    if not text.strip():
        raise RecordError("empty_text", f"text {i} is empty or whitespace only")
    return encode_text(text)


def score_texts(
    texts: Iterable[str | bytes],
    targets: Targets,
    *,
    compressor: str = "gzip",
    level: int | None = None,
    background: Sequence[str | bytes] | None = None,
    contrast_weight: float = DEFAULT_WEIGHT,
    workers: int = 1,
    batch_size: int = 256,
    progress: bool = False,
) -> Iterator[float]:
    """Score of each text against the targets, in order (lazy; higher is closer).

    Each text is a str or UTF-8 bytes: the text itself, not a record or a JSON line (for
    records, see `select_top_k`). The paper's alignment (1.0 means identical), or with
    `background` (texts like the corpus) the contrastive score. `targets` may also be a
    scorer built once and reused. With workers > 1, call it under
    `if __name__ == "__main__":` in a script: worker processes import the script again.

    >>> scores = list(score_texts(["def f(x): return x"], ["def g(y): return y"]))

    Arguments are checked when it is called (the texts as they are scored): TypeError or
    ValueError naming the argument, by the CLI's rules.
    """
    checks.many("texts", texts)
    checks.count("workers", workers)
    checks.count("batch_size", batch_size)
    scorer = _scorer(targets, compressor, level, background, contrast_weight)
    return _scores(texts, scorer, workers, batch_size, progress)


def _scores(
    texts: Iterable[str | bytes], scorer: Scorer, workers: int, batch_size: int, progress: bool
) -> Iterator[float]:
    encoded: Iterable[bytes] = map(_encode, itertools.count(), texts)
    if progress:
        from tqdm.auto import tqdm  # type: ignore[import-untyped]

        total = len(texts) if isinstance(texts, Sequence) else None
        encoded = tqdm(encoded, total=total, unit="text")
    for _, results in map_batches(ScoreJob(scorer), _batched(encoded, batch_size), workers):
        for result in results:
            assert isinstance(result, float)
            yield result


def select_top_k(
    records: Iterable[Mapping[str, Any]],
    targets: Targets,
    k: int,
    *,
    text_key: str = "text",
    compressor: str = "gzip",
    level: int | None = None,
    background: Sequence[str | bytes] | None = None,
    contrast_weight: float = DEFAULT_WEIGHT,
    coverage: float | None = None,
    budget_chars: int | None = None,
    budget_fill: str = "rank",
    workers: int = 1,
    progress: bool = False,
) -> list[tuple[float, Mapping[str, Any]]]:
    """The k records best aligned with the targets as (score, record), best first.

    A record is a mapping (a dict, as `json.loads` gives for one JSON line) holding its
    text under `text_key`; a JSON line itself (str or bytes) is a TypeError. Ties keep
    input order. Raises RecordError for a record without usable text.

    `coverage` is `select --coverage F`: the first round(F x k) records (halves up) are taken
    by going round the targets, each taking its nearest record not yet taken, the rest by
    score; the list holds the coverage picks in the order taken, then the others by rank.
    Scores stay the method's. None or 0: by score alone. `budget_chars` and `budget_fill` are
    `select --budget-chars N --budget-fill rank|shortest` (characters: code points).
    """
    checks.many("records", records, "records (mappings)")
    checks.count("k", k)
    checks.count("workers", workers)
    check_budget_fill(budget_fill, budget_chars)
    spec = TextSpec.build(checks.text("text_key", text_key, "a key"))
    scorer = _scorer(targets, compressor, level, background, contrast_weight)
    share = check_coverage(coverage) if coverage is not None else None
    best: TopK[Mapping[str, Any]] | Candidates[Mapping[str, Any]] = TopK(k)
    if share:
        scorer = WithDistances(scorer)  # refuses an adaptive or corpus scorer, as the CLI does
        best = Candidates(k, share, scorer.n_targets)
    # Records wait here between handing their text to the scorer and getting a score back.
    waiting: deque[Mapping[str, Any]] = deque()

    def texts() -> Iterator[str]:
        for i, record in enumerate(records):
            if isinstance(record, str | bytes):
                raise TypeError(
                    f"records[{i}] is {type(record).__name__}: a record is a mapping such as a dict "
                    "(for JSON lines, pass json.loads(line) for each line)"
                )
            if not isinstance(record, Mapping):
                raise TypeError(f"records[{i}] must be a mapping (a record), not {type(record).__name__}")
            waiting.append(record)
            yield spec.text_of(dict(record)).decode("utf-8", "surrogatepass")

    for index, score in enumerate(_scores(texts(), scorer, workers, 256, progress)):
        best.push(score, index, waiting.popleft())
    chosen = best.select() if isinstance(best, Candidates) else best.ranked()
    return _within_budget(
        [(float(score), record) for score, _, record in chosen], spec, budget_chars, budget_fill
    )


def _within_budget(
    selected: list[tuple[float, Mapping[str, Any]]], spec: TextSpec, budget: int | None, fill: str
) -> list[tuple[float, Mapping[str, Any]]]:
    """The selection cut to a character budget as `select` cuts it: k and the budget are both
    limits on one ordering, so the budget over the k selected gives the command's records."""
    if budget is None:
        return selected
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise TypeError(f"budget_chars must be an int, not {type(budget).__name__}")
    chars = make_counter("chars")
    take = take_shortest_within_budget if fill == "shortest" else take_within_budget
    return list(take(selected, lambda item: chars(spec.text_of(dict(item[1]))), budget))


__all__ = ["RecordError", "score_texts", "select_top_k"]

"""A record's distance to each target, alongside its score, for `select --coverage`.

The coverage rule (selection/coverage.py) goes round the targets, each taking its nearest
record; it needs every record's distance to every target, not only the mean the score is
made of. These are the very NCDs the score averages, so nothing is compressed twice:

- the paper's score (pairwise): distance to target j = NCD(x, t_j);
- --contrast: distance to target j = NCD(x, t_j) - w × mean NCD(x, background), the same
  background term its score adds.

The score a record carries stays the method's own float, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..base.checks import ArgumentError
from .adaptive import AdaptiveScorer
from .contrast import ContrastScorer
from .pairwise import TargetSet


class CoverageScore(float):
    """A score (the float itself) with the record's distance to each target, in target order."""

    distances: tuple[float, ...]

    def __new__(cls, score: float, distances: Sequence[float]) -> CoverageScore:
        made = super().__new__(cls, score)
        made.distances = tuple(distances)
        return made

    def __reduce__(self) -> tuple[Any, ...]:  # to and from worker processes and Dask workers
        return (CoverageScore, (float(self), self.distances))


def _mean(values: list[float]) -> float:
    total = 0.0
    for value in values:  # in order, as TargetSet.mean_ncd sums
        total += value
    return total / len(values)


def adaptive_refused() -> ArgumentError:
    """--coverage with --adaptive (or an AdaptiveScorer in the API): the one message for both."""
    return ArgumentError(
        "--coverage cannot go with --adaptive: a record it stops early has no distance to each target",
        setting="coverage",
    )


def method_refused(method: str) -> ArgumentError:
    """--coverage with a method that has no per-target NCDs (--method corpus)."""
    return ArgumentError(
        "--coverage needs each record's NCD to each target, which the paper's score and --contrast "
        f"compute; --method {method} does not",
        setting="coverage",
    )


def method_of(scorer: object) -> str:
    """The scorer's --method, as its report names it (a class name if it has none)."""
    describe = getattr(scorer, "describe", None)
    method = describe().get("method") if callable(describe) else None
    return method if isinstance(method, str) else type(scorer).__name__


class WithDistances:
    """Wraps the pairwise or contrast scorer: `score` returns a CoverageScore. Reports,
    parts and comparisons are the wrapped scorer's."""

    def __init__(self, scorer: Any) -> None:
        if isinstance(scorer, AdaptiveScorer):
            raise adaptive_refused()
        if not isinstance(scorer, TargetSet | ContrastScorer):
            raise method_refused(method_of(scorer))
        self.scorer = scorer

    @property
    def n_targets(self) -> int:
        scorer = self.scorer
        return len(scorer.targets if isinstance(scorer, ContrastScorer) else scorer)

    @property
    def comparisons(self) -> int:
        return int(self.scorer.comparisons)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = self.scorer.describe()
        return described

    def score(self, text: bytes) -> CoverageScore:
        scorer = self.scorer
        if isinstance(scorer, TargetSet):
            ncds = scorer.ncds(text)
            return CoverageScore(1.0 - _mean(ncds), ncds)
        ncds = scorer.targets.ncds(text)
        pull = scorer.weight * scorer.background_ncd(text)
        return CoverageScore(pull - _mean(ncds), [d - pull for d in ncds])


def coverage_targets(scorer: object) -> int:
    """How many targets a --coverage scorer measures distances to (it must be WithDistances)."""
    if not isinstance(scorer, WithDistances):
        raise TypeError("--coverage needs the scorer wrapped in WithDistances (scoring.distances)")
    return scorer.n_targets

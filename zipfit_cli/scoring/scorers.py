"""The scoring methods, by name: what `--method` chooses and the registry a new method joins.

A scorer turns one text into one float (higher: closer to the target task). It is built
once in the main process from `ScoringInputs`, pickled to each worker once, and must say
how many compressions it makes per record beyond the record's own (`comparisons`, for
honest pairs/s) and describe itself (`describe()`: the report, shard parts and the
merge's compatibility check all read it).

Adding a method: one module with a class that has `from_inputs`, plus one line in SCORERS.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..base.errors import UsageError
from .compressors import Compressor
from .contrast import DEFAULT_WEIGHT


class Scorer(Protocol):
    def score(self, text: bytes) -> float: ...

    @property
    def comparisons(self) -> int: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ScoringInputs:
    """Everything a scoring method may be built from."""

    targets: Sequence[bytes]
    compressor: Compressor
    background: Sequence[bytes] | None = None  # records like the corpus, for contrast
    contrast_weight: float = DEFAULT_WEIGHT


# method name -> "module:class"; imported only when chosen, so `--help` stays fast.
SCORERS: dict[str, str] = {
    "pairwise": "zipfit_cli.scoring.pairwise:TargetSet",
    "corpus": "zipfit_cli.scoring.corpus:CorpusScorer",
    "contrast": "zipfit_cli.scoring.contrast:ContrastScorer",
}


def build_scorer(method: str, inputs: ScoringInputs) -> Scorer:
    """The scorer registered as `method`, built from `inputs`."""
    try:
        module, name = SCORERS[method].split(":")
    except KeyError:
        known = ", ".join(SCORERS)
        raise UsageError(f"unknown method {method!r}; choose one of: {known}", setting="method") from None
    scorer: Scorer = getattr(importlib.import_module(module), name).from_inputs(inputs)
    return scorer

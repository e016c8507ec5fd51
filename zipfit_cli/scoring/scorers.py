"""The scoring methods, by name: what `--method` chooses and the registry a new method joins.

A scorer turns one text into one float (higher: closer to the target task). It is built
once in the main process from `ScoringInputs`, pickled to each worker once, and must say
how many compressions it makes per record beyond the record's own (`comparisons`, for
honest pairs/s) and describe itself (`describe()`: the report, shard parts and the
merge's compatibility check all read it).

A method's class declares what it takes, so nothing outside its module has to know it:

- `settings`: a frozen dataclass of its own options with their defaults (`NoSettings`
  when it has none). `ScoringInputs.settings` carries an instance; the CLI fills the
  fields named like one of its options (`--contrast-weight` → `contrast_weight`).
- `needs_background`: whether it is built with background records like the corpus
  (`ScoringInputs.background`; the CLI loads or samples them for such a method).
- `ncd_terms()` (optional): its score as offset + Σ weight × mean NCD to a set of texts
  (pairwise.NcdTerms), which is what lets `--adaptive` stop a record partway.

Adding a method: one module with such a class (and `from_inputs`), plus one line in SCORERS.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

from ..base.errors import UsageError
from .compressors import Compressor


class Scorer(Protocol):
    def score(self, text: bytes) -> float: ...

    @property
    def comparisons(self) -> int: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class NoSettings:
    """The settings of a method without options of its own."""


@dataclass(frozen=True)
class ScoringInputs:
    """Everything a scoring method may be built from."""

    targets: Sequence[bytes]
    compressor: Compressor
    background: Sequence[bytes] | None = None  # records like the corpus, for a method that needs them
    settings: Any = None  # the method's own `settings` dataclass; None: its defaults


# method name -> "module:class"; imported only when chosen, so `--help` stays fast.
SCORERS: dict[str, str] = {
    "pairwise": "zipfit_cli.scoring.pairwise:TargetSet",
    "corpus": "zipfit_cli.scoring.corpus:CorpusScorer",
    "contrast": "zipfit_cli.scoring.contrast:ContrastScorer",
}


def scorer_class(method: str) -> Any:
    """The class registered as `method`, imported."""
    try:
        module, name = SCORERS[method].split(":")
    except KeyError:
        known = ", ".join(SCORERS)
        raise UsageError(f"unknown method {method!r}; choose one of: {known}", setting="method") from None
    return getattr(importlib.import_module(module), name)


def method_settings(method: str) -> type[Any]:
    """The settings dataclass of `method` (NoSettings when it declares none)."""
    settings: type[Any] = getattr(scorer_class(method), "settings", NoSettings)
    return settings


def setting_names(method: str) -> frozenset[str]:
    """The names of `method`'s own settings."""
    return frozenset(f.name for f in fields(method_settings(method)))


def needs_background(method: str) -> bool:
    return bool(getattr(scorer_class(method), "needs_background", False))


def build_scorer(method: str, inputs: ScoringInputs) -> Scorer:
    """The scorer registered as `method`, built from `inputs` (its settings checked to be
    that method's, and a background given when it needs one)."""
    kind = scorer_class(method)
    settings_type = method_settings(method)
    settings = settings_type() if inputs.settings is None else inputs.settings
    if not isinstance(settings, settings_type):
        raise TypeError(
            f"the {method} method takes {settings_type.__name__} settings, not {type(settings).__name__}"
        )
    if needs_background(method) and inputs.background is None:
        raise UsageError(f"the {method} method needs a background", setting="background")
    scorer: Scorer = kind.from_inputs(replace(inputs, settings=settings))
    return scorer

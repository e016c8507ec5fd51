"""Contrastive scoring: like the target task, unlike the rest of the corpus.

    contrast(x) = w · mean over b in B of NCD(x, b)  −  mean over t in T of NCD(x, t)

B is the background: a uniform random sample of the corpus itself (or a file of records
like it). The paper's score, 1 − mean NCD to the targets, also rewards text that
compresses well next to anything (short, generic, repetitive); subtracting how close x is
to the corpus at large leaves what is specific to the targets, as Moore–Lewis
cross-entropy difference does with language models. Same compressor, level and NCD
(source first) in both sums; higher is better; scores fall on both sides of 0.

A record that is itself in B has NCD(x, x) near 0 in the background sum, which would push
it down the ranking only because it was drawn. Background records byte-identical to x are
therefore left out of x's background mean, so a record's score depends on its text alone,
never on whether it happened to be sampled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..base import checks
from ..base.errors import UsageError
from ..files.records import encode_text
from .compressors import Compressor, get_compressor
from .pairwise import NcdTerm, NcdTerms, TargetSet

if TYPE_CHECKING:
    from .scorers import ScoringInputs

DEFAULT_WEIGHT = 0.75  # w; measured across kinds and compressors (README, BENCHMARKS.md)
DEFAULT_BACKGROUND_SIZE = 128  # records sampled from the sources when no file is given


@dataclass(frozen=True)
class ContrastSettings:
    """The contrast method's own options (the CLI's --contrast-weight)."""

    contrast_weight: float = DEFAULT_WEIGHT  # w


class ContrastScorer:
    """Scores a text by `weight` × its mean NCD to the background minus its mean NCD to the
    targets. Picklable: each process rebuilds the compressors' state from the texts.
    """

    settings = ContrastSettings
    needs_background = True

    def __init__(self, targets: TargetSet, background: TargetSet, weight: float = DEFAULT_WEIGHT) -> None:
        checks.number("the contrast weight", weight, 0.0, setting="contrast_weight")
        self.targets = targets
        self.background = background
        self.weight = weight
        self.copies = background.positions()  # to leave x's own copies out of its background mean

    @classmethod
    def from_texts(
        cls,
        targets: Sequence[str | bytes],
        background: Sequence[str | bytes],
        compressor: str | Compressor = "gzip",
        level: int | None = None,
        weight: float = DEFAULT_WEIGHT,
    ) -> ContrastScorer:
        checks.texts("targets", targets)
        checks.texts("background", background, empty_ok=True, blank_ok=True)
        comp = get_compressor(compressor, level) if isinstance(compressor, str) else compressor
        if not background:
            raise checks.ArgumentError(
                "the background is empty: give at least one background record", setting="background"
            )
        return cls(
            TargetSet([encode_text(t) for t in targets], comp),
            TargetSet([encode_text(b) for b in background], comp),
            weight,
        )

    @classmethod
    def from_inputs(cls, inputs: ScoringInputs) -> ContrastScorer:
        if inputs.background is None:
            raise UsageError("the contrast method needs a background", setting="background")
        settings: ContrastSettings = inputs.settings or ContrastSettings()
        return cls.from_texts(
            inputs.targets, inputs.background, inputs.compressor, weight=settings.contrast_weight
        )

    @property
    def comparisons(self) -> int:
        return len(self.targets) + len(self.background)

    def describe(self) -> dict[str, Any]:
        return {
            **self.targets.describe(),
            "method": "contrast",
            "background_size": len(self.background),
            "background_sha256": self.background.digest(),
            "contrast_weight": self.weight,
        }

    def ncd_terms(self) -> NcdTerms:
        """−1 × mean NCD to the targets, then weight × mean NCD to the background without
        the record's own copies (`score` gives the same float: see adaptive.py)."""
        return NcdTerms(
            0.0, (NcdTerm(-1.0, self.targets), NcdTerm(self.weight, self.background, leave_out_copies=True))
        )

    def background_ncd(self, text: bytes) -> float:
        """Mean NCD of `text` to the background, its own copies there left out."""
        copies = self.copies.get(text)
        if copies is None:
            return self.background.mean_ncd(text)
        return self.background.mean_ncd_excluding(text, copies)

    def terms(self, text: bytes) -> tuple[float, float]:
        """(mean NCD to the background, copies of `text` left out; mean NCD to the targets)."""
        return self.background_ncd(text), self.targets.mean_ncd(text)

    def score(self, text: bytes) -> float:
        to_background, to_targets = self.terms(text)
        return self.weight * to_background - to_targets

    def __getstate__(self) -> dict[str, Any]:
        return {"targets": self.targets, "background": self.background, "weight": self.weight}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

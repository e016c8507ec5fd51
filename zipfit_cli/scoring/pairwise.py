"""ZIP-FIT alignment: pure functions of bytes, no I/O.

NCD(x, t) = (C(x + t) - min(C(x), C(t))) / max(C(x), C(t)), source first;
alignment(x) = 1 - mean over targets of NCD(x, t). Higher means closer to the target.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..base import checks
from ..files.records import encode_text
from .compressors import Compressor, get_compressor

if TYPE_CHECKING:
    from .scorers import ScoringInputs


def ncd(c_x: int, c_t: int, c_xt: int) -> float:
    """Normalized compression distance from three compressed lengths (bytes)."""
    lo, hi = (c_x, c_t) if c_x < c_t else (c_t, c_x)
    return (c_xt - lo) / hi


def texts_digest(texts: Iterable[bytes]) -> str:
    """sha256 over texts in order (length-prefixed), to make runs reproducible."""
    h = hashlib.sha256()
    for t in texts:
        h.update(len(t).to_bytes(8, "little"))
        h.update(t)
    return h.hexdigest()


@dataclass
class TargetSet:
    """Target texts with their compressed sizes, computed once and shipped once per worker.

    It is the `pairwise` scorer: the paper's alignment, one compression per target.
    """

    texts: list[bytes]
    compressor: Compressor
    sizes: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.texts:
            raise checks.ArgumentError("the target set is empty: give at least one target example")
        if not self.sizes:
            self.sizes = [self.compressor.size(t) for t in self.texts]
        self._sizes = self.compressor.sizer(self.texts)

    def __getstate__(self) -> dict[str, Any]:
        # The prepared pair sizer is a closure; each process rebuilds it.
        return {"texts": self.texts, "compressor": self.compressor, "sizes": self.sizes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._sizes = self.compressor.sizer(self.texts)

    @classmethod
    def from_texts(
        cls, texts: Iterable[str | bytes], compressor: str | Compressor = "gzip", level: int | None = None
    ) -> TargetSet:
        texts = list(checks.many("texts", texts))
        checks.texts("texts", texts)
        comp = get_compressor(compressor, level) if isinstance(compressor, str) else compressor
        return cls([encode_text(t) for t in texts], comp)

    @classmethod
    def from_inputs(cls, inputs: ScoringInputs) -> TargetSet:
        return cls(list(inputs.targets), inputs.compressor)

    def __len__(self) -> int:
        return len(self.texts)

    def digest(self) -> str:
        return texts_digest(self.texts)

    def positions(self) -> dict[bytes, frozenset[int]]:
        """Each distinct text's positions (to leave a record's own copies out of its mean)."""
        found: dict[bytes, list[int]] = {}
        for j, text in enumerate(self.texts):
            found.setdefault(text, []).append(j)
        return {text: frozenset(js) for text, js in found.items()}

    @property
    def comparisons(self) -> int:
        return len(self.texts)

    def describe(self) -> dict[str, Any]:
        return {
            "method": "pairwise",
            "compressor": self.compressor.name,
            "level": self.compressor.level,
            "n_targets": len(self.texts),
            "target_sha256": self.digest(),
        }

    def mean_ncd(self, source: bytes) -> float:
        """Mean NCD of `source` against every target: 0 for identical, about 1 for unrelated."""
        c_x, pairs = self._sizes(source)
        total = 0.0
        for c_t, c_xt in zip(self.sizes, pairs, strict=True):
            lo, hi = (c_x, c_t) if c_x < c_t else (c_t, c_x)
            total += (c_xt - lo) / hi
        return total / len(self.sizes)

    def ncds(self, source: bytes) -> list[float]:
        """NCD of `source` against each target, in target order (summed in that order and
        divided by their count, they give `mean_ncd`'s float bit for bit)."""
        c_x, pairs = self._sizes(source)
        found: list[float] = []
        for c_t, c_xt in zip(self.sizes, pairs, strict=True):
            lo, hi = (c_x, c_t) if c_x < c_t else (c_t, c_x)
            found.append((c_xt - lo) / hi)
        return found

    def mean_ncd_excluding(self, source: bytes, skip: Collection[int]) -> float:
        """Mean NCD over the targets whose positions are not in `skip` (all, if that is every one)."""
        c_x, pairs = self._sizes(source)
        total, n = 0.0, 0
        for j, (c_t, c_xt) in enumerate(zip(self.sizes, pairs, strict=True)):
            if j not in skip or len(skip) >= len(self.sizes):
                lo, hi = (c_x, c_t) if c_x < c_t else (c_t, c_x)
                total += (c_xt - lo) / hi
                n += 1
        return total / n

    def alignment(self, source: str | bytes) -> float:
        """1 - mean NCD of `source` against every target; usually within [0, 1]."""
        if not isinstance(source, str | bytes):
            raise TypeError(f"source must be str or bytes, not {type(source).__name__}")
        return 1.0 - self.mean_ncd(encode_text(source))

    def score(self, text: bytes) -> float:
        return 1.0 - self.mean_ncd(text)  # the same float as self.ncd_terms().score(text)

    def ncd_terms(self) -> NcdTerms:
        return NcdTerms(1.0, (NcdTerm(-1.0, self),))

    def alignments(self, sources: Sequence[str | bytes]) -> list[float]:
        return [self.alignment(s) for s in sources]


@dataclass(frozen=True)
class NcdTerm:
    """weight × the mean NCD of a record to `texts` (source first). With `leave_out_copies`,
    texts byte-identical to the record leave its mean (all count if every one is a copy),
    so that a record drawn into the texts scores as if it had not been."""

    weight: float
    texts: TargetSet
    leave_out_copies: bool = False

    def mean(self, text: bytes) -> float:
        if self.leave_out_copies:
            copies = [j for j, other in enumerate(self.texts.texts) if other == text]
            if copies:
                return self.texts.mean_ncd_excluding(text, copies)
        return self.texts.mean_ncd(text)


@dataclass(frozen=True)
class NcdTerms:
    """A score described as offset + Σ weight × mean NCD, summed in the terms' order: what
    a scorer's `ncd_terms()` returns so that `--adaptive` (adaptive.py) can bound it from
    part of the comparisons. Its `score` must give the float `combine` gives for the exact
    means, bit for bit: the adaptive scorer computes a record's exact score that way."""

    offset: float
    terms: tuple[NcdTerm, ...]

    def combine(self, means: Iterable[float]) -> float:
        total = self.offset
        for term, mean in zip(self.terms, means, strict=True):
            total += term.weight * mean
        return total

    def score(self, text: bytes) -> float:
        """The score, every text compared: a method may use it as its own `score`."""
        return self.combine(term.mean(text) for term in self.terms)


@runtime_checkable
class HasNcdTerms(Protocol):
    """A scorer whose score is a sum of mean-NCD terms (the ones `--adaptive` can stop)."""

    def ncd_terms(self) -> NcdTerms: ...

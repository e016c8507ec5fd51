"""Decontamination: find source records that are near-copies of a target example.

Two criteria, checked in this order (a record is flagged by the first that matches):

A. Long n-gram overlap (default on, n = 13, as in GPT-3's decontamination). Texts are
   normalised to lowercase word tokens: maximal runs of letters and digits, so all
   whitespace, punctuation and underscores only separate words. A record is flagged
   when it shares at least `min_shared` distinct n-grams with one target, or when it
   contains the whole token sequence of a target shorter than n words. (A target of one
   or two common words would match almost everything; keep such targets out of the set.)
B. Per-pair NCD (off unless `ncd_threshold` is given): flagged when NCD(x, t) <= threshold
   for some target, with the source first, as in scoring. This finds copies with edits
   that break every n-gram, but only when x and t have similar lengths: a target pasted
   into a long document has a large NCD and is left to criterion A.

Criterion A costs about 85 µs for a 600-character record, whatever the number of
targets. Criterion B compresses x with each target of a similar compressed size, like
scoring does; targets whose size alone rules them out are skipped (see `_candidates`).
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..base import checks
from ..base.errors import UsageError
from ..scoring.compressors import Compressor, get_compressor
from ..scoring.pairwise import ncd

_WORD = re.compile(r"[^\W_]+")

# Margin for the size prefilter of criterion B, which assumes C(x + t) >= max(C(x), C(t)).
# On sample_data (24,000 pairs) C(x + t) - max(C(x), C(t)) was at least 75 bytes for gzip,
# lz4 and zstd; near-copies come closest, and this keeps a margin for them.
SIZE_SLACK = 32


def words(text: str | bytes) -> list[str]:
    """Lowercase word tokens of `text`: runs of letters and digits."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Contamination:
    """Why a record was flagged: the criterion, the 0-based target index and a detail."""

    criterion: str  # "ngram", "contains" or "ncd"
    target: int
    detail: str
    evidence: str | float = ""  # the shared words, or the NCD

    @property
    def reason(self) -> str:
        return f"{self.detail} target {self.target}"


class Decontaminator:
    """Flags records that near-copy a target (see the module docs); build with `from_targets`.

    Picklable, and cheap to pickle: it carries the targets' words (and texts, for NCD)
    and rebuilds its n-gram index in each process on first use. Python's string hashes
    differ between processes, so the index itself must never cross one.
    """

    def __init__(
        self,
        target_words: list[tuple[str, ...]],
        ngram: int | None = 13,
        min_shared: int = 1,
        ncd_threshold: float | None = None,
        compressor: Compressor | None = None,
        target_texts: list[bytes] | None = None,
        target_names: list[str | None] | None = None,
    ) -> None:
        if ngram is None and ncd_threshold is None:
            raise UsageError("decontamination needs a criterion: an n-gram length or an NCD threshold")
        if ngram is not None and ngram < 1:
            raise checks.ArgumentError(f"the n-gram length must be at least 1, not {ngram}")
        if min_shared < 1:
            raise checks.ArgumentError(f"min_shared must be at least 1, not {min_shared}")
        if ncd_threshold is not None:
            if not 0.0 <= ncd_threshold < 1.0:
                raise checks.ArgumentError(f"the NCD threshold must be in [0, 1), not {ncd_threshold}")
            if compressor is None or target_texts is None:
                raise UsageError("an NCD threshold needs a compressor and the target texts")
        self.target_words = target_words
        self.ngram = ngram
        self.min_shared = min_shared
        self.ncd_threshold = ncd_threshold
        self.compressor = compressor
        self.target_texts = target_texts if ncd_threshold is not None else None
        self.target_names = target_names  # ids of the targets, where they have one
        self._built = False

    @classmethod
    def from_targets(
        cls,
        texts: Sequence[str | bytes],
        ngram: int | None = 13,
        min_shared: int = 1,
        ncd_threshold: float | None = None,
        compressor: str | Compressor = "gzip",
        level: int | None = None,
        names: Sequence[str | None] | None = None,
    ) -> Decontaminator:
        """A decontaminator for these targets; `ngram=None` turns criterion A off. `names`
        (the targets' ids, None where one has none) are what `explain` reports."""
        texts = list(checks.many("texts", texts))
        checks.texts("texts", texts, empty_ok=True)  # empty: refused below, as the CLI words it
        encoded = [t.encode("utf-8") if isinstance(t, str) else t for t in texts]
        if not encoded:
            raise checks.ArgumentError("the target set is empty: give at least one target example")
        comp = None
        if ncd_threshold is not None:
            comp = get_compressor(compressor, level) if isinstance(compressor, str) else compressor
        named = list(names) if names is not None else None
        return cls([tuple(words(t)) for t in encoded], ngram, min_shared, ncd_threshold, comp, encoded, named)

    def __len__(self) -> int:
        return len(self.target_words)

    def _build(self) -> None:
        # n-gram hash -> the target that has it, or -1 when several do (then see _multi).
        self._index: dict[int, int] = {}
        self._multi: dict[int, set[int]] = {}
        # For targets shorter than n words: length -> {hash of all their words: target}.
        self._short: dict[int, dict[int, int]] = {}
        n = self.ngram
        if n is not None:
            for j, toks in enumerate(self.target_words):
                if not toks:
                    continue  # no words: criterion A cannot match it
                if len(toks) < n:
                    self._short.setdefault(len(toks), {}).setdefault(hash(" ".join(toks)), j)
                    continue
                for i in range(len(toks) - n + 1):
                    self._add(hash(" ".join(toks[i : i + n])), j)
        if self.ncd_threshold is not None:
            assert self.compressor is not None and self.target_texts is not None
            size = self.compressor.size
            self._sizes = [size(t) for t in self.target_texts]
            self._by_size = sorted((c, j) for j, c in enumerate(self._sizes))
            self._sorted_sizes = [c for c, _ in self._by_size]
        self._built = True

    def _add(self, h: int, j: int) -> None:
        owner = self._index.get(h)
        if owner is None:
            self._index[h] = j
        elif owner >= 0 and owner != j:
            self._index[h] = -1
            self._multi[h] = {owner, j}
        elif owner < 0:
            self._multi[h].add(j)

    def check(self, text: str | bytes) -> str | None:
        """None for a clean record, else a short reason like "13-gram overlap with target 7"."""
        if not isinstance(text, str | bytes):
            raise TypeError(f"text must be str or bytes, not {type(text).__name__}")
        hit = self.find(text)
        return None if hit is None else hit.reason

    def explain(self, hit: Contamination) -> dict[str, Any]:
        """What a near-copy shares with which target: its id (or 0-based position) and the
        matching words, or the NCD."""
        name = self.target_names[hit.target] if self.target_names else None
        why: dict[str, Any] = {"criterion": hit.criterion, "target": hit.target if name is None else name}
        why["ncd" if hit.criterion == "ncd" else "match"] = hit.evidence
        return why

    def find(self, text: str | bytes) -> Contamination | None:
        """The first criterion that flags `text`, or None."""
        if not self._built:
            self._build()
        if self.ngram is not None:
            hit = self._find_ngram(words(text), self.ngram)
            if hit is not None:
                return hit
        if self.ncd_threshold is not None:
            data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
            return self._find_ncd(data, self.ncd_threshold)
        return None

    def _find_ngram(self, toks: list[str], n: int) -> Contamination | None:
        index, multi, need = self._index, self._multi, self.min_shared
        if index and len(toks) >= n:
            shared: Counter[int] = Counter()
            seen: set[int] = set()
            for i in range(len(toks) - n + 1):
                h = hash(" ".join(toks[i : i + n]))
                owner = index.get(h)
                if owner is None or h in seen:
                    continue
                seen.add(h)
                for j in sorted(multi[h]) if owner < 0 else (owner,):
                    shared[j] += 1
                    if shared[j] >= need:
                        return Contamination("ngram", j, f"{n}-gram overlap with", " ".join(toks[i : i + n]))
        for m, wanted in self._short.items():
            for i in range(len(toks) - m + 1):
                whole = wanted.get(hash(" ".join(toks[i : i + m])))
                if whole is not None:
                    words_ = " ".join(toks[i : i + m])
                    return Contamination("contains", whole, f"contains all {m} words of", words_)
        return None

    def _candidates(self, c_x: int, threshold: float) -> list[int]:
        """Targets whose NCD to x can be <= threshold, judging by compressed sizes alone.

        With C(x + t) >= max(C(x), C(t)) - SIZE_SLACK, NCD(x, t) >= (max - min - SLACK) / max,
        so only C(t) in [C(x)(1 - threshold) - SLACK, (C(x) + SLACK) / (1 - threshold)] can match.
        """
        lo = c_x * (1.0 - threshold) - SIZE_SLACK
        hi = (c_x + SIZE_SLACK) / (1.0 - threshold)
        a = bisect.bisect_left(self._sorted_sizes, lo)
        b = bisect.bisect_right(self._sorted_sizes, hi)
        return sorted(j for _, j in self._by_size[a:b])

    def _find_ncd(self, data: bytes, threshold: float) -> Contamination | None:
        assert self.compressor is not None and self.target_texts is not None
        c_x = self.compressor.size(data)
        js = self._candidates(c_x, threshold)
        if not js:
            return None
        c_xts = self.compressor.pair_sizes(data, [self.target_texts[j] for j in js])
        best_d, best_j = min((ncd(c_x, self._sizes[j], c_xt), j) for j, c_xt in zip(js, c_xts, strict=True))
        if best_d <= threshold:
            return Contamination("ncd", best_j, f"NCD {best_d:.3f} <= {threshold:g} to", best_d)
        return None

    def __getstate__(self) -> dict[str, Any]:
        return {
            "target_words": self.target_words,
            "ngram": self.ngram,
            "min_shared": self.min_shared,
            "ncd_threshold": self.ncd_threshold,
            "compressor": self.compressor,
            "target_texts": self.target_texts,
            "target_names": self.target_names,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

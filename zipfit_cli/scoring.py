"""ZIP-FIT alignment: pure functions of bytes, no I/O.

NCD(x, t) = (C(x + t) - min(C(x), C(t))) / max(C(x), C(t)), source first;
alignment(x) = 1 - mean over targets of NCD(x, t). Higher means closer to the target.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .compressors import Compressor, get_compressor
from .errors import UsageError


def ncd(c_x: int, c_t: int, c_xt: int) -> float:
    """Normalized compression distance from three compressed lengths (bytes)."""
    lo, hi = (c_x, c_t) if c_x < c_t else (c_t, c_x)
    return (c_xt - lo) / hi


@dataclass
class TargetSet:
    """Target texts with their compressed sizes, computed once and shipped once per worker."""

    texts: list[bytes]
    compressor: Compressor
    sizes: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.texts:
            raise UsageError("the target set is empty: give at least one target example")
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
        comp = get_compressor(compressor, level) if isinstance(compressor, str) else compressor
        encoded = [t.encode("utf-8", "surrogatepass") if isinstance(t, str) else t for t in texts]
        return cls(encoded, comp)

    def __len__(self) -> int:
        return len(self.texts)

    def digest(self) -> str:
        """sha256 over the target texts in order (length-prefixed), to make runs reproducible."""
        h = hashlib.sha256()
        for t in self.texts:
            h.update(len(t).to_bytes(8, "little"))
            h.update(t)
        return h.hexdigest()

    def alignment(self, source: str | bytes) -> float:
        """1 - mean NCD of `source` (str, or UTF-8 bytes) against every target; usually within [0, 1]."""
        if isinstance(source, str):
            source = source.encode("utf-8", "surrogatepass")
        c_x, pairs = self._sizes(source)
        total = 0.0
        for c_t, c_xt in zip(self.sizes, pairs, strict=True):
            lo, hi = (c_x, c_t) if c_x < c_t else (c_t, c_x)
            total += (c_xt - lo) / hi
        return 1.0 - total / len(self.sizes)

    def alignments(self, sources: Sequence[bytes]) -> list[float]:
        return [self.alignment(s) for s in sources]

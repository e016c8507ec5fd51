"""The Python cost of --adaptive's checks per record, with the compressions taken out.

Scores 3,000 benchmark sources against the 40 benchmark targets with `AdaptiveScorer`
(gzip-9, threshold 0.195, about the final K-th best of the top 1% in BENCHMARKS.md §9),
after replacing the compressor by a lookup of sizes computed beforehand: what remains is
the bound, the checkpoints and the bookkeeping, in µs a record (best of 5 runs).

    python benchmarks/adaptive_overhead.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import iter_sources, make_targets

from zipfit_cli.scoring.adaptive import AdaptiveScorer
from zipfit_cli.scoring.pairwise import TargetSet


def main() -> int:
    texts = [text.encode() for _, text in zip(range(3000), iter_sources(3000), strict=False)]
    targets = TargetSet.from_texts(make_targets(40), "gzip", 9)
    getter = targets.compressor.pair_getter(targets.texts)
    sizes: dict[bytes, tuple[int, list[int]]] = {}
    for text in texts:
        c_x, pair = getter(text)
        sizes[text] = (c_x, [pair(j) for j in range(len(targets))])

    def replay(text: bytes) -> tuple[int, Callable[[int], int]]:
        c_x, pairs = sizes[text]
        return c_x, pairs.__getitem__

    best = float("inf")
    for _ in range(5):
        scorer = AdaptiveScorer(targets)
        scorer._getters = [replay]  # the compressor, taken out
        start = time.perf_counter()
        for text in texts:
            scorer.score(text, 0.195)
        best = min(best, time.perf_counter() - start)
    print(f"{best / len(texts) * 1e6:.1f} µs a record of Python in AdaptiveScorer.score")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`--method corpus` against the paper's pairwise score on sample_data: speed and agreement.

Agreement is the overlap of the top 10% with the pairwise gzip level 9 top 10% (the
paper's method); "python share" is the share of in-domain records (Python functions,
15% of the corpus) in each top 10%. Run: python benchmarks/corpus_mode.py
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import orjson

from zipfit_cli.scoring.corpus import CorpusScorer
from zipfit_cli.scoring.pairwise import TargetSet

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


def _load() -> tuple[list[bytes], list[str], list[bytes]]:
    records = [orjson.loads(line) for line in (SAMPLE / "source.jsonl").open("rb")]
    targets = [
        (r["prompt"] + r["canonical_solution"]).encode()
        for r in map(orjson.loads, (SAMPLE / "target.jsonl").open("rb"))
    ]
    return [r["text"].encode() for r in records], [r["source"] for r in records], targets


def _timed(score: Callable[[bytes], float], sources: list[bytes]) -> tuple[list[float], float]:
    score(sources[0])  # native objects are built on first use
    t0 = time.perf_counter()
    scores = [score(x) for x in sources]
    return scores, (time.perf_counter() - t0) / len(sources) * 1e6


def main() -> None:
    sources, kinds, targets = _load()
    n, top_n = len(sources), len(sources) // 10

    def top(scores: list[float]) -> set[int]:
        return set(sorted(range(n), key=lambda i: (-scores[i], i))[:top_n])

    size = sum(map(len, targets))
    print(f"{n:,} sources x {len(targets)} targets ({size:,} bytes); top 10% = {top_n} records")
    print(f"   {'method':<20} {'µs/source':>10} {'overlap':>8} {'python share':>13}")
    reference: set[int] | None = None
    runs: list[tuple[str, Callable[[bytes], float]]] = []
    for name, level in (("gzip", 9), ("lz4", 0), ("zstd", 3)):
        runs.append((f"pairwise {name}:{level}", TargetSet.from_texts(targets, name, level).alignment))
    for name, level in (("gzip", 9), ("gzip", 1), ("lz4", 0), ("zstd", 1), ("zstd", 3), ("zstd", 9)):
        runs.append((f"corpus {name}:{level}", CorpusScorer.from_targets(targets, name, level).score))
    for label, score in runs:
        scores, us = _timed(score, sources)
        best = top(scores)
        reference = reference or best
        share = sum(kinds[i] == "python" for i in best) / top_n
        print(f"   {label:<20} {us:>10.1f} {len(best & reference) / top_n:>8.2f} {share:>13.2f}")


if __name__ == "__main__":
    main()

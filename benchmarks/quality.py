"""Selection-quality benchmark for the contrastive ZIP-FIT score on sample_data.

For each kind k of record (the `source` field), hold out targets T and evaluation records E of kind k,
score the rest of the records (the pool P), take the top K (K = number of kind-k records in P), and
report:
  share  - share of kind k in the top K (1.0 = perfect, K/|P| = random);
  bpc    - bits/char on E of an order-4 interpolated Witten-Bell character model trained on the top K
           (coverage: a narrow selection that misses what E looks like scores worse; lower is better).

Methods: a random K-sample of P, the paper's score (1 - mean NCD to T), and the contrastive score
  contrast(x) = weight * mean_{b in B} NCD(x, b) - mean_{t in T} NCD(x, t),
with B a seeded uniform sample of P (the background); a record's pair with itself is left out.
Scores come from zipfit's own TargetSet and ContrastScorer.

    python benchmarks/quality.py          # gzip:9 and lz4:0, backgrounds of 32/128/256, 2 seeds each
    python benchmarks/quality.py --quick  # lz4:0 only, one background seed: about a minute
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import orjson

import zipfit_cli
from zipfit_cli.files.records import encode_text
from zipfit_cli.scoring.compressors import Compressor, get_compressor
from zipfit_cli.scoring.contrast import ContrastScorer
from zipfit_cli.scoring.pairwise import TargetSet

DEFAULT_DATA = Path(zipfit_cli.__file__).resolve().parents[1] / "sample_data" / "source.jsonl"
ORDER = 4  # n-gram model order: contexts of up to 4 characters


# --------------------------------------------------------------------------------------------
# Scoring: zipfit's own scorers, so the benchmark measures what the tool ships.
# --------------------------------------------------------------------------------------------


def paper_scores(
    pool_texts: Sequence[bytes], targets: Sequence[bytes], compressor: Compressor
) -> list[float]:
    """The paper's alignment, 1 - mean NCD to the targets (`--method pairwise`)."""
    scorer = TargetSet(list(targets), compressor)
    return [scorer.score(x) for x in pool_texts]


def contrast_terms(
    pool_texts: Sequence[bytes], targets: Sequence[bytes], background: Sequence[bytes], compressor: Compressor
) -> list[tuple[float, float]]:
    """(mean NCD to the background, mean NCD to the targets) per pool text, as `--contrast` computes
    them (a background text identical to the record is left out); any weight combines them."""
    scorer = ContrastScorer(TargetSet(list(targets), compressor), TargetSet(list(background), compressor))
    return [scorer.terms(x) for x in pool_texts]


# --------------------------------------------------------------------------------------------
# Coverage metric: interpolated Witten-Bell character n-gram model.
# --------------------------------------------------------------------------------------------


def bits_per_char(train: Sequence[str], evaluation: Sequence[str], vocab: int) -> float:
    """Bits/char on `evaluation` of an order-ORDER interpolated Witten-Bell model fit on `train`.

    P(w | h) = (c(h w) + T(h) P(w | h')) / (c(h) + T(h)) when c(h) > 0, else P(w | h'), where h' is h
    without its first character, T(h) the number of distinct characters seen after h, and the
    order -1 model is uniform over `vocab` characters. Texts start with ORDER padding characters.
    """
    pad = "\x00" * ORDER
    grams: Counter[str] = Counter()
    for text in train:
        s = pad + text
        grams.update(s[i - ORDER : i + 1] for i in range(ORDER, len(s)))
    # counts[n][h w] for context length n, derived from the (ORDER+1)-grams by suffix.
    counts: list[Counter[str]] = [Counter() for _ in range(ORDER + 1)]
    for gram, c in grams.items():
        for n in range(ORDER + 1):
            counts[n][gram[ORDER - n :]] += c
    context_total: list[Counter[str]] = [Counter() for _ in range(ORDER + 1)]
    context_types: list[Counter[str]] = [Counter() for _ in range(ORDER + 1)]
    for n in range(ORDER + 1):
        for gram, c in counts[n].items():
            context_total[n][gram[:-1]] += c
            context_types[n][gram[:-1]] += 1
    bits, chars = 0.0, 0
    for text in evaluation:
        s = pad + text
        for i in range(ORDER, len(s)):
            p = 1.0 / vocab
            for n in range(ORDER + 1):
                h = s[i - n : i]
                total = context_total[n].get(h, 0)
                if total:
                    types = context_types[n][h]
                    p = (counts[n].get(s[i - n : i + 1], 0) + types * p) / (total + types)
            bits -= math.log2(p)
            chars += 1
    return bits / chars


# --------------------------------------------------------------------------------------------
# Benchmark.
# --------------------------------------------------------------------------------------------


def top_k(scores: Sequence[float], k: int) -> list[int]:
    """Indices of the k highest scores (ties: lower index first)."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]


Row = tuple[str, str, list[float], list[float]]  # kind, method, shares, bits/char values


def benchmark_kind(
    kind: str,
    texts: list[str],
    kinds: list[str],
    compressors: dict[str, Compressor],
    sizes: list[int],
    weights: list[float],
    bg_seeds: int,
    args: argparse.Namespace,
    start: float,
) -> list[Row]:
    """All methods for one kind: hold out targets and evaluation records, score the rest."""
    vocab = len(set("".join(texts)))
    members = [i for i, k in enumerate(kinds) if k == kind]
    held = random.Random(f"{args.seed}-{kind}").sample(members, args.targets + args.eval)
    targets = [encode_text(texts[i]) for i in held[: args.targets]]
    evaluation = [texts[i] for i in held[args.targets :]]
    excluded = set(held)
    pool = [i for i in range(len(texts)) if i not in excluded]
    pool_texts = [encode_text(texts[i]) for i in pool]
    k = sum(kinds[i] == kind for i in pool)
    rows: list[Row] = []

    def measure(chosen: Sequence[int]) -> tuple[float, float]:
        share = sum(kinds[pool[j]] == kind for j in chosen) / len(chosen)
        return share, bits_per_char([texts[pool[j]] for j in chosen], evaluation, vocab)

    def add(method: str, results: list[tuple[float, float]]) -> None:
        rows.append((kind, method, [s for s, _ in results], [b for _, b in results]))
        print(f"  {kind:8s} K={k:4d} {method:28s} {time.time() - start:6.0f}s", file=sys.stderr, flush=True)

    add("random", [measure(random.Random(f"{args.seed}-{kind}-random").sample(range(len(pool)), k))])
    for name, comp in compressors.items():
        add(f"paper {name}", [measure(top_k(paper_scores(pool_texts, targets, comp), k))])
        for size in sizes:
            results: dict[float, list[tuple[float, float]]] = {w: [] for w in weights}
            for s in range(bg_seeds):
                order = random.Random(f"{args.seed}-background-{s}").sample(range(len(pool)), len(pool))
                background = [pool_texts[j] for j in order[:size]]
                terms = contrast_terms(pool_texts, targets, background, comp)
                for w in weights:
                    results[w].append(measure(top_k([w * b - t for b, t in terms], k)))
            for w in weights:
                add(f"contrast {name} λ={w:g} B={size}", results[w])
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="JSONL with text and source fields")
    ap.add_argument("--quick", action="store_true", help="lz4 only, one background seed (~1-2 min)")
    ap.add_argument("--weights", default="0.75,1", help="background weights (lambda), comma-separated")
    ap.add_argument("--sizes", default="32,128,256", help="background sizes, comma-separated")
    ap.add_argument("--bg-seeds", type=int, default=2, help="background samples per size")
    ap.add_argument("--targets", type=int, default=40, help="target records per kind")
    ap.add_argument("--eval", type=int, default=30, help="held-out evaluation records per kind")
    ap.add_argument("--seed", type=int, default=0, help="seed for targets, evaluation and backgrounds")
    ap.add_argument("--kinds", default="", help="comma-separated kinds (default: all)")
    args = ap.parse_args(argv)

    records = [orjson.loads(line) for line in args.data.read_bytes().splitlines() if line.strip()]
    texts = [r["text"] for r in records]
    kinds = [r["source"] for r in records]
    sizes = [int(s) for s in args.sizes.split(",")]
    weights = [float(w) for w in args.weights.split(",")]
    bg_seeds = 1 if args.quick else args.bg_seeds
    compressors = {"lz4": get_compressor("lz4", 0)}
    if not args.quick:
        compressors = {"gzip-9": get_compressor("gzip", 9), **compressors}
    wanted = args.kinds.split(",") if args.kinds else sorted(set(kinds))

    start = time.time()
    rows: list[Row] = []
    for kind in wanted:
        rows += benchmark_kind(kind, texts, kinds, compressors, sizes, weights, bg_seeds, args, start)
    print_table(rows, wanted)
    print(
        f"\n{time.time() - start:.0f}s; targets {args.targets}, eval {args.eval}, seed {args.seed}, "
        f"background seeds {bg_seeds}; values are means (min-max) over background seeds"
    )
    return 0


def fmt(values: list[float], digits: int) -> str:
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def print_table(rows: list[Row], kinds: list[str]) -> None:
    methods = list(dict.fromkeys(method for _, method, _, _ in rows))
    cell = {(kind, method): (shares, bpcs) for kind, method, shares, bpcs in rows}
    for title, index, digits in (
        ("share of kind in top K (higher is better)", 0, 2),
        ("bits/char on held-out records of the kind (lower is better)", 1, 3),
    ):
        print(f"\n### {title}\n")
        print("| method | " + " | ".join(kinds) + " |")
        print("|---|" + "---|" * len(kinds))
        for method in methods:
            values = [fmt(cell[kind, method][index], digits) for kind in kinds]
            print(f"| {method} | " + " | ".join(values) + " |")


if __name__ == "__main__":
    sys.exit(main())

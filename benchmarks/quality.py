"""Selection-quality benchmark: zipfit's scores against random and DSIR on sample_data.

For each kind k of record (the `source` field), hold out targets T and evaluation records E of kind k,
let every method rank the rest of the records (the pool P), take its top K (K = number of kind-k
records in P), and measure the selection the ways users use one:
  share       - share of kind k in the top K (1.0 = perfect, K/|P| = random; higher is better);
  bits@200    - bits/char on E of a byte 5-gram model trained on the first 200 characters of every
                selected record (an equal budget per record);
  bits@budget - the same model trained on the records `select --budget-chars 200*K` writes from the
                selection (an equal character budget): by default the records in rank order
                while they fit, stopping before the first that would overflow (no record is
                cut); with the fill "shortest" (`--budget-fill shortest`) the shortest of the K
                while they fit (ties: the better-ranked first), in rank order. Both are the
                tool's own functions (selection/budget.py) with its "chars" counter;
  zstd        - bits/char of the E records, each compressed alone by zstd (level 19) with a 16 KiB
                dictionary trained on all K selected records in rank order, whatever the fill
                (the compressor's view of coverage; zstd's trainer is order-sensitive, so one set
                in two orders can differ by ~0.06).
The three bits measures are lower-is-better. For kinds made of sub-styles (records with a `style`
field), a last table counts the sub-styles of the kind among the bits@budget records.

Methods: a random K-sample of P; DSIR (the `data-selection` package: hashed word unigram and bigram
importance weights, fit on T against P) with its default Gumbel resampling and its top-K mode; the
paper's score (1 - mean NCD to T); and the contrastive score
  contrast(x) = weight * mean_{b in B} NCD(x, b) - mean_{t in T} NCD(x, t),
with B a seeded uniform sample of P (the background; a record's pair with itself is left out).
zipfit's scores come from its own TargetSet and ContrastScorer.

    python benchmarks/quality.py          # gzip:9 and lz4:0, B=128, 2 background seeds
    python benchmarks/quality.py --quick  # lz4:0 only, one background seed
    python benchmarks/quality.py --sizes 32,128,256 --kinds perl,config  # a background sweep
    python benchmarks/quality.py --sweep --save sweep.json  # rules x weights x sizes x blends
                                                            # against DSIR (quality_sweep.py)

DSIR needs the benchmark extra, `pip install -e '.[bench]'`; without it the other methods still run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import math
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import zstandard

from zipfit_cli import Compressor, ContrastScorer, TargetSet, get_compressor
from zipfit_cli.scoring.pairwise import ncd
from zipfit_cli.selection.budget import make_counter, take_shortest_within_budget, take_within_budget
from zipfit_cli.selection.coverage import coverage_count

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"
DEFAULT_DATA = [SAMPLE_DATA / "source.jsonl", SAMPLE_DATA / "styles.jsonl"]
ORDER = 4  # byte n-gram model: contexts of up to 4 bytes (5-grams)
PREFIX_CHARS = 200  # bits@200: characters from each selected record; bits@budget: 200*K in all
FILLS = ("rank", "shortest")  # `select --budget-fill`: how bits@budget spends its budget
CHARS = make_counter("chars")  # the tool's --budget-chars counter: code points, not bytes
DICT_BYTES = 16 * 1024
ZSTD_LEVEL = 19
DSIR_NOTE = "note: DSIR left out, the data-selection package is missing (pip install -e '.[bench]')"


def encode(text: str) -> bytes:
    """UTF-8 bytes, as zipfit reads a text (lone surrogates from JSON escapes are kept)."""
    return text.encode("utf-8", "surrogatepass")


@dataclass
class Data:
    texts: list[str]
    kinds: list[str]
    styles: list[str]  # "" for a record without sub-style


def load(paths: Sequence[Path]) -> Data:
    records = [
        orjson.loads(line) for path in paths for line in path.read_bytes().splitlines() if line.strip()
    ]
    return Data(
        [r["text"] for r in records], [r["source"] for r in records], [r.get("style", "") for r in records]
    )


# --------------------------------------------------------------------------------------------
# Coverage: an interpolated Witten-Bell byte n-gram model, and a zstd dictionary.
# --------------------------------------------------------------------------------------------


class ByteModel:
    """Order-ORDER interpolated Witten-Bell model over bytes.

    P(w | h) = (c(h w) + T(h) P(w | h')) / (c(h) + T(h)) when c(h) > 0, else P(w | h'), where h' is h
    without its first byte and T(h) the number of distinct bytes seen after h; below order 0 the
    model is uniform over 256 bytes. Every text starts with ORDER padding bytes.
    """

    def __init__(self, train: Iterable[bytes]) -> None:
        pad = b"\x00" * ORDER
        grams: Counter[bytes] = Counter()
        for text in train:
            s = pad + text
            grams.update(s[i - ORDER : i + 1] for i in range(ORDER, len(s)))
        # counts[n][h w] for context length n, derived from the (ORDER+1)-grams by suffix.
        self.counts: list[Counter[bytes]] = [Counter() for _ in range(ORDER + 1)]
        for gram, c in grams.items():
            for n in range(ORDER + 1):
                self.counts[n][gram[ORDER - n :]] += c
        self.total: list[Counter[bytes]] = [Counter() for _ in range(ORDER + 1)]
        self.types: list[Counter[bytes]] = [Counter() for _ in range(ORDER + 1)]
        for n in range(ORDER + 1):
            for gram, c in self.counts[n].items():
                self.total[n][gram[:-1]] += c
                self.types[n][gram[:-1]] += 1

    def bits(self, text: bytes) -> float:
        s = b"\x00" * ORDER + text
        bits = 0.0
        for i in range(ORDER, len(s)):
            p = 1.0 / 256
            for n in range(ORDER + 1):
                h = s[i - n : i]
                total = self.total[n].get(h, 0)
                if total:
                    types = self.types[n][h]
                    p = (self.counts[n].get(s[i - n : i + 1], 0) + types * p) / (total + types)
            bits -= math.log2(p)
        return bits


def budget_fill(texts: Sequence[str], budget: int, fill: str = "rank") -> list[int]:
    """Positions of `texts` (a selection, best first) that `select --budget-chars BUDGET
    --budget-fill FILL` writes, in rank order: "rank" takes records in order and stops before
    the first that would overflow; "shortest" takes the shortest while they fit (ties: the
    better-ranked first). The tool's own functions: no record is cut to fit."""
    if fill not in FILLS:
        raise ValueError(f"unknown budget fill {fill!r}; choose one of {FILLS}")
    take = take_shortest_within_budget if fill == "shortest" else take_within_budget
    return list(take(range(len(texts)), lambda i: CHARS(texts[i]), budget))


def zstd_bits(evaluation: Sequence[bytes], train: Sequence[bytes] | None) -> float:
    """Bits of the evaluation records, each compressed alone; with a dictionary trained on `train`."""
    dictionary = zstandard.train_dictionary(DICT_BYTES, list(train)) if train is not None else None
    compressor = zstandard.ZstdCompressor(
        level=ZSTD_LEVEL,
        dict_data=dictionary,
        write_checksum=False,
        write_content_size=False,
        write_dict_id=False,
    )
    return 8.0 * sum(len(compressor.compress(e)) for e in evaluation)


# --------------------------------------------------------------------------------------------
# One kind's task and the measures of a ranked selection.
# --------------------------------------------------------------------------------------------


@dataclass
class Task:
    kind: str
    pool: list[int]  # record indices; a selection is a list of positions in this list
    pool_bytes: list[bytes]
    targets: list[bytes]
    evaluation: list[bytes]
    eval_chars: int
    k: int


@dataclass
class Result:
    values: dict[str, float]
    styles: Counter[str] = field(default_factory=Counter)  # the kind's sub-styles in the budget prefix


def make_task(kind: str, data: Data, args: argparse.Namespace) -> Task:
    """Hold out targets and evaluation records of the kind; the rest is the pool."""
    members = [i for i, k in enumerate(data.kinds) if k == kind]
    held = random.Random(f"{args.seed}-{kind}").sample(members, args.targets + args.eval)
    excluded = set(held)
    pool = [i for i in range(len(data.texts)) if i not in excluded]
    return Task(
        kind=kind,
        pool=pool,
        pool_bytes=[encode(data.texts[i]) for i in pool],
        targets=[encode(data.texts[i]) for i in held[: args.targets]],
        evaluation=[encode(data.texts[i]) for i in held[args.targets :]],
        eval_chars=sum(len(data.texts[i]) for i in held[args.targets :]),
        k=sum(data.kinds[i] == kind for i in pool),
    )


def measure(task: Task, ranked: Sequence[int], data: Data, fill: str = "rank") -> Result:
    """Every measure of a selection: `ranked` holds K pool positions, best first; `fill` is how
    bits@budget spends its 200*K characters (FILLS). Only bits@budget and the sub-style count
    read the fill: share, bits@200 and zstd read all K records (zstd in rank order)."""
    chosen = [task.pool[j] for j in ranked]
    per_record = ByteModel(encode(data.texts[i][:PREFIX_CHARS]) for i in chosen)
    budgeted = [chosen[p] for p in budget_fill([data.texts[i] for i in chosen], PREFIX_CHARS * task.k, fill)]
    in_budget = ByteModel(encode(data.texts[i]) for i in budgeted)
    values = {
        "share": sum(data.kinds[i] == task.kind for i in chosen) / len(chosen),
        "bits@200": sum(per_record.bits(e) for e in task.evaluation) / task.eval_chars,
        "bits@budget": sum(in_budget.bits(e) for e in task.evaluation) / task.eval_chars,
        "zstd": zstd_bits(task.evaluation, [task.pool_bytes[j] for j in ranked]) / task.eval_chars,
    }
    styles = Counter(data.styles[i] for i in budgeted if data.kinds[i] == task.kind)
    return Result(values, styles)


def top_k(scores: Sequence[float], k: int) -> list[int]:
    """Indices of the k highest scores, best first (ties: lower index first)."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]


# --------------------------------------------------------------------------------------------
# Methods: zipfit's scorers (what the tool ships) and DSIR (the `data-selection` package).
# --------------------------------------------------------------------------------------------


def paper_scores(task: Task, compressor: Compressor) -> list[float]:
    """The paper's alignment, 1 - mean NCD to the targets (`--method pairwise`)."""
    scorer = TargetSet(list(task.targets), compressor)
    return [scorer.score(x) for x in task.pool_bytes]


def contrast_terms(
    task: Task, background: Sequence[bytes], compressor: Compressor
) -> list[tuple[float, float]]:
    """(mean NCD to the background, mean NCD to the targets) per pool text, as `--contrast` computes
    them (a background text identical to the record is left out); any weight combines them."""
    scorer = ContrastScorer(
        TargetSet(list(task.targets), compressor), TargetSet(list(background), compressor)
    )
    return [scorer.terms(x) for x in task.pool_bytes]


def write_lines(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    # json.dumps escapes non-ASCII: the package opens files in the locale's encoding.
    with path.open("w", encoding="ascii") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)


def dsir_rankings(task: Task, seed: int) -> dict[str, list[int]]:
    """DSIR's K pool positions, best first: its default resampling, ranked by the Gumbel-noised
    weight it samples with (so a prefix is a smaller DSIR sample), and its top-K mode, ranked by
    importance weight.

    The package's defaults (hashed word unigrams and bigrams, 10,000 buckets), except
    min_example_length=0: its default of 100 words drops over half of this pool (112 of the 150
    CMake records), so K could not be reached. One process; its files go to a temp dir.
    """
    import numpy as np
    from data_selection import HashedNgramDSIR

    n = len(task.pool_bytes)
    with tempfile.TemporaryDirectory(prefix="zipfit-dsir-") as tmp:
        root = Path(tmp)
        decoded = [t.decode("utf-8", "surrogatepass") for t in task.pool_bytes]
        write_lines(root / "pool.jsonl", ({"text": t, "i": j} for j, t in enumerate(decoded)))
        write_lines(
            root / "target.jsonl", ({"text": t.decode("utf-8", "surrogatepass")} for t in task.targets)
        )
        dsir = HashedNgramDSIR(
            [str(root / "pool.jsonl")],
            [str(root / "target.jsonl")],
            cache_dir=str(root / "cache"),
            num_proc=1,
            min_example_length=0,
        )
        rankings: dict[str, list[int]] = {}
        with contextlib.redirect_stderr(io.StringIO()):  # its progress bars
            dsir.fit_importance_estimator(num_tokens_to_fit="auto")
            dsir.compute_importance_weights()
            weights = np.load(root / "cache" / "log_importance_weights" / "0.npy")
            np.random.seed(seed)
            noisy = weights + np.random.gumbel(size=n)  # what resample() draws after the same seed
            for name, top, keys in (("DSIR resample", False, noisy), ("DSIR top-K", True, weights)):
                np.random.seed(seed)  # resample() draws from numpy's global generator
                out = root / f"out-{top}"
                dsir.resample(str(out), num_to_sample=task.k, cache_dir=str(root / f"tmp-{top}"), top_k=top)
                chosen = [
                    orjson.loads(line)["i"] for f in sorted(out.glob("*.jsonl")) for line in f.open("rb")
                ]
                rankings[name] = sorted(chosen, key=lambda j: (-keys[j], j))
                expected = set(sorted(range(n), key=lambda j: (-keys[j], j))[: task.k])
                if set(chosen) != expected:  # a tie at the K-th key, or the package changed
                    off = len(set(chosen) - expected)
                    print(f"  note: {name} chose {off} records outside its key order", file=sys.stderr)
    return rankings


# --------------------------------------------------------------------------------------------
# Per-target NCD matrices, and selection rules derived from them without recompressing.
# --------------------------------------------------------------------------------------------


def plain_mean(values: Sequence[float]) -> float:
    """Left-to-right total / n, the float TargetSet.mean_ncd gives (sum() compensates on 3.12+)."""
    total = 0.0
    for v in values:
        total += v
    return total / len(values)


def ncd_rows(texts: Sequence[bytes], against: TargetSet) -> list[list[float]]:
    """NCD (source first) of every text to each of `against`'s texts, from the set's cached
    compressed sizes and the compressor's pair sizer, as TargetSet.mean_ncd computes them."""
    sizer = against.compressor.sizer(against.texts)
    rows = []
    for x in texts:
        c_x, pairs = sizer(x)
        rows.append([ncd(c_x, c_t, c_xt) for c_t, c_xt in zip(against.sizes, pairs, strict=True)])
    return rows


def background_means(
    texts: Sequence[bytes], background: TargetSet, sizes: Sequence[int]
) -> dict[int, list[float]]:
    """Mean NCD of every text to the first `size` background texts, for each size, leaving out
    background texts identical to it (all count if every one is), as ContrastScorer.terms does:
    a background of 32 or 128 is a prefix of the draw of 256, so one pass serves every size."""
    sizer = background.compressor.sizer(background.texts)
    means: dict[int, list[float]] = {size: [] for size in sizes}
    for x in texts:
        c_x, pairs = sizer(x)
        total, kept, every = 0.0, 0, 0.0
        for j, (c_b, c_xb) in enumerate(zip(background.sizes, pairs, strict=True)):
            d = ncd(c_x, c_b, c_xb)
            every += d
            if background.texts[j] != x:
                total += d
                kept += 1
            if j + 1 in means:
                means[j + 1].append(total / kept if kept else every / (j + 1))
    return means


def contrast_rank(
    to_targets: Sequence[float], to_background: Sequence[float], weight: float, k: int
) -> list[int]:
    """The k best by weight x mean NCD to the background - mean NCD to the targets (`--contrast`;
    weight 0 ranks as the paper's score), best first, ties by pool position."""
    return top_k([weight * b - t for t, b in zip(to_targets, to_background, strict=True)], k)


def coverage_rank(
    rows: Sequence[Sequence[float]], penalty: Sequence[float], k: int, taken: Sequence[int] = ()
) -> list[int]:
    """The coverage rule: round robin over the targets in their order, each taking its nearest
    record not yet taken, nearest by rows[i][j] - penalty[i] (NCD to target j minus weight x
    background term; ties by pool position), until k records are taken. Records in `taken` (a
    blend's first part) come first and are never taken again. Returns pool positions in the
    order taken."""
    n, k = len(rows[0]), min(k, len(rows))
    orders = [sorted(range(len(rows)), key=lambda i, j=j: (rows[i][j] - penalty[i], i)) for j in range(n)]
    chosen, seen, cursors = list(taken)[:k], set(taken), [0] * n
    while len(chosen) < k:
        for j in range(n):
            if len(chosen) == k:
                break
            order, c = orders[j], cursors[j]
            while order[c] in seen:  # an untaken record exists while len(chosen) < k <= len(rows)
                c += 1
            cursors[j] = c + 1
            chosen.append(order[c])
            seen.add(order[c])
    return chosen


def mean_then_coverage(
    rows: Sequence[Sequence[float]], to_background: Sequence[float], weight: float, k: int, fraction: float
) -> list[int]:
    """Blend: round(fraction x k) records by contrast rank (the mean over targets), the rest by
    the coverage rule. Python's round (halves to even): this blend is no rule of the tool, and
    its rows in BENCHMARKS.md section 8 were measured so."""
    head = contrast_rank([plain_mean(r) for r in rows], to_background, weight, round(fraction * k))
    return coverage_rank(rows, [weight * b for b in to_background], k, taken=head)


def coverage_then_mean(
    rows: Sequence[Sequence[float]], to_background: Sequence[float], weight: float, k: int, fraction: float
) -> list[int]:
    """Blend: C records by the coverage rule, the rest by contrast rank; C = fraction x k rounded
    half up by the tool's own coverage_count (`select --coverage`), not Python's round (half to
    even), so the sweep measures the tool's selection."""
    head = coverage_rank(rows, [weight * b for b in to_background], coverage_count(fraction, k))
    seen = set(head)
    ranked = contrast_rank([plain_mean(r) for r in rows], to_background, weight, len(rows))
    return head + [i for i in ranked if i not in seen][: k - len(head)]


def quota_rank(
    rows: Sequence[Sequence[float]], to_background: Sequence[float], weight: float, k: int, slack: float
) -> list[int]:
    """Blend: a per-target quota with slack. Each target's q = ceil(ceil(k / n) x (1 + slack))
    nearest records (by NCD - weight x background term) are pooled and ranked by contrast score;
    if the pool holds fewer than k, the best-ranked records outside it fill the rest."""
    n = len(rows[0])
    q = math.ceil(math.ceil(k / n) * (1 + slack))
    pooled: set[int] = set()
    for j in range(n):
        pooled.update(
            sorted(range(len(rows)), key=lambda i, j=j: (rows[i][j] - weight * to_background[i], i))[:q]
        )
    ranked = contrast_rank([plain_mean(r) for r in rows], to_background, weight, len(rows))
    return ([i for i in ranked if i in pooled] + [i for i in ranked if i not in pooled])[:k]


# --------------------------------------------------------------------------------------------
# Benchmark.
# --------------------------------------------------------------------------------------------

Rows = dict[tuple[str, str], list[Result]]  # (kind, method) -> a result per background seed


def benchmark_kind(
    task: Task,
    data: Data,
    compressors: dict[str, Compressor],
    sizes: list[int],
    weights: list[float],
    bg_seeds: int,
    args: argparse.Namespace,
    start: float,
) -> Rows:
    """Every method on one kind's task."""
    rows: Rows = {}

    def add(method: str, rankings: list[list[int]]) -> None:
        rows[task.kind, method] = [measure(task, r, data) for r in rankings]
        print(
            f"  {task.kind:8s} K={task.k:4d} {method:26s} {time.time() - start:6.0f}s",
            file=sys.stderr,
            flush=True,
        )

    add("random", [random.Random(f"{args.seed}-{task.kind}-random").sample(range(len(task.pool)), task.k)])
    if args.dsir:
        for method, ranking in dsir_rankings(task, args.seed).items():
            add(method, [ranking])
    for name, comp in compressors.items():
        add(f"paper {name}", [top_k(paper_scores(task, comp), task.k)])
        for size in sizes:
            ranked: dict[float, list[list[int]]] = {w: [] for w in weights}
            for s in range(bg_seeds):
                order = random.Random(f"{args.seed}-background-{s}").sample(
                    range(len(task.pool)), len(task.pool)
                )
                terms = contrast_terms(task, [task.pool_bytes[j] for j in order[:size]], comp)
                for w in weights:
                    ranked[w].append(top_k([w * b - t for b, t in terms], task.k))
            for w in weights:
                add(f"contrast {name} λ={w:g} B={size}", ranked[w])
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data", type=Path, nargs="+", default=DEFAULT_DATA, help="JSONL with text and source fields"
    )
    ap.add_argument("--quick", action="store_true", help="lz4 only, one background seed")
    ap.add_argument("--weights", default="0.75,1", help="background weights (lambda), comma-separated")
    ap.add_argument("--sizes", default="128", help="background sizes, comma-separated")
    ap.add_argument("--bg-seeds", type=int, default=2, help="background samples per size")
    ap.add_argument("--targets", type=int, default=40, help="target records per kind")
    ap.add_argument("--eval", type=int, default=30, help="held-out evaluation records per kind")
    ap.add_argument("--seed", type=int, default=0, help="seed for targets, evaluation, backgrounds and DSIR")
    ap.add_argument("--kinds", default="", help="comma-separated kinds (default: all)")
    ap.add_argument("--no-dsir", dest="dsir", action="store_false", help="leave DSIR out")
    sweep = ap.add_argument_group("the rule sweep (issue 20; benchmarks/quality_sweep.py)")
    sweep.add_argument("--sweep", action="store_true", help="every rule, weight, size and blend")
    sweep.add_argument("--sweep-weights", default="0,0.5,0.75,1", help="weights of the sweep")
    sweep.add_argument("--sweep-sizes", default="32,128,256", help="background sizes of the sweep")
    sweep.add_argument("--blend-sizes", default="128", help="background sizes the blends are tried at")
    sweep.add_argument("--blend-weights", default="0,0.5,0.75,1", help="weights the blends are tried at")
    sweep.add_argument(
        "--compressors", default="gzip:9,lz4:0", help="the sweep's compressors (--quick: lz4:0)"
    )
    sweep.add_argument(
        "--only",
        default="",
        help="run only these settings, by label, ';'-separated (cov>mean w=0.75 B=128 f=0.25)",
    )
    sweep.add_argument(
        "--fills",
        default="rank",
        help="budget fills measured, comma-separated: rank, shortest (--budget-fill)",
    )
    sweep.add_argument("--cache", default="", help="keep the NCD matrices in this directory and reuse them")
    sweep.add_argument("--jobs", type=int, default=1, help="processes for the sweep")
    sweep.add_argument("--save", default="", help="write the sweep's raw results to this JSON file")
    sweep.add_argument("--load", nargs="+", default=[], help="report saved sweeps (merged) instead")
    args = ap.parse_args(argv)

    if args.dsir and importlib.util.find_spec("data_selection") is None:
        print(DSIR_NOTE, flush=True)
        args.dsir = False
    data = load(args.data)
    sizes = [int(s) for s in args.sizes.split(",")]
    weights = [float(w) for w in args.weights.split(",")]
    bg_seeds = 1 if args.quick else args.bg_seeds
    compressors = {"lz4": get_compressor("lz4", 0)}
    if not args.quick:
        compressors = {"gzip-9": get_compressor("gzip", 9), **compressors}
    wanted = args.kinds.split(",") if args.kinds else sorted(set(data.kinds))
    if args.sweep or args.load:
        from quality_sweep import sweep  # here: a plain run does not need it

        args.sweep_weights = [float(w) for w in args.sweep_weights.split(",")]
        args.sweep_sizes = [int(b) for b in args.sweep_sizes.split(",")]
        args.blend_sizes = [int(b) for b in args.blend_sizes.split(",")]
        args.blend_weights = [float(w) for w in args.blend_weights.split(",")]
        args.fills = args.fills.split(",")
        if set(args.fills) - set(FILLS):
            raise SystemExit(f"--fills: choose from {', '.join(FILLS)}")
        args.bg_seeds = max(args.bg_seeds, 2)  # the verdict needs the spread over draws
        return sweep(args, wanted)

    start = time.time()
    tasks = [make_task(kind, data, args) for kind in wanted]
    rows: Rows = {}
    for task in tasks:
        rows.update(benchmark_kind(task, data, compressors, sizes, weights, bg_seeds, args, start))
    print_tables(rows, tasks, data)
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


TABLES = (
    ("share", 2, "Share of the kind in the top K (higher is better)"),
    ("bits@200", 3, "bits@200: model on the first 200 characters of every selected record"),
    ("bits@budget", 3, "bits@budget: model on the records `--budget-chars 200·K` writes (rank fill)"),
    ("zstd", 3, "zstd: held-out records compressed with a dictionary trained on the selection"),
)


def markdown(header: Sequence[str], lines: Iterable[Sequence[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---|" * (len(header) - 1))
    for line in lines:
        print("| " + " | ".join(line) + " |")


def print_tables(rows: Rows, tasks: list[Task], data: Data) -> None:
    kinds = [task.kind for task in tasks]
    methods = list(dict.fromkeys(method for _, method in rows))
    for name, digits, title in TABLES:
        print(f"\n#### {title}\n")
        cell = {key: [r.values[name] for r in results] for key, results in rows.items()}
        markdown(["method", *kinds], ([m, *(fmt(cell[k, m], digits) for k in kinds)] for m in methods))
        if name != "share":
            print("\nbits/char on the held-out records of the kind; lower is better.")
    plain = (f"{t.kind} {zstd_bits(t.evaluation, None) / t.eval_chars:.3f}" for t in tasks)
    print(f"zstd without a dictionary: {', '.join(plain)}.")
    for task in tasks:
        pool = Counter(data.styles[i] for i in task.pool if data.kinds[i] == task.kind)
        if len(pool) < 2:
            continue
        styles = sorted(pool)
        print(f"\n#### {task.kind}: records of each sub-style among the bits@budget records\n")
        lines = [["pool (all K)", *(str(pool[s]) for s in styles)]]
        for m in methods:
            lines.append(
                [m, *(f"{statistics.fmean(r.styles[s] for r in rows[task.kind, m]):.0f}" for s in styles)]
            )
        markdown(["method", *styles], lines)


if __name__ == "__main__":
    sys.exit(main())

"""The sweep behind issue 20's recommended selection: `python benchmarks/quality.py --sweep`.

Per (kind, compressor) it computes the pool x targets NCD matrix once and, per background draw,
each record's mean NCD to the first 32, 128 and 256 records of the draw; every setting below is
then derived from those numbers without compressing again (the rules are in quality.py):

  paper               1 - mean NCD to the targets
  contrast w B        w x background mean - target mean (`--contrast`)
  coverage w B        round robin over the targets, each taking its nearest record not yet taken,
                      by NCD to the target - w x background mean
  mean>cov f          a fraction f of K by contrast rank, the rest by coverage
  cov>mean f          a fraction f of K by coverage, the rest by contrast rank
  quota s             each target's ceil(K/n) x (1+s) nearest records pooled, ranked by contrast

With `--fills rank,shortest` every setting is also measured "+ fill shortest": the same K
records, bits@budget on those `--budget-fill shortest` writes (quality.budget_fill).

Each setting is measured as quality.py measures a method (share, bits@200, bits@budget, zstd)
and compared with DSIR, the better of its two modes on each kind and measure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import quality as q

from zipfit_cli import Compressor, ContrastScorer, TargetSet, get_compressor

MEASURES = ("share", "bits@200", "bits@budget", "zstd")
BLENDS = {"mean>cov": (0.25, 0.5, 0.75), "cov>mean": (0.25, 0.5, 0.75), "quota": (0.0, 0.5, 1.0)}
CHECKED = 5  # records whose matrix means are checked against the tool's own scorers


@dataclass(frozen=True)
class Setting:
    rule: str  # paper, contrast, coverage, or a blend of BLENDS
    weight: float = 0.0
    size: int = 0  # background records; 0 when the setting uses no background
    param: float = 0.0  # a blend's fraction or slack
    fill: str = "rank"  # how bits@budget spends its budget (quality.FILLS)

    def label(self) -> str:
        fill = "" if self.fill == "rank" else f" + fill {self.fill}"
        if self.rule == "paper":
            return "paper" + fill
        text = f"{self.rule} w={self.weight:g}" + (f" B={self.size}" if self.size else "")
        return (
            text
            + (f" {'s' if self.rule == 'quota' else 'f'}={self.param:g}" if self.rule in BLENDS else "")
            + fill
        )


def grid(args: argparse.Namespace) -> list[Setting]:
    """paper; contrast and coverage at every weight and size; the blends at the blend weights
    and sizes. A weight of 0 needs no background: it is one setting, not one per size."""
    weights, sizes = args.sweep_weights, [b for b in args.sweep_sizes if b in args.blend_sizes]
    out = [Setting("paper"), Setting("coverage")]
    out += [
        Setting(r, w, b) for r in ("contrast", "coverage") for w in weights if w for b in args.sweep_sizes
    ]
    for rule, params in BLENDS.items():
        if 0 in args.blend_weights:
            out += [Setting(rule, 0.0, 0, p) for p in params]
        out += [Setting(rule, w, b, p) for w in args.blend_weights if w for b in sizes for p in params]
    out = [Setting(s.rule, s.weight, s.size, s.param, fill) for fill in args.fills for s in out]
    if args.only:
        wanted = set(args.only.split(";"))
        out = [s for s in out if s.label() in wanted]
        if len(out) != len(wanted):
            raise SystemExit(
                f"--only: no setting of the grid is labelled {wanted - {s.label() for s in out}}"
            )
    return out


def rank(
    s: Setting, rows: list[list[float]], to_t: list[float], bg: dict[int, list[float]], k: int
) -> list[int]:
    """The setting's K pool positions, best first, from the matrices alone."""
    to_b = bg[s.size] if s.size else [0.0] * len(rows)
    if s.rule == "paper":
        return q.top_k([1.0 - t for t in to_t], k)
    if s.rule == "contrast":
        return q.contrast_rank(to_t, to_b, s.weight, k)
    if s.rule == "coverage":
        return q.coverage_rank(rows, [s.weight * b for b in to_b], k)
    blend: Callable[..., list[int]] = {
        "mean>cov": q.mean_then_coverage,
        "cov>mean": q.coverage_then_mean,
        "quota": q.quota_rank,
    }[s.rule]
    return blend(rows, to_b, s.weight, k, s.param)


Matrices = tuple[list[list[float]], list[float], list[dict[int, list[float]]]]


def cached_matrices(
    task: q.Task, comp_name: str, sizes: Sequence[int], draws: int, seed: int, cache: str
) -> Matrices:
    """matrices(), kept as JSON under `cache` (when given) and read back by a later run with
    the same task, compressor, sizes, draws and seed: the analyses of one task share them. A
    file read back is checked as a fresh one is (check()): written by older code, it fails."""
    name, level = comp_name.split(":")
    comp = get_compressor(name, int(level))
    if not cache:
        return matrices(task, comp, sizes, draws, seed)
    digest = hashlib.sha256(b"\0".join([*task.targets, *task.evaluation])).hexdigest()[:12]
    sized = "-".join(map(str, sizes))
    path = Path(cache) / f"{task.kind}-{name}{level}-B{sized}-d{draws}-s{seed}-{digest}.json"
    if path.exists():
        rows, to_t, raw = json.loads(path.read_text())
        backgrounds = [{int(b): v for b, v in d.items()} for d in raw]
        check(task, comp, (rows, to_t, backgrounds), sizes, seed)
        return rows, to_t, backgrounds
    found = matrices(task, comp, sizes, draws, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(found))  # floats round-trip exactly through JSON (repr)
    return found


def matrices(task: q.Task, comp: Compressor, sizes: Sequence[int], draws: int, seed: int) -> Matrices:
    """(pool x targets NCD, mean NCD to the targets, per draw {size: background means}), each
    checked against TargetSet.mean_ncd and ContrastScorer.terms on a few records."""
    targets = TargetSet(list(task.targets), comp)
    rows = q.ncd_rows(task.pool_bytes, targets)
    to_t = [q.plain_mean(r) for r in rows]
    backgrounds = []
    for s in range(draws):
        drawn = [task.pool_bytes[j] for j in background_order(task, seed, s)[: max(sizes)]]
        backgrounds.append(q.background_means(task.pool_bytes, TargetSet(drawn, comp), sizes))
    check(task, comp, (rows, to_t, backgrounds), sizes, seed)
    return rows, to_t, backgrounds


def background_order(task: q.Task, seed: int, draw: int) -> list[int]:
    """The draw's pool positions, shuffled: its first B records are the background of size B."""
    return random.Random(f"{seed}-background-{draw}").sample(range(len(task.pool)), len(task.pool))


def check(task: q.Task, comp: Compressor, found: Matrices, sizes: Sequence[int], seed: int) -> None:
    """The matrices equal TargetSet.mean_ncd and ContrastScorer.terms, float for float, on
    CHECKED + 1 records a draw (one of them in the background)."""
    rows, to_t, backgrounds = found
    targets = TargetSet(list(task.targets), comp)
    for s, means in enumerate(backgrounds):
        order = background_order(task, seed, s)
        drawn = [task.pool_bytes[j] for j in order[: max(sizes)]]
        for i in [order[0], *random.Random(s).sample(range(len(task.pool)), CHECKED)]:
            x = task.pool_bytes[i]
            assert q.plain_mean(rows[i]) == to_t[i] == targets.mean_ncd(x), (task.kind, i)
            for size in sizes:
                scorer = ContrastScorer(targets, TargetSet(drawn[:size], comp))
                assert scorer.terms(x) == (means[size][i], to_t[i]), (task.kind, size, i)


def sweep_job(kind: str, comp_name: str, settings: list[Setting], args: argparse.Namespace) -> dict[str, Any]:
    """Every setting on one kind and compressor: {label: [measures per draw]}."""
    data = q.load(args.data)
    task = q.make_task(kind, data, args)
    rows, to_t, backgrounds = cached_matrices(
        task, comp_name, args.sweep_sizes, args.bg_seeds, args.seed, args.cache
    )
    cache: dict[tuple[str, tuple[int, ...]], dict[str, float]] = {}
    out: dict[str, list[dict[str, float]]] = {}
    for s in settings:
        out[s.label()] = []
        for bg in backgrounds if s.size else backgrounds[:1]:
            ranked = tuple(rank(s, rows, to_t, bg, task.k))
            if (s.fill, ranked) not in cache:
                cache[s.fill, ranked] = q.measure(task, ranked, data, s.fill).values
            out[s.label()].append(cache[s.fill, ranked])
    return {"kind": kind, "compressor": comp_name, "results": out}


def dsir_job(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    data = q.load(args.data)
    task = q.make_task(kind, data, args)
    rankings = q.dsir_rankings(task, args.seed)
    found = {m: q.measure(task, r, data).values for m, r in rankings.items()}
    # Shown beside the verdict, not in it: the verdict's DSIR is its own two modes, rank fill.
    filled = {
        f"{m} + fill {fill}": q.measure(task, r, data, fill).values
        for m, r in rankings.items()
        for fill in args.fills
        if fill != "rank"
    }
    return {"kind": kind, "dsir": found, "dsir_filled": filled}


def run(args: argparse.Namespace, kinds: list[str], compressors: list[str]) -> dict[str, Any]:
    """Every job, `args.jobs` at a time (gzip's first: they take longest)."""
    settings = grid(args)
    start = time.time()
    found: dict[str, Any] = {"settings": [s.__dict__ for s in settings], "sweep": [], "dsir": []}
    sizes = Counter(q.load(args.data).kinds)
    kinds = sorted(kinds, key=lambda k: -sizes[k])  # the largest first, so the last jobs are short
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(sweep_job, k, c, settings, args) for c in compressors for k in kinds]
        if args.dsir:
            futures += [pool.submit(dsir_job, k, args) for k in kinds]
        for future in futures:
            result = future.result()
            found["dsir" if "dsir" in result else "sweep"].append(result)
            what = result.get("compressor", "DSIR")
            print(f"  {result['kind']:8s} {what:8s} {time.time() - start:6.0f}s", file=sys.stderr, flush=True)
            found["seconds"] = time.time() - start
            found["args"] = {k: str(v) for k, v in vars(args).items()}
            if args.save:  # after every job: an interrupted sweep keeps what it measured
                Path(args.save).write_text(json.dumps(found))
    return found


def sweep(args: argparse.Namespace, kinds: list[str]) -> int:
    if args.load:
        found = merge([json.loads(Path(path).read_text()) for path in args.load])
    else:
        found = run(args, kinds, ["lz4:0"] if args.quick else args.compressors.split(","))
    from quality_verdict import report

    report(found)
    return 0


def merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Saved sweeps as one (say, one run per compressor, each with its own grid)."""
    return {
        "settings": [s for run in runs for s in run["settings"]],
        "sweep": [job for run in runs for job in run["sweep"]],
        "dsir": [job for run in runs for job in run["dsir"]],
        "seconds": sum(run["seconds"] for run in runs),
        "args": [run["args"] for run in runs],
    }

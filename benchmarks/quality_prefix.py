"""Why DSIR wins bits@budget where it does: its budget prefix against the recommended setting's.

bits@budget (benchmarks/quality.py) trains a byte 5-gram model on a selection's records in rank
order while they fit in 200*K characters. On Python and prose (and C with lz4) DSIR's prefix
trains a better model than `--contrast --coverage 0.25`'s (BENCHMARKS.md section 8). This script takes the
benchmark's own tasks and exact NCD matrices (quality_sweep.cached_matrices) and describes each
method's prefix, per kind, compressor and background draw:

  sel mean  mean length of all K selected records, in characters
  rank~len  Spearman correlation of rank and length over the K (> 0: shorter records first)
  records   records in the prefix (the tool's rank fill: it stops before the first that would
            overflow; until 2026-12-06 the benchmark cut that record to fit instead)
  mean/med  mean and median length of those records, in characters (whole records)
  kind      share of the prefix that is of the kind
  sub       the kind's sub-sources where the text tells them apart (python: methods, i.e.
            `def f(self` or `cls`, against functions; c: CPython headers, with `Py`/`_Py`
            names, against glibc), as the first sub-source's share of the kind's records
  redund    1 - zstd(prefix as one text) / sum of zstd(each record): bytes the prefix shares
  near      records of the prefix that `--dedupe-near` (the tool's MinHash) drops as near
            duplicates of an earlier one, and exact duplicates after whitespace
  seen5     share of the held-out records' byte 5-grams (with their 4-byte context) that occur
            in the prefix: what the bits@budget model can have learnt about them
  common    records of the prefix also in DSIR's prefix
  st S      records of the kind's sub-style S in the prefix (config, writing)

The recommended setting is also measured with `--budget-fill shortest` (quality.budget_fill):
its "prefix" is then the shortest of its K records that fit, in rank order.

and measures two remedies (every measure of quality.py): the recommended setting with
`--dedupe-near` (the tool's own selection code, selection/coverage_spool.select_spooled), and
contrast at weight 1 with 256 background records, alone and with the coverage quarter on top.

    python benchmarks/quality_prefix.py --kinds python,prose,c --compressors lz4:0 --cache DIR
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import quality as q
import quality_sweep as qs
import zstandard

from zipfit_cli.base.stats import RunStats
from zipfit_cli.files.records import TextSpec
from zipfit_cli.scoring.distances import CoverageScore
from zipfit_cli.selection.coverage_spool import select_spooled
from zipfit_cli.selection.dedupe import Deduper
from zipfit_cli.selection.rules import Filters

SIZES = [128, 256]
RECOMMENDED = "cov>mean w=0.75 B=128 f=0.25"
SUBSOURCES: dict[str, tuple[str, Callable[[str], bool]]] = {
    "python": ("methods", lambda t: re.search(r"^\s*def \w+\((self|cls)\b", t, re.M) is not None),
    "c": ("CPython", lambda t: re.search(r"\b_?Py[A-Z_]", t) is not None),
}


def settings(
    rows: list[list[float]], to_t: list[float], bg: dict[int, list[float]], k: int
) -> dict[str, list[int]]:
    """The rankings compared, from one background draw's matrices."""
    return {
        RECOMMENDED: q.coverage_then_mean(rows, bg[128], 0.75, k, 0.25),
        "contrast w=1 B=256": q.contrast_rank(to_t, bg[256], 1.0, k),
        "cov>mean w=1 B=256 f=0.25": q.coverage_then_mean(rows, bg[256], 1.0, k, 0.25),
    }


def deduped(task: q.Task, rows: list[list[float]], to_b: list[float], weight: float, k: int) -> list[int]:
    """`--contrast --coverage 0.25 --dedupe-near -k K` by the tool's own selection code."""
    stream = []
    for i, (row, b) in enumerate(zip(rows, to_b, strict=True)):
        pull = weight * b
        score = CoverageScore(pull - q.plain_mean(row), [d - pull for d in row])
        line = json.dumps({"text": task.pool_bytes[i].decode("utf-8", "surrogatepass")}).encode()
        stream.append((score, i, line))
    chosen = select_spooled(
        iter(stream),
        top_k=k,
        fraction=None,
        share=Decimal("0.25"),
        n_targets=len(rows[0]),
        spec=TextSpec.build("text"),
        filters=Filters(dedupe=Deduper(near=True)),
        stats=RunStats(),
    )
    return [i for _, i, _ in chosen]


def grams(texts: Sequence[bytes]) -> set[bytes]:
    found: set[bytes] = set()
    for text in texts:
        s = b"\x00" * q.ORDER + text
        found.update(s[i - q.ORDER : i + 1] for i in range(q.ORDER, len(s)))
    return found


def describe(
    task: q.Task, data: q.Data, ranked: Sequence[int], other: set[int], fill: str = "rank"
) -> dict[str, float]:
    """The bits@budget records of a ranking (pool positions, best first) with a budget fill."""
    texts = [data.texts[task.pool[j]] for j in ranked]
    taken = q.budget_fill(texts, q.PREFIX_CHARS * task.k, fill)
    members = [ranked[p] for p in taken]
    whole = prefix = [texts[p] for p in taken]
    lengths = [len(t) for t in whole]
    ours = [t for t, j in zip(whole, members, strict=True) if data.kinds[task.pool[j]] == task.kind]
    zc = zstandard.ZstdCompressor(level=19)
    cut = [q.encode(t) for t in prefix]
    alone = sum(len(zc.compress(t)) for t in cut)
    dedupe, near = Deduper(near=True), Counter[str]()
    for t in whole:
        kind = dedupe.check(t)
        near[kind or "kept"] += 1
    seen = grams(cut)
    total = hit = 0
    for e in task.evaluation:
        s = b"\x00" * q.ORDER + e
        for i in range(q.ORDER, len(s)):
            total += 1
            hit += s[i - q.ORDER : i + 1] in seen
    every = [len(t) for t in texts]
    out = {
        "sel mean": statistics.fmean(every),
        "rank~len": spearman(list(range(len(every))), every),
        "records": len(prefix),
        "mean": statistics.fmean(lengths),
        "median": statistics.median(lengths),
        "kind": len(ours) / len(prefix),
        "redund": 1 - len(zc.compress(b"".join(cut))) / alone,
        "near": near["near"],
        "exact": near["exact"],
        "seen5": hit / total,
        "common": len(set(members) & other),
    }
    for other, n in Counter(data.kinds[task.pool[j]] for j in members).items():
        if other != task.kind:
            out[f"of {other}"] = n / len(prefix)
    if task.kind in SUBSOURCES:
        out["sub"] = sum(SUBSOURCES[task.kind][1](t) for t in ours) / max(len(ours), 1)
    for style, n in Counter(
        data.styles[task.pool[j]] for j in members if data.kinds[task.pool[j]] == task.kind
    ).items():
        if style:  # a kind made of sub-styles (config, writing): its records of each
            out[f"st {style}"] = n
    return out


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Rank correlation (ties broken by position): > 0 when later ranks hold longer records."""

    def ranks(values: Sequence[float]) -> list[float]:
        out = [0.0] * len(values)
        for position, i in enumerate(sorted(range(len(values)), key=lambda i: values[i])):
            out[i] = float(position)
        return out

    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    return cov / (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5


def prefix_of(task: q.Task, data: q.Data, ranked: Sequence[int]) -> set[int]:
    texts = [data.texts[task.pool[j]] for j in ranked]
    return set(ranked[: len(q.budget_fill(texts, q.PREFIX_CHARS * task.k))])


def job(kind: str, comp: str, args: argparse.Namespace, dsir: dict[str, list[int]]) -> dict[str, Any]:
    data = q.load(args.data)
    task = q.make_task(kind, data, args)
    rows, to_t, backgrounds = qs.cached_matrices(task, comp, SIZES, args.draws, args.seed, args.cache)
    dsir_prefix = prefix_of(task, data, dsir["DSIR top-K"])
    found: dict[str, list[dict[str, Any]]] = {}
    for name, ranked in dsir.items():
        found[name] = [{**q.measure(task, ranked, data).values, **describe(task, data, ranked, dsir_prefix)}]
    for bg in backgrounds:
        ranked_by = settings(rows, to_t, bg, task.k)
        ranked_by[RECOMMENDED + " dedupe-near"] = deduped(task, rows, bg[128], 0.75, task.k)
        # A probe, not a rule: the recommended records, shortest first by bytes; its bits@budget
        # records are the tool's shortest fill's wherever bytes order the records as chars do.
        lengths = [len(task.pool_bytes[j]) for j in range(len(task.pool))]
        ranked_by[RECOMMENDED + " shortest first"] = sorted(ranked_by[RECOMMENDED], key=lambda j: lengths[j])
        for name, ranked in ranked_by.items():
            # `--budget-fill shortest` on the recommended setting (the tool's fill, in chars).
            for fill in q.FILLS if name == RECOMMENDED else ("rank",):
                values = {
                    **q.measure(task, ranked, data, fill).values,
                    **describe(task, data, ranked, dsir_prefix, fill),
                }
                found.setdefault(name + ("" if fill == "rank" else f" + fill {fill}"), []).append(values)
    return {"kind": kind, "compressor": comp, "k": task.k, "results": found}


def report(jobs: list[dict[str, Any]]) -> None:
    columns = (
        "share",
        "bits@200",
        "bits@budget",
        "zstd",
        "sel mean",
        "rank~len",
        "records",
        "mean",
        "median",
    )
    columns += ("kind", "sub")
    columns += ("redund", "near", "exact", "seen5", "common")
    for found in jobs:
        extra = sorted(
            {
                c
                for draws in found["results"].values()
                for d in draws
                for c in d
                if c.startswith(("of ", "st "))
            }
        )
        print(f"\n#### {found['kind']} {found['compressor']} (K {found['k']}; mean over background draws)\n")
        lines = []
        for name, draws in found["results"].items():
            cells = []
            for c in (*columns, *extra):
                values = [d[c] for d in draws if c in d]
                whole = ("sel mean", "records", "mean", "median", "near", "exact", "common")
                digits = 0 if c in whole or c.startswith("st ") else 3
                cells.append(f"{statistics.fmean(values):.{digits}f}" if values else "")
            lines.append([name, *cells])
        q.markdown(["method", *columns, *extra], lines)


def verdict(jobs: list[dict[str, Any]]) -> None:
    """Every setting against DSIR (the better of its modes), as quality_verdict.py judges a sweep."""
    import quality_verdict as qv

    found: dict[str, Any] = {"sweep": [], "dsir": {}, "seconds": 0.0}
    for job in jobs:
        results = {n: [{m: d[m] for m in qs.MEASURES} for d in v] for n, v in job["results"].items()}
        dsir = {n: results.pop(n)[0] for n in list(results) if n.startswith("DSIR")}
        found["dsir"][job["kind"]] = {"kind": job["kind"], "dsir": dsir}
        found["sweep"].append({"kind": job["kind"], "compressor": job["compressor"], "results": results})
    found["dsir"] = list(found["dsir"].values())
    v = qv.verdicts(found)
    qv.print_summary(found, v)
    qv.print_details(found, list(v))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, nargs="+", default=q.DEFAULT_DATA)
    ap.add_argument("--kinds", default="python,prose,c")
    ap.add_argument("--compressors", default="lz4:0,gzip:9")
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--targets", type=int, default=40)
    ap.add_argument("--eval", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default="", help="the NCD matrices' directory (quality.py --cache)")
    ap.add_argument("--save", default="", help="write the results to this JSON file")
    ap.add_argument("--load", nargs="+", default=[], help="report saved results instead")
    args = ap.parse_args()
    if args.load:
        jobs = [j for path in args.load for j in json.loads(Path(path).read_text())["jobs"]]
        report(jobs)
        verdict(jobs)
        return 0
    start, jobs = time.time(), []
    data = q.load(args.data)
    for kind in args.kinds.split(","):
        dsir = q.dsir_rankings(q.make_task(kind, data, args), args.seed)
        for comp in args.compressors.split(","):
            jobs.append(job(kind, comp, args, dsir))
            print(f"  {kind} {comp}: {time.time() - start:.0f}s", file=sys.stderr, flush=True)
            if args.save:
                Path(args.save).write_text(json.dumps({"jobs": jobs, "seconds": time.time() - start}))
    report(jobs)
    verdict(jobs)
    print(f"\n{time.time() - start:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Adaptive top K against exhaustive scoring: comparisons, wall time, recall and the audit.

For K = 10%, 1% and 0.1% of the input, with gzip-9 and lz4: `zipfit select -k K` with and
without `--adaptive`, one after the other through the command line with all cores. Recall
is the share of the exhaustive top K that the adaptive run selected (1.0 when the outputs
are the same bytes, which the script also reports); "audit" is what the adaptive run's
own audit found (stopped records sampled, and how many of them belonged in the top K).

Corpora (--corpus): `bench`, 100,000 benchmark sources (slices of the sample corpus,
200-4,000 characters) and 40 targets cut from the sample targets; `mixed`, every record of
sample_data (Python, C, Perl, CMake, prose) cycled with small seeded edits (lines dropped
or repeated, words renamed) to 100,000 records, with the 40 sample Python targets: many
records sit near the threshold, as in real pools.

    python benchmarks/adaptive.py [--corpus bench|mixed] [--n 100000] [--compressors gzip,lz4]
        [--fractions 0.1,0.01,0.001] [--min-score [--workers N]]

--min-score measures instead what a threshold known before the first record gains: S is
the exhaustive run's K-th best score (as a user would take it from an earlier run), and
`--adaptive -k K`, `--adaptive -k K --min-score S` and `--adaptive --min-score S` (no -k)
run one after the other, each compared with the exhaustive `-k K` (same bytes: all four
select the records scoring at least S, unless the K-th best score is tied). With
`--workers 1` the table also gives CPU seconds (the zipfit process and nothing else: with
more workers their time is not counted), a measure that other work on the machine
disturbs far less than wall time.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import SAMPLE, iter_sources, make_targets

WORD = re.compile(r"[A-Za-z_]{3,}")


def edit(text: str, rng: random.Random) -> str:
    """One to three small edits: a line dropped, a word renamed everywhere, a line repeated."""
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        what = rng.random()
        if what < 0.4 and len(lines) > 2:
            del lines[rng.randrange(len(lines))]
        elif what < 0.7:
            words = WORD.findall(text)
            if words:
                old = rng.choice(words)
                new = old[::-1] if rng.random() < 0.5 else old + str(rng.randint(0, 99))
                lines = [re.sub(rf"\b{re.escape(old)}\b", new, line) for line in lines]
        else:
            i = rng.randrange(len(lines))
            lines.insert(i, lines[i])
    return "\n".join(lines)


def iter_mixed(n: int, seed: int = 3) -> Iterator[str]:
    """sample_data's records in order, then again and again, each copy edited (seeded by position)."""
    texts = [orjson.loads(line)["text"] for line in (SAMPLE / "source.jsonl").open("rb")]
    for i in range(n):
        base = texts[i % len(texts)]
        copy = base if i < len(texts) else edit(base, random.Random(seed * 1_000_003 + i))
        yield copy if copy.strip() else base  # an edit may leave a short record blank


def write_inputs(directory: Path, n: int, corpus: str) -> tuple[Path, Path]:
    source, target = directory / "sources.jsonl", directory / "targets.jsonl"
    texts = iter_sources(n) if corpus == "bench" else iter_mixed(n)
    with open(source, "wb") as out:
        for i, text in enumerate(texts):
            out.write(orjson.dumps({"id": i, "text": text}) + b"\n")
    if corpus == "bench":
        targets = make_targets(40)
    else:
        rows = map(orjson.loads, (SAMPLE / "target.jsonl").open("rb"))
        targets = [row["prompt"] + row["canonical_solution"] for row in rows]
    target.write_bytes(b"".join(orjson.dumps({"text": t}) + b"\n" for t in targets))
    return source, target


def run(
    source: Path, target: Path, out: Path, k: int | None, compressor: str, adaptive: bool, *extra: str
) -> dict[str, object]:
    report = out.with_suffix(".report.json")
    cmd = [sys.executable, "-m", "zipfit_cli", "select", str(source), "-t", str(target), "--compressor",
           compressor, "-o", str(out), "--report", str(report), "--force", "-q", *extra]  # fmt: skip
    if k is not None:
        cmd += ["-k", str(k)]
    if adaptive:
        cmd.append("--adaptive")
    start, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(cmd, check=True)
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu
    stats = json.loads(report.read_text())["stats"]
    audit = f"{stats['audit_misses']} of {stats['audited']}"
    return {
        "wall": wall,
        "cpu": cpu,
        "pairs": stats["pairs"],
        "pruned": stats["pruned_total"],
        "audit": audit,
    }


def _children_cpu() -> float:
    """User + system seconds of the child processes waited for so far (zipfit's own; its pool
    workers are the forkserver's children, not counted)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", choices=["bench", "mixed"], default="bench")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--compressors", default="gzip,lz4")
    ap.add_argument("--fractions", default="0.1,0.01,0.001")
    ap.add_argument("--min-score", action="store_true", help="measure a threshold known up front")
    ap.add_argument("--workers", type=int, default=None, help="with --min-score: -j for every run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        source, target = write_inputs(directory, args.n, args.corpus)
        if args.min_score:
            return min_score_table(directory, source, target, args)
        print(
            "| compressor | K | exhaustive: comparisons, s | adaptive: comparisons, s | "
            "fewer comparisons | faster | stopped early | recall | same bytes | audit: misses of sampled |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
        for compressor in args.compressors.split(","):
            for fraction in map(float, args.fractions.split(",")):
                k = max(1, round(fraction * args.n))
                full_out, fast_out = directory / "full.jsonl", directory / "fast.jsonl"
                full = run(source, target, full_out, k, compressor, adaptive=False)
                fast = run(source, target, fast_out, k, compressor, adaptive=True)
                chosen = {orjson.loads(line)["id"] for line in full_out.read_bytes().splitlines()}
                kept = {orjson.loads(line)["id"] for line in fast_out.read_bytes().splitlines()}
                same = full_out.read_bytes() == fast_out.read_bytes()
                print(
                    f"| {compressor} | {k:,} | {full['pairs']:,}, {full['wall']:.1f} | "
                    f"{fast['pairs']:,}, {fast['wall']:.1f} | "
                    f"{int(full['pairs']) / int(fast['pairs']):.2f}x | "  # type: ignore[call-overload]
                    f"{float(full['wall']) / float(fast['wall']):.2f}x | {fast['pruned']:,} | "  # type: ignore[arg-type]
                    f"{len(chosen & kept) / len(chosen):.4f} | {'yes' if same else 'no'} | {fast['audit']} |",
                    flush=True,
                )
    return 0


def min_score_table(directory: Path, source: Path, target: Path, args: argparse.Namespace) -> int:
    """Exhaustive -k K, then --adaptive with -k, with -k and --min-score S, with S alone."""
    columns = "compressor | K | S | run | comparisons | s | CPU s | fewer comparisons | faster | less CPU"
    print(f"| {columns} | stopped early | same bytes |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
    jobs = () if args.workers is None else ("-j", str(args.workers))
    for compressor in args.compressors.split(","):
        for fraction in map(float, args.fractions.split(",")):
            k = max(1, round(fraction * args.n))
            full_out = directory / "full.jsonl"
            full = run(source, target, full_out, k, compressor, False, *jobs)
            expected = full_out.read_bytes()
            s = repr(orjson.loads(expected.splitlines()[-1])["zipfit_score"])
            cases = [
                ("exhaustive -k K", None),
                ("--adaptive -k K", (k, ())),
                ("--adaptive -k K --min-score S", (k, ("--min-score", s))),
                ("--adaptive --min-score S", (None, ("--min-score", s))),
            ]
            for name, case in cases:
                out, result = full_out, full
                if case is not None:
                    out = directory / "fast.jsonl"
                    result = run(source, target, out, case[0], compressor, True, *case[1], *jobs)
                pairs, wall, cpu = (
                    int(str(result["pairs"])),
                    float(str(result["wall"])),
                    float(str(result["cpu"])),
                )
                print(
                    f"| {compressor} | {k:,} | {s} | {name} | {pairs:,} | {wall:.1f} | {cpu:.1f} | "
                    f"{int(str(full['pairs'])) / pairs:.2f}x | {float(str(full['wall'])) / wall:.2f}x | "
                    f"{float(str(full['cpu'])) / cpu:.2f}x | "
                    f"{result['pruned']:,} | {'yes' if out.read_bytes() == expected else 'no'} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())

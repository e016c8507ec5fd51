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
        [--fractions 0.1,0.01,0.001]
"""

from __future__ import annotations

import argparse
import json
import random
import re
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


def run(source: Path, target: Path, out: Path, k: int, compressor: str, adaptive: bool) -> dict[str, object]:
    report = out.with_suffix(".report.json")
    cmd = [sys.executable, "-m", "zipfit_cli", "select", str(source), "-t", str(target), "-k", str(k),
           "--compressor", compressor, "-o", str(out), "--report", str(report), "--force", "-q"]  # fmt: skip
    if adaptive:
        cmd.append("--adaptive")
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - start
    stats = json.loads(report.read_text())["stats"]
    audit = f"{stats['audit_misses']} of {stats['audited']}"
    return {"wall": wall, "pairs": stats["pairs"], "pruned": stats["pruned_total"], "audit": audit}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", choices=["bench", "mixed"], default="bench")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--compressors", default="gzip,lz4")
    ap.add_argument("--fractions", default="0.1,0.01,0.001")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        source, target = write_inputs(directory, args.n, args.corpus)
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


if __name__ == "__main__":
    sys.exit(main())

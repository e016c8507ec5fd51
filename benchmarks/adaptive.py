"""Adaptive top K against exhaustive scoring: comparisons, wall time and recall.

On 100,000 benchmark sources (slices of the sample corpus, 200-4,000 characters) and 40
targets, for K = 10%, 1% and 0.1% of the input, with gzip-9 and lz4: `zipfit select -k K`
with and without `--adaptive`, both through the command line with all cores. Recall is
the share of the exhaustive top K that the adaptive run selected (1.0 when the outputs
are the same bytes, which the script also reports).

    python benchmarks/adaptive.py [--n 100000] [--compressors gzip,lz4] [--fractions 0.1,0.01,0.001]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import iter_sources, make_targets


def write_inputs(directory: Path, n: int) -> tuple[Path, Path]:
    source, target = directory / "sources.jsonl", directory / "targets.jsonl"
    with open(source, "wb") as out:
        for i, text in enumerate(iter_sources(n)):
            out.write(orjson.dumps({"id": i, "text": text}) + b"\n")
    target.write_bytes(b"".join(orjson.dumps({"text": t}) + b"\n" for t in make_targets(40)))
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
    return {"wall": wall, "pairs": stats["pairs"], "pruned": stats["pruned_total"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--compressors", default="gzip,lz4")
    ap.add_argument("--fractions", default="0.1,0.01,0.001")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        source, target = write_inputs(directory, args.n)
        print(
            "| compressor | K | exhaustive: comparisons, s | adaptive: comparisons, s | "
            "fewer comparisons | faster | stopped early | recall | same bytes |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
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
                    f"{len(chosen & kept) / len(chosen):.4f} | {'yes' if same else 'no'} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How much `select --coverage` bounding each target's list changes the selection.

The tool keeps, per target, only its q nearest records (q = 2 * ceil(C / n) + 8 for C
coverage picks among n targets; zipfit_cli/selection/coverage.py) and defines the rule on
those lists. Here, on the quality benchmark's exact NCD matrices (benchmarks/quality.py:
the same kinds, targets, pools, K and background draws), the tool's own selection code is
run with the default q, with smaller slacks, and with unbounded lists (q = N), and the
selections are compared: identical or not, how many records differ, and, where they
differ, the measures of both (share, bits@200, bits@budget, zstd).

    python benchmarks/coverage_bound.py [--compressors gzip:9,lz4:0] [--kinds a,b] [--draws 2]
    python benchmarks/coverage_bound.py --cache DIR --sweep-blend  # the sweep's cov>mean 0.25 = the tool's?
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import quality as q
import quality_sweep as qs

from zipfit_cli.scoring.distances import CoverageScore
from zipfit_cli.selection.coverage import coverage_count, list_length, select_top

WEIGHT, SIZE = 0.75, 128
SHARES = ("0.25", "1")


Matrix = list[list[float]]


def selection(rows: Matrix, to_b: list[float], weight: float, k: int, share: str, q_len: int) -> list[int]:
    """The tool's selection (coverage.select_top) from a matrix: pool positions in output order."""
    stream = []
    for i, (row, b) in enumerate(zip(rows, to_b, strict=True)):
        pull = weight * b
        total = 0.0
        for d in row:  # summed in order, as the tool's scorer does
            total += d
        stream.append((CoverageScore(pull - total / len(row), [d - pull for d in row]), i, b""))
    return [i for _, i, _ in select_top(iter(stream), k, Decimal(share), len(rows[0]), q=q_len)]


def compare(task: q.Task, data: q.Data, rows: Matrix, to_b: list[float], weight: float) -> list[str]:
    lines = []
    n, k = len(rows[0]), task.k
    for share in SHARES:
        count = coverage_count(Decimal(share), k)
        share_q = math.ceil(count / n)
        full = selection(rows, to_b, weight, k, share, len(rows))
        variants = {
            "c": share_q,
            "c+8": share_q + 8,
            "2c+8 (default)": list_length(count, n),
            "2c+32": 2 * share_q + 32,
            "4c+32": 4 * share_q + 32,
            "c+64": share_q + 64,
            "c+128": share_q + 128,
        }
        for label, q_len in variants.items():
            bounded = selection(rows, to_b, weight, k, share, q_len)
            differ = len(set(full) - set(bounded))
            moved = sum(a != b for a, b in zip(full, bounded, strict=True))
            line = f"{task.kind:8s} w={weight:g} F={share:4s} K={k:4d} C={count:4d} "
            line += f"{label:15s} q={q_len:3d}: "
            if bounded == full:
                lines.append(line + "identical")
                continue
            m_full, m_bound = q.measure(task, full, data).values, q.measure(task, bounded, data).values
            deltas = ", ".join(f"{m} {m_bound[m] - m_full[m]:+.4f}" for m in m_full)
            lines.append(line + f"{differ} records differ, {moved} positions; bounded - unbounded: {deltas}")
    return lines


def through_tool(task: q.Task, data: q.Data, spec: str, draw: int, seed: int, matrix: list[int]) -> str:
    """`zipfit select --contrast --coverage 0.25 -k K` on the task's pool, with the draw's
    background given as a file, against the selection computed here from the matrix."""
    order = random.Random(f"{seed}-background-{draw}").sample(range(len(task.pool)), len(task.pool))
    name, level = spec.split(":")
    with tempfile.TemporaryDirectory() as tmp:
        files = {"pool": task.pool, "targets": [], "bg": [task.pool[j] for j in order[:SIZE]]}
        for label, members in files.items():
            texts = [data.texts[i] for i in members]
            if label == "targets":
                texts = [t.decode("utf-8", "surrogatepass") for t in task.targets]
            rows = [{"pos": j, "text": text} for j, text in enumerate(texts)]
            Path(tmp, f"{label}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        command = [sys.executable, "-m", "zipfit_cli", "select", f"{tmp}/pool.jsonl"]
        command += ["-t", f"{tmp}/targets.jsonl"]
        command += ["--contrast", "--background", f"{tmp}/bg.jsonl", "--coverage", "0.25", "-k", str(task.k)]
        command += ["--compressor", name, "--level", level, "-j", "1", "-q"]
        if name == "lz4":
            command = command[: command.index("--level")] + command[command.index("--level") + 2 :]
        found = subprocess.run(command, capture_output=True, check=True).stdout.splitlines()
    tool = [json.loads(line)["pos"] for line in found]
    if tool == matrix:
        return f"{task.kind:8s} draw {draw}: the tool's selection is the matrix's, record for record"
    values = q.measure(task, tool, data).values
    return f"{task.kind:8s} draw {draw}: {len(set(tool) - set(matrix))} records differ; tool: {values}"


def sweep_blend(task: q.Task, rows: Matrix, backgrounds: list[dict[int, list[float]]]) -> str:
    """The sweep's cov>mean w=0.75 B=128 f=0.25 ranking (quality.py) against the tool's selection
    with its own bounded lists, per background draw."""
    n, k = len(rows[0]), task.k
    q_len = list_length(coverage_count(Decimal("0.25"), k), n)
    same = [
        q.coverage_then_mean(rows, draw[SIZE], WEIGHT, k, 0.25)
        == selection(rows, draw[SIZE], WEIGHT, k, "0.25", q_len)
        for draw in backgrounds
    ]
    found = f"the sweep's ranking is the tool's selection in {sum(same)} of {len(same)} draws"
    return f"{task.kind:8s} K={k:4d}: {found}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, nargs="+", default=q.DEFAULT_DATA)
    ap.add_argument("--compressors", default="gzip:9,lz4:0")
    ap.add_argument("--kinds", default="")
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--targets", type=int, default=40)
    ap.add_argument("--eval", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--through-tool", action="store_true", help="run the recommended setting in zipfit")
    ap.add_argument("--cache", default="", help="the NCD matrices' directory (quality.py --cache)")
    ap.add_argument(
        "--sweep-blend",
        action="store_true",
        help="only check that the sweep's cov>mean f=0.25 ranking is the tool's selection (bounded lists)",
    )
    args = ap.parse_args()
    data = q.load(args.data)
    kinds = args.kinds.split(",") if args.kinds else sorted(set(data.kinds))
    start = time.time()
    for spec in args.compressors.split(","):
        for kind in kinds:
            task = q.make_task(kind, data, args)
            sizes = [SIZE, 256] if args.cache else [SIZE]  # as quality_prefix.py caches them
            rows, _, backgrounds = qs.cached_matrices(task, spec, sizes, args.draws, args.seed, args.cache)
            if args.sweep_blend:
                print(f"{spec:6s} {sweep_blend(task, rows, backgrounds)}", flush=True)
                continue
            out = compare(task, data, rows, [0.0] * len(rows), 0.0)  # the paper's score
            for d, draw in enumerate(backgrounds):
                out += compare(task, data, rows, draw[SIZE], WEIGHT)
                if args.through_tool:
                    matrix = selection(rows, draw[SIZE], WEIGHT, task.k, "0.25", len(rows))
                    out.append(through_tool(task, data, spec, d, args.seed, matrix))
            for line in out:
                print(f"{spec:6s} {line}", flush=True)
            print(f"  {spec} {kind}: {time.time() - start:.0f}s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

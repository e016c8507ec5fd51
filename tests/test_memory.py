"""Memory stays flat in the input size: `select -k` streams, whatever the number of records."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAST, ZIPFIT, descendants

from zipfit_cli.files.batches import BATCH_BYTES

WORDS = [
    "def",
    "return",
    "self",
    "value",
    "list",
    "dict",
    "data",
    "index",
    "result",
    "append",
    "items",
    "key",
    "none",
    "true",
    "false",
    "import",
    "from",
    "class",
    "lambda",
    "yield",
    "print",
    "string",
    "format",
    "range",
    "len",
    "sorted",
    "filter",
    "map",
]

# Runs zipfit in-process and reports the peak resident set size (kB) of that process.
WRAPPER = """
import resource, sys
from zipfit_cli.cli.app import main
sys.argv = ["zipfit", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print("MAXRSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "EXIT", code, flush=True)
"""


def write_corpus(path: Path, n: int, seed: int = 0) -> Path:
    """n records of about 200 characters, written one at a time (never all in memory)."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            words: list[str] = []
            while sum(len(w) + 1 for w in words) < 200:
                words.append(rng.choice(WORDS))
            fh.write(json.dumps({"id": i, "text": " ".join(words)}) + "\n")
    return path


def peak_rss_kb(corpus: Path, targets: Path, out: Path) -> int:
    args = [
        "select",
        str(corpus),
        "-t",
        str(targets),
        "-k",
        "100",
        "--compressor",
        "lz4",
        "-j",
        "1",
        "-q",
        "-o",
        str(out),
    ]
    proc = subprocess.run([sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    words = proc.stdout.split()
    assert words[0] == "MAXRSS" and words[2] == "EXIT", proc.stdout
    assert words[3] in ("0", "None"), proc.stdout + proc.stderr
    assert sum(1 for _ in open(out)) == 100
    return int(words[1])


@pytest.mark.slow
def test_select_top_k_memory_does_not_grow_with_input(tmp_path: Path) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_text(
        "def add(a, b):\n"
        "def index(self, value): return self.data.index(value)\n"
        "for key, value in sorted(items): result.append(key)\n"
    )
    small = write_corpus(tmp_path / "small.jsonl", 10_000)
    large = write_corpus(tmp_path / "large.jsonl", 200_000)
    assert large.stat().st_size > 40_000_000
    small_kb = peak_rss_kb(small, targets, tmp_path / "small-out.jsonl")
    large_kb = peak_rss_kb(large, targets, tmp_path / "large-out.jsonl")
    small_mb, large_mb = small_kb / 1024, large_kb / 1024
    print(f"peak RSS of select -k 100: 10,000 records {small_mb:.1f} MB, 200,000 {large_mb:.1f} MB")
    assert large_kb - small_kb < 30 * 1024, (small_kb, large_kb)


def large_records(path: Path, n: int, size: int) -> Path:
    """n records of about `size` bytes of text each, written one at a time."""
    rng = random.Random(1)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            line = " ".join(rng.choice(WORDS) for _ in range(400))
            fh.write(json.dumps({"id": i, "text": "\n".join([line] * (size // (len(line) + 1)))}) + "\n")
    return path


def tree_peak_kb(args: list[str], timeout: float = 300) -> int:
    """Peak of the RSS summed over zipfit's process tree, sampled every 10 ms: sampling can
    only miss a peak, never invent one, so a bound checked on it does not fail by chance."""
    proc = subprocess.Popen([sys.executable, "-m", "zipfit_cli", *args], stderr=subprocess.PIPE)
    peak, deadline = 0, time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            total = 0
            for pid in {proc.pid} | descendants(proc.pid):
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                total += next(
                    (int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmRSS:")), 0
                )
            peak = max(peak, total)
            time.sleep(0.01)
        _, err = proc.communicate(timeout=max(deadline - time.monotonic(), 1))
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err.decode()
    return peak


@pytest.mark.slow
def test_select_memory_is_bounded_by_batch_bytes_not_record_count(tmp_path: Path) -> None:
    """Large records: batches are cut at BATCH_BYTES of lines, so the process tree's peak grows
    by about workers x batches in flight x BATCH_BYTES + K records, not by the batch count
    (256 records of 2 MB would be half a gigabyte a batch)."""
    targets = tmp_path / "targets.txt"
    targets.write_text("def index(self, value): return self.data.index(value)\n")
    small = write_corpus(tmp_path / "small.jsonl", 200)
    large = large_records(tmp_path / "large.jsonl", 64, 2_000_000)
    assert large.stat().st_size > 120_000_000 and BATCH_BYTES <= 8 << 20  # the documented cap
    common = ["-t", str(targets), "-k", "3", "-j", "2", "--compressor", "lz4", "-q", "--force"]
    small_kb = tree_peak_kb(["select", str(small), *common, "-o", str(tmp_path / "small-out.jsonl")])
    large_kb = tree_peak_kb(["select", str(large), *common, "-o", str(tmp_path / "large-out.jsonl")])
    print(f"peak RSS of the process tree: small records {small_kb // 1024} MB, large {large_kb // 1024} MB")
    # Per worker: 3 batches in flight in zipfit, 1 queued (pickled), and the one being scored
    # with its parsed copies (about 3 batches); then 3 kept records and a margin. Measured:
    # about 150 MB over the small run; over 400 MB when batches were cut by count alone.
    bound_kb = (2 * 8 * BATCH_BYTES + 3 * 2_000_000) // 1024 + 96 * 1024
    assert large_kb - small_kb < bound_kb, (small_kb, large_kb, bound_kb)


@pytest.mark.slow
def test_a_line_over_the_cap_is_held_once_at_most() -> None:
    """A line with no end (/dev/zero) is known to be too long after holding about
    --max-line-bytes of it, not twice that."""
    import tracemalloc

    from zipfit_cli.files.reading import LongLine, capped_lines

    limit = 32 << 20
    with open("/dev/zero", "rb", buffering=1 << 20) as zero:
        tracemalloc.start()
        try:
            line = next(capped_lines(zero, limit, measure=False))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert isinstance(line, LongLine) and line.size == limit + 1
    assert peak < 1.3 * limit, f"peak {peak:,} bytes for a {limit:,}-byte cap"


@pytest.mark.slow
def test_dev_zero_runs_in_bounded_memory_and_stops_on_sigterm() -> None:
    # --skip-invalid: a line with no end is read (and skipped) until its end, so forever.
    args = ["score", "/dev/zero", *FAST, "--limit", "5", "--max-line-bytes", "1000000", "--skip-invalid"]
    proc = subprocess.Popen(
        [*ZIPFIT, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(3)
        assert proc.poll() is None
        rss_kb = int(next(line for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                          if line.startswith("VmRSS:")).split()[1])  # fmt: skip
        assert rss_kb < 300_000
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 143, err.decode()

"""Memory stays flat in the input size: `select -k` streams, whatever the number of records."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

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
from zipfit_cli.cli import main
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

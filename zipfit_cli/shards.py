"""Shard parts: one slice of the input scored on its own, merged later into the global result.

A part is JSONL: the records exactly as the single-machine run would write them, each with
its global input index appended as `_zipfit_index` (for ties), then one trailer line
`{"_zipfit_part": {...}}` with the settings and counts. The merge strips both, so the
merged output is byte-identical to one run over the whole input.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from .errors import UsageError
from .reading import input_stats
from .stats import RunStats

INDEX_KEY = "_zipfit_index"
PART_KEY = "_zipfit_part"
PART_VERSION = 2  # 2: the trailer records the inputs' size and mtime
_INDEX_TAG = b',"' + INDEX_KEY.encode() + b'":'


def parse_shard(spec: str) -> tuple[int, int]:
    """'I/N' (0 <= I < N) or 'slurm' (from SLURM_ARRAY_TASK_ID / _COUNT / _MIN) to (I, N)."""
    if spec == "slurm":
        try:
            task = int(os.environ["SLURM_ARRAY_TASK_ID"])
            count = int(os.environ["SLURM_ARRAY_TASK_COUNT"])
            first = int(os.environ.get("SLURM_ARRAY_TASK_MIN", "0"))
        except (KeyError, ValueError):
            raise UsageError(
                "--shard slurm needs SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (run it in an array job)"
            ) from None
        i, n = task - first, count
    else:
        try:
            i_text, n_text = spec.split("/")
            i, n = int(i_text), int(n_text)
        except ValueError:
            raise UsageError(f"--shard takes I/N (like 0/4) or 'slurm', not {spec!r}") from None
    if not 0 <= i < n:
        raise UsageError(f"--shard {i}/{n}: I must be from 0 to N-1")
    return i, n


def tag_index(line: bytes, index: int) -> bytes:
    """Append the global index to an output line (which ends with '}\\n')."""
    return line[:-2] + _INDEX_TAG + str(index).encode() + b"}\n"


def untag_index(line: bytes) -> tuple[int, bytes]:
    """(index, the line as the single-machine run writes it)."""
    cut = line.rfind(_INDEX_TAG)
    if cut < 0:
        raise ValueError("no index")
    return int(line[cut + len(_INDEX_TAG) : line.rindex(b"}")]), line[:cut] + b"}\n"


def part_trailer(info: dict[str, Any], stats: RunStats) -> bytes:
    counts = stats.to_dict()
    body = {
        **info,
        "part_version": PART_VERSION,
        "inputs": input_stats(info.get("sources") or []),
        "warnings": stats.warnings,
        "records_read": stats.records_read,
        "blank_lines": stats.blank_lines,
        "scored": stats.scored,
        "skipped": counts["skipped"],
        "contaminated": stats.contaminated,
        "written": stats.selected,
        "stats": stats.to_part(),
    }
    return orjson.dumps({PART_KEY: body}, option=orjson.OPT_SORT_KEYS) + b"\n"

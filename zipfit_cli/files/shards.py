"""Shard parts: one slice of the input scored on its own, merged later into the global result.

A part is JSONL: the records exactly as the single-machine run would write them, each with
its global input index appended as `_zipfit_index` (for ties), then one trailer line
`{"_zipfit_part": {...}}` with the settings and counts. The merge strips both, so the
merged output is byte-identical to one run over the whole input.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from ..base.errors import UsageError, stored
from ..base.stats import PART_COUNTS, RunStats
from .locations import input_stats
from .records import REASONS

INDEX_KEY = "_zipfit_index"
DISTANCES_KEY = "_zipfit_distances"  # select --coverage: the record's distance to each target
PART_KEY = "_zipfit_part"
PART_VERSION = 2  # 2: the trailer records the inputs' size and mtime
MOST_SHARDS = 1_000_000  # far above any cluster's job array; more would only fill a disk with parts
_INDEX_TAG = b',"' + INDEX_KEY.encode() + b'":'
_DISTANCES_TAG = b',"' + DISTANCES_KEY.encode() + b'":['


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
    if n > MOST_SHARDS:
        raise UsageError(f"--shard {i}/{n}: N must be at most {MOST_SHARDS:,}")
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


def tag_distances(line: bytes, distances: tuple[float, ...]) -> bytes:
    """Append a record's distances to the targets (--coverage) to an output line, before its
    index: floats written as the shortest decimal that reads back as the same float."""
    return line[:-2] + _DISTANCES_TAG[:-1] + orjson.dumps(list(distances)) + b"}\n"


def untag_distances(line: bytes) -> tuple[list[float] | None, bytes]:
    """(the distances, or None when the line has none; the line without them). The tag is
    the last field of a line whose index was untagged: a record's own field of that name,
    earlier in the line, stays."""
    body = line.rstrip()
    cut = body.rfind(_DISTANCES_TAG)
    if cut < 0 or not body.endswith(b"]}"):
        return None, line
    try:
        distances = orjson.loads(body[cut + len(_DISTANCES_TAG) - 1 : -1])
    except orjson.JSONDecodeError:
        return None, line
    if not isinstance(distances, list) or not all(_is_score(d) for d in distances):
        raise ValueError("distances")
    return distances, body[:cut] + b"}\n"


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
    return orjson.dumps({PART_KEY: stored(body)}, option=orjson.OPT_SORT_KEYS) + b"\n"  # non-UTF-8 names


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_score(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def _is_bin(key: Any) -> bool:
    return isinstance(key, str) and len(key) <= 24 and key.removeprefix("-").isdecimal() and key.isascii()


def _is_checkpoint(key: Any) -> bool:
    """An --adaptive checkpoint as a part names it: a share of the targets, like "0.2"."""
    try:
        return isinstance(key, str) and len(key) <= 24 and 0 < float(key) < 1
    except ValueError:
        return False


def _counts(value: Any, key: Callable[[Any], bool] = lambda k: isinstance(k, str)) -> bool:
    return isinstance(value, dict) and all(key(k) and _is_count(v) for k, v in value.items())


def part_share(value: Any) -> Decimal | None:
    """A part's --fraction as a decimal in (0, 1], or None when it is not one. Parts store the
    decimal as typed, a string; older parts stored a float, read as its shortest decimal."""
    if isinstance(value, float) and math.isfinite(value):
        value = repr(value)
    if not isinstance(value, str):
        return None
    try:
        share = Decimal(value)
    except InvalidOperation:
        return None
    return share if share.is_finite() and 0 < share <= 1 else None


def _is_coverage(value: Any) -> bool:
    """A part's --coverage: the decimal as typed, a string, from 0 to 1."""
    try:
        share = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        return False
    return share is not None and share.is_finite() and 0 <= share <= 1


def _is_input(value: Any) -> bool:
    return value is None or (
        isinstance(value, dict)
        and isinstance(value.get("path"), str)
        and _is_count(value.get("size"))
        and isinstance(value.get("mtime_ns"), int)
    )


# A merge takes a part's trailer as data: each value it uses is checked, and one that
# is not what a shard writes refuses the part (a forged part must not steer the merge).
_TRAILER_CHECKS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "command": ("'select' or 'score'", lambda v: v in ("select", "score")),
    "score_key": ("a key", lambda v: isinstance(v, str) and v != ""),
    "text_key": ("a key", lambda v: isinstance(v, str) and v != ""),
    "shard_count": ("a count of at least 1", lambda v: _is_count(v) and v >= 1),
    "records_read": ("a count", _is_count),
    "blank_lines": ("a count", _is_count),
    "scored": ("a count", _is_count),
    "written": ("a count", _is_count),
    "contaminated": ("a count", _is_count),
    "skipped": ("counts by reason", lambda v: _counts(v, lambda k: k in REASONS)),
    "inputs": ("a list of files", lambda v: isinstance(v, list) and all(_is_input(i) for i in v)),
    "warnings": ("a list of texts", lambda v: isinstance(v, list) and all(isinstance(w, str) for w in v)),
    "top_k": ("a count of at least 1", lambda v: v is None or (_is_count(v) and v >= 1)),
    "fraction": ("a fraction in (0, 1]", lambda v: v is None or part_share(v) is not None),
    "skip_invalid": ("true or false", lambda v: isinstance(v, bool)),
    "parquet_schema": ("a schema", lambda v: v is None or isinstance(v, str)),
    "min_score": ("a finite number", lambda v: v is None or _is_score(v)),
    "coverage": ("a share from 0 to 1", lambda v: v is None or _is_coverage(v)),
    "n_targets": ("a count of at least 1", lambda v: _is_count(v) and v >= 1),
    # Checked as names inside a directory by the merge that writes them (part_dir.safe_name).
    "source_names": (
        "a list of names",
        lambda v: v is None or (isinstance(v, list) and all(isinstance(n, str) for n in v)),
    ),
}
_STATS_CHECKS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "scored": ("a count", _is_count),
    "pairs": ("a count", _is_count),
    "bytes_read": ("a count", _is_count),
    "elapsed": ("seconds", lambda v: (_is_score(v) or _is_count(v)) and v >= 0),
    "score_min": ("a score", lambda v: v is None or _is_score(v)),
    "score_max": ("a score", lambda v: v is None or _is_score(v)),
    "histogram": ("counts by bin", lambda v: _counts(v, _is_bin)),
    "scores": ("a list of scores", lambda v: isinstance(v, list) and all(_is_score(x) for x in v)),
    "pruned": ("counts by checkpoint", lambda v: _counts(v, _is_checkpoint)),
    **{name: ("a count", _is_count) for name in PART_COUNTS},
}
_OPTIONAL = {
    "warnings",
    "top_k",
    "fraction",
    "skip_invalid",
    "parquet_schema",
    "pruned",
    "scores",
    "min_score",
    "coverage",
    "n_targets",
    "source_names",  # parts before merge -o DIR/ wrote attribute files lack it
    *PART_COUNTS,
}


def _are_the_scores(scores: list[float], scored: int, low: float | None, high: float | None) -> bool:
    """A part's kept scores: one per record scored, inside its score range."""
    if len(scores) != scored:
        return False
    return not scores or (low is not None and high is not None and low <= min(scores) <= max(scores) <= high)


def trailer_problem(info: dict[str, Any]) -> str | None:
    """What is wrong with a part's trailer (as a phrase), or None when every value a merge
    uses is one a shard writes."""
    for checks, where, within in ((_TRAILER_CHECKS, "", info), (_STATS_CHECKS, "stats.", info["stats"])):
        for key, (kind, valid) in checks.items():
            if key not in within:
                if key in _OPTIONAL:
                    continue
                return f"its trailer has no {where}{key}"
            if not valid(within[key]):
                return f"its trailer's {where}{key} is not {kind}"
    index, count = info["shard_index"], info["shard_count"]
    if not _is_count(index) or index >= count:
        return "its trailer's shard_index is not from 0 to shard_count - 1"
    return _inconsistency(info)


def _inconsistency(info: dict[str, Any]) -> str | None:
    """Counts and bounds that a shard writes consistently: every record read was scored,
    skipped, set aside or stopped by --adaptive, so a part cannot hide a left-out record
    from the merge (an attribute file needs a line for every document)."""
    stopped = sum(info["stats"].get("pruned", {}).values())
    accounted = info["scored"] + sum(info["skipped"].values()) + info["contaminated"] + stopped
    if info["records_read"] != accounted:
        return "its trailer's records_read is not scored + skipped + contaminated + stopped"
    if info["written"] > info["scored"] - info["stats"].get("below_min_score", 0):
        return "its trailer's written is more than scored (less those below its min_score)"
    low, high = info["stats"]["score_min"], info["stats"]["score_max"]
    if (low is None) != (high is None) or (low is not None and low > high):
        return "its trailer's stats.score_min and stats.score_max are not a range"
    scores = info["stats"].get("scores")
    if scores is not None and not _are_the_scores(scores, info["stats"]["scored"], low, high):
        return "its trailer's stats.scores are not the part's scores"
    return None

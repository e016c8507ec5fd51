"""The end-of-run summary (lines for stderr) and the --report JSON: what a run did."""

from __future__ import annotations

import importlib
import platform
from datetime import datetime, timezone
from typing import Any

from ..base.errors import redacted, shown
from ..base.stats import RunStats
from ..files.locations import input_stats


def timestamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary_lines(stats: RunStats, what: str) -> list[str]:
    """The end-of-run summary, as plain lines."""
    d = stats.to_dict()
    blank = f" ({_count(stats.blank_lines, 'blank line')} ignored)" if stats.blank_lines else ""
    lines = [
        f"read {_count(stats.records_read, 'record')}{blank}, scored {stats.scored:,}, "
        f"skipped {d['skipped_total']:,}, {what} {stats.selected:,}",
    ]
    if stats.skipped:
        # Reasons, kinds and units may come from a shard part's trailer: data, shown escaped.
        lines.append("skipped: " + ", ".join(f"{shown(r)} {n:,}" for r, n in sorted(stats.skipped.items())))
    dropped = []
    if stats.contaminated:
        dropped.append(_count(stats.contaminated, "near-copy", "near-copies") + " of targets")
    for kind, n in sorted(stats.duplicates.items()):
        dropped.append(_count(n, f"{shown(kind)} duplicate"))
    if dropped:
        lines.append("dropped " + ", ".join(dropped))
    if stats.min_score is not None:
        # The threshold as given (the shortest decimal of the float), not rounded like scores.
        lines.append(f"below --min-score {stats.min_score!r}: {_count(stats.below_min_score, 'record')}")
    if stats.budget_used is not None:
        lines.append(f"budget used: {stats.budget_used:,} {shown(stats.budget_unit or '')}".rstrip())
    if stats.scored:
        low, median, high = (_score(x) for x in (stats.score_min, d["score_median"], stats.score_max))
        # The median comes from the fine histogram, to half a bin (stats.BIN_WIDTH): it says so.
        scores = f"score min {low}, median ~{median}, max {high}"
        if stats.threshold is not None and what == "selected":
            scores += f"; selection threshold {_score(stats.threshold)}"
        lines.append(scores)
        lines.extend(histogram_lines(stats, stats.threshold if what == "selected" else None))
    lines.extend(_adaptive_lines(stats))
    work = stats.work_time
    rate = stats.records_read / work if work else 0.0
    pair_rate = stats.pairs / work if work else 0.0
    speed = f"{rate:,.0f} records/s, {pair_rate:,.0f} pairs/s"
    if stats.shards_elapsed is None:
        lines.append(f"elapsed {stats.elapsed:.2f} s, {speed}")
    else:  # a merge: its own wall time; the rates are the shards' (per shard-second)
        lines.append(f"elapsed {stats.elapsed:.2f} s; shards {stats.shards_elapsed:.2f} s in total, {speed}")
    return lines


def _adaptive_lines(stats: RunStats) -> list[str]:
    """What --adaptive did: records stopped, comparisons saved, its starting threshold, the audit."""
    lines = []
    if stats.pruned:
        stops = ", ".join(
            f"after {float(c) * 100:.3g}%: {n:,}"
            for c, n in sorted(stats.pruned.items(), key=lambda x: float(x[0]))
        )
        saving = stats.pairs_exhaustive / stats.pairs if stats.pairs else 0.0
        lines.append(
            f"adaptive: {sum(stats.pruned.values()):,} records stopped early ({stops}); "
            f"{stats.pairs:,} comparisons of {stats.pairs_exhaustive:,} exhaustive ({saving:.1f}x fewer)"
        )
    if stats.presampled:
        start = "" if stats.start_threshold is None else f" {_score(stats.start_threshold)}"
        line = f"adaptive: starting threshold{start}, from {stats.presampled:,} records scored first"
        if stats.rescored:
            line += f"; it proved too high: {stats.rescored:,} stopped records were read again and scored"
        lines.append(line)
    if stats.audited:
        lines.append(
            f"adaptive audit: {stats.audited:,} stopped records compared with every target, "
            f"{stats.audit_misses:,} belonged in the top K"
        )
    return lines


def _score(x: float, width: int = 0) -> str:
    # Four decimals suit every score zipfit computes; a huge one (a contrast weight of 1e300)
    # would print hundreds of digits.
    return f"{x:{width}.4f}" if abs(x) < 1e6 else f"{x:{width}.4g}"


def _count(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


def histogram_lines(stats: RunStats, threshold: float | None, width: int = 30) -> list[str]:
    """A small text histogram of scores; '>' marks bins at or above the selection threshold."""
    bins = stats.coarse_histogram(10)
    if not bins or stats.score_max == stats.score_min:
        return []
    peak = max(c for _, _, c in bins) or 1
    lines = []
    for lo, hi, count in reversed(bins):
        mark = ">" if threshold is not None and hi > threshold else " "
        bar = "#" * max(1 if count else 0, round(count / peak * width))
        lines.append(f" {mark} {_score(lo, 7)} .. {_score(hi, 7)} | {bar:<{width}} {count:,}")
    return lines


def report_dict(stats: RunStats, settings: dict[str, Any], command_line: list[str]) -> dict[str, Any]:
    """The --report JSON: what ran (command line, versions, settings, the inputs' sizes and
    modification times), counters and timing."""
    from ..base.version import __version__

    paths = [p for key in ("sources", "targets", "background", "parts") for p in settings.get(key) or []]
    return {
        "zipfit_version": __version__,
        "finished_at": timestamp(),
        "command_line": [redacted(arg) for arg in command_line],  # reports get shared: no URL passwords
        "versions": versions(),
        "settings": settings,
        "inputs": [found for found in input_stats(paths) if found is not None],
        "stats": stats.to_dict(),
        "warnings": stats.warnings,
    }


def versions() -> dict[str, str | None]:
    """Python's and each compression library's version: a library's version can change
    compressed sizes, so scores depend on it (zlib's above all, for the paper's gzip)."""
    import zlib

    found: dict[str, str | None] = {"python": platform.python_version(), "zlib": zlib.ZLIB_RUNTIME_VERSION}
    for name, attribute in (("lz4", "library_version_string"), ("zstandard", "ZSTD_VERSION"), ("isal", "")):
        try:
            module = importlib.import_module(name)
        except ImportError:
            found[name] = None
            continue
        value = getattr(module, attribute or "__version__", None)
        if callable(value):
            value = value()
        found[name] = ".".join(map(str, value)) if isinstance(value, tuple) else str(value)
    return found

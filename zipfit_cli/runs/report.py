"""The end-of-run summary (lines for stderr) and the --report JSON: what a run did."""

from __future__ import annotations

import importlib
import platform
import re
from datetime import datetime, timezone
from typing import Any

from ..base.errors import redacted, shown
from ..base.stats import RunStats
from ..files.locations import STDIN, input_stats


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
    if stats.selected_by:  # --coverage: the first records by coverage, the rest by score
        took = stats.selected_by
        lines.append(f"by coverage {took['coverage']:,} (written first), by score {took['score']:,}")
    if stats.budget_used is not None:
        used = f"budget used: {stats.budget_used:,} {shown(stats.budget_unit or '')}".rstrip()
        lines.append(used + (" (the shortest of the selection)" if stats.budget_fill == "shortest" else ""))
    # Coverage picks and a shortest fill select no prefix of the ranking: no score is a cut.
    cut = not stats.selected_by and stats.budget_fill != "shortest"
    if stats.scored:
        low, median, high = (_score(x) for x in (stats.score_min, d["score_median"], stats.score_max))
        # Past stats.EXACT_SCORES the median comes from the histogram, to half a bin: it says so.
        about = "" if stats.median_exact else "~"
        scores = f"score min {low}, median {about}{median}, max {high}"
        if stats.threshold is not None and what == "selected":
            label = "selection threshold" if cut else "lowest selected score"
            scores += f"; {label} {_score(stats.threshold)}"
        lines.append(scores)
        lines.extend(histogram_lines(stats, stats.threshold if what == "selected" and cut else None))
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


def outputs_line(outputs: dict[str, str]) -> str:
    """Where the run's outputs went, for the full summary: `output top.jsonl; report run.json`."""
    return "; ".join(f"{label} {_where(path)}" for label, path in outputs.items())


def _where(path: str) -> str:
    return "stdout" if path == STDIN else shown(path)


# The full summary's names of the outputs, and the line's: the options that name them.
_OUTPUT_KEYS = {"near-copies": "contaminated_output"}


def summary_line(stats: RunStats, what: str, outputs: dict[str, str]) -> str:
    """The summary as one line of key=value pairs (logfmt: a value with a space, a quote or
    an equals sign is quoted), for logs: `grep 'zipfit: summary'` finds one line a run, and
    the keys a run always has are always there, in the same order."""
    d = stats.to_dict()
    pairs: list[tuple[str, object]] = [("read", stats.records_read), ("scored", stats.scored)]
    pairs.append(("skipped", d["skipped_total"]))
    # Each reason (records.REASONS, names a key can hold), as the full summary lists them.
    pairs += [(f"skipped_{r}", n) for r, n in sorted(stats.skipped.items()) if re.fullmatch("[a-z_]+", r)]
    optional = {"blank_lines": stats.blank_lines, "contaminated": stats.contaminated}
    optional |= {"duplicates": sum(stats.duplicates.values()), "pruned": d["pruned_total"]}
    pairs += [(key, value) for key, value in optional.items() if value]
    if stats.min_score is not None:
        pairs += [("min_score", repr(stats.min_score)), ("below_min_score", stats.below_min_score)]
    pairs.append((what, stats.selected))
    if stats.selected_by:
        pairs += [(f"by_{rule}", stats.selected_by[rule]) for rule in ("coverage", "score")]
    for key in ("score_min", "score_median", "score_max"):
        pairs.append((key, "none" if d[key] is None else _score(d[key])))
    if stats.threshold is not None and what == "selected":
        pairs.append(("threshold", _score(stats.threshold)))
    if stats.budget_used is not None:
        pairs += [("budget_used", stats.budget_used), ("budget_unit", stats.budget_unit or "")]
        pairs.append(("budget_fill", stats.budget_fill or "rank"))
    if stats.presampled:
        pairs += [("presampled", stats.presampled), ("rescored", stats.rescored)]
    if stats.audited:
        pairs += [("audited", stats.audited), ("audit_misses", stats.audit_misses)]
    pairs.append(("elapsed_s", f"{stats.elapsed:.2f}"))
    if stats.shards_elapsed is not None:  # a merge: the shards' time added up
        pairs.append(("shards_elapsed_s", f"{stats.shards_elapsed:.2f}"))
    pairs.append(("records_per_s", f"{d['records_per_s'] or 0:.0f}"))
    pairs.append(("warnings", len(stats.warnings)))
    pairs += [(_OUTPUT_KEYS.get(label, label), _where(path)) for label, path in outputs.items()]
    return "summary " + " ".join(f"{key}={_logfmt(value)}" for key, value in pairs)


def _logfmt(value: object) -> str:
    text = shown(value)  # one line, no control characters, no URL password
    if text and not any(c in text for c in ' "=\\'):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


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

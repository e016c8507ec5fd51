"""`zipfit merge`: shard parts back into the result one run over the whole input gives."""

from __future__ import annotations

import heapq
import itertools
import os
import time
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import orjson

from ..base.errors import InputError, UsageError, shown
from ..base.stats import RunStats
from ..files.compression import compression_of
from ..files.locations import STDIN
from ..files.reading import DEFAULT_MAX_LINE_BYTES, LongLine, read_lines
from ..files.records import TextSpec
from ..files.shards import PART_KEY, PART_VERSION, part_share, trailer_problem, untag_index
from ..files.writing import RecordWriter, Sink, output_shape, refuse_ranked_attributes
from ..selection.ranking import Share, check_limits, count_for_fraction, rank
from ..selection.rules import Filters, below, check_fill_has_limit, check_min_score, limited
from .merge_coverage import merge_covering, with_distances

Record = tuple[float, int, bytes]
_TRAILER_START = b'{"' + PART_KEY.encode() + b'"'
# Parts must agree on every setting of their trailer except these: where the shard ran
# (its index, workers, batch size, engine), the target files' names (their content is
# compared by hash), and its own counts. A new setting is compared without a change here.
_MAY_DIFFER = {
    "shard_index", "workers", "batch_size", "engine", "targets", "target_key", "target_template",
    "background",  # the file names: the background's content is compared by hash
    "records_read", "blank_lines", "scored", "skipped", "contaminated", "written", "stats",
    "inputs",  # compared below, file by file, with a message of its own
    "warnings",  # added up
}  # fmt: skip


@dataclass
class Part:
    path: str
    info: dict[str, Any]

    @property
    def complete(self) -> bool:
        """Holds every record its shard scored at or above its --min-score (not cut to a
        local top K)."""
        below = self.info["stats"].get("below_min_score", 0)
        return bool(self.info["written"] == self.info["scored"] - below)


def _part_lines(path: str, max_line_bytes: int) -> Iterator[tuple[int, bytes]]:
    """A part's lines. Parts hold records their shard accepted under its --max-line-bytes;
    a longer line (or one with no end: /dev/zero) stops the merge as soon as it is seen."""
    for line_no, line in read_lines(path, max_line_bytes, measure_long=False):
        if isinstance(line, LongLine):
            raise InputError(
                f"{shown(path)}:{line_no}: line is over the line-length limit of {max_line_bytes:,} bytes; "
                "give merge the --max-line-bytes the shards had",
                setting="max_line_bytes",
            )
        yield line_no, line


def read_part(path: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Part:
    """The part's trailer (its last line); refuses files that are not complete zipfit parts."""
    if path == STDIN:
        raise UsageError("merge reads part files, not stdin")
    last = b""
    if compression_of(path) is None and os.path.isfile(path) and os.path.getsize(path) > 1 << 16:
        with open(path, "rb") as f:  # a plain file: its tail is enough, if it holds a line break
            f.seek(os.path.getsize(path) - (1 << 16))
            tail = f.read().rstrip(b"\r\n")
        if b"\n" in tail:
            last = tail.rsplit(b"\n", 1)[1]
    if not last:
        for _, line in _part_lines(path, max_line_bytes):
            if line.strip():
                last = line
    return Part(path, _trailer(path, last))


_REQUIRED = {"command": str, "score_key": str, "text_key": str, "shard_index": int, "shard_count": int,
             "records_read": int, "blank_lines": int, "scored": int, "written": int, "contaminated": int,
             "skipped": dict, "stats": dict, "inputs": list}  # fmt: skip


def _trailer(path: str, line: bytes) -> dict[str, Any]:
    not_part = (
        f"{shown(path)}: not a complete zipfit part (no valid trailer line); write parts with --shard I/N"
    )
    if not line.startswith(_TRAILER_START):
        raise InputError(not_part)
    try:
        info = orjson.loads(line)[PART_KEY]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise InputError(not_part) from None
    if not isinstance(info, dict) or any(not isinstance(info.get(k), t) for k, t in _REQUIRED.items()):
        raise InputError(not_part)
    if info.get("part_version") != PART_VERSION:
        raise InputError(
            f"{shown(path)}: part format {shown(repr(info.get('part_version')))}; "
            f"this zipfit merges {PART_VERSION}"
        )
    problem = trailer_problem(info)
    if problem is not None:
        raise InputError(f"{shown(path)}: {problem}; the part was modified or is not a zipfit part")
    return info


# The settings that say most about which run a part came from are compared first, so a
# score part among select parts is named as such, not by a hash that follows from it.
_TELLING = ("command", "method", "compressor", "level", "output_format", "shard_by", "shard_count")


def _telling_first(key: str) -> tuple[int, str]:
    return (_TELLING.index(key) if key in _TELLING else len(_TELLING), key)


def check_parts(parts: list[Part]) -> None:
    """All parts from one run, every shard present exactly once."""
    first = parts[0].info
    for part in parts[1:]:
        for key in sorted((first.keys() | part.info.keys()) - _MAY_DIFFER, key=_telling_first):
            if part.info.get(key) != first.get(key):
                raise InputError(
                    f"{shown(part.path)}: {shown(key)} differs from {shown(parts[0].path)} "
                    f"({shown(repr(part.info.get(key)))} vs {shown(repr(first.get(key)))}); "
                    "parts must come from one run"
                )
    count = first["shard_count"]
    seen: dict[int, str] = {}
    for part in parts:
        i = part.info["shard_index"]
        if i in seen:
            raise InputError(f"shard {i}/{count} given twice: {shown(seen[i])} and {shown(part.path)}")
        seen[i] = part.path
    # The first few only: the count is the part's word, and may be huge.
    missing = list(itertools.islice((i for i in range(count) if i not in seen), 10))
    if missing:
        raise InputError(f"missing shard(s) {', '.join(f'{i}/{count}' for i in missing)}")
    for part in parts[1:]:
        for was, now in zip(first["inputs"], part.info["inputs"], strict=False):
            if was != now and was is not None and now is not None:
                raise InputError(
                    f"input {shown(now['path'])} changed between shards: {shown(parts[0].path)} read "
                    f"{was['size']:,} bytes modified at {was['mtime_ns']} ns, {shown(part.path)} read "
                    f"{now['size']:,} bytes modified at {now['mtime_ns']} ns; run every shard again"
                )


def part_records(
    part: Part, score_key: str, by_rank: bool, max_line_bytes: int
) -> Iterator[tuple[float, int, bytes]]:
    """(score, index, line) of a part's records, checking their count and the order the
    merge relies on. Records come first, as many as the trailer says, then the trailer:
    a record may itself start like a trailer. A --coverage part's scores carry their
    distances to the targets (merge_coverage.py).
    """
    covered = part.info.get("coverage") is not None
    expected = part.info["written"]
    seen = 0
    prev: tuple[float, int] | None = None
    for line_no, line in _part_lines(part.path, max_line_bytes):
        if not line.strip():
            continue
        if seen == expected:
            if not line.startswith(_TRAILER_START):
                raise InputError(
                    f"{shown(part.path)}:{line_no}: more records than its trailer says; the part was modified"
                )
            return
        seen += 1
        try:
            index, clean = untag_index(line)
            score = orjson.loads(line)[score_key]
            if not isinstance(score, float):
                raise TypeError(score)
            if covered:
                score, clean = with_distances(score, clean, part.info["n_targets"])
        except (ValueError, KeyError, TypeError):
            raise InputError(f"{shown(part.path)}:{line_no}: not a zipfit part record") from None
        key = (-score, index) if by_rank else (0.0, index)
        if prev is not None and key <= prev:
            raise InputError(f"{shown(part.path)}:{line_no}: records out of order; the part was modified")
        prev = key
        yield score, index, clean
    raise InputError(
        f"{shown(part.path)}: {seen} records where its trailer says {expected}; the part is incomplete"
    )


def run_merge(
    paths: list[str],
    sink: Sink,
    top_k: int | None = None,
    fraction: Share | None = None,
    spool_dir: str | None = None,
    filters: Filters | None = None,
    output_format: str = "records",
    id_key: str = "id",
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    min_score: float | None = None,
) -> RunStats:
    """Merge parts; -k/--fraction override the selection the parts were written with.
    Filters (dedupe, budgets) apply to the merged ranking, so they need parts that hold
    their shard's whole ranking (written without -k). `min_score` (else the parts' own)
    leaves out records below it first; it may not be below the parts' own."""
    check_limits(top_k, fraction)
    start = time.perf_counter()
    parts = [read_part(p, max_line_bytes) for p in paths]
    check_parts(parts)
    floor = _floor(parts, check_min_score(min_score))
    if output_format == "attributes":
        selects = parts[0].info["command"] == "select" or top_k is not None or fraction is not None
        check_attribute_merge(parts, ranked=selects or bool(filters), id_key=id_key, floor=min_score)
    info = parts[0].info
    stats = merged_stats(parts, floor)
    stats.check_any_scored()  # the shards leave this check to the merge
    scored_total = sum(p.info["scored"] for p in parts)
    score_key = info["score_key"]
    if top_k is None and fraction is None and info["command"] == "select":
        top_k, fraction = info.get("top_k"), part_share(info.get("fraction"))
    keep = count_for_fraction(fraction, scored_total) if fraction is not None else top_k
    selecting = info["command"] == "select" or keep is not None
    by_rank, keep_after = info["command"] == "select", keep
    if filters:
        check_fill_has_limit(filters, keep_after)
        keep = None  # duplicates and budgets decide how far down the ranking to read
        selecting = True
    stats.below_min_score += _check_parts_hold(parts, keep, by_rank, score_key, max_line_bytes, floor)
    streams = [_at_least(floor, part_records(p, score_key, by_rank, max_line_bytes)) for p in parts]
    merged = _once(heapq.merge(*streams, key=_rank_order if by_rank else _index))
    shape = output_shape(output_format, score_key, id_key, TextSpec.build(info["text_key"]))
    writer = RecordWriter(sink, score_key, stats, ranked=selecting, scored=True, shape=shape)
    if info.get("coverage") is not None:  # the selection is made here: merge_coverage.py
        merged = merge_covering(parts, merged, keep_after, filters, stats, spool_dir, floor)
        keep, filters = None, None
    ranked = _ordered(merged, by_rank, selecting, keep, spool_dir)
    with closing(ranked):
        chosen: Iterator[Record] = ranked
        if filters:
            spec = TextSpec.build(info["text_key"])
            chosen = limited(chosen, spec, filters, stats, keep_after)
        for score, index, line in chosen:
            writer.write(score, index, line)
    if selecting:
        stats.check_selection()
    stats.check_attribute_lines(output_format)
    stats.elapsed = time.perf_counter() - start
    return stats


def _once(merged: Iterator[Record]) -> Generator[Record, None, None]:
    """The merged records, refusing one that two parts hold: in merge order a copy of a record
    (its score and index) comes right after it, so this costs one comparison a record."""
    last = None
    for record in merged:
        if record[1] == last:
            raise InputError("a record is in two parts (a part was modified): each shard's holds its own")
        last = record[1]
        yield record


def _ordered(
    merged: Generator[Record, None, None],
    by_rank: bool,
    selecting: bool,
    keep: int | None,
    spool_dir: str | None,
) -> Generator[Record, None, None]:
    """The merged records in output order: select parts are merged in rank order already
    (cut at `keep`); score parts are ranked here when selecting, else stay in input order."""
    if by_rank:
        return merged if keep is None else _first(keep, merged)
    if selecting:
        return rank(merged, top_k=keep, spool_dir=spool_dir)
    return merged


def _floor(parts: list[Part], min_score: float | None) -> float | None:
    """The merge's --min-score, else the one the parts were written with (they all agree:
    check_parts). Below the parts' own it would need records the shards left out."""
    made: float | None = parts[0].info.get("min_score")
    if min_score is None:
        return made
    if made is not None and min_score < made:
        raise InputError(
            f"the parts hold only records scoring at least {shown(repr(made))} (their --min-score); "
            f"--min-score {shown(repr(min_score))} needs records they left out: write the parts with it",
            setting="min_score",
        )
    return min_score


def _at_least(floor: float | None, records: Iterator[Record]) -> Iterator[Record]:
    return records if floor is None else (record for record in records if not below(record[0], floor))


def check_attribute_merge(parts: list[Part], ranked: bool, id_key: str, floor: float | None = None) -> None:
    """Attribute output from parts: one line per document, in order, each with its id."""
    refuse_ranked_attributes("attributes", ranked=ranked)
    if floor is not None:
        raise UsageError(
            "an attribute file needs a line for every document, in order: --min-score leaves records "
            "out; merge with --output-format records or ids",
            setting="min_score",
        )
    _check_every_document(parts)
    if parts[0].info["score_key"] == id_key:
        # A part's records carry their score under the score key: there, it replaced the id.
        raise UsageError(
            f"the parts hold their scores under the id key '{shown(id_key)}', in place of each "
            "record's id, which an attribute line needs: write the parts with another --score-key",
            setting=("score_key", "id_key"),
        )


def _check_parts_hold(
    parts: list[Part],
    keep: int | None,
    by_rank: bool,
    score_key: str,
    max_line_bytes: int,
    floor: float | None,
) -> int:
    """Each part holds the records the merge needs, and every part reads to its end; the
    count of records the parts hold below `floor` (a --min-score above the parts' own)."""
    for part in parts:
        if by_rank and not part.complete and (keep is None or part.info["written"] < keep):
            raise InputError(
                f"{shown(part.path)} holds its shard's top {part.info['written']} records only; "
                f"the merge needs {keep if keep is not None else 'all'}; write parts with a larger -k or none"
            )
    # Every part read to its end before anything is written: a selection stops reading early,
    # and a part with a line deleted or moved must not merge into a wrong result.
    held_below = 0
    for part in parts:
        for score, _, _ in part_records(part, score_key, by_rank, max_line_bytes):
            held_below += below(score, floor)
    return held_below


def _check_every_document(parts: list[Part]) -> None:
    """An attribute file has a line for every document, in order, as `score` refuses to
    write one under --skip-invalid or decontamination: parts that left records out cannot
    make one either."""
    left_out = sum(
        sum(p.info["skipped"].values()) + p.info["contaminated"] + p.info["stats"].get("below_min_score", 0)
        for p in parts
    )
    if left_out:
        raise UsageError(
            "an attribute file needs a line for every document, in order: the parts left "
            f"{left_out:,} record(s) out (--skip-invalid, decontamination or --min-score); merge them with "
            "--output-format records or ids"
        )


def merged_stats(parts: list[Part], floor: float | None) -> RunStats:
    """Every scored record's statistics, not only the ones the parts kept, added up."""
    stats = RunStats(min_score=floor)
    for part in parts:
        stats += RunStats.from_part(part.info["stats"])
        stats.records_read += part.info["records_read"]
        stats.blank_lines += part.info["blank_lines"]
        stats.skipped.update(part.info["skipped"])
        stats.contaminated += part.info["contaminated"]
        # A part's warnings are shown as they are: one line each, whatever the part holds.
        stats.warnings += [w for w in map(shown, part.info.get("warnings", [])) if w not in stats.warnings]
    stats.shards_elapsed, stats.elapsed = stats.elapsed, 0.0
    return stats


def _rank_order(record: Record) -> tuple[float, int]:
    return -record[0], record[1]


def _index(record: Record) -> int:
    return record[1]


def _first(n: int, records: Iterator[Record]) -> Generator[Record, None, None]:
    for _, record in zip(range(n), records, strict=False):
        yield record

"""What runs on a Dask worker for `--engine dask`: one partition read, scored and summed.

A partition is a source file, a byte range of a JSONL one, or pieces of a table (row groups,
record batches, a dataset's data files); its result is counters plus rows (local
index, line number, result, line), or with -k only the partition's own top K. The client
side (dask_engine.py) plans partitions and turns their rows into the global stream.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from ..base.errors import InputError, InvalidRecordError, shown
from ..base.results import Contaminated, Pruned, Result, Skipped
from ..base.stats import RunStats
from ..files.batches import BATCH_BYTES
from ..files.reading import DEFAULT_MAX_LINE_BYTES, ReadError
from ..files.sources import open_range
from ..scoring.adaptive import Audit
from ..scoring.distances import coverage_targets
from ..scoring.thresholds import Thresholds
from ..selection.coverage import Candidates
from ..selection.ranking import TopK
from ..selection.rules import below
from .engine import audit_stopped
from .runner import Gated, ScoreJob

# (index within the partition, line number within it, offset after the line, result, line)
Row = tuple[int, int, int, Result, bytes]


@dataclass(frozen=True)
class Partition:
    """A piece of one source: the whole file, the lines that start in bytes [start, end) of
    JSONL, or a table's pieces [start, end) (sources.open_range)."""

    path: str  # as the user named it (or a glob expanded it); shown in errors
    url: str  # what a worker opens: an absolute local path or an fsspec URL
    start: int = 0
    end: int | None = None  # None: to the end of the file
    done: int = 0  # bytes on disk of the whole input up to the end of this partition


@dataclass
class PartResult:
    stats: RunStats  # reading counters; with checked rows also scores and skipped reasons
    lines: int = 0  # physical lines: later blocks of the same file number theirs after these
    rows: list[Row] = field(default_factory=list)  # input order
    checked: bool = False  # rows were checked on the worker: valid top-K rows only
    invalid: tuple[int, str, str] | None = None  # checked: first bad record (line, reason, detail)
    failure: tuple[int, str] | None = None  # the file could not be read: (line, error)
    refused: str | None = None  # the reader's own one-line error (not a table, a bad row)


class FileRecords:
    """Records each source file gave over its partitions: a file that gives none is warned
    of, as the local reader does (a truncated upstream file must not pass in silence)."""

    def __init__(self) -> None:
        self._records: dict[str, tuple[str, int]] = {}  # url: (the path shown, records)

    def add(self, part: Partition, records: int) -> None:
        path, count = self._records.get(part.url, (part.path, 0))
        self._records[part.url] = (path, count + records)

    def warn(self, stats: RunStats) -> None:
        stats.warnings += [f"{shown(path)} holds no records" for path, n in self._records.values() if not n]


def raise_part_failure(part: Partition, result: PartResult, line_base: int) -> None:
    """Raise the error a partition's result reports, if any, as the local engine would:
    `line_base` is the lines of the same file in the blocks before this one."""
    if result.refused is not None:
        raise InputError(result.refused)
    if result.failure is not None:
        line_no, error = result.failure
        raise InputError(f"{shown(part.path)}:{line_base + line_no}: cannot read: {error}")
    if result.invalid is not None:
        line_no, reason, detail = result.invalid
        raise InvalidRecordError(part.path, line_base + line_no, reason, detail)


def score_partition(
    job: ScoreJob,
    part: Partition,
    *,
    batch_size: int,
    keep: int | None,
    cap: int | None,
    skip_invalid: bool,
    floor: float | None = None,
    drain: Callable[[list[Row]], None] | None = None,
    coverage: Decimal | None = None,
) -> PartResult:
    """Runs on a worker: read one partition, score it, return counters and rows.

    keep: return only the `keep` best valid rows, checking bad records here. cap: read at
    most this many records (--limit); the next non-blank line is still read and counted,
    as the local reader does. floor: --min-score; with `keep`, rows below it are counted
    here and not returned (and --adaptive prunes against it too). drain: takes each batch's
    rows, not kept (part_task.py). coverage: with `keep`, each target's nearest rows too."""
    stats = RunStats()
    result = PartResult(stats, checked=keep is not None)
    rows = _PartRows(job, result, keep, skip_invalid, floor, coverage)
    rows.drain = drain
    try:
        limit = job.spec.max_line_bytes if job.spec is not None else DEFAULT_MAX_LINE_BYTES
        source = open_range(part.path, part.url, part.start, part.end, limit)
    except OSError as exc:
        result.failure = (1, str(exc))
        return result
    except InputError as exc:  # the client raises it as it is, as the local engine would
        result.refused = str(exc)
        return result
    held = 0  # line bytes in rows.batch: cut at BATCH_BYTES too, as the local engine does
    try:
        for line_no, line in source:
            if cap is not None and stats.records_read >= cap:
                break
            rows.batch.append((stats.records_read, line_no, source.consumed, line))
            stats.records_read += 1
            held += len(line)
            if len(rows.batch) >= batch_size or held >= BATCH_BYTES:
                held = 0
                if not rows.flush():
                    return result
    except ReadError as exc:
        result.failure = (exc.line_no, exc.problem)
        return result
    except InputError as exc:
        result.refused = str(exc)
        return result
    finally:
        stats.blank_lines = source.blank_lines
        source.close()
    if rows.batch and not rows.flush():
        return result
    stats.bytes_read = source.consumed
    result.lines = source.lines
    rows.finish()
    return result


class _PartRows:
    """Scores a partition's records batch by batch into its PartResult: every row, or with
    `keep` only the best valid ones, checked here, plus near-copies for the client to count.
    """

    def __init__(
        self,
        job: ScoreJob,
        result: PartResult,
        keep: int | None,
        skip_invalid: bool,
        floor: float | None,
        coverage: Decimal | None = None,
    ) -> None:
        self.job, self.floor = job, floor
        self.result = result
        self.skip_invalid = skip_invalid
        self.best: TopK[tuple[int, int, bytes]] | Candidates[tuple[int, int, bytes]] | None = None
        if keep is not None:
            n_targets = coverage_targets(job.scorer) if coverage else 0
            self.best = Candidates(keep, coverage, n_targets) if coverage else TopK(keep)
        self.batch: list[tuple[int, int, int, bytes]] = []  # (index, line number, end offset, line)
        self.drain: Callable[[list[Row]], None] | None = None  # takes the rows of each batch
        self.aside: list[Row] = []  # near-copies of targets, in checked mode
        # --adaptive: this partition prunes against its own top K, block by block (adaptive.py).
        adaptive = keep is not None and job.adaptive is not None
        self.thresholds = Thresholds(keep, floor=floor) if adaptive else None
        self.audit = (
            Audit(job.adaptive.audit, job.adaptive.seed) if self.thresholds and job.adaptive else None
        )

    def _scores(self) -> list[Result]:
        lines = [line for *_, line in self.batch]
        thresholds = self.thresholds
        if thresholds is None:
            return self.job.score(lines)
        scores: list[Result] = []
        start = 0
        while start < len(lines):  # one block at a time, each with its threshold
            first = self.batch[start][0]
            end = start + 1
            while end < len(lines) and self.batch[end][0] // thresholds.block == first // thresholds.block:
                end += 1
            block_scores = self.job.score(Gated(lines[start:end], thresholds.threshold(first)))
            for (index, *_), score in zip(self.batch[start:end], block_scores, strict=True):
                thresholds.add(score if isinstance(score, float) else None, index)
            scores += block_scores
            start = end
        return scores

    def flush(self) -> bool:
        """Score the batch; False when a bad record stops the partition."""
        result, best, stats = self.result, self.best, self.result.stats
        scores = self._scores()
        for (index, line_no, end, line), score in zip(self.batch, scores, strict=True):
            if isinstance(score, Pruned):
                stats.add_pruned(score)
                if self.audit is not None:
                    self.audit.offer(index, line, score.checkpoint)
            elif best is None:
                result.rows.append((index, line_no, end, score, line))
            elif isinstance(score, Contaminated):  # counted (and maybe kept aside) by the client
                self.aside.append((index, line_no, end, score, line))
            elif isinstance(score, Skipped):
                if not self.skip_invalid:
                    result.invalid = (line_no, *score)
                    return False
                stats.skipped[score.reason] += 1
            else:
                stats.add_score(score)
                if below(score, self.floor):
                    stats.below_min_score += 1
                else:
                    best.push(score, index, (line_no, end, line))
        self.batch.clear()
        if self.drain is not None and best is None:
            self.drain(result.rows)
            result.rows.clear()
        return True

    def finish(self) -> None:
        best, job = self.best, self.job
        if best is not None and self.audit is not None and self.thresholds is not None and job.spec:
            found = self.thresholds.best()
            for score, index, line in audit_stopped(
                job.scorer, job.spec, self.result.stats, self.audit, found, best.k, self.floor
            ):
                best.push(score, index, (0, 0, line))  # line number and offset serve set-aside rows only
        if self.best is not None:
            kept = [(i, line_no, end, score, line) for score, i, (line_no, end, line) in self.best.ranked()]
            self.result.rows = sorted([*kept, *self.aside], key=lambda row: row[0])


def dask_setup(worker: object) -> None:
    """Preload hook of local-cluster workers: Ctrl-C reaches the whole process group, and only
    zipfit decides what happens next (it closes the cluster), as with the local pool.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

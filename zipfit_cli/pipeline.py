"""The two jobs, `score` and `select`, from source paths to an output sink.

The main process reads and batches lines, the runner scores them (in a pool or not),
and this module turns ordered results into output records and counters.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Protocol

from .budget import BudgetTally, SizeCounter, make_counter, take_within_budget
from .decontam import Decontaminator
from .dedupe import Deduper
from .errors import InputError, InvalidRecordError, UsageError
from .records import STDIN, WHITESPACE, LineReader, RecordError, TextSpec, read_lines
from .runner import CONTAMINATED, Result, ScoreJob, Scorer, map_batches
from .scoring import TargetSet
from .selection import Spool, TopK, add_score, count_for_fraction
from .shards import part_trailer, tag_index
from .stats import RunStats


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...


class ProgressSink(Protocol):
    def update(self, records: int, bytes_done: int) -> None: ...


class _NoProgress:
    def update(self, records: int, bytes_done: int) -> None:
        pass


@dataclass
class RunSettings:
    """What to score and how; shared by `score` and `select`."""

    sources: list[str]
    targets: TargetSet
    spec: TextSpec = field(default_factory=TextSpec)
    workers: int = 1
    batch_size: int = 256
    skip_invalid: bool = False
    score_key: str = "zipfit_score"
    shard: tuple[int, int] | None = None  # (i, n): this run's share of the input
    shard_by: str = "record"  # "record": every n-th record; "file": every n-th file
    limit: int | None = None  # stop after this many records (debugging)
    scorer: Scorer | None = None  # --method corpus: a CorpusScorer; None: pairwise
    decontaminate: Decontaminator | None = None
    contaminated_sink: Sink | None = None  # where dropped near-copies go, if anywhere

    def job(self) -> ScoreJob:
        """What each worker receives once."""
        return ScoreJob(self.targets, self.spec, self.scorer, self.decontaminate)

    @property
    def comparisons(self) -> int:
        """Compressions per record beyond its own: one per target, or one in corpus mode."""
        return 1 if self.scorer is not None else len(self.targets)


def set_aside(
    settings: RunSettings, stats: RunStats, path: str, line_no: int, result: tuple[str, str], line: bytes
) -> None:
    """A record that was not scored: count a near-copy of a target (and keep it aside if asked),
    count a bad record under --skip-invalid, or stop the run naming file and line.
    """
    reason, detail = result
    if reason == CONTAMINATED:
        stats.contaminated += 1
        if settings.contaminated_sink is not None:
            settings.contaminated_sink.write(line if line.endswith(b"\n") else line + b"\n")
        return
    if not settings.skip_invalid:
        raise InvalidRecordError(path, line_no, reason, detail)
    stats.skipped[reason] += 1


@dataclass
class Batch:
    path: str
    line_nos: list[int]
    indexes: list[int]
    lines: list[bytes]
    bytes_done: int


def read_texts(path: str, settings: RunSettings, stats: RunStats) -> Iterator[bytes]:
    """The text of every record of one file, in order, for jobs that need no output records
    (dataset alignment); bad records raise or are counted as in `score`.
    """
    spec = settings.spec
    for line_no, line in read_lines(path, spec.max_line_bytes):
        if not line.strip(WHITESPACE):
            stats.blank_lines += 1
            continue
        stats.records_read += 1
        try:
            yield spec.parse(line)[1]
        except RecordError as exc:
            set_aside(settings, stats, path, line_no, (exc.reason, exc.detail), line)


# A record's key: (file number << FILE_SHIFT) | its position among the file's non-blank
# lines. Keys sort in input order, break score ties, and need no count of earlier files,
# so a shard given whole files can compute them.
FILE_SHIFT = 40


def read_batches(settings: RunSettings, stats: RunStats) -> Iterator[tuple[Batch, list[bytes]]]:
    """Non-blank lines of every source in order, in batches that never span two files.

    --shard I/N takes the records whose position among the non-blank lines of all sources
    leaves remainder I; with shard_by="file" it takes whole files (file number % N == I)
    and reads no other.
    """
    position = 0  # among the non-blank lines of all sources read
    done_before = 0
    size = settings.batch_size
    shard_i, shard_n = settings.shard or (0, 1)
    by_file = settings.shard_by == "file"
    # Counts of the input itself (blank lines, bytes): with record shards every shard reads
    # everything, so shard 0 alone counts them and a merge adds up to the single run's.
    counts_input = by_file or shard_i == 0
    for file_no, path in enumerate(settings.sources):
        if by_file and file_no % shard_n != shard_i:
            if path != STDIN:
                done_before += os.path.getsize(path)
            continue
        reader = LineReader(path, settings.spec.max_line_bytes)
        base = file_no << FILE_SHIFT
        in_file = 0
        batch = Batch(path, [], [], [], 0)
        try:
            for line_no, line in reader:
                if not line.strip(WHITESPACE):
                    stats.blank_lines += counts_input
                    continue
                if settings.limit is not None and position >= settings.limit:
                    break
                if by_file or position % shard_n == shard_i:
                    batch.line_nos.append(line_no)
                    batch.indexes.append(base | in_file)
                    batch.lines.append(line)
                    stats.records_read += 1
                position += 1
                in_file += 1
                if len(batch.lines) >= size:
                    on_disk = reader.position()
                    batch.bytes_done = done_before + (reader.consumed if on_disk is None else on_disk)
                    yield batch, batch.lines
                    batch = Batch(path, [], [], [], 0)
        finally:
            reader.close()
        if in_file == 0:  # a truncated upstream file, say: exit 0 would hide it from a cron job
            stats.warnings.append(f"{'stdin' if path == STDIN else path} holds no records")
        done_before += reader.consumed if path == STDIN else os.path.getsize(path)
        if counts_input:
            stats.bytes_read += reader.consumed
        if batch.lines:
            batch.bytes_done = done_before
            yield batch, batch.lines
        if settings.limit is not None and position >= settings.limit:
            return


Scored = Generator[tuple[float, int, bytes], None, None]
# An engine: (settings, stats, progress, top_k) -> (score, index, line) of valid records in
# input order, with every counter of `stats` kept up to date; bad records raise or are
# counted. Given top_k it may leave out records that cannot be among the top_k best.
Engine = Callable[[RunSettings, RunStats, ProgressSink, int | None], Scored]


def scored_records(
    settings: RunSettings, stats: RunStats, progress: ProgressSink, top_k: int | None = None
) -> Scored:
    """The local engine: this machine, a process pool when workers > 1; top_k is not used."""
    job = settings.job()
    # closing(): an exception in the consumer must stop the pool at once, not at GC time.
    with closing(map_batches(job, read_batches(settings, stats), settings.workers)) as scored:
        yield from _check_results(settings, stats, progress, scored)


def _check_results(
    settings: RunSettings,
    stats: RunStats,
    progress: ProgressSink,
    scored: Iterator[tuple[Batch, list[Result]]],
) -> Iterator[tuple[float, int, bytes]]:
    comparisons = settings.comparisons
    records = 0
    for batch, results in scored:
        for line_no, index, line, result in zip(
            batch.line_nos, batch.indexes, batch.lines, results, strict=True
        ):
            if isinstance(result, tuple):
                set_aside(settings, stats, batch.path, line_no, result, line)
                continue
            stats.add_score(result)
            yield result, index, line
        records += len(results)
        stats.pairs = stats.scored * comparisons
        progress.update(records, batch.bytes_done)


def run_score(
    settings: RunSettings,
    sink: Sink,
    progress: ProgressSink | None = None,
    part: dict[str, Any] | None = None,
    engine: Engine = scored_records,
) -> RunStats:
    """Every valid record in input order with its score added; streams as it goes.

    With `part` (a shard run), lines carry their index and a trailer closes the output.
    """
    stats = RunStats()
    start = time.perf_counter()
    writer = RecordWriter(sink, settings.score_key, stats, part)
    with closing(engine(settings, stats, progress or _NoProgress(), None)) as records:
        for score, index, line in records:
            writer.write(score, index, line)
    stats.elapsed = time.perf_counter() - start
    _check_any_scored(stats, settings)
    writer.close()
    return stats


def _check_any_scored(stats: RunStats, settings: RunSettings) -> None:
    """With --skip-invalid, a run that skipped every record is almost always a wrong
    --text-key or the wrong file: fail loudly instead of writing an empty output. A shard
    writes its part anyway: the merge decides, over all shards.
    """
    if stats.scored == 0 and stats.skipped and settings.shard is None:
        reasons = ", ".join(f"{r} {n:,}" for r, n in sorted(stats.skipped.items()))
        raise InputError(
            f"no record could be scored: all {sum(stats.skipped.values()):,} were skipped ({reasons}); "
            f"check --text-key ({settings.spec.key!r}) and the input files"
        )


@dataclass
class Filters:
    """Selection rules applied in rank order, after scoring (they need the ranked stream)."""

    dedupe: Deduper | None = None
    budget: int | None = None
    counter: SizeCounter | None = None  # what the budget counts: tokens or characters

    def __bool__(self) -> bool:
        return self.dedupe is not None or self.budget is not None


def run_select(
    settings: RunSettings,
    sink: Sink,
    progress: ProgressSink | None = None,
    top_k: int | None = None,
    fraction: float | None = None,
    spool_dir: str | None = None,
    part: dict[str, Any] | None = None,
    engine: Engine = scored_records,
    filters: Filters | None = None,
) -> RunStats:
    """The best records ranked by score (all of them when neither top_k nor fraction is set).

    With top_k, memory holds k records; otherwise (and with filters) records are spooled to
    a temporary file and only their scores stay in memory.
    """
    if top_k is not None and fraction is not None:
        raise UsageError("give either --top-k or --fraction, not both")
    stats = RunStats()
    start = time.perf_counter()
    writer = RecordWriter(sink, settings.score_key, stats, part, ranked=True)
    if filters:
        # Dropping duplicates or stopping at a budget changes which records count, so the
        # whole ranking is kept and the limits are applied while reading it in order.
        with (
            closing(engine(settings, stats, progress or _NoProgress(), None)) as records,
            closing(rank(records, spool_dir=spool_dir)) as ranked,
        ):
            first = next(ranked, None)  # the spool is full now: the count of scored is final
            keep = count_for_fraction(fraction, stats.scored) if fraction is not None else top_k
            if first is not None:
                chosen = apply_filters(itertools.chain([first], ranked), settings.spec, filters, stats)
                for score, index, line in itertools.islice(chosen, keep):
                    writer.write(score, index, line)
    else:
        with (
            closing(engine(settings, stats, progress or _NoProgress(), top_k)) as records,
            closing(rank(records, top_k, fraction, spool_dir)) as ranked,
        ):
            for score, index, line in ranked:
                writer.write(score, index, line)
    stats.elapsed = time.perf_counter() - start
    _check_any_scored(stats, settings)
    writer.close()
    return stats


def apply_filters(
    ranked: Iterator[tuple[float, int, bytes]], spec: TextSpec, filters: Filters, stats: RunStats
) -> Iterator[tuple[float, int, bytes]]:
    """Drop duplicates (the first in rank order stays), then stop before the budget overflows."""
    records = ranked
    if filters.dedupe is not None:
        records = _without_duplicates(records, spec, filters.dedupe, stats)
    if filters.budget is not None:
        count = filters.counter or make_counter("approx")
        tally = BudgetTally()

        def size(record: tuple[float, int, bytes]) -> int:
            return count(spec.parse(record[2])[1])

        stats.budget_used = 0
        stats.budget_unit = "characters" if count.spec == "chars" else "tokens"
        for record in take_within_budget(records, size, filters.budget, tally):
            stats.budget_used = tally.used
            yield record
        return
    yield from records


def _without_duplicates(
    ranked: Iterator[tuple[float, int, bytes]], spec: TextSpec, dedupe: Deduper, stats: RunStats
) -> Iterator[tuple[float, int, bytes]]:
    for record in ranked:
        kind = dedupe.check(spec.parse(record[2])[1])
        if kind is None:
            yield record
        else:
            stats.duplicates[kind] += 1


def rank(
    records: Iterator[tuple[float, int, bytes]],
    top_k: int | None = None,
    fraction: float | None = None,
    spool_dir: str | None = None,
) -> Generator[tuple[float, int, bytes], None, None]:
    """(score, index, line) in rank order: the top_k, the best fraction, or all."""
    if top_k is not None:
        best: TopK[bytes] = TopK(top_k)
        for score, index, line in records:
            best.push(score, index, line)
        yield from best.ranked()
        return
    with Spool(spool_dir) as spool:
        for score, index, line in records:
            spool.add(score, index, line)
        k = None if fraction is None else count_for_fraction(fraction, len(spool))
        yield from spool.ranked(k)


class RecordWriter:
    """Writes output records, with the score added; in shard parts, also the index and a trailer."""

    def __init__(
        self,
        sink: Sink,
        score_key: str,
        stats: RunStats,
        part: dict[str, Any] | None = None,
        ranked: bool = False,
        scored: bool = False,
    ) -> None:
        self.sink = sink
        self.score_key = score_key
        self.stats = stats
        self.part = part
        self.ranked = ranked  # output in rank order: the last score written is the threshold
        self.scored = scored  # lines already carry their score (merging parts)

    def write(self, score: float, index: int, line: bytes) -> None:
        out = line if self.scored else add_score(line, self.score_key, score)
        if self.part is not None:
            out = tag_index(out, index)
        self.sink.write(out)
        self.stats.selected += 1
        if self.ranked:
            self.stats.threshold = score

    def close(self) -> None:
        if self.part is not None:
            self.sink.write(part_trailer(self.part, self.stats))

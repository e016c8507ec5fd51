"""Engines: from run settings to the stream of scored records, on this machine or elsewhere.

An engine is called as engine(settings, context, top_k) and yields (score, index, line)
for every valid record scoring at least `settings.min_score` (all, without one) in input
order, keeping the context's counters up to date (those below it too); bad records raise
or are counted through `context.set_aside`, the one skip-or-stop rule every engine shares.
Given top_k it may leave out records that cannot be among the top_k best. The local engine
is here; `dask_engine.py` is the other.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

import orjson

from ..base import checks
from ..base.errors import InvalidRecordError
from ..base.results import Contaminated, Pruned, Result, Skipped
from ..base.stats import RunStats
from ..files.batches import Batch, Slicing, read_batches
from ..files.feeder import QUIET
from ..files.first_record import FirstRecordCheck
from ..files.records import RecordError
from ..files.writing import Sink, add_field
from ..scoring.adaptive import AdaptiveScorer, Audit
from ..scoring.thresholds import DEFAULT_BLOCK, Thresholds
from ..selection.rules import below, check_min_score
from .presample import WarmStart, rereadable, rescore, warm_start
from .runner import Gated, ScoreJob, map_batches

CONTAMINATION_KEY = "_zipfit_contamination"  # why a record kept aside was dropped

if TYPE_CHECKING:
    from ..files.records import TextSpec
    from ..scoring.scorers import Scorer
    from ..selection.decontam import Decontaminator


class ProgressSink(Protocol):
    def update(self, records: int, bytes_done: int) -> None: ...


class NoProgress:
    def update(self, records: int, bytes_done: int) -> None:
        pass


@dataclass
class RunSettings:
    """What to score and how; shared by `score` and `select`."""

    sources: list[str]
    scorer: Scorer
    spec: TextSpec
    workers: int = 1
    batch_size: int = 256
    skip_invalid: bool = False
    score_key: str = "zipfit_score"
    shard: tuple[int, int] | None = None  # (i, n): this run's share of the input
    shard_by: str = "record"  # "record": every n-th record; "file": every n-th file
    limit: int | None = None  # stop after this many records (debugging)
    decontaminate: Decontaminator | None = None
    adaptive: AdaptiveScorer | None = None  # --adaptive: select -k stops hopeless records early
    min_score: float | None = None  # --min-score: records scoring below it are counted, not yielded
    # --coverage F (select): the scorer yields scoring.distances.CoverageScore, and with top_k
    # an engine keeps selection.coverage.Candidates, not only the top K.
    coverage: Decimal | None = None
    warnings: list[str] = field(default_factory=list)  # known before the run: shown and reported with it
    # (output format, id key) when the output writes each record's id (ids, attributes).
    output_id: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        checks.many("sources", self.sources, "paths")
        checks.count("workers", self.workers)
        checks.count("batch_size", self.batch_size)
        if self.limit is not None:
            checks.count("limit", self.limit)
        self.min_score = check_min_score(self.min_score)

    def job(self) -> ScoreJob:
        """What each worker receives once."""
        return ScoreJob(self.scorer, self.spec, self.decontaminate, self.adaptive)

    def first_record_check(self) -> FirstRecordCheck:
        """What the run's first record is checked for, before any scoring."""
        output_format, id_key = self.output_id or ("records", None)
        return FirstRecordCheck(self.spec, self.skip_invalid, id_key, output_format)

    def slicing(self) -> Slicing:
        by_file = self.shard_by == "file"
        block = DEFAULT_BLOCK if self.adaptive is not None else None
        return Slicing(
            self.batch_size,
            self.shard,
            by_file,
            self.limit,
            self.spec.max_line_bytes,
            block,
            measure_long=self.skip_invalid,
            quiet=QUIET,
        )


@dataclass
class RunContext:
    """One run's changing state: counters, progress, and where near-copies of targets go."""

    stats: RunStats = field(default_factory=RunStats)
    progress: ProgressSink = field(default_factory=NoProgress)
    aside: Sink | None = None
    # Called when the input goes quiet, once every record read so far was yielded: a
    # streaming output sends them on (`tail -f log.jsonl | zipfit score -`).
    pause: Callable[[], object] = field(default=lambda: None)

    def set_aside(
        self,
        skip_invalid: bool,
        path: str,
        line_no: int,
        result: Skipped | Pruned | Contaminated,
        line: bytes,
    ) -> None:
        """A record that was not scored: count a near-copy of a target (and keep it aside if
        asked), count a bad record when skipping them, or stop the run naming file and line.
        """
        if isinstance(result, Pruned):  # not a bad record: one that could not reach the top K
            self.stats.add_pruned(result)
        elif isinstance(result, Contaminated):
            self.stats.contaminated += 1
            if self.aside is not None:  # with why: which target, and the matching words or NCD
                self.aside.write(add_field(line, CONTAMINATION_KEY, orjson.loads(result.why)))
        elif not skip_invalid:
            raise InvalidRecordError(path, line_no, result.reason, result.detail)
        else:
            self.stats.skipped[result.reason] += 1


Scored = Generator[tuple[float, int, bytes], None, None]
Engine = Callable[[RunSettings, RunContext, "int | None"], Scored]


def local_engine(settings: RunSettings, context: RunContext, top_k: int | None = None) -> Scored:
    """This machine, a process pool when workers > 1; top_k serves --adaptive only, which
    prunes against the higher of the K-th best and --min-score (without -k, the latter)."""
    read = checked_first(read_batches(settings.sources, settings.slicing(), context.stats), settings)
    batches = ((batch, batch.lines) for batch in read)
    adaptive, gate, audit, warm = settings.adaptive, None, None, None
    floor = settings.min_score
    if adaptive is not None and (top_k is not None or floor is not None):
        if top_k is not None and adaptive.exhaustive_reason is None and rereadable(settings.sources):
            warm = warm_start(
                settings.sources, settings.slicing(), settings.job(), settings.workers, top_k, adaptive.seed
            )
        gate = BlockGate(Thresholds(top_k, DEFAULT_BLOCK, floor), warm)
        audit = Audit(adaptive.audit, adaptive.seed)
    # closing(): an exception in the consumer must stop the pool at once, not at GC time.
    with closing(map_batches(settings.job(), batches, settings.workers, gate)) as scored:
        yield from _check_results(settings, context, scored, gate, audit)
    if gate is None or audit is None or adaptive is None:
        return
    stats = context.stats
    if warm is not None:
        yield from _rescored(settings, stats, warm, gate, audit, adaptive)
    best = gate.thresholds.best()
    yield from audit_stopped(settings.scorer, settings.spec, stats, audit, best, top_k, floor)


def _rescored(
    settings: RunSettings,
    stats: RunStats,
    warm: WarmStart,
    gate: BlockGate,
    audit: Audit,
    adaptive: AdaptiveScorer,
) -> Iterator[tuple[float, int, bytes]]:
    """When the run's bar ends below the sampled starting threshold (the sample misled), the
    records stopped against it, read again and scored against the bar (presample.rescore)."""
    stats.presampled, stats.start_threshold = warm.sampled, warm.threshold
    bar = gate.thresholds.bar()
    if bar >= warm.threshold or not warm.used:
        return
    found = rescore(warm, settings.sources, settings.slicing(), settings.spec, adaptive, bar, stats)
    entered = set()
    for score, index, line in found:
        gate.thresholds.offer(score, index)
        entered.add(index)
        if below(score, settings.min_score):
            stats.below_min_score += 1
            continue
        yield score, index, line
    audit.discard(entered & audit.indexes())
    stats.pruned += Counter()  # drops checkpoints left at zero
    stats.count_pairs(settings.scorer.comparisons)


def checked_first(batches: Iterator[Batch], settings: RunSettings) -> Iterator[Batch]:
    """The batches, once the run's first record has passed settings.first_record_check():
    read and checked now, before any scoring starts."""
    held: list[Batch] = []
    for batch in batches:
        held.append(batch)
        if batch.lines:
            settings.first_record_check().check(batch.path, zip(batch.line_nos, batch.lines, strict=True))
            break
    return itertools.chain(held, batches)


def audit_stopped(
    scorer: Scorer,
    spec: TextSpec,
    stats: RunStats,
    audit: Audit,
    best: Sequence[tuple[float, int]],
    k: int | None,
    floor: float | None = None,
) -> list[tuple[float, int, bytes]]:
    """Score the audit's sample of stopped records in full and count them; the records that
    belong among the k best (`best`: the run's (score, -index)) and reach --min-score
    (`floor`) are returned, to be ranked."""

    def exact(line: bytes) -> float | None:
        try:
            return scorer.score(spec.parse(line)[1])
        except RecordError:  # parsed once already: cannot happen, but never a reason to fail
            return None

    entered = audit.finish(exact, best, k, -math.inf if floor is None else floor)
    comparisons = scorer.comparisons
    stats.audited += audit.sampled
    stats.audit_misses += audit.misses
    # The audit's comparisons count as the stopped records' cost; a record that belonged in
    # the top K counts as scored, not stopped.
    stats.pruned_pairs += (audit.sampled - audit.misses) * comparisons
    for score, _, _, checkpoint in entered:
        stats.pruned[checkpoint] -= 1
        stats.add_score(score)
    stats.pruned += Counter()  # drops checkpoints left at zero
    stats.count_pairs(comparisons)
    if audit.misses:
        stats.warnings.append(
            f"--adaptive audit: {audit.misses} of {audit.sampled} sampled stopped records belonged in "
            "the top K and were put there; others may be missing (raise --adaptive-z, or drop --adaptive)"
        )
    return [(score, index, line) for score, index, line, _ in entered]


class BlockGate:
    """Sends a batch of block j only once blocks 0..j-2 have come back, with j's threshold
    (raised to the sampled one, presample.py, where that is higher)."""

    def __init__(self, thresholds: Thresholds, warm: WarmStart | None = None) -> None:
        self.thresholds, self.warm = thresholds, warm

    def ready(self, batch: Batch) -> bool:
        return self.thresholds.ready(batch.first)

    def payload(self, batch: Batch, items: Sequence[bytes]) -> Gated:
        threshold = self.thresholds.threshold(batch.first)
        if self.warm is None:
            return Gated(items, threshold)
        return Gated(items, *self.warm.payload(batch, threshold))


def _check_results(
    settings: RunSettings,
    context: RunContext,
    scored: Iterator[tuple[Batch, list[Result]]],
    gate: BlockGate | None = None,
    audit: Audit | None = None,
) -> Iterator[tuple[float, int, bytes]]:
    stats = context.stats
    thresholds = gate.thresholds if gate is not None else None
    warm = gate.warm if gate is not None else None
    comparisons = settings.scorer.comparisons
    records = 0
    for batch, results in scored:
        for offset, (line_no, index, line, result) in enumerate(
            zip(batch.line_nos, batch.indexes, batch.lines, results, strict=True)
        ):
            if thresholds is not None:
                thresholds.add(result if isinstance(result, float) else None, index)
            if not isinstance(result, float):
                if audit is not None and isinstance(result, Pruned):
                    audit.offer(index, line, result.checkpoint)
                    if warm is not None:
                        warm.note(batch.first + offset)
                context.set_aside(settings.skip_invalid, batch.path, line_no, result, line)
                continue
            stats.add_score(result)
            if below(result, settings.min_score):
                stats.below_min_score += 1
                continue
            yield result, index, line
        if not batch.lines:
            context.pause()
            continue
        records += len(results)
        stats.count_pairs(comparisons)
        context.progress.update(records, batch.bytes_done)

"""The two jobs, `score` and `select`: from run settings to output records and counters.

An engine (engine.py) yields scored records in input order; this module ranks them
(ranking.py), applies the selection rules (rules.py) and writes them (writing.py).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import closing
from typing import Any

from ..base.results import Skipped
from ..base.stats import RunStats
from ..engines.dask_select import worker_ranking
from ..engines.engine import Engine, ProgressSink, RunContext, RunSettings, local_engine
from ..files.records import RecordError
from ..files.sources import open_source
from ..files.writing import RecordWriter, Shape, Sink
from ..scoring.distances import coverage_targets
from ..selection.coverage import select_top
from ..selection.coverage_spool import candidates, select_spooled
from ..selection.ranking import Share, check_limits, count_for_fraction, rank
from ..selection.rules import Filters, check_fill_has_limit, limited


def run_score(
    settings: RunSettings,
    sink: Sink,
    progress: ProgressSink | None = None,
    part: dict[str, Any] | None = None,
    engine: Engine = local_engine,
    aside: Sink | None = None,
    shape: Shape | None = None,
) -> RunStats:
    """Every valid record in input order with its score added; streams as it goes.

    With `part` (a shard run), lines carry their index and a trailer closes the output;
    near-copies of targets (with decontamination) go to `aside` when given.
    """
    context = _context(settings, progress, aside)
    flush = getattr(sink, "flush", None)
    if callable(flush):  # stdout, a pipe: what is scored goes on when the input pauses
        context.pause = flush
    start = time.perf_counter()
    writer = RecordWriter(sink, settings.score_key, context.stats, part, shape=shape)
    with closing(engine(settings, context, None)) as records:
        for score, index, line in records:
            writer.write(score, index, line)
    return _finish(context.stats, start, writer, settings)


def run_select(
    settings: RunSettings,
    sink: Sink,
    progress: ProgressSink | None = None,
    top_k: int | None = None,
    fraction: Share | None = None,
    spool_dir: str | None = None,
    part: dict[str, Any] | None = None,
    engine: Engine = local_engine,
    filters: Filters | None = None,
    aside: Sink | None = None,
    shape: Shape | None = None,
) -> RunStats:
    """The best records ranked by score (all of them when neither top_k nor fraction is set).
    Records below `settings.min_score` are left out first; a fraction is of every record
    scored, so the threshold and the fraction each may end the selection.

    With top_k, memory holds k records; otherwise (and with filters) records are spooled to
    a temporary file and only their scores stay in memory.
    """
    check_limits(top_k, fraction)
    check_fill_has_limit(filters, top_k, fraction)
    context = _context(settings, progress, aside)
    stats = context.stats
    start = time.perf_counter()
    writer = RecordWriter(sink, settings.score_key, stats, part, ranked=True, shape=shape)
    if settings.coverage:
        _select_covering(settings, context, writer, top_k, fraction, spool_dir, engine, filters)
    elif filters:
        # Dropping duplicates or stopping at a budget changes which records count, so the
        # whole ranking is kept and the limits are applied while reading it in order.
        with (
            closing(engine(settings, context, None)) as records,
            closing(rank(records, spool_dir=spool_dir)) as ranked,
        ):
            first = next(ranked, None)  # the spool is full now: the count of scored is final
            keep = count_for_fraction(fraction, stats.scored) if fraction is not None else top_k
            if first is not None:
                chosen = limited(itertools.chain([first], ranked), settings.spec, filters, stats, keep)
                for score, index, line in chosen:
                    writer.write(score, index, line)
    elif top_k is None and (on_workers := worker_ranking(engine, settings, context, fraction)) is not None:
        with closing(on_workers) as ranked:  # the workers rank; only the selection reaches here
            for score, index, line in ranked:
                writer.write(score, index, line)
    else:
        with (
            closing(engine(settings, context, top_k)) as records,
            closing(rank(records, top_k, fraction, spool_dir, lambda: stats.scored)) as ranked,
        ):
            for score, index, line in ranked:
                writer.write(score, index, line)
    if settings.shard is None:  # a shard's share may be empty: the merge decides
        stats.check_selection()
    return _finish(stats, start, writer, settings)


def _select_covering(
    settings: RunSettings,
    context: RunContext,
    writer: RecordWriter,
    top_k: int | None,
    fraction: Share | None,
    spool_dir: str | None,
    engine: Engine,
    filters: Filters | None,
) -> None:
    """select --coverage (selection/coverage.py): with -k alone, each target's bounded list
    and the K best as records stream in; else over the spool, once K is known."""
    stats, share, n = context.stats, settings.coverage, coverage_targets(settings.scorer)
    assert share is not None
    if settings.shard is not None:  # the merge selects: hand on what it may take, with distances
        with closing(engine(settings, context, top_k)) as records:
            for score, index, line in candidates(records, top_k, share, n, spool_dir):
                writer.write(score, index, line)
        return
    picked: set[int] = set()
    streaming = top_k is not None and not filters
    with closing(engine(settings, context, top_k if streaming else None)) as records:
        if streaming:
            assert top_k is not None
            chosen = select_top(records, top_k, share, n, picked)
        else:
            chosen = select_spooled(
                records,
                top_k=top_k,
                fraction=fraction,
                share=share,
                n_targets=n,
                spec=settings.spec,
                filters=filters or Filters(),
                stats=stats,
                spool_dir=spool_dir,
                total=lambda: stats.scored,
                picked=picked,
            )
        with closing(chosen):
            lowest = None
            for score, index, line in chosen:
                stats.selected_by["coverage" if index in picked else "score"] += 1
                writer.write(score, index, line)
                lowest = score if lowest is None else min(lowest, score)
            stats.threshold = lowest  # not the last written: coverage picks come first


def _context(settings: RunSettings, progress: ProgressSink | None, aside: Sink | None) -> RunContext:
    context = RunContext(aside=aside)
    context.stats.warnings.extend(settings.warnings)
    context.stats.min_score = settings.min_score
    if progress is not None:
        context.progress = progress
    return context


def _finish(stats: RunStats, start: float, writer: RecordWriter, settings: RunSettings) -> RunStats:
    """Close the output; a run that skipped every record fails instead (wrong text key, or
    the wrong file, almost always). A shard writes its part anyway: the merge decides, over
    all shards."""
    stats.elapsed = time.perf_counter() - start
    if settings.shard is None:
        stats.check_any_scored()
    writer.close()
    return stats


def read_texts(path: str, settings: RunSettings, stats: RunStats) -> Iterator[bytes]:
    """The text of every record of one file, in order, for jobs that need no output records
    (dataset alignment); bad records raise or are counted as in `score`.
    """
    context = RunContext(stats)
    source = open_source(path, settings.spec.max_line_bytes)
    try:
        for line_no, line in source:
            stats.records_read += 1
            try:
                yield settings.spec.parse(line)[1]
            except RecordError as exc:
                context.set_aside(settings.skip_invalid, path, line_no, Skipped(exc.reason, exc.detail), line)
    finally:
        stats.blank_lines += source.blank_lines
        source.close()

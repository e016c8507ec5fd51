"""`select --fraction F` and `select --min-score S` (without -k) on `--engine dask`, without
sending every scored record to the client.

1. Each worker scores its partition and keeps the scores (select_task.hold_scores); the
   client receives counters only (and, from the partitions within stats.EXACT_SCORES_BYTES of
   input, the scores that make the summary's median exact, as a directory output does).
2. The client decides how many records the run keeps, K (the fraction of every record
   scored, at most those at or above --min-score), and finds the K-th score exactly in up to
   eight passes of bucket counts over the scores' 64-bit keys, each a tiny task a partition.
   Ties at the K-th score go to the earliest records in input order, as the local ranking
   cuts them: partitions are in input order, so each is told how many of its ties it keeps.
3. Each worker reads its partition again and writes its selected records, in rank order, as
   one run in a hidden directory under the spill location (--spill-dir; the system's temporary
   directory for a local cluster); the client merges the runs in one streaming pass, holding
   one record a run, and removes them at the end (also on failure, Ctrl-C and SIGTERM).

The records reach the writer in the order the local ranking gives them, so every output
format writes the same bytes. Runs that need the whole ranking or each record (--limit,
-k, dedupe and budgets) keep the engine's own path, which sends the records to the client.
"""

from __future__ import annotations

import heapq
import posixpath
import secrets
import tempfile
from collections import deque
from collections.abc import Generator, Iterator
from contextlib import ExitStack, suppress
from typing import Any, BinaryIO

from ..base.errors import InputError, OutputError, WorkerDiedError, shown
from ..files.locations import url_to_fs
from ..selection.ranking import Record, Share, count_for_fraction
from . import select_task
from .dask_engine import DaskEngine, check_first_record
from .dask_worker import FileRecords, Partition, raise_part_failure
from .engine import Engine, RunContext, RunSettings
from .select_task import DIGIT_BITS, RUN_HEADER


def worker_ranking(
    engine: Engine, settings: RunSettings, context: RunContext, fraction: Share | None
) -> Generator[Record, None, None] | None:
    """The selection in rank order, ranked on the workers; None when this run cannot be (the
    caller then ranks the engine's records itself)."""
    if not isinstance(engine, DaskEngine) or settings.limit is not None:
        return None
    if fraction is None and settings.min_score is None:
        return None
    spill = engine.spill_dir or (tempfile.gettempdir() if engine.scheduler is None else None)
    if spill is None:  # a remote cluster's workers and this client share no known location
        return None
    return _ranked(engine, settings, context, fraction, spill)


def _ranked(
    engine: DaskEngine, settings: RunSettings, context: RunContext, fraction: Share | None, spill: str
) -> Generator[Record, None, None]:
    check_first_record([file.path for file in engine.files], settings)
    runs = posixpath.join(spill.rstrip("/") or "/", f".zipfit-runs-{secrets.token_hex(6)}")
    fs, inner, made = _spill_to(spill, runs)
    try:
        with ExitStack() as stack:
            client = engine._client(stack)
            held: list[tuple[Partition, Any, int]] = []  # (partition, its held future, global offset)
            job = client.scatter(settings.job(), broadcast=True, hash=False)
            try:
                _score(engine, client, job, settings, context, held)
                counts = _selected_counts(client, held, fraction, context.stats.scored)
                streams = _write_runs(client, settings, held, counts, runs)
                with ExitStack() as opened:
                    files = [opened.enter_context(fs.open(path, "rb")) for path in streams]
                    yield from heapq.merge(*map(_run_records, files), key=_rank_order)
            finally:
                client.cancel([job, *(future for _, future, _ in held)])
    finally:  # after a local cluster has closed: no worker writes a run any more
        with suppress(Exception):  # a run that is gone already
            fs.rm(inner, recursive=True)
        for folder in made:  # the --spill-dir folders this run made, deepest first, if empty
            with suppress(Exception):
                fs.rmdir(folder)


def _spill_to(spill: str, runs: str) -> tuple[Any, str, list[str]]:
    """The filesystem of `runs`, its path there and the folders above it made for it (deepest
    first), created before any scoring: a spill location that cannot be written fails now,
    in one line (exit 1)."""
    try:
        fs, inner = url_to_fs(runs)
        made, folder = [], posixpath.dirname(inner)
        while folder not in ("", "/", ".") and not fs.exists(folder):
            made.append(folder)
            folder = posixpath.dirname(folder)
        fs.makedirs(inner, exist_ok=True)
    except Exception as exc:  # fsspec and its backends raise anything: the location is the input
        problem = shown(str(exc))
        raise OutputError(f"cannot write sorted runs under --spill-dir {shown(spill)}: {problem}") from None
    return fs, inner, made


def _score(
    engine: DaskEngine, client: Any, job: Any, settings: RunSettings, context: RunContext, held: list[Any]
) -> None:
    """Pass 1: every partition scored and held on the workers; counters added up in input order."""
    killed = _import_killed()
    threads = sum(client.nthreads().values()) or engine.workers
    todo = iter(engine.partitions(threads))
    pending: deque[tuple[Partition, Any, Any]] = deque()
    stats, offset, line_base, files = context.stats, 0, 0, FileRecords()
    handed = [0]  # bytes of input in the partitions submitted so far

    def submit() -> None:
        part = next(todo, None)
        if part is not None:
            future = client.submit(
                select_task.hold_scores, job, part, batch_size=settings.batch_size,
                skip_invalid=settings.skip_invalid, floor=settings.min_score,
                keep_scores=stats.asks_scores(handed[0]), pure=False,
            )  # fmt: skip
            handed[0] = part.done
            pending.append((part, future, client.submit(select_task.summary_of, future, pure=False)))

    try:
        for _ in range(max(8, 4 * threads)):
            submit()
        while pending:
            part, future, summary = pending.popleft()
            try:
                result = summary.result()
            except killed:
                raise WorkerDiedError(
                    f"Dask workers died while scoring {shown(part.path)}; they may have run out "
                    "of memory (try a smaller --blocksize). Nothing was written"
                ) from None
            summary.release()
            submit()
            line_base = 0 if part.start == 0 else line_base
            raise_part_failure(part, result, line_base)
            stats += result.stats
            for _, line_no, _, why, line in result.rows:
                context.set_aside(settings.skip_invalid, part.path, line_base + line_no, why, line)
            held.append((part, future, offset))
            offset += result.stats.records_read
            files.add(part, result.stats.records_read)
            line_base += result.lines
            stats.count_pairs(settings.scorer.comparisons)
            context.progress.update(stats.records_read, part.done)
        files.warn(stats)
    finally:
        client.cancel([*(f for _, f, _ in pending), *(s for _, _, s in pending)])


def _import_killed() -> Any:
    import importlib

    return importlib.import_module("distributed").KilledWorker


def _selected_counts(client: Any, held: list[Any], fraction: Share | None, scored: int) -> list[int]:
    """How many of its records (in its rank order) each partition keeps."""
    futures = [future for _, future, _ in held]
    totals = client.gather([client.submit(_kept, future, pure=False) for future in futures])
    kept = sum(totals)
    k = count_for_fraction(fraction, scored) if fraction is not None else None
    if k is None or k >= kept:
        return list(totals)
    key, above = _kth_key(client, futures, k)
    at_key = client.gather([client.submit(select_task.above_and_at, f, key, pure=False) for f in futures])
    ties = k - above  # the K-th score's ties that make K, taken in input order
    counts = []
    for over, equal in at_key:
        taken = min(equal, ties)
        ties -= taken
        counts.append(over + taken)
    return counts


def _kept(held: select_task.Held) -> int:
    return len(held.scores)


def _kth_key(client: Any, futures: list[Any], k: int) -> tuple[int, int]:
    """The key of the K-th highest score, and how many scores are above it: a most
    significant digit first radix select over every partition's bucket counts."""
    low, above = 0, 0  # keys from `low` (of the bits decided) down; `above` counted higher
    for shift in range(64 - DIGIT_BITS, -1, -DIGIT_BITS):
        parts = client.gather(
            [client.submit(select_task.bucket_counts, f, low, shift, pure=False) for f in futures]
        )
        buckets = [sum(column) for column in zip(*parts, strict=True)]
        for digit in range((1 << DIGIT_BITS) - 1, -1, -1):  # highest bucket first
            if above + buckets[digit] >= k:
                low += digit << shift
                break
            above += buckets[digit]
    return low, above


def _write_runs(
    client: Any, settings: RunSettings, held: list[Any], counts: list[int], runs: str
) -> list[str]:
    """Pass 2: each partition with selected records writes them as a run; their paths."""
    limit = settings.spec.max_line_bytes
    tasks, paths = [], []
    for n, ((part, future, offset), count) in enumerate(zip(held, counts, strict=True)):
        if count:
            path = posixpath.join(runs, f"run-{n:06d}")
            tasks.append((part, count, client.submit(
                select_task.write_run, future, part, count, offset, path, limit, pure=False
            )))  # fmt: skip
            paths.append(path)
    for part, count, task in tasks:
        if task.result() != count:
            raise InputError(f"{shown(part.path)} changed while it was read: run zipfit again")
    return paths


def _run_records(run: BinaryIO) -> Iterator[Record]:
    """A run's records, one at a time."""
    size = RUN_HEADER.size
    while header := run.read(size):
        score, index, length = RUN_HEADER.unpack(header)
        yield score, index, run.read(length)


def _rank_order(record: Record) -> tuple[float, int]:
    return -record[0], record[1]

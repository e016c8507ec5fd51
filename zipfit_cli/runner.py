"""Scoring in batches: in-process for one worker, else a process pool with bounded work in flight.

Targets reach each worker once, through the pool initializer; a task carries only a
batch of raw lines and returns only floats (or a reason for each record it could not
score). Results come back in input order, so output never depends on scheduling.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from .errors import WorkerDiedError
from .records import RecordError, TextSpec

if TYPE_CHECKING:
    from .decontam import Decontaminator
    from .scorers import Scorer

# A record's result: its alignment, or (reason, detail) when it cannot be scored.
Result = float | tuple[str, str]
T = TypeVar("T")


CONTAMINATED = "contaminated"  # the reason given to records that near-copy a target


@dataclass(frozen=True)
class ScoreJob:
    """Everything a worker needs, sent once per worker. spec=None: items are raw texts.

    decontaminate: flags near-copies of targets, which get (CONTAMINATED, why) as result.
    """

    scorer: Scorer
    spec: TextSpec | None = None
    decontaminate: Decontaminator | None = None

    def score(self, items: Sequence[bytes]) -> list[Result]:
        align = self.scorer.score
        spec, check = self.spec, self.decontaminate
        if spec is None and check is None:
            return [align(text) for text in items]
        results: list[Result] = []
        for item in items:
            try:
                text = item if spec is None else spec.parse(item)[1]
            except RecordError as exc:
                results.append((exc.reason, exc.detail))
                continue
            why = check.check(text) if check is not None else None
            results.append((CONTAMINATED, why) if why is not None else align(text))
        return results


_worker_job: ScoreJob | None = None


def _init_worker(job: ScoreJob) -> None:
    # Ctrl-C reaches the whole process group; only the parent decides what happens next.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    global _worker_job
    _worker_job = job


def _score_in_worker(items: Sequence[bytes]) -> list[Result]:
    assert _worker_job is not None, "worker used before its initializer ran"
    return _worker_job.score(items)


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _context() -> multiprocessing.context.BaseContext:
    # forkserver: workers start from a clean process, never from a parent that runs
    # progress-display threads (forking those can deadlock); spawn where it is missing.
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])  # workers start with zipfit already imported
        return ctx
    return multiprocessing.get_context("spawn")


def map_batches(
    job: ScoreJob,
    batches: Iterator[tuple[T, Sequence[bytes]]],
    workers: int = 1,
) -> Generator[tuple[T, list[Result]], None, None]:
    """Score each (tag, items) batch; yields (tag, results) in input order.

    At most 3 batches per worker are in flight, so memory does not grow with input size.
    """
    if workers <= 1:
        for tag, items in batches:
            yield tag, job.score(items)
        return

    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_context(),
        initializer=_init_worker,
        initargs=(job,),
    )
    pending: deque[tuple[T, Future[list[Result]]]] = deque()
    window = 3 * workers
    clean = False
    try:
        for tag, items in batches:
            pending.append((tag, pool.submit(_score_in_worker, items)))
            if len(pending) >= window:
                head, future = pending.popleft()
                yield head, future.result()
        while pending:
            head, future = pending.popleft()
            yield head, future.result()
        clean = True
    except BrokenProcessPool:
        codes = _exit_codes(pool)
        raise WorkerDiedError(
            "a worker process died unexpectedly"
            + (f" (exit code {', '.join(map(str, codes))})" if codes else "")
            + "; it may have run out of memory or been killed. Nothing was written"
        ) from None
    finally:
        if clean:
            pool.shutdown(wait=True)
        else:
            _kill(pool)


def _exit_codes(pool: ProcessPoolExecutor) -> list[int]:
    procs = getattr(pool, "_processes", None) or {}
    codes = {p.exitcode for p in procs.values() if p.exitcode not in (None, 0)}
    # The pool terminates the surviving workers itself (-SIGTERM); show the cause.
    return sorted(codes - {-signal.SIGTERM} or codes)


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stop at once: cancel queued work and terminate workers (the public API would wait)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(timeout=2)
        if proc.is_alive():
            proc.kill()
            proc.join()

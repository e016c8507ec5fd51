"""Scoring in batches: in-process for one worker, else a process pool with bounded work in flight.

Targets reach each worker once, through the pool initializer; a task carries only a
batch of raw lines and returns only floats (or a reason for each record it could not
score). Results come back in input order, so output never depends on scheduling.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import multiprocessing.util
import os
import shutil
import signal
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

import orjson

from ..base.errors import UsageError, WorkerDiedError, ZipfitError
from ..base.held_signals import signals_held
from ..base.results import Contaminated, Result, Skipped
from ..files.records import RecordError, TextSpec

if TYPE_CHECKING:
    from ..scoring.adaptive import AdaptiveScorer
    from ..scoring.scorers import Scorer
    from ..selection.decontam import Decontaminator

T = TypeVar("T")
A = TypeVar("A")
T_contra = TypeVar("T_contra", contravariant=True)


@dataclass(frozen=True)
class ScoreJob:
    """Everything a worker needs, sent once per worker. spec=None: items are raw texts.

    decontaminate: flags near-copies of targets, which get `Contaminated` as result.
    """

    scorer: Scorer
    spec: TextSpec | None = None
    decontaminate: Decontaminator | None = None
    adaptive: AdaptiveScorer | None = None  # with a Gated batch: stop records below its threshold

    def score(self, items: Sequence[bytes] | Gated) -> list[Result]:
        if isinstance(items, Gated):
            assert self.adaptive is not None, "a gated batch needs an adaptive scorer"
            score, threshold = self.adaptive.score, items.threshold
            return self._score(items.lines, lambda text: score(text, threshold), items.known)
        return self._score(items, self.scorer.score)

    def _score(
        self,
        items: Sequence[bytes],
        align: Callable[[bytes], Result],
        known: Mapping[int, float] | None = None,
    ) -> list[Result]:
        spec, check = self.spec, self.decontaminate
        if spec is None and check is None and not known:
            return [align(text) for text in items]
        results: list[Result] = []
        for position, item in enumerate(items):
            if known and position in known:  # scored in full before the run (presample.py)
                results.append(known[position])
                continue
            try:
                text = item if spec is None else spec.parse(item)[1]
            except RecordError as exc:
                results.append(Skipped(exc.reason, exc.detail))
                continue
            hit = check.find(text) if check is not None else None
            if hit is None:
                results.append(align(text))
            else:  # `why` travels as JSON: it becomes a field of the record kept aside
                assert check is not None
                results.append(Contaminated(orjson.dumps(check.explain(hit)).decode()))
        return results


@dataclass(frozen=True)
class Gated:
    """A batch for adaptive scoring: its records, all of one block, that block's threshold,
    and the exact scores of the records scored before the run (by position in the batch)."""

    lines: Sequence[bytes]
    threshold: float
    known: Mapping[int, float] = field(default_factory=dict)


class Gate(Protocol[T_contra]):
    """Holds a batch back until earlier results are in, then says what to send for it."""

    def ready(self, tag: T_contra) -> bool: ...

    def payload(self, tag: T_contra, items: Sequence[bytes]) -> Sequence[bytes] | Gated: ...


_worker_job: ScoreJob | None = None

# A worker that finds itself re-running the main script's top level exits with this code,
# so the parent can name the cause (a script without `if __name__ == "__main__":`).
_REIMPORTED_MAIN = 87


def _init_worker(
    job: ScoreJob, parent_alive: multiprocessing.connection.Connection, mp_tempdir: str | None
) -> None:
    # Ctrl-C reaches the whole process group; only the parent decides what happens next.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    global _worker_job
    _worker_job = job
    threading.Thread(target=_exit_with_parent, args=(parent_alive, mp_tempdir), daemon=True).start()


def _exit_with_parent(parent_alive: multiprocessing.connection.Connection, mp_tempdir: str | None) -> None:
    """Wait for the parent to die, then die too: a SIGKILLed parent cleans nothing up.

    Only the parent holds the pipe's write end, and it closes it only after the workers have
    stopped; end-of-file means it is gone. The workers' exit lets the forkserver and the
    resource tracker end as well (they wait for every holder of their pipes), and the
    parent's multiprocessing directory (the forkserver's socket) is removed here.
    """
    try:
        parent_alive.recv_bytes()
    except (EOFError, OSError):
        pass
    if mp_tempdir is not None:
        shutil.rmtree(mp_tempdir, ignore_errors=True)
    os._exit(1)


def _score_in_worker(items: Sequence[bytes] | Gated) -> list[Result]:
    assert _worker_job is not None, "worker used before its initializer ran"
    return _worker_job.score(items)


def _run_in_worker(function: Callable[[ScoreJob, A], T], task: A) -> T:
    assert _worker_job is not None, "worker used before its initializer ran"
    return function(_worker_job, task)


def map_tasks(
    job: ScoreJob, function: Callable[[ScoreJob, A], T], tasks: Iterator[A], workers: int = 1
) -> Generator[T, None, None]:
    """function(job, task) for each task, in the pool's workers (in this process for one
    worker), results in order; at most 2 tasks per worker in flight. `function` must be a
    module-level function: it travels by name. A task does its own output (a directory
    output's part: part_task.py) and returns what the parent needs to know."""
    if workers <= 1:
        for task in tasks:
            yield function(job, task)
        return
    pending: deque[Future[T]] = deque()
    with _running_pool(job, workers) as pool:
        for task in tasks:
            with signals_held():  # a submit may start a worker: see held_signals
                pending.append(pool.submit(_run_in_worker, function, task))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


# sun_path holds 108 bytes; the forkserver's socket is $TMPDIR/pymp-XXXXXXXX/listener-XXXXXXXX.
_SOCKET_PATH_MAX = 107
_SOCKET_PATH_EXTRA = len("/pymp-XXXXXXXX/listener-XXXXXXXX")


def _context() -> multiprocessing.context.BaseContext:
    # forkserver: workers start from a clean process, never from a parent that runs
    # progress-display threads (forking those can deadlock); spawn where it is missing, or
    # where $TMPDIR is too long a path for the forkserver's unix socket (macOS's default).
    fits = len(tempfile.gettempdir()) + _SOCKET_PATH_EXTRA <= _SOCKET_PATH_MAX
    if "forkserver" in multiprocessing.get_all_start_methods() and fits:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])  # workers start with zipfit already imported
        return ctx
    return multiprocessing.get_context("spawn")


def map_batches(
    job: ScoreJob,
    batches: Iterator[tuple[T, Sequence[bytes]]],
    workers: int = 1,
    gate: Gate[T] | None = None,
) -> Generator[tuple[T, list[Result]], None, None]:
    """Score each (tag, items) batch; yields (tag, results) in input order.

    At most 3 batches per worker are in flight, so memory does not grow with input size.
    With a gate, a batch waits until the gate is ready for it, yielding earlier results
    meanwhile (the consumer handles each before the next is asked for). An empty batch (the
    input went quiet: batches.read_batches) is not sent: every earlier result is yielded,
    then its own empty one, so a slow input's records are not kept back until more come.
    """
    if workers <= 1:
        for tag, items in batches:
            if not items:
                yield tag, []
                continue
            yield tag, job.score(gate.payload(tag, items) if gate is not None else items)
        return
    pending: deque[tuple[T, Future[list[Result]]]] = deque()
    window = 3 * workers
    with _running_pool(job, workers) as pool:
        for tag, items in batches:
            if not items:
                while pending:
                    head, future = pending.popleft()
                    yield head, future.result()
                yield tag, []
                continue
            while gate is not None and pending and not gate.ready(tag):
                head, future = pending.popleft()
                yield head, future.result()
            payload = gate.payload(tag, items) if gate is not None else items
            pending.append((tag, _submit(pool, payload)))
            if len(pending) >= window:
                head, future = pending.popleft()
                yield head, future.result()
        while pending:
            head, future = pending.popleft()
            yield head, future.result()


def _submit(pool: ProcessPoolExecutor, payload: Sequence[bytes] | Gated) -> Future[list[Result]]:
    # A submit may start a worker process; a stop signal waits until the pool has it in
    # hand, or the half-started worker would outlive the run (base/held_signals.py).
    with signals_held():
        return pool.submit(_score_in_worker, payload)


@contextmanager
def _running_pool(job: ScoreJob, workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of `workers` processes for the block: shut down cleanly when the block ends
    normally, killed at once when it ends by an error, a stop or a consumer leaving early."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        # A worker starting up is re-running the main script, which starts a pool again:
        # leave quietly with a code the parent recognises (see _REIMPORTED_MAIN).
        os._exit(_REIMPORTED_MAIN)
    pool, parent_alive, alive = _start_pool(job, workers)
    clean = False
    try:
        yield pool
        clean = True
    except BrokenProcessPool:
        raise _broken(pool) from None
    finally:
        if clean:
            pool.shutdown(wait=True)
        else:
            _kill(pool)
        # Only now, with the workers stopped: to them, this end closing means the parent died.
        alive.close()
        parent_alive.close()


def _start_pool(
    job: ScoreJob, workers: int
) -> tuple[ProcessPoolExecutor, multiprocessing.connection.Connection, multiprocessing.connection.Connection]:
    """The pool, and the pipe whose closing tells its workers the parent has gone."""
    context = _context()
    parent_alive, alive = multiprocessing.Pipe(duplex=False)
    mp_tempdir = multiprocessing.util.get_temp_dir() if context.get_start_method() == "forkserver" else None
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(job, parent_alive, mp_tempdir),
    )
    _never_wait_for_queued_work(pool)
    return pool, parent_alive, alive


def _never_wait_for_queued_work(pool: ProcessPoolExecutor) -> None:
    """Work still queued for the workers is never waited on to reach them: when the workers
    are gone (killed, or the run stopped), Python 3.10's executor would otherwise block
    forever at exit on that pipe (seen in CI). Normal runs lose nothing: the queue's feeder
    thread keeps sending while the workers read."""
    call_queue = getattr(pool, "_call_queue", None)
    if call_queue is not None:
        call_queue.cancel_join_thread()


def _broken(pool: ProcessPoolExecutor) -> ZipfitError:
    """Why the pool broke, as the error to show."""
    codes = _exit_codes(pool)
    if _REIMPORTED_MAIN in codes:
        return UsageError(
            "the worker processes re-ran this script's top level, which starts zipfit again: "
            'put the script\'s code under `if __name__ == "__main__":` (or use workers=1)'
        )
    return WorkerDiedError(
        "a worker process died unexpectedly"
        + (f" (exit code {', '.join(map(str, codes))})" if codes else "")
        + "; it may have run out of memory or been killed. Nothing was written"
    )


def _exit_codes(pool: ProcessPoolExecutor) -> list[int]:
    procs = getattr(pool, "_processes", None) or {}
    for proc in procs.values():
        # A worker's pipes close a moment before it can be reaped: wait for its exit code.
        proc.join(timeout=1)
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
    # The pool's manager thread sees its workers gone and closes its wake-up pipe: let it
    # finish now, or the interpreter's exit may wake it through a closed pipe and print a
    # traceback (seen once, after `zipfit score -j 2 | head -n 1`).
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None:
        manager.join(timeout=2)

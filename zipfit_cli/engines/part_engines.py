"""Directory outputs' partitions, and the two places their tasks run: this machine's worker
processes, or a Dask cluster.

Both engines cut the input the same way, by the Dask engine's rule with a fixed block size
(never one derived from the number of workers): one partition per compressed JSONL, CSV/TSV
file or Arrow stream, byte ranges of `blocksize` of uncompressed JSONL, runs of Parquet row
groups or Arrow record batches of about it. So the same input and --blocksize give the same
parts on a laptop and on a cluster of any size. Attribute files mirror the source files:
one partition per file (blocksize 0).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack
from typing import Any

from ..base.errors import WorkerDiedError, shown
from .dask_engine import DaskEngine, SourceFile, _import, _resolve
from .dask_worker import Partition
from .part_task import PartPlan, PartWritten, write_partition
from .runner import ScoreJob, map_tasks

# By default a part holds 1/64 of the input, within 256 KiB..16 MiB: a big corpus gets parts
# of a few seconds of cheap scoring each (part counts stay low), and a small one still gets
# enough parts to keep every worker busy (one 16 MiB part for a 3 MB file left -j 2 running
# on one core, 1.8x slower). It follows from the input alone, never from the workers.
DIRECTORY_PARTS = 64
DIRECTORY_BLOCKSIZE_RANGE = (256 << 10, 16 << 20)


def directory_blocksize(files: list[SourceFile]) -> int:
    """The default bytes of input a part holds for these source files."""
    low, high = DIRECTORY_BLOCKSIZE_RANGE
    return min(high, max(low, sum(file.size for file in files) // DIRECTORY_PARTS))


# Runs the tasks of a directory output, in order: (job, plans) -> what each task returned.
# Plans come lazily: the client decides each as the results before it come in.
PartRunner = Callable[[ScoreJob, Iterator[PartPlan]], Generator[PartWritten, None, None]]


def source_files(sources: list[str]) -> list[SourceFile]:
    """The source files, globs expanded, with what cutting them into partitions needs."""
    return list(_resolve(sources))


def plan_partitions(files: list[SourceFile], blocksize: int) -> list[Partition]:
    """The partitions of `files` at this block size (0: one a file), whatever the engine."""
    return DaskEngine(files, None, 1, blocksize).partitions(1)


def local_parts(workers: int) -> PartRunner:
    """Tasks in this machine's worker processes (in this process with one worker)."""

    def run(job: ScoreJob, plans: Iterator[PartPlan]) -> Generator[PartWritten, None, None]:
        return map_tasks(job, write_partition, plans, workers)

    return run


def dask_parts(engine: DaskEngine) -> PartRunner:
    """Tasks on the engine's Dask cluster; the client receives only what they return."""

    def run(job: ScoreJob, plans: Iterator[PartPlan]) -> Generator[PartWritten, None, None]:
        return _dask_tasks(engine, job, plans)

    return run


def _dask_tasks(
    engine: DaskEngine, job: ScoreJob, plans: Iterator[PartPlan]
) -> Generator[PartWritten, None, None]:
    killed = _import("distributed").KilledWorker
    with ExitStack() as stack:
        client = engine._client(stack)
        shared = client.scatter(job, broadcast=True, hash=False)  # the targets, once per worker
        window = max(8, 4 * (sum(client.nthreads().values()) or engine.workers))
        todo = plans
        pending: deque[tuple[PartPlan, Any]] = deque()

        def submit() -> None:
            plan = next(todo, None)
            if plan is not None:
                pending.append((plan, client.submit(write_partition, shared, plan, pure=False)))

        try:
            for _ in range(window):
                submit()
            while pending:
                plan, future = pending.popleft()
                try:
                    written: PartWritten = future.result()
                except killed:
                    raise WorkerDiedError(
                        f"Dask workers died while scoring {shown(plan.part.path)}; they may have run out "
                        "of memory (try a smaller --blocksize)"
                    ) from None
                future.release()
                submit()
                yield written
        finally:
            client.cancel([shared, *(future for _, future in pending)])

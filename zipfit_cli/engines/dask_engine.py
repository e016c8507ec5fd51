"""`--engine dask`: the same scoring spread over a Dask cluster, from a laptop to many machines.

The input is cut into partitions: one per source file, byte ranges of an uncompressed JSONL
file, or runs of a table's pieces (Parquet row groups, Arrow record batches or a saved
dataset's data files) of about --blocksize bytes; CSV/TSV and compressed files go whole.
A worker reads its partition with the local engine's reader (sources.open_range), over
fsspec (so s3://, gs://, ... work when their backend is installed), scores it with the
ScoreJob the local engine uses, and returns counters plus rows (local index, line number,
result, line); with -k only its own top K, since the global top K is a subset of the
union. The client takes partitions in input order, turns local indexes and line numbers
into global ones and yields the same (score, index, line) stream the local engine yields,
so `rank` and `RecordWriter` write the same bytes. Dask itself is imported only here,
inside functions: it is an optional extra.
"""

from __future__ import annotations

import glob
import importlib
import itertools
import logging
from collections import deque
from collections.abc import Generator, Iterator
from contextlib import ExitStack, closing
from typing import Any, NamedTuple

from ..base.errors import InputError, UsageError, WorkerDiedError, ZipfitError, shown
from ..base.stats import RunStats
from ..files.compression import compression_of
from ..files.locations import STDIN, is_url, url_failure, url_glob, url_to_fs
from ..files.sources import JsonlSource, is_dataset, open_source, reader_of
from ..selection.rules import below
from . import dask_worker
from .dask_connect import DEFAULT_CONNECT_TIMEOUT, connect
from .dask_worker import FileRecords, Partition, PartResult, raise_part_failure, score_partition
from .engine import RunContext, RunSettings, Scored

MIN_BLOCKSIZE, MAX_BLOCKSIZE = 256 << 10, 64 << 20
INSTALL_HINT = "--engine dask needs Dask: pip install 'zipfit-cli[dask]'"


def _import(name: str) -> Any:
    # Typed as Any: the dask extra's functions carry no annotations that mypy --strict accepts.
    return importlib.import_module(name)


def require() -> None:
    """Fail with install advice, not a traceback, when the dask extra is missing."""
    for name in ("dask", "distributed", "fsspec"):
        try:
            _import(name)
        except ImportError:
            raise UsageError(f"{INSTALL_HINT} (cannot import {name})") from None


class SourceFile(NamedTuple):
    path: str  # as the user named it (or a glob expanded it)
    url: str  # what workers open
    size: int  # bytes on disk
    pieces: list[int] | None = None  # a table's pieces by bytes: partitions are runs of them
    whole: bool = False  # one partition: compressed JSONL, CSV/TSV, an Arrow stream


class DaskEngine:
    """An engine for `run_select`/`run_score` (see engine.py) backed by a Dask cluster."""

    def __init__(
        self,
        files: list[SourceFile],
        scheduler: str | None,
        workers: int,
        blocksize: int | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        spill_dir: str | None = None,
    ) -> None:
        self.files = files
        self.spill_dir = spill_dir  # where select's workers write sorted runs (dask_select.py)
        self.scheduler = scheduler
        self.connect_timeout = connect_timeout
        self.workers = workers
        self.blocksize = blocksize  # None: from the input size and the cluster's threads

    @classmethod
    def plan(
        cls,
        sources: list[str],
        *,
        scheduler: str | None,
        workers: int,
        blocksize: int | str | None = None,
        split: bool = True,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        spill_dir: str | None = None,
    ) -> DaskEngine:
        """Resolve sources (globs too) to files; split=False: whole files only (for --limit)."""
        require()
        size: int | None = blocksize if isinstance(blocksize, int) else None  # the CLI's, parsed
        if isinstance(blocksize, str):
            try:
                size = int(_import("dask.utils").parse_bytes(blocksize))
                if size < 0:
                    raise ValueError(size)
            except (ValueError, TypeError):
                raise UsageError(f"--blocksize takes a size like 64MiB or 0, not {blocksize!r}") from None
        if scheduler is not None:
            _check_address(scheduler)
        files = list(_resolve(sources))
        return cls(files, scheduler, workers, size if split else 0, connect_timeout, spill_dir)

    @property
    def total_bytes(self) -> int:
        return sum(file.size for file in self.files)

    def partitions(self, threads: int) -> list[Partition]:
        """Whole files where they cannot be cut; uncompressed JSONL in blocks of --blocksize,
        tables in runs of pieces of about that size; by default about a quarter of the input
        per thread (in 256 KiB .. 64 MiB), so that every thread is busy.
        """
        size = self.blocksize
        if size is None:
            size = min(max(self.total_bytes // (4 * max(threads, 1)), MIN_BLOCKSIZE), MAX_BLOCKSIZE)
        partitions: list[Partition] = []
        done = 0
        for path, url, length, pieces, whole in self.files:
            if not size or whole or (pieces is None and length <= size):
                partitions.append(Partition(path, url, done=done + length))
            elif pieces is not None:
                partitions += _runs(path, url, pieces, size, done, length)
            else:
                for start in range(0, length, size):
                    end = start + size if start + size < length else None
                    partitions.append(Partition(path, url, start, end, done + (end or length)))
            done += length
        return partitions

    def _client(self, stack: ExitStack) -> Any:
        distributed = _import("distributed")
        if self.scheduler is None:
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,  # the GIL: one scoring thread per process
                    processes=True,
                    dashboard_address=None,
                    # Its HTTP endpoints on any free port: no warning when 8787 is taken.
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                    silence_logs=logging.CRITICAL,  # its failures reach us as exceptions
                    preload=[dask_worker.__name__],  # runs dask_setup in each worker process
                )
            )
            return stack.enter_context(distributed.Client(cluster, set_as_default=False))
        return stack.enter_context(connect(self.scheduler, self.connect_timeout))

    def _results(
        self, client: Any, settings: RunSettings, keep: int | None
    ) -> Generator[tuple[Partition, PartResult], None, None]:
        """(partition, PartResult) in input order, with a bounded number of partitions in flight."""
        killed = _import("distributed").KilledWorker

        # The targets reach each worker once: scattered with broadcast=True, every worker
        # holds a copy, and tasks get the future, which resolves to that local copy.
        job = client.scatter(settings.job(), broadcast=True, hash=False)
        threads = sum(client.nthreads().values()) or self.workers
        window = max(8, 4 * threads)
        todo = iter(self.partitions(threads))
        pending: deque[Any] = deque()

        def submit() -> None:
            part = next(todo, None)
            if part is not None:
                future = client.submit(
                    score_partition,
                    job,
                    part,
                    batch_size=settings.batch_size,
                    keep=keep,
                    cap=settings.limit,
                    skip_invalid=settings.skip_invalid,
                    floor=settings.min_score,
                    coverage=settings.coverage,
                    pure=False,
                )
                pending.append((part, future))

        try:
            for _ in range(window):
                submit()
            while pending:
                part, future = pending.popleft()
                try:
                    result = future.result()
                except killed:
                    raise WorkerDiedError(
                        f"Dask workers died while scoring {shown(part.path)}; they may have run out "
                        "of memory (try a smaller --blocksize). Nothing was written"
                    ) from None
                future.release()
                submit()
                yield part, result
        finally:
            # Also the targets: a cluster closed while holding scattered data logs an error.
            client.cancel([job, *(future for _, future in pending)])

    def __call__(self, settings: RunSettings, context: RunContext, top_k: int | None) -> Scored:
        # With --limit, a partition cannot know which of its records fall under the limit,
        # so it returns all of them (at most `limit`) and this side cuts.
        keep = top_k if settings.limit is None else None
        # Before the cluster starts: a problem every record shares fails now.
        check_first_record([file.path for file in self.files], settings)
        stats = context.stats
        comparisons = settings.scorer.comparisons
        limit = settings.limit
        offset = 0  # global index of the partition's first record
        line_base = 0  # lines of the file in earlier blocks
        files = FileRecords()
        with ExitStack() as stack:
            client = self._client(stack)
            # Closed before the client (LIFO), so its cleanup can still cancel tasks.
            results = stack.enter_context(closing(self._results(client, settings, keep)))
            for part, result in results:
                line_base = 0 if part.start == 0 else line_base
                # A bad record is reported only by checked rows (-k), which runs with --limit
                # never ask for: raised before the limit's cut, it is still within it.
                raise_part_failure(part, result, line_base)
                part_stats, rows, last = result.stats, result.rows, False
                if limit is not None:
                    room = limit - offset
                    if room < part_stats.records_read:
                        # The local reader stops at row `room`, having read it and the blank
                        # lines before it (limit runs use whole-file partitions).
                        _, line_no, end, _, _ = rows[room]
                        part_stats = RunStats(
                            records_read=room, blank_lines=line_no - 1 - room, bytes_read=end
                        )
                        rows = rows[:room]
                    last = part_stats.records_read >= room
                stats += part_stats
                for index, line_no, _, score, line in rows:
                    if not isinstance(score, float):
                        context.set_aside(settings.skip_invalid, part.path, line_base + line_no, score, line)
                        continue
                    if not result.checked:  # else the worker counted it, and kept none below the floor
                        stats.add_score(score)
                        if below(score, settings.min_score):
                            stats.below_min_score += 1
                            continue
                    yield score, offset + index, line
                offset += part_stats.records_read
                files.add(part, part_stats.records_read)
                line_base += result.lines
                stats.count_pairs(comparisons)
                context.progress.update(stats.records_read, part.done)
                if last:
                    return
        files.warn(stats)


def _check_address(address: str) -> None:
    # Before any Client: one that fails on a malformed address hangs a minute in __del__.
    comm = _import("distributed.comm")
    try:
        comm.resolve_address(address)
        scheme, location = comm.parse_address(address)
        # An out-of-range port would read "connection refused" (the OS's word for it).
        port = comm.parse_host_port(location)[1] if scheme in ("tcp", "tls") else 1
        if not 0 < port < 1 << 16:
            raise ValueError(f"port {port} is out of range (1-65535)")
    except ValueError as exc:
        raise UsageError(f"--scheduler {address!r} is not an address like tcp://HOST:8786: {exc}") from None
    except OSError as exc:
        raise ZipfitError(f"cannot resolve the Dask scheduler address {address}: {exc}") from None


def _exists(fs: Any, fs_path: str, source: str) -> bool:
    try:
        return bool(fs.exists(fs_path))
    except Exception as exc:  # as in _resolve: one line naming the URL
        raise url_failure(source, exc) from None


def _resolve(sources: list[str]) -> Iterator[SourceFile]:
    """Every source file with what partitioning it needs to know, globs expanded in order."""
    for label, url, size, directory in _found(sources):
        if directory and not is_dataset(label):  # a saved dataset's is a source; no other is
            raise InputError(f"{shown(label)}: is a directory, not a file or a saved dataset")
        reader = reader_of(label)
        if reader is JsonlSource:
            yield SourceFile(label, url, size, whole=compression_of(url) is not None)
            continue
        pieces = reader.pieces(label, url)  # here, not on a worker: a file that is not its format fails now
        if directory and pieces is not None:
            size = sum(pieces)
        yield SourceFile(label, url, size, pieces, whole=pieces is None)


def _found(sources: list[str]) -> Iterator[tuple[str, str, int, bool]]:
    """(path to show, URL to open, size in bytes, is a directory) of every source, globs expanded."""
    local_fs = _import("fsspec.implementations.local").LocalFileSystem

    for source in sources:
        if source == STDIN:
            raise UsageError("--engine dask reads files every worker can open, not stdin (-)")
        fs, fs_path = url_to_fs(source)
        local = isinstance(fs, local_fs)
        # A name that exists as it is was already chosen over globbing (options.expanded).
        if any(c in source for c in "*?[") and not _exists(fs, fs_path, source):
            if local and not is_url(source):
                names = [(p, fs._strip_protocol(p)) for p in sorted(glob.glob(source))]
            else:
                names = url_glob(source)
            if not names:
                raise InputError(f"{shown(source)}: no file matches")
        else:
            names = [(source, fs_path)]
        for label, inner in names:
            # Workers may run elsewhere: local paths go to them absolute (on a shared filesystem).
            url = inner if local else label
            try:
                info = fs.info(inner)
            except Exception as exc:  # fsspec and its backends raise anything: the URL is the input
                raise url_failure(label, exc) from None
            yield label, url, int(info.get("size") or 0), info.get("type") == "directory"


def _runs(path: str, url: str, pieces: list[int], size: int, done: int, length: int) -> list[Partition]:
    """Partitions of consecutive pieces [start, end) of about `size` bytes each; `done` counts
    the file's bytes in proportion to its pieces' (they need not add up to its size)."""
    total = sum(pieces) or 1
    parts: list[Partition] = []
    start, held, seen = 0, 0, 0
    for i, piece in enumerate(pieces):
        held += piece
        seen += piece
        if held >= size or i == len(pieces) - 1:
            end = i + 1 if i + 1 < len(pieces) else None
            parts.append(Partition(path, url, start, end, done + length * seen // total))
            start, held = i + 1, 0
    return parts or [Partition(path, url, done=done + length)]


def check_first_record(paths: list[str], settings: RunSettings) -> None:
    """The run's first record passes settings.first_record_check(): read here, once, from the
    first of `paths` that holds one (an empty first file must not leave the check undone)."""
    for path in paths:
        source = open_source(path, settings.spec.max_line_bytes, settings.skip_invalid)
        try:
            records = iter(source)
            first = next(records, None)
            if first is not None:
                settings.first_record_check().check(path, itertools.chain([first], records))
                return
        finally:
            source.close()

"""Records of every source in input order, cut into batches for the workers, with their keys.

A record's key: (file number << FILE_SHIFT) | its position among the file's records. Keys
sort in input order, break score ties, and need no count of earlier files, so a shard
given whole files can compute them. `--shard I/N` takes the records whose position among
the records of all sources leaves remainder I; with shard_by="file" it takes whole files
(file number % N == I) and reads no other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from ..base.errors import shown
from ..base.stats import RunStats
from .feeder import Feed, Line, can_stall
from .locations import STDIN, file_size
from .reading import DEFAULT_MAX_LINE_BYTES, LongLine
from .sources import RecordSource, open_source

FILE_SHIFT = 40
# Raw line bytes a batch holds at most (a record larger than this is a batch of its own):
# with large records, a count of records alone would let a batch hold gigabytes. Memory is
# then about workers x batches in flight (runner.map_batches) x this, plus the top K records.
BATCH_BYTES = 8 << 20


@dataclass
class Batch:
    path: str
    first: int = 0  # position of the first record among this run's records
    line_nos: list[int] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)
    bytes_done: int = 0  # bytes on disk of the whole input read when the batch was cut


@dataclass(frozen=True)
class Slicing:
    """Which records a run takes: its shard, and at most `limit` of them."""

    size: int = 256  # records per batch
    shard: tuple[int, int] | None = None  # (i, n)
    by_file: bool = False
    limit: int | None = None
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    block: int | None = None  # cut batches where the run's record count reaches a multiple of this
    # False (runs that stop at a bad record): a line over max_line_bytes ends the reading at
    # once, at the end of its batch, instead of being read to its end (/dev/zero has none).
    measure_long: bool = True
    max_bytes: int = BATCH_BYTES  # raw line bytes per batch, whatever the count
    # Seconds an input that can stall (stdin, a pipe) may be quiet before the part-filled
    # batch goes on, followed by an empty batch: a pause (feeder.py). None: never.
    quiet: float | None = None


def read_batches(sources: Sequence[str], slicing: Slicing, stats: RunStats) -> Iterator[Batch]:
    """Batches of this run's records in input order; a batch never spans two files. With
    `slicing.quiet`, an input that can stall also gives an empty batch when it goes quiet."""
    position = 0  # among the records of all sources read
    done_before = 0
    shard_i, shard_n = slicing.shard or (0, 1)
    by_file, limit = slicing.by_file, slicing.limit
    # Counts of the input itself (blank lines, bytes): with record shards every shard reads
    # everything, so shard 0 alone counts them and a merge adds up to the single run's.
    counts_input = by_file or shard_i == 0
    for file_no, path in enumerate(sources):
        if by_file and file_no % shard_n != shard_i:
            done_before += file_size(path) or 0
            continue
        source, items, close = _open(path, slicing)
        base = file_no << FILE_SHIFT
        in_file = 0
        batch, held = Batch(path, stats.records_read), 0  # held: the batch's line bytes
        try:
            for item in items:
                if item is None:  # the input went quiet: what it sent so far goes on now
                    if batch.lines:
                        yield _cut(batch, done_before + _done(source))
                    yield Batch(path, stats.records_read)
                    batch, held = Batch(path, stats.records_read), 0
                    continue
                line_no, line = item
                if limit is not None and position >= limit:
                    break
                stop = False
                if by_file or position % shard_n == shard_i:
                    if batch.lines and held + len(line) > slicing.max_bytes:
                        yield _cut(batch, done_before + _done(source))
                        batch, held = Batch(path, stats.records_read), 0
                    held += len(line)  # a LongLine holds only its marker
                    batch.line_nos.append(line_no)
                    batch.indexes.append(base | in_file)
                    batch.lines.append(line)
                    stats.records_read += 1
                    stop = isinstance(line, LongLine) and not line.measured
                position += 1
                in_file += 1
                at_edge = slicing.block is not None and stats.records_read % slicing.block == 0
                if len(batch.lines) >= slicing.size or (at_edge and batch.lines) or stop:
                    yield _cut(batch, done_before + _done(source))
                    if stop:  # the run stops at this record: results before it come first
                        return
                    batch, held = Batch(path, stats.records_read), 0
        finally:
            close()
        done_before = _count_file(path, source, in_file, done_before, stats, counts_input)
        if batch.lines:
            yield _cut(batch, done_before)
        if limit is not None and position >= limit:
            return


def _open(path: str, slicing: Slicing) -> tuple[RecordSource, Iterable[Line | None], Callable[[], None]]:
    """The source of `path`, its items, and how to close it. An input that can stall is read
    by a thread (feeder.py) whose items include a None each time it goes quiet."""
    source = open_source(path, slicing.max_line_bytes, slicing.measure_long)
    if slicing.quiet is None or not can_stall(path):
        return source, source, source.close
    feed = Feed(source, slicing.quiet)
    return source, feed, lambda: feed.close(source.close)


def _cut(batch: Batch, bytes_done: int) -> Batch:
    batch.bytes_done = bytes_done
    return batch


def _count_file(
    path: str, source: RecordSource, in_file: int, done_before: int, stats: RunStats, counts: bool
) -> int:
    """Note a file read to its end (its input counts too, when this run counts them);
    returns the bytes of all the input read so far."""
    if in_file == 0:  # a truncated upstream file, say: exit 0 would hide it from a cron job
        stats.warnings.append(f"{'stdin' if path == STDIN else shown(path)} holds no records")
    if counts:
        stats.blank_lines += source.blank_lines
        stats.bytes_read += source.consumed
    size = file_size(path)
    return done_before + (source.consumed if size is None else size)


def _done(source: RecordSource) -> int:
    """Bytes of the file read so far: on disk when known, else decompressed."""
    on_disk = source.position()
    return source.consumed if on_disk is None else on_disk

"""Record sources: where records come from, one reader class per input format.

A source yields `(number, record)` for every record of one input in order: `number`
counts from 1 (the line, or the row) and is what errors name; `record` is one JSON object
as bytes, which is what workers parse and what the output keeps. It counts the blank
lines it passes (`blank_lines`), says how many bytes of the input it has consumed
(`consumed`, and `position()` on disk when known, for progress) and is closed after use.

Adding a format: one module with a class shaped like `JsonlSource`, plus one line in
READERS. JSONL (plain or compressed) reads everything no other reader claims; a directory
`datasets.save_to_disk` wrote is read by the Arrow reader. For `--engine dask` a reader
also has `open_range` and `pieces` (see open_range below).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from typing import Any, Protocol

from .compression import ENDINGS
from .locations import file_name
from .reading import DEFAULT_MAX_LINE_BYTES, WHITESPACE, LineReader


class RecordSource(Protocol):
    path: str
    blank_lines: int

    @property
    def consumed(self) -> int: ...

    def __iter__(self) -> Iterator[tuple[int, bytes]]: ...

    def position(self) -> int | None: ...

    def close(self) -> None: ...


class PartSource(RecordSource, Protocol):
    """A source opened on part of a file (open_range): `lines` is what it read (lines, or
    rows), which the records of the file's later parts are numbered after."""

    @property
    def lines(self) -> int: ...


class JsonlSource:
    """JSON Lines, one record a line; `.gz`, `.bz2`, `.xz`, `.zst` by name, stdin by magic bytes.

    Blank lines are not records: they are counted and passed over.
    """

    def __init__(
        self,
        path: str,
        lines: LineReader | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        measure_long: bool = True,
    ) -> None:
        self.path = path
        self._lines = lines or LineReader(path, max_line_bytes=max_line_bytes, measure_long=measure_long)
        self.blank_lines = 0

    @classmethod
    def open_range(
        cls,
        path: str,
        url: str,
        start: int = 0,
        end: int | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> JsonlSource:
        """The records whose lines start in [start, end) of `url` (fsspec), for Dask partitions."""
        return cls(path, LineReader.open_range(path, url, start, end, max_line_bytes))

    @property
    def consumed(self) -> int:
        return self._lines.consumed

    @property
    def lines(self) -> int:
        """Lines read so far, blank ones included."""
        return self._lines.lines

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        for line_no, line in self._lines:
            if line.strip(WHITESPACE):
                yield line_no, line
            else:
                self.blank_lines += 1

    def position(self) -> int | None:
        return self._lines.position()

    def close(self) -> None:
        self._lines.close()


PARQUET = ".parquet"
ARROW = ".arrow"
# What `datasets.save_to_disk` leaves in a directory (a DatasetDict: in the top one).
STATE, DATASET_DICT = "state.json", "dataset_dict.json"


def is_parquet(path: str) -> bool:
    """The file is Parquet by its name (read by parquet.ParquetSource, written by ParquetSink)."""
    return file_name(path).lower().endswith(PARQUET)


def is_dataset(path: str) -> bool:
    """A local directory `save_to_disk` wrote (its state.json), or a DatasetDict's top one:
    read by the Arrow reader. Only these marks make a directory a source, never its files."""
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, m)) for m in (STATE, DATASET_DICT))


COMPRESSED = ("", *ENDINGS)  # a format's name, plain or compressed
TABLES = tuple(f"{name}{packed}" for name in (".csv", ".tsv") for packed in COMPRESSED)

# Name endings -> "module:class" of the reader for them; the first match wins.
READERS: dict[tuple[str, ...], str] = {
    (PARQUET,): "zipfit_cli.files.parquet:ParquetSource",
    TABLES: "zipfit_cli.files.delimited:CsvSource",
    (ARROW,): "zipfit_cli.files.arrow:ArrowSource",
}


def reader_of(path: str) -> Any:
    """The reader class for `path`: by its name's ending (READERS), a saved dataset's
    directory by the Arrow reader, anything else by JsonlSource."""
    name = ARROW if is_dataset(path) else file_name(path).lower()
    for endings, where in READERS.items():
        if name.endswith(endings):
            module, cls = where.split(":")
            return getattr(importlib.import_module(module), cls)
    return JsonlSource


def open_source(
    path: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, measure_long: bool = True
) -> RecordSource:
    """The source that reads `path` (reader_of). Lines (or rows) longer than `max_line_bytes`
    come as `LongLine`s: too_long records; measure_long=False: as soon as they are known to be
    long (reading.capped_lines)."""
    source: RecordSource = reader_of(path)(path, max_line_bytes=max_line_bytes, measure_long=measure_long)
    return source


def open_range(
    path: str, url: str, start: int = 0, end: int | None = None, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> PartSource:
    """Part of `url`, shown as `path`, for a Dask partition: a JSONL file's lines that start in
    bytes [start, end), or pieces [start, end) of what the reader's `pieces(path, url)` lists
    (a Parquet file's row groups, an Arrow file's record batches or a dataset's data files);
    a reader without pieces (CSV) is read whole. Its records are numbered from 1."""
    source: PartSource = reader_of(url).open_range(path, url, start, end, max_line_bytes)
    return source

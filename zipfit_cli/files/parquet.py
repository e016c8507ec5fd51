"""Parquet in and out, through pyarrow (the optional `[parquet]` extra).

In: `ParquetSource` yields every row as one JSON object, read a batch at a time (memory
bounded by a row group, never the whole file). Values become what `pyarrow`'s `to_pylist`
gives, then JSON by the rules in `parquet_values` (struct: a nested object, so
`--text-key meta.content` reaches into it; timestamps: ISO 8601 text; binary: UTF-8 text
or `base64:...`), which `parquet_sink.ParquetSink` reverses.

Out: `parquet_sink.ParquetSink`; the schema it is given comes from `source_schema` (the
sources') or, in a merge, from the parts' trailers (`schema_text`, `schema_from_text`).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator, Sequence
from typing import IO, Any

from ..base.errors import InputError, ZipfitError, shown
from .locations import file_size, is_url, open_url
from .parquet_values import JsonRows, pyarrow_modules
from .reading import DEFAULT_MAX_LINE_BYTES, ReadError, open_local
from .sources import is_parquet

# Rows handed to to_pylist at once: their Python objects are what a batch costs in memory.
BATCH_ROWS = 1024


def open_file(path: str, kind: str = "Parquet") -> tuple[IO[bytes], int | None]:
    """(binary file, its size if known) for a local path, or an fsspec URL ("scheme://...")."""
    if is_url(path):
        return open_url(path), file_size(path)
    local = open_local(path, kind)
    return local, os.fstat(local.fileno()).st_size


def _open_parquet(path: str, url: str | None = None) -> tuple[Any, IO[bytes], int | None]:
    """(ParquetFile, the open file, its size) of `url` (default: `path`), shown as `path`;
    a file that is not Parquet is an InputError."""
    pa, pq = pyarrow_modules()
    handle, size = open_file(url or path)
    try:
        return pq.ParquetFile(handle), handle, size
    except (pa.ArrowException, OSError, ValueError) as exc:
        handle.close()
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{shown(path)}: not a readable Parquet file ({problem})") from None


class ParquetSource:
    """The rows of one Parquet file as JSON objects, numbered from 1; see the module docstring.

    Progress (`consumed`, `position()`) is the file's size times the share of rows read.
    `open_range` reads row groups [start, end) only (a Dask partition): its rows are numbered
    from 1 and its `consumed` is its share of the size, so the shares add up to the file's.
    """

    def __init__(
        self,
        path: str,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        measure_long: bool = True,  # a row is read whole by pyarrow anyway
        url: str | None = None,
        groups: tuple[int, int | None] = (0, None),
    ) -> None:
        self.path = path
        self.max_line_bytes = max_line_bytes
        self.blank_lines = 0  # a table has no blank lines
        self._file, self._handle, size = _open_parquet(path, url)
        meta = self._file.metadata
        self._groups = list(range(meta.num_row_groups))[groups[0] : groups[1]]
        self._rows_total: int = meta.num_rows
        self._rows_before = sum(meta.row_group(i).num_rows for i in range(groups[0]))
        self._size = size or 0
        self._rows_read = 0

    @classmethod
    def open_range(
        cls,
        path: str,
        url: str,
        start: int = 0,
        end: int | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> ParquetSource:
        """Row groups [start, end) of `url` (a local path or fsspec URL), shown as `path`."""
        return cls(path, max_line_bytes, url=url, groups=(start, end))

    @classmethod
    def pieces(cls, path: str, url: str) -> list[int]:
        """The row groups, by their bytes (uncompressed): what Dask partitions are cut from."""
        parquet, handle, _ = _open_parquet(path, url)
        with handle:
            meta = parquet.metadata
            return [meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)]

    def _share(self, rows: int) -> int:
        return self._size if self._rows_total == 0 else self._size * rows // self._rows_total

    @property
    def consumed(self) -> int:
        if self._rows_total == 0:
            return self._size
        before = self._rows_before
        return self._share(before + self._rows_read) - self._share(before)

    @property
    def lines(self) -> int:
        """Rows read so far: later partitions of the file number theirs after these."""
        return self._rows_read

    def position(self) -> int | None:
        return self.consumed

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        pa, _ = pyarrow_modules()
        rows = JsonRows(self._file.schema_arrow, self.path, self.max_line_bytes)
        try:
            for batch in self._file.iter_batches(batch_size=BATCH_ROWS, row_groups=self._groups):
                for line in rows.lines(batch, self._rows_read):
                    self._rows_read += 1
                    yield self._rows_read, line
        except (pa.ArrowException, OSError) as exc:
            raise ReadError(self.path, self._rows_read + 1, str(exc).splitlines()[0]) from None

    def close(self) -> None:
        self._handle.close()


def source_schema(sources: Sequence[str], score_key: str) -> Any:
    """The output schema when every source is Parquet of one schema: theirs (without schema
    metadata) with the score column as float64, appended or in place of one of that name.
    None otherwise, or when a source cannot be read now: the schema is then inferred.
    """
    if not sources or not all(is_parquet(s) for s in sources):
        return None
    pa, _ = pyarrow_modules()
    schemas = []
    for path in sources:
        try:
            parquet, handle, _ = _open_parquet(path)
        except ZipfitError:
            return None
        with handle:
            schemas.append(parquet.schema_arrow.remove_metadata())
    first = schemas[0]
    if any(not s.equals(first) for s in schemas[1:]):
        return None
    score = pa.field(score_key, pa.float64())
    at = first.get_field_index(score_key)
    return first.set(at, score) if at >= 0 else first.append(score)


# Arrow marks an extension type by this metadata key; reading one back would construct a
# type registered under a name the bytes choose, so parts carry plain types only.
_EXTENSION_MARK = b"ARROW:extension"


def schema_text(schema: Any) -> str | None:
    """A schema as text a part's trailer can carry: base64 of its Arrow IPC bytes (None
    for a schema with extension types; the merge then infers one from the records)."""
    data = schema.serialize().to_pybytes()
    return None if _EXTENSION_MARK in data else base64.b64encode(data).decode("ascii")


def schema_from_text(text: str, where: str) -> Any:
    """The schema `schema_text` wrote; anything else is an InputError naming `where`."""
    pa, _ = pyarrow_modules("writing")
    import pyarrow.ipc

    bad = InputError(f"{shown(where)}: parquet_schema is not a schema zipfit wrote; the part was modified")
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError:
        raise bad from None
    if _EXTENSION_MARK in data:
        raise bad
    try:
        schema = pyarrow.ipc.read_schema(pa.py_buffer(data))
    except (pa.ArrowException, ValueError, TypeError, OSError):
        raise bad from None
    if len(set(schema.names)) != len(schema.names):  # a Parquet file no reader can address
        raise bad
    return schema

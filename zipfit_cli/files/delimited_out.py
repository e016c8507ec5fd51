"""CSV and TSV out, the mirror of CSV in (delimited.py): one header row, then a row a record.

The header is the first record's top-level field names, in its order; each later record
is written by name, so its field order does not matter, and a field it lacks is an empty
cell. A record with a field the header does not name is an OutputError naming the field
and the record (a CSV has one set of columns, named before the first row: JSONL and
Parquet take fields that vary). Text is written as it is; numbers, booleans, objects and
arrays as their JSON text (`0.25`, `true`, `{"lang":"en"}`: re-encoded, so `1.10` becomes
`1.1`; integers past 64 bits stay exact); null as an empty cell.

`.csv` is comma-separated and `.tsv` tab-separated, both in the dialects CSV in reads
(Python csv's `excel` and `excel-tab`: a field is quoted when it holds the separator, a
quote or a line break; rows end with CRLF); `.gz`, `.bz2`, `.xz`, `.zst` compress them.
Read back by zipfit, the rows give the same records, every value as text. Text holding a
NUL byte is refused: CSV in (and Python 3.10's csv) reads no such row.
"""

from __future__ import annotations

import csv
import io
import json
from typing import IO, Any

import orjson

from ..base.errors import OutputError, shown
from .compression import without_compression
from .locations import file_name
from .writers import JSONL_HINT, load_record

# Rows are handed to the stream in pieces of about this many characters, not one at a time.
DRAIN_CHARS = 1 << 20


class CsvSink:
    """Writes the JSON lines it is given (objects, one a line) to `stream` as CSV or TSV (by
    name); see the module docstring. `schema` is not used: the header says the columns."""

    def __init__(self, stream: IO[bytes], path: str, schema: Any = None) -> None:
        self._stream = stream
        self.path = path
        tsv = without_compression(file_name(path)).endswith(".tsv")
        self._buffer = io.StringIO()
        self._rows = csv.writer(self._buffer, dialect="excel-tab" if tsv else "excel")
        self._columns: dict[str, int] | None = None  # header name -> position
        self._pending = b""
        self._records = 0

    def write(self, data: bytes) -> None:
        *lines, self._pending = (self._pending + data).split(b"\n")
        for line in lines:
            if line.strip():
                self._records += 1
                self._row(line)
        if self._buffer.tell() >= DRAIN_CHARS:
            self._drain()

    def _drain(self) -> None:
        text = self._buffer.getvalue()
        if text:
            self._stream.write(text.encode("utf-8"))
            self._buffer.seek(0)
            self._buffer.truncate()

    def _row(self, line: bytes) -> None:
        try:
            record = load_record(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            where = f"cannot write {shown(self.path)}: record {self._records:,}"
            raise OutputError(f"{where} is not a JSON object")
        if self._columns is None:
            self._columns = self._header(record)
        cells = [""] * len(self._columns)
        for name, value in record.items():
            at = self._columns.get(name)
            if at is None:
                raise OutputError(
                    f"cannot write {shown(self.path)}: record {self._records:,} has field '{shown(name)}', "
                    "which the header (the first record's fields) does not name; a CSV has one set of "
                    f"columns: {JSONL_HINT} or Parquet, which take "
                    "fields that vary"
                )
            cells[at] = self._cell(name, value)
        self._rows.writerow(cells)

    def _header(self, record: dict[str, Any]) -> dict[str, int]:
        if not record:
            raise OutputError(f"cannot write {shown(self.path)}: record 1 has no fields to name the columns")
        for name in record:
            self._check_text(name, name, "its name")
        self._rows.writerow(list(record))
        return {name: at for at, name in enumerate(record)}

    def _cell(self, name: str, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            self._check_text(name, value, "its text")
            return value
        try:
            return orjson.dumps(value).decode("utf-8")  # a NUL in nested text is escaped here
        except TypeError:  # an integer past 64 bits, which load_record kept exact
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def _check_text(self, name: str, text: str, what: str) -> None:
        if "\x00" in text:
            raise OutputError(
                f"cannot write {shown(self.path)}: field '{shown(name)}' of record {self._records:,} holds "
                f"a NUL byte in {what}, which no CSV reader takes back: {JSONL_HINT}"
            )

    def flush(self) -> None:
        self._drain()

    def close(self) -> None:
        """The rows held back; a CSV has no footer (and an empty output no header)."""
        self._drain()

    def discard(self) -> None:
        """Drop the rows not yet written: the file is being removed."""
        self._buffer.seek(0)
        self._buffer.truncate()

"""CSV and TSV in: the header row names the columns, each later row is one record.

A row becomes a JSON object of strings, `{"column": "value", ...}`, numbered by the line
of the file it starts on, so errors name file:line as for JSONL. `.csv` is comma-separated,
`.tsv` tab-separated, both with the quoting rules of Python's `csv` module (double quotes
around fields that hold separators, quotes or line breaks); `.gz`, `.bz2`, `.xz`, `.zst`
are decompressed by name. A row with more or fewer fields than the header is a
`malformed_row` record: exit 3 naming file:line, or skipped with --skip-invalid. Empty
lines are blank lines; a byte-order mark before the header is dropped.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO, Any

import orjson

from .errors import InputError, shown
from .reading import BOM, DEFAULT_MAX_LINE_BYTES, READ_ERRORS, BadRecord, LongLine, ReadError, open_input


class _Counting(io.RawIOBase):
    """Counts the (decompressed) bytes read through it: the source's `consumed`."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


class CsvSource:
    """The data rows of a CSV or TSV file (by name) as JSON objects; see the module docstring."""

    def __init__(self, path: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.path = path
        self.max_line_bytes = max_line_bytes
        self.blank_lines = 0
        self._raw, self._stream = open_input(path)
        self._counted = _Counting(self._stream)
        # Undecodable bytes pass as surrogates; such a row is an invalid_utf8 record, not a crash.
        self._text = io.TextIOWrapper(
            io.BufferedReader(self._counted, 1 << 20), encoding="utf-8", errors="surrogateescape", newline=""
        )
        name = path.lower()
        for suffix in (".gz", ".bz2", ".xz", ".zst", ".zstd"):
            name = name.removesuffix(suffix)
        self._dialect = "excel-tab" if name.endswith(".tsv") else "excel"
        # csv's own field limit would stop the run on a long field, even with --skip-invalid:
        # lift it (the limit is global) and judge each row's size below, as a too_long record.
        csv.field_size_limit(2**31 - 1)

    @property
    def consumed(self) -> int:
        return self._counted.count

    def position(self) -> int | None:
        return self._raw.tell() if self._raw.seekable() else None

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        reader = csv.reader(self._text, dialect=self._dialect)
        header: list[str] | None = None
        limit = self.max_line_bytes
        line_no = 0
        try:
            for row in reader:
                start, line_no = line_no + 1, reader.line_num
                if not row:
                    self.blank_lines += line_no - start + 1
                    continue
                if header is None:
                    header = self._header(row, start)
                    continue
                if len(row) != len(header):
                    yield (
                        start,
                        BadRecord(
                            "malformed_row",
                            f"row has {len(row)} fields, the header names {len(header)}",
                        ),
                    )
                    continue
                try:
                    line = orjson.dumps(dict(zip(header, row, strict=True)), option=orjson.OPT_APPEND_NEWLINE)
                except orjson.JSONEncodeError:
                    yield start, BadRecord("invalid_utf8", "row is not valid UTF-8")
                    continue
                yield start, line if len(line) <= limit + 1 else LongLine(len(line), limit)
        except csv.Error as exc:
            raise InputError(f"{shown(self.path)}:{line_no + 1}: cannot read CSV: {exc}") from None
        except READ_ERRORS as exc:
            raise ReadError(self.path, line_no + 1, str(exc)) from None

    def _header(self, row: list[str], line_no: int) -> list[str]:
        if line_no == 1 and row[0].startswith(BOM.decode("utf-8")):
            row[0] = row[0][1:]
        seen: set[str] = set()
        for name in row:
            if name in seen:
                raise InputError(f"{shown(self.path)}:{line_no}: header names column {name!r} twice")
            seen.add(name)
        return row

    def close(self) -> None:
        self._text.close()
        self._stream.close()
        self._raw.close()

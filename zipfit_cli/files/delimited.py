"""CSV and TSV in: the header row names the columns, each later row is one record.

A row becomes a JSON object of strings, `{"column": "value", ...}`, numbered by the line
of the file it starts on, so errors name file:line as for JSONL. `.csv` is comma-separated,
`.tsv` tab-separated, both with the quoting rules of Python's `csv` module (double quotes
around fields that hold separators, quotes or line breaks); `.gz`, `.bz2`, `.xz`, `.zst`
are decompressed by name. A row with more or fewer fields than the header is a
`malformed_row` record: exit 3 naming file:line, or skipped with --skip-invalid; so is a
row holding a NUL byte (Python 3.10's csv cannot read one; 3.11's can: one rule for both),
and a quoted field still open at the end of the file (a stray quote must not turn the rest
of the file into one field). A row longer than --max-line-bytes is a `too_long` record,
found as soon as it passes the limit (a stray quote too: too_long, with or without
--skip-invalid). Empty lines are blank lines; a byte-order mark before the header is
dropped before the parser sees it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO, Any

import orjson

from ..base.errors import InputError, shown
from .compression import without_compression
from .locations import file_name
from .reading import DEFAULT_MAX_LINE_BYTES, READ_ERRORS, BadRecord, LongLine, ReadError, open_input


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


def _size(text: str) -> int:
    """Bytes of decoded text in its file (undecodable bytes were kept as surrogates)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogateescape"))


class _RowTooLong(Exception):
    """The row being read is over the line-length limit: the csv reader must not hold it."""


class _RowLines:
    """The physical lines that csv.reader parses, with what the reader cannot say itself:
    where the current row starts, its size so far, whether it holds a NUL byte, and
    whether the file ended (a row the reader completes after that has an open quote).
    """

    def __init__(self, text: IO[str], limit: int) -> None:
        self._readline = text.readline
        self.limit = limit
        self.lines = 0  # physical lines read
        self.ended = False
        self.new_row()

    def new_row(self) -> None:
        self.row_start = self.lines + 1
        self.row_bytes = 0
        self.quotes = 0  # quote characters in the row so far (odd: inside a quoted field)
        self.nul = False
        self.line_open = False  # the last piece read stopped before its line's end

    def __iter__(self) -> _RowLines:
        return self

    def __next__(self) -> str:
        # chars <= bytes: reading at most this many characters holds at most limit + 2 bytes
        line = self._readline(max(self.limit + 2 - self.row_bytes, 1))
        if not line:
            self.ended = True
            raise StopIteration
        if self.lines == 0 and line.startswith("\ufeff"):
            line = line[1:]  # the BOM, before the header is parsed: '"text"' stays quoted
        self.lines += 1
        self._count(line)
        if self.row_bytes - (len(line) - len(line.rstrip("\r\n"))) > self.limit:  # line breaks are free
            raise _RowTooLong
        if "\x00" in line:  # 3.10's csv stops at a NUL; the row is refused either way
            self.nul = True
            line = line.replace("\x00", "")
        return line

    def _count(self, piece: str) -> None:
        self.row_bytes += _size(piece)
        self.quotes += piece.count('"')
        self.line_open = not piece.endswith(("\n", "\r"))

    def skip_row(self) -> None:
        """Read the rest of a row that is too long, a chunk at a time, without holding it.
        Quotes are counted, not parsed: a stray quote inside an unquoted field can make this
        skip further than csv would have read."""
        while self.line_open or self.quotes % 2:
            piece = self._readline(1 << 20)
            if not piece:
                self.ended = True
                return
            if not self.line_open:
                self.lines += 1
            self._count(piece)


class CsvSource:
    """The data rows of a CSV or TSV file (by name) as JSON objects; see the module docstring.

    With measure_long=False, a row over the line-length limit comes at once, its size not
    measured and the rest of the file not read: for runs that stop at the first bad record.
    """

    def __init__(
        self,
        path: str,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        measure_long: bool = True,
        url: str | None = None,
    ) -> None:
        self.path = path
        self.max_line_bytes = max_line_bytes
        self.measure_long = measure_long
        self.blank_lines = 0
        self._lines: _RowLines | None = None
        self._raw, self._stream = open_input(url or path)
        self._counted = _Counting(self._stream)
        # Undecodable bytes pass as surrogates; such a row is an invalid_utf8 record, not a crash.
        self._text = io.TextIOWrapper(
            io.BufferedReader(self._counted, 1 << 20), encoding="utf-8", errors="surrogateescape", newline=""
        )
        self._dialect = "excel-tab" if without_compression(file_name(path)).endswith(".tsv") else "excel"
        # csv's own field limit would stop the run on a long field, even with --skip-invalid:
        # lift it (the limit is global); _RowLines judges each row's size, as a too_long record.
        csv.field_size_limit(2**31 - 1)

    @classmethod
    def open_range(
        cls,
        path: str,
        url: str,
        start: int = 0,
        end: int | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> CsvSource:
        """The whole of `url`, shown as `path` (a Dask partition): a quoted field may hold a
        line break, so no byte offset is known to start a row without reading from the top."""
        if start or end is not None:
            raise ValueError("a CSV/TSV file is read whole")
        return cls(path, max_line_bytes, url=url)

    @classmethod
    def pieces(cls, path: str, url: str) -> None:
        """None: one partition per file (see open_range)."""
        return None

    @property
    def consumed(self) -> int:
        return self._counted.count

    @property
    def lines(self) -> int:
        """Physical lines read so far."""
        return 0 if self._lines is None else self._lines.lines

    def position(self) -> int | None:
        return self._raw.tell() if self._raw.seekable() else None

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        lines = self._lines = _RowLines(self._text, self.max_line_bytes)
        reader = csv.reader(lines, dialect=self._dialect)
        header: list[str] | None = None
        try:
            while True:
                try:
                    row = next(reader, None)
                except _RowTooLong:
                    if header is None:
                        raise InputError(
                            f"{shown(self.path)}:1: the header row is longer than "
                            f"{self.max_line_bytes:,} bytes"
                        ) from None
                    yield lines.row_start, self._too_long(lines)
                    if not self.measure_long:
                        lines.skip_row()  # reading goes on: the record was another shard's
                    reader = csv.reader(lines, dialect=self._dialect)  # the old one is mid-row
                    lines.new_row()
                    continue
                if row is None:
                    return
                if not row:
                    self.blank_lines += 1
                elif header is None:
                    header = self._header(row, lines)
                else:
                    yield lines.row_start, self._record(header, row, lines)
                lines.new_row()
        except csv.Error as exc:
            raise InputError(f"{shown(self.path)}:{lines.lines}: cannot read CSV: {exc}") from None
        except READ_ERRORS as exc:
            raise ReadError(self.path, lines.lines + 1, str(exc)) from None

    def _too_long(self, lines: _RowLines) -> bytes:
        limit = self.max_line_bytes
        if not self.measure_long:
            return LongLine(lines.row_bytes, limit, measured=False)
        # too_long even when the row then turns out to run to the end of the file inside a
        # quote: a run without --skip-invalid stops at the limit and can only say too_long.
        lines.skip_row()
        return LongLine(lines.row_bytes, limit)

    def _record(self, header: list[str], row: list[str], lines: _RowLines) -> bytes:
        if lines.ended:  # the reader only completes a row at the end of the file inside quotes
            return BadRecord("malformed_row", _unclosed(lines.row_start))
        if lines.nul:
            return BadRecord("malformed_row", "row holds a NUL byte")
        if len(row) != len(header):
            return BadRecord("malformed_row", f"row has {len(row)} fields, the header names {len(header)}")
        try:
            return orjson.dumps(dict(zip(header, row, strict=True)), option=orjson.OPT_APPEND_NEWLINE)
        except orjson.JSONEncodeError:
            return BadRecord("invalid_utf8", "row is not valid UTF-8")

    def _header(self, row: list[str], lines: _RowLines) -> list[str]:
        line_no = lines.row_start
        if lines.ended or lines.nul:
            why = _unclosed(line_no) if lines.ended else "it holds a NUL byte"
            raise InputError(f"{shown(self.path)}:{line_no}: cannot read the header row: {why}")
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


def _unclosed(line_no: int) -> str:
    return (
        f"a quoted field opened on line {line_no} is never closed (a stray quote?): "
        "the row runs to the end of the file"
    )

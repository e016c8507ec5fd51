"""Reading input bytes: open files or stdin, decompress by name or magic bytes, split lines.

Where inputs are lives in `locations.py`, compressions in `compression.py`. Nothing here
knows what a record is; `records.py` turns lines into texts, and
`sources.py` chooses a reader for each input.
"""

from __future__ import annotations

import ftplib
import io
import lzma
import sys
import zlib
from collections.abc import Iterator
from typing import IO

from ..base.errors import InputError, shown
from .compression import Prefixed, compression_of, decompressing, sniff_compression
from .locations import STDIN, failure, file_name, is_url, open_url

BOM = b"\xef\xbb\xbf"
# Bytes that make a line blank; blank lines are not records (counted, never errors).
WHITESPACE = b" \t\r\n\x0b\x0c"

# --max-line-bytes: a longer line is a too_long record, found without ever holding it whole.
DEFAULT_MAX_LINE_BYTES = 256 << 20
_SKIP_CHUNK = 1 << 20

# What reading a damaged or truncated (compressed) file can raise; an FTP server's refusal
# mid-file comes as ftplib's own error, which is none of these.
READ_ERRORS = (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError, ftplib.Error)


class ReadError(InputError):
    """An input that could not be read to its end (damaged, truncated); names file and line."""

    def __init__(self, path: str, line_no: int, problem: str) -> None:
        super().__init__(f"{shown(path)}:{line_no}: cannot read: {shown(problem)}")
        self.line_no = line_no
        self.problem = problem


def open_input(path: str) -> tuple[IO[bytes], IO[bytes]]:
    """(raw, stream) for a path or '-': raw is what is on disk, stream yields decompressed bytes."""
    if path == STDIN:
        stdin = _stdin()
        head = _read_exactly(stdin, 8)  # all 8 bytes, or the end of input
        kind = sniff_compression(head)
        raw: IO[bytes] = io.BufferedReader(Prefixed(head, stdin), buffer_size=1 << 20)
        return raw, decompressing(raw, kind)
    raw = open_url(path) if is_url(path) else open_local(path)
    return raw, decompressing(raw, compression_of(path))


def _stdin() -> IO[bytes]:
    """Descriptor 0, read through a file object of zipfit's own, unbuffered: a thread blocked
    reading a slow stdin (feeder.py) holds its reader's lock, and Python's exit aborts
    ("Fatal Python error") when that reader is sys.stdin.buffer. sys.stdin itself when it
    has no descriptor (a test runner's)."""
    stdin = sys.stdin.buffer  # a stdin the shell closed fails here, with its message
    try:
        fd = stdin.fileno()
    except (AttributeError, ValueError, OSError):
        return stdin
    return open(fd, "rb", buffering=0, closefd=False)


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    """`size` bytes of `stream`, fewer only at its end (a raw read returns what has come)."""
    data = b""
    while len(data) < size and (piece := stream.read(size - len(data))):
        data += piece
    return data


def open_local(path: str, kind: str = "JSONL") -> IO[bytes]:
    """A local file opened for reading; why it cannot be is one InputError line."""
    try:
        return open(path, "rb", buffering=1 << 20)
    except FileNotFoundError:
        raise InputError(f"{shown(path)}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{shown(path)}: is a directory, not a {kind} file") from None
    except OSError as exc:
        raise InputError(f"{shown(path)}: cannot open: {exc.strerror}") from None


class LongLine(bytes):
    """Stands in for a line longer than --max-line-bytes, which is never held whole.

    Its bytes are a fixed marker (not blank, not JSON); `size` is the line's real length,
    newline included, and `limit` the cap it broke. TextSpec.parse makes it a too_long record.
    measured=False: the reader stopped at the limit (the run ends there), so `size` is only
    what was read of it.
    """

    size: int
    limit: int
    measured: bool

    def __new__(cls, size: int, limit: int, measured: bool = True) -> LongLine:
        line = super().__new__(cls, b"<line longer than --max-line-bytes>\n")
        line.size, line.limit, line.measured = size, limit, measured
        return line

    def __reduce__(self) -> tuple[type[LongLine], tuple[int, int, bool]]:
        return LongLine, (self.size, self.limit, self.measured)


class BadRecord(bytes):
    """Stands in for a record its source already knows is bad (a CSV row with the wrong
    number of fields): TextSpec.parse raises it as a RecordError with `reason` and `detail`,
    so --skip-invalid skips it like any other. Its bytes are a fixed marker, not JSON.
    """

    reason: str
    detail: str

    def __new__(cls, reason: str, detail: str) -> BadRecord:
        line = super().__new__(cls, b"<record its source could not read>\n")
        line.reason, line.detail = reason, detail
        return line

    def __reduce__(self) -> tuple[type[BadRecord], tuple[str, str]]:
        return BadRecord, (self.reason, self.detail)


def line_size(line: bytes) -> int:
    """Bytes a line took in its input: a LongLine's real length, else its own."""
    return line.size if isinstance(line, LongLine) else len(line)


def skip_line(stream: IO[bytes]) -> int:
    """Read and drop the rest of the current line, a chunk at a time; returns its length."""
    skipped = 0
    while True:
        piece = stream.readline(_SKIP_CHUNK)
        skipped += len(piece)
        if not piece or piece.endswith(b"\n"):
            return skipped


def _read_capped(stream: IO[bytes], size: int) -> bytes:
    """stream.readline(size), a chunk at a time: readline(size) itself gathers the chunks of a
    long line and joins them, holding it twice (512 MiB for a 256 MiB line). Gathered in a
    BytesIO, whose buffer grows in place and is handed out without a copy, it is held once."""
    line = stream.readline(min(size, _SKIP_CHUNK))
    if len(line) < _SKIP_CHUNK or line.endswith(b"\n"):
        return line
    gathered = io.BytesIO()
    gathered.write(line)
    held = len(line)
    while held < size and not line.endswith(b"\n"):
        line = stream.readline(min(size - held, _SKIP_CHUNK))
        if not line:
            break
        gathered.write(line)
        held += len(line)
    del line
    return gathered.getvalue()


def capped_lines(stream: IO[bytes], limit: int, measure: bool = True) -> Iterator[bytes]:
    """The lines of a stream; one longer than `limit` bytes (newline not counted) comes as a
    LongLine, after at most `limit` bytes of it were held. Signals are handled between
    chunks, so even endless input without a newline (/dev/zero) can be stopped.
    measure=False: a long line comes as soon as it is known to be long, unmeasured, so a
    run that stops there never reads a line with no end; its rest is skipped only if
    reading goes on.
    """
    while line := _read_capped(stream, limit + 1):
        if len(line) > limit and not line.endswith(b"\n"):
            if measure:
                yield LongLine(len(line) + skip_line(stream), limit)
            else:
                yield LongLine(len(line), limit, measured=False)
                skip_line(stream)
        else:
            yield line


class LineReader:
    """The lines of one input, decompressed and numbered from 1, a BOM on line 1 removed;
    read errors become InputError naming the file and line. A line longer than
    `max_line_bytes` comes as a LongLine.

    With `end`, only the lines that start before byte `end` of the stream are read; a
    reader opened at byte `start` > 0 (`open_range`) begins at the first line that starts
    at or after it, so consecutive ranges split a file into whole lines.
    """

    def __init__(
        self,
        path: str,
        opened: tuple[IO[bytes], IO[bytes]] | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        measure_long: bool = True,
    ) -> None:
        self.path = path
        self.max_line_bytes = max_line_bytes
        self.measure_long = measure_long  # see capped_lines
        self._raw, self._stream = opened or open_input(path)
        self._seekable = path != STDIN and self._raw.seekable()
        self.consumed = 0  # decompressed bytes read so far, BOM included
        self.lines = 0  # lines read so far
        self.offset = 0  # stream offset of the next line
        self.end: int | None = None
        self.first_line = True  # the stream starts at the file's start: a BOM may be there

    @classmethod
    def open_range(
        cls,
        path: str,
        url: str,
        start: int = 0,
        end: int | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> LineReader:
        """A whole file (compressed or not), or the lines starting in bytes [start, end) of an
        uncompressed one, opened through fsspec (any URL its backends read)."""
        raw = open_url(url)  # buffered: remote files may lack readline(size), which the cap needs
        if start == 0 and end is None:
            # zipfit's own decompression, not fsspec's, so every byte matches the local reader.
            reader = cls(path, (raw, decompressing(raw, compression_of(url))), max_line_bytes)
            reader._seekable = False
            return reader
        reader = cls(path, (raw, raw), max_line_bytes)
        reader._seekable = False
        if start:
            # A line belongs to the range its first byte is in: skip the rest of the line
            # byte start-1 is part of (only its newline when a line starts right at `start`).
            try:
                raw.seek(start - 1)
                reader.offset = start - 1 + skip_line(raw)
            except BaseException:
                raw.close()
                raise
            reader.first_line = False
        reader.end = end
        return reader

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        line_no = 0
        end = self.end
        try:
            for line_no, line in enumerate(
                capped_lines(self._stream, self.max_line_bytes, self.measure_long), 1
            ):
                if end is not None and self.offset >= end:
                    return
                size = line_size(line)
                self.offset += size
                self.consumed += size
                self.lines = line_no
                if line_no == 1 and self.first_line and line.startswith(BOM):
                    line = line[len(BOM) :]
                yield line_no, line
        except READ_ERRORS as exc:  # a server that hangs up mid-file: EOFError with no words
            raise ReadError(self.path, self.lines + 1, str(exc) or failure(exc)) from None

    def position(self) -> int | None:
        """Bytes consumed from the file on disk (compressed), when that can be known."""
        return self._raw.tell() if self._seekable else None

    def close(self) -> None:
        if self.path != STDIN:  # stdin belongs to the process
            self._stream.close()
            self._raw.close()


def read_lines(
    path: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, measure_long: bool = True
) -> Iterator[tuple[int, bytes]]:
    """(line number, line) for every line of a file; see LineReader."""
    reader = LineReader(path, max_line_bytes=max_line_bytes, measure_long=measure_long)
    try:
        yield from reader
    finally:
        reader.close()


def is_plain_text(path: str) -> bool:
    """A '.txt' file (compressed or not): one example a line, not JSONL."""
    name = file_name(path).lower()
    if compression_of(name):
        name = name.rsplit(".", 1)[0]
    return name.endswith(".txt")

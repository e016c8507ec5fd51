"""Reading input bytes: open files or stdin, decompress by name or magic bytes, split lines.

Nothing here knows what a record is; `records.py` turns lines into texts, and
`sources.py` chooses a reader for each input.
"""

from __future__ import annotations

import bz2
import ftplib
import glob
import gzip
import io
import lzma
import os
import stat
import sys
import zlib
from collections.abc import Iterator, Sequence
from typing import IO, Any

from ..base.errors import InputError, UsageError, ZipfitError, shown
from .compression import compression_by_name

STDIN = "-"
BOM = b"\xef\xbb\xbf"
# Bytes that make a line blank; blank lines are not records (counted, never errors).
WHITESPACE = b" \t\r\n\x0b\x0c"

# --max-line-bytes: a longer line is a too_long record, found without ever holding it whole.
DEFAULT_MAX_LINE_BYTES = 256 << 20
_SKIP_CHUNK = 1 << 20

# What reading a damaged or truncated (compressed) file can raise; an FTP server's refusal
# mid-file comes as ftplib's own error, which is none of these.
READ_ERRORS = (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError, ftplib.Error)

MAGIC = (
    (b"\x1f\x8b", "gz"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zst"),
)


class ReadError(InputError):
    """An input that could not be read to its end (damaged, truncated); names file and line."""

    def __init__(self, path: str, line_no: int, problem: str) -> None:
        super().__init__(f"{shown(path)}:{line_no}: cannot read: {shown(problem)}")
        self.line_no = line_no
        self.problem = problem


def is_url(path: str) -> bool:
    """A location with a scheme (s3://, gs://, hf://, https://, file://, memory://), possibly
    behind wrappers (simplecache::s3://..., blockcache::ftp://...): fsspec reads it."""
    scheme, sep, _ = path.partition("://")
    return bool(sep) and all(protocol.isidentifier() for protocol in scheme.split("::"))


def file_name(path: str) -> str:
    """The name that says what a file holds (format, compression): for a chained URL the first
    link naming a path (zip://a.csv.gz::s3://b/z.zip: the member, not the archive; a bare
    wrapper like simplecache:: names none), otherwise `path` itself."""
    if not is_url(path):
        return path
    return next((link for link in path.split("::") if not link.isidentifier()), path)


def _fsspec() -> Any:
    try:
        import fsspec  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise UsageError("reading URLs needs fsspec: pip install 'zipfit-cli[remote]'") from None
    return fsspec


def failure(exc: BaseException) -> str:
    """What an error from fsspec, one of its backends or a server means, in a few words."""
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "the server reset the connection"
    if isinstance(exc, TimeoutError):  # socket.timeout as well
        return "timed out"
    if isinstance(exc, EOFError):  # ftplib's word for a server that hung up
        return str(exc) or "the server closed the connection"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, ValueError) and text.startswith("Protocol not known:"):
        protocol = text.partition(":")[2].strip()
        return f"unknown protocol {protocol!r}: no fsspec backend reads it"
    if isinstance(exc, OSError):
        return f"cannot open: {exc.strerror or text or type(exc).__name__}"
    # Odd URLs make backends fail in odd ways (IndexError, TypeError, AttributeError, ...).
    return f"cannot open: {type(exc).__name__}{': ' if text else ''}{text}"


def url_failure(path: str, exc: BaseException) -> ZipfitError:
    """The one-line error for a URL that could not be resolved, opened or read, naming it
    (its password redacted). A backend that is not installed is a usage error naming its
    package (fsspec says "Install s3fs ..."); anything else is bad input."""
    if isinstance(exc, ImportError):
        return UsageError(f"{shown(path)}: {shown(exc)}")
    return InputError(f"{shown(path)}: {shown(failure(exc))}")


class _UrlFile(io.BufferedReader):
    """A buffered file opened through fsspec that holds on to its `OpenFile`: for a chained
    URL (zip://a.jsonl::file:///z.zip) the outer file is closed when the filesystem holding
    it is collected, which would happen while the inner file is still being read."""

    def __init__(self, raw: IO[bytes], opened: Any) -> None:
        super().__init__(raw, buffer_size=1 << 20)  # type: ignore[arg-type]
        self._opened = opened


def open_url(path: str) -> IO[bytes]:
    """A URL (or a local path) opened for reading through fsspec, buffered; why it cannot be
    is one line naming it (see url_failure)."""
    fsspec = _fsspec()
    try:
        opened = fsspec.open(path, "rb")
        if _is_directory(opened.fs, opened.path):  # FTP would read it as an empty file
            raise IsADirectoryError(path)
        raw: IO[bytes] = opened.open()
    except Exception as exc:  # fsspec and its backends raise anything: the URL is the input
        raise url_failure(path, exc) from None
    return _UrlFile(raw, opened)


def _is_directory(fs: Any, inner: str) -> bool:
    """Whether a filesystem says `inner` is a directory; a backend that cannot say (data://,
    a plain web server) leaves it to opening."""
    try:
        return fs.info(inner).get("type") == "directory"  # type: ignore[no-any-return]
    except Exception:  # fsspec and its backends raise anything: opening will tell why
        return False


def file_size(path: str) -> int | None:
    """Bytes of a local file or a URL; None for stdin, or when the size cannot be known."""
    try:
        return input_file_size(path)
    except ZipfitError:
        return None


def input_file_size(path: str) -> int | None:
    """Bytes of one input: None for stdin, or a URL whose backend cannot tell (data://);
    a missing local file, or a URL that cannot be reached, is an error saying why."""
    if path == STDIN:
        return None
    if not is_url(path):
        try:
            return os.path.getsize(path)
        except OSError:
            raise InputError(f"{shown(path)}: no such file") from None
    fs, inner = url_to_fs(path)
    try:
        info = fs.info(inner)
    except (OSError, EOFError) as exc:
        raise url_failure(path, exc) from None
    except Exception:  # a backend that cannot say (data:// has no info): opening will tell
        return None
    return int(info.get("size") or 0)


def url_to_fs(path: str) -> tuple[Any, str]:
    """(fsspec filesystem, path within it) of a URL; why there is none is one line (url_failure)."""
    fsspec = _fsspec()
    try:
        fs, inner = fsspec.core.url_to_fs(path)
    except Exception as exc:  # fsspec and its backends raise anything: the URL is the input
        raise url_failure(path, exc) from None
    return fs, inner


def expand_paths(paths: Sequence[str]) -> list[str]:
    """Paths with their globs expanded, in order (each glob's matches sorted): local globs,
    and URL globs (s3://bucket/part-*.jsonl.zst) through fsspec. A glob matching nothing is
    an error; a file whose name merely contains glob characters is taken as it is."""
    expanded: list[str] = []
    for path in paths:
        if path == STDIN or not any(c in path for c in "*?[") or (not is_url(path) and os.path.exists(path)):
            expanded.append(path)
            continue
        found = [url for url, _ in url_glob(path)] if is_url(path) else sorted(glob.glob(path))
        if not found:
            raise InputError(f"{shown(path)}: no file matches")
        expanded += found
    return expanded


def url_glob(pattern: str) -> list[tuple[str, str]]:
    """(URL, path within its filesystem) of every file a URL glob matches, sorted; a glob that
    cannot be run is one line naming it (url_failure)."""
    fs, inner = url_to_fs(pattern)
    try:
        found = sorted(fs.glob(inner))
    except Exception as exc:  # fsspec and its backends raise anything: the URL is the input
        raise url_failure(pattern, exc) from None
    return [(matched_url(pattern, inner, match, fs), match) for match in found]


def matched_url(pattern: str, inner: str, match: str, fs: Any) -> str:
    """The URL of `match`, a path a URL glob's filesystem found for its `inner` pattern.

    A filesystem's paths drop what its URL carried (host, port, user and password of
    ftp://alice:pw@host:2121/x*.jsonl; the outer links of zip://*.jsonl::s3://b/z.zip), so a
    match is put back into the glob as the user wrote it: the part a match adds to the
    pattern's directory goes after that directory as written. Whatever the protocol, the
    rest of the URL is kept as given.
    """
    head, chain, outer = pattern.partition("::")
    head_glob, inner_glob = _first_glob(head), _first_glob(inner)
    if head_glob < len(head) and inner_glob < len(inner):
        written = head[: head.rfind("/", 0, head_glob) + 1]
        spelled = inner[: inner.rfind("/", 0, inner_glob) + 1]
        if match.startswith(spelled) and written:
            return f"{written}{match[len(spelled) :]}{chain}{outer}"
    return str(fs.unstrip_protocol(match))


def _first_glob(text: str) -> int:
    """Index of the first glob character in `text`; len(text) when it has none."""
    return min((i for i in (text.find(c) for c in "*?[") if i >= 0), default=len(text))


def sniff_compression(data: bytes) -> str | None:
    """The compression whose magic bytes `data` starts with, if any."""
    return next((kind for magic, kind in MAGIC if data.startswith(magic)), None)


def compression_of(path: str) -> str | None:
    """Compression implied by a file name: 'gz', 'bz2', 'xz', 'zst' or None."""
    return compression_by_name(file_name(path))


def decompressing(raw: IO[bytes], kind: str | None) -> IO[bytes]:
    """`raw` read through the decompressor for `kind` (None: as it is)."""
    if kind is None:
        return raw
    if kind == "gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if kind == "bz2":
        return bz2.BZ2File(raw, "rb")
    if kind == "xz":
        return lzma.LZMAFile(raw, "rb")
    return io.BufferedReader(_ZstdReader(raw), buffer_size=1 << 20)


class _ZstdReader(io.RawIOBase):
    """Zstandard frames, one after another; unlike zstandard's stream_reader it reports a
    file cut off mid-frame (EOFError) instead of ending quietly, and corrupt data as OSError.
    Input goes in small chunks, so a highly compressed file does not inflate all at once.
    """

    CHUNK = 4096

    def __init__(self, raw: IO[bytes]) -> None:
        import zstandard

        self._raw = raw
        self._new = zstandard.ZstdDecompressor().decompressobj
        self._error = zstandard.ZstdError
        self._obj = self._new()
        self._pending = b""
        self._offset = 0  # into _pending: slicing it on every read would be quadratic
        self._in_frame = False

    def readable(self) -> bool:
        return True

    def _refill(self) -> bool:
        """Decompress more input into _pending; False at the clean end of the input."""
        chunk = self._raw.read(self.CHUNK)
        if not chunk:
            if self._in_frame:
                raise EOFError("compressed file ended before the end-of-stream marker")
            return False
        out = []
        while chunk:
            try:
                out.append(self._obj.decompress(chunk))
            except self._error as exc:
                raise OSError(f"corrupt zstd data: {exc}") from None
            self._in_frame = not self._obj.eof
            chunk = self._obj.unused_data if self._obj.eof else b""
            if self._obj.eof:
                self._obj = self._new()
        self._pending, self._offset = b"".join(out), 0
        return True

    def readinto(self, buffer: Any) -> int:
        while self._offset >= len(self._pending):
            if not self._refill():
                return 0
        n = min(len(buffer), len(self._pending) - self._offset)
        buffer[:n] = memoryview(self._pending)[self._offset : self._offset + n]
        self._offset += n
        return n


class _Prefixed(io.RawIOBase):
    """`head`, then the rest of `raw`: sniffing the start of stdin without losing it."""

    def __init__(self, head: bytes, raw: IO[bytes]) -> None:
        self._head = head
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def open_input(path: str) -> tuple[IO[bytes], IO[bytes]]:
    """(raw, stream) for a path or '-': raw is what is on disk, stream yields decompressed bytes."""
    if path == STDIN:
        stdin = sys.stdin.buffer
        head = stdin.read(8)  # a buffered read waits for all 8 bytes, or the end of input
        kind = sniff_compression(head)
        raw: IO[bytes] = io.BufferedReader(_Prefixed(head, stdin), buffer_size=1 << 20)
        return raw, decompressing(raw, kind)
    raw = open_url(path) if is_url(path) else open_local(path)
    return raw, decompressing(raw, compression_of(path))


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


def input_size(paths: list[str]) -> int | None:
    """Total bytes on disk of the inputs, or None when one of them is stdin or of unknown size;
    a missing or unreachable input is an error saying why."""
    total: int | None = 0
    for path in paths:
        if path == STDIN:
            return None
        size = input_file_size(path)  # every input is checked, even once the total is unknown
        total = None if total is None or size is None else total + size
    return total


def input_stats(sources: list[str]) -> list[dict[str, Any] | None]:
    """Size and modification time of each local input file (None for stdin and pipes), so a
    merge can refuse parts made before and after an input changed.
    """
    found: list[dict[str, Any] | None] = []
    for path in sources:
        try:
            info = os.stat(path) if path != STDIN else None
        except OSError:
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            found.append(None)
        else:
            found.append({"path": path, "size": info.st_size, "mtime_ns": info.st_mtime_ns})
    return found

"""Streaming JSONL input: open files (compressed or not), number lines, pull out text.

The main process only splits lines; parsing and text extraction run in the workers
(`TextSpec.text_of`), so the parent never becomes the bottleneck.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
import string
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from .errors import InputError, UsageError

STDIN = "-"
BOM = b"\xef\xbb\xbf"
# Bytes that make a line blank; blank lines are not records (counted, never errors).
WHITESPACE = b" \t\r\n\x0b\x0c"

# Reasons a record cannot be scored, with the text shown to users.
REASONS = {
    "malformed_json": "malformed JSON",
    "invalid_utf8": "not valid UTF-8",
    "not_object": "JSON value is not an object",
    "missing_key": "text field missing",
    "not_string": "text field is not a string",
    "empty_text": "text is empty or whitespace only",
    "too_long": "text longer than --max-text-bytes, or line longer than --max-line-bytes",
}

# --max-line-bytes: a longer line is a too_long record, found without ever holding it whole.
DEFAULT_MAX_LINE_BYTES = 256 << 20
_SKIP_CHUNK = 1 << 20

# What reading a damaged or truncated (compressed) file can raise.
READ_ERRORS = (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError)

_MAGIC = (
    (b"\x1f\x8b", "gz"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zst"),
)


class RecordError(InputError):
    """A record that cannot be scored; `reason` is a key of REASONS."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def compression_of(path: str) -> str | None:
    """Compression implied by a file name: 'gz', 'bz2', 'xz', 'zst' or None."""
    name = path.lower()
    for suffix, kind in ((".gz", "gz"), (".bz2", "bz2"), (".xz", "xz"), (".zst", "zst"), (".zstd", "zst")):
        if name.endswith(suffix):
            return kind
    return None


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
        kind = next((k for magic, k in _MAGIC if head.startswith(magic)), None)
        raw: IO[bytes] = io.BufferedReader(_Prefixed(head, stdin), buffer_size=1 << 20)
        return raw, decompressing(raw, kind)
    try:
        raw = open(path, "rb", buffering=1 << 20)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a JSONL file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror}") from None
    return raw, decompressing(raw, compression_of(path))


class LongLine(bytes):
    """Stands in for a line longer than --max-line-bytes, which is never held whole.

    Its bytes are a fixed marker (not blank, not JSON); `size` is the line's real length,
    newline included, and `limit` the cap it broke. TextSpec.parse makes it a too_long record.
    """

    size: int
    limit: int

    def __new__(cls, size: int, limit: int) -> LongLine:
        line = super().__new__(cls, b"<line longer than --max-line-bytes>\n")
        line.size, line.limit = size, limit
        return line

    def __reduce__(self) -> tuple[type[LongLine], tuple[int, int]]:
        return LongLine, (self.size, self.limit)


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


def capped_lines(stream: IO[bytes], limit: int) -> Iterator[bytes]:
    """The lines of a stream; one longer than `limit` bytes (newline not counted) comes as a
    LongLine, after at most `limit` bytes of it were held. Signals are handled between
    chunks, so even endless input without a newline (/dev/zero) can be stopped.
    """
    readline = stream.readline
    while line := readline(limit + 1):
        if len(line) > limit and not line.endswith(b"\n"):
            yield LongLine(len(line) + skip_line(stream), limit)
        else:
            yield line


class LineReader:
    """The lines of one input, decompressed and numbered from 1, a BOM on line 1 removed;
    read errors become InputError naming the file and line. A line longer than
    `max_line_bytes` comes as a LongLine.
    """

    def __init__(self, path: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.path = path
        self.max_line_bytes = max_line_bytes
        self._raw, self._stream = open_input(path)
        self._seekable = path != STDIN and self._raw.seekable()
        self.consumed = 0  # decompressed bytes read so far, BOM included

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        line_no = 0
        try:
            for line_no, line in enumerate(capped_lines(self._stream, self.max_line_bytes), 1):
                self.consumed += line_size(line)
                if line_no == 1 and line.startswith(BOM):
                    line = line[len(BOM) :]
                yield line_no, line
        except READ_ERRORS as exc:
            raise InputError(f"{self.path}:{line_no + 1}: cannot read: {exc}") from None

    def position(self) -> int | None:
        """Bytes consumed from the file on disk (compressed), when that can be known."""
        return self._raw.tell() if self._seekable else None

    def close(self) -> None:
        if self.path != STDIN:  # stdin belongs to the process
            self._stream.close()
            self._raw.close()


def read_lines(path: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[tuple[int, bytes]]:
    """(line number, line) for every line of a file; see LineReader."""
    reader = LineReader(path, max_line_bytes)
    try:
        yield from reader
    finally:
        reader.close()


def _lookup(record: dict[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(part)
        value = value[part]
    return value


@dataclass(frozen=True)
class TextSpec:
    """Where a record's text comes from: a (dotted) key, or a str.format template."""

    key: str = "text"
    template: str | None = None
    max_bytes: int = 0  # 0: no limit
    fields: tuple[str, ...] = field(default=(), compare=False)
    option: str = field(default="--text-key", compare=False)  # named in error messages
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES  # what the readers of these records cap lines at

    @classmethod
    def build(
        cls,
        key: str = "text",
        template: str | None = None,
        max_bytes: int = 0,
        option: str = "--text-key",
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> TextSpec:
        fields: tuple[str, ...] = ()
        if template is None and not key:
            raise UsageError(f"{option} needs a field name")
        if template is not None:
            try:
                fields = tuple(f for _, f, _, _ in string.Formatter().parse(template) if f is not None)
            except ValueError as exc:
                raise UsageError(f"bad --target-template {template!r}: {exc}") from None
            if not fields:
                raise UsageError(f"--target-template {template!r} names no field, like {{prompt}}")
            if any(f == "" or f.isdigit() for f in fields):
                raise UsageError("--target-template fields need names, like {prompt}")
        return cls(key, template, max_bytes, fields, option, max_line_bytes)

    def text_of(self, record: Any) -> bytes:
        """The UTF-8 text of one parsed record; raises RecordError."""
        if not isinstance(record, dict):
            raise RecordError("not_object", f"JSON value is a {type(record).__name__}, not an object")
        if self.template is not None:
            text = self._render(record)
        else:
            try:
                text = _lookup(record, self.key)
            except KeyError:
                keys = ", ".join(list(record)[:8])
                raise RecordError(
                    "missing_key", f"no {self.key!r} field (fields: {keys or 'none'}); see {self.option}"
                ) from None
            if not isinstance(text, str):
                kind = "null" if text is None else type(text).__name__
                raise RecordError("not_string", f"{self.key!r} is {kind}, not a string")
        if not text.strip():
            raise RecordError("empty_text", "text is empty or whitespace only")
        data = text.encode("utf-8", "surrogatepass")
        if self.max_bytes and len(data) > self.max_bytes:
            raise RecordError(
                "too_long", f"text is {len(data):,} bytes, over --max-text-bytes {self.max_bytes:,}"
            )
        return data

    def _render(self, record: dict[str, Any]) -> str:
        assert self.template is not None
        for name in self.fields:
            base = name.split(".")[0].split("[")[0]
            if base not in record:
                raise RecordError("missing_key", f"template field {base!r} missing")
            value = record[base]
            if base == name and (value is None or isinstance(value, dict | list)):
                kind = "null" if value is None else type(value).__name__
                raise RecordError("not_string", f"template field {base!r} is {kind}, not text")
        try:
            return self.template.format_map(record)
        except (KeyError, IndexError, AttributeError, ValueError, TypeError) as exc:
            raise RecordError("missing_key", f"template {self.template!r} failed: {exc}") from None

    def parse(self, line: bytes) -> tuple[Any, bytes]:
        """(record, text) of one JSONL line; raises RecordError."""
        if isinstance(line, LongLine):
            raise RecordError(
                "too_long", f"line is {line.size:,} bytes, over --max-line-bytes {line.limit:,}"
            )
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as uexc:
                hint = next(
                    (
                        f"; it looks {k}-compressed: name the file .{k}"
                        for m, k in _MAGIC
                        if line.startswith(m)
                    ),
                    "",
                )
                raise RecordError("invalid_utf8", f"not valid UTF-8 at byte {uexc.start}{hint}") from None
            raise RecordError("malformed_json", f"malformed JSON: {_json_problem(exc)}") from None
        return record, self.text_of(record)


def _is_plain_text(path: str) -> bool:
    name = path.lower()
    if compression_of(name):
        name = name.rsplit(".", 1)[0]
    return name.endswith(".txt")


def _json_problem(exc: Exception) -> str:
    # orjson says "…: line 1 column 9 (char 8)"; the line is ours to name, the column is not.
    text = str(exc)
    match = re.search(r": line \d+ column \d+ \(char (\d+)\)$", text)
    return f"{text[: match.start()]} at character {match.group(1)}" if match else text


def load_targets(paths: list[str], spec: TextSpec) -> list[bytes]:
    """All target texts, in order. JSONL files by default; '.txt' files hold one example a line.

    Targets are small and must all be valid: any bad line is an error naming file and line.
    """
    texts: list[bytes] = []
    for path in paths:
        plain = _is_plain_text(path)
        try:
            lines = list(read_lines(path))
        except InputError as exc:
            raise InputError(f"target file {exc}") from None
        for line_no, line in lines:
            if not line.strip(WHITESPACE):
                continue
            try:
                if plain and isinstance(line, LongLine):
                    raise RecordError("too_long", f"line is {line.size:,} bytes, over {line.limit:,}")
                if plain:
                    text = line.rstrip(b"\r\n")
                    text.decode("utf-8")
                    texts.append(text)
                else:
                    texts.append(spec.parse(line)[1])
            except RecordError as exc:
                hint = (
                    " (targets are JSONL; a .txt file holds one example a line)"
                    if exc.reason == "malformed_json"
                    else ""
                )
                raise InputError(f"{path}:{line_no}: target: {exc.detail}{hint}") from None
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}:{line_no}: target: not valid UTF-8 at byte {exc.start}") from None
    if not texts:
        raise InputError(f"no target examples in {', '.join(paths)}: the target set is empty")
    return texts


def input_size(paths: list[str]) -> int | None:
    """Total bytes on disk of the inputs, or None when one of them is stdin."""
    total = 0
    for path in paths:
        if path == STDIN:
            return None
        try:
            total += os.path.getsize(path)
        except OSError:
            raise InputError(f"{path}: no such file") from None
    return total

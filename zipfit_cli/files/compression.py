"""Compression: the one table of name endings (for readers and writers alike), magic bytes,
and reading through a decompressor.

A name ending in one of ENDINGS is read through that decompressor and written through
that compressor, whatever the format under it (`.jsonl.zst`, `.tsv.gz`).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from typing import IO, Any

from .locations import file_name

# Name ending (lower case) -> compression kind; `.zstd` is read and written as `.zst`.
ENDINGS: dict[str, str] = {".gz": "gz", ".bz2": "bz2", ".xz": "xz", ".zst": "zst", ".zstd": "zst"}
# The endings help texts name: the one named after its kind.
NAMED: tuple[str, ...] = tuple(ending for ending, kind in ENDINGS.items() if ending == f".{kind}")

MAGIC = (
    (b"\x1f\x8b", "gz"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zst"),
)


def compression_by_name(name: str) -> str | None:
    """The compression kind a file name's ending implies ('gz', 'bz2', 'xz', 'zst'), or None."""
    lower = name.lower()
    return next((kind for ending, kind in ENDINGS.items() if lower.endswith(ending)), None)


def without_compression(name: str) -> str:
    """`name` (lower case) without its compression ending: what says the format under it."""
    lower = name.lower()
    return next((lower[: -len(ending)] for ending in ENDINGS if lower.endswith(ending)), lower)


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


class Prefixed(io.RawIOBase):
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
        # A buffered stdin's read1: what has arrived, up to the buffer's size; its read()
        # would wait to fill it, keeping a slowly fed pipe's lines back (feeder.py).
        read1 = getattr(self._raw, "read1", None)
        data = read1(len(buffer)) if read1 is not None else self._raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

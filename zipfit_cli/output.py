"""Output that is all or nothing: a temporary file renamed into place only on success.

stdout ('-') cannot be made atomic; it is flushed per record when it is a terminal and
buffered otherwise. Devices and pipes (/dev/null, /dev/stdout, a FIFO) are written
directly; a symbolic link is written through, to the file it points to. `.gz`, `.bz2`,
`.xz` and `.zst` names are compressed.
"""

from __future__ import annotations

import gzip
import os
import sys
import tempfile
from types import TracebackType
from typing import IO

from .errors import OutputExistsError, UsageError, ZipfitError
from .reading import STDIN, compression_of


class OutputError(ZipfitError):
    """The output could not be written (permissions, full disk)."""


def _read_umask() -> int:
    # The only way to read it is to set it; done once at import, before any thread starts.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def check_output_path(path: str, inputs: list[str], force: bool) -> None:
    """Refuse an output that is one of the inputs, or that exists without --force."""
    if path == STDIN or is_special(path):
        return
    path = os.path.realpath(path)  # a link is written through
    if os.path.isdir(path):
        raise UsageError(f"output {path} is a directory; give a file name")
    if os.path.exists(path):
        for source in inputs:
            if source != STDIN and os.path.exists(source) and os.path.samefile(source, path):
                raise UsageError(f"output {path} is also an input; choose another output path")
    if os.path.exists(path) and not force:
        raise OutputExistsError(f"output {path} exists; use --force to replace it")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise OutputError(f"cannot write {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {path}: directory {parent} is not writable")


def is_special(path: str) -> bool:
    """A device, pipe or descriptor (/dev/null, /dev/stdout, a FIFO): written in place.

    /dev/stdout redirected to a file is a regular file through a link, so /dev and /proc
    paths count as special whatever they point to.
    """
    absolute = os.path.abspath(path)
    if absolute.startswith(("/dev/", "/proc/")):
        return True
    return os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path)


class Output:
    """Context manager: `write(bytes)`; on a clean exit the file appears whole, else never."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._tmp_path: str | None = None
        self._raw: IO[bytes] | None = None
        self._special: IO[bytes] | None = None
        self._target = path
        self._stream: IO[bytes]
        self.line_buffered = False
        self.written = False  # anything written: on stdout, an interrupted run sent part of its output

    def __enter__(self) -> Output:
        if self.path == STDIN:
            self._stream = sys.stdout.buffer
            self.line_buffered = sys.stdout.isatty()
            return self
        if is_special(self.path):
            try:  # appending is what a shell's `>` onto an open descriptor amounts to
                self._stream = self._special = open(self.path, "ab")
            except OSError as exc:
                raise OutputError(f"cannot write {self.path}: {exc.strerror}") from None
            return self
        target = os.path.realpath(self.path)  # through a symbolic link, not over it
        directory = os.path.dirname(target)
        name = os.path.basename(target)
        self._target = target
        try:
            fd, self._tmp_path = tempfile.mkstemp(prefix=f".{name}.", suffix=".zipfit-tmp", dir=directory)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror}") from None
        self._raw = os.fdopen(fd, "wb", buffering=1 << 20)
        kind = compression_of(self.path)
        if kind == "gz":
            # mtime=0 and no file name in the header: the same records give the same bytes.
            self._stream = gzip.GzipFile(  # type: ignore[assignment]
                filename="", fileobj=self._raw, mode="wb", compresslevel=6, mtime=0
            )
        elif kind == "zst":
            import zstandard

            self._stream = zstandard.ZstdCompressor(level=3).stream_writer(self._raw, closefd=False)
        elif kind == "bz2":
            import bz2

            self._stream = bz2.BZ2File(self._raw, "wb")
        elif kind == "xz":
            import lzma

            self._stream = lzma.LZMAFile(self._raw, "wb")
        else:
            self._stream = self._raw
        return self

    def write(self, data: bytes) -> None:
        self.written = True
        try:
            self._stream.write(data)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        if self.line_buffered:
            self._stream.flush()

    def finish(self) -> None:
        """Everything written reaches the disk (the temporary file); nothing is renamed yet."""
        try:
            if self._tmp_path is None:
                self._stream.flush()
                if self._special is not None:
                    self._special.close()
                return
            assert self._raw is not None
            if self._stream is not self._raw:
                self._stream.close()
            self._raw.flush()
            os.fsync(self._raw.fileno())
            self._raw.close()
        except BrokenPipeError:
            raise
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def publish(self) -> None:
        """Rename the finished temporary file into place (atomic on one file system)."""
        if self._tmp_path is None:
            return
        try:
            mode = os.stat(self._target).st_mode & 0o7777 if os.path.exists(self._target) else 0o666 & ~_UMASK
            os.chmod(self._tmp_path, mode)  # mkstemp makes 0600; keep what a plain open would give
            os.replace(self._tmp_path, self._target)
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._tmp_path = None

    def commit(self) -> None:
        self.finish()
        self.publish()

    def abort(self) -> None:
        """Drop everything written so far (a device or pipe keeps what it was sent)."""
        if self._special is not None:
            special, self._special = self._special, None
            try:
                special.close()
            except OSError:
                pass  # the write already failed; its error is the one to report
        if self._tmp_path is None:
            return
        for closing in (self._stream, self._raw):
            try:
                if closing is not None:
                    closing.close()
            except (OSError, ValueError):
                pass
        try:
            os.unlink(self._tmp_path)
        except FileNotFoundError:
            pass
        self._tmp_path = None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()

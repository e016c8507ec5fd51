"""Output that is all or nothing: a temporary file renamed into place only on success.

stdout ('-') cannot be made atomic; it is flushed per record when it is a terminal and
buffered otherwise. Character devices, FIFOs and sockets (by `stat`: /dev/null, a named
pipe) are written directly, and so are the names of open descriptors (/dev/stdout,
/dev/stderr, /dev/fd/N, /proc/self/fd/N), through the descriptor, whatever it is open on;
any other path is a file, written atomically. A symbolic link is written through, to the
file it points to. `.gz`, `.bz2`, `.xz` and `.zst` names are compressed; a `.parquet` file
of records is written as Parquet (parquet.ParquetSink), through the same temporary file.
"""

from __future__ import annotations

import errno
import gzip
import os
import re
import stat
import sys
import tempfile
from collections.abc import Sequence
from types import TracebackType
from typing import IO, Any

from .errors import OutputExistsError, ZipfitError
from .reading import STDIN, compression_of


class OutputError(ZipfitError):
    """The output could not be written (permissions, full disk)."""


def is_parquet_output(path: str) -> bool:
    """Records written to this path are Parquet: a file named '.parquet' (stdout stays JSONL)."""
    return path != STDIN and path.lower().endswith(".parquet")


def _read_umask() -> int:
    # The only way to read it is to set it; done once at import, before any thread starts.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


_DESCRIPTOR_NAME = re.compile(r"/dev/fd/(\d+)|/proc/self/fd/(\d+)|/proc/(\d+)/fd/(\d+)")


def descriptor_of(path: str) -> int | None:
    """The descriptor a path names (/dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N), if any.

    Such a name is written through the descriptor itself: `-o /dev/stdout` then goes wherever
    stdout goes, a pipe, a terminal or a file the shell opened with `>` or `>>`.
    """
    name = os.path.normpath(os.path.abspath(path))
    if name in ("/dev/stdout", "/dev/stderr"):
        return 1 if name == "/dev/stdout" else 2
    match = _DESCRIPTOR_NAME.fullmatch(name)
    if match is None:
        return None
    if match.group(3) is not None:  # /proc/PID/fd/N: a descriptor only when PID is this process
        return int(match.group(4)) if int(match.group(3)) == os.getpid() else None
    return int(match.group(1) or match.group(2))


def is_special(path: str) -> bool:
    """Written in place, not atomically: an open descriptor's name, a character device, a FIFO
    or a socket. Decided by `stat`, not by where the path is: /dev/shm holds ordinary files.
    """
    if descriptor_of(path) is not None:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of what an output path would write to, when it exists."""
    try:
        if path == STDIN:
            info = os.fstat(1)
        else:
            fd = descriptor_of(path)
            info = os.fstat(fd) if fd is not None else os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


class Output:
    """Context manager: `write(bytes)`; on a clean exit the file appears whole, else never."""

    def __init__(self, path: str, replace: bool = True, records: bool = True, schema: Any = None) -> None:
        self.path = path
        # replace=False: publishing fails if the name exists by then (another run wrote it).
        self.replace = replace
        # records: JSON lines, which a '.parquet' file gets as Parquet rows, with `schema` if given.
        self.records = records
        self.schema = schema
        self._tmp_path: str | None = None
        self._published = False  # linked or renamed into place by this run
        self._backup: str | None = None  # the file it replaced, kept until every output is in place
        self._lost_old = False  # it replaced a file and could not keep a copy
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
            fd = descriptor_of(self.path)
            try:
                if fd is not None:  # the descriptor itself, at its offset, as the shell opened it
                    self._stream = self._special = os.fdopen(os.dup(fd), "wb")
                else:
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
        elif self.records and is_parquet_output(self.path):
            from .parquet import ParquetSink

            self._stream = self._raw  # what abort() closes if the sink cannot be made
            try:
                self._stream = ParquetSink(self._raw, self.path, self.schema)  # type: ignore[assignment]
            except ZipfitError:
                self.abort()
                raise
        else:
            self._stream = self._raw
        return self

    @property
    def to_stdout(self) -> bool:
        """Writing to this process's stdout: `-`, or a name of descriptor 1 (/dev/stdout)."""
        return self.path == STDIN or descriptor_of(self.path) == 1

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
        """Put the finished temporary file in place (atomic on one file system).

        Without `replace` it is hard-linked, which fails if the name exists: a run that
        started at the same time and finished first keeps its file, and this one fails.
        """
        if self._tmp_path is None:
            return
        try:
            exists = os.path.exists(self._target)
            mode = os.stat(self._target).st_mode & 0o7777 if exists else 0o666 & ~_UMASK
            os.chmod(self._tmp_path, mode)  # mkstemp makes 0600; keep what a plain open would give
            if self.replace:
                if exists:
                    self._backup = self._keep_old()
                    self._lost_old = self._backup is None
                os.replace(self._tmp_path, self._target)
            elif self._link():
                os.unlink(self._tmp_path)
            else:  # no hard links here (some FUSE or FAT mounts): check, then rename
                if os.path.lexists(self._target):
                    raise FileExistsError(errno.EEXIST, "exists")
                os.replace(self._tmp_path, self._target)
        except FileExistsError:
            self.abort()
            raise OutputExistsError(
                f"output {self.path} appeared while zipfit ran (another run?); "
                "nothing of this run was written; use --force to replace it"
            ) from None
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._tmp_path = None
        self._published = True

    def _link(self) -> bool:
        """Hard-link the temporary file to the output name; False where links are unsupported."""
        assert self._tmp_path is not None
        try:
            os.link(self._tmp_path, self._target)
        except OSError as exc:
            if exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK):
                return False
            raise
        return True

    def _keep_old(self) -> str | None:
        """A second name for the file about to be replaced, so a failed publish can restore it."""
        directory, name = os.path.split(self._target)
        backup = os.path.join(directory, f".{name}.{os.getpid()}.zipfit-old")
        try:
            os.link(self._target, backup)
        except OSError:
            return None
        return backup

    def rollback(self) -> str | None:
        """Undo publish(): remove the new file, or put back the one it replaced.

        Returns what could not be undone, for the error message, or None.
        """
        if not self._published:
            return None
        self._published = False
        try:
            if self._backup is not None:
                os.replace(self._backup, self._target)
                self._backup = None
                return None
            os.unlink(self._target)
        except OSError as exc:
            return f"{self.path} is this run's output and could not be removed ({exc.strerror or exc})"
        if self._lost_old:  # --force on a file system without hard links: no copy was kept
            return f"{self.path} was removed (the file it had replaced could not be kept)"
        return None

    def settle(self) -> None:
        """Every output is in place: the old file kept for a rollback is no longer needed."""
        if self._backup is not None:
            try:
                os.unlink(self._backup)
            except OSError:
                pass
            self._backup = None

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
        discard = getattr(self._stream, "discard", None)
        if discard is not None:  # a Parquet sink: no footer for a file about to be removed
            discard()
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


def publish_all(outputs: Sequence[Output]) -> None:
    """Publish finished outputs all or nothing: if one fails, those already in place are
    removed again (or the files they replaced put back), and the error says what remains.
    """
    done: list[Output] = []
    try:
        for sink in outputs:
            sink.publish()
            done.append(sink)
    except BaseException as exc:
        left = [note for sink in reversed(done) if (note := sink.rollback()) is not None]
        if isinstance(exc, ZipfitError) and done:
            undone = ", ".join(sink.path for sink in done)
            what = "; ".join(left) if left else f"{undone} rolled back, no output was published"
            raise type(exc)(f"{exc}; {what}") from None
        raise
    for sink in outputs:
        sink.settle()

"""Output that is all or nothing: a temporary file put in place only on success.

The temporary file has no name where the file system allows it (Linux's O_TMPFILE, linked
into place through /proc/self/fd), so even SIGKILL leaves nothing behind; elsewhere it is
a named `.NAME.XXXXXXXX.zipfit-tmp` next to the output, which SIGKILL leaves.

stdout ('-') cannot be made atomic; it is flushed per record when it is a terminal and
buffered otherwise. Character devices, FIFOs and sockets (by `stat`: /dev/null, a named
pipe) are written directly, and so are the names of open descriptors (/dev/stdout,
/dev/stderr, /dev/fd/N, /proc/self/fd/N), through the descriptor, whatever it is open on;
any other path is a file, written atomically. A symbolic link is written through, to the
file it points to. A name with a compression ending (compression.ENDINGS) is compressed;
records go through the writer its name ending picks from writers.WRITERS (a `.parquet` file
is Parquet, a `.csv` or `.tsv.gz` one CSV or TSV), JSONL when none does, through the same
temporary file.
"""

from __future__ import annotations

import errno
import os
import secrets
import sys
import tempfile
from collections.abc import Sequence
from types import TracebackType
from typing import IO, Any, Protocol

from ..base.errors import OutputError, OutputExistsError, ZipfitError, shown
from .compression import compression_of
from .destinations import descriptor_of, is_special
from .locations import STDIN
from .writers import RecordWriter, compressing, writer_for

__all__ = ["Output", "OutputError", "publish_all"]  # OutputError: its home is base.errors


class _Sink(Protocol):
    """What `write` writes to: a file, a compressor or a record writer."""

    def write(self, data: bytes, /) -> object: ...

    def flush(self) -> object: ...

    def close(self) -> object: ...


def _read_umask() -> int:
    # The only way to read it is to set it; done once at import, before any thread starts.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
_TMP_SUFFIX = ".zipfit-tmp"
_PROC_FD = "/proc/self/fd"
# O_TMPFILE refused: the file system does not support it, or the kernel predates it.
_NO_TMPFILE = {errno.EOPNOTSUPP, errno.ENOTSUP, errno.EISDIR, errno.EINVAL}


class Output:
    """Context manager: `write(bytes)`; on a clean exit the file appears whole, else never."""

    def __init__(self, path: str, replace: bool = True, records: bool = True, schema: Any = None) -> None:
        self.path = path
        # replace=False: publishing fails if the name exists by then (another run wrote it).
        self.replace = replace
        # records: JSON lines, written by the writer for the name's format (writers.WRITERS),
        # which gets `schema` (Parquet: the columns); else (a report) the bytes as given.
        self.records = records
        self.schema = schema
        self._tmp_path: str | None = None  # a named temporary file
        self._unnamed = False  # the temporary file has no name (O_TMPFILE): it lives while _raw is open
        self._published = False  # linked or renamed into place by this run
        self._backup: str | None = None  # the file it replaced, kept until every output is in place
        self._lost_old = False  # it replaced a file and could not keep a copy
        self._raw: IO[bytes] | None = None  # the temporary file
        self._packed: IO[bytes] | None = None  # the compressor writing to it, or _raw itself
        self._writer: RecordWriter | None = None  # the format's writer, in front of _packed
        self._special: IO[bytes] | None = None
        self._target = path
        self._stream: _Sink  # what write() writes to: the writer, else the compressor, else the file
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
                raise OutputError(f"cannot write {shown(self.path)}: {exc.strerror}") from None
            return self
        target = os.path.realpath(self.path)  # through a symbolic link, not over it
        directory = os.path.dirname(target)
        name = os.path.basename(target)
        self._target = target
        try:
            fd = self._temporary(directory, name)
        except OSError as exc:
            raise OutputError(f"cannot write {shown(self.path)}: {exc.strerror}") from None
        self._stream = self._raw = os.fdopen(fd, "wb", buffering=1 << 20)
        try:
            self._stream = self._packed = compressing(self._raw, compression_of(self.path))
            writer = writer_for(self.path) if self.records else None
            if writer is not None:
                self._stream = self._writer = writer(self._packed, self.path, self.schema)
        except BaseException:
            self.abort()
            raise
        return self

    def _temporary(self, directory: str, name: str) -> int:
        """A descriptor open on a new temporary file in `directory`: unnamed where the file
        system supports O_TMPFILE (and /proc can link it), else named like the output."""
        unnamed = getattr(os, "O_TMPFILE", None)
        if unnamed is not None and os.path.isdir(_PROC_FD):
            try:
                fd = os.open(directory, unnamed | os.O_WRONLY, 0o600)
            except OSError as exc:
                if exc.errno not in _NO_TMPFILE:
                    raise
            else:
                self._unnamed = True
                return fd
        fd, self._tmp_path = tempfile.mkstemp(prefix=f".{name}.", suffix=_TMP_SUFFIX, dir=directory)
        return fd

    def _layers(self) -> list[_Sink]:
        """What writes to the temporary file, outermost first: the writer, the compressor."""
        layers: list[_Sink] = [self._writer] if self._writer is not None else []
        return [*layers, self._packed] if self._packed not in (None, self._raw) else layers

    @property
    def _pending(self) -> bool:
        """A temporary file is open or on disk: written, not yet put in place or removed."""
        return self._tmp_path is not None or self._unnamed

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
            raise OutputError(f"cannot write {shown(self.path)}: {exc.strerror or exc}") from None
        if self.line_buffered:
            self._stream.flush()

    def flush(self) -> None:
        """Send what was written on, to stdout, a pipe or a device (a run's input went quiet);
        a temporary file is left alone: no one sees it before it is complete, and a
        compressor flushed mid-stream would write other bytes."""
        if self._pending:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(f"cannot write {shown(self.path)}: {exc.strerror or exc}") from None

    def finish(self) -> None:
        """Everything written reaches the disk (the temporary file); nothing is renamed yet."""
        try:
            if not self._pending:
                self._stream.flush()
                if self._special is not None:
                    self._special.close()
                return
            assert self._raw is not None
            for layer in self._layers():
                layer.close()  # the writer's footer, then the compressor's end
            self._raw.flush()
            os.fsync(self._raw.fileno())
            if not self._unnamed:  # an unnamed file lives only while it is open
                self._raw.close()
        except BrokenPipeError:
            raise
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write {shown(self.path)}: {exc.strerror or exc}") from None

    def publish(self) -> None:
        """Put the finished temporary file in place (atomic on one file system).

        Without `replace` it is hard-linked, which fails if the name exists: a run that
        started at the same time and finished first keeps its file, and this one fails.
        """
        if not self._pending:
            return
        try:
            exists = os.path.exists(self._target)
            mode = os.stat(self._target).st_mode & 0o7777 if exists else 0o666 & ~_UMASK
            # Made 0600: give it what a plain open would, or the mode of the file it replaces.
            if self._unnamed:
                assert self._raw is not None
                os.fchmod(self._raw.fileno(), mode)
                self._publish_unnamed(exists)
            else:
                assert self._tmp_path is not None
                os.chmod(self._tmp_path, mode)
                self._publish_named(self._tmp_path, exists)
        except FileExistsError:
            self.abort()
            raise OutputExistsError(
                f"output {shown(self.path)} appeared while zipfit ran (another run?); "
                "nothing of this run was written; use --force to replace it"
            ) from None
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write {shown(self.path)}: {exc.strerror or exc}") from None
        self._tmp_path = None
        self._close_unnamed()
        self._published = True

    def _publish_named(self, tmp_path: str, exists: bool) -> None:
        if self.replace:
            if exists:
                self._backup = self._keep_old()
                self._lost_old = self._backup is None
            os.replace(tmp_path, self._target)
        elif self._link():
            os.unlink(tmp_path)
        else:  # no hard links here (some FUSE or FAT mounts): check, then rename
            if os.path.lexists(self._target):
                raise FileExistsError(errno.EEXIST, "exists")
            os.replace(tmp_path, self._target)

    def _publish_unnamed(self, exists: bool) -> None:
        """Link the unnamed file into place. Without `replace` linking fails if the name
        exists; with it, the file gets a temporary name that is renamed over the output at
        once, the only moment a kill could leave a temporary file."""
        directory, name = os.path.split(self._target)
        if not self.replace:
            self._link_unnamed(directory, name)
            return
        if exists:
            self._backup = self._keep_old()
            self._lost_old = self._backup is None
        for _ in range(100):
            named = f".{name}.{secrets.token_hex(4)}{_TMP_SUFFIX}"
            try:
                self._link_unnamed(directory, named)
            except FileExistsError:
                continue
            break
        else:
            raise OSError(errno.EEXIST, "no free temporary name")
        try:
            os.replace(os.path.join(directory, named), self._target)
        except OSError:
            os.unlink(os.path.join(directory, named))
            raise

    def _link_unnamed(self, directory: str, name: str) -> None:
        """Give the unnamed file `name` in `directory` (linkat through /proc, following the
        descriptor's link: os.link does that only when given a directory descriptor)."""
        assert self._raw is not None
        folder = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.link(f"{_PROC_FD}/{self._raw.fileno()}", name, dst_dir_fd=folder, follow_symlinks=True)
        finally:
            os.close(folder)

    def _close_unnamed(self) -> None:
        """Close the unnamed file's descriptor: published, it stays; else it is gone."""
        if not self._unnamed:
            return
        self._unnamed = False
        try:
            if self._raw is not None:
                self._raw.close()
        except (OSError, ValueError):
            pass

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
            return f"{shown(self.path)} is this run's output and could not be removed ({exc.strerror or exc})"
        if self._lost_old:  # --force on a file system without hard links: no copy was kept
            return f"{shown(self.path)} was removed (the file it had replaced could not be kept)"
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
        """Finish and publish one output on its own: nothing else to roll it back with."""
        self.finish()
        self.publish()
        self.settle()

    def abort(self) -> None:
        """Drop everything written so far (a device or pipe keeps what it was sent)."""
        if self._special is not None:
            special, self._special = self._special, None
            try:
                special.close()
            except OSError:
                pass  # the write already failed; its error is the one to report
        if not self._pending:
            return
        writer, self._writer = self._writer, None
        if writer is not None:  # no footer for a file about to be removed
            writer.discard()
        for closing in (*self._layers(), self._raw):
            try:
                if closing is not None:
                    closing.close()
            except (OSError, ValueError):
                pass
        self._unnamed = False  # closed above: an unnamed file is gone
        if self._tmp_path is not None:
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

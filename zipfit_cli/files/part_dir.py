"""Directory outputs (`score -o DIR/`): one part file a partition, each written by the worker
that scored it, and a manifest that the client writes last, so that a reader knows the set
is complete.

A part is written under a hidden temporary name in the directory (`.NAME.XXXXXXXX.zipfit-tmp`)
and renamed to its own name only once whole, its bytes on disk counted and hashed on the way;
without --force the rename refuses a name that exists (a hard link, locally). A directory is a
local path or an fsspec URL (memory://, s3://, ...). Part names come from the user's pattern
or from the sources' own relative paths: each is checked to stay inside the directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import posixpath
import secrets
import tempfile
from collections.abc import Iterable
from typing import IO, Any

import orjson

from ..base.errors import OutputError, OutputExistsError, UsageError, shown, stored
from .compression import compression_of
from .locations import STDIN, is_url, url_to_fs
from .output_checks import local_file
from .part_names import MANIFEST, NAME_MAX, safe_name
from .writers import RecordWriter, compressing, writer_for

_TMP_SUFFIX = ".zipfit-tmp"
_TMP_RANDOM = 8  # characters: mkstemp's, or 4 random bytes in hex


def _read_umask() -> int:
    # The only way to read it is to set it; done once at import, before any thread starts.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def is_directory_output(path: str) -> bool:
    """`-o` names a directory: it ends with '/' (local or a URL)."""
    return path != STDIN and path.endswith("/")


def refuse_directory_output(path: str, why: str) -> None:
    """A command that writes one file, given `-o DIR/`: a usage error saying `why`."""
    if is_directory_output(path):
        raise UsageError(f"{why}: give -o a file name (directory outputs are for `zipfit score`)")


class _Hashing(io.BufferedIOBase):
    """Writes to `raw`, counting and hashing the bytes: what the file on disk holds."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self.raw, self.size, self.digest = raw, 0, hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.raw.write(view)
        self.digest.update(view)
        self.size += len(view)
        return len(view)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.raw.flush()


class PartDir:
    """The output directory: where parts go, its checks, its manifest."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.local = not is_url(directory) or directory.startswith(("file://", "local://"))
        root = directory.split("://", 1)[1] if is_url(directory) and self.local else directory
        self.fs: Any = None
        self._before: dict[str, Any] = {}  # what --force found under planned names: not ours
        self._made: list[str] = []  # local folders this run created for the directory, deepest first
        if self.local:
            self.root = os.path.abspath(root)
        else:
            self.fs, inner = url_to_fs(directory)
            self.root = inner.rstrip("/") or "/"

    def path(self, name: str) -> str:
        """Where part `name` (checked by safe_name) is, in the directory's filesystem; refused
        when a symbolic link in the directory (a subdirectory of its name) leads out of it."""
        joined: str = (os.path if self.local else posixpath).join(self.root, safe_name(name))
        if self.local and "/" in name:
            root = os.path.realpath(self.root)
            if os.path.commonpath([root, os.path.realpath(os.path.dirname(joined))]) != root:
                raise UsageError(
                    f"part {self.shown(name)} would be written outside the output directory "
                    "(a symbolic link there leads out of it): remove the link or choose another directory"
                )
        return joined

    def shown(self, name: str) -> str:
        return shown(self.directory + name)

    def refuse_side_outputs(self, names: list[str], sides: list[str]) -> None:
        """A single file the run writes besides (--report, --contaminated-output) is never one
        of the parts or the manifest: it would replace the part the manifest describes."""
        if not self.local:
            return
        ours = {os.path.realpath(self.path(name)) for name in names}
        ours |= {os.path.realpath(_join(self, MANIFEST)), os.path.realpath(self.root)}
        for side in sides:
            path = local_file(side)
            if path is not None and os.path.realpath(path) in ours:
                raise UsageError(
                    f"{shown(side)} is the output directory {shown(self.directory)}, a part or its "
                    "manifest: write it under another name"
                )

    def exists(self, name: str) -> bool:
        where = _join(self, name)
        return os.path.lexists(where) if self.local else bool(self.fs.exists(where))

    def refuse_inputs(self, names: list[str], inputs: list[str]) -> None:
        """No part may be an input file (a source in the output directory, say)."""
        if not self.local:
            return
        read = {os.path.realpath(path) for name in inputs if (path := local_file(name)) is not None}
        for name in names:
            if os.path.realpath(self.path(name)) in read:
                raise UsageError(
                    f"output {self.shown(name)} is also an input; inputs are only ever read: "
                    "choose another output directory"
                )

    def prepare(self, force: bool, names: Iterable[str] = ()) -> None:
        """Create the directory; refuse one that holds files unless --force, which removes its
        manifest first (the set it described is no longer complete). Files found under the
        planned `names` are noted: a failed run removes only what it put in place."""
        seen: set[str] = set()
        for name in names:  # `{n:.0e}` names 10 and 11 alike: one part would replace the other
            if name in seen:
                raise UsageError(f"the parts' names repeat ({self.shown(name)}): name each part apart")
            seen.add(name)
        try:
            if self.local:
                folder = self.root
                while not os.path.isdir(folder) and folder != os.path.dirname(folder):
                    self._made.append(folder)
                    folder = os.path.dirname(folder)
                os.makedirs(self.root, exist_ok=True)
                held = os.listdir(self.root)
            else:
                self.fs.makedirs(self.root, exist_ok=True)
                listed = self.fs.ls(self.root, detail=False)
                held = [entry for entry in listed if entry.rstrip("/") != self.root]
        except OSError as exc:
            raise OutputError(f"cannot write {shown(self.directory)}: {exc.strerror or exc}") from None
        if held and not force:
            raise OutputExistsError(
                f"output directory {shown(self.directory)} holds files; use --force to write into it "
                "(parts of the same names and the manifest are replaced, other files left alone)"
            )
        if force and held:
            self._before = {name: found for name in names if (found := self._identity(name)) is not None}
        if force and self.exists(MANIFEST):
            self.remove([MANIFEST])

    def _identity(self, name: str) -> Any:
        """What tells the file under `name` from one put in its place (None: no file)."""
        where = _join(self, name)
        try:
            if self.local:
                st = os.lstat(where)
                return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
            self.fs.invalidate_cache(posixpath.dirname(where))  # listed before the workers wrote
            return self.fs.info(where) if self.fs.exists(where) else None
        except OSError:
            return None

    def remove(self, names: list[str], temporaries: bool = True) -> None:
        """Remove these files where they exist (a failed run's parts), except those that were
        there before the run and were not replaced, and (`temporaries`) the temporary files of
        these names that stopped workers left; errors are ignored."""
        for name in names:
            if name in self._before and self._identity(name) == self._before[name]:
                continue
            self._unlink(_join(self, name))
        if temporaries:
            self._remove_temporaries(names)
        self._remove_made()

    def _remove_made(self) -> None:
        """The folders this run made for the directory, where it left them empty: everything
        below a folder it made is its own (a failed run's attribute subfolders too)."""
        if not self._made:
            return
        for folder, _, _ in os.walk(self.root, topdown=False):
            with contextlib.suppress(OSError):  # not empty: a file that is not the run's, or kept
                os.rmdir(folder)
        for folder in self._made[1:]:
            with contextlib.suppress(OSError):
                os.rmdir(folder)

    def _unlink(self, where: str) -> None:
        with contextlib.suppress(OSError, FileNotFoundError):
            if self.local:
                os.unlink(where)
            elif self.fs.exists(where):
                self.fs.rm(where)

    def _remove_temporaries(self, names: list[str]) -> None:
        """The hidden files of these names' parts (`_temporary_prefix`), a folder listed once."""
        split = (os.path if self.local else posixpath).split
        prefixes: dict[str, set[str]] = {}
        for name in names:
            folder, base = split(_join(self, name))
            prefixes.setdefault(folder, set()).add(_temporary_prefix(base))
        cut = _TMP_RANDOM + len(_TMP_SUFFIX)
        for folder, wanted in prefixes.items():
            try:
                if not self.local:  # a listing cached before the workers wrote would miss theirs
                    self.fs.invalidate_cache(folder)
                listed = os.listdir(folder) if self.local else self.fs.ls(folder, detail=False)
            except OSError:
                continue
            for entry in listed:
                base = split(entry.rstrip("/"))[1]
                if base.endswith(_TMP_SUFFIX) and base[:-cut] in wanted:
                    self._unlink((os.path if self.local else posixpath).join(folder, base))

    def write_manifest(
        self, output_format: str, entries: list[dict[str, Any]], summary: dict[str, Any], **extra: Any
    ) -> None:
        """The manifest of these parts, written last: the set it lists is complete. The hidden
        files of those parts go first: a worker killed while writing one leaves it (Dask runs
        the task again elsewhere), as does an earlier run killed before a --force rerun."""
        manifest = {
            "zipfit_manifest": 1,
            "complete": True,
            "output_format": output_format,
            **extra,
            "parts": entries,
            "records": sum(entry["records"] for entry in entries),
            "bytes": sum(entry["bytes"] for entry in entries),
            "settings": stored(summary),
        }
        self._remove_temporaries([entry["name"] for entry in entries])
        part = PartFile(self, MANIFEST, replace=True, records=False)
        # Names (a part's source, an attribute file's own) may hold bytes that are not UTF-8.
        part.write(orjson.dumps(stored(manifest), option=orjson.OPT_INDENT_2) + b"\n")
        part.commit()


class PartFile:
    """One part: a temporary file in the directory, renamed to its name by `commit()`."""

    def __init__(
        self, where: PartDir, name: str, replace: bool, records: bool = True, schema: Any = None
    ) -> None:
        self.where, self.name, self.replace = where, name, replace
        final = where.path(name) if name != MANIFEST else _join(where, name)
        self.final = final
        folder, base = (os.path if where.local else posixpath).split(final)
        prefix = _temporary_prefix(base)
        try:
            if where.local:
                os.makedirs(folder, exist_ok=True)
                fd, self.tmp = tempfile.mkstemp(prefix=prefix, suffix=_TMP_SUFFIX, dir=folder)
                raw: IO[bytes] = os.fdopen(fd, "wb", buffering=1 << 20)
            else:
                hidden = f"{prefix}{secrets.token_hex(_TMP_RANDOM // 2)}{_TMP_SUFFIX}"
                self.tmp = posixpath.join(folder, hidden)
                raw = where.fs.open(self.tmp, "wb")
        except OSError as exc:
            raise OutputError(f"cannot write {where.shown(name)}: {exc.strerror or exc}") from None
        self.raw = raw
        self.hashing = _Hashing(raw)
        self.packed: IO[bytes] = compressing(self.hashing, compression_of(name))  # type: ignore[arg-type]
        self.compressed = self.packed is not self.hashing  # type: ignore[comparison-overlap]
        found = writer_for(name) if records else None
        # A writer that spools (Parquet) does so next to the path it is given: the part's own,
        # locally; a remote directory's parts spool where the worker runs.
        path = final if where.local else name
        self.writer: RecordWriter | None = found(self.packed, path, schema) if found is not None else None

    def write(self, data: bytes) -> None:
        try:
            (self.writer or self.packed).write(data)
        except OSError as exc:
            raise OutputError(f"cannot write {self.where.shown(self.name)}: {exc.strerror or exc}") from None

    def commit(self) -> tuple[int, str]:
        """Finish the file and rename it into place; (bytes on disk, their SHA-256)."""
        try:
            if self.writer is not None:
                self.writer.close()
            if self.compressed:
                self.packed.close()
            self.raw.flush()
            if self.where.local:
                os.fsync(self.raw.fileno())
            self.raw.close()
            self._publish()
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write {self.where.shown(self.name)}: {exc.strerror or exc}") from None
        except BaseException:
            self.abort()
            raise
        return self.hashing.size, self.hashing.digest.hexdigest()

    def _publish(self) -> None:
        if self.where.local:
            os.chmod(self.tmp, 0o666 & ~_UMASK)  # made 0600: give it what a plain open would
            if self.replace:
                os.replace(self.tmp, self.final)
                return
            try:
                os.link(self.tmp, self.final)  # fails if the name exists: no clobbering
            except FileExistsError:
                raise OutputExistsError(
                    f"output {self.where.shown(self.name)} exists; use --force to replace it"
                ) from None
            os.unlink(self.tmp)
            return
        fs = self.where.fs
        if not self.replace and fs.exists(self.final):
            raise OutputExistsError(f"output {self.where.shown(self.name)} exists; use --force to replace it")
        fs.mv(self.tmp, self.final)

    def abort(self) -> None:
        """Drop the temporary file; nothing appears under the part's name."""
        if self.writer is not None:
            writer, self.writer = self.writer, None
            writer.discard()
        for layer in (self.packed, self.raw):
            with contextlib.suppress(OSError, ValueError):
                layer.close()
        with contextlib.suppress(OSError, FileNotFoundError):
            if self.where.local:
                os.unlink(self.tmp)
            elif self.where.fs.exists(self.tmp):
                self.where.fs.rm(self.tmp)


def _temporary_prefix(base: str) -> str:
    """`.NAME.`, NAME cut short where the whole temporary name would pass NAME_MAX bytes."""
    room = NAME_MAX - 2 - _TMP_RANDOM - len(_TMP_SUFFIX)
    while len(os.fsencode(base)) > room:
        base = base[: -max(1, len(os.fsencode(base)) - room)]
    return f".{base}."


def _join(where: PartDir, name: str) -> str:
    joined: str = (os.path if where.local else posixpath).join(where.root, name)
    return joined

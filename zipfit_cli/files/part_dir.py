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
import glob
import hashlib
import io
import os
import posixpath
import secrets
import tempfile
from typing import IO, Any

import orjson

from ..base.errors import OutputError, OutputExistsError, UsageError, shown
from .compression import compression_of
from .locations import STDIN, is_url, url_to_fs
from .output_checks import local_file
from .writers import RecordWriter, check_output_name, compressing, writer_for

MANIFEST = "_zipfit_manifest.json"
DEFAULT_PART_NAME = "part-{n:05d}.jsonl"
_TMP_SUFFIX = ".zipfit-tmp"


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


def check_pattern(pattern: str, output_format: str) -> None:
    """An --output-name pattern gives a distinct, safe file name for each part number."""
    try:
        first, second = pattern.format(n=0), pattern.format(n=1)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        raise UsageError(
            f"--output-name {shown(pattern)} is not a pattern like 'part-{{n:05d}}.jsonl' ({shown(exc)})",
            setting="output_name",
        ) from None
    if first == second:
        raise UsageError(
            f"--output-name {shown(pattern)} gives every part the same name: put {{n}} in it",
            setting="output_name",
        )
    if "/" in pattern or "\\" in pattern:
        raise UsageError(f"--output-name {shown(pattern)} is a file name, without '/'", setting="output_name")
    safe_name(first)
    check_output_name(first, output_format)


def safe_name(name: str) -> str:
    """`name` as a relative path that stays inside the directory: no absolute path, no '..'
    or '.' component, no hidden (temporary) name, not the manifest's."""
    parts = name.split("/")
    hostile = not name or "\0" in name or "\\" in name or name.startswith("/")
    if hostile or any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        raise UsageError(f"part name {shown(name)} would not stay inside the output directory")
    if name == MANIFEST:
        raise UsageError(f"part name {shown(name)} is the manifest's")
    return name


def relative_names(locations: list[str]) -> list[str]:
    """Each location's path relative to their common parent directory: the name of the
    attribute file that mirrors it. Locations are absolute local paths or URLs, on one
    filesystem. The names are not checked here: each user of one calls safe_name."""
    if len({loc.partition("://")[0] if is_url(loc) else "" for loc in locations}) > 1:
        raise UsageError("attribute files mirror the sources' paths: give sources on one filesystem")
    bare = [posixpath.normpath(loc.partition("://")[2] if is_url(loc) else loc) for loc in locations]
    parent = posixpath.commonpath([posixpath.dirname(path) for path in bare]) if bare else ""
    return [posixpath.relpath(path, parent or "/") for path in bare]


def _located(path: str) -> str:
    """A source as relative_names takes it: a local path made absolute, a URL as it is."""
    local = path.startswith("file://") or not is_url(path)
    return os.path.abspath(path.removeprefix("file://")) if local else path


def source_names(sources: list[str]) -> list[str] | None:
    """The names attribute files mirroring `sources` get (relative_names), as a shard part
    records them for `zipfit merge -o DIR/`; None when they cannot be mirrored (stdin,
    sources on more than one filesystem)."""
    if STDIN in sources:
        return None
    located = [_located(path) for path in sources]
    try:
        return relative_names(located)
    except UsageError:
        return None


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
        if self.local:
            self.root = os.path.abspath(root)
        else:
            self.fs, inner = url_to_fs(directory)
            self.root = inner.rstrip("/") or "/"

    def path(self, name: str) -> str:
        """Where part `name` (checked by safe_name) is, in the directory's filesystem."""
        joined: str = (os.path if self.local else posixpath).join(self.root, safe_name(name))
        return joined

    def shown(self, name: str) -> str:
        return shown(self.directory + name)

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

    def prepare(self, force: bool) -> None:
        """Create the directory; refuse one that holds files unless --force, which removes its
        manifest first (the set it described is no longer complete)."""
        try:
            if self.local:
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
        if force and self.exists(MANIFEST):
            self.remove([MANIFEST])

    def remove(self, names: list[str], temporaries: bool = False) -> None:
        """Remove these files where they exist (a failed run's parts); errors are ignored.
        temporaries: in a local directory, their hidden temporary files too, which a worker
        process stopped while writing leaves behind (only for names no other run writes)."""
        for name in names:
            with contextlib.suppress(OSError, FileNotFoundError):
                if self.local:
                    os.unlink(_join(self, name))
                elif self.fs.exists(_join(self, name)):
                    self.fs.rm(_join(self, name))
            if temporaries and self.local:  # remotely, a listing a name would cost too much
                folder, base = os.path.split(_join(self, name))
                pattern = os.path.join(glob.escape(folder), glob.escape(f".{base}.")) + "*" + _TMP_SUFFIX
                for path in glob.glob(pattern):
                    with contextlib.suppress(OSError):
                        os.unlink(path)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """The manifest, written last: the set of parts it lists is complete."""
        part = PartFile(self, MANIFEST, replace=True, records=False)
        part.write(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
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
        try:
            if where.local:
                os.makedirs(folder, exist_ok=True)
                fd, self.tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=_TMP_SUFFIX, dir=folder)
                raw: IO[bytes] = os.fdopen(fd, "wb", buffering=1 << 20)
            else:
                self.tmp = posixpath.join(folder, f".{base}.{secrets.token_hex(4)}{_TMP_SUFFIX}")
                raw = where.fs.open(self.tmp, "wb")
        except OSError as exc:
            raise OutputError(f"cannot write {where.shown(name)}: {exc.strerror or exc}") from None
        self.raw = raw
        self.hashing = _Hashing(raw)
        self.packed: IO[bytes] = compressing(self.hashing, compression_of(name))  # type: ignore[arg-type]
        self.compressed = self.packed is not self.hashing  # type: ignore[comparison-overlap]
        found = writer_for(name) if records else None
        self.writer: RecordWriter | None = found(self.packed, name, schema) if found is not None else None

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


def _join(where: PartDir, name: str) -> str:
    joined: str = (os.path if where.local else posixpath).join(where.root, name)
    return joined

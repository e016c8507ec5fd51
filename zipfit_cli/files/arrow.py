"""Arrow IPC in: `.arrow` files (file or stream format) and `datasets.save_to_disk` directories.

A directory is a dataset when it holds `state.json` (what `save_to_disk` writes beside
`dataset_info.json`); its `_data_files` name the Arrow files, read in that order as one
source whose rows are numbered from 1 across them. A name there must be a plain file name
inside the directory: a path (`../x.arrow`, `/etc/x`), a URL or a symbolic link leading out
is refused before anything is opened. A `DatasetDict` (`dataset_dict.json` and one
directory per split) is refused naming its splits: the user picks one (`dir/train`).

Rows become JSON objects by the Parquet reader's rules (parquet_values.JsonRows). For Dask a
source is cut into pieces: a dataset's data files, or the record batches of a `.arrow` file in
the file format (a stream has to be read from its start: one piece).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import IO, Any

import orjson

from ..base.errors import InputError, shown
from .parquet import open_file
from .parquet_values import JsonRows, pyarrow_modules
from .reading import DEFAULT_MAX_LINE_BYTES, READ_ERRORS, ReadError
from .sources import DATASET_DICT, STATE

FILE_MAGIC = b"ARROW1"  # the file format starts (and ends) with it; a stream does not
MAX_STATE_BYTES = 16 << 20  # state.json lists file names: far less than this


def _load_json(path: str) -> Any:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_STATE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{shown(path)}: cannot open: {exc.strerror}") from None
    try:
        if len(data) > MAX_STATE_BYTES:
            raise ValueError(f"over {MAX_STATE_BYTES:,} bytes")
        return orjson.loads(data)
    except ValueError as exc:
        raise InputError(f"{shown(path)}: not JSON ({shown(exc)})") from None


def _inside(directory: str, name: object, listed: str) -> str:
    """The path of data file `name` in `directory`; anything that could lead elsewhere is refused."""
    if not isinstance(name, str) or name in ("", ".", "..") or any(c in name for c in "/\\:\x00"):
        why = "is not a file name in its directory"  # a path, a URL (or a drive), or no name
        raise InputError(f"{shown(listed)}: data file {shown(repr(name))} {why}")
    path = os.path.join(directory, name)
    real_dir = os.path.realpath(directory)
    if os.path.dirname(os.path.realpath(path)) != real_dir:  # a symbolic link leading out
        raise InputError(f"{shown(listed)}: data file {shown(repr(name))} leads out of its directory")
    if not os.path.isfile(path):
        raise InputError(f"{shown(listed)}: data file {shown(repr(name))} is not in its directory")
    return path


def dataset_files(directory: str, shown_as: str | None = None) -> list[str]:
    """The Arrow files of a `save_to_disk` directory in `state.json` order (see the module)."""
    label = shown_as or directory
    if not os.path.isfile(os.path.join(directory, STATE)):
        splits = _splits(directory) if os.path.isfile(os.path.join(directory, DATASET_DICT)) else None
        if splits is not None:
            first = splits[0] if splits else "train"
            raise InputError(
                f"{shown(label)} is a DatasetDict of splits {', '.join(map(shown, splits)) or '(none)'}: "
                f"give one split's directory, like {shown(os.path.join(label, first))}"
            )
        raise InputError(f"{shown(label)}: is a directory without {STATE}, not a saved dataset")
    listed = os.path.join(label, STATE)
    state = _load_json(os.path.join(directory, STATE))
    files = state.get("_data_files") if isinstance(state, dict) else None
    if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
        raise InputError(f"{shown(listed)}: no _data_files list: not a datasets state file")
    return [_inside(directory, f.get("filename"), listed) for f in files]


def _splits(directory: str) -> list[str]:
    info = _load_json(os.path.join(directory, DATASET_DICT))
    splits = info.get("splits") if isinstance(info, dict) else None
    return [str(s) for s in splits] if isinstance(splits, list) else []


def _has_footer(handle: IO[bytes]) -> bool:
    """A file-format Arrow file ends as it starts: its footer's length, then the magic."""
    end = handle.seek(0, os.SEEK_END)
    if end < 2 * len(FILE_MAGIC) + 4:
        return False
    handle.seek(end - len(FILE_MAGIC))
    return handle.read(len(FILE_MAGIC)) == FILE_MAGIC


class _Reader:
    """The record batches of one Arrow IPC file, opened: file format by its magic, else stream."""

    def __init__(self, location: str, shown_as: str) -> None:
        pa, _ = pyarrow_modules()
        import pyarrow.ipc as ipc

        self.handle: IO[bytes]
        self.handle, self.size = open_file(location, "Arrow")
        try:
            self.is_file = self.handle.read(len(FILE_MAGIC)) == FILE_MAGIC
            if self.is_file and not _has_footer(self.handle):
                # pyarrow's file reader, failing on it, can abort the process at exit.
                raise ValueError("truncated: no footer at its end")
            self.handle.seek(0)
            self.reader: Any = ipc.open_file(self.handle) if self.is_file else ipc.open_stream(self.handle)
        except (pa.ArrowException, *READ_ERRORS) as exc:
            self.handle.close()
            problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"{shown(shown_as)}: not a readable Arrow IPC file ({shown(problem)})") from None
        self.batches = self.reader.num_record_batches if self.is_file else 1

    def read(self, start: int = 0, end: int | None = None) -> Iterator[Any]:
        if not self.is_file:
            yield from self.reader
            return
        for i in range(self.batches)[start:end]:
            yield self.reader.get_batch(i)


class ArrowSource:
    """The rows of an Arrow IPC file or a saved dataset as JSON objects; see the module docstring.

    `consumed` counts whole pieces (data files, or a file's share per record batch) and, in a
    stream, the bytes read of it; `open_range` reads pieces [start, end), numbered from 1.
    """

    def __init__(
        self,
        path: str,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        measure_long: bool = True,  # a row is read whole by pyarrow anyway
        url: str | None = None,
        pieces: tuple[int, int | None] = (0, None),
    ) -> None:
        self.path = path
        self.max_line_bytes = max_line_bytes
        self.blank_lines = 0  # a table has no blank lines
        location = url or path
        self._files = dataset_files(location, path) if os.path.isdir(location) else None
        self._first: _Reader | None = None
        if self._files is None:  # one .arrow file: opened now, so a bad one fails at once
            self._first = _Reader(location, path)
            self._sizes = _shares(self._first.size or 0, self._first.batches)
        else:
            self._sizes = [os.path.getsize(f) for f in self._files]
        self._location = location
        self._range = range(len(self._sizes))[pieces[0] : pieces[1]]
        self._done = 0  # bytes of the pieces read
        self._within = 0  # bytes read of the stream being read, as of its last batch
        self._open: _Reader | None = None  # the data file being read (a dataset)
        self._rows = 0

    @classmethod
    def open_range(
        cls,
        path: str,
        url: str,
        start: int = 0,
        end: int | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> ArrowSource:
        """Pieces [start, end) of `url` (a local path, or an fsspec URL of a `.arrow` file)."""
        return cls(path, max_line_bytes, url=url, pieces=(start, end))

    @classmethod
    def pieces(cls, path: str, url: str) -> list[int] | None:
        """Dask partitions are cut from these (by bytes); None: the source is read whole."""
        source = cls(path, url=url)
        try:
            whole = source._first is not None and not source._first.is_file
            return None if whole else source._sizes
        finally:
            source.close()

    @property
    def consumed(self) -> int:
        return self._done + self._within

    @property
    def lines(self) -> int:
        """Rows read so far: later partitions of the source number theirs after these."""
        return self._rows

    def position(self) -> int | None:
        return self.consumed

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        pa, _ = pyarrow_modules()
        try:
            if self._first is not None:  # one file: its pieces are its record batches
                for i in self._range:
                    yield from self._rows_of(self._first, (i, i + 1))
                    self._done += self._sizes[i]
                return
            assert self._files is not None
            for i in self._range:
                self._open = _Reader(self._files[i], self._files[i])
                try:
                    yield from self._rows_of(self._open, (0, None))
                finally:
                    self._open.handle.close()
                self._done += self._sizes[i]
                self._open = None
        except (pa.ArrowException, *READ_ERRORS) as exc:
            problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ReadError(self.path, self._rows + 1, problem) from None

    def _rows_of(self, reader: _Reader, batches: tuple[int, int | None]) -> Iterator[tuple[int, bytes]]:
        rows = JsonRows(reader.reader.schema, self.path, self.max_line_bytes)
        for batch in reader.read(*batches):
            if not reader.is_file:  # a stream's progress: how far into it the batch ended
                self._within = min(reader.handle.tell(), reader.size or 0)
            for line in rows.lines(batch, self._rows):
                self._rows += 1
                yield self._rows, line
        self._within = 0

    def close(self) -> None:
        for reader in (self._first, self._open):
            if reader is not None:
                reader.handle.close()


def _shares(size: int, count: int) -> list[int]:
    """`size` bytes cut into `count` shares that add up to it (one file's record batches)."""
    return [size * (i + 1) // count - size * i // count for i in range(count)] or [size]

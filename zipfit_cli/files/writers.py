"""Record writers: how an output file's records are written, one writer class per format.

An `Output` of records (not a --report) gives its writer the JSON lines it is given, one
object a line, as `write` calls bring them; the writer writes them in its format to
`stream`: the output's temporary file, or the compressor in front of it when the name
also ends in a compression ending (compression.ENDINGS). `close()` writes what is left
(a footer) and leaves `stream` open: the `Output` closes, syncs and publishes the file.
`discard()` is called instead when the file is being removed (the run failed).

Adding a format: one module with a class shaped like `RecordWriter`, taking
`(stream, path, schema)`, plus one line in WRITERS. JSONL needs no writer: every name no
writer claims gets the lines as they are. stdout and devices are always JSONL. A name
that ends in a format's ending plus a compression ending the format does not list
(`top.parquet.gz`), or in a format zipfit reads but does not write (`top.arrow`), is
refused (`check_output_name`), never written as JSONL.
"""

from __future__ import annotations

import gzip
import importlib
import json
import re
from collections.abc import Callable
from typing import IO, Any, Protocol

import orjson

from ..base.errors import UsageError, shown
from .compression import without_compression
from .locations import file_name
from .sources import READERS, TABLES


class RecordWriter(Protocol):
    def write(self, data: bytes) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def discard(self) -> None: ...


# What to do instead, for writers' messages: a name of the user's own (one derived from the
# output's could be an input: `score corpus.jsonl -o corpus.csv`).
JSONL_HINT = "write JSONL (-o NAME.jsonl, or .jsonl.gz)"
# An integer literal orjson cannot hold (past 64 bits: it would read a float), or digits in text.
_LONG_DIGITS = re.compile(rb"\d{20}")


def load_record(line: bytes) -> Any:
    """One output line as Python values, integers past 64 bits kept exact; ValueError if not JSON."""
    return json.loads(line) if _LONG_DIGITS.search(line) else orjson.loads(line)


# A writer class: (stream, the output's path for messages, the records' schema or None) -> writer.
# `schema` is what the run knows of the records' columns (Parquet inputs: theirs); a format
# with no use for it ignores it.
WriterClass = Callable[[IO[bytes], str, Any], RecordWriter]

# Name endings -> "module:class" of the writer for them; the first match wins.
WRITERS: dict[tuple[str, ...], str] = {
    (".parquet",): "zipfit_cli.files.parquet_sink:ParquetSink",
    TABLES: "zipfit_cli.files.delimited_out:CsvSink",
}


def _claimed(name: str) -> str | None:
    """The "module:class" WRITERS gives `name` (lower case), or None."""
    return next((where for endings, where in WRITERS.items() if name.endswith(endings)), None)


def check_output_name(path: str, output_format: str = "records") -> bool:
    """True when records written to `path` go through a writer (not JSONL). A name with a
    format's ending under a compression that format does not take, or a Dolma attribute
    file (which the mixer reads as JSON lines) in another format, is a UsageError."""
    name = file_name(path).lower()
    if _claimed(name) is not None:
        if output_format == "attributes":
            raise UsageError(
                f"output {shown(path)}: an attribute file is JSON lines (what a Dolma mixer reads), "
                "not this format: name it .jsonl or .jsonl.gz, or use --output-format ids",
                setting=("output_format", "output"),
            )
        return True
    bare = without_compression(name)
    if bare != name and _claimed(bare) is not None:
        raise UsageError(
            f"output {shown(path)}: zipfit does not compress this format by name "
            f"({shown(name[len(bare) :])}); name it {shown(path[: len(bare)])}",
            setting="output",
        )
    # A format zipfit reads but does not write: JSON lines under its name could not be read back.
    unwritten = next((e for endings in READERS for e in endings if name.endswith(e)), None)
    if unwritten is not None:
        raise UsageError(
            f"output {shown(path)}: zipfit reads this format ({shown(unwritten)}) but does not write "
            "it; name it .jsonl, .parquet or .csv (compressed too: .jsonl.gz)",
            setting="output",
        )
    return False


def writer_for(path: str) -> WriterClass | None:
    """The writer class for records written to `path`, by its name; None: JSONL."""
    where = _claimed(file_name(path).lower()) if check_output_name(path) else None
    if where is None:
        return None
    module, cls = where.split(":")
    found: WriterClass = getattr(importlib.import_module(module), cls)
    return found


def compressing(raw: IO[bytes], kind: str | None) -> IO[bytes]:
    """A compressor for `kind` writing to `raw` (None: `raw` itself); closing it leaves `raw` open."""
    if kind is None:
        return raw
    if kind == "gz":
        # mtime=0 and no file name in the header: the same records give the same bytes.
        return gzip.GzipFile(  # type: ignore[return-value]
            filename="", fileobj=raw, mode="wb", compresslevel=6, mtime=0
        )
    if kind == "zst":
        import zstandard

        writer: IO[bytes] = zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False)
        return writer
    if kind == "bz2":
        import bz2

        return bz2.BZ2File(raw, "wb")
    if kind == "xz":
        import lzma

        return lzma.LZMAFile(raw, "wb")
    raise ValueError(f"no compressor for {kind!r}")

"""`zipfit merge PARTS --output-format attributes -o DIR/`: one Dolma attribute file a source
file, at the source's path relative to the sources' common parent and in its compression,
line for line with its records: what `score SOURCES --output-format attributes -o DIR/`
writes in one run.

A part says where each record came from without a field of its own: its `_zipfit_index` is
the record's key, (file number << FILE_SHIFT) | its position among the file's records
(files/batches.py), whether the shards took every N-th record or every N-th file; and its
trailer's `source_names` give each file number its relative name (parts written before that
field are refused). The parts' records are merged by that key in one pass, each file written
as its records come, every position checked to follow the one before.

The names are data from whoever wrote the parts: each must stay inside the directory
(part_dir.safe_name) and is shown escaped.
"""

from __future__ import annotations

import heapq
from typing import Any, Protocol

from ..base.errors import InputError, UsageError, redacted, shown
from ..base.stats import RunStats
from ..files.batches import FILE_SHIFT
from ..files.part_dir import PartDir, PartFile
from ..files.part_names import safe_name
from ..files.records import TextSpec
from ..files.sources import JsonlSource, reader_of
from ..files.writers import check_output_name
from ..files.writing import RecordWriter, output_shape
from .merge import Part, part_records

_POSITION = (1 << FILE_SHIFT) - 1
_REWRITE = "write the parts again with this zipfit, or score the sources with -o DIR/"


class Target(Protocol):
    """What the merge needs of its directory target (merge_dir.MergeDirectory)."""

    @property
    def id_key(self) -> str: ...

    @property
    def max_line_bytes(self) -> int: ...


def attribute_names(parts: list[Part]) -> list[str]:
    """The attribute files' names, one a source file in the sources' order: the parts' own,
    which must agree, stay inside the directory and name JSONL files."""
    for part in parts:
        if "source_names" not in part.info:
            raise UsageError(
                f"{shown(part.path)} does not say which source file each record came from (written "
                f"by an older zipfit): {_REWRITE}, or merge attributes into one file (-o NAME.jsonl)"
            )
    first = parts[0]
    for part in parts[1:]:
        if part.info["source_names"] != first.info["source_names"]:
            raise UsageError(
                f"{shown(part.path)} and {shown(first.path)} list different source files: "
                "parts must come from one run over the same sources"
            )
    names: list[str] | None = first.info["source_names"]
    if names is None:
        raise UsageError(
            "the parts' sources cannot be mirrored (stdin, or sources on more than one filesystem): "
            "merge attributes into one file (-o NAME.jsonl)"
        )
    if len(names) != len(first.info.get("sources") or []):
        raise InputError(f"{shown(first.path)}: its trailer's source_names are not one a source")
    for name in names:
        if reader_of(safe_name(name)) is not JsonlSource:
            raise UsageError(
                f"attribute files mirror JSONL document files; {shown(name)} is not one "
                "(merge attributes into one file, -o NAME.jsonl)",
                setting="output_format",
            )
        check_output_name(name, "attributes")
    if len(set(names)) < len(names):
        raise UsageError(
            "the parts' source files repeat a name: merge attributes into one file (-o NAME.jsonl)"
        )
    return names


def write_attribute_files(
    parts: list[Part],
    names: list[str],
    where: PartDir,
    target: Target,
    force: bool,
    stats: RunStats,
    entries: list[dict[str, Any]],
) -> None:
    """Write each source file's attribute file from the parts' records, in file order;
    each written file's manifest entry is added to `entries` as it is in place."""
    info = parts[0].info
    score_key = info["score_key"]
    shape = output_shape("attributes", score_key, target.id_key, TextSpec.build(info["text_key"]))
    streams = [part_records(part, score_key, False, target.max_line_bytes) for part in parts]
    merged = heapq.merge(*streams, key=lambda record: record[1])
    pending = next(merged, None)
    sources = info.get("sources") or []
    for file_no, name in enumerate(names):
        out = PartFile(where, name, replace=force)
        counts = RunStats()
        writer = RecordWriter(out, score_key, counts, scored=True, shape=shape)
        try:
            while pending is not None and pending[1] >> FILE_SHIFT == file_no:
                if pending[1] & _POSITION != counts.selected:
                    raise InputError(_gap(name, counts.selected))
                writer.write(*pending)
                pending = next(merged, None)
        except BaseException:
            out.abort()
            raise
        size, digest = out.commit()
        stats.selected += counts.selected
        entry = {"name": name, "records": counts.selected, "bytes": size, "sha256": digest}
        entries.append({**entry, "source": redacted(sources[file_no])})
    if pending is not None:
        raise InputError(
            f"the parts hold a record of source file number {pending[1] >> FILE_SHIFT}, past the "
            f"{len(names)} their trailers name; the parts were modified"
        )


def _gap(name: str, expected: int) -> str:
    return (
        f"the parts do not hold record {expected + 1:,} of {shown(name)} once and in its place "
        "(a record missing or repeated); the parts were modified or come from different runs"
    )

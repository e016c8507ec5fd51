"""`zipfit merge PARTS -o DIR/`: `score` parts into a directory output, one file a part.

A part cannot simply be renamed into place: each of its records carries its global index
(`_zipfit_index`) and a trailer closes it, and neither belongs in the output. So each part is
streamed once into its own file (the index cut from each line, the trailer dropped, the
format and compression the file's name asks for), with the checks `zipfit merge` makes:
every shard once, one run's settings, trailers taken as data and validated, records counted
and in order. The manifest is written last, as `score -o DIR/` writes it (files/part_dir.py).

Part n holds shard n/N's records in input order. With --shard-by record the shards
interleave, so the parts hold every record once but their concatenation is not input order:
`zipfit merge PARTS -o FILE` gives that. `select` parts are ranked across shards, and
attribute parts cannot mirror their sources (see _refuse_selections): both are refused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from ..base.errors import OutputExistsError, Terminated, UsageError, redacted, stored
from ..base.stats import RunStats
from ..files.output import Output, publish_all
from ..files.output_checks import check_outputs
from ..files.part_dir import DEFAULT_PART_NAME, MANIFEST, PartDir, PartFile, check_pattern, safe_name
from ..files.reading import DEFAULT_MAX_LINE_BYTES
from ..files.records import TextSpec
from ..files.writing import RecordWriter, output_shape
from .dirout import _refuse_inputs
from .merge import Part, _merged_stats, _records, check_parts, read_part
from .report import report_dict


@dataclass(frozen=True)
class MergeDirectory:
    """Where and how the merged parts go."""

    directory: str  # ends with '/': a local path or an fsspec URL
    output_name: str | None = None  # the files' name pattern, {n} the shard (None: DEFAULT_PART_NAME)
    output_format: str = "records"
    id_key: str = "id"
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES


def merge_to_directory(
    paths: list[str],
    target: MergeDirectory,
    *,
    force: bool = False,
    report: str | None = None,
    settings: dict[str, Any] | None = None,
    command_line: list[str] | None = None,
) -> RunStats:
    """Write each `score` part of `paths` as one file of `target` (see the module docstring)."""
    start = time.perf_counter()
    pattern = target.output_name or DEFAULT_PART_NAME
    check_pattern(pattern, target.output_format)
    parts = [read_part(path, target.max_line_bytes) for path in paths]
    check_parts(parts)
    _refuse_selections(parts, target)
    stats = _merged_stats(parts, None)
    stats.check_any_scored()  # the shards leave this check to the merge
    where = PartDir(target.directory)
    ordered = sorted(parts, key=lambda part: int(part.info["shard_index"]))
    names = [safe_name(pattern.format(n=part.info["shard_index"])) for part in ordered]
    _refuse_inputs(where, names, paths)
    where.refuse_side_outputs(names, [report] if report else [])
    check_outputs([report] if report else [], paths, force)
    where.prepare(force, names)
    report_out = Output(report, replace=force, records=False) if report is not None else None
    entries: list[dict[str, Any]] = []
    try:
        if report_out is not None:
            report_out.__enter__()
        for part, name in zip(ordered, names, strict=True):
            entries.append(_copy_part(part, where, name, target, force, stats))
        stats.elapsed = time.perf_counter() - start
        summary = {**(settings or {}), "directory_output": _described(target, entries)}
        if report_out is not None:
            body = report_dict(stats, summary, command_line or [])
            report_out.write(orjson.dumps(stored(body), option=orjson.OPT_INDENT_2) + b"\n")
            report_out.finish()
            publish_all([report_out])
        where.write_manifest(_manifest(target, entries, summary))
    except (KeyboardInterrupt, Terminated) as exc:
        _undo(where, names, report_out)
        raise Terminated(exc.signum if isinstance(exc, Terminated) else 2) from None
    except OutputExistsError:  # another run writes here: remove only what this one wrote
        _undo(where, [entry["name"] for entry in entries], report_out)
        raise
    except BaseException:
        _undo(where, names, report_out)
        raise
    return stats


def _refuse_selections(parts: list[Part], target: MergeDirectory) -> None:
    """Only `score` parts split into files: a selection is one ranking over every shard."""
    if parts[0].info["command"] == "select":
        raise UsageError(
            "select parts are ranked across shards: merge them into one file (-o NAME), not a directory"
        )
    if target.output_format == "attributes":
        # A part does not say where one source file's records end (and a merge opens no file
        # a part names), so it cannot mirror the sources; score -o DIR/ writes that layout.
        raise UsageError(
            "attribute parts merge into one file (-o NAME.jsonl); for one attribute file a source, "
            "score the sources with -o DIR/",
            setting="output_format",
        )


def _copy_part(
    part: Part, where: PartDir, name: str, target: MergeDirectory, force: bool, stats: RunStats
) -> dict[str, Any]:
    """Stream one part into its file: its records as the single run writes them."""
    info = part.info
    spec = TextSpec.build(info["text_key"])
    shape = output_shape(target.output_format, info["score_key"], target.id_key, spec)
    schema = info.get("parquet_schema") if target.output_format == "records" else None
    out = PartFile(where, name, replace=force, schema=_schema(schema, part.path))
    counts = RunStats()
    writer = RecordWriter(out, info["score_key"], counts, scored=True, shape=shape)  # lines hold it
    try:
        for score, index, line in _records(part, info["score_key"], False, target.max_line_bytes):
            writer.write(score, index, line)
    except BaseException:
        out.abort()
        raise
    size, digest = out.commit()
    stats.selected += counts.selected
    shard = f"{info['shard_index']}/{info['shard_count']}"
    return {"name": name, "records": counts.selected, "bytes": size, "sha256": digest, "shard": shard}


def _schema(text: str | None, where: str) -> Any:
    """A part's Parquet schema (the sources' columns), as the single-file merge reads it."""
    if text is None:
        return None
    from ..files.parquet import schema_from_text

    return schema_from_text(text, where)


def _described(target: MergeDirectory, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "directory": redacted(target.directory),
        "parts": len(entries),
        "manifest": MANIFEST,
        "record_bytes_received": 0,  # a part's records go from its file to its output file
    }


def _manifest(
    target: MergeDirectory, entries: list[dict[str, Any]], summary: dict[str, Any]
) -> dict[str, Any]:
    return {
        "zipfit_manifest": 1,
        "complete": True,
        "output_format": target.output_format,
        "order": "shard",  # part n holds shard n's records, each part in input order
        "parts": entries,
        "records": sum(entry["records"] for entry in entries),
        "bytes": sum(entry["bytes"] for entry in entries),
        "settings": stored(summary),
    }


def _undo(where: PartDir, names: list[str], report: Output | None) -> None:
    """A failed or stopped merge: its report dropped, the files it planned removed."""
    if report is not None:
        report.abort()
    where.remove(names)

"""`zipfit merge PARTS -o DIR/`: `score` parts into a directory output, one file a part.

A part cannot simply be renamed into place: each of its records carries its global index
(`_zipfit_index`) and a trailer closes it, and neither belongs in the output. So each part is
streamed once into its own file (the index cut from each line, the trailer dropped, the
format and compression the file's name asks for), with the checks `zipfit merge` makes:
every shard once, one run's settings, trailers taken as data and validated, records counted
and in order. The manifest is written last, as `score -o DIR/` writes it (files/part_dir.py).

Part n holds shard n/N's records in input order. With --shard-by record the shards
interleave, so the parts hold every record once but their concatenation is not input order:
`zipfit merge PARTS -o FILE` gives that. With `workers` above 1 the parts are written at once,
one a worker process (the same bytes: each file is its part's alone). `select` parts are
ranked across shards: refused. `--output-format attributes` writes one file a source file
instead, as `score -o DIR/` does (merge_attributes.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from ..base.errors import OutputExistsError, Terminated, UsageError, redacted, stored
from ..base.stats import RunStats
from ..engines.runner import ScoreJob, map_tasks
from ..files.output import Output, publish_all
from ..files.output_checks import check_outputs
from ..files.part_dir import PartDir, PartFile
from ..files.part_names import DEFAULT_PART_NAME, MANIFEST, check_pattern, safe_name
from ..files.reading import DEFAULT_MAX_LINE_BYTES
from ..files.records import TextSpec
from ..files.writing import RecordWriter, output_shape
from .merge import Part, check_attribute_merge, check_parts, merged_stats, part_records, read_part
from .merge_attributes import attribute_names, write_attribute_files
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
    workers: int = 1,
) -> RunStats:
    """Write each `score` part of `paths` as one file of `target` (see the module docstring)."""
    start = time.perf_counter()
    parts = [read_part(path, target.max_line_bytes) for path in paths]
    if target.output_format == "attributes":  # before check_parts: its own one-line usage errors
        names = attribute_names(parts)
    check_parts(parts)
    _refuse_selections(parts, target)
    stats = merged_stats(parts, None)
    stats.check_any_scored()  # the shards leave this check to the merge
    where = PartDir(target.directory)
    ordered = sorted(parts, key=lambda part: int(part.info["shard_index"]))
    if target.output_format != "attributes":
        names = _part_names(ordered, target)
    where.refuse_inputs(names, paths)
    where.refuse_side_outputs(names, [report] if report else [])
    check_outputs([report] if report else [], paths, force)
    where.prepare(force, names)
    report_out = Output(report, replace=force, records=False) if report is not None else None
    entries: list[dict[str, Any]] = []
    try:
        if report_out is not None:
            report_out.__enter__()
        if target.output_format == "attributes":
            write_attribute_files(ordered, names, where, target, force, stats, entries)
            stats.check_attribute_lines()
        else:
            tasks = (_Copy(part, name, target, force) for part, name in zip(ordered, names, strict=True))
            # A memory:// directory lives in this process: other processes' files would be lost.
            pool = 1 if target.directory.startswith("memory://") else workers
            for entry in map_tasks(ScoreJob(_NoScoring()), _copy_task, tasks, pool):
                stats.selected += entry["records"]
                entries.append(entry)
        stats.elapsed = time.perf_counter() - start
        summary = {**(settings or {}), "directory_output": _described(target, entries)}
        if report_out is not None:
            body = report_dict(stats, summary, command_line or [])
            report_out.write(orjson.dumps(stored(body), option=orjson.OPT_INDENT_2) + b"\n")
            report_out.finish()
            publish_all([report_out])
        where.write_manifest(target.output_format, entries, summary, order="shard")  # part n: shard n
    except (KeyboardInterrupt, Terminated) as exc:
        _undo(where, names, report_out)
        raise Terminated(exc.signum if isinstance(exc, Terminated) else 2) from None
    except OutputExistsError:  # another run writes here: remove only what this one wrote
        _undo(where, [entry["name"] for entry in entries], report_out, temporaries=False)
        raise
    except BaseException:
        _undo(where, names, report_out)
        raise
    return stats


def _part_names(ordered: list[Part], target: MergeDirectory) -> list[str]:
    """Each part's file name, from the pattern and its shard number."""
    pattern = target.output_name or DEFAULT_PART_NAME
    check_pattern(pattern, target.output_format)
    return [safe_name(pattern.format(n=part.info["shard_index"])) for part in ordered]


def _refuse_selections(parts: list[Part], target: MergeDirectory) -> None:
    """Only `score` parts split into files: a selection is one ranking over every shard; and
    what an attribute file needs (a line for every document)."""
    if parts[0].info["command"] == "select":
        raise UsageError(
            "select parts are ranked across shards: merge them into one file (-o NAME), not a directory"
        )
    if target.output_format == "attributes":
        if target.output_name is not None:
            raise UsageError(
                "attribute files mirror the source files one to one: --output-name does not apply",
                setting="output_name",
            )
        check_attribute_merge(parts, ranked=False, id_key=target.id_key)


class _NoScoring:
    """The worker processes' job: a merge scores nothing (runner.map_tasks sends one)."""

    comparisons = 0

    def score(self, text: bytes) -> float:
        raise AssertionError("a merge scores nothing")

    def describe(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class _Copy:
    """One part to write as one file: what a worker process receives."""

    part: Part
    name: str
    target: MergeDirectory
    force: bool


def _copy_task(job: ScoreJob, task: _Copy) -> dict[str, Any]:
    """Runs in a worker process (or here, with one worker): stream one part into its file,
    its records as the single run writes them; returns its manifest entry."""
    part, target, info = task.part, task.target, task.part.info
    spec = TextSpec.build(info["text_key"])
    shape = output_shape(target.output_format, info["score_key"], target.id_key, spec)
    schema = info.get("parquet_schema") if target.output_format == "records" else None
    out = PartFile(
        PartDir(target.directory), task.name, replace=task.force, schema=_schema(schema, part.path)
    )
    counts = RunStats()
    writer = RecordWriter(out, info["score_key"], counts, scored=True, shape=shape)  # lines hold it
    try:
        for score, index, line in part_records(part, info["score_key"], False, target.max_line_bytes):
            writer.write(score, index, line)
    except BaseException:
        out.abort()
        raise
    size, digest = out.commit()
    shard = f"{info['shard_index']}/{info['shard_count']}"
    return {"name": task.name, "records": counts.selected, "bytes": size, "sha256": digest, "shard": shard}


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


def _undo(where: PartDir, names: list[str], report: Output | None, temporaries: bool = True) -> None:
    """A failed or stopped merge: its report dropped, the files it planned removed (and the
    temporary files of the worker processes stopped while writing them)."""
    if report is not None:
        report.abort()
    where.remove(names, temporaries)

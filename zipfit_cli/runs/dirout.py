"""`zipfit score SOURCES -o DIR/`: every partition's output written into the directory by the
worker that scored it, and a manifest written last by the client, which receives only
counters, manifest entries and the rare near-copy of a target kept aside.

Parts are named by a pattern (`part-{n:05d}.jsonl`: the ending picks the format and the
compression, as for `-o`), or, for Dolma attributes, after the source files themselves: the
path relative to the sources' common parent directory. Concatenating the parts in order
(decompressed) gives the bytes a single `-o FILE` run writes, for the line formats. A run
that fails or is stopped removes the parts it planned and writes no manifest.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass, replace
from typing import Any

import orjson

from ..base.errors import (
    OutputExistsError,
    Terminated,
    UsageError,
    redacted,
    shown,
    stored,
)
from ..base.stats import RunStats
from ..engines.dask_engine import SourceFile, check_first_record
from ..engines.dask_worker import FileRecords, raise_part_failure
from ..engines.engine import ProgressSink, RunContext, RunSettings
from ..engines.part_engines import PartRunner, directory_blocksize, plan_partitions, source_files
from ..engines.part_task import PartPlan
from ..files.locations import STDIN
from ..files.output import Output, publish_all
from ..files.output_checks import check_outputs
from ..files.part_dir import PartDir
from ..files.part_names import DEFAULT_PART_NAME, MANIFEST, check_pattern, relative_names, safe_name
from ..files.sources import JsonlSource, is_parquet, reader_of
from ..files.writers import check_output_name
from .files import parquet_schema
from .report import report_dict


@dataclass(frozen=True)
class DirectoryOutput:
    """Where and how a directory output is written."""

    directory: str  # ends with '/': a local path or an fsspec URL
    output_name: str | None = None  # the parts' name pattern (None: DEFAULT_PART_NAME)
    blocksize: int | None = None  # bytes of uncompressed JSONL a part (None: directory_blocksize)
    output_format: str = "records"
    id_key: str = "id"


@dataclass
class _Planned:
    files: list[SourceFile]
    plans: list[PartPlan]


def score_to_directory(
    settings: RunSettings,
    target: DirectoryOutput,
    runner: PartRunner,
    *,
    report: str | None = None,
    contaminated_output: str | None = None,
    force: bool = False,
    inputs: list[str] | None = None,
    progress: ProgressSink | None = None,
    described: Callable[[], dict[str, Any]] = dict,
    command_line: list[str] | None = None,
) -> RunStats:
    """Score `settings.sources` into the directory `target` names (see the module docstring)."""
    _check(settings, target)
    if target.output_format != "records":  # the first record is checked for its id
        settings = replace(settings, output_id=(target.output_format, target.id_key))
    where = PartDir(target.directory)
    planned = _plan(settings, target, force)
    names = [plan.name for plan in planned.plans]
    where.refuse_inputs(names, [*settings.sources, *(inputs or [])])
    sides = [path for path in (contaminated_output, report) if path is not None]
    where.refuse_side_outputs(names, sides)
    check_outputs(sides, [*settings.sources, *(inputs or [])], force)
    check_first_record([file.path for file in planned.files], settings)
    where.prepare(force, names)
    aside = Output(contaminated_output, replace=force) if contaminated_output else None
    report_out = Output(report, replace=force, records=False) if report is not None else None
    outputs = [sink for sink in (aside, report_out) if sink is not None]
    around = progress if isinstance(progress, AbstractContextManager) else contextlib.nullcontext()
    entries: list[dict[str, Any]] = []  # the parts written, in order
    with around:
        try:
            for sink in outputs:
                sink.__enter__()
            context = RunContext(aside=aside)
            if progress is not None:
                context.progress = progress
            start = time.perf_counter()
            received = _run(settings, runner, planned.plans, context, entries)
            context.stats.check_attribute_lines(target.output_format)
            context.stats.elapsed = time.perf_counter() - start
            summary = {**described(), "directory_output": _described(target, entries, received)}
            if report_out is not None:
                body = report_dict(context.stats, summary, command_line or [])
                report_out.write(orjson.dumps(stored(body), option=orjson.OPT_INDENT_2) + b"\n")
            for sink in outputs:
                sink.finish()
            publish_all(outputs)
            where.write_manifest(target.output_format, entries, summary)
        except (KeyboardInterrupt, Terminated) as exc:
            _undo(where, names, outputs)
            raise Terminated(exc.signum if isinstance(exc, Terminated) else 2) from None
        except OutputExistsError:  # another run writes here: remove only the parts this one wrote
            _undo(where, [entry["name"] for entry in entries], outputs, temporaries=False)
            raise
        except BaseException:
            _undo(where, names, outputs)
            raise
    return context.stats


def _check(settings: RunSettings, target: DirectoryOutput) -> None:
    """What a directory output cannot do (yet), and what it needs."""
    try:
        import fsspec  # type: ignore[import-untyped,unused-ignore]  # noqa: F401
    except ImportError:  # workers read their partitions by byte range, through fsspec
        raise UsageError("-o DIR/ needs fsspec: pip install 'zipfit-cli[remote]'") from None
    if STDIN in settings.sources:
        raise UsageError("a directory output (-o DIR/) is written from files the workers read, not stdin")
    if settings.limit is not None or settings.shard is not None:
        raise UsageError(
            "a directory output (-o DIR/) is cut by partitions: it goes without --limit and --shard",
            setting="output",
        )
    if target.output_format == "attributes" and (target.output_name or target.blocksize is not None):
        raise UsageError(
            "attribute files mirror the source files one to one: --output-name and --blocksize do not apply",
            setting="output_name",
        )
    check_pattern(target.output_name or DEFAULT_PART_NAME, target.output_format)


def _plan(settings: RunSettings, target: DirectoryOutput, force: bool) -> _Planned:
    """The partitions and the name of each one's part."""
    files = source_files(settings.sources)
    if target.output_format == "attributes":
        names = mirrored_names(files)
        partitions = plan_partitions(files, 0)
    else:
        size = directory_blocksize(files) if target.blocksize is None else target.blocksize
        partitions = plan_partitions(files, size)
        pattern = target.output_name or DEFAULT_PART_NAME
        names = [safe_name(pattern.format(n=n)) for n in range(len(partitions))]
    if len(set(names)) < len(names):  # `{n:.0e}` gives 10 and 11 one name, say
        raise UsageError(f"the parts' names repeat: {shown(target.output_name)} must name each part apart")
    how = (target.output_format, settings.score_key, target.id_key, settings.batch_size)
    schema = None
    if is_parquet(names[0] if names else ""):  # the sources' columns, as a single -o NAME.parquet keeps
        schema = parquet_schema(settings.sources, settings.score_key, target.output_format)
    plans = [
        PartPlan(part, target.directory, name, force, *how, settings.skip_invalid, settings.min_score, schema)
        for part, name in zip(partitions, names, strict=True)
    ]
    return _Planned(files, plans)


def mirrored_names(files: list[SourceFile]) -> list[str]:
    """Each source file's path relative to the sources' common parent directory: where its
    attribute file goes. JSONL sources only (an attribute file mirrors a document file)."""
    for file in files:
        if reader_of(file.path) is not JsonlSource or "::" in file.url:
            raise UsageError(
                f"attribute files mirror JSONL document files; {shown(file.path)} is not one "
                "(write --output-format attributes to a file, -o NAME.jsonl)",
                setting="output_format",
            )
    names = [safe_name(name) for name in relative_names([file.url for file in files])]
    for name in names:
        check_output_name(name, "attributes")
    return names


def _run(
    settings: RunSettings,
    runner: PartRunner,
    plans: list[PartPlan],
    context: RunContext,
    entries: list[dict[str, Any]],
) -> int:
    """Run the tasks; add up their counters, keep their near-copies aside, raise their errors.
    Adds each part's manifest entry to `entries`; returns the bytes of record lines the
    client received."""
    stats, received, line_base, files = context.stats, 0, 0, FileRecords()
    comparisons = settings.scorer.comparisons
    issued: deque[PartPlan] = deque()
    with closing(runner(settings.job(), _issued(plans, stats, issued))) as results:
        for written in results:
            part, result = issued.popleft().part, written.result
            line_base = 0 if part.start == 0 else line_base
            raise_part_failure(part, result, line_base)
            stats += result.stats
            files.add(part, result.stats.records_read)
            for _, line_no, _, why, line in written.aside:
                received += len(line)
                context.set_aside(settings.skip_invalid, part.path, line_base + line_no, why, line)  # type: ignore[arg-type]
            line_base += result.lines
            assert written.entry is not None, "a part without errors is written"
            entries.append({**written.entry, "source": redacted(part.path)})
            stats.count_pairs(comparisons)
            context.progress.update(stats.records_read, part.done)
    files.warn(stats)
    stats.check_any_scored()
    return received


def _issued(plans: list[PartPlan], stats: RunStats, issued: deque[PartPlan]) -> Iterator[PartPlan]:
    """The plans as the runner takes them, noted in `issued`; past the input an exact median
    can come from (RunStats.asks_scores), without the scores: they would only cost bytes."""
    before = 0  # bytes of input in the plans handed out so far
    for plan in plans:
        issued.append(plan if stats.asks_scores(before) else replace(plan, keep_scores=False))
        before = plan.part.done
        yield issued[-1]


def _described(target: DirectoryOutput, entries: list[dict[str, Any]], received: int) -> dict[str, Any]:
    return {
        "directory": redacted(target.directory),
        "parts": len(entries),
        "manifest": MANIFEST,
        "record_bytes_received": received,  # by the client: near-copies kept aside, nothing else
    }


def _undo(where: PartDir, names: list[str], outputs: list[Output], temporaries: bool = True) -> None:
    """A failed or stopped run: its side outputs dropped, the parts it planned removed (and
    the temporary files of the worker processes stopped while writing them)."""
    for sink in outputs:
        sink.abort()
    where.remove(names, temporaries)

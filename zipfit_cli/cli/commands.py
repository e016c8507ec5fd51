"""What each command does, from checked options to published outputs: the CLI's body, without typer.

`options.py` turns options into run settings; here each command picks its engine, opens
its outputs atomically, drives the display, and writes the report.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..base.errors import InputError, UsageError, WarnedError, faithful, redacted, shown
from ..base.stats import RunStats
from ..engines.engine import Engine, RunSettings, local_engine
from ..files.locations import STDIN, expand_paths, input_size
from ..files.output import Output
from ..files.output_checks import check_outputs
from ..files.part_dir import is_directory_output, refuse_directory_output
from ..files.part_names import source_names
from ..files.reading import DEFAULT_MAX_LINE_BYTES
from ..files.records import TextSpec
from ..files.writers import check_output_name
from ..files.writing import Shape, output_shape, refuse_ranked_attributes
from ..runs.files import parquet_schema, score_files, select_files
from ..runs.merge import run_merge
from ..runs.outputs import write_outputs
from ..runs.pipeline import read_texts
from ..scoring.distances import WithDistances
from .display import Display, make_display
from .options import (
    ScoringOptions,
    SelectionOptions,
    build_settings,
    check_adaptive_selection,
    check_coverage_options,
)

# A job writes to the main output, shows progress on the display and may write side outputs.
Job = Callable[[Output, Display, dict[str, Output]], RunStats]


def _engine(opts: ScoringOptions, settings: RunSettings) -> tuple[Engine, int | None]:
    """The engine that scores, and the input size in bytes for the progress bar."""
    # With --limit the run ends long before the input does: no share of the bytes, no ETA.
    if opts.engine == "local":
        return local_engine, input_size(settings.sources) if settings.limit is None else None
    from ..engines.dask_engine import DaskEngine

    engine = DaskEngine.plan(
        settings.sources,
        scheduler=opts.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None,
        workers=settings.workers,
        blocksize=opts.blocksize,
        connect_timeout=opts.connect_timeout,
        split=settings.limit is None,  # --limit needs whole files, to count as the local reader does
        spill_dir=opts.spill_dir,
    )
    return engine, engine.total_bytes if settings.limit is None else None


def describe(opts: ScoringOptions, settings: RunSettings, **extra: Any) -> dict[str, Any]:
    """The settings a report and a shard part record: everything that decides the output."""
    shard_index, shard_count = settings.shard or (0, 1)
    decontam = settings.decontaminate
    return {  # stored in reports and parts, which get shared: no URL passwords
        "sources": [redacted(path) for path in settings.sources],
        "targets": [redacted(path) for path in opts.target],
        "background": [redacted(path) for path in opts.background],
        "target_key": opts.target_key,
        "target_template": opts.target_template,
        **settings.scorer.describe(),
        "text_key": settings.spec.key,
        "score_key": settings.score_key,
        "skip_invalid": settings.skip_invalid,
        "max_text_bytes": settings.spec.max_bytes,
        "max_line_bytes": settings.spec.max_line_bytes,
        "limit": settings.limit,
        "decontaminate": None
        if decontam is None
        else {"ngram": decontam.ngram, "ncd_threshold": decontam.ncd_threshold},
        "adaptive": None if settings.adaptive is None else settings.adaptive.describe(),
        "min_score": settings.min_score,
        "output_format": opts.output_format,
        "id_key": opts.id_key if opts.output_format != "records" else None,
        "shard_index": shard_index,
        "shard_count": shard_count,
        "shard_by": settings.shard_by,
        "engine": opts.engine,
        "workers": settings.workers,
        "batch_size": settings.batch_size,
        **extra,
    }


def run_job(
    job: Job,
    *,
    inputs: list[str],
    output: str,
    report: Path | None,
    quiet: bool,
    force: bool,
    label: str,
    what: str | Callable[[], str],
    settings: Callable[[], dict[str, Any]],
    total_bytes: int | None,
    side_outputs: dict[str, str] | None = None,
    command_line: list[str] | None = None,
    schema: Callable[[], Any] | None = None,
    output_format: str = "records",
    summary: str | None = None,
    strict: bool = False,
) -> RunStats:
    """`write_outputs` with a display, and the summary once the bar has stopped."""
    display = make_display(quiet, total_bytes, label, summary)
    stats = write_outputs(
        lambda out, sides: job(out, display, sides),
        inputs=inputs,
        output=output,
        report=str(report) if report is not None else None,
        force=force,
        side_outputs=side_outputs,
        report_settings=settings,
        command_line=command_line,
        schema=schema,
        around=display,
        output_format=output_format,
    )
    # After the bar has stopped, so it does not redraw below.
    display.summary(stats, what if isinstance(what, str) else what(), written(output, report))
    check_strict(stats, strict)
    return stats


def written(output: str, report: Path | str | None, near_copies: str | None = None) -> dict[str, str]:
    """The outputs a run wrote, as its summary names them."""
    named = {"output": output}
    if report is not None:
        named["report"] = str(report)
    if near_copies:
        named["near-copies"] = near_copies
    return named


def check_strict(stats: RunStats, strict: bool) -> None:
    """With --strict, a run that warned ends with its own exit code (a cron job notices it)."""
    if strict and stats.warnings:
        raise WarnedError(stats.warnings)


def _settings(opts: ScoringOptions) -> RunSettings:
    """`build_settings`, with progress on stderr while --contrast samples its background
    from the sources (a pass over the whole input before scoring starts)."""
    if opts.engine != "local" or is_directory_output(opts.output):  # before anything reads them
        from .directory import refuse_streams

        refuse_streams(opts.sources)
    if not opts.needs_background or opts.background:
        return build_settings(opts)
    with make_display(opts.quiet, input_size(opts.sources), "sampling the background") as display:
        return build_settings(opts, sampling=display.update)


def select(opts: ScoringOptions, selection: SelectionOptions) -> None:
    opts = opts.expanded()
    refuse_ranked_attributes(opts.output_format, ranked=True)
    refuse_directory_output(opts.output, "select writes one ranked output")
    selection.check(sharded=opts.shard is not None)
    if opts.adaptive:
        check_adaptive_selection(selection, opts.min_score)
    if selection.coverage:
        check_coverage_options(opts)
    settings = _settings(opts)
    if selection.coverage:
        settings.coverage = selection.coverage
        settings.scorer = WithDistances(settings.scorer)
    filters = selection.filters()
    if filters and settings.shard is not None:
        raise UsageError("--dedupe and budgets apply to the whole ranking: give them to `zipfit merge`")
    # A shard cannot know the global count a fraction refers to: it writes its whole
    # ranking and `zipfit merge` applies the fraction.
    fraction = None if settings.shard is not None else selection.fraction

    def run(**common: Any) -> RunStats:
        return select_files(
            settings, opts.output, top_k=selection.top_k, fraction=fraction, filters=filters, **common
        )

    _run_scoring(opts, settings, run, "select", "selected", selection.describe())


def score(opts: ScoringOptions) -> None:
    opts = opts.expanded()
    settings = _settings(opts)
    if is_directory_output(opts.output):  # the workers write the parts: cli/directory.py
        from .directory import score_directory

        return check_strict(score_directory(opts, settings, *_engine(opts, settings), describe), opts.strict)

    def run(**common: Any) -> RunStats:
        return score_files(settings, opts.output, **common)

    _run_scoring(opts, settings, run, "score", "written", {})


def _shape(opts: ScoringOptions, settings: RunSettings) -> Shape | None:
    return output_shape(opts.output_format, settings.score_key, opts.id_key, settings.spec)


def _run_scoring(
    opts: ScoringOptions,
    settings: RunSettings,
    run: Callable[..., RunStats],
    command: str,
    what: str,
    extra: dict[str, Any],
) -> None:
    """Pick the engine, open the outputs (with the near-copies' side file), run, report."""
    if settings.shard is not None and check_output_name(opts.output):
        raise UsageError(
            "shard parts are JSONL: write each part to a .jsonl file and give -o NAME.parquet (or .csv, "
            ".tsv) to zipfit merge",
            setting="output",
        )
    engine, total_bytes = _engine(opts, settings)

    def report_settings() -> dict[str, Any]:
        return describe(opts, settings, command=command, **extra)

    part = None
    if settings.shard is not None:
        # The merge writes Parquet with the sources' schema, carried here: it opens nothing
        # but its parts.
        # and the names attribute files mirroring the sources get (merge -o DIR/ writes those).
        part = {
            **report_settings(),
            "parquet_schema": _schema_text(settings.sources, settings.score_key),
            "source_names": source_names(settings.sources),
        }
    display = make_display(opts.quiet, total_bytes, "scoring", opts.summary)
    stats = run(
        output_format=opts.output_format,
        id_key=opts.id_key,
        report=str(opts.report) if opts.report is not None else None,
        contaminated_output=opts.contaminated_output or None,
        force=opts.force,
        inputs=opts.target + opts.background,
        progress=display,
        engine=engine,
        part=part,
        described=report_settings,
        command_line=opts.command_line,
    )
    # After the bar has stopped, so it does not redraw below.
    display.summary(stats, what, written(opts.output, opts.report, opts.contaminated_output))
    check_strict(stats, opts.strict)


def _schema_text(sources: list[str], score_key: str) -> str | None:
    """The sources' Parquet schema as a part carries it, or None (not all Parquet of one schema)."""
    schema = parquet_schema(sources, score_key, "records")
    if schema is None:
        return None
    from ..files.parquet import schema_text

    return schema_text(schema)


def _merged_schema(parts: list[str], output_format: str) -> Any:
    """The schema of a merge's Parquet output: the one its parts carry (None: inferred)."""
    from ..runs.merge import read_part

    if output_format != "records" or not parts:
        return None
    text = read_part(parts[0]).info.get("parquet_schema")
    if text is None:
        return None
    from ..files.parquet import schema_from_text

    return schema_from_text(text, parts[0])


def _merged_what(parts: list[str], selection: SelectionOptions) -> str:
    """What the summary calls the merged records: "written" for score parts merged back into
    input order, as `score` says, "selected" when the merge ranks and keeps some."""
    from ..runs.merge import read_part

    if selection.top_k is not None or selection.fraction is not None or selection.filters():
        return "selected"
    return "selected" if read_part(parts[0]).info["command"] == "select" else "written"


def merge(
    parts: list[str],
    selection: SelectionOptions,
    output: str,
    report: Path | None,
    quiet: bool,
    force: bool,
    command_line: list[str] | None = None,
    output_format: str = "records",
    id_key: str = "id",
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    summary: str | None = None,
    strict: bool = False,
    min_score: float | None = None,
) -> None:
    selection.check()
    filters = selection.filters()

    def job(out: Output, display: Display, sides: dict[str, Output]) -> RunStats:
        return run_merge(
            parts,
            out,
            top_k=selection.top_k,
            fraction=selection.fraction,
            filters=filters,
            output_format=output_format,
            id_key=id_key,
            max_line_bytes=max_line_bytes,
            min_score=min_score,
        )

    run_job(
        job,
        inputs=parts,
        output=output,
        report=report,
        quiet=quiet,
        force=force,
        label="merging",
        what=lambda: _merged_what(parts, selection),
        settings=lambda: {"command": "merge", "parts": parts, **selection.describe(), "min_score": min_score},
        total_bytes=None,
        command_line=command_line,
        schema=lambda: _merged_schema(parts, output_format),
        output_format=output_format,
        summary=summary,
        strict=strict,
    )


def align(
    datasets: list[str], opts: ScoringOptions, pairs: int | None, seed: int
) -> Iterator[dict[str, Any]]:
    """Dataset-level alignment of each dataset with the targets, one result each."""
    from ..scoring.align import dataset_alignment
    from ..scoring.pairwise import TargetSet

    settings = build_settings(opts.expanded())
    targets = settings.scorer
    assert isinstance(targets, TargetSet), "align scores pairwise"
    for path in expand_paths(datasets):  # a quoted glob: each file it matches is a dataset
        stats = RunStats()
        texts = read_texts(path, settings, stats)
        try:
            result = dataset_alignment(texts, targets, pairs=pairs, seed=seed)
        except InputError as exc:
            if str(exc).startswith(f"{shown(path)}:"):
                raise
            raise InputError(f"{shown(path)}: {exc}") from None
        yield {"dataset": faithful(redacted(path)), **result.to_dict(), "skipped": dict(stats.skipped)}


def background(
    sources: list[str],
    *,
    size: int,
    seed: int,
    text_key: str,
    max_text_bytes: int,
    max_line_bytes: int,
    limit: int | None,
    output: str,
    force: bool,
    quiet: bool,
) -> None:
    """Write a seeded uniform sample of the sources' records, as they are, in input order."""
    from ..scoring.background import sample_background

    sources = expand_paths(sources)
    check_output_name(output)
    check_outputs([output], sources, force)
    spec = TextSpec.build(text_key, max_bytes=max_text_bytes, max_line_bytes=max_line_bytes)
    with make_display(quiet, input_size(sources), "sampling") as display:
        sample = sample_background(sources, spec, size, seed, limit, progress=display.update)
    with Output(output, replace=force) as out:
        for record in sample.records:
            out.write(record.line if record.line.endswith(b"\n") else record.line + b"\n")
    if not quiet:
        print(
            f"zipfit: background of {len(sample.records):,} records, sampled from {sample.valid:,} "
            f"that can be scored ({sample.read:,} read), seed {seed}; output "
            f"{'stdout' if output == STDIN else shown(output)}",
            file=sys.stderr,
        )

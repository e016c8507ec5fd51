"""File runs as one library call: what `zipfit select SOURCES -o OUT` and `zipfit score`
do, without a command line.

    from zipfit_cli import RunSettings, ScoringInputs, TextSpec, build_scorer, get_compressor
    from zipfit_cli import select_files

    scorer = build_scorer("pairwise", ScoringInputs(targets, get_compressor("gzip")))
    settings = RunSettings(["corpus.jsonl"], scorer, TextSpec.build("text"), workers=4)
    stats = select_files(settings, "selected.jsonl", top_k=1000, report="report.json")

Reading, scoring (in a process pool), ranking, writing (atomically: a temporary file
renamed into place only when the run succeeds) and the report are those of the command,
so a notebook reproduces a file run byte for byte. The command adds only its flags, the
progress display and the summary.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from decimal import Decimal
from typing import Any

from ..base.stats import RunStats
from ..engines.engine import Engine, ProgressSink, RunSettings, local_engine
from ..files.output import Output
from ..files.writing import output_shape
from ..scoring.distances import WithDistances, adaptive_refused
from ..selection.coverage import check_coverage, check_share_of_k
from ..selection.ranking import Share
from ..selection.rules import Filters
from .outputs import write_outputs
from .pipeline import run_score, run_select


def select_files(
    settings: RunSettings,
    output: str,
    *,
    top_k: int | None = None,
    fraction: Share | None = None,
    coverage: float | Decimal | None = None,
    filters: Filters | None = None,
    output_format: str = "records",
    id_key: str = "id",
    report: str | None = None,
    contaminated_output: str | None = None,
    force: bool = False,
    inputs: list[str] | None = None,
    progress: ProgressSink | None = None,
    engine: Engine = local_engine,
    part: dict[str, Any] | None = None,
    described: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
    command_line: list[str] | None = None,
) -> RunStats:
    """The `top_k` best records of `settings.sources` (or a `fraction` of them, after
    `filters`: dedupe and budgets) written to `output` in rank order, best first, each with
    its score added; ties keep input order. `output` is a path (a '.gz', '.zst', '.bz2',
    '.xz' or '.parquet' name picks the format), an fsspec URL or '-' for stdout; an existing
    file is replaced only with `force`, and no output may be one of the sources or `inputs`
    (the targets' and background's files, say). `report` names a JSON run report; `described`
    adds what decided the run to it. `engine` and `part` are for the command's Dask runs and
    shard parts. `coverage` is `--coverage F` (README "Which score to use"): a share of the K
    records taken by going round the targets, written first; refused with `settings.adaptive`
    and with a scorer other than the paper's or the contrast one, as the command refuses them."""
    settings = _covering(settings, coverage, top_k, fraction)
    shape = output_shape(output_format, settings.score_key, id_key, settings.spec)
    settings = _writing_ids(settings, output_format, id_key)
    return write_outputs(
        lambda out, sides: run_select(
            settings,
            out,
            progress,
            top_k,
            fraction,
            part=part,
            engine=engine,
            filters=filters,
            aside=sides.get("contaminated"),
            shape=shape,
        ),
        **_outputs(
            settings,
            output,
            report,
            contaminated_output,
            force,
            inputs,
            described,
            command_line,
            output_format,
            progress,
        ),
    )


def score_files(
    settings: RunSettings,
    output: str,
    *,
    output_format: str = "records",
    id_key: str = "id",
    report: str | None = None,
    contaminated_output: str | None = None,
    force: bool = False,
    inputs: list[str] | None = None,
    progress: ProgressSink | None = None,
    engine: Engine = local_engine,
    part: dict[str, Any] | None = None,
    described: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
    command_line: list[str] | None = None,
) -> RunStats:
    """Every valid record of `settings.sources` in input order with its score added, written
    to `output` as `select_files` writes (`output_format` "attributes" or "ids" writes one
    small line per record instead)."""
    shape = output_shape(output_format, settings.score_key, id_key, settings.spec)
    settings = _writing_ids(settings, output_format, id_key)

    def job(out: Output, sides: dict[str, Output]) -> RunStats:
        stats = run_score(
            settings, out, progress, part=part, engine=engine, aside=sides.get("contaminated"), shape=shape
        )
        stats.check_attribute_lines(output_format)
        return stats

    return write_outputs(
        job,
        **_outputs(
            settings,
            output,
            report,
            contaminated_output,
            force,
            inputs,
            described,
            command_line,
            output_format,
            progress,
        ),
    )


def _covering(
    settings: RunSettings, coverage: float | Decimal | None, top_k: int | None, fraction: Share | None
) -> RunSettings:
    """The settings for a --coverage selection: the share kept, the scorer wrapped to give each
    record's distance to every target (the command does the same before it starts)."""
    share = check_coverage(coverage) if coverage is not None else None
    if not share:  # None or 0: by score alone (or as `settings` already says)
        return settings
    check_share_of_k(share, top_k, fraction)
    if settings.adaptive is not None:
        raise adaptive_refused()
    scorer = settings.scorer if isinstance(settings.scorer, WithDistances) else WithDistances(settings.scorer)
    return replace(settings, coverage=share, scorer=scorer)


def _writing_ids(settings: RunSettings, output_format: str, id_key: str) -> RunSettings:
    """The settings, told that the output writes each record's id: the first record is
    checked for it before scoring starts."""
    if output_format == "records":
        return settings
    return replace(settings, output_id=(output_format, id_key))


def _outputs(
    settings: RunSettings,
    output: str,
    report: str | None,
    contaminated_output: str | None,
    force: bool,
    inputs: list[str] | None,
    described: dict[str, Any] | Callable[[], dict[str, Any]] | None,
    command_line: list[str] | None,
    output_format: str,
    progress: ProgressSink | None,
) -> dict[str, Any]:
    """write_outputs' arguments shared by both runs."""
    return {
        "inputs": [*settings.sources, *(inputs or [])],
        "output": output,
        "report": report,
        "force": force,
        "side_outputs": {"contaminated": contaminated_output} if contaminated_output else {},
        "report_settings": described if callable(described) else lambda: described or {},
        "command_line": command_line,
        "schema": lambda: parquet_schema(settings.sources, settings.score_key, output_format),
        "output_format": output_format,
        # A display (the command's) is entered once the outputs are checked.
        "around": progress if isinstance(progress, AbstractContextManager) else None,
    }


def parquet_schema(sources: list[str], score_key: str, output_format: str) -> Any:
    """The inputs' Parquet schema with the score column, or None (see parquet.source_schema):
    only whole records keep the input's columns; ids and attributes are inferred."""
    if output_format != "records":
        return None
    from ..files.parquet import source_schema

    return source_schema(sources, score_key)

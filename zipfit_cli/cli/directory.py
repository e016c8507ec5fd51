"""Directory outputs (`score SOURCES -o DIR/`, `merge PARTS -o DIR/`), from checked options to
the manifest (runs/dirout.py and runs/merge_dir.py do the work; here the engine's runner, the
display and the summary)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import Any

from ..base.errors import UsageError, shown
from ..base.stats import RunStats
from ..engines.engine import Engine, RunSettings
from ..engines.part_engines import PartRunner, dask_parts, local_parts
from ..engines.runner import default_workers
from ..files.output_checks import local_file
from ..runs.dirout import DirectoryOutput, score_to_directory
from .display import make_display
from .options import ScoringOptions, SelectionOptions


def refuse_streams(sources: list[str]) -> None:
    """Dask workers and a directory output's workers read their partitions by byte range,
    after the client has read the first record: a named pipe or a device cannot be read again
    (the run would wait for ever on a pipe no one writes to any more)."""
    for source in sources:
        path = local_file(source)
        try:
            mode = os.stat(path).st_mode if path is not None else stat.S_IFREG
        except OSError:  # a glob, or missing: reading it says so
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise UsageError(
                f"{shown(source)} is a pipe or a device, which workers cannot read by byte range "
                "(--engine dask, -o DIR/): use --engine local and -o FILE, or save the records to a file",
                setting=("engine", "output"),
            )


def score_directory(
    opts: ScoringOptions,
    settings: RunSettings,
    engine: Engine,
    total_bytes: int | None,
    describe: Callable[..., dict[str, Any]],
) -> RunStats:
    """Run `score` into the directory -o names; the summary is the caller's to show."""
    if opts.output.lower().startswith("memory:") and (opts.engine != "local" or settings.workers > 1):
        # Each process has its own memory://: the parts would be written where the client never looks.
        raise UsageError(
            "a memory:// directory lives in this process, and worker processes would write their parts "
            "into their own: use -j 1 with --engine local, or a directory they share",
            setting="output",
        )
    runner: PartRunner
    if opts.engine == "local":
        runner = local_parts(settings.workers)
    else:
        from ..engines.dask_engine import DaskEngine

        assert isinstance(engine, DaskEngine), "--engine dask plans a DaskEngine"
        runner = dask_parts(engine)
    target = DirectoryOutput(
        opts.output, opts.output_name, opts.blocksize, output_format=opts.output_format, id_key=opts.id_key
    )
    display = make_display(opts.quiet, total_bytes, "scoring", opts.summary)
    stats = score_to_directory(
        settings,
        target,
        runner,
        report=str(opts.report) if opts.report is not None else None,
        contaminated_output=opts.contaminated_output or None,
        force=opts.force,
        inputs=opts.target + opts.background,
        progress=display,
        described=lambda: describe(opts, settings, command="score"),
        command_line=opts.command_line,
    )
    display.summary(stats, "written", _written(opts))
    return stats


def _written(opts: ScoringOptions) -> dict[str, str]:
    named = {"output": opts.output}
    if opts.report is not None:
        named["report"] = str(opts.report)
    if opts.contaminated_output:
        named["near-copies"] = opts.contaminated_output
    return named


def merge_directory(opts: ScoringOptions, selection: SelectionOptions) -> RunStats:
    """Merge `score` parts into the directory -o names, one file a part, in shard order."""
    from ..runs.merge_dir import MergeDirectory, merge_to_directory
    from .commands import check_strict

    chosen = selection.given | ({"min_score"} if opts.min_score is not None else set())
    if chosen - {"token_counter"}:
        flags = ", ".join("--" + name.replace("_", "-") for name in sorted(chosen))
        raise UsageError(
            "a directory output (-o DIR/) holds each score part as it is: select and filter into "
            f"one file (-o NAME) instead of {flags}"
        )
    how = (opts.output_format, opts.id_key, opts.max_line_bytes)
    target = MergeDirectory(opts.output, opts.output_name, *how)
    display = make_display(opts.quiet, None, "merging", opts.summary)
    with display:
        stats = merge_to_directory(
            opts.sources,
            target,
            force=opts.force,
            report=str(opts.report) if opts.report is not None else None,
            settings={"command": "merge", "parts": opts.sources},
            command_line=opts.command_line,
            workers=min(opts.workers or default_workers(), len(opts.sources)),
        )
    display.summary(stats, "written", {"output": opts.output})
    check_strict(stats, opts.strict)
    return stats

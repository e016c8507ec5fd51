"""The `zipfit` command line: the commands, their options, and a call into the library.

Every option is declared once, in `flags.py`: each command below takes the options
declared for it as typed objects (`optspec.command` builds its signature and fills them);
how errors and signals end the process is in `exits.py`. Only these modules and
`optspec.py` import typer.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any

import orjson
import typer

from ..base.errors import UsageError, ZipfitError, shown
from ..base.version import __version__
from ..files.part_dir import is_directory_output
from . import commands
from .exits import (
    Command,
    Commands,
    errors,
    ignore_signals_while_exiting,
    install_signal_handlers,
    reserve_closed_std_streams,
)
from .flags import OPTIONS
from .options import AlignOptions, CommandFlags, ScoringOptions, SelectionOptions
from .optspec import Body, command

EXIT_CODES_HELP = """Exit codes: 0 ok; 1 runtime failure (a worker died, a write failed);
2 usage error; 3 bad input (malformed JSONL, missing text field, missing file);
4 output exists (use --force); 6 the run warned and --strict was given (outputs written);
129 hangup (SIGHUP); 130 interrupted (Ctrl-C); 141 output pipe closed early;
143 terminated (SIGTERM).

Environment: ZIPFIT_WORKERS, ZIPFIT_FORCE, ZIPFIT_QUIET, ZIPFIT_SUMMARY, ZIPFIT_STRICT,
ZIPFIT_ENGINE and ZIPFIT_SCHEDULER set the options of those names (a flag on the command
line wins); ZIPFIT_PROGRESS_INTERVAL the seconds between progress lines in logs."""


app = typer.Typer(
    name="zipfit",
    cls=Commands,
    help="Select the source examples most aligned with a target task, by gzip compression "
    "(ZIP-FIT). Data goes to stdout; progress and the summary go to stderr.",
    epilog=EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals hold corpus text
    add_completion=False,
    rich_markup_mode=None,
)


def _command(**settings: Any) -> Callable[[Body], Body]:
    """Register a command taking the options `flags.OPTIONS` declares for it (optspec.command)."""
    return command(app, OPTIONS, cls=Command, **settings)


@_command()
def select(opts: ScoringOptions, selection: SelectionOptions, flags: CommandFlags) -> None:
    """Write the records best aligned with the target, best first, each with its score.

    Example: zipfit select corpus.jsonl.gz -t humaneval.jsonl --target-template
    '{prompt}{canonical_solution}' -k 10000 -o selected.jsonl

    Ties keep input order. With neither -k nor --fraction every record is ranked.
    With -k, memory holds K records; otherwise records wait in a temporary file ($TMPDIR).
    --dedupe and budgets apply in rank order, before -k / --fraction count
    (with --budget-fill shortest, the budget takes the shortest of the K selected).

    Recommended for a task's data (README "Which score to use"): --contrast --coverage 0.25;
    with a budget, see --budget-fill shortest there (it beat DSIR on every kind measured).
    """
    with errors(flags.traceback, "select"):
        commands.select(opts, selection)


@_command()
def score(opts: ScoringOptions, flags: CommandFlags) -> None:
    """Write every record in input order with its alignment score added; streams as it goes.

    Example: zipfit score corpus.jsonl -t target.jsonl | jq -c 'select(.zipfit_score > 0.2)'
    """
    with errors(flags.traceback, "score"):
        commands.score(opts)


@_command()
def merge(opts: ScoringOptions, selection: SelectionOptions, flags: CommandFlags) -> None:
    """Merge shard parts into the output one run over the whole input would give, byte for byte.

    Example: zipfit merge parts/part-*.jsonl -o selected.jsonl

    By default the parts' own selection (-k or --fraction) is applied; -k or --fraction
    here choose another one. Every shard must be present exactly once.
    """
    with errors(flags.traceback, "merge"):
        if is_directory_output(opts.output):  # one file a score part: cli/directory.py
            from .directory import merge_directory

            merge_directory(opts, selection)
            return
        if "output_name" in opts.given:
            raise UsageError("--output-name names the parts of an output directory (-o DIR/)")
        commands.merge(
            opts.sources,  # the parts
            selection,
            opts.output,
            opts.report,
            opts.quiet,
            opts.force,
            command_line=opts.command_line,
            output_format=opts.output_format,
            id_key=opts.id_key,
            max_line_bytes=opts.max_line_bytes,
            summary=opts.summary,
            strict=opts.strict,
            min_score=opts.min_score,
        )


@_command()
def align(opts: ScoringOptions, sample: AlignOptions, flags: CommandFlags) -> None:
    """Print each dataset's alignment with the target (the paper's dataset-level score).

    Example: zipfit align candidate-a.jsonl candidate-b.jsonl -t target.jsonl

    Alignment is the mean of 1 - NCD over dataset x target pairs, with a 95% confidence
    interval; pairs are sampled (--pairs, --seed) when there are more. One JSON line per
    dataset goes to stdout.
    """
    with errors(flags.traceback, "align"):
        datasets = opts.sources
        for result in commands.align(datasets, replace(opts, workers=1), sample.pairs, sample.seed):
            sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
            sys.stdout.flush()
            if not opts.quiet:
                how = "all" if result["exact"] else "sampled"
                print(
                    f"zipfit: {shown(result['dataset'])}: alignment {result['mean']:.4f} "
                    f"(95% CI {result['ci_low']:.4f}..{result['ci_high']:.4f}) over "
                    f"{result['n_pairs']:,} pairs ({how} of {result['total_pairs']:,})",
                    file=sys.stderr,
                )


@_command()
def background(opts: ScoringOptions, flags: CommandFlags) -> None:
    """Write a seeded uniform sample of the sources' records: a background for --contrast.

    Example: zipfit background corpus.jsonl.gz -n 128 --seed 0 -o bg.jsonl

    Only records with a usable text (--text-key) are drawn; they are written as they
    are, in input order. Give the file to --background so that shards, merges, Dask runs
    and repeated runs all use the very same background.
    """
    with errors(flags.traceback, "background"):
        commands.background(
            opts.sources,
            size=opts.background_size,
            seed=opts.background_seed,
            text_key=opts.text_key,
            max_text_bytes=opts.max_text_bytes,
            max_line_bytes=opts.max_line_bytes,
            limit=opts.limit,
            output=opts.output,
            force=opts.force,
            quiet=opts.quiet,
        )


def _version(value: bool) -> None:
    if value:
        print(f"zipfit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    pass


def main() -> None:
    """Console-script entry point."""
    reserve_closed_std_streams()
    install_signal_handlers()
    try:
        app()
    except ZipfitError as exc:  # a closed stream used outside a command, by --help say
        print(f"zipfit: error: {shown(exc)}", file=sys.stderr, flush=True)
        sys.exit(int(exc.exit_code))
    finally:
        ignore_signals_while_exiting()

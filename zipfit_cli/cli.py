"""The `zipfit` command line: the commands, their options, and a call into the library.

Each option's flag and help are in `flags.py`, its default in `options.py`; how errors
and signals end the process is in `exits.py`. Only these modules import typer.
"""

from __future__ import annotations

import dataclasses
import sys
from enum import Enum
from typing import Annotated, Any, TypeVar

import orjson
import typer

from . import __version__, commands
from .errors import ZipfitError, shown
from .exits import (
    Command,
    Commands,
    errors,
    ignore_signals_while_exiting,
    install_signal_handlers,
    reserve_closed_std_streams,
)
from .flags import (
    DEFAULT_ENGINE,
    DEFAULT_SHARD_BY,
    MOST,
    Adaptive,
    AdaptiveAudit,
    AdaptiveZ,
    Background,
    BackgroundSize,
    BatchSize,
    Blocksize,
    BudgetChars,
    BudgetTokens,
    Compressor,
    ConnectTimeout,
    ContaminatedOutput,
    Contrast,
    ContrastWeight,
    Decontaminate,
    DecontaminateNcd,
    DecontaminateNgram,
    Dedupe,
    DedupeNear,
    Engine_,
    Force,
    Fraction,
    IdKey,
    Level,
    Limit,
    MaxLineBytes,
    MaxTextBytes,
    Method,
    Output_,
    OutputFormat,
    Quiet,
    Report,
    Scheduler,
    ScoreKey,
    Seed,
    Shard,
    ShardBy_,
    SkipInvalid,
    Sources,
    TargetKey,
    Targets,
    TargetTemplate,
    TextKey,
    TokenCounter,
    TopK_,
    Traceback,
    Workers,
)
from .options import SCORING, SELECTION, ScoringOptions, SelectionOptions

T = TypeVar("T")

EXIT_CODES_HELP = """Exit codes: 0 ok; 1 runtime failure (a worker died, a write failed);
2 usage error; 3 bad input (malformed JSONL, missing text field, missing file);
4 output exists (use --force); 129 hangup (SIGHUP); 130 interrupted (Ctrl-C);
141 output pipe closed early; 143 terminated (SIGTERM)."""


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


# Options shared by every scoring command, declared once.
def _gather(kind: type[T], values: dict[str, Any]) -> T:
    """Typer hands each option over as a parameter; collect the ones a dataclass names."""
    names = {f.name for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    return kind(**{k: v.value if isinstance(v, Enum) else v for k, v in values.items() if k in names})


@app.command(cls=Command)
def select(
    ctx: typer.Context,
    sources: Sources,
    target: Targets = [],  # noqa: B006 (typer reads the default, never mutates it)
    top_k: TopK_ = SELECTION.top_k,
    fraction: Fraction = SELECTION.fraction,
    output: Output_ = SCORING.output,
    text_key: TextKey = SCORING.text_key,
    target_key: TargetKey = SCORING.target_key,
    target_template: TargetTemplate = SCORING.target_template,
    compressor: Compressor = SCORING.compressor,
    level: Level = SCORING.level,
    method: Method = SCORING.method,
    contrast: Contrast = SCORING.contrast,
    background: Background = [],  # noqa: B006 (typer reads the default, never mutates it)
    background_size: BackgroundSize = SCORING.background_size,
    background_seed: Seed = SCORING.background_seed,
    contrast_weight: ContrastWeight = SCORING.contrast_weight,
    adaptive: Adaptive = SCORING.adaptive,
    adaptive_z: AdaptiveZ = SCORING.adaptive_z,
    adaptive_audit: AdaptiveAudit = SCORING.adaptive_audit,
    workers: Workers = SCORING.workers,
    output_format: OutputFormat = SCORING.output_format,
    id_key: IdKey = SCORING.id_key,
    score_key: ScoreKey = SCORING.score_key,
    skip_invalid: SkipInvalid = SCORING.skip_invalid,
    dedupe: Dedupe = SELECTION.dedupe,
    dedupe_near: DedupeNear = SELECTION.dedupe_near,
    budget_tokens: BudgetTokens = SELECTION.budget_tokens,
    budget_chars: BudgetChars = SELECTION.budget_chars,
    token_counter: TokenCounter = SELECTION.token_counter,
    decontaminate: Decontaminate = SCORING.decontaminate,
    decontaminate_ngram: DecontaminateNgram = SCORING.decontaminate_ngram,
    decontaminate_ncd: DecontaminateNcd = SCORING.decontaminate_ncd,
    contaminated_output: ContaminatedOutput = SCORING.contaminated_output,
    quiet: Quiet = SCORING.quiet,
    report: Report = SCORING.report,
    force: Force = SCORING.force,
    batch_size: BatchSize = SCORING.batch_size,
    limit: Limit = SCORING.limit,
    max_text_bytes: MaxTextBytes = SCORING.max_text_bytes,
    max_line_bytes: MaxLineBytes = SCORING.max_line_bytes,
    shard: Shard = SCORING.shard,
    shard_by: ShardBy_ = DEFAULT_SHARD_BY,
    engine: Engine_ = DEFAULT_ENGINE,
    scheduler: Scheduler = SCORING.scheduler,
    blocksize: Blocksize = SCORING.blocksize,
    connect_timeout: ConnectTimeout = SCORING.connect_timeout,
    traceback: Traceback = False,
) -> None:
    """Write the records best aligned with the target, best first, each with its score.

    Example: zipfit select corpus.jsonl.gz -t humaneval.jsonl --target-template
    '{prompt}{canonical_solution}' -k 10000 -o selected.jsonl

    Ties keep input order. With neither -k nor --fraction every record is ranked.
    With -k, memory holds K records; otherwise records wait in a temporary file ($TMPDIR).
    --dedupe and budgets apply in rank order, before -k / --fraction count.
    """
    with errors(traceback):
        command_line = ctx.obj
        commands.select(_gather(ScoringOptions, locals()), _gather(SelectionOptions, locals()))


@app.command(cls=Command)
def score(
    ctx: typer.Context,
    sources: Sources,
    target: Targets = [],  # noqa: B006
    output: Output_ = SCORING.output,
    text_key: TextKey = SCORING.text_key,
    target_key: TargetKey = SCORING.target_key,
    target_template: TargetTemplate = SCORING.target_template,
    compressor: Compressor = SCORING.compressor,
    level: Level = SCORING.level,
    method: Method = SCORING.method,
    contrast: Contrast = SCORING.contrast,
    background: Background = [],  # noqa: B006 (typer reads the default, never mutates it)
    background_size: BackgroundSize = SCORING.background_size,
    background_seed: Seed = SCORING.background_seed,
    contrast_weight: ContrastWeight = SCORING.contrast_weight,
    workers: Workers = SCORING.workers,
    output_format: OutputFormat = SCORING.output_format,
    id_key: IdKey = SCORING.id_key,
    score_key: ScoreKey = SCORING.score_key,
    skip_invalid: SkipInvalid = SCORING.skip_invalid,
    decontaminate: Decontaminate = SCORING.decontaminate,
    decontaminate_ngram: DecontaminateNgram = SCORING.decontaminate_ngram,
    decontaminate_ncd: DecontaminateNcd = SCORING.decontaminate_ncd,
    contaminated_output: ContaminatedOutput = SCORING.contaminated_output,
    quiet: Quiet = SCORING.quiet,
    report: Report = SCORING.report,
    force: Force = SCORING.force,
    batch_size: BatchSize = SCORING.batch_size,
    limit: Limit = SCORING.limit,
    max_text_bytes: MaxTextBytes = SCORING.max_text_bytes,
    max_line_bytes: MaxLineBytes = SCORING.max_line_bytes,
    shard: Shard = SCORING.shard,
    shard_by: ShardBy_ = DEFAULT_SHARD_BY,
    engine: Engine_ = DEFAULT_ENGINE,
    scheduler: Scheduler = SCORING.scheduler,
    blocksize: Blocksize = SCORING.blocksize,
    connect_timeout: ConnectTimeout = SCORING.connect_timeout,
    traceback: Traceback = False,
) -> None:
    """Write every record in input order with its alignment score added; streams as it goes.

    Example: zipfit score corpus.jsonl -t target.jsonl | jq -c 'select(.zipfit_score > 0.2)'
    """
    with errors(traceback):
        command_line = ctx.obj
        commands.score(_gather(ScoringOptions, locals()))


@app.command(cls=Command)
def merge(
    ctx: typer.Context,
    parts: Annotated[
        list[str],
        typer.Argument(help="Part files written with --shard.", show_default=False, metavar="PART"),
    ],
    top_k: TopK_ = SELECTION.top_k,
    fraction: Fraction = SELECTION.fraction,
    dedupe: Dedupe = SELECTION.dedupe,
    dedupe_near: DedupeNear = SELECTION.dedupe_near,
    budget_tokens: BudgetTokens = SELECTION.budget_tokens,
    budget_chars: BudgetChars = SELECTION.budget_chars,
    token_counter: TokenCounter = SELECTION.token_counter,
    output_format: OutputFormat = SCORING.output_format,
    id_key: IdKey = SCORING.id_key,
    max_line_bytes: MaxLineBytes = SCORING.max_line_bytes,
    output: Output_ = SCORING.output,
    quiet: Quiet = SCORING.quiet,
    report: Report = SCORING.report,
    force: Force = SCORING.force,
    traceback: Traceback = False,
) -> None:
    """Merge shard parts into the output one run over the whole input would give, byte for byte.

    Example: zipfit merge parts/part-*.jsonl -o selected.jsonl

    By default the parts' own selection (-k or --fraction) is applied; -k or --fraction
    here choose another one. Every shard must be present exactly once.
    """
    with errors(traceback):
        selection = _gather(SelectionOptions, locals())
        commands.merge(
            parts,
            selection,
            output,
            report,
            quiet,
            force,
            command_line=ctx.obj,
            output_format=output_format,
            id_key=id_key,
            max_line_bytes=max_line_bytes,
        )


@app.command(cls=Command)
def align(
    datasets: Annotated[
        list[str],
        typer.Argument(help="Candidate datasets (JSONL) to compare.", show_default=False, metavar="DATASET"),
    ],
    target: Targets = [],  # noqa: B006
    pairs: Annotated[
        int | None,
        typer.Option(
            "--pairs",
            metavar="N",
            min=1,
            max=MOST,
            help="Score this many sampled (record, target) pairs; all when fewer.",
        ),
    ] = 20000,
    seed: Annotated[
        int, typer.Option("--seed", metavar="S", min=-MOST, max=MOST, help="Seed of the pair sample.")
    ] = 0,
    text_key: TextKey = SCORING.text_key,
    target_key: TargetKey = SCORING.target_key,
    target_template: TargetTemplate = SCORING.target_template,
    compressor: Compressor = SCORING.compressor,
    level: Level = SCORING.level,
    skip_invalid: SkipInvalid = SCORING.skip_invalid,
    max_text_bytes: MaxTextBytes = SCORING.max_text_bytes,
    max_line_bytes: MaxLineBytes = SCORING.max_line_bytes,
    quiet: Quiet = SCORING.quiet,
    traceback: Traceback = False,
) -> None:
    """Print each dataset's alignment with the target (the paper's dataset-level score).

    Example: zipfit align candidate-a.jsonl candidate-b.jsonl -t target.jsonl

    Alignment is the mean of 1 - NCD over dataset x target pairs, with a 95% confidence
    interval; pairs are sampled (--pairs, --seed) when there are more. One JSON line per
    dataset goes to stdout.
    """
    with errors(traceback):
        opts = _gather(ScoringOptions, {**locals(), "sources": datasets, "workers": 1})
        for result in commands.align(datasets, opts, pairs, seed):
            sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
            sys.stdout.flush()
            if not quiet:
                how = "all" if result["exact"] else "sampled"
                print(
                    f"zipfit: {shown(result['dataset'])}: alignment {result['mean']:.4f} "
                    f"(95% CI {result['ci_low']:.4f}..{result['ci_high']:.4f}) over "
                    f"{result['n_pairs']:,} pairs ({how} of {result['total_pairs']:,})",
                    file=sys.stderr,
                )


@app.command(cls=Command)
def background(
    sources: Sources,
    size: Annotated[
        int, typer.Option("--size", "-n", metavar="N", min=1, max=MOST, help="Records to sample.")
    ] = SCORING.background_size,
    seed: Seed = SCORING.background_seed,
    output: Output_ = SCORING.output,
    text_key: TextKey = SCORING.text_key,
    max_text_bytes: MaxTextBytes = SCORING.max_text_bytes,
    max_line_bytes: MaxLineBytes = SCORING.max_line_bytes,
    limit: Limit = SCORING.limit,
    force: Force = SCORING.force,
    quiet: Quiet = SCORING.quiet,
    traceback: Traceback = False,
) -> None:
    """Write a seeded uniform sample of the sources' records: a background for --contrast.

    Example: zipfit background corpus.jsonl.gz -n 128 --seed 0 -o bg.jsonl

    Only records with a usable text (--text-key) are drawn; they are written as they
    are, in input order. Give the file to --background so that shards, merges, Dask runs
    and repeated runs all use the very same background.
    """
    with errors(traceback):
        commands.background(
            sources,
            size=size,
            seed=seed,
            text_key=text_key,
            max_text_bytes=max_text_bytes,
            max_line_bytes=max_line_bytes,
            limit=limit,
            output=output,
            force=force,
            quiet=quiet,
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

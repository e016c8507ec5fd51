"""The `zipfit` command line: parse options, call the library, map errors to exit codes.

With `flags.py` (each option's flag and help), the only module that imports typer.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import Annotated, Any, NoReturn, TypeVar

import orjson
import typer
from typer.core import TyperCommand, TyperGroup

from . import __version__, commands
from .errors import ExitCode, InputError, Terminated, ZipfitError
from .flags import (
    DEFAULT_ENGINE,
    DEFAULT_SHARD_BY,
    Adaptive,
    AdaptiveZ,
    Background,
    BackgroundSize,
    BatchSize,
    Blocksize,
    BudgetChars,
    BudgetTokens,
    Compressor,
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


class _Commands(TyperGroup):
    """Every command-line error in zipfit's one form: `zipfit: error: ...` on stderr and Click's
    exit code (2 for usage errors), instead of a framed usage block or a traceback."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        # The command line as given, for --report (Click hands it to commands as ctx.obj).
        extra.setdefault("obj", ["zipfit", *(sys.argv[1:] if args is None else args)])
        try:
            result = super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except typer.TyperException as exc:  # Click's errors (typer carries its own Click)
            ctx = getattr(exc, "ctx", None)
            message = exc.format_message()
            if type(exc).__name__ == "NoArgsIsHelpError":
                print(message, file=sys.stderr, flush=True)  # the help itself
            else:
                hint = f" (see '{ctx.command_path} -h')" if ctx is not None else ""
                print(f"zipfit: error: {message}{hint}", file=sys.stderr, flush=True)
            if not standalone_mode:
                raise
            sys.exit(int(getattr(exc, "exit_code", ExitCode.USAGE)))
        except typer.Abort:  # Ctrl-C or the end of input before a command ran
            print("zipfit: error: interrupted", file=sys.stderr, flush=True)
            sys.exit(int(ExitCode.INTERRUPTED))
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


# Typer labels arguments with Python types (`SOURCE <list[str]>`); the metavar says enough.
_TYPE_LABEL = re.compile(r" <(?:list\[str\]|str|int|float)>")


class _Command(TyperCommand):
    def format_help(self, ctx: Any, formatter: Any) -> None:
        super().format_help(ctx, formatter)
        # Blanked, not cut, so the help column stays aligned.
        blank = lambda match: " " * len(match[0])  # noqa: E731
        formatter.buffer[:] = [_TYPE_LABEL.sub(blank, piece) for piece in formatter.buffer]


app = typer.Typer(
    name="zipfit",
    cls=_Commands,
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


# The library names the setting an error is about; here it becomes the flag to look at.
SETTING_HINTS = {
    "skip_invalid": "use --skip-invalid to skip such records",
    "text_key": "see --text-key",
    "target_key": "see --target-key",
    "target_template": "see --target-template",
    "max_text_bytes": "see --max-text-bytes",
    "max_line_bytes": "see --max-line-bytes",
    "id_key": "see --id-key",
    "compressor": "see --compressor",
    "level": "see --level",
    "method": "see --method",
    "top_k": "see -k/--top-k and --fraction",
    "fraction": "see --fraction",
}


def _message(exc: ZipfitError) -> str:
    hints = [SETTING_HINTS[s] for s in exc.settings if s in SETTING_HINTS]
    return f"{exc} ({'; '.join(hints)})" if hints else str(exc)


def _what_was_written(stdout_written: bool) -> str:
    if stdout_written:
        return "no output file written, and what went to stdout is incomplete"
    return "no output written"


def _fail(message: str, code: ExitCode) -> NoReturn:
    print(f"zipfit: error: {message}", file=sys.stderr, flush=True)
    raise typer.Exit(int(code))


@contextmanager
def _errors(traceback: bool) -> Iterator[None]:
    """Turn library exceptions and signals into one-line messages and exit codes."""
    try:
        yield
    except ZipfitError as exc:
        if traceback:
            raise
        _fail(_message(exc), exc.exit_code)
    except BrokenPipeError:
        # The reader went away (`| head`): silence the final flush and exit like SIGPIPE would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(int(ExitCode.BROKEN_PIPE)) from None
    except KeyboardInterrupt:
        _fail(f"interrupted; {_what_was_written(False)}", ExitCode.INTERRUPTED)
    except Terminated as exc:
        if exc.signum == signal.SIGINT:
            _fail(f"interrupted; {_what_was_written(exc.stdout_written)}", ExitCode.INTERRUPTED)
        name = signal.Signals(exc.signum).name
        _fail(f"stopped by {name}; {_what_was_written(exc.stdout_written)}", ExitCode(128 + exc.signum))
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise typer.Exit(int(ExitCode.BROKEN_PIPE)) from None
        if traceback:
            raise
        _fail(f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}", ExitCode.FAILURE)


@app.command(cls=_Command)
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
    traceback: Traceback = False,
) -> None:
    """Write the records best aligned with the target, best first, each with its score.

    Example: zipfit select corpus.jsonl.gz -t humaneval.jsonl --target-template
    '{prompt}{canonical_solution}' -k 10000 -o selected.jsonl

    Ties keep input order. With neither -k nor --fraction every record is ranked.
    With -k, memory holds K records; otherwise records wait in a temporary file ($TMPDIR).
    --dedupe and budgets apply in rank order, before -k / --fraction count.
    """
    with _errors(traceback):
        command_line = ctx.obj
        commands.select(_gather(ScoringOptions, locals()), _gather(SelectionOptions, locals()))


@app.command(cls=_Command)
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
    traceback: Traceback = False,
) -> None:
    """Write every record in input order with its alignment score added; streams as it goes.

    Example: zipfit score corpus.jsonl -t target.jsonl | jq -c 'select(.zipfit_score > 0.2)'
    """
    with _errors(traceback):
        command_line = ctx.obj
        commands.score(_gather(ScoringOptions, locals()))


@app.command(cls=_Command)
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
    with _errors(traceback):
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
        )


@app.command(cls=_Command)
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
            help="Score this many sampled (record, target) pairs; all when fewer.",
        ),
    ] = 20000,
    seed: Annotated[int, typer.Option("--seed", metavar="S", help="Seed of the pair sample.")] = 0,
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
    with _errors(traceback):
        opts = _gather(ScoringOptions, {**locals(), "sources": datasets, "workers": 1})
        for result in commands.align(datasets, opts, pairs, seed):
            sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
            sys.stdout.flush()
            if not quiet:
                how = "all" if result["exact"] else "sampled"
                print(
                    f"zipfit: {result['dataset']}: alignment {result['mean']:.4f} "
                    f"(95% CI {result['ci_low']:.4f}..{result['ci_high']:.4f}) over "
                    f"{result['n_pairs']:,} pairs ({how} of {result['total_pairs']:,})",
                    file=sys.stderr,
                )


@app.command(cls=_Command)
def background(
    sources: Sources,
    size: Annotated[
        int, typer.Option("--size", "-n", metavar="N", min=1, help="Records to sample.")
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
    with _errors(traceback):
        commands.background(
            sources,
            size=size,
            seed=seed,
            text_key=text_key,
            max_text_bytes=max_text_bytes,
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


# The first SIGINT/SIGTERM/SIGHUP starts the shutdown; later ones are ignored, so a burst
# of signals cannot cut the cleanup short (leaving temporary files, or printing "Exception
# ignored" from a finalizer). The handlers stay installed meanwhile: switching to SIG_IGN
# inside one makes Python report a signal already pending as "ignored due to race condition".
_stopping = False


def _first_signal() -> bool:
    global _stopping
    first, _stopping = not _stopping, True
    return first


def _on_signal(signum: int, frame: object) -> None:
    if _first_signal():
        raise Terminated(signum)


def _on_interrupt(signum: int, frame: object) -> None:
    if _first_signal():
        raise KeyboardInterrupt


def _ignore_signals_while_exiting() -> None:
    # The interpreter puts its handlers back to the default while it exits (after the
    # atexit cleanup of multiprocessing), and a signal then would kill it with another code.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if _stopping or signal.getsignal(signum) in (_on_signal, _on_interrupt):
            signal.signal(signum, signal.SIG_IGN)


class _ClosedStream:
    """Stands in for a standard stream the shell closed (`<&-`, `>&-`): using it is an error."""

    def __init__(self, error: ZipfitError) -> None:
        self._error = error

    @property
    def buffer(self) -> Any:
        raise self._error

    def write(self, text: str) -> int:
        raise self._error

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _reserve_closed_std_streams() -> None:
    """Give closed descriptors 0-2 to /dev/null, so no file zipfit opens becomes 'stdout'.

    Closed stdin or stdout fail when used, with one line on stderr; a closed stderr takes
    the messages away, leaving the exit code.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            if fd == 0:
                sys.stdin = _ClosedStream(InputError("stdin is closed; give the input as a file"))
            elif fd == 1:
                message = "stdout is closed; give the output file with -o PATH"
                sys.stdout = _ClosedStream(ZipfitError(message))
            else:
                sys.stderr = open(fd, "w", closefd=False)


def main() -> None:
    """Console-script entry point."""
    _reserve_closed_std_streams()
    signal.signal(signal.SIGTERM, _on_signal)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # nohup asked to ignore it
        signal.signal(signal.SIGHUP, _on_signal)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not ignored by the shell
        signal.signal(signal.SIGINT, _on_interrupt)
    try:
        app()
    except ZipfitError as exc:  # a closed stream used outside a command, by --help say
        print(f"zipfit: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(int(exc.exit_code))
    finally:
        _ignore_signals_while_exiting()

"""The `zipfit` command line: parse options, call the library, map errors to exit codes.

This is the only module that imports typer.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import orjson
import typer

from . import __version__, commands, output
from .commands import ScoringOptions, SelectionOptions
from .compressors import COMPRESSORS
from .errors import ExitCode, InputError, Terminated, ZipfitError
from .records import DEFAULT_MAX_LINE_BYTES, STDIN

T = TypeVar("T")

EXIT_CODES_HELP = """Exit codes: 0 ok; 1 runtime failure (a worker died, a write failed);
2 usage error; 3 bad input (malformed JSONL, missing text field, missing file);
4 output exists (use --force); 129 hangup (SIGHUP); 130 interrupted (Ctrl-C);
141 output pipe closed early; 143 terminated (SIGTERM)."""

app = typer.Typer(
    name="zipfit",
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
Sources = Annotated[
    list[str],
    typer.Argument(
        help="Source JSONL files (.gz, .bz2, .xz, .zst read as such); - for stdin.", show_default=False
    ),
]
Targets = Annotated[
    list[str],
    typer.Option(
        "--target",
        "-t",
        help="Target examples: JSONL (or .txt, one per line). Repeatable.",
        show_default=False,
    ),
]
Output_ = Annotated[
    str, typer.Option("--output", "-o", help="Output JSONL (.gz/.zst compressed); - for stdout.")
]
TextKey = Annotated[
    str, typer.Option("--text-key", help="Source field with the text; dotted paths like meta.content work.")
]
TargetKey = Annotated[str, typer.Option("--target-key", help="Target field with the text.")]
TargetTemplate = Annotated[
    str | None,
    typer.Option(
        "--target-template", help="Build target text from fields, e.g. '{prompt}{canonical_solution}'."
    ),
]
Compressor = Annotated[
    str,
    typer.Option("--compressor", help=f"Compressor: {', '.join(COMPRESSORS)}. gzip is the paper's method."),
]
Level = Annotated[
    int | None,
    typer.Option(
        "--level",
        help="Compression level (gzip 1-9, default 9; lz4 0 or 3-12, default 0; zstd 1-22, default 3; "
        "isal 0-3, default 1).",
        show_default=False,
    ),
]
Workers = Annotated[
    int | None,
    typer.Option("--workers", "-j", min=1, help="Worker processes (default: all cores).", show_default=False),
]
ScoreKey = Annotated[str, typer.Option("--score-key", help="Field the score is written to.")]
SkipInvalid = Annotated[
    bool,
    typer.Option(
        "--skip-invalid",
        help="Skip records that cannot be scored and count them, instead of stopping with exit code 3.",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
Report = Annotated[
    Path | None,
    typer.Option("--report", help="Write the run summary, settings and target hash as JSON here."),
]
Force = Annotated[bool, typer.Option("--force", help="Replace an existing output file.")]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Records per task sent to a worker.")]
Limit = Annotated[
    int | None,
    typer.Option("--limit", min=1, help="Stop after this many source records (for trying things out)."),
]
MaxTextBytes = Annotated[
    int,
    typer.Option("--max-text-bytes", min=0, help="Texts longer than this are invalid records (0: no limit)."),
]
MaxLineBytes = Annotated[
    int,
    typer.Option(
        "--max-line-bytes",
        min=1,
        help="Lines longer than this are invalid records (too_long), never read into memory whole "
        "(default 256 MiB).",
        show_default=False,
    ),
]
Traceback = Annotated[bool, typer.Option("--traceback", help="Show the Python traceback of an error.")]
Shard = Annotated[
    str | None,
    typer.Option(
        "--shard",
        help="Process one N-th of the input (see --shard-by), writing a part for `zipfit merge`. "
        "I/N with 0 <= I < N, or 'slurm' for SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT.",
        show_default=False,
    ),
]


class ShardBy(str, Enum):
    """--shard-by values."""

    record = "record"
    file = "file"


ShardBy_ = Annotated[
    ShardBy,
    typer.Option(
        "--shard-by",
        help="record: every N-th record (each shard reads all input); file: every N-th source "
        "file (each shard reads only its files; for corpora of many files).",
    ),
]
TopK_ = Annotated[int | None, typer.Option("--top-k", "-k", min=1, help="Keep the K best records.")]


class EngineName(str, Enum):
    """--engine values."""

    local = "local"
    dask = "dask"


Engine_ = Annotated[
    EngineName,
    typer.Option(
        "--engine",
        help="Where scoring runs: local (this machine's cores) or dask (a Dask cluster; sources may "
        "then be globs or fsspec URLs like s3://...). Output is the same byte for byte.",
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS",
        help="With --engine dask: the scheduler, like tcp://10.0.0.5:8786 (default: "
        "$DASK_SCHEDULER_ADDRESS, else a local cluster of --workers processes). Workers must "
        "have zipfit-cli installed and see the source paths.",
        show_default=False,
    ),
]
Blocksize = Annotated[
    str | None,
    typer.Option(
        "--blocksize",
        help="With --engine dask: split uncompressed sources into partitions of this size, like "
        "16MiB (default: a quarter of the input per worker thread, within 256KiB..64MiB; 0: one "
        "partition per file). Compressed files are one partition each.",
        show_default=False,
    ),
]
Fraction = Annotated[
    float | None,
    typer.Option("--fraction", help="Keep this share of scored records, 0 < F <= 1 (rounded half up)."),
]


Method = Annotated[
    str,
    typer.Option(
        "--method",
        help="pairwise: the paper's mean NCD over every target; corpus: one compression per "
        "record against the whole target set as a dictionary (for thousands of targets).",
    ),
]
Decontaminate = Annotated[
    bool,
    typer.Option(
        "--decontaminate",
        help="Drop records that near-copy a target (a shared word 13-gram, see "
        "--decontaminate-ngram); they are counted, and kept aside with --contaminated-output.",
    ),
]
DecontaminateNgram = Annotated[
    int | None,
    typer.Option(
        "--decontaminate-ngram",
        min=0,
        help="Word n-gram length of --decontaminate, default 13 (0: off); implies --decontaminate.",
        show_default=False,
    ),
]
DecontaminateNcd = Annotated[
    float | None,
    typer.Option(
        "--decontaminate-ncd",
        help="Also drop records within this NCD of any target, e.g. 0.3 (implies --decontaminate).",
        show_default=False,
    ),
]
ContaminatedOutput = Annotated[
    str | None,
    typer.Option(
        "--contaminated-output",
        help="Write dropped near-copies here (implies --decontaminate).",
        show_default=False,
    ),
]
Dedupe = Annotated[
    bool,
    typer.Option("--dedupe", help="Drop exact duplicates (whitespace-normalised); the best-ranked stays."),
]
DedupeNear = Annotated[
    bool, typer.Option("--dedupe-near", help="Also drop near-duplicates (MinHash over word 5-grams).")
]
BudgetTokens = Annotated[
    int | None,
    typer.Option(
        "--budget-tokens",
        min=0,
        help="Take records in rank order up to this many tokens.",
        show_default=False,
    ),
]
BudgetChars = Annotated[
    int | None,
    typer.Option(
        "--budget-chars",
        min=0,
        help="Take records in rank order up to this many characters.",
        show_default=False,
    ),
]
TokenCounter = Annotated[
    str,
    typer.Option(
        "--token-counter",
        help="How --budget-tokens counts: approx (a GPT-2-style pre-tokenizer, built in) or "
        "tiktoken:ENCODING (needs tiktoken and its encoding file).",
    ),
]


def _gather(kind: type[T], values: dict[str, Any]) -> T:
    """Typer hands each option over as a parameter; collect the ones a dataclass names."""
    names = {f.name for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    return kind(**{k: v.value if isinstance(v, Enum) else v for k, v in values.items() if k in names})


def _what_was_written() -> str:
    if output.stdout_used:
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
        _fail(str(exc), exc.exit_code)
    except BrokenPipeError:
        # The reader went away (`| head`): silence the final flush and exit like SIGPIPE would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(int(ExitCode.BROKEN_PIPE)) from None
    except KeyboardInterrupt:
        _fail(f"interrupted; {_what_was_written()}", ExitCode.INTERRUPTED)
    except Terminated as exc:
        name = signal.Signals(exc.signum).name
        _fail(f"stopped by {name}; {_what_was_written()}", ExitCode(128 + exc.signum))
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise typer.Exit(int(ExitCode.BROKEN_PIPE)) from None
        if traceback:
            raise
        _fail(f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}", ExitCode.FAILURE)


@app.command()
def select(
    sources: Sources,
    target: Targets = [],  # noqa: B006 (typer reads the default, never mutates it)
    top_k: TopK_ = None,
    fraction: Fraction = None,
    output: Output_ = STDIN,
    text_key: TextKey = "text",
    target_key: TargetKey = "text",
    target_template: TargetTemplate = None,
    compressor: Compressor = "gzip",
    level: Level = None,
    method: Method = "pairwise",
    workers: Workers = None,
    score_key: ScoreKey = "zipfit_score",
    skip_invalid: SkipInvalid = False,
    dedupe: Dedupe = False,
    dedupe_near: DedupeNear = False,
    budget_tokens: BudgetTokens = None,
    budget_chars: BudgetChars = None,
    token_counter: TokenCounter = "approx",
    decontaminate: Decontaminate = False,
    decontaminate_ngram: DecontaminateNgram = None,
    decontaminate_ncd: DecontaminateNcd = None,
    contaminated_output: ContaminatedOutput = None,
    quiet: Quiet = False,
    report: Report = None,
    force: Force = False,
    batch_size: BatchSize = 256,
    limit: Limit = None,
    max_text_bytes: MaxTextBytes = 0,
    max_line_bytes: MaxLineBytes = DEFAULT_MAX_LINE_BYTES,
    shard: Shard = None,
    shard_by: ShardBy_ = ShardBy.record,
    engine: Engine_ = EngineName.local,
    scheduler: Scheduler = None,
    blocksize: Blocksize = None,
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
        commands.select(_gather(ScoringOptions, locals()), _gather(SelectionOptions, locals()))


@app.command()
def score(
    sources: Sources,
    target: Targets = [],  # noqa: B006
    output: Output_ = STDIN,
    text_key: TextKey = "text",
    target_key: TargetKey = "text",
    target_template: TargetTemplate = None,
    compressor: Compressor = "gzip",
    level: Level = None,
    method: Method = "pairwise",
    workers: Workers = None,
    score_key: ScoreKey = "zipfit_score",
    skip_invalid: SkipInvalid = False,
    decontaminate: Decontaminate = False,
    decontaminate_ngram: DecontaminateNgram = None,
    decontaminate_ncd: DecontaminateNcd = None,
    contaminated_output: ContaminatedOutput = None,
    quiet: Quiet = False,
    report: Report = None,
    force: Force = False,
    batch_size: BatchSize = 256,
    limit: Limit = None,
    max_text_bytes: MaxTextBytes = 0,
    max_line_bytes: MaxLineBytes = DEFAULT_MAX_LINE_BYTES,
    shard: Shard = None,
    shard_by: ShardBy_ = ShardBy.record,
    engine: Engine_ = EngineName.local,
    scheduler: Scheduler = None,
    blocksize: Blocksize = None,
    traceback: Traceback = False,
) -> None:
    """Write every record in input order with its alignment score added; streams as it goes.

    Example: zipfit score corpus.jsonl -t target.jsonl | jq -c 'select(.zipfit_score > 0.2)'
    """
    with _errors(traceback):
        commands.score(_gather(ScoringOptions, locals()))


@app.command()
def merge(
    parts: Annotated[
        list[str],
        typer.Argument(help="Part files written with --shard.", show_default=False, metavar="PART..."),
    ],
    top_k: TopK_ = None,
    fraction: Fraction = None,
    dedupe: Dedupe = False,
    dedupe_near: DedupeNear = False,
    budget_tokens: BudgetTokens = None,
    budget_chars: BudgetChars = None,
    token_counter: TokenCounter = "approx",
    output: Output_ = STDIN,
    quiet: Quiet = False,
    report: Report = None,
    force: Force = False,
    traceback: Traceback = False,
) -> None:
    """Merge shard parts into the output one run over the whole input would give, byte for byte.

    Example: zipfit merge parts/part-*.jsonl -o selected.jsonl

    By default the parts' own selection (-k or --fraction) is applied; -k or --fraction
    here choose another one. Every shard must be present exactly once.
    """
    with _errors(traceback):
        commands.merge(parts, _gather(SelectionOptions, locals()), output, report, quiet, force)


@app.command()
def align(
    datasets: Annotated[
        list[str],
        typer.Argument(
            help="Candidate datasets (JSONL) to compare.", show_default=False, metavar="DATASET..."
        ),
    ],
    target: Targets = [],  # noqa: B006
    pairs: Annotated[
        int | None,
        typer.Option(
            "--pairs", min=1, help="Score this many sampled (record, target) pairs; all when fewer."
        ),
    ] = 20000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the pair sample.")] = 0,
    text_key: TextKey = "text",
    target_key: TargetKey = "text",
    target_template: TargetTemplate = None,
    compressor: Compressor = "gzip",
    level: Level = None,
    skip_invalid: SkipInvalid = False,
    max_text_bytes: MaxTextBytes = 0,
    max_line_bytes: MaxLineBytes = DEFAULT_MAX_LINE_BYTES,
    quiet: Quiet = False,
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

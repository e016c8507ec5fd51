"""The `zipfit` command line: parse options, call the library, map errors to exit codes.

This is the only module that imports typer.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer

from . import __version__
from .compressors import COMPRESSORS
from .errors import ExitCode, Terminated, UsageError, ZipfitError
from .merge import run_merge
from .output import Output, check_output_path
from .pipeline import Engine, RunSettings, run_score, run_select, scored_records
from .records import STDIN, TextSpec, input_size, load_targets
from .report import Display, make_display, report_dict
from .runner import default_workers
from .scoring import TargetSet
from .shards import parse_shard
from .stats import RunStats

EXIT_CODES_HELP = """Exit codes: 0 ok; 1 runtime failure (a worker died, a write failed);
2 usage error; 3 bad input (malformed JSONL, missing text field, missing file);
4 output exists (use --force); 130 interrupted (Ctrl-C); 141 output pipe closed early;
143 terminated (SIGTERM)."""

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
        help="Compression level (gzip 1-9, default 9; lz4 0-12, default 0; zstd 1-22, default 3).",
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
Traceback = Annotated[bool, typer.Option("--traceback", help="Show the Python traceback of an error.")]
Shard = Annotated[
    str | None,
    typer.Option(
        "--shard",
        help="Process only records whose index % N == I, writing a part for `zipfit merge`. "
        "I/N with 0 <= I < N, or 'slurm' for SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT.",
        show_default=False,
    ),
]
TopK_ = Annotated[int | None, typer.Option("--top-k", "-k", min=1, help="Keep the K best records.")]


class EngineName(str, Enum):
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
        _fail("interrupted; no output written", ExitCode.INTERRUPTED)
    except Terminated:
        _fail("terminated; no output written", ExitCode.TERMINATED)
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise typer.Exit(int(ExitCode.BROKEN_PIPE)) from None
        if traceback:
            raise
        _fail(f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}", ExitCode.FAILURE)


def _settings(
    sources: list[str],
    targets: list[str],
    *,
    text_key: str,
    target_key: str,
    target_template: str | None,
    compressor: str,
    level: int | None,
    workers: int | None,
    score_key: str,
    skip_invalid: bool,
    batch_size: int,
    limit: int | None,
    max_text_bytes: int,
    shard: str | None,
) -> RunSettings:
    if not targets:
        raise UsageError("give the target examples with -t/--target PATH")
    if sum(p == STDIN for p in sources + targets) > 1:
        raise UsageError("stdin (-) can be read only once")
    target_texts = load_targets(targets, TextSpec.build(target_key, target_template, option="--target-key"))
    return RunSettings(
        sources=sources,
        targets=TargetSet.from_texts(target_texts, compressor, level),
        spec=TextSpec.build(text_key, max_bytes=max_text_bytes),
        workers=workers or default_workers(),
        batch_size=batch_size,
        skip_invalid=skip_invalid,
        score_key=score_key,
        limit=limit,
        shard=parse_shard(shard) if shard is not None else None,
    )


def _engine(
    name: EngineName, scheduler: str | None, blocksize: str | None, settings: RunSettings
) -> tuple[Engine, int | None]:
    """The engine that scores, and the input size in bytes for the progress bar."""
    if name is EngineName.local:
        if scheduler is not None or blocksize is not None:
            raise UsageError("--scheduler and --blocksize need --engine dask")
        return scored_records, input_size(settings.sources)
    if settings.shard is not None:
        raise UsageError("--shard is for runs without an engine; --engine dask splits the work itself")
    from .dask_engine import DaskEngine

    engine = DaskEngine.plan(
        settings.sources,
        scheduler=scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None,
        workers=settings.workers,
        blocksize=blocksize,
        split=settings.limit is None,  # --limit needs whole files, to count as the local reader does
    )
    return engine, engine.total_bytes


def _describe(settings: RunSettings, target_paths: list[str], **extra: Any) -> dict[str, Any]:
    """The settings a report and a shard part record (everything that decides the output)."""
    targets = settings.targets
    shard_index, shard_count = settings.shard or (0, 1)
    return {
        "sources": settings.sources,
        "targets": target_paths,
        "n_targets": len(targets),
        "target_sha256": targets.digest(),
        "compressor": targets.compressor.name,
        "level": targets.compressor.level,
        "text_key": settings.spec.key,
        "score_key": settings.score_key,
        "skip_invalid": settings.skip_invalid,
        "max_text_bytes": settings.spec.max_bytes,
        "limit": settings.limit,
        "shard_index": shard_index,
        "shard_count": shard_count,
        "workers": settings.workers,
        "batch_size": settings.batch_size,
        **extra,
    }


def _write_report(path: Path | None, stats: RunStats, settings: dict[str, Any]) -> None:
    if path is None:
        return
    with Output(str(path)) as out:
        out.write(orjson.dumps(report_dict(stats, settings), option=orjson.OPT_INDENT_2) + b"\n")


def _run(
    job: Callable[[Output, Display], RunStats],
    *,
    inputs: list[str],
    output: str,
    report: Path | None,
    quiet: bool,
    force: bool,
    label: str,
    what: str,
    describe: Callable[[], dict[str, Any]],
    total_bytes: int | None,
) -> None:
    """Run a job with an atomic output, a display, a summary and an optional report."""
    check_output_path(output, inputs, force)
    if report is not None:
        if output != STDIN and os.path.abspath(report) == os.path.abspath(output):
            raise UsageError("--report and -o/--output name the same file; choose another for the report")
        check_output_path(str(report), inputs, force=True)
    with make_display(quiet, total_bytes, label) as display:
        with Output(output) as out:
            stats = job(out, display)
        display.summary(stats, what)
    _write_report(report, stats, describe())


def _check_selection(top_k: int | None, fraction: float | None) -> None:
    if top_k is not None and fraction is not None:
        raise UsageError("give either --top-k or --fraction, not both")
    if fraction is not None and not 0 < fraction <= 1:
        raise UsageError(f"--fraction must be in (0, 1], got {fraction}")


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
    workers: Workers = None,
    score_key: ScoreKey = "zipfit_score",
    skip_invalid: SkipInvalid = False,
    quiet: Quiet = False,
    report: Report = None,
    force: Force = False,
    batch_size: BatchSize = 256,
    limit: Limit = None,
    max_text_bytes: MaxTextBytes = 0,
    shard: Shard = None,
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
    """
    with _errors(traceback):
        _check_selection(top_k, fraction)
        settings = _settings(
            sources,
            target,
            text_key=text_key,
            target_key=target_key,
            target_template=target_template,
            compressor=compressor,
            level=level,
            workers=workers,
            score_key=score_key,
            skip_invalid=skip_invalid,
            batch_size=batch_size,
            limit=limit,
            max_text_bytes=max_text_bytes,
            shard=shard,
        )

        def describe() -> dict[str, Any]:
            return _describe(
                settings,
                target,
                command="select",
                engine=engine.value,
                top_k=top_k,
                fraction=fraction,
                target_key=target_key,
                target_template=target_template,
            )

        # A shard cannot know the global count a fraction refers to: it writes its whole
        # ranking and `zipfit merge` applies the fraction.
        part = describe() if shard is not None else None
        part_fraction = None if part is not None else fraction
        scorer, total_bytes = _engine(engine, scheduler, blocksize, settings)

        def job(out: Output, display: Display) -> RunStats:
            return run_select(
                settings, out, display, top_k=top_k, fraction=part_fraction, part=part, engine=scorer
            )

        _run(
            job,
            inputs=sources + target,
            output=output,
            report=report,
            quiet=quiet,
            force=force,
            label="selecting",
            what="selected",
            describe=describe,
            total_bytes=total_bytes,
        )


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
    workers: Workers = None,
    score_key: ScoreKey = "zipfit_score",
    skip_invalid: SkipInvalid = False,
    quiet: Quiet = False,
    report: Report = None,
    force: Force = False,
    batch_size: BatchSize = 256,
    limit: Limit = None,
    max_text_bytes: MaxTextBytes = 0,
    shard: Shard = None,
    engine: Engine_ = EngineName.local,
    scheduler: Scheduler = None,
    blocksize: Blocksize = None,
    traceback: Traceback = False,
) -> None:
    """Write every record in input order with its alignment score added; streams as it goes.

    Example: zipfit score corpus.jsonl -t target.jsonl | jq -c 'select(.zipfit_score > 0.2)'
    """
    with _errors(traceback):
        settings = _settings(
            sources,
            target,
            text_key=text_key,
            target_key=target_key,
            target_template=target_template,
            compressor=compressor,
            level=level,
            workers=workers,
            score_key=score_key,
            skip_invalid=skip_invalid,
            batch_size=batch_size,
            limit=limit,
            max_text_bytes=max_text_bytes,
            shard=shard,
        )

        def describe() -> dict[str, Any]:
            return _describe(
                settings,
                target,
                command="score",
                engine=engine.value,
                target_key=target_key,
                target_template=target_template,
            )

        part = describe() if shard is not None else None
        scorer, total_bytes = _engine(engine, scheduler, blocksize, settings)

        def job(out: Output, display: Display) -> RunStats:
            return run_score(settings, out, display, part=part, engine=scorer)

        _run(
            job,
            inputs=sources + target,
            output=output,
            report=report,
            quiet=quiet,
            force=force,
            label="scoring",
            what="written",
            describe=describe,
            total_bytes=total_bytes,
        )


@app.command()
def merge(
    parts: Annotated[
        list[str],
        typer.Argument(help="Part files written with --shard.", show_default=False, metavar="PART..."),
    ],
    top_k: TopK_ = None,
    fraction: Fraction = None,
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
        _check_selection(top_k, fraction)

        def job(out: Output, display: Display) -> RunStats:
            return run_merge(parts, out, top_k=top_k, fraction=fraction)

        _run(
            job,
            inputs=parts,
            output=output,
            report=report,
            quiet=quiet,
            force=force,
            label="merging",
            what="selected",
            describe=lambda: {"command": "merge", "parts": parts, "top_k": top_k, "fraction": fraction},
            total_bytes=None,
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


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def main() -> None:
    """Console-script entry point."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    app()

"""The command-line spelling of every option: flag names, help text, value names.

Declared once as `Annotated` aliases and shared by the commands in `cli.py`; the
defaults live in `options.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .compressors import COMPRESSORS
from .errors import shown
from .options import SCORING

# The largest count or size an option takes (2**53, some 9e15): far above any real run, and
# an integer every JSON reader keeps exact in a report or a shard part. Larger values would
# overflow C integers deep inside (an OverflowError, not a message).
MOST = 2**53
MOST_WORKERS = 4096  # processes on one machine
MOST_SECONDS = 86400.0  # a day: --connect-timeout


def finite(minimum: float | None = None, maximum: float | None = None) -> Callable[[str | float], float]:
    """The parser of a float option: a finite number, at least `minimum` (and at most
    `maximum`). Click's float type takes inf and nan, and 1e400 overflows to inf; none is a
    weight, a bound or a threshold."""

    def parse(value: str | float) -> float:
        try:
            number = float(value)
        except ValueError:
            raise typer.BadParameter(f"'{shown(value)}' is not a number") from None
        if not math.isfinite(number):
            raise typer.BadParameter(f"'{shown(value)}' is not a finite number")
        if minimum is not None and number < minimum:
            raise typer.BadParameter(f"must be at least {minimum:g}, not {shown(value)}")
        if maximum is not None and number > maximum:
            raise typer.BadParameter(f"must be at most {maximum:g}, not {shown(value)}")
        return number

    return parse


def decimal(value: str | float) -> Decimal:
    """The parser of --fraction: the decimal number as typed (0.145 stays 0.145, where a float
    holds 0.14499999999999999), so that rounding half up rounds what the user wrote."""
    try:
        number = Decimal(value.strip() if isinstance(value, str) else repr(value))
    except InvalidOperation:
        raise typer.BadParameter(f"'{shown(value)}' is not a number") from None
    if not number.is_finite():
        raise typer.BadParameter(f"'{shown(value)}' is not a finite number")
    return number


Sources = Annotated[
    list[str],
    typer.Argument(
        metavar="SOURCE",
        help="Source JSONL files (.gz, .bz2, .xz, .zst read as such); - for stdin.",
        show_default=False,
    ),
]
Targets = Annotated[
    list[str],
    typer.Option(
        "--target",
        "-t",
        metavar="PATH",
        help="Target examples: JSONL (or .txt, one per line). Repeatable.",
        show_default=False,
    ),
]
Output_ = Annotated[
    str,
    typer.Option("--output", "-o", metavar="PATH", help="Output JSONL (.gz/.zst compressed); - for stdout."),
]
TextKey = Annotated[
    str,
    typer.Option(
        "--text-key", metavar="KEY", help="Source field with the text; dotted paths like meta.content work."
    ),
]
TargetKey = Annotated[str, typer.Option("--target-key", metavar="KEY", help="Target field with the text.")]
TargetTemplate = Annotated[
    str | None,
    typer.Option(
        "--target-template",
        metavar="TEMPLATE",
        help="Build target text from fields, e.g. '{prompt}{canonical_solution}'.",
    ),
]
Compressor = Annotated[
    str,
    typer.Option(
        "--compressor",
        metavar="NAME",
        help=f"Compressor: {', '.join(COMPRESSORS)}. gzip is the paper's method.",
    ),
]
Level = Annotated[
    int | None,
    typer.Option(
        "--level",
        metavar="N",
        help="Compression level (gzip 1-9, default 9; lz4 0 or 3-12, default 0; zstd 1-22, default 3; "
        "isal 0-3, default 1).",
        show_default=False,
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        "-j",
        min=1,
        max=MOST_WORKERS,
        metavar="N",
        help="Worker processes (default: all cores).",
        show_default=False,
    ),
]
ScoreKey = Annotated[str, typer.Option("--score-key", metavar="KEY", help="Field the score is written to.")]
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
    typer.Option(
        "--report", metavar="PATH", help="Write the run summary, settings and target hash as JSON here."
    ),
]
Force = Annotated[bool, typer.Option("--force", help="Replace an existing output file.")]
BatchSize = Annotated[
    int,
    typer.Option(
        "--batch-size",
        min=1,
        max=MOST,
        metavar="N",
        help="Records per task sent to a worker; a task also holds at most 8 MiB of lines.",
    ),
]
Limit = Annotated[
    int | None,
    typer.Option(
        "--limit",
        min=1,
        max=MOST,
        metavar="N",
        help="Stop after this many source records (for trying things out).",
    ),
]
MaxTextBytes = Annotated[
    int,
    typer.Option(
        "--max-text-bytes",
        min=0,
        max=MOST,
        metavar="N",
        help="Texts longer than this are invalid records (0: no limit).",
    ),
]
MaxLineBytes = Annotated[
    int,
    typer.Option(
        "--max-line-bytes",
        min=1,
        max=MOST,
        metavar="N",
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
        metavar="I/N",
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
        metavar="record|file",
        help="record: every N-th record (each shard reads all input); file: every N-th source "
        "file (each shard reads only its files; for corpora of many files).",
    ),
]
DEFAULT_SHARD_BY = ShardBy(SCORING.shard_by)
TopK_ = Annotated[
    int | None, typer.Option("--top-k", "-k", min=1, max=MOST, metavar="K", help="Keep the K best records.")
]


class EngineName(str, Enum):
    """--engine values."""

    local = "local"
    dask = "dask"


Engine_ = Annotated[
    EngineName,
    typer.Option(
        "--engine",
        metavar="local|dask",
        help="Where scoring runs: local (this machine's cores) or dask (a Dask cluster; sources may "
        "then be globs or fsspec URLs like s3://...). Output is the same byte for byte.",
    ),
]
DEFAULT_ENGINE = EngineName(SCORING.engine)
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
ConnectTimeout = Annotated[
    float,
    typer.Option(
        "--connect-timeout",
        metavar="SECONDS",
        parser=finite(minimum=0.0, maximum=MOST_SECONDS),
        help="With --engine dask and --scheduler: give up on a scheduler that has not answered "
        "within this many seconds.",
    ),
]
Blocksize = Annotated[
    str | None,
    typer.Option(
        "--blocksize",
        metavar="SIZE",
        help="With --engine dask: split uncompressed sources into partitions of this size, like "
        "16MiB (default: a quarter of the input per worker thread, within 256KiB..64MiB; 0: one "
        "partition per file). Compressed files are one partition each.",
        show_default=False,
    ),
]
Fraction = Annotated[
    Decimal | None,
    typer.Option(
        "--fraction",
        metavar="F",
        parser=decimal,
        help="Keep this share of scored records, 0 < F <= 1 (rounded half up).",
    ),
]


Method = Annotated[
    str,
    typer.Option(
        "--method",
        metavar="NAME",
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
        max=MOST,
        metavar="N",
        help="Word n-gram length of --decontaminate, default 13 (0: off); implies --decontaminate.",
        show_default=False,
    ),
]
DecontaminateNcd = Annotated[
    float | None,
    typer.Option(
        "--decontaminate-ncd",
        metavar="T",
        parser=finite(),
        help="Also drop records within this NCD of any target, e.g. 0.3 (implies --decontaminate).",
        show_default=False,
    ),
]
ContaminatedOutput = Annotated[
    str | None,
    typer.Option(
        "--contaminated-output",
        metavar="PATH",
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
        max=MOST,
        metavar="N",
        help="Take records in rank order up to this many tokens.",
        show_default=False,
    ),
]
BudgetChars = Annotated[
    int | None,
    typer.Option(
        "--budget-chars",
        min=0,
        max=MOST,
        metavar="N",
        help="Take records in rank order up to this many characters.",
        show_default=False,
    ),
]
TokenCounter = Annotated[
    str,
    typer.Option(
        "--token-counter",
        metavar="NAME",
        help="How --budget-tokens counts: approx (a GPT-2-style pre-tokenizer, built in) or "
        "tiktoken:ENCODING (needs tiktoken and its encoding file).",
    ),
]
Contrast = Annotated[
    bool,
    typer.Option(
        "--contrast",
        help="Score by contrast: mean NCD to a background sample of the corpus minus mean NCD to the "
        "targets (like the targets, unlike the rest). Default: the paper's score.",
    ),
]
Background = Annotated[
    list[str],
    typer.Option(
        "--background",
        metavar="PATH",
        help="With --contrast: background records (JSONL, text by --text-key; or .txt, one a line), "
        "e.g. from `zipfit background`. Repeatable. Default: a sample of the sources.",
        show_default=False,
    ),
]
BackgroundSize = Annotated[
    int,
    typer.Option(
        "--background-size",
        metavar="N",
        min=1,
        max=MOST,
        help="With --contrast and no --background: sample this many source records as background.",
    ),
]
Seed = Annotated[
    int, typer.Option("--seed", metavar="S", min=-MOST, max=MOST, help="Seed of the background sample.")
]
ContrastWeight = Annotated[
    float,
    typer.Option(
        "--contrast-weight",
        metavar="W",
        parser=finite(minimum=0.0),
        help="With --contrast: weight of the background term (0: the paper's ranking).",
    ),
]
Adaptive = Annotated[
    bool,
    typer.Option(
        "--adaptive",
        help="With -k: compare each record with the targets in a seeded order and stop, at checkpoints, "
        "records that a confidence bound says cannot reach the K best. Every score written is exact.",
    ),
]
AdaptiveZ = Annotated[
    float,
    typer.Option(
        "--adaptive-z",
        metavar="Z",
        parser=finite(minimum=0.5),
        help="Standard errors of the bound of --adaptive: larger stops fewer records, more safely.",
    ),
]
AdaptiveAudit = Annotated[
    int,
    typer.Option(
        "--adaptive-audit",
        metavar="N",
        min=0,
        help="With --adaptive: after the run, compare a seeded sample of N stopped records with every "
        "target, report how many belonged in the top K and put them there (0: no audit).",
    ),
]
OutputFormat = Annotated[
    str,
    typer.Option(
        "--output-format",
        metavar="records|ids|attributes",
        help="records: every field with the score added; ids: {ID_KEY, SCORE_KEY} a line; attributes: "
        "a Dolma attribute line (id, and the score as a span over the whole text).",
    ),
]
IdKey = Annotated[
    str,
    typer.Option(
        "--id-key", metavar="KEY", help="With --output-format ids or attributes: the record's id field."
    ),
]

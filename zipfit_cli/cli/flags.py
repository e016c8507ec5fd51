"""Every option of every command, declared once: flags, type, value name, default, help,
group, the commands that take it, and the setting the library names in its errors.

`optspec` builds from this table the commands' signatures and `--help`, the options
objects their bodies receive (`options.ScoringOptions` and the rest: a declaration's
`name` is the field it fills), the error hints (`exits.SETTING_HINTS`) and README.md's
options reference. Defaults that the library also uses are the library's constants.
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from pathlib import Path

from ..engines.dask_connect import DEFAULT_CONNECT_TIMEOUT
from ..files.compression import NAMED
from ..files.locations import STDIN
from ..files.reading import DEFAULT_MAX_LINE_BYTES
from ..scoring.adaptive import DEFAULT_AUDIT, DEFAULT_Z
from ..scoring.compressors import COMPRESSORS
from ..scoring.contrast import DEFAULT_BACKGROUND_SIZE, DEFAULT_WEIGHT
from ..scoring.scorers import SCORERS
from .optspec import MOST, MOST_SECONDS, MOST_WORKERS, Option, decimal, finite


class ShardBy(str, Enum):
    """--shard-by values."""

    record = "record"
    file = "file"


class BudgetFill(str, Enum):
    """--budget-fill values."""

    rank = "rank"
    shortest = "shortest"


class SummaryForm(str, Enum):
    """--summary values."""

    full = "full"
    line = "line"


class EngineName(str, Enum):
    """--engine values."""

    local = "local"
    dask = "dask"


SCORING = ("select", "score")  # the commands that score sources against targets
ALL = ("select", "score", "merge", "align", "background")
READ = ("select", "score", "align", "background")  # the commands that read sources
WRITE = ("select", "score", "merge", "background")  # the commands that write an output
RANK = ("select", "merge")
INPUT, TARGETS, SCORE, SELECT, DECONTAM, OUTPUT, RUN = (
    "Input",
    "Targets",
    "Scoring",
    "Selection",
    "Decontamination",
    "Output",
    "Running",
)
PACKED = ", ".join(NAMED)  # the compression endings (files.compression), as help names them
PACKED_DOC = ", ".join(f"`{ending}`" for ending in NAMED)
READS = (
    f"JSONL, or Parquet, CSV/TSV and Arrow (.arrow) by name ({PACKED} read as such), or a "
    "directory datasets.save_to_disk wrote; quoted globs and fsspec URLs like s3://... work; - for stdin."
)

# fmt: off
OPTIONS: tuple[Option, ...] = (
    # The positional arguments: each command's own.
    Option("sources", (), list[str], [], f"Source files: {READS}", INPUT, ("select", "score", "background"),
           metavar="SOURCE",
           doc=f"source files: JSONL; `.parquet`, `.csv`, `.tsv`, `.arrow` by name, and directories "
           f"`datasets.save_to_disk` wrote (see Formats); {PACKED_DOC} "
           "are decompressed by name; `-` reads stdin (compressed stdin is recognised by its magic "
           "bytes); quoted globs (`'data/*.jsonl.zst'`) and fsspec URLs (`s3://`, `gs://`, `hf://`, "
           "`https://`, `file://`, `memory://`, globs too) when fsspec and the backend are installed "
           "(`pip install 'zipfit-cli[remote]'`, plus `s3fs`, `gcsfs`, ...: a missing one is named)"),
    Option("sources", (), list[str], [], "Part files written with --shard.", INPUT, ("merge",),
           metavar="PART"),
    Option("sources", (), list[str], [], "Candidate datasets (JSONL) to compare.", INPUT, ("align",),
           metavar="DATASET"),
    # Input: what is read of each record
    Option("text_key", ("--text-key",), str, "text",
           "Source field with the text; dotted paths like meta.content work.", INPUT, READ, metavar="KEY",
           doc="source field with the text; dotted paths like `meta.content` reach into objects, but a field "
           "(or Parquet column) named exactly `meta.content` is taken first; `\\.` is a dot inside a name "
           "along a path (`doc.meta\\.content`); the same for `--target-key`, `--id-key` and template "
           "fields (`--score-key` is a field name as it is)"),
    Option("skip_invalid", ("--skip-invalid",), bool, False,
           "Skip records that cannot be scored and count them, instead of stopping with exit code 3.", INPUT,
           (*SCORING, "align"), hint="use --skip-invalid to skip such records"),
    Option("limit", ("--limit",), int | None, None,
           "Stop after this many source records (for trying things out).", INPUT, (*SCORING, "background"),
           metavar="N", min=1, max=MOST, quantity="count"),
    Option("max_text_bytes", ("--max-text-bytes",), int, 0,
           "Texts longer than this are invalid records (0: no limit).", INPUT, READ, metavar="N", min=0,
           max=MOST, quantity="size"),
    Option("max_line_bytes", ("--max-line-bytes",), int, DEFAULT_MAX_LINE_BYTES,
           "Lines longer than this are invalid records (too_long), never read into memory whole (default 256 "
           "MiB).", INPUT, ALL, metavar="N", show_default=False, doc_default="256 MiB", min=1, max=MOST,
           quantity="size"),
    # Targets
    Option("target", ("--target", "-t"), list[str], [],
           "Target examples: JSONL (or .txt, one per line). Repeatable.", TARGETS, (*SCORING, "align"),
           metavar="PATH", show_default=False,
           doc="target examples, JSONL (or `.txt`: one example a line); repeatable"),
    Option("target_key", ("--target-key",), str, "text", "Target field with the text.", TARGETS,
           (*SCORING, "align"), metavar="KEY"),
    Option("target_template", ("--target-template",), str | None, None,
           "Build target text from fields, e.g. '{prompt}{canonical_solution}'.", TARGETS,
           (*SCORING, "align"),
           metavar="TEMPLATE",
           doc="target text built from fields, e.g. `'{prompt}{canonical_solution}'`; fields are names or "
           "dotted paths as for keys, nothing else: indexing (`{x[0]}`), conversions (`{x!r}`), format "
           "specs (`{x:>4}`) and attribute access (`{x.__class__}`) are usage errors (exit 2)"),
    # Scoring
    Option("compressor", ("--compressor",), str, "gzip",
           f"Compressor: {', '.join(COMPRESSORS)}. gzip is the paper's method.", SCORE, (*SCORING, "align"),
           metavar="NAME"),
    Option("level", ("--level",), int | None, None,
           "Compression level (gzip 1-9, default 9; lz4 0 or 3-12, default 0; zstd 1-22, default 3; "
           "isal 0-3, default 1).", SCORE, (*SCORING, "align"), metavar="N", show_default=False,
           doc_default="per compressor"),
    Option("method", ("--method",), str, "pairwise",
           "pairwise: the paper's mean NCD over every target; corpus: one compression per record against "
           "the whole target set as a dictionary (for thousands of targets); contrast: as --contrast.",
           SCORE, SCORING, metavar="NAME",
           doc=f"one of {', '.join(f'`{m}`' for m in SCORERS)}: `pairwise` is the paper's mean NCD over "
           "every target; `corpus` one compression per record against the target set as a dictionary "
           "(below); `contrast` the same as `--contrast`"),
    Option("contrast", ("--contrast",), bool, False,
           "Score by contrast: mean NCD to a background sample of the corpus minus mean NCD to the targets "
           "(like the targets, unlike the rest). Default: the paper's score.", SCORE, SCORING),
    Option("background", ("--background",), list[str], [],
           "With --contrast: background records (JSONL, text by --text-key; or .txt, one a line), e.g. from "
           "`zipfit background`. Repeatable. Default: a sample of the sources.", SCORE, SCORING,
           metavar="PATH", show_default=False, doc_default="a sample of the sources"),
    Option("background_size", ("--background-size",), int, DEFAULT_BACKGROUND_SIZE,
           "With --contrast and no --background: sample this many source records as background.", SCORE,
           SCORING, metavar="N", min=1, max=MOST, quantity="count"),
    Option("background_size", ("--size", "-n"), int, DEFAULT_BACKGROUND_SIZE, "Records to sample.", SCORE,
           ("background",), metavar="N", min=1, max=MOST, quantity="count"),
    Option("background_seed", ("--seed",), int, 0,
           "Seed of the background sample, and of --adaptive's order of targets and samples.", SCORE,
           SCORING, metavar="S", min=-MOST, max=MOST),
    Option("background_seed", ("--seed",), int, 0, "Seed of the background sample.", SCORE, ("background",),
           metavar="S", min=-MOST, max=MOST),
    Option("contrast_weight", ("--contrast-weight",), float, DEFAULT_WEIGHT,
           "With --contrast: weight of the background term (0: the paper's ranking).", SCORE, SCORING,
           metavar="W", parser=finite(minimum=0.0)),
    Option("adaptive", ("--adaptive",), bool, False,
           "With -k: compare each record with the targets in a seeded order and stop, at checkpoints, "
           "records that a confidence bound says cannot reach the K best. Every score written is exact.",
           SCORE, ("select",)),
    Option("adaptive_z", ("--adaptive-z",), float, DEFAULT_Z,
           "Standard errors of the bound of --adaptive: larger stops fewer records, more safely.", SCORE,
           ("select",), metavar="Z", parser=finite(minimum=0.5)),
    Option("adaptive_audit", ("--adaptive-audit",), int, DEFAULT_AUDIT,
           "With --adaptive: after the run, compare a seeded sample of N stopped records with every target, "
           "report how many belonged in the top K and put them there (0: no audit).", SCORE, ("select",),
           metavar="N", min=0, max=MOST, quantity="count"),
    Option("pairs", ("--pairs",), int | None, 20000,
           "Score this many sampled (record, target) pairs; all when fewer.", SCORE, ("align",), metavar="N",
           min=1, max=MOST, quantity="count"),
    Option("seed", ("--seed",), int, 0, "Seed of the pair sample.", SCORE, ("align",), metavar="S",
           min=-MOST, max=MOST),
    # Selection
    Option("top_k", ("--top-k", "-k"), int | None, None, "Keep the K best records.", SELECT, RANK,
           metavar="K", hint="see -k/--top-k and --fraction", min=1, max=MOST, quantity="count"),
    Option("fraction", ("--fraction",), Decimal | None, None,
           "Keep this share of scored records, 0 < F <= 1 (rounded half up).", SELECT, RANK, metavar="F",
           parser=decimal),
    Option("coverage", ("--coverage",), Decimal, Decimal(0),
           "Take this share of the K records, 0 <= F <= 1 (rounded half up), by covering the targets: "
           "round the targets, each taking its nearest record not yet taken; the rest by score (0: off, "
           "1: all). Needs -k or --fraction. Recommended for a task's data: --contrast --coverage 0.25.",
           SELECT, ("select",), metavar="F", parser=decimal,
           doc="take this share of the K records, 0 <= F <= 1 (rounded half up), by covering the targets: "
           "going round the targets in target-file order, each takes its nearest record not yet taken "
           "(by NCD, with `--contrast` minus the background term), then the rest of K by score; the "
           "coverage picks are written first, the scores written stay the method's, and the summary and "
           "report count each rule's records (`selected_by`). Needs `-k` or `--fraction`; refused with "
           "`--adaptive` and `--method corpus` (exit 2). Shard parts carry each record's distances and "
           "`zipfit merge` selects with the parts' share. The recommended setting is `--contrast "
           "--coverage 0.25`. See Which score to use"),
    Option("min_score", ("--min-score",), float | None, None,
           "Keep only records scoring at least S (any finite number: contrast scores are often below 0), "
           "compared with the score as written. Applied first: -k, --fraction, --dedupe and budgets choose "
           "among them.", SELECT, (*SCORING, "merge"), metavar="S", parser=finite(), show_default=False,
           doc="keep only records scoring at least S, any finite number (contrast scores are often all "
           "below 0), compared with the very float the output shows (so `jq 'select(.zipfit_score >= S)'` "
           "keeps the same records, ties included); applied before `-k`, `--fraction` (still a share of "
           "every record scored), `--dedupe` and budgets; `score` writes the records at or above S in input "
           "order. Counted as `below_min_score`. See Selection rules"),
    Option("dedupe", ("--dedupe",), bool, False,
           "Drop exact duplicates (whitespace-normalised); the best-ranked stays.", SELECT, RANK),
    Option("dedupe_near", ("--dedupe-near",), bool, False,
           "Also drop near-duplicates (MinHash over word 5-grams).", SELECT, RANK),
    Option("budget_tokens", ("--budget-tokens",), int | None, None,
           "Take records in rank order up to this many tokens.", SELECT, RANK, metavar="N", min=0, max=MOST,
           show_default=False, quantity="count"),
    Option("budget_chars", ("--budget-chars",), int | None, None,
           "Take records in rank order up to this many characters.", SELECT, RANK, metavar="N", min=0,
           max=MOST, show_default=False, quantity="count"),
    Option("budget_fill", ("--budget-fill",), BudgetFill, BudgetFill.rank.value,
           "How a budget is spent: rank (the best-ranked records first, a prefix of the ranking) or "
           "shortest (the shortest of the records -k or --fraction selected, as many as fit; written in "
           "rank order): more of the selection in the budget, better on most kinds measured, worse where a "
           "kind's styles differ in length. See Which score to use.", SELECT, RANK, metavar="rank|shortest"),
    Option("token_counter", ("--token-counter",), str, "approx",
           "How --budget-tokens counts: approx (a GPT-2-style pre-tokenizer, built in), chars (characters, "
           "as --budget-chars) or tiktoken:ENCODING (needs tiktoken and its encoding file).", SELECT, RANK,
           metavar="NAME"),
    # Decontamination
    Option("decontaminate", ("--decontaminate",), bool, False,
           "Drop records that near-copy a target (a shared word 13-gram, see --decontaminate-ngram); they "
           "are counted, and kept aside with --contaminated-output.", DECONTAM, SCORING,
           doc="drop near-copies of targets before scoring (above)"),
    Option("decontaminate_ngram", ("--decontaminate-ngram",), int | None, None,
           "Word n-gram length of --decontaminate, default 13 (0: off); implies --decontaminate.", DECONTAM,
           SCORING, metavar="N", min=0, max=MOST, show_default=False, doc_default="13"),
    Option("decontaminate_ncd", ("--decontaminate-ncd",), float | None, None,
           "Also drop records within this NCD of any target, e.g. 0.3 (implies --decontaminate).", DECONTAM,
           SCORING, metavar="T", parser=finite(), show_default=False, doc_default="off"),
    Option("contaminated_output", ("--contaminated-output",), str | None, None,
           "Write dropped near-copies here, in the format its name gives as for -o (implies "
           "--decontaminate).", DECONTAM, SCORING, metavar="PATH",
           show_default=False),
    # Output
    Option("output", ("--output", "-o"), str, STDIN,
           f"Output file: JSONL, compressed by name ({PACKED}), Parquet (.parquet) or CSV/TSV (.csv, "
           ".tsv, compressed too); - for stdout. score, merge: DIR/ (a trailing /) writes one part a "
           "worker and a manifest last.", OUTPUT, WRITE, metavar="PATH", doc_default="`-` (stdout)",
           doc=f"output file, written atomically; {PACKED_DOC} are compressed, `.parquet` is "
           "Parquet, `.csv` and `.tsv` (also compressed) CSV and TSV (see Formats); stdout is JSONL. For "
           "`score`, a name ending in `/` (a local directory or an fsspec URL) is a directory output: the "
           "workers write one part each, a manifest comes last (see \"Directory outputs\")"),
    Option("output_name", ("--output-name",), str | None, None,
           "With -o DIR/: the parts' file names, {n} their number in input order; the ending picks the "
           "format and compression as for -o (default part-{n:05d}.jsonl).", OUTPUT, ("score", "merge"),
           metavar="PATTERN", show_default=False, doc_default="`part-{n:05d}.jsonl`",
           doc="with a directory output (`-o DIR/`): the parts' names, a Python format string of `n`, the "
           "part's number in input order (`part-{n:05d}.jsonl.zst`, `scores-{n}.csv`); the ending picks the "
           "format and compression as for `-o`. Attribute files are named after their sources instead; for "
           "`merge`, `n` is the shard's number"),
    Option("output_format", ("--output-format",), str, "records",
           "records: every field with the score added; ids: {ID_KEY, SCORE_KEY} a line; attributes: a Dolma "
           "attribute line (id, and the score as a span over the whole text; one a document, in input "
           "order: score and merge only).", OUTPUT, (*SCORING, "merge"),
           metavar="records|ids|attributes",
           doc="what each output line holds: the whole record with its score; `{\"<id key>\": ..., "
           "\"<score key>\": ...}`; or a Dolma attribute line, `{\"id\": ..., \"attributes\": {\"<score "
           "key>\": [[0, <characters>, score]]}}` (the score as a span over the whole text), which a Dolma "
           "mixer filters on; one line a document in input order, so `select` (rank order) refuses it: use "
           "`score`. Shards write records: give the format to `zipfit merge`"),
    Option("id_key", ("--id-key",), str, "id",
           "With --output-format ids or attributes: the record's id field.", OUTPUT, (*SCORING, "merge"),
           metavar="KEY",
           doc="with `--output-format ids` or `attributes`: the record's id field, written under the key's "
           "field name (`--id-key 'doc\\.id'` writes `doc.id`). A record without the id is an error (exit "
           "3: the first record is checked before scoring starts); with `ids`, a score key equal to that "
           "name is refused (exit 2), in `merge` too, and `merge` with `attributes` refuses parts written "
           "with it (their ids were replaced)"),
    Option("score_key", ("--score-key",), str, "zipfit_score", "Field the score is written to.", OUTPUT,
           SCORING, metavar="KEY", doc="field the score is written to (replaced if the record has it)"),
    Option("report", ("--report",), Path | None, None,
           "Write the run summary, settings and target hash as JSON here.", OUTPUT, (*SCORING, "merge"),
           metavar="PATH",
           doc="write the summary as JSON: command line, versions, settings, a SHA-256 of the target texts, "
           "the inputs' sizes and times, counts, warnings; an output like the others: an existing one needs "
           "`--force` (exit 4), and it is put in place atomically, with the output"),
    Option("force", ("--force",), bool, False, "Replace an existing output file.", OUTPUT, WRITE,
           env="ZIPFIT_FORCE"),
    Option("quiet", ("--quiet", "-q"), bool, False, "Print nothing but errors.", OUTPUT, ALL,
           doc="print nothing on stderr but errors", env="ZIPFIT_QUIET"),
    Option("summary", ("--summary",), SummaryForm | None, None,
           "The summary at the end of a run: full (counts, scores, a histogram, outputs) or line (one "
           "line of key=value pairs, for logs and grep). Default: full when stderr is a terminal, else "
           "line.", OUTPUT, (*SCORING, "merge"), metavar="full|line", show_default=False,
           doc_default="`full` on a terminal, else `line`", env="ZIPFIT_SUMMARY"),
    Option("strict", ("--strict",), bool, False,
           "End with exit code 6 when the run warned (an empty source or selection, a source named "
           "twice, ...); the outputs are still written.", OUTPUT, (*SCORING, "merge"), env="ZIPFIT_STRICT"),
    # Running
    Option("workers", ("--workers", "-j"), int | None, None,
           "Worker processes (default: all cores); merge -o DIR/ writes that many parts at once.", RUN,
           (*SCORING, "merge"), metavar="N", min=1, max=MOST_WORKERS, show_default=False,
           doc_default="all cores", doc="worker processes; `-j 1` scores in the main process; "
           "`merge -o DIR/` writes that many `score` parts at once (a merge into one file uses one)",
           env="ZIPFIT_WORKERS"),
    Option("batch_size", ("--batch-size",), int, 256,
           "Records per task sent to a worker; a task also holds at most 8 MiB of lines.", RUN, SCORING,
           metavar="N",
           doc="records per task sent to a worker (does not change the output); a task also holds at most "
           "8 MiB of lines (a larger record goes alone), so memory stays about workers × 3 tasks × 8 MiB "
           "plus the K records kept, whatever the record size; a record over 8 MiB costs about 5 times its "
           "size in the worker scoring it and up to 6 in the main process (five 20 MB records, `select -k 1 "
           "-j 2`: 377 MB in all, 98 MB for a tiny input)", min=1, max=MOST, quantity="count"),
    Option("shard", ("--shard",), str | None, None,
           "Process one N-th of the input (see --shard-by), writing a part for `zipfit merge`. I/N with "
           "0 <= I < N, or 'slurm' for SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT.", RUN, SCORING,
           metavar="I/N", show_default=False, doc="process one shard and write a part for `zipfit merge` "
           "(below)"),
    Option("shard_by", ("--shard-by",), ShardBy, ShardBy.record.value,
           "record: every N-th record (each shard reads all input); file: every N-th source file (each "
           "shard reads only its files; for corpora of many files).", RUN, SCORING, metavar="record|file"),
    Option("engine", ("--engine",), EngineName, EngineName.local.value,
           "Where scoring runs: local (this machine's cores) or dask (a Dask cluster; sources may then be "
           "globs or fsspec URLs like s3://...). Output is the same byte for byte.", RUN, SCORING,
           metavar="local|dask", env="ZIPFIT_ENGINE"),
    Option("scheduler", ("--scheduler",), str | None, None,
           "With --engine dask: the scheduler, like tcp://10.0.0.5:8786 (default: $DASK_SCHEDULER_ADDRESS, "
           "else a local cluster of --workers processes). Workers must have zipfit-cli installed and see the "
           "source paths.", RUN, SCORING, metavar="ADDRESS", show_default=False, env="ZIPFIT_SCHEDULER"),
    Option("blocksize", ("--blocksize",), int | None, None,
           "With --engine dask: split uncompressed JSONL into partitions of this size, like 16MiB, and "
           "Parquet, Arrow files and saved datasets into runs of row groups, record batches or data files "
           "of about it (default: a quarter of the input per worker thread, within 256KiB..64MiB; at least "
           "1KiB, or 0: one partition per file). Compressed files, CSV/TSV and Arrow streams are one "
           "partition each. With a "
           "directory output (-o DIR/), on either engine: the input a part holds (default: 1/64 of the "
           "input, within 256KiB..16MiB).",
           RUN, SCORING, metavar="SIZE", show_default=False, min=0, max=MOST, quantity="size"),
    Option("connect_timeout", ("--connect-timeout",), float, DEFAULT_CONNECT_TIMEOUT,
           "With --engine dask and --scheduler: give up on a scheduler that has not answered within this "
           "many seconds.", RUN, SCORING, metavar="SECONDS", parser=finite(minimum=0.0, maximum=MOST_SECONDS),
           doc="give up on a `--scheduler` that has not answered by then: one line, exit 1"),
    Option("spill_dir", ("--spill-dir",), str | None, None,
           "With --engine dask, select --fraction or --min-score (without -k): where workers write their "
           "sorted runs of selected records for the client to merge, a directory or fsspec URL both see "
           "(default: the system's temporary directory with a local cluster; with --scheduler and no "
           "--spill-dir, every record goes to the client).", RUN, ("select",), metavar="URL",
           show_default=False, doc_default="the temporary directory (local cluster)",
           doc="with `--engine dask` and `select --fraction` or `--min-score` (no `-k`): where the workers "
           "write their selected records as sorted runs for the client to merge (a local path all of them "
           "share, or an fsspec URL); removed at the end, also on failure or a stop. Without it, a local "
           "cluster uses the system's temporary directory and a `--scheduler` run sends every scored record "
           "to the client (see \"A Dask cluster\")"),
    Option("traceback", ("--traceback",), bool, False, "Show the Python traceback of an error.", RUN, ALL),
)
# fmt: on

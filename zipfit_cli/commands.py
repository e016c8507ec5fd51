"""What each command does, from parsed options to outputs: the CLI's body, without typer.

`cli.py` declares the options; the functions here check them, build the run settings,
open outputs atomically, drive the display, and write the report.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from .errors import InputError, UsageError
from .merge import run_merge
from .output import Output, check_distinct, check_output_path, publish_all
from .pipeline import Engine, Filters, RunSettings, run_score, run_select, scored_records
from .records import DEFAULT_MAX_LINE_BYTES, STDIN, TextSpec, input_size, load_targets
from .report import Display, make_display, report_dict
from .runner import default_workers
from .scoring import TargetSet
from .shards import INDEX_KEY, PART_KEY, parse_shard
from .stats import RunStats


@dataclass
class ScoringOptions:
    """Options shared by `score` and `select`, as the user gave them."""

    sources: list[str]
    target: list[str]
    output: str = STDIN
    text_key: str = "text"
    target_key: str = "text"
    target_template: str | None = None
    compressor: str = "gzip"
    level: int | None = None
    method: str = "pairwise"
    workers: int | None = None
    score_key: str = "zipfit_score"
    skip_invalid: bool = False
    quiet: bool = False
    report: Path | None = None
    force: bool = False
    batch_size: int = 256
    limit: int | None = None
    max_text_bytes: int = 0
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    shard: str | None = None
    shard_by: str = "record"
    engine: str = "local"
    scheduler: str | None = None
    blocksize: str | None = None
    decontaminate: bool = False
    decontaminate_ngram: int | None = None  # None: 13 when decontaminating
    decontaminate_ncd: float | None = None
    contaminated_output: str | None = None


@dataclass
class SelectionOptions:
    """What `select` keeps, and the rules it keeps it by."""

    top_k: int | None = None
    fraction: float | None = None
    dedupe: bool = False
    dedupe_near: bool = False
    budget_tokens: int | None = None
    budget_chars: int | None = None
    token_counter: str = "approx"

    def check(self) -> None:
        if self.top_k is not None and self.fraction is not None:
            raise UsageError("give either --top-k or --fraction, not both")
        if self.fraction is not None and not 0 < self.fraction <= 1:
            raise UsageError(f"--fraction must be in (0, 1], got {self.fraction}")
        if self.budget_tokens is not None and self.budget_chars is not None:
            raise UsageError("give either --budget-tokens or --budget-chars, not both")
        if self.token_counter != "approx" and self.budget_tokens is None:
            raise UsageError("--token-counter goes with --budget-tokens")

    def filters(self) -> Filters:
        from .budget import make_counter
        from .dedupe import Deduper

        budget = self.budget_tokens if self.budget_tokens is not None else self.budget_chars
        counter = None
        if budget is not None:
            counter = make_counter("chars" if self.budget_chars is not None else self.token_counter)
        dedupe = Deduper(near=self.dedupe_near) if self.dedupe or self.dedupe_near else None
        return Filters(dedupe=dedupe, budget=budget, counter=counter)


def build_settings(opts: ScoringOptions) -> RunSettings:
    """Targets loaded and compressed once, scorer and decontaminator ready to ship to workers."""
    if not opts.target:
        raise UsageError("give the target examples with -t/--target PATH")
    if sum(p == STDIN for p in opts.sources + opts.target) > 1:
        raise UsageError("stdin (-) can be read only once")
    if not opts.score_key:
        raise UsageError("--score-key needs a field name")
    # A dotted text key's first part is the object holding the text: the score would replace it.
    if opts.score_key in (opts.text_key, opts.text_key.split(".")[0], INDEX_KEY, PART_KEY):
        raise UsageError(
            f"--score-key {opts.score_key!r} would overwrite a field zipfit needs; choose another"
        )
    if opts.shard_by != "record" and opts.shard is None:
        raise UsageError("--shard-by goes with --shard")
    if opts.method not in ("pairwise", "corpus"):
        raise UsageError(f"--method is pairwise or corpus, not {opts.method!r}")
    texts = load_targets(
        opts.target, TextSpec.build(opts.target_key, opts.target_template, option="--target-key")
    )
    targets = TargetSet.from_texts(texts, opts.compressor, opts.level)
    settings = RunSettings(
        sources=opts.sources,
        targets=targets,
        spec=TextSpec.build(opts.text_key, max_bytes=opts.max_text_bytes, max_line_bytes=opts.max_line_bytes),
        workers=opts.workers or default_workers(),
        batch_size=opts.batch_size,
        skip_invalid=opts.skip_invalid,
        score_key=opts.score_key,
        limit=opts.limit,
        shard=parse_shard(opts.shard) if opts.shard is not None else None,
        shard_by=opts.shard_by,
    )
    if opts.shard_by == "file" and opts.limit is not None:
        raise UsageError("--limit counts records across all files; it cannot go with --shard-by file")
    if opts.method == "corpus":
        from .corpus import CorpusScorer

        settings.scorer = CorpusScorer.from_targets(texts, opts.compressor, targets.compressor.level)
    asked = (opts.decontaminate_ngram, opts.decontaminate_ncd, opts.contaminated_output)
    if opts.decontaminate or any(option is not None for option in asked):
        from .decontam import Decontaminator

        ngram = 13 if opts.decontaminate_ngram is None else opts.decontaminate_ngram
        settings.decontaminate = Decontaminator.from_targets(
            texts,
            ngram=ngram or None,
            ncd_threshold=opts.decontaminate_ncd,
            compressor=opts.compressor,
            level=targets.compressor.level,
        )
    return settings


def _engine(opts: ScoringOptions, settings: RunSettings) -> tuple[Engine, int | None]:
    """The engine that scores, and the input size in bytes for the progress bar."""
    if opts.engine == "local":
        if opts.scheduler is not None or opts.blocksize is not None:
            raise UsageError("--scheduler and --blocksize need --engine dask")
        return scored_records, input_size(settings.sources)
    if settings.shard is not None:
        raise UsageError("--shard is for runs without an engine; --engine dask splits the work itself")
    from .dask_engine import DaskEngine

    engine = DaskEngine.plan(
        settings.sources,
        scheduler=opts.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None,
        workers=settings.workers,
        blocksize=opts.blocksize,
        split=settings.limit is None,  # --limit needs whole files, to count as the local reader does
    )
    return engine, engine.total_bytes


def describe(opts: ScoringOptions, settings: RunSettings, **extra: Any) -> dict[str, Any]:
    """The settings a report and a shard part record: everything that decides the output."""
    targets = settings.targets
    shard_index, shard_count = settings.shard or (0, 1)
    decontam = settings.decontaminate
    return {
        "sources": settings.sources,
        "targets": opts.target,
        "n_targets": len(targets),
        "target_sha256": targets.digest(),
        "target_key": opts.target_key,
        "target_template": opts.target_template,
        "compressor": targets.compressor.name,
        "level": targets.compressor.level,
        "method": opts.method,
        "text_key": settings.spec.key,
        "score_key": settings.score_key,
        "skip_invalid": settings.skip_invalid,
        "max_text_bytes": settings.spec.max_bytes,
        "max_line_bytes": settings.spec.max_line_bytes,
        "limit": settings.limit,
        "decontaminate": None
        if decontam is None
        else {"ngram": decontam.ngram, "ncd_threshold": decontam.ncd_threshold},
        "shard_index": shard_index,
        "shard_count": shard_count,
        "shard_by": settings.shard_by,
        "engine": opts.engine,
        "workers": settings.workers,
        "batch_size": settings.batch_size,
        **extra,
    }


def _check_outputs(
    output: str, report: Path | None, extra: list[str], inputs: list[str], force: bool
) -> None:
    named = [output, *extra] + ([str(report)] if report is not None else [])
    if named.count(STDIN) > 1:
        raise UsageError("only one of -o, --report and --contaminated-output can be stdout (-)")
    check_distinct(named)
    check_output_path(output, inputs, force)
    for path in extra:
        check_output_path(path, inputs, force)
    if report is not None:
        check_output_path(str(report), inputs, force=True)


def run_job(
    job: Callable[[Output, Display, dict[str, Output]], RunStats],
    *,
    inputs: list[str],
    output: str,
    report: Path | None,
    quiet: bool,
    force: bool,
    label: str,
    what: str,
    settings: Callable[[], dict[str, Any]],
    total_bytes: int | None,
    side_outputs: dict[str, str] | None = None,
) -> RunStats:
    """Run a job with atomic outputs, a display, a summary and an optional JSON report."""
    side = side_outputs or {}
    _check_outputs(output, report, list(side.values()), inputs, force)
    display = make_display(quiet, total_bytes, label)
    out = Output(output, replace=force)
    sides = {name: Output(path, replace=force) for name, path in side.items()}
    report_out = Output(str(report)) if report is not None else None
    outputs = [out, *sides.values(), *([report_out] if report_out is not None else [])]
    with display:
        opened: list[Output] = []
        try:
            for sink in outputs:
                opened.append(sink.__enter__())
            stats = job(out, display, sides)
            if report_out is not None:
                summary = report_dict(stats, settings())
                report_out.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
            # Two phases: every file is complete on disk before any is renamed into place,
            # so a failure leaves none of them (no report claiming a success, say).
            for sink in outputs:
                sink.finish()
            publish_all(outputs)
        except BaseException:
            for sink in opened:
                sink.abort()
            raise
    display.summary(stats, what)  # after the bar has stopped, so it does not redraw below
    return stats


def select(opts: ScoringOptions, selection: SelectionOptions) -> None:
    selection.check()
    settings = build_settings(opts)
    filters = selection.filters()
    if filters and settings.shard is not None:
        raise UsageError("--dedupe and budgets apply to the whole ranking: give them to `zipfit merge`")
    # A shard cannot know the global count a fraction refers to: it writes its whole
    # ranking and `zipfit merge` applies the fraction.
    fraction = None if settings.shard is not None else selection.fraction

    def run(out: Output, display: Display, part: dict[str, Any] | None, engine: Engine) -> RunStats:
        return run_select(
            settings, out, display, selection.top_k, fraction, part=part, engine=engine, filters=filters
        )

    _run_scoring(opts, settings, run, "select", "selected", asdict(selection))


def score(opts: ScoringOptions) -> None:
    settings = build_settings(opts)

    def run(out: Output, display: Display, part: dict[str, Any] | None, engine: Engine) -> RunStats:
        return run_score(settings, out, display, part=part, engine=engine)

    _run_scoring(opts, settings, run, "score", "written", {})


def _run_scoring(
    opts: ScoringOptions,
    settings: RunSettings,
    run: Callable[[Output, Display, dict[str, Any] | None, Engine], RunStats],
    command: str,
    what: str,
    extra: dict[str, Any],
) -> None:
    """Pick the engine, open the outputs (with the near-copies' side file), run, report."""
    engine, total_bytes = _engine(opts, settings)

    def report_settings() -> dict[str, Any]:
        return describe(opts, settings, command=command, **extra)

    part = report_settings() if settings.shard is not None else None

    def job(out: Output, display: Display, sides: dict[str, Output]) -> RunStats:
        settings.contaminated_sink = sides.get("contaminated")
        return run(out, display, part, engine)

    run_job(
        job,
        inputs=opts.sources + opts.target,
        output=opts.output,
        report=opts.report,
        quiet=opts.quiet,
        force=opts.force,
        label="selecting" if command == "select" else "scoring",
        what=what,
        settings=report_settings,
        total_bytes=total_bytes,
        side_outputs={"contaminated": opts.contaminated_output} if opts.contaminated_output else {},
    )


def merge(
    parts: list[str], selection: SelectionOptions, output: str, report: Path | None, quiet: bool, force: bool
) -> None:
    selection.check()
    filters = selection.filters()

    def job(out: Output, display: Display, sides: dict[str, Output]) -> RunStats:
        return run_merge(parts, out, top_k=selection.top_k, fraction=selection.fraction, filters=filters)

    run_job(
        job,
        inputs=parts,
        output=output,
        report=report,
        quiet=quiet,
        force=force,
        label="merging",
        what="selected",
        settings=lambda: {"command": "merge", "parts": parts, **asdict(selection)},
        total_bytes=None,
    )


def align(
    datasets: list[str], opts: ScoringOptions, pairs: int | None, seed: int
) -> Iterator[dict[str, Any]]:
    """Dataset-level alignment of each dataset with the targets, one result each."""
    from .align import dataset_alignment
    from .pipeline import read_texts

    settings = build_settings(opts)
    for path in datasets:
        stats = RunStats()
        texts = read_texts(path, settings, stats)
        try:
            result = dataset_alignment(texts, settings.targets, pairs=pairs, seed=seed)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
        yield {"dataset": path, **result.to_dict(), "skipped": dict(stats.skipped)}

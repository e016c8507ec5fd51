"""The options objects the commands receive, checked in one place and turned into run
settings.

Each field is filled from the option of the same name declared in `flags.OPTIONS`, and
its default is that declaration's (see `optspec`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..base.errors import UsageError, shown
from ..engines.engine import RunSettings
from ..engines.runner import default_workers
from ..files.locations import STDIN, distinct_sources, expand_paths
from ..files.part_dir import is_directory_output
from ..files.reading import is_plain_text
from ..files.records import TextSpec, key_path, load_texts
from ..files.shards import INDEX_KEY, PART_KEY, parse_shard
from ..files.writing import check_output_format
from ..scoring.adaptive import AdaptiveScorer
from ..scoring.compressors import get_compressor
from ..scoring.distances import adaptive_refused, method_refused
from ..scoring.pairwise import HasNcdTerms
from ..scoring.scorers import Scorer, ScoringInputs, build_scorer, method_settings, needs_background
from ..selection.coverage import check_coverage, check_share_of_k
from ..selection.ranking import check_limits
from ..selection.rules import Filters, check_budget_fill
from .flags import OPTIONS
from .optspec import default_of, flag_of

DECONTAMINATE_NGRAM = 13  # word n-gram length of --decontaminate
MIN_BLOCKSIZE = 1 << 10  # a --blocksize below this is a size typed without its unit
_BACKGROUND = ("background", "background_size", "background_seed")  # for a method that needs one
_OPTION_NAMES = frozenset(option.name for option in OPTIONS)


def _declared(name: str) -> Any:
    """The default of option `name`, from its declaration in `flags.OPTIONS` (the one place
    a default is written), as a dataclass field: ruff's RUF009 cannot tell that this call
    is a `field()`, hence its `noqa` on fields of types it does not know to be immutable."""
    value = default_of(OPTIONS, name)
    if isinstance(value, list):
        return field(default_factory=lambda: list(value))
    return field(default=value)


@dataclass
class ScoringOptions:
    """Options shared by `score` and `select` (and those `align`, `background` and `merge`
    take), as the user gave them. Each field is filled from the option of the same name."""

    sources: list[str] = _declared("sources")  # noqa: RUF009
    target: list[str] = _declared("target")  # noqa: RUF009
    output: str = _declared("output")
    output_name: str | None = _declared("output_name")  # parts' names, with -o DIR/
    text_key: str = _declared("text_key")
    target_key: str = _declared("target_key")
    target_template: str | None = _declared("target_template")
    compressor: str = _declared("compressor")
    level: int | None = _declared("level")
    method: str = _declared("method")
    workers: int | None = _declared("workers")
    score_key: str = _declared("score_key")
    skip_invalid: bool = _declared("skip_invalid")
    quiet: bool = _declared("quiet")
    summary: str | None = _declared("summary")  # None: by whether stderr is a terminal
    strict: bool = _declared("strict")
    report: Path | None = _declared("report")  # noqa: RUF009
    force: bool = _declared("force")
    batch_size: int = _declared("batch_size")
    limit: int | None = _declared("limit")
    max_text_bytes: int = _declared("max_text_bytes")
    max_line_bytes: int = _declared("max_line_bytes")
    shard: str | None = _declared("shard")
    shard_by: str = _declared("shard_by")
    engine: str = _declared("engine")
    scheduler: str | None = _declared("scheduler")
    blocksize: int | None = _declared("blocksize")
    connect_timeout: float = _declared("connect_timeout")
    spill_dir: str | None = _declared("spill_dir")
    decontaminate: bool = _declared("decontaminate")
    decontaminate_ngram: int | None = _declared("decontaminate_ngram")  # None: DECONTAMINATE_NGRAM
    decontaminate_ncd: float | None = _declared("decontaminate_ncd")
    contaminated_output: str | None = _declared("contaminated_output")
    contrast: bool = _declared("contrast")
    background: list[str] = _declared("background")  # noqa: RUF009
    background_size: int = _declared("background_size")
    background_seed: int = _declared("background_seed")
    contrast_weight: float = _declared("contrast_weight")
    output_format: str = _declared("output_format")
    id_key: str = _declared("id_key")
    adaptive: bool = _declared("adaptive")
    adaptive_z: float = _declared("adaptive_z")
    adaptive_audit: int = _declared("adaptive_audit")
    min_score: float | None = _declared("min_score")
    command_line: list[str] = field(default_factory=list)  # as given, for the report
    # The options the user gave (Click's parameter source), whatever their values: an
    # option that goes with another is refused without it even at its default value.
    given: frozenset[str] = frozenset()
    notices: list[str] = field(default_factory=list)  # warnings known from the options alone

    def check(self) -> None:
        """Every check of options against each other, before any file is read."""
        if not self.target:
            raise UsageError("give the target examples with -t/--target PATH")
        if sum(p == STDIN for p in self.sources + self.target) > 1:
            raise UsageError("stdin (-) can be read only once")
        if not self.score_key:
            raise UsageError("--score-key needs a field name")
        # A dotted text key's first part is the object holding the text: the score would replace it.
        if self.score_key in (self.text_key, key_path(self.text_key)[0], INDEX_KEY, PART_KEY):
            raise UsageError(
                f"--score-key {self.score_key!r} would overwrite a field zipfit needs; choose another"
            )
        if "shard_by" in self.given and self.shard is None:
            raise UsageError("--shard-by goes with --shard")
        if self.shard_by == "file" and self.limit is not None:
            raise UsageError("--limit counts records across all files; it cannot go with --shard-by file")
        directory = is_directory_output(self.output)  # --blocksize cuts its parts on either engine
        dask_only = {"scheduler", "connect_timeout", "spill_dir"} | (set() if directory else {"blocksize"})
        if self.engine == "local" and self.given & dask_only:
            raise UsageError("--scheduler, --blocksize, --connect-timeout and --spill-dir need --engine dask")
        if self.blocksize is not None and 0 < self.blocksize < MIN_BLOCKSIZE:  # `64` meant 64MiB
            raise UsageError(
                f"--blocksize {self.blocksize} is bytes: blocks that small hold no line start and make "
                "empty partitions (and parts); give at least 1KiB, like 64MiB (0: one per file)",
                setting="blocksize",
            )
        if "output_name" in self.given and not directory:
            raise UsageError("--output-name names the parts of an output directory (-o DIR/)")
        if not 0 < self.connect_timeout < math.inf:  # NaN too
            raise UsageError(f"--connect-timeout takes seconds > 0, not {self.connect_timeout}")
        if self.engine != "local" and self.shard is not None:
            raise UsageError("--shard is for runs without an engine; --engine dask splits the work itself")
        if self.given & {"target_key", "target_template"} and all(map(is_plain_text, self.target)):
            flag = "--target-key" if "target_key" in self.given else "--target-template"
            raise UsageError(
                f"{flag} reads JSONL targets, and {', '.join(shown(p) for p in self.target)} "
                "holds plain text, one example a line: drop the option or give JSONL targets"
            )
        check_output_format(self.output_format, self.score_key, self.id_key)
        if self.output_format != "records" and self.shard is not None:
            raise UsageError(
                "shards write whole records for `zipfit merge`: give --output-format to the merge"
            )
        self._check_contrast()

    def _check_contrast(self) -> None:
        if self.contrast and self.method not in ("pairwise", "contrast"):
            raise UsageError(
                f"--contrast is a pairwise score (mean NCDs to targets and background); "
                f"it does not combine with --method {self.method}"
            )
        if "adaptive_z" in self.given and not self.adaptive:
            raise UsageError("--adaptive-z goes with --adaptive")
        if "adaptive_audit" in self.given and not self.adaptive:
            raise UsageError("--adaptive-audit goes with --adaptive")
        if "id_key" in self.given and self.output_format == "records":
            raise UsageError("--id-key goes with --output-format ids or attributes")
        if self.output_format == "attributes" and (
            self.skip_invalid or self.decontaminating or self.min_score is not None
        ):
            raise UsageError(
                "an attribute file needs a line for every document, in order: --output-format attributes "
                "cannot go with --skip-invalid, decontamination or --min-score, which leave records out"
            )
        if not self.contrast and self.method != "contrast":
            seed = () if self.adaptive else ("background_seed",)  # --seed also seeds --adaptive
            contrast_only = ("background", "background_size", *seed, "contrast_weight")
            if self.needs_background:  # a method of its own that needs a background too
                contrast_only = tuple(name for name in contrast_only if name not in _BACKGROUND)
            given = [flag_of(OPTIONS, name) for name in contrast_only if name in self.given]
            if given:
                verb = "goes" if len(given) == 1 else "go"
                raise UsageError(f"{', '.join(given)} {verb} with --contrast (--seed also with --adaptive)")
        if self.background and "background_size" in self.given:
            raise UsageError("give either --background FILE or --background-size N, not both")
        if STDIN in self.background:
            raise UsageError("the background is read from files, not stdin")

    def expanded(self) -> ScoringOptions:
        """The options with source, target and background globs expanded (local or URL), and
        each source, target and background file once (a repeat is a warning: see
        locations.distinct_sources)."""
        sources, repeats = distinct_sources(expand_paths(self.sources))
        # A target file named twice would weigh its targets twice in the mean: once, too.
        target, target_repeats = distinct_sources(expand_paths(self.target))
        background, background_repeats = distinct_sources(expand_paths(self.background))
        return replace(
            self,
            notices=[*self.notices, *repeats, *target_repeats, *background_repeats],
            sources=sources,
            target=target,
            background=background,
        )

    @property
    def decontaminating(self) -> bool:
        asked = (self.decontaminate_ngram, self.decontaminate_ncd, self.contaminated_output)
        return self.decontaminate or any(option is not None for option in asked)

    @property
    def scoring_method(self) -> str:
        return "contrast" if self.contrast else self.method

    @property
    def needs_background(self) -> bool:
        """Whether the method is built with background records (--contrast's are)."""
        return needs_background(self.scoring_method)

    def method_settings(self) -> Any:
        """The method's own settings dataclass, its fields filled from the options of the
        same names (`--contrast-weight` → contrast_weight), other fields at their defaults."""
        kind = method_settings(self.scoring_method)
        return kind(**{f.name: getattr(self, f.name) for f in fields(kind) if f.name in _OPTION_NAMES})


@dataclass
class SelectionOptions:
    """What `select` keeps, and the rules it keeps it by."""

    top_k: int | None = _declared("top_k")
    fraction: Decimal | None = _declared("fraction")  # noqa: RUF009 (as typed: see describe)
    coverage: Decimal = _declared("coverage")  # noqa: RUF009
    dedupe: bool = _declared("dedupe")
    dedupe_near: bool = _declared("dedupe_near")
    budget_tokens: int | None = _declared("budget_tokens")
    budget_chars: int | None = _declared("budget_chars")
    token_counter: str = _declared("token_counter")
    budget_fill: str = _declared("budget_fill")
    given: frozenset[str] = frozenset()  # the options the user gave (see ScoringOptions)

    def check(self, sharded: bool = False) -> None:
        """Selection options that cannot work; a shard (`sharded`) may leave K to the merge."""
        check_limits(self.top_k, self.fraction)
        if self.budget_tokens is not None and self.budget_chars is not None:
            raise UsageError("give either --budget-tokens or --budget-chars, not both")
        if "token_counter" in self.given and self.budget_tokens is None:
            raise UsageError("--token-counter goes with --budget-tokens")
        share = check_coverage(self.coverage)
        if not sharded:  # a shard's part holds every record with its distances: the merge gives K
            check_share_of_k(share, self.top_k, self.fraction)
        budget = self.budget_tokens if self.budget_tokens is not None else self.budget_chars
        check_budget_fill(self.budget_fill, budget)

    def describe(self) -> dict[str, Any]:
        """The selection as a report or a shard part records it. The fraction is the decimal
        as given, as a string: a float would round 0.1449999999999999999999 to 0.145 (and
        1e-999999999 to 0), and a merge must count from what the user wrote."""
        described = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "given"}
        return {
            **described,
            "fraction": None if self.fraction is None else str(self.fraction),
            "coverage": str(self.coverage) if self.coverage else None,
        }

    def filters(self) -> Filters:
        from ..selection.budget import make_counter
        from ..selection.dedupe import Deduper

        budget = self.budget_tokens if self.budget_tokens is not None else self.budget_chars
        counter = None
        if budget is not None:
            counter = make_counter("chars" if self.budget_chars is not None else self.token_counter)
        dedupe = Deduper(near=self.dedupe_near) if self.dedupe or self.dedupe_near else None
        return Filters(dedupe=dedupe, budget=budget, counter=counter, fill=self.budget_fill)


def build_settings(opts: ScoringOptions, sampling: Callable[[int, int], None] | None = None) -> RunSettings:
    """Targets loaded and compressed once, scorer and decontaminator ready to ship to workers.
    `sampling(records, bytes)` hears the progress of a background sampled from the sources."""
    opts.check()
    target_spec = TextSpec.build(opts.target_key, opts.target_template, setting="target_key")
    target_ids: list[str | None] = []
    targets = load_texts(opts.target, target_spec, ids=target_ids)
    compressor = get_compressor(opts.compressor, opts.level)
    spec = TextSpec.build(opts.text_key, max_bytes=opts.max_text_bytes, max_line_bytes=opts.max_line_bytes)
    background = _background(opts, spec, sampling) if opts.needs_background else None
    inputs = ScoringInputs(targets, compressor, background, opts.method_settings())
    settings = RunSettings(
        sources=opts.sources,
        scorer=build_scorer(opts.scoring_method, inputs),
        spec=spec,
        workers=opts.workers or default_workers(),
        batch_size=opts.batch_size,
        skip_invalid=opts.skip_invalid,
        score_key=opts.score_key,
        limit=opts.limit,
        shard=parse_shard(opts.shard) if opts.shard is not None else None,
        shard_by=opts.shard_by,
        min_score=opts.min_score,
    )
    settings.warnings += opts.notices
    if opts.adaptive:
        settings.adaptive = _adaptive(opts, settings.scorer)
        if settings.adaptive.exhaustive_reason is not None:
            settings.warnings.append(settings.adaptive.exhaustive_reason)
    described = settings.scorer.describe()
    used, total = described.get("targets_used"), described["n_targets"]
    if used is not None and used < total:
        reach = compressor.dictionary_reach()
        settings.warnings.append(
            f"the corpus method's dictionary holds {used} of the {total} targets ({compressor.name} "
            f"reaches back {reach:,} bytes); the others were left out, sampled with seed 0"
        )
    if opts.decontaminating:
        from ..selection.decontam import Decontaminator

        ngram = DECONTAMINATE_NGRAM if opts.decontaminate_ngram is None else opts.decontaminate_ngram
        settings.decontaminate = Decontaminator.from_targets(
            targets,
            ngram=ngram or None,
            ncd_threshold=opts.decontaminate_ncd,
            compressor=compressor,
            names=target_ids,
        )
    return settings


def check_coverage_options(opts: ScoringOptions) -> None:
    """--coverage combinations that are refused (exit 2), before anything is read."""
    if opts.adaptive:
        raise adaptive_refused()
    if opts.scoring_method not in ("pairwise", "contrast"):
        raise method_refused(opts.scoring_method)


def _adaptive(opts: ScoringOptions, scorer: Scorer) -> AdaptiveScorer:
    if not isinstance(scorer, HasNcdTerms):  # a sum of mean NCDs: pairwise, contrast
        raise UsageError(
            f"--adaptive stops a record partway through its targets; --method {opts.method} makes "
            "one comparison a record, so there is nothing to stop"
        )
    return AdaptiveScorer(scorer, z=opts.adaptive_z, seed=opts.background_seed, audit=opts.adaptive_audit)


def _background(
    opts: ScoringOptions, spec: TextSpec, sampling: Callable[[int, int], None] | None = None
) -> list[bytes]:
    """The background records' texts: from --background files (their text by --text-key, as
    for sources), or a seeded sample of the sources themselves."""
    if opts.background:
        return load_texts(opts.background, replace(spec, max_bytes=0), role="background")
    from ..scoring.background import sample_background

    sample = sample_background(
        opts.sources, spec, opts.background_size, opts.background_seed, opts.limit, progress=sampling
    )
    return [s.text for s in sample.records]


@dataclass
class AlignOptions:
    """What `align` samples, besides the scoring options it shares."""

    pairs: int | None = _declared("pairs")
    seed: int = _declared("seed")


@dataclass
class CommandFlags:
    """What every command takes about itself rather than the data."""

    traceback: bool = _declared("traceback")


def check_adaptive_selection(selection: SelectionOptions, min_score: float | None) -> None:
    """--adaptive prunes against the K-th best exact score or --min-score: it needs one of
    them known up front. Rules that reach further down the ranking than the K best would
    need the records it stopped; below --min-score nothing is selected anyway."""
    if selection.top_k is None and min_score is None:
        raise UsageError(
            "--adaptive needs -k or --min-score: it stops records that cannot reach the K best or "
            "the threshold (for a share of the corpus, count the records and give -k)"
        )
    if selection.fraction is not None:
        raise UsageError("--adaptive cannot go with --fraction: its share counts records it would stop")
    if selection.top_k is not None and (
        selection.dedupe
        or selection.dedupe_near
        or selection.budget_tokens is not None
        or (selection.budget_chars is not None)
    ):
        raise UsageError(
            "--adaptive -k cannot go with --dedupe or budgets: they read past the K best "
            "(with --min-score and no -k they can)"
        )

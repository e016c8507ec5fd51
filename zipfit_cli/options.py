"""The options of the scoring commands: each declared once with its default, checked in
one place, and turned into run settings.

`cli.py` reads the defaults from here (`SCORING`, `SELECTION`) for its signatures, so a
default is written once for every command that takes the option.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from .adaptive import DEFAULT_AUDIT, DEFAULT_Z, AdaptiveScorer
from .compressors import get_compressor
from .contrast import DEFAULT_BACKGROUND_SIZE, DEFAULT_WEIGHT
from .dask_connect import DEFAULT_CONNECT_TIMEOUT
from .engine import RunSettings
from .errors import UsageError
from .ranking import check_limits
from .reading import DEFAULT_MAX_LINE_BYTES, STDIN, expand_paths
from .records import TextSpec, key_path, load_texts
from .rules import Filters
from .runner import default_workers
from .scorers import Scorer, ScoringInputs, build_scorer
from .shards import INDEX_KEY, PART_KEY, parse_shard
from .writing import check_output_format

DECONTAMINATE_NGRAM = 13  # word n-gram length of --decontaminate


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
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    decontaminate: bool = False
    decontaminate_ngram: int | None = None  # None: DECONTAMINATE_NGRAM when decontaminating
    decontaminate_ncd: float | None = None
    contaminated_output: str | None = None
    contrast: bool = False
    background: list[str] = field(default_factory=list)
    background_size: int = DEFAULT_BACKGROUND_SIZE
    background_seed: int = 0
    contrast_weight: float = DEFAULT_WEIGHT
    output_format: str = "records"
    id_key: str = "id"
    adaptive: bool = False
    adaptive_z: float = DEFAULT_Z
    adaptive_audit: int = DEFAULT_AUDIT
    command_line: list[str] = field(default_factory=list)  # as given, for the report

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
        if self.shard_by != "record" and self.shard is None:
            raise UsageError("--shard-by goes with --shard")
        if self.shard_by == "file" and self.limit is not None:
            raise UsageError("--limit counts records across all files; it cannot go with --shard-by file")
        timeout_given = self.connect_timeout != DEFAULT_CONNECT_TIMEOUT
        if self.engine == "local" and (
            self.scheduler is not None or self.blocksize is not None or timeout_given
        ):
            raise UsageError("--scheduler, --blocksize and --connect-timeout need --engine dask")
        if not 0 < self.connect_timeout < math.inf:  # NaN too
            raise UsageError(f"--connect-timeout takes seconds > 0, not {self.connect_timeout}")
        if self.engine != "local" and self.shard is not None:
            raise UsageError("--shard is for runs without an engine; --engine dask splits the work itself")
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
        if self.adaptive_z != DEFAULT_Z and not self.adaptive:
            raise UsageError("--adaptive-z goes with --adaptive")
        if self.adaptive_audit != DEFAULT_AUDIT and not self.adaptive:
            raise UsageError("--adaptive-audit goes with --adaptive")
        if self.id_key != "id" and self.output_format == "records":
            raise UsageError("--id-key goes with --output-format ids or attributes")
        if self.output_format == "attributes" and (self.skip_invalid or self.decontaminating):
            raise UsageError(
                "an attribute file needs a line for every document, in order: --output-format attributes "
                "cannot go with --skip-invalid or decontamination, which leave records out"
            )
        if not self.contrast and self.method != "contrast":
            given = [
                flag
                for flag, value, default in (
                    ("--background", self.background, []),
                    ("--background-size", self.background_size, DEFAULT_BACKGROUND_SIZE),
                    ("--seed", self.background_seed if not self.adaptive else 0, 0),
                    ("--contrast-weight", self.contrast_weight, DEFAULT_WEIGHT),
                )
                if value != default
            ]
            if given:
                verb = "goes" if len(given) == 1 else "go"
                raise UsageError(f"{', '.join(given)} {verb} with --contrast (--seed also with --adaptive)")
        if self.background and self.background_size != DEFAULT_BACKGROUND_SIZE:
            raise UsageError("give either --background FILE or --background-size N, not both")
        if STDIN in self.background:
            raise UsageError("the background is read from files, not stdin")

    def expanded(self) -> ScoringOptions:
        """The options with source, target and background globs expanded (local or URL)."""
        return replace(
            self,
            sources=expand_paths(self.sources),
            target=expand_paths(self.target),
            background=expand_paths(self.background),
        )

    @property
    def decontaminating(self) -> bool:
        asked = (self.decontaminate_ngram, self.decontaminate_ncd, self.contaminated_output)
        return self.decontaminate or any(option is not None for option in asked)

    @property
    def scoring_method(self) -> str:
        return "contrast" if self.contrast else self.method


@dataclass
class SelectionOptions:
    """What `select` keeps, and the rules it keeps it by."""

    top_k: int | None = None
    fraction: Decimal | None = None  # as typed: rounding half up rounds what the user wrote
    dedupe: bool = False
    dedupe_near: bool = False
    budget_tokens: int | None = None
    budget_chars: int | None = None
    token_counter: str = "approx"

    def check(self) -> None:
        check_limits(self.top_k, self.fraction)
        if self.budget_tokens is not None and self.budget_chars is not None:
            raise UsageError("give either --budget-tokens or --budget-chars, not both")
        if self.token_counter != "approx" and self.budget_tokens is None:
            raise UsageError("--token-counter goes with --budget-tokens")

    def describe(self) -> dict[str, Any]:
        """The selection as a report or a shard part records it. The fraction is the decimal
        as given, as a string: a float would round 0.1449999999999999999999 to 0.145 (and
        1e-999999999 to 0), and a merge must count from what the user wrote."""
        return {**asdict(self), "fraction": None if self.fraction is None else str(self.fraction)}

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
    opts.check()
    target_spec = TextSpec.build(opts.target_key, opts.target_template, setting="target_key")
    target_ids: list[str | None] = []
    targets = load_texts(opts.target, target_spec, ids=target_ids)
    compressor = get_compressor(opts.compressor, opts.level)
    spec = TextSpec.build(opts.text_key, max_bytes=opts.max_text_bytes, max_line_bytes=opts.max_line_bytes)
    inputs = ScoringInputs(targets, compressor)
    if opts.scoring_method == "contrast":
        inputs = replace(inputs, background=_background(opts, spec), contrast_weight=opts.contrast_weight)
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
    )
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
        from .decontam import Decontaminator

        ngram = DECONTAMINATE_NGRAM if opts.decontaminate_ngram is None else opts.decontaminate_ngram
        settings.decontaminate = Decontaminator.from_targets(
            targets,
            ngram=ngram or None,
            ncd_threshold=opts.decontaminate_ncd,
            compressor=compressor,
            names=target_ids,
        )
    return settings


def _adaptive(opts: ScoringOptions, scorer: Scorer) -> AdaptiveScorer:
    from .contrast import ContrastScorer
    from .scoring import TargetSet

    if not isinstance(scorer, TargetSet | ContrastScorer):
        raise UsageError(
            f"--adaptive stops a record partway through its targets; --method {opts.method} makes "
            "one comparison a record, so there is nothing to stop"
        )
    return AdaptiveScorer(scorer, z=opts.adaptive_z, seed=opts.background_seed, audit=opts.adaptive_audit)


def _background(opts: ScoringOptions, spec: TextSpec) -> list[bytes]:
    """The background records' texts: from --background files (their text by --text-key, as
    for sources), or a seeded sample of the sources themselves."""
    if opts.background:
        return load_texts(opts.background, replace(spec, max_bytes=0), role="background")
    from .background import sample_background

    sample = sample_background(opts.sources, spec, opts.background_size, opts.background_seed, opts.limit)
    return [s.text for s in sample.records]


# The defaults, for the command-line signatures.
SCORING = ScoringOptions(sources=[], target=[])
SELECTION = SelectionOptions()

"""Selection rules: a score threshold applied to every scored record first (--min-score),
then, in rank order, drop duplicates and stop at a budget (or, with --budget-fill shortest,
spend the budget on the shortest of the selected records)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from ..base import checks
from ..base.errors import UsageError, shown
from ..base.stats import RunStats
from ..files.records import TextSpec
from .budget import BudgetTally, SizeCounter, make_counter, take_shortest_within_budget, take_within_budget
from .dedupe import Deduper

BUDGET_FILLS = ("rank", "shortest")


def check_min_score(value: object) -> float | None:
    """--min-score: None, or any finite number (contrast scores are often all below 0)."""
    return None if value is None else checks.number("min_score", value, setting="min_score")


def below(score: float, floor: float | None) -> bool:
    """Whether a score falls below --min-score. Scores are written as the shortest decimal
    that reads back as the same float (orjson), so this compares the very number the output
    shows: `jq 'select(.zipfit_score >= S)'` keeps the same records, ties at S included."""
    return floor is not None and score < floor


@dataclass
class Filters:
    """Selection rules applied in rank order, after scoring (they need the ranked stream)."""

    dedupe: Deduper | None = None
    budget: int | None = None
    counter: SizeCounter | None = None  # what the budget counts: tokens or characters
    fill: str = "rank"  # --budget-fill: "rank" (a prefix of the ranking) or "shortest"

    def __bool__(self) -> bool:
        return self.dedupe is not None or self.budget is not None

    @property
    def fills_shortest(self) -> bool:
        """Whether the budget is spent on the shortest of the selected records: then the
        limit (-k, --fraction) picks the candidates first, and the budget chooses among them."""
        return self.budget is not None and self.fill == "shortest"

    def without_dedupe(self) -> Filters:
        return Filters(budget=self.budget, counter=self.counter, fill=self.fill)


def check_budget_fill(fill: str, budget: int | None) -> None:
    """--budget-fill: one of BUDGET_FILLS, and "shortest" only with a budget."""
    if fill not in BUDGET_FILLS:
        raise UsageError(f"--budget-fill is one of {', '.join(BUDGET_FILLS)}, not {shown(fill)}")
    if fill == "shortest" and budget is None:
        raise UsageError("--budget-fill shortest goes with --budget-tokens or --budget-chars")


def check_fill_has_limit(filters: Filters | None, keep: int | None, fraction: object = None) -> None:
    """--budget-fill shortest spends the budget on a bounded selection (-k or --fraction)."""
    if filters is not None and filters.fills_shortest and keep is None and fraction is None:
        raise UsageError(
            "--budget-fill shortest spends the budget on the selected records: give -k or --fraction "
            "(without them it would take the shortest records of the whole input, whatever their score)"
        )


def limited(
    ranked: Iterator[tuple[float, int, bytes]],
    spec: TextSpec,
    filters: Filters,
    stats: RunStats,
    keep: int | None,
) -> Iterator[tuple[float, int, bytes]]:
    """The filters and then at most `keep` records, in rank order. With the default fill, the
    budget ends the ranking where it overflows and `keep` cuts that; with `fill="shortest"`,
    the first `keep` records (duplicates dropped) are the candidates, and the budget takes the
    shortest of them."""
    if not filters.fills_shortest:
        return itertools.islice(apply_filters(ranked, spec, filters, stats), keep)
    assert keep is not None, "check_budget_fill: shortest needs a limit"
    candidates = itertools.islice(apply_filters(ranked, spec, Filters(dedupe=filters.dedupe), stats), keep)
    return apply_filters(candidates, spec, filters.without_dedupe(), stats)


def apply_filters(
    ranked: Iterator[tuple[float, int, bytes]], spec: TextSpec, filters: Filters, stats: RunStats
) -> Iterator[tuple[float, int, bytes]]:
    """Drop duplicates (the first in rank order stays), then stop before the budget overflows."""
    records = ranked
    if filters.dedupe is not None:
        records = _without_duplicates(records, spec, filters.dedupe, stats)
    if filters.budget is not None:
        count = filters.counter or make_counter("approx")
        tally = BudgetTally()

        shortest = filters.fill == "shortest"
        sizes: list[int] = []  # the first (or shortest) record's, to say why a budget took nothing

        def size(record: tuple[float, int, bytes]) -> int:
            n = count(spec.parse(record[2])[1])
            if not sizes or (shortest and n < sizes[0]):
                sizes[:] = [n]
            return n

        stats.budget_used = 0
        stats.budget_unit = "characters" if count.spec == "chars" else "tokens"
        stats.budget_fill = filters.fill
        take = take_shortest_within_budget if shortest else take_within_budget
        for record in take(records, size, filters.budget, tally):
            stats.budget_used = tally.used
            yield record
        if sizes and tally.records == 0:  # the output is empty, though records were there
            why = (
                "is smaller than the shortest selected record"
                if shortest
                else "stops before the first record"
            )
            stats.warnings.append(
                f"the budget of {filters.budget:,} {stats.budget_unit} {why}, which holds {sizes[0]:,}: "
                "nothing was selected"
            )
        return
    yield from records


def _without_duplicates(
    ranked: Iterator[tuple[float, int, bytes]], spec: TextSpec, dedupe: Deduper, stats: RunStats
) -> Iterator[tuple[float, int, bytes]]:
    for record in ranked:
        kind = dedupe.check(spec.parse(record[2])[1])
        if kind is None:
            yield record
        else:
            stats.duplicates[kind] += 1

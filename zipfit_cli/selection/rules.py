"""Selection rules: a score threshold applied to every scored record first (--min-score),
then, in rank order, drop duplicates and stop at a budget."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..base import checks
from ..base.stats import RunStats
from ..files.records import TextSpec
from .budget import BudgetTally, SizeCounter, make_counter, take_within_budget
from .dedupe import Deduper


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

    def __bool__(self) -> bool:
        return self.dedupe is not None or self.budget is not None


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

        sizes: list[int] = []  # the first record's, to say why a budget took nothing

        def size(record: tuple[float, int, bytes]) -> int:
            n = count(spec.parse(record[2])[1])
            if not sizes:
                sizes.append(n)
            return n

        stats.budget_used = 0
        stats.budget_unit = "characters" if count.spec == "chars" else "tokens"
        for record in take_within_budget(records, size, filters.budget, tally):
            stats.budget_used = tally.used
            yield record
        if sizes and tally.records == 0:  # the output is empty, though records were there
            stats.warnings.append(
                f"the budget of {filters.budget:,} {stats.budget_unit} stops before the first record, "
                f"which holds {sizes[0]:,}: nothing was selected"
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

"""Run statistics (stats.py): counters, the sparse score histogram, and the summary made of them."""

from __future__ import annotations

import dataclasses
import math

import pytest

from zipfit_cli.base import stats as stats_module
from zipfit_cli.base.stats import LAST_BIN, OWN, PART_COUNTS, SUMMED, TALLIED, RunStats, bin_of
from zipfit_cli.runs.report import histogram_lines, summary_lines

HUGE = [1e308, -1e308, math.nextafter(math.inf, 0.0), -math.nextafter(math.inf, 0.0), 0.25, 1e300]


def test_scores_near_the_float_limit_are_clamped_into_the_last_bins() -> None:
    assert bin_of(1e308) == LAST_BIN and bin_of(-1e308) == -LAST_BIN
    assert bin_of(1e17) == LAST_BIN  # past the last bin, though its quotient is finite
    assert bin_of(0.25) == 500 and bin_of(-0.0001) == -1


@pytest.mark.parametrize("scores", [HUGE, [1e308, 1e308], [-1e308, 0.5], [1e308]])
def test_histogram_quantiles_and_summary_of_huge_scores(scores: list[float]) -> None:
    stats = RunStats()
    for score in scores:
        stats.add_score(score)
    assert stats.score_min == min(scores) and stats.score_max == max(scores)
    median = stats.quantile(0.5)
    assert median is not None and min(scores) <= median <= max(scores)
    bins = stats.coarse_histogram(10)
    assert sum(count for _, _, count in bins) == len(scores)
    for low, high, _ in bins:
        assert math.isfinite(low) and math.isfinite(high) and min(scores) <= low <= high <= max(scores)
    lines = summary_lines(stats, "selected") + histogram_lines(stats, threshold=max(scores))
    assert all(len(line) < 120 for line in lines), lines  # no 300-digit numbers either
    merged = RunStats.from_part(stats.to_part())
    merged += RunStats.from_part(stats.to_part())
    assert merged.scored == 2 * len(scores) and merged.coarse_histogram(10)


def test_ordinary_scores_keep_their_histogram() -> None:
    stats = RunStats()
    for i in range(100):
        stats.add_score(i / 100)
    bins = stats.coarse_histogram(10)
    assert [count for _, _, count in bins] == [10] * 10
    assert bins[0][0] == 0.0 and bins[-1][1] == 0.99
    assert stats.quantile(0.5) == pytest.approx(0.49, abs=0.0005)  # to half a bin


def test_summary_shows_reasons_kinds_and_units_escaped() -> None:
    """A merge's counters come from its parts: every name in them is data, one line each."""
    stats = RunStats(records_read=3, scored=1)
    stats.add_score(0.5)
    stats.skipped["evil\nzipfit: error: FAKE\x1b[2J"] = 1
    stats.duplicates["near\x1b]0;pwned\x07"] = 1
    stats.budget_used, stats.budget_unit = 10, "tokens\r\nzipfit: error: FAKE"
    text = "\n".join(summary_lines(stats, "written"))
    assert "FAKE\\x1b[2J 1" in text and "near\\x1b]0;pwned\\x07 duplicate" in text
    assert "tokens\\x0d\\x0azipfit" in text
    assert not any(ch in text for ch in "\x1b\x07\r") and "\nzipfit: error" not in text


def test_every_counter_says_how_it_adds_up() -> None:
    # A new field of RunStats must be summed, tallied or kept by its own rule in `+=`:
    # otherwise partitions and shards would silently drop it.
    names = [f.name for f in dataclasses.fields(RunStats)]
    assert sorted(names) == sorted((*SUMMED, *TALLIED, *OWN))
    assert set(PART_COUNTS) <= set(SUMMED)


def test_counters_add_up_and_travel_through_a_part() -> None:
    one, two = RunStats(), RunStats()
    for stats, base in ((one, 1), (two, 10)):
        for name in SUMMED:
            setattr(stats, name, base)
        for name in TALLIED:
            getattr(stats, name)[7 if name == "histogram" else "7"] += base
        stats.add_score(base / 100)
    one += two
    assert all(getattr(one, name) == 11 + (name == "scored") * 2 for name in SUMMED)
    assert all(getattr(one, name)[7 if name == "histogram" else "7"] == 11 for name in TALLIED)
    back = RunStats.from_part(one.to_part())
    assert all(getattr(back, name) == getattr(one, name) for name in (*PART_COUNTS, "scored", "pairs"))
    assert (back.score_min, back.score_max) == (0.01, 0.1)


def test_the_median_is_exact_while_the_scores_are_kept() -> None:
    stats = RunStats()
    for score in (0.2416, 0.2286):
        stats.add_score(score)
    assert stats.median_exact and stats.median() == pytest.approx(0.2351, abs=1e-12)
    assert stats.to_dict()["score_median_exact"] is True
    line = next(line for line in summary_lines(stats, "selected") if "median" in line)
    assert "median 0.2351" in line and "~" not in line
    # Through parts (a merge) and partitions (Dask, `+=`) alike: the single run's median.
    one, two = RunStats(), RunStats()
    one.add_score(0.2416)
    two.add_score(0.2286)
    merged = RunStats.from_part(one.to_part())
    merged += RunStats.from_part(two.to_part())
    one += two
    assert merged.median() == one.median() == stats.median()
    assert merged.to_dict()["score_median_exact"] and RunStats().to_dict()["score_median_exact"] is None


def test_past_the_kept_scores_the_median_is_binned_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats_module, "EXACT_SCORES", 2)
    stats = RunStats()
    for score in (0.2286, 0.2416, 0.2416):
        stats.add_score(score)
    assert not stats.median_exact and stats.scores is None
    median = stats.median()
    assert median is not None and abs(median - 0.2416) <= 0.00025  # to half a bin
    assert stats.to_dict()["score_median_exact"] is False
    assert any("median ~0.24" in line for line in summary_lines(stats, "selected"))
    assert "scores" not in stats.to_part()  # a part too large to carry them
    one, two = RunStats(), RunStats()
    one.add_score(0.1)
    two.add_score(0.2)
    two.add_score(0.3)
    one += two  # three scores, over the limit of two: the joined run is binned too
    assert not one.median_exact
    old = RunStats(scored=1)  # a part written before scores were kept
    part = old.to_part() | {"score_min": 0.5, "score_max": 0.5}
    assert not RunStats.from_part({k: v for k, v in part.items() if k != "scores"}).median_exact


def test_an_empty_selection_is_a_warning_and_a_full_one_is_not() -> None:
    empty, full = RunStats(scored=5), RunStats(scored=5, selected=2)
    empty.check_selection()
    full.check_selection()
    assert empty.warnings == ["nothing was selected: the output holds no records"]
    assert full.warnings == []

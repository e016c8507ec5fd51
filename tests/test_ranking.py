"""Ranking (ranking.py): top K in bounded memory, the spool for fractions and full rankings, rounding."""

from __future__ import annotations

import math
import os
import random
from decimal import Decimal
from pathlib import Path

import pytest

from zipfit_cli.base.errors import UsageError, ZipfitError
from zipfit_cli.selection.ranking import Spool, TopK, check_limits, count_for_fraction, rank
from zipfit_cli.selection.rules import below, check_min_score

# --- TopK ------------------------------------------------------------------------------------


def test_topk_keeps_best_k_in_rank_order() -> None:
    rng = random.Random(1)
    scores = [rng.random() for _ in range(500)]
    top: TopK[str] = TopK(17)
    for i, s in enumerate(scores):
        top.push(s, i, f"item{i}")
    expected = sorted(range(500), key=lambda i: (-scores[i], i))[:17]
    assert [(s, i, item) for s, i, item in top.ranked()] == [(scores[i], i, f"item{i}") for i in expected]


def test_topk_ties_earlier_wins() -> None:
    top: TopK[str] = TopK(3)
    for i, s in enumerate([0.5, 0.7, 0.5, 0.5, 0.7, 0.5, 0.1]):
        top.push(s, i, chr(ord("a") + i))
    assert [(s, i) for s, i, _ in top.ranked()] == [(0.7, 1), (0.7, 4), (0.5, 0)]


def test_topk_all_equal_keeps_first_k() -> None:
    top: TopK[int] = TopK(4)
    for i in range(100):
        top.push(0.25, i, i)
    assert [item for _, _, item in top.ranked()] == [0, 1, 2, 3]


def test_topk_fewer_than_k() -> None:
    top: TopK[str] = TopK(10)
    top.push(0.1, 0, "a")
    top.push(0.3, 1, "b")
    assert [item for _, _, item in top.ranked()] == ["b", "a"]
    assert TopK(5).ranked() == []


def test_topk_items_never_compared() -> None:
    # Items (e.g. dicts) are not orderable: equal scores must be decided by index alone.
    top: TopK[dict[str, int]] = TopK(2)
    for i in range(6):
        top.push(0.5, i, {"i": i})
    assert [item["i"] for _, _, item in top.ranked()] == [0, 1]


def test_topk_many_ties_random_order_matches_sort() -> None:
    rng = random.Random(7)
    scores = [rng.choice([0.1, 0.2, 0.3]) for _ in range(300)]
    top: TopK[None] = TopK(50)
    for i, s in enumerate(scores):
        top.push(s, i, None)
    expected = sorted(range(300), key=lambda i: (-scores[i], i))[:50]
    assert [i for _, i, _ in top.ranked()] == expected


# --- Spool -----------------------------------------------------------------------------------


def _fill(spool: Spool, scores: list[float]) -> list[bytes]:
    lines = [b'{"i": %d, "pad": "%s"}\n' % (i, b"x" * (i % 13)) for i in range(len(scores))]
    for i, (s, line) in enumerate(zip(scores, lines, strict=True)):
        spool.add(s, i, line)
    return lines


def test_spool_full_ranking_equals_sort(tmp_path: Path) -> None:
    rng = random.Random(3)
    scores = [rng.choice([0.1, 0.2, 0.3, rng.random()]) for _ in range(400)]
    with Spool(str(tmp_path)) as spool:
        lines = _fill(spool, scores)
        assert len(spool) == 400
        expected = sorted(range(400), key=lambda i: (-scores[i], i))
        assert list(spool.ranked()) == [(scores[i], i, lines[i]) for i in expected]


@pytest.mark.parametrize("k", [1, 5, 57, 399, 400, 1000])
def test_spool_partial_ranking_equals_sort_prefix(tmp_path: Path, k: int) -> None:
    rng = random.Random(k)
    scores = [rng.choice([0.1, 0.2, 0.3]) for _ in range(400)]
    with Spool(str(tmp_path)) as spool:
        lines = _fill(spool, scores)
        expected = sorted(range(400), key=lambda i: (-scores[i], i))[:k]
        assert list(spool.ranked(k)) == [(scores[i], i, lines[i]) for i in expected]


def test_spool_removes_its_file(tmp_path: Path) -> None:
    with Spool(str(tmp_path)) as spool:
        _fill(spool, [0.5, 0.1])
        assert not os.path.exists(spool.path)  # unlinked at creation, used through its descriptor
    assert not os.path.exists(spool.path)
    assert os.listdir(tmp_path) == []


def test_spool_empty(tmp_path: Path) -> None:
    with Spool(str(tmp_path)) as spool:
        assert list(spool.ranked()) == []


def test_spool_file_is_unlinked_at_once(tmp_path: Path) -> None:
    with Spool(str(tmp_path)) as spool:
        assert list(tmp_path.iterdir()) == []
        spool.add(0.5, 0, b'{"a": 1}\n')
        spool.add(0.7, 1, b'{"a": 2}\n')
        assert [line for _, _, line in spool.ranked()] == [b'{"a": 2}\n', b'{"a": 1}\n']


def test_full_spool_disk_is_one_error_naming_the_path(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path))
    with open("/dev/full", "wb") as full:
        os.dup2(full.fileno(), spool._file.fileno())  # the spool's disk is now full
    spool.add(0.5, 0, b'{"a": 1}\n')
    with pytest.raises(ZipfitError, match=f"cannot write the temporary file {tmp_path}/.zipfit-spool-"):
        list(spool.ranked())
    spool.close()
    assert list(tmp_path.iterdir()) == []


# --- count_for_fraction ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fraction", "total", "expected"),
    [
        (1.0, 200, 200),
        (0.5, 200, 100),
        (0.5, 3, 2),  # 1.5 rounds half up
        (0.25, 10, 3),  # 2.5 rounds half up
        (0.24, 10, 2),
        (0.26, 10, 3),
        (0.1, 4, 1),  # 0.4 rounds to 0, but at least one
        (0.001, 10, 1),
        (0.3, 10, 3),  # 0.3 * 10 is 3.0000000000000004 in floating point
        (0.05, 4000, 200),
        (0.5, 0, 0),
        # Half up on the decimal as written, where floating point lands just below the half:
        (0.145, 100, 15),  # 0.145 * 100 is 14.499999999999998
        (Decimal("0.145"), 100, 15),
        (0.285, 100, 29),
        (0.575, 100, 58),
        (0.0725, 200, 15),
        (0.5125, 200, 103),
        (Decimal("0.14499999999999999"), 100, 14),  # more digits than a float keeps: still exact
        (Decimal("0.5"), 3, 2),
        (Decimal("1"), 7, 7),
        (1, 7, 7),
        (Decimal("0.5"), 10**30 + 1, 5 * 10**29 + 1),  # exact at any size
        # Any exponent, any number of digits: answered from the decimal's digits and exponent,
        # never by expanding 10**999999999 (which would take hours).
        (Decimal("1e-999999999"), 20, 1),
        (Decimal("1e-999999999999999999"), 10**30, 1),
        (Decimal("9.99e-21"), 10**20, 1),  # 0.999 rounds to 1
        (Decimal("1.5e-20"), 10**20, 2),
        (Decimal("1.49e-20"), 10**20, 1),
        (Decimal("0.1449999999999999999999"), 100, 14),
        (Decimal("0." + "4" * 5000 + "5"), 10, 4),  # more digits than an int may print
        (Decimal("0.15" + "0" * 5000), 10, 2),
        (Decimal("5" + "0" * 100 + "e-102"), 1, 1),  # 0.5 written with 101 digits: at least 1
        (Decimal("25" + "0" * 100 + "e-102"), 10, 3),  # 2.5 rounds half up
    ],
)
def test_count_for_fraction(fraction: float | Decimal, total: int, expected: int) -> None:
    assert count_for_fraction(fraction, total) == expected


@pytest.mark.parametrize(
    "fraction", [0.0, -0.1, 1.5, math.inf, -math.inf, math.nan, Decimal("NaN"), Decimal("-Inf"), Decimal(2)]
)
def test_fraction_out_of_range_or_not_finite_is_refused(fraction: float | Decimal) -> None:
    with pytest.raises(UsageError, match="fraction must be in"):
        check_limits(None, fraction)


@pytest.mark.parametrize("fraction", [True, "0.5", None])
def test_fraction_of_another_type_is_a_type_error(fraction: object) -> None:
    if fraction is None:
        check_limits(None, None)  # neither: keep everything
        return
    with pytest.raises(TypeError, match="fraction must be a number"):
        check_limits(None, fraction)  # type: ignore[arg-type]


# --- --min-score: the threshold rule (rules.py) and the fraction it leaves alone -------------


def test_a_fraction_is_of_the_total_given_not_of_the_records_ranked() -> None:
    # --min-score ranks only the records at or above it; --fraction stays a share of all scored.
    kept = [(0.9, 0, b"a\n"), (0.8, 3, b"b\n"), (0.7, 5, b"c\n")]
    assert [r[1] for r in rank(iter(kept), fraction=0.2, total=lambda: 10)] == [0, 3]
    assert [r[1] for r in rank(iter(kept), fraction=0.5, total=lambda: 10)] == [0, 3, 5]  # 5 asked, 3 there
    assert [r[1] for r in rank(iter(kept), fraction=0.5)] == [0, 3]  # default: of the records ranked


def test_a_score_equal_to_the_threshold_is_kept_and_the_next_float_down_is_not() -> None:
    s = 0.1 + 0.2  # 0.30000000000000004: the float the output shows, every digit
    assert not below(s, s)
    assert not below(s, float(repr(s)))
    assert below(math.nextafter(s, -math.inf), s)
    assert below(-0.25, -0.2) and not below(-0.2, -0.25)  # contrast scores: any sign
    assert not below(-1e300, None)  # no threshold: nothing is below it
    assert not below(-0.0, 0.0)  # as jq compares: -0.0 >= 0


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_threshold_that_is_not_finite_is_refused(value: float) -> None:
    with pytest.raises(UsageError, match="min_score must be a finite number"):
        check_min_score(value)


@pytest.mark.parametrize("value", [True, "0.2"])
def test_a_threshold_of_another_type_is_a_type_error(value: object) -> None:
    with pytest.raises(TypeError, match="min_score must be a number"):
        check_min_score(value)


def test_an_int_threshold_becomes_its_float() -> None:
    assert check_min_score(None) is None
    assert check_min_score(0) == 0.0 and isinstance(check_min_score(0), float)

"""Size budgets (budget.py): counters, and taking a ranking up to a budget."""

from __future__ import annotations

import pickle
import random
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from conftest import TARGETS, ok, records, run

from zipfit_cli.base.errors import UsageError
from zipfit_cli.selection.budget import (
    BudgetTally,
    make_counter,
    take_shortest_within_budget,
    take_within_budget,
)


def test_chars_counts_code_points_for_str_and_bytes() -> None:
    count = make_counter("chars")
    assert count("héllo") == 5
    assert count("héllo".encode()) == 5
    assert count("") == 0


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("hello world", ["hello", " world"]),
        ("don't stop", ["don", "'t", " stop"]),
        ("x = f(10) + 2.5", ["x", " =", " f", "(", "10", ")", " +", " 2", ".", "5"]),
        ("a  b", ["a", " ", " b"]),  # whitespace run, then the space joins the word
        ("def f():\n    return 1\n", ["def", " f", "():", "\n   ", " return", " 1", "\n"]),
        ("snake_case", ["snake", "_", "case"]),
    ],
)
def test_approx_splits_like_gpt2(text: str, pieces: list[str]) -> None:
    import re

    from zipfit_cli.selection.budget import APPROX_PATTERN

    assert re.findall(APPROX_PATTERN, text) == pieces
    assert make_counter("approx")(text) == len(pieces)
    assert "".join(pieces) == text


def test_approx_covers_every_character(source_texts: list[bytes]) -> None:
    import re

    from zipfit_cli.selection.budget import APPROX_PATTERN

    for data in source_texts[:300]:
        text = data.decode()
        assert "".join(re.findall(APPROX_PATTERN, text)) == text


def test_approx_is_near_four_chars_per_token(source_texts: list[bytes]) -> None:
    count = make_counter("approx")
    tokens = sum(count(t) for t in source_texts[:500])
    chars = sum(len(t.decode()) for t in source_texts[:500])
    assert 3.0 < chars / tokens < 5.5


def test_counters_pickle() -> None:
    for spec in ("chars", "approx"):
        counter = pickle.loads(pickle.dumps(make_counter(spec)))
        assert counter("two words") == make_counter(spec)("two words")
        assert counter.spec == spec


@pytest.mark.parametrize("spec", ["", "tokens", "tiktoken:", "bpe:gpt2"])
def test_unknown_spec_is_a_usage_error(spec: str) -> None:
    with pytest.raises(UsageError, match="unknown size counter"):
        make_counter(spec)


class _FakeEncoding:
    def encode_ordinary(self, text: str) -> list[int]:
        return list(range(len(text.split())))


def _fake_tiktoken(error: Exception | None = None) -> types.ModuleType:
    module = types.ModuleType("tiktoken")

    def get_encoding(name: str) -> Any:
        if error is not None:
            raise error
        if name != "fake_base":
            raise ValueError(f"Unknown encoding {name}")
        return _FakeEncoding()

    module.get_encoding = get_encoding  # type: ignore[attr-defined]
    return module


def test_tiktoken_counter_loads_lazily_after_pickling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", _fake_tiktoken())
    counter = make_counter("tiktoken:fake_base")
    assert counter("a b c") == 3
    clone = pickle.loads(pickle.dumps(counter))
    assert clone.__dict__["_encode"] is None
    assert clone(b"a b") == 2
    assert clone.spec == "tiktoken:fake_base"


def test_tiktoken_unknown_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", _fake_tiktoken())
    with pytest.raises(UsageError, match="Unknown encoding"):
        make_counter("tiktoken:nope")


def test_tiktoken_offline_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", _fake_tiktoken(ConnectionError("no network")))
    with pytest.raises(UsageError, match="TIKTOKEN_CACHE_DIR"):
        make_counter("tiktoken:cl100k_base")


def test_tiktoken_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # makes `import tiktoken` fail
    with pytest.raises(UsageError, match="pip install tiktoken"):
        make_counter("tiktoken:cl100k_base")


def test_take_within_budget_is_a_prefix_that_stops_at_overflow() -> None:
    sizes = [3, 4, 5, 1, 1]
    tally = BudgetTally()
    taken = list(take_within_budget(sizes, lambda n: n, 10, tally))
    assert taken == [3, 4]  # 3 + 4 + 5 > 10: stop, even though the 1s would fit
    assert tally == BudgetTally(records=2, used=7)


def test_take_within_budget_exact_fit_and_exhaustion() -> None:
    tally = BudgetTally()
    assert list(take_within_budget([2, 3, 5], lambda n: n, 10, tally)) == [2, 3, 5]
    assert tally == BudgetTally(records=3, used=10)
    assert list(take_within_budget([2, 3], lambda n: n, 100)) == [2, 3]


def test_take_within_budget_first_too_big_or_zero_budget() -> None:
    assert list(take_within_budget([11, 1], lambda n: n, 10)) == []
    assert list(take_within_budget([0, 0, 1], lambda n: n, 0)) == [0, 0]
    with pytest.raises(UsageError):
        list(take_within_budget([1], lambda n: n, -1))


def test_take_within_budget_reads_no_further_than_needed() -> None:
    seen: list[int] = []

    def ranked() -> Any:
        for i in range(100):
            seen.append(i)
            yield i

    assert list(take_within_budget(ranked(), lambda _: 4, 10)) == [0, 1]
    assert seen == [0, 1, 2]


def test_budget_with_a_counter_on_records() -> None:
    records = [(0.9, "alpha beta"), (0.8, "gamma"), (0.7, "delta epsilon zeta")]
    count = make_counter("approx")
    taken = list(take_within_budget(records, lambda r: count(r[1]), 3))
    assert [text for _, text in taken] == ["alpha beta", "gamma"]


def test_budget_takes_a_prefix_of_the_ranking(slice_path: Path) -> None:
    ranking = records(ok("select", slice_path, *TARGETS, "--compressor", "lz4", "-q").stdout)
    count = make_counter("approx")
    for args, size in ((["--budget-tokens", "3000"], count), (["--budget-chars", "4000"], len)):
        chosen = records(ok("select", slice_path, *TARGETS, "--compressor", "lz4", *args, "-q").stdout)
        budget = int(args[1])
        assert chosen == ranking[: len(chosen)]
        used = sum(size(r["text"]) for r in chosen)
        assert used <= budget < used + size(ranking[len(chosen)]["text"])


def test_budget_and_top_k_both_limit(slice_path: Path) -> None:
    args = ("--compressor", "lz4", "--budget-chars", "1000000", "-k", "5", "-q")
    chosen = records(ok("select", slice_path, *TARGETS, *args).stdout)
    assert len(chosen) == 5


# --budget-fill shortest: the budget spent on the shortest of the selected records.


def _shortest_plainly(sizes: list[int], budget: int) -> list[int]:
    """The positions a shortest-first fill takes, written the obvious way: try every record
    from the shortest (ties: the earlier), stop at the first that does not fit."""
    order = sorted(range(len(sizes)), key=lambda i: (sizes[i], i))
    taken, used = [], 0
    for i in order:
        if used + sizes[i] > budget:
            break
        taken.append(i)
        used += sizes[i]
    return sorted(taken)


@pytest.mark.parametrize("seed", range(30))
def test_take_shortest_matches_the_plain_rule_with_ties(seed: int) -> None:
    rng = random.Random(seed)
    sizes = [rng.choice([0, 1, 2, 2, 3, 5, 8, 8, 13]) for _ in range(rng.randint(0, 25))]
    budget = rng.randint(0, sum(sizes) + 3)
    tally = BudgetTally()
    items = list(enumerate(sizes))
    taken = list(take_shortest_within_budget(items, lambda item: item[1], budget, tally))
    assert [i for i, _ in taken] == _shortest_plainly(sizes, budget)
    assert tally.records == len(taken) and tally.used == sum(s for _, s in taken) <= budget


def test_take_shortest_prefers_the_earlier_of_equal_sizes_and_keeps_order() -> None:
    items = ["cc", "a", "bb", "d", "eee"]
    assert list(take_shortest_within_budget(items, len, 4)) == ["cc", "a", "d"]  # cc before bb: earlier
    assert list(take_shortest_within_budget(items, len, 3)) == ["a", "d"]
    assert list(take_shortest_within_budget(items, len, 0)) == []
    with pytest.raises(UsageError):
        list(take_shortest_within_budget(items, len, -1))


def _fill_of(ranked: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    return [ranked[i] for i in _shortest_plainly([len(r["text"]) for r in ranked], budget)]


@pytest.mark.parametrize(
    "limit",
    [["-k", "40"], ["--fraction", "0.2"], ["-k", "40", "--contrast", "--coverage", "0.25"]],
    ids=["k", "fraction", "coverage"],
)
def test_budget_fill_shortest_is_the_shortest_of_the_selection_in_rank_order(
    slice_path: Path, limit: list[str]
) -> None:
    args = (slice_path, *TARGETS, "--compressor", "lz4", *limit, "-q")
    ranked = records(ok("select", *args).stdout)
    budget = sum(len(r["text"]) for r in ranked) // 3
    fill = ["--budget-chars", str(budget), "--budget-fill", "shortest"]
    one = ok("select", *args, *fill, "-j", "1").stdout
    assert records(one) == _fill_of(ranked, budget)
    assert len(records(one)) > len(records(ok("select", *args, "--budget-chars", str(budget)).stdout))
    assert ok("select", *args, *fill, "-j", "2", "--batch-size", "7").stdout == one


def test_budget_fill_shortest_through_shards_and_merge(slice_path: Path, tmp_path: Path) -> None:
    args = (slice_path, *TARGETS, "--compressor", "lz4", "-q")
    single = ok("select", *args, "-k", "30", "--budget-chars", "5000", "--budget-fill", "shortest").stdout
    parts = [tmp_path / f"p{i}.jsonl" for i in range(3)]
    for i, part in enumerate(parts):
        ok("select", *args, "--shard", f"{i}/3", "-o", part)
    merged = ok("merge", *parts, "-k", "30", "--budget-chars", "5000", "--budget-fill", "shortest", "-q")
    assert merged.stdout == single


def test_budget_fill_shortest_needs_a_budget_and_a_limit(slice_path: Path, tmp_path: Path) -> None:
    args = (slice_path, *TARGETS, "--compressor", "lz4", "-q")
    no_budget = run("select", *args, "-k", "5", "--budget-fill", "shortest")
    assert no_budget.exit_code == 2 and "--budget-fill shortest goes with --budget-tokens" in no_budget.stderr
    no_limit = run("select", *args, "--budget-chars", "900", "--budget-fill", "shortest")
    assert no_limit.exit_code == 2 and "give -k or --fraction" in no_limit.stderr
    part = tmp_path / "p.jsonl"
    ok("select", *args, "--shard", "0/1", "-o", part)
    merged = run("merge", part, "--budget-chars", "900", "--budget-fill", "shortest", "-q")
    assert merged.exit_code == 2 and "give -k or --fraction" in merged.stderr
    wrong = run("select", *args, "-k", "5", "--budget-chars", "9", "--budget-fill", "longest")
    assert wrong.exit_code == 2


def test_budget_fill_shortest_that_fits_nothing_warns_with_the_shortest_size(slice_path: Path) -> None:
    args = (slice_path, *TARGETS, "--compressor", "lz4", "-k", "10")
    ranked = records(ok("select", *args, "-q").stdout)
    shortest = min(len(r["text"]) for r in ranked)
    result = run("select", *args, "--budget-chars", str(shortest - 1), "--budget-fill", "shortest")
    assert result.stdout == ""
    assert f"smaller than the shortest selected record, which holds {shortest:,}" in result.stderr


def test_the_summary_says_a_shortest_fill_has_no_cut(slice_path: Path) -> None:
    # Records above the lowest selected score were left out: calling it a threshold, and
    # marking every bin above it as selected, misled.
    args = (
        slice_path,
        *TARGETS,
        "--compressor",
        "lz4",
        "-k",
        "40",
        "--budget-chars",
        "6000",
        "--summary",
        "full",
    )
    shortest = run("select", *args, "--budget-fill", "shortest")
    assert "(the shortest of the selection)" in shortest.stderr
    assert "lowest selected score" in shortest.stderr and "selection threshold" not in shortest.stderr
    assert not any(" > " in line or "| >" in line for line in shortest.stderr.splitlines())
    rank = run("select", *args)
    assert "selection threshold" in rank.stderr and "shortest" not in rank.stderr
    assert any(" > " in line for line in rank.stderr.splitlines())  # a cut: the bins above it marked

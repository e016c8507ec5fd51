"""select --coverage (selection/coverage.py, coverage_spool.py, scoring/distances.py): the rule
against plain implementations, its bounded lists, and the CLI end to end."""

from __future__ import annotations

import errno
import io
import json
import os
import random
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST, SOURCE, TARGET, TEMPLATE, ok, records, run, run_process

from zipfit_cli import ContrastScorer, TargetSet, get_compressor
from zipfit_cli.scoring.distances import CoverageScore, WithDistances
from zipfit_cli.selection.coverage import (
    Candidates,
    Nearest,
    check_coverage,
    coverage_count,
    go_round,
    list_length,
    select_top,
)

# Rows: records; columns: targets. Records 0 and 1 are near target 0, 2 and 3 near target 1.
ROWS = [[0.1, 0.9], [0.2, 0.8], [0.9, 0.3], [0.8, 0.2], [0.5, 0.5]]


def _lists(rows: Sequence[Sequence[float]], q: int) -> list[list[tuple[float, int, int]]]:
    near: Nearest[int] = Nearest(len(rows[0]), q)
    for i, row in enumerate(rows):
        near.push(row, i, i)
    return near.lists()


def naive_rule(rows: Sequence[Sequence[float]], scores: Sequence[float], k: int, count: int) -> list[int]:
    """The rule on full lists, written as plainly as possible: O(N × K) scans, no heaps."""
    taken: list[int] = []
    n = len(rows[0])
    active = list(range(n))
    while len(taken) < count and active:
        for j in list(active):
            if len(taken) == count:
                break
            free = [i for i in range(len(rows)) if i not in taken]
            if not free:
                active.remove(j)
                continue
            taken.append(min(free, key=lambda i: (rows[i][j], i)))
    by_score = sorted(range(len(rows)), key=lambda i: (-scores[i], i))
    return (taken + [i for i in by_score if i not in taken])[:k]


def test_the_round_goes_target_by_target_each_taking_its_nearest_untaken_record() -> None:
    picks, passed = go_round(_lists(ROWS, 5), 4)
    assert [i for i, _ in picks] == [0, 3, 1, 2]
    assert passed == {0, 1, 2, 3}


def test_ties_go_to_the_earlier_record_and_a_used_up_list_drops_out() -> None:
    rows = [[0.5, 0.1], [0.5, 0.2], [0.5, 0.3]]
    # Target 0 ties everywhere: the earliest free record. With q = 1, target 1's list holds
    # record 0 only, taken by target 0 already: it drops out, target 0 goes on alone.
    assert [i for i, _ in go_round(_lists(rows, 3), 3)[0]] == [0, 1, 2]
    assert [i for i, _ in go_round(_lists(rows, 1), 3)[0]] == [0]


def test_a_refused_record_is_passed_over_and_the_target_takes_its_next() -> None:
    picks, passed = go_round(_lists(ROWS, 5), 2, accept=lambda index, _: index != 0)
    assert [i for i, _ in picks] == [1, 3]
    assert 0 in passed


def test_the_selection_is_coverage_picks_first_then_the_rest_by_score() -> None:
    scores = [0.9, 0.1, 0.2, 0.3, 0.8]
    pairs = enumerate(zip(scores, ROWS, strict=True))
    stream = [(CoverageScore(s, row), i, b"%d" % i) for i, (s, row) in pairs]
    picked: set[int] = set()
    chosen = list(select_top(iter(stream), 4, Decimal("0.5"), 2, picked))
    assert [i for _, i, _ in chosen] == [0, 3, 4, 2]  # 0, 3 by coverage; 4, 2 by score
    assert picked == {0, 3}
    assert all(type(score) is float for score, _, _ in chosen)  # written as plain floats


@pytest.mark.parametrize("seed", range(40))
def test_random_matrices_match_the_naive_rule_when_lists_are_long_enough(seed: int) -> None:
    rng = random.Random(seed)
    n_rec, n_tgt = rng.randint(1, 40), rng.randint(1, 6)
    # Coarse values: many ties, which input order must break.
    rows = [[rng.randint(0, 6) / 6 for _ in range(n_tgt)] for _ in range(n_rec)]
    scores = [rng.randint(0, 5) / 5 for _ in range(n_rec)]
    k = rng.randint(1, n_rec + 3)
    share = Decimal(rng.choice(["1", "0.25", "0.5", "0.75", "0"]))
    count = coverage_count(share, k)
    stream = [(CoverageScore(s, row), i, b"") for i, (s, row) in enumerate(zip(scores, rows, strict=True))]
    expected = naive_rule(rows, scores, k, count)
    assert [i for _, i, _ in select_top(iter(stream), k, share, n_tgt, q=k)] == expected  # q >= K
    if list_length(count, n_tgt) >= count:  # the default lists are long enough too
        assert [i for _, i, _ in select_top(iter(stream), k, share, n_tgt)] == expected


@pytest.mark.parametrize("seed", range(12))
def test_parts_handing_on_their_candidates_give_the_whole_inputs_selection(seed: int) -> None:
    rng = random.Random(seed)
    n_rec, n_tgt, k = 300, 7, rng.randint(5, 60)
    share = Decimal(rng.choice(["1", "0.25", "0.6"]))
    rows = [[rng.random() for _ in range(n_tgt)] for _ in range(n_rec)]
    stream = [(CoverageScore(rng.random(), row), i, b"") for i, row in enumerate(rows)]
    whole = list(select_top(iter(stream), k, share, n_tgt))
    cuts = sorted(rng.sample(range(1, n_rec), 4))
    kept: list[tuple[float, int, bytes]] = []
    for start, end in zip([0, *cuts], [*cuts, n_rec], strict=True):
        part: Candidates[bytes] = Candidates(k, share, n_tgt)
        for score, index, line in stream[start:end]:
            part.push(score, index, line)
        kept += part.ranked()
    kept.sort(key=lambda r: r[1])  # the client sees them in input order
    assert list(select_top(iter(kept), k, share, n_tgt)) == whole


def test_each_targets_list_never_holds_more_than_q() -> None:
    rng = random.Random(7)
    near: Nearest[int] = Nearest(5, 3)
    for i in range(2000):
        near.push([rng.random() for _ in range(5)], i, i)
        assert max(near.sizes()) <= 3
    assert near.sizes() == [3] * 5
    found: Candidates[bytes] = Candidates(10, Decimal(1), 5)
    for i in range(2000):
        found.push(CoverageScore(rng.random(), [rng.random() for _ in range(5)]), i, b"")
    q = list_length(10, 5)
    assert max(found.near.sizes()) == q
    assert len(found.ranked()) <= 10 + 5 * q  # about K + n × q records, whatever N


def test_coverage_counts_round_half_up_and_bad_shares_are_refused() -> None:
    assert coverage_count(Decimal("0.25"), 10) == 3  # 2.5: half up
    assert coverage_count(Decimal("0.25"), 100) == 25
    assert coverage_count(0, 100) == 0 and list_length(0, 40) == 0
    for bad in (Decimal("-0.1"), Decimal("1.5"), Decimal("NaN"), 2.0):
        with pytest.raises(ValueError, match="coverage"):
            check_coverage(bad)


def test_distances_are_the_ncds_the_score_averages_bit_for_bit() -> None:
    comp = get_compressor("gzip", 6)
    targets = [b"def add(a, b): return a + b", b"SELECT * FROM t WHERE x = 1", b"the cat sat on the mat"]
    background = [b"lorem ipsum dolor sit amet", b"int main() { return 0; }", b"def add(a, b): return a + b"]
    texts = [b"def sub(a, b): return a - b", b"SELECT y FROM u", b"def add(a, b): return a + b"]
    pairwise = TargetSet(list(targets), comp)
    contrast = ContrastScorer.from_texts(targets, background, comp, weight=0.75)
    for text in texts:
        plain = WithDistances(pairwise).score(text)
        assert float(plain) == pairwise.score(text)
        assert plain.distances == tuple(pairwise.ncds(text))
        mixed = WithDistances(contrast).score(text)
        assert float(mixed) == contrast.score(text)
        to_background, _ = contrast.terms(text)
        assert mixed.distances == tuple(d - 0.75 * to_background for d in pairwise.ncds(text))
    with pytest.raises(ValueError, match="coverage"):
        WithDistances(object())


# ---- the CLI, end to end, on the sample data ---------------------------------------------


def _ids(data: bytes) -> list[str]:
    return [r["id"] for r in records(data)]


def _select(*extra: Any) -> bytes:
    return bytes(ok("select", SOURCE, *FAST, "-q", *extra).stdout_bytes)


@pytest.fixture(scope="module")
def sample_matrix() -> tuple[list[str], list[list[float]], list[float]]:
    """Every sample record's id, NCDs to each target and paper score (lz4), computed here."""
    comp = get_compressor("lz4")
    targets = [
        (r["prompt"] + r["canonical_solution"]).encode()
        for r in map(json.loads, TARGET.read_text(encoding="utf-8").splitlines())
    ]
    scorer = WithDistances(TargetSet(targets, comp))
    ids, rows, scores = [], [], []
    for line in SOURCE.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        scored = scorer.score(record["text"].encode())
        ids.append(record["id"])
        rows.append(list(scored.distances))
        scores.append(float(scored))
    return ids, rows, scores


def test_select_coverage_matches_the_naive_rule(sample_matrix: Any) -> None:
    ids, rows, scores = sample_matrix
    for share, k in (("1", 60), ("0.25", 50)):
        expected = naive_rule(rows, scores, k, coverage_count(Decimal(share), k))
        assert _ids(_select("-k", k, "--coverage", share)) == [ids[i] for i in expected]


def test_coverage_output_is_the_same_across_workers_and_batch_sizes() -> None:
    first = _select("-k", 45, "--coverage", "1")
    assert len(first.splitlines()) == 45
    for extra in (["-j", "2"], ["--batch-size", "7"], ["-j", "2", "--batch-size", "1"]):
        assert _select("-k", 45, "--coverage", "1", *extra) == first
    recommended = _select("-k", 45, "--contrast", "--coverage", "0.25", "--background-size", 16)
    again = _select("-k", 45, "--contrast", "--coverage", "0.25", "--background-size", 16, "-j", "2")
    assert recommended == again


def test_coverage_zero_is_todays_selection() -> None:
    assert _select("-k", 30, "--coverage", "0") == _select("-k", 30)
    assert _select("--fraction", "0.01", "--coverage", "0") == _select("--fraction", "0.01")


def test_min_score_comes_first(sample_matrix: Any) -> None:
    ids, rows, scores = sample_matrix
    floor = sorted(scores)[len(scores) // 2]
    keep = [i for i, s in enumerate(scores) if s >= floor]
    expected = naive_rule([rows[i] for i in keep], [scores[i] for i in keep], 40, 40)
    got = _ids(_select("-k", 40, "--coverage", "1", "--min-score", repr(floor)))
    assert got == [ids[keep[i]] for i in expected]


def test_fraction_takes_its_share_of_the_records_with_coverage(sample_matrix: Any) -> None:
    ids, rows, scores = sample_matrix
    k = 40  # 0.01 of 4,000
    expected = naive_rule(rows, scores, k, coverage_count(Decimal("0.5"), k))
    assert _ids(_select("--fraction", "0.01", "--coverage", "0.5")) == [ids[i] for i in expected]


def test_dedupe_passes_over_a_duplicate_coverage_pick(tmp_path: Path, sample_matrix: Any) -> None:
    ids, rows, _ = sample_matrix
    lines = SOURCE.read_bytes().splitlines(keepends=True)
    first_pick = min(range(len(rows)), key=lambda i: (rows[i][0], i))
    twin = json.loads(lines[first_pick]) | {"id": "twin"}
    source = tmp_path / "twins.jsonl"
    source.write_bytes(b"".join(lines) + json.dumps(twin).encode() + b"\n")
    report = tmp_path / "report.json"
    # 80 of 40 targets: target 0's second turn meets the twin, next in its list, and passes it.
    out = ok("select", source, *FAST, "-q", "-k", 80, "--coverage", "1", "--dedupe", "--report", report)
    got = _ids(out.stdout_bytes)
    assert got[0] == ids[first_pick] and "twin" not in got
    assert len(got) == 80 and len({r["text"] for r in records(out.stdout_bytes)}) == 80
    stats = json.loads(report.read_text())["stats"]
    assert stats["duplicates"] == {"exact": 1}
    assert stats["selected_by"] == {"coverage": 80}


def test_a_budget_counts_coverage_picks_first() -> None:
    covered = _select("-k", 30, "--coverage", "1")
    budget = sum(len(r["text"]) for r in records(covered)[:5])
    within = _select("-k", 30, "--coverage", "1", "--budget-chars", budget)
    assert within == b"".join(covered.splitlines(keepends=True)[:5])


def test_the_summary_and_report_say_how_many_each_rule_took(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    line = ("--summary", "line", "--report", report)
    result = ok("select", SOURCE, *FAST, "-k", 20, "--coverage", "0.25", *line)
    assert "by_coverage=5 by_score=15" in result.stderr
    assert json.loads(report.read_text())["stats"]["selected_by"] == {"coverage": 5, "score": 15}
    assert json.loads(report.read_text())["settings"]["coverage"] == "0.25"
    lowest = min(r["zipfit_score"] for r in records(result.stdout_bytes))
    assert json.loads(report.read_text())["stats"]["threshold"] == lowest  # the lowest, not the last


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--coverage", "1"], "give -k or --fraction"),
        (["-k", 5, "--coverage", "1.5"], "from 0 to 1"),
        (["-k", 5, "--coverage", "1", "--adaptive"], "--adaptive"),
        (["-k", 5, "--coverage", "1", "--method", "corpus"], "--method corpus"),
        (["-k", 5, "--coverage", "1", "--dedupe", "--shard", "0/2"], "zipfit merge"),
    ],
)
def test_refused_combinations_exit_2(extra: list[Any], message: str) -> None:
    result = run("select", SOURCE, *FAST, *extra)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_a_refusal_is_one_line_on_stderr_with_exit_2() -> None:
    targets = ("-t", str(TARGET), "--target-template", TEMPLATE)
    proc = run_process("select", str(SOURCE), *targets, "--coverage", "0.5", "--adaptive")
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.decode().startswith("zipfit: error: ") and proc.stderr.count(b"\n") == 1


# ---- shards and merge ------------------------------------------------------------------


def _parts(tmp_path: Path, n: int, *extra: Any, by: str = "record") -> list[Path]:
    paths = []
    tmp_path.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        path = tmp_path / f"part{i}.jsonl"
        ok("select", SOURCE, *FAST, "-q", *extra, "--shard", f"{i}/{n}", "--shard-by", by, "-o", path)
        paths.append(path)
    return paths


MERGED = {
    "coverage-1": ("-k", 45, "--coverage", "1"),
    "recommended": ("-k", 45, "--contrast", "--background-size", 16, "--coverage", "0.25"),
    "fraction": ("--fraction", "0.01", "--coverage", "0.5"),
    "min-score": ("-k", 30, "--coverage", "1", "--min-score", "0.05"),
}


@pytest.mark.parametrize("extra", MERGED.values(), ids=MERGED.keys())
@pytest.mark.parametrize("shards", [2, 3])
def test_shards_and_merge_give_the_single_runs_output(
    tmp_path: Path, extra: tuple[Any, ...], shards: int
) -> None:
    parts = _parts(tmp_path, shards, *extra)
    assert b'"_zipfit_distances":[' in parts[0].read_bytes()
    merged = ok("merge", *parts, "-q", "--report", tmp_path / "r.json").stdout_bytes
    assert merged == _select(*extra)
    assert b"_zipfit" not in merged
    stats = json.loads((tmp_path / "r.json").read_text())["stats"]
    assert sum(stats["selected_by"].values()) == len(merged.splitlines())
    assert stats["threshold"] == min(r["zipfit_score"] for r in records(merged))


def test_merge_with_a_smaller_k_or_dedupe_selects_as_one_run(tmp_path: Path) -> None:
    parts = _parts(tmp_path, 2, "-k", 60, "--coverage", "0.5")
    assert ok("merge", *parts, "-q", "-k", 40).stdout_bytes == _select("-k", 40, "--coverage", "0.5")
    refused = run("merge", *parts, "-q", "-k", 61)
    assert refused.exit_code == 3 and "--coverage selection of 60" in refused.stderr
    whole = _parts(tmp_path / "whole", 2, "--fraction", "0.01", "--coverage", "1", by="file")
    deduped = ok("merge", *whole, "-q", "--dedupe").stdout_bytes
    assert deduped == _select("--fraction", "0.01", "--coverage", "1", "--dedupe")


def test_merge_refuses_parts_of_another_coverage(tmp_path: Path) -> None:
    a, _ = _parts(tmp_path / "a", 2, "-k", 20, "--coverage", "1")
    _, b = _parts(tmp_path / "b", 2, "-k", 20)
    result = run("merge", a, b)
    assert result.exit_code == 3 and "coverage" in result.stderr


def test_merge_refuses_a_part_whose_distances_were_cut(tmp_path: Path) -> None:
    (a, b) = _parts(tmp_path, 2, "-k", 20, "--coverage", "1")
    lines = a.read_bytes().splitlines(keepends=True)
    lines[0] = lines[0].replace(b'"_zipfit_distances":[', b'"_zipfit_distances":[0.5,', 1)
    a.write_bytes(b"".join(lines))
    result = run("merge", a, b)
    assert result.exit_code == 3 and "not a zipfit part record" in result.stderr


def test_shards_without_k_hand_on_every_record_and_the_merge_gives_k(tmp_path: Path) -> None:
    # The merge's hint says "write parts with a larger -k or none": a shard refused none.
    parts = _parts(tmp_path, 2, "--coverage", "1")
    merged = ok("merge", *parts, "-q", "-k", 40, "--dedupe").stdout_bytes
    assert merged == _select("-k", 40, "--coverage", "1", "--dedupe")
    refused = run("merge", *parts, "-q")
    assert refused.exit_code == 2 and "give the merge -k or --fraction" in refused.stderr


def test_merge_min_score_above_the_parts_needs_parts_not_cut_to_k(tmp_path: Path) -> None:
    # A part cut to K holds each target's q nearest over all its records: once the merge
    # leaves out those below its --min-score, a target's nearest records at or above it may
    # be missing (2 targets, K 4: a part's 12 nearest to target 0 all below, the next ones
    # above in no list), and the merge took other records than one run would.
    cut = _parts(tmp_path / "cut", 2, "-k", 30, "--coverage", "1")
    refused = run("merge", *cut, "-q", "--min-score", "0.05")
    assert refused.exit_code == 3 and "--min-score" in refused.stderr, refused.output
    assert ok("merge", *cut, "-q").stdout_bytes == _select("-k", 30, "--coverage", "1")
    whole = _parts(tmp_path / "whole", 2, "--coverage", "1")
    merged = ok("merge", *whole, "-q", "-k", 30, "--min-score", "0.05").stdout_bytes
    assert merged == _select("-k", 30, "--coverage", "1", "--min-score", "0.05")


class _FullDisk(io.BytesIO):
    """A temporary file on a full disk: a write past 1,000 bytes fails, and once one has, so
    does every flush and close (its buffer still holds what did not fit)."""

    failed = False

    def _full(self) -> OSError:
        self.failed = True
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > 1000:
            raise self._full()
        return super().write(data)

    def flush(self) -> None:
        if self.failed:
            raise self._full()

    def close(self) -> None:
        if self.failed:
            raise self._full()
        super().close()


def test_a_full_temporary_directory_is_one_line_naming_tmpdir(monkeypatch: pytest.MonkeyPatch) -> None:
    # The distances' spool failed, and closing it in a `finally` failed again: the user saw a
    # bare "No space left on device" in place of the line saying what to do.
    monkeypatch.setattr(tempfile, "TemporaryFile", lambda **_: _FullDisk())
    result = run("select", SOURCE, *FAST, "--fraction", "0.05", "--coverage", "0.5")
    assert result.exit_code == 1, result.output
    assert "TMPDIR" in result.stderr and len(result.stderr.splitlines()) == 1

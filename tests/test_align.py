"""Dataset alignment (align.py, `zipfit align`): against brute force, and the pair sampler."""

from __future__ import annotations

import gzip
import json
import math
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import TARGETS, ok, records, run

from zipfit_cli.base.errors import InputError, UsageError
from zipfit_cli.scoring.align import PairReservoir, dataset_alignment, pair_alignments
from zipfit_cli.scoring.pairwise import TargetSet


def brute_force(xs: list[bytes], ts: list[bytes], level: int = 9) -> list[float]:
    """1 - NCD for every (x, t), record-major, with C = len(gzip.compress(b, level))."""
    out = []
    for x in xs:
        for t in ts:
            c_x, c_t, c_xt = (len(gzip.compress(b, level)) for b in (x, t, x + t))
            out.append(1.0 - (c_xt - min(c_x, c_t)) / max(c_x, c_t))
    return out


@pytest.fixture(scope="module")
def by_kind(source_path: Path) -> dict[str, list[bytes]]:
    kinds: dict[str, list[bytes]] = {}
    for line in source_path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        kinds.setdefault(record["source"], []).append(record["text"].encode())
    return kinds


@pytest.fixture(scope="module")
def targets(target_texts: list[bytes]) -> TargetSet:
    return TargetSet.from_texts(target_texts, "gzip", 9)


def test_exact_matches_brute_force(source_texts: list[bytes], target_texts: list[bytes]) -> None:
    xs, ts = source_texts[:12], target_texts[:4]
    expected = brute_force(xs, ts)
    result = dataset_alignment(xs, TargetSet.from_texts(ts, "gzip", 9))
    assert result.exact
    assert (result.n_records, result.n_targets, result.n_pairs) == (12, 4, 48)
    assert result.mean == pytest.approx(statistics.fmean(expected), abs=1e-12)
    assert result.std == pytest.approx(statistics.stdev(expected), abs=1e-12)
    assert result.ci_low == result.ci_high == result.mean


def test_enough_pairs_is_exact_and_identical(source_texts: list[bytes], target_texts: list[bytes]) -> None:
    targets = TargetSet.from_texts(target_texts[:5], "gzip", 6)
    xs = source_texts[:10]
    full = dataset_alignment(xs, targets)
    assert dataset_alignment(iter(xs), targets, pairs=50, seed=1) == full
    assert dataset_alignment(xs, targets, pairs=10_000, seed=2) == full
    sampled = dataset_alignment(xs, targets, pairs=49, seed=1)
    assert not sampled.exact and sampled.n_pairs == 49 and sampled.n_records == 10


def test_pair_alignments_match_brute_force(source_texts: list[bytes], target_texts: list[bytes]) -> None:
    ts = target_texts[:6]
    targets = TargetSet.from_texts(ts, "gzip", 9)
    x = source_texts[3]
    got = pair_alignments(x, [5, 1, 2], targets)
    expected = brute_force([x], ts)
    assert got == pytest.approx([expected[5], expected[1], expected[2]], abs=1e-12)


def test_sampled_matches_brute_force_on_the_chosen_pairs(
    source_texts: list[bytes], target_texts: list[bytes]
) -> None:
    xs, ts = source_texts[:30], target_texts[:5]
    reservoir = PairReservoir(len(ts), 20, seed=3)
    for x in xs:
        reservoir.offer(x)
    table = brute_force(xs, ts)
    chosen = [table[i * len(ts) + j] for i, _, js in reservoir.groups() for j in js]
    result = dataset_alignment(xs, TargetSet.from_texts(ts, "gzip", 9), pairs=20, seed=3)
    assert result.n_pairs == 20
    assert result.mean == pytest.approx(statistics.fmean(chosen), abs=1e-12)
    assert result.std == pytest.approx(statistics.stdev(chosen), abs=1e-12)
    half = 1.959963984540054 * result.std / math.sqrt(20)
    assert (result.ci_low, result.ci_high) == pytest.approx((result.mean - half, result.mean + half))


def test_reservoir_is_uniform_over_pairs() -> None:
    n_records, n_targets, size, runs = 7, 3, 5, 6000
    counts: Counter[tuple[int, int]] = Counter()
    for seed in range(runs):
        reservoir = PairReservoir(n_targets, size, seed)
        for i in range(n_records):
            reservoir.offer(str(i).encode())
        sample = [(i, j) for i, _, js in reservoir.groups() for j in js]
        assert len(set(sample)) == size  # without replacement
        counts.update(sample)
    expected = runs * size / (n_records * n_targets)  # about 1429 per pair
    assert len(counts) == n_records * n_targets
    assert all(abs(c - expected) < 5 * math.sqrt(expected) for c in counts.values()), counts


def test_reservoir_holds_only_sampled_texts() -> None:
    reservoir = PairReservoir(n_targets=40, size=25, seed=0)
    for i in range(5000):
        reservoir.offer(b"record %d" % i)
        assert len(reservoir._texts) <= 25
    groups = list(reservoir.groups())
    assert sum(len(js) for _, _, js in groups) == 25
    assert all(text == b"record %d" % i for i, text, _ in groups)
    assert reservoir.records == 5000 and not reservoir.exact


def test_sampling_is_deterministic_and_seeds_agree(source_texts: list[bytes], targets: TargetSet) -> None:
    a = dataset_alignment(source_texts, targets, pairs=1500, seed=1)
    b = dataset_alignment(iter(source_texts), targets, pairs=1500, seed=2)
    assert a == dataset_alignment(source_texts, targets, pairs=1500, seed=1)
    assert a != b
    assert a.n_records == b.n_records == len(source_texts) and a.n_pairs == 1500
    assert abs(a.mean - b.mean) < 0.01
    assert a.ci_low < b.mean < a.ci_high or b.ci_low < a.mean < b.ci_high
    assert 0.0 < a.ci_high - a.ci_low < 0.02


def test_python_aligns_higher_than_prose(by_kind: dict[str, list[bytes]], targets: TargetSet) -> None:
    python = dataset_alignment(by_kind["python"], targets, pairs=800, seed=0)
    prose = dataset_alignment(by_kind["prose"], targets, pairs=800, seed=0)
    assert python.ci_low > prose.ci_high
    assert python.mean - prose.mean > 0.01  # measured: 0.168 against 0.153


def test_empty_dataset_and_bad_pairs(targets: TargetSet) -> None:
    with pytest.raises(InputError, match="empty"):
        dataset_alignment([], targets)
    with pytest.raises(InputError, match="empty"):
        dataset_alignment([], targets, pairs=10)
    with pytest.raises(UsageError):
        dataset_alignment([b"x"], targets, pairs=0)


def test_to_dict(source_texts: list[bytes], target_texts: list[bytes]) -> None:
    result = dataset_alignment(source_texts[:3], TargetSet.from_texts(target_texts[:2], "lz4"), pairs=4)
    d = result.to_dict()
    assert d["total_pairs"] == 6 and d["n_pairs"] == 4 and d["exact"] is False
    json.dumps(d)


def test_align_prefers_the_in_domain_dataset(write_jsonl: Any, source_lines: list[bytes]) -> None:
    sample = [orjson.loads(line) for line in source_lines[:1500]]
    python = write_jsonl([r for r in sample if r["source"] == "python"][:150], "python.jsonl")
    prose = write_jsonl([r for r in sample if r["source"] == "prose"][:150], "prose.jsonl")
    result = ok("align", python, prose, *TARGETS, "--pairs", "2000", "--seed", "7")
    first, second = records(result.stdout)
    assert first["dataset"] == str(python) and second["dataset"] == str(prose)
    assert first["mean"] > second["mean"]
    assert first["ci_low"] <= first["mean"] <= first["ci_high"]
    assert first["n_pairs"] == 2000 and first["total_pairs"] == 150 * 40 and not first["exact"]
    assert "alignment" in result.stderr
    again = records(ok("align", python, *TARGETS, "--pairs", "2000", "--seed", "7", "-q").stdout)
    assert again[0] == first
    exact = records(ok("align", python, *TARGETS, "--pairs", "100000", "-q").stdout)[0]
    assert exact["exact"] and exact["n_pairs"] == 6000


def test_align_expands_globs_into_datasets(tmp_path: Path, source_lines: list[bytes]) -> None:
    for i in range(2):
        (tmp_path / f"d{i}.jsonl").write_bytes(b"".join(source_lines[i * 30 : (i + 1) * 30]))
    result = ok("align", str(tmp_path / "d*.jsonl"), *TARGETS, "--compressor", "lz4", "--pairs", "200", "-q")
    assert [json.loads(line)["dataset"] for line in result.stdout.splitlines()] == [
        str(tmp_path / "d0.jsonl"),
        str(tmp_path / "d1.jsonl"),
    ]
    missing = run("align", tmp_path / "nope.jsonl", *TARGETS)
    assert missing.exit_code == 3 and missing.stderr.count("nope.jsonl") == 1

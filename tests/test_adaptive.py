"""Adaptive top K: exact scores for every written record, the exhaustive selection, and output
that depends on the input and options only (never on workers, batches or shards)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from conftest import FAST, SOURCE, TARGETS, ok, records, run

from zipfit_cli.adaptive import PRUNED, AdaptiveScorer, Thresholds
from zipfit_cli.contrast import ContrastScorer
from zipfit_cli.errors import UsageError
from zipfit_cli.scoring import TargetSet


@pytest.mark.parametrize(("name", "level"), [("gzip", 9), ("gzip", 1), ("lz4", 0), ("zstd", 3)])
def test_unpruned_scores_equal_exhaustive_bit_for_bit(
    source_texts: list[bytes], target_texts: list[bytes], name: str, level: int
) -> None:
    targets = TargetSet.from_texts(target_texts[:20], name, level)
    contrast = ContrastScorer.from_texts(target_texts[:20], source_texts[900:930], name, level, 0.75)
    sources = (
        source_texts[:25] + [t for t in source_texts[25:600] if len(t) > 3000][:5] + source_texts[900:902]
    )
    for exhaustive in (targets, contrast):
        adaptive = AdaptiveScorer(exhaustive, seed=3)
        for x in sources:
            assert adaptive.score(x, -math.inf) == exhaustive.score(x)  # ==, not approx


def test_a_hopeless_record_stops_at_the_first_checkpoint(
    source_texts: list[bytes], target_texts: list[bytes]
) -> None:
    adaptive = AdaptiveScorer(TargetSet.from_texts(target_texts, "gzip", 6))
    result = adaptive.score(source_texts[0], math.inf)
    assert result == (PRUNED, "0.1 4")  # 10% of 40 targets compared
    contrast = AdaptiveScorer(ContrastScorer.from_texts(target_texts, source_texts[100:180], "gzip", 6))
    assert contrast.score(source_texts[0], math.inf) == (PRUNED, "0.1 12")  # 4 targets + 8 background
    # lz4's NCDs are noisier: its first check waits for a fifth of the targets.
    noisy = AdaptiveScorer(TargetSet.from_texts(target_texts, "lz4"))
    assert noisy.score(source_texts[0], math.inf) == (PRUNED, "0.2 8")


def test_few_targets_leave_nothing_to_stop(source_texts: list[bytes], target_texts: list[bytes]) -> None:
    targets = TargetSet.from_texts(target_texts[:2], "lz4")
    assert AdaptiveScorer(targets).score(source_texts[0], math.inf) == targets.score(source_texts[0])


def test_bad_settings_are_refused(target_texts: list[bytes]) -> None:
    targets = TargetSet.from_texts(target_texts[:5], "lz4")
    with pytest.raises(UsageError):
        AdaptiveScorer(targets, z=0)
    with pytest.raises(UsageError):
        AdaptiveScorer(targets, checkpoints=(0.5, 0.2))


def test_thresholds_depend_on_positions_only() -> None:
    block = 4
    thresholds = Thresholds(k=2, block=block)
    scores = [0.1, 0.9, None, 0.5, 0.3, 0.8, 0.2, 0.4, 0.7, 0.6, 0.05, None]
    seen = []
    for position, score in enumerate(scores):
        if position % block == 0:
            seen.append((position, thresholds.ready(position), thresholds.threshold(position)))
        thresholds.add(score)
    # Blocks 0 and 1 have no threshold; block 2 (positions 8..) sees the 2nd best of block 0.
    assert seen == [(0, True, -math.inf), (4, True, -math.inf), (8, True, 0.5)]
    assert thresholds.threshold(12) == 0.8  # 2nd best of blocks 0 and 1
    assert not Thresholds(k=1, block=4).ready(8)  # block 0 not back yet


def _select(*args: object) -> bytes:
    return ok("select", SOURCE, *args, "-q").stdout_bytes


@pytest.mark.parametrize("k", ["40", "300"])
def test_adaptive_selects_what_exhaustive_scoring_selects(k: str) -> None:
    exhaustive = _select(*FAST, "-k", k)
    assert _select(*FAST, "-k", k, "--adaptive") == exhaustive
    assert _select(*FAST[:-1], "2", "-k", k, "--adaptive", "--batch-size", "7") == exhaustive
    contrast = [*FAST, "-k", k, "--contrast", "--background-size", "32"]
    assert _select(*contrast, "--adaptive") == _select(*contrast)


def test_adaptive_with_gzip_and_two_workers_is_exhaustive_bytes(tmp_path: Path) -> None:
    args = [*TARGETS, "--compressor", "gzip", "--level", "6", "-k", "50"]
    report = tmp_path / "run.json"
    adaptive = _select(*args, "--adaptive", "-j", "2", "--report", report)
    assert adaptive == _select(*args, "-j", "1")
    stats = json.loads(report.read_text())["stats"]
    assert stats["pruned_total"] > 1000 and stats["pairs"] < stats["pairs_exhaustive"] == 4000 * 40
    assert all(float(share) in (0.1, 0.2, 0.4, 0.8) for share in stats["pruned"])


def test_adaptive_shards_merge_to_the_exhaustive_selection(tmp_path: Path) -> None:
    single = _select(*FAST, "-k", "60")
    parts = []
    for i in range(2):
        part = tmp_path / f"part-{i}.jsonl"
        ok("select", SOURCE, *FAST, "-k", "60", "--adaptive", "--shard", f"{i}/2", "-o", part, "-q")
        parts.append(part)
    merged = ok("merge", *parts, "-q").stdout_bytes
    assert merged == single
    assert all(isinstance(r["zipfit_score"], float) for r in records(merged))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--fraction", "0.1"], "--adaptive needs -k"),
        ([], "--adaptive needs -k"),
        (["-k", "5", "--dedupe"], "--dedupe or budgets"),
        (["-k", "5", "--method", "corpus"], "--method corpus"),
    ],
)
def test_adaptive_refusals(extra: list[str], message: str) -> None:
    result = run("select", SOURCE, *FAST, "--adaptive", *extra)
    assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_adaptive_z_goes_with_adaptive() -> None:
    result = run("select", SOURCE, *FAST, "-k", "5", "--adaptive-z", "3", "-o", os.devnull)
    assert result.exit_code == 2 and "--adaptive-z goes with --adaptive" in result.stderr

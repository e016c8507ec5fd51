"""Adaptive top K (adaptive.py): exact scores, the exhaustive selection, whatever the workers or shards."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path

import pytest
from conftest import FAST, SOURCE, TARGET, TARGETS, ok, records, run

from zipfit_cli.base.errors import UsageError
from zipfit_cli.base.results import Pruned
from zipfit_cli.scoring.adaptive import AdaptiveScorer, Audit, near_targets
from zipfit_cli.scoring.contrast import ContrastScorer
from zipfit_cli.scoring.pairwise import TargetSet
from zipfit_cli.scoring.thresholds import Thresholds


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
    assert result == Pruned("0.05", 2)  # 5% of 40 targets compared
    contrast = AdaptiveScorer(ContrastScorer.from_texts(target_texts, source_texts[100:180], "gzip", 6))
    assert contrast.score(source_texts[0], math.inf) == Pruned("0.05", 6)  # 2 targets + 4 background
    # Never before MIN_SEEN (2) texts of a part, whatever the share says.
    few = AdaptiveScorer(TargetSet.from_texts(target_texts[:16], "lz4"))
    assert few.score(source_texts[0], math.inf) == Pruned("0.125", 2)


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


def test_a_min_score_is_a_floor_under_every_blocks_threshold() -> None:
    thresholds = Thresholds(k=2, block=4, floor=0.6)
    found = []
    for position, score in enumerate([0.1, 0.9, None, 0.5, 0.3, 0.8, 0.2, 0.4, 0.7, 0.6, 0.05, None]):
        if position % 4 == 0:
            found.append(thresholds.threshold(position))
        thresholds.add(score)
    assert found == [0.6, 0.6, 0.6]  # from the first record on; block 2's own cut (0.5) is lower
    assert thresholds.threshold(12) == 0.8 and thresholds.bar() == 0.8 and thresholds.kth() == 0.8
    alone = Thresholds(k=None, block=4, floor=-0.2)  # --min-score without -k: S everywhere, no waiting
    assert alone.ready(10**6) and alone.threshold(0) == alone.threshold(10**6) == alone.bar() == -0.2
    alone.add(0.9)
    assert alone.best() == [] and alone.kth() == -math.inf


def test_the_audit_puts_back_only_stopped_records_that_reach_the_min_score() -> None:
    audit = Audit(size=10, seed=0)
    for i in range(10):
        audit.offer(i, f"{i}".encode(), "0.1")
    entered = audit.finish(lambda line: int(line) / 10, [], None, floor=0.65)
    assert [index for _, index, _, _ in entered] == [7, 8, 9] and audit.misses == 3
    audit = Audit(size=10, seed=0)
    for i in range(10):
        audit.offer(i, f"{i}".encode(), "0.1")
    entered = audit.finish(lambda line: int(line) / 10, [(0.85, -100)], 2, floor=0.65)
    assert [index for _, index, _, _ in entered] == [9]  # 0.9 enters the top 2; 0.8 does not


MIN_SCORE_ARGS = [*TARGETS, "--compressor", "gzip", "--level", "6", "-j", "1", "-q"]


@pytest.fixture(scope="module")
def streamed() -> tuple[bytes, str]:
    """The first 1,500 sample records (fewer than two blocks of 1,024: with -k alone nothing
    can stop before the third), and S: the 20th best gzip-6 score, as the output shows it."""
    lines = b"".join(SOURCE.read_bytes().splitlines(keepends=True)[:1500])
    top = ok("select", "-", *MIN_SCORE_ARGS, "-k", "20", input=lines).stdout_bytes
    return lines, repr(records(top)[-1]["zipfit_score"])


@pytest.mark.parametrize("k", [[], ["-k", "20"], ["-k", "5"]])
def test_a_min_score_lets_adaptive_stop_records_from_the_first_one(
    streamed: tuple[bytes, str], tmp_path: Path, k: list[str]
) -> None:
    lines, threshold = streamed
    exhaustive = ok("select", "-", *MIN_SCORE_ARGS, *k, "--min-score", threshold, input=lines).stdout_bytes
    assert len(records(exhaustive)) == (int(k[1]) if k else 20)
    report = tmp_path / "run.json"
    args = ["select", "-", *MIN_SCORE_ARGS, *k, "--min-score", threshold, "--adaptive", "--report", report]
    assert ok(*args, input=lines).stdout_bytes == exhaustive
    stats = json.loads(report.read_text())["stats"]
    assert stats["pruned_total"] > 100 and stats["presampled"] == 0  # stdin: no sample, S from the start
    assert stats["scored"] + stats["pruned_total"] == 1500
    # Scored in full and below S; with -k a record above S may be stopped too (below the K-th best).
    above = stats["scored"] - stats["below_min_score"]
    assert above == 20 if not k else len(records(exhaustive)) <= above <= 20
    if k:  # -k alone waits two blocks for a threshold of its own: nothing stops in 1,500 records
        ok("select", "-", *MIN_SCORE_ARGS, *k, "--adaptive", "--report", report, "--force", input=lines)
        assert json.loads(report.read_text())["stats"]["pruned_total"] == 0


def test_adaptive_min_score_without_k_goes_with_dedupe_and_shards(
    streamed: tuple[bytes, str], tmp_path: Path
) -> None:
    lines, threshold = streamed
    source = tmp_path / "source.jsonl"
    source.write_bytes(lines + lines[: lines.index(b"\n") + 1])  # a duplicate of record 0
    args = ["select", source, *MIN_SCORE_ARGS, "--min-score", threshold]
    exhaustive = ok(*args, "--dedupe").stdout_bytes
    assert ok(*args, "--dedupe", "--adaptive").stdout_bytes == exhaustive
    parts = []
    for i in range(2):
        parts.append(tmp_path / f"part-{i}.jsonl")
        ok(*args, "--adaptive", "--shard", f"{i}/2", "-o", parts[-1])
    assert ok("merge", *parts, "--dedupe", "-q").stdout_bytes == exhaustive


def _select(*args: object) -> bytes:
    return ok("select", SOURCE, *args, "-q").stdout_bytes


@pytest.mark.slow  # 27 s: the adversarial corpus and the shard merge stand in for it in make test-fast
@pytest.mark.parametrize("k", ["40", "300"])
def test_adaptive_selects_what_exhaustive_scoring_selects(k: str) -> None:
    exhaustive = _select(*FAST, "-k", k)
    assert _select(*FAST, "-k", k, "--adaptive") == exhaustive
    assert _select(*FAST[:-1], "2", "-k", k, "--adaptive", "--batch-size", "7") == exhaustive
    contrast = [*FAST, "-k", k, "--contrast", "--background-size", "32"]
    assert _select(*contrast, "--adaptive") == _select(*contrast)


@pytest.mark.slow
def test_adaptive_with_gzip_and_two_workers_is_exhaustive_bytes(tmp_path: Path) -> None:
    args = [*TARGETS, "--compressor", "gzip", "--level", "6", "-k", "50"]
    report = tmp_path / "run.json"
    # No audit: on 4,000 records its 256 × 40 comparisons outweigh what stopping saves.
    adaptive = _select(*args, "--adaptive", "--adaptive-audit", "0", "-j", "2", "--report", report)
    assert adaptive == _select(*args, "-j", "1")
    stats = json.loads(report.read_text())["stats"]
    assert stats["pruned_total"] > 100 and stats["pairs"] < stats["pairs_exhaustive"] == 4000 * 40
    assert all(float(share) in (0.05, 0.075, 0.1, 0.2, 0.4, 0.8) for share in stats["pruned"])


def test_adaptive_shards_merge_to_the_exhaustive_selection(tmp_path: Path) -> None:
    single = _select(*FAST, "-k", "60")
    parts = []
    for i in range(2):
        part = tmp_path / f"part-{i}.jsonl"
        ok("select", SOURCE, *FAST, "-k", "60", "--adaptive", "--shard", f"{i}/2", "-o", part, "-q")
        parts.append(part)
    trailers = [json.loads(part.read_bytes().splitlines()[-1])["_zipfit_part"] for part in parts]
    assert any(trailer["stats"]["pruned"] for trailer in trailers)  # a part that stopped records merges
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
        (["--min-score", "0.1", "--fraction", "0.1"], "--adaptive cannot go with --fraction"),
        (["-k", "5", "--min-score", "0.1", "--budget-chars", "100"], "--dedupe or budgets"),
    ],
)
def test_adaptive_refusals(extra: list[str], message: str) -> None:
    result = run("select", SOURCE, *FAST, "--adaptive", *extra)
    assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_adaptive_z_goes_with_adaptive() -> None:
    result = run("select", SOURCE, *FAST, "-k", "5", "--adaptive-z", "3", "-o", os.devnull)
    assert result.exit_code == 2 and "--adaptive-z goes with --adaptive" in result.stderr


# The adversarial suite: records a bound fitted to the seen targets would stop in error.
# A record of the exhaustive top K is never stopped if, at the final K-th best score (the
# highest threshold any block can see), the adaptive scorer returns its exact score.


def _near_copy(text: bytes) -> bytes:
    """A target with its middle line dropped and one word changed: NCD about 0.05 to it."""
    lines = text.split(b"\n")
    del lines[len(lines) // 2]
    return b"\n".join(lines).replace(b"return", b"return ", 1)


def _dropped(
    scorer: TargetSet | ContrastScorer, corpus: list[bytes], ks: tuple[int, ...]
) -> dict[int, list[int]]:
    """Per K: positions of exhaustive top-K records that the adaptive scorer would stop."""
    exact = [scorer.score(x) for x in corpus]
    adaptive = AdaptiveScorer(scorer)
    dropped = {}
    for k in ks:
        kth = sorted(exact, reverse=True)[k - 1]
        dropped[k] = [i for i, e in enumerate(exact) if e >= kth and adaptive.score(corpus[i], kth) != e]
    return dropped


def _targets(source_texts: list[bytes], target_texts: list[bytes], n: int) -> list[bytes]:
    """n Python targets: the sample's 40, then sample Python functions (not in the corpus)."""
    python = [t for t in source_texts[:1000] if t.startswith(b"def ")]
    return (target_texts + python[:40])[:n]


def _near_copy_case(
    source_texts: list[bytes], target_texts: list[bytes], name: str, level: int
) -> list[tuple[int, bool, dict[int, list[int]]]]:
    found = []
    for n in (10, 20, 40, 80):
        targets = _targets(source_texts, target_texts, n)
        pool = [t for t in source_texts[:400:2] if t not in targets]
        # Two records, each nearly copying a different target, far from all the others.
        corpus = [*pool, _near_copy(targets[n // 2]), _near_copy(targets[1])]
        for contrast in (False, True):
            scorer: TargetSet | ContrastScorer = (
                ContrastScorer.from_texts(targets, pool[::7], name, level)
                if contrast
                else TargetSet.from_texts(targets, name, level)
            )
            found.append((n, contrast, _dropped(scorer, corpus, (1, 10, 30))))
    return found


def test_a_near_copy_of_one_target_is_never_stopped_lz4(
    source_texts: list[bytes], target_texts: list[bytes]
) -> None:
    for n, contrast, dropped in _near_copy_case(source_texts, target_texts, "lz4", 0):
        assert dropped == {1: [], 10: [], 30: []}, (n, contrast)


@pytest.mark.slow
def test_a_near_copy_of_one_target_is_never_stopped_gzip9(
    source_texts: list[bytes], target_texts: list[bytes]
) -> None:
    for n, contrast, dropped in _near_copy_case(source_texts, target_texts, "gzip", 9):
        assert dropped == {1: [], 10: [], 30: []}, (n, contrast)


@pytest.mark.parametrize(("name", "level"), [("lz4", 0), pytest.param("gzip", 9, marks=pytest.mark.slow)])
def test_records_close_to_half_the_targets_are_never_stopped(
    source_texts: list[bytes], target_texts: list[bytes], name: str, level: int
) -> None:
    # Half the targets are Python functions, half are prose: Python and prose records are
    # each close to one half and far from the other, in whatever order the targets come.
    prose = [t for t in source_texts if not t.startswith((b"def ", b"#", b"sub ", b"/*"))][:20]
    targets = [t for pair in zip(target_texts[:20], prose, strict=True) for t in pair]
    corpus = [t for t in source_texts[:600:3] if t not in targets]
    assert _dropped(TargetSet.from_texts(targets, name, level), corpus, (1, 10, 30)) == {
        1: [],
        10: [],
        30: [],
    }


@pytest.mark.parametrize(("name", "level"), [("lz4", 0), pytest.param("gzip", 9, marks=pytest.mark.slow)])
def test_ties_at_the_kth_score_are_never_stopped(
    source_texts: list[bytes], target_texts: list[bytes], name: str, level: int
) -> None:
    targets = TargetSet.from_texts(target_texts, name, level)
    pool = source_texts[:200]
    exact = sorted(range(len(pool)), key=lambda i: -targets.score(pool[i]))
    tied = pool[exact[8]]  # the 9th best, three times: the K-th score for K = 9, 10 and 11
    corpus = [*pool[:100], tied, *pool[100:], tied]
    assert _dropped(targets, corpus, (9, 10, 11)) == {9: [], 10: [], 11: []}


def test_the_allowance_keeps_a_near_copy_the_plain_normal_bound_stops(
    monkeypatch: pytest.MonkeyPatch, source_texts: list[bytes], target_texts: list[bytes]
) -> None:
    """Without the outlier allowance and the minimum of seen targets (the bound before them)
    the near-copy of one of 20 targets is stopped at the K-th score: the suite can tell."""
    targets = _targets(source_texts, target_texts, 20)
    corpus = [*source_texts[:400:2], _near_copy(targets[10])]
    scorer = TargetSet.from_texts(targets, "gzip", 9)
    assert _dropped(scorer, corpus, (1,)) == {1: []}
    monkeypatch.setattr("zipfit_cli.scoring.adaptive.near_targets", lambda targets: 0)
    monkeypatch.setattr("zipfit_cli.scoring.adaptive.MIN_SEEN", 2)
    assert _dropped(scorer, corpus, (1,)) == {1: [len(corpus) - 1]}


def _adversarial_corpus(tmp_path: Path, source_lines: list[bytes], target_texts: list[bytes]) -> Path:
    """The sample source, then (past the two blocks scored in full) two near-copies of
    targets and three copies of one record: the K-th score tied for some K."""
    extra = [
        {"id": "copy-a", "text": _near_copy(target_texts[16]).decode()},
        {"id": "copy-b", "text": _near_copy(target_texts[17]).decode()},
    ]
    again = json.loads(source_lines[233])
    extra += [{**again, "id": f"again-{i}"} for i in range(3)]
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(b"".join(source_lines) + b"".join(json.dumps(r).encode() + b"\n" for r in extra))
    return path


CONTRAST = ["--contrast", "--background-size", "32"]


@pytest.mark.parametrize(
    ("compressor", "k", "contrast", "workers"),
    [
        (["--compressor", "lz4"], "10", [], "1"),
        pytest.param(["--compressor", "lz4"], "1", CONTRAST, "2", marks=pytest.mark.slow),
        pytest.param(["--compressor", "lz4"], "30", CONTRAST, "1", marks=pytest.mark.slow),
        pytest.param(["--level", "9"], "1", [], "2", marks=pytest.mark.slow),
        pytest.param(["--level", "9"], "10", CONTRAST, "2", marks=pytest.mark.slow),
        pytest.param(["--level", "9"], "30", [], "1", marks=pytest.mark.slow),
    ],
)
def test_adversarial_corpus_selects_what_exhaustive_scoring_selects(
    tmp_path: Path,
    source_lines: list[bytes],
    target_texts: list[bytes],
    compressor: list[str],
    k: str,
    contrast: list[str],
    workers: str,
) -> None:
    corpus = _adversarial_corpus(tmp_path, source_lines, target_texts)
    args = [corpus, *TARGETS, *compressor, "-k", k, *contrast, "-j", workers, "-q"]
    report = tmp_path / "run.json"
    exhaustive = ok("select", *args).stdout_bytes
    assert ok("select", *args, "--adaptive", "--report", report).stdout_bytes == exhaustive
    copies = {"copy-a", "copy-b"} & {r["id"] for r in records(exhaustive)}
    assert len(copies) == min(int(k), 2)  # the near-copies lead the exhaustive ranking
    stats = json.loads(report.read_text())["stats"]
    assert stats["audit_misses"] == 0 and stats["audited"] == min(256, stats["pruned_total"])


@pytest.mark.parametrize(
    "k",
    [
        "1",
        pytest.param("2", marks=pytest.mark.slow),
        pytest.param("5", marks=pytest.mark.slow),
        pytest.param("40", marks=pytest.mark.slow),
        pytest.param("100", marks=pytest.mark.slow),
    ],
)
def test_few_targets_run_exhaustively_and_say_so(tmp_path: Path, k: str) -> None:
    ten = tmp_path / "ten.jsonl"
    ten.write_bytes(b"".join(TARGET.read_bytes().splitlines(keepends=True)[:10]))
    args = [
        "select",
        SOURCE,
        "-t",
        ten,
        "--target-template",
        "{prompt}{canonical_solution}",
        "--compressor",
        "lz4",
        "-k",
        k,
    ]
    report = tmp_path / "run.json"
    adaptive = ok(*args, "--adaptive", "-j", "2", "--report", report)
    assert adaptive.stdout_bytes == ok(*args, "-j", "1", "-q").stdout_bytes
    warning = "zipfit: warning: --adaptive scored every record in full: 10 targets are too few"
    assert adaptive.stderr.count(warning) == 1
    saved = json.loads(report.read_text())
    assert saved["stats"]["pairs"] == saved["stats"]["pairs_exhaustive"] and not saved["stats"]["pruned"]
    assert any(w.startswith("--adaptive scored every record in full") for w in saved["warnings"])


def _sample(seed: int, order: Iterable[int]) -> tuple[list[bytes], list[tuple[float, int, bytes, str]]]:
    """The lines an audit of 20 draws from 500 stopped records offered in this order, and
    what enters a top 1 whose record scored 0.5 (each sampled line scores its number / 1000)."""
    audit = Audit(size=20, seed=seed)
    for i in order:
        audit.offer(i, f"{i}".encode(), "0.1")
    scored: list[bytes] = []

    def score(line: bytes) -> float:
        scored.append(line)
        return int(line) / 1000

    entered = audit.finish(score, [(0.5, -1000)], k=1)
    assert audit.sampled == len(scored) and audit.misses == len(entered)
    return scored, entered


def test_the_audit_sample_depends_on_the_records_and_seed_only() -> None:
    sample, entered = _sample(5, range(500))
    assert (sample, entered) == _sample(5, reversed(range(500)))  # order and timing play no part
    assert len(sample) == 20 and sample == sorted(sample, key=int)  # scored in input order
    assert _sample(6, range(500))[0] != sample
    best = max(sample, key=int)
    if int(best) > 500:  # a sampled record above the top 1 takes its place
        assert entered == [(int(best) / 1000, int(best), best, "0.1")]


@pytest.mark.slow
def test_the_audit_puts_wrongly_stopped_records_back_and_warns(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source_lines: list[bytes], target_texts: list[bytes]
) -> None:
    # A bound without the outlier allowance or a spread floor stops the near-copy of one of
    # 20 targets; an audit of every stopped record finds it and selects it all the same.
    monkeypatch.setattr("zipfit_cli.scoring.adaptive.near_targets", lambda targets: 0)
    monkeypatch.setattr("zipfit_cli.scoring.adaptive.MIN_SEEN", 2)
    monkeypatch.setattr("zipfit_cli.scoring.compressors.Compressor.adaptive_sd_floor", 0.0)
    twenty = tmp_path / "twenty.jsonl"
    twenty.write_bytes(b"".join(TARGET.read_bytes().splitlines(keepends=True)[:20]))
    corpus = tmp_path / "corpus.jsonl"
    copy = json.dumps({"id": "copy", "text": _near_copy(target_texts[10]).decode()}).encode()
    corpus.write_bytes(b"".join(source_lines) + copy + b"\n")
    args = ["select", corpus, "-t", twenty, "--target-template", "{prompt}{canonical_solution}"]
    args += ["--level", "9", "-k", "1", "-j", "1"]
    exhaustive = ok(*args, "-q").stdout_bytes
    assert records(exhaustive)[0]["id"] == "copy"
    assert ok(*args, "--adaptive", "--adaptive-audit", "0", "-q").stdout_bytes != exhaustive
    report = tmp_path / "run.json"
    audited = ok(*args, "--adaptive", "--adaptive-audit", "100000", "--report", report, "--summary", "full")
    assert audited.stdout_bytes == exhaustive
    stats = json.loads(report.read_text())["stats"]
    assert stats["audit_misses"] >= 1 and stats["audited"] == stats["pruned_total"] + stats["audit_misses"]
    assert "zipfit: warning: --adaptive audit: " in audited.stderr
    assert f"{stats['audit_misses']} belonged in the top K" in audited.stderr


def test_adaptive_audit_goes_with_adaptive() -> None:
    result = run("select", SOURCE, *FAST, "-k", "5", "--adaptive-audit", "3", "-o", os.devnull)
    assert result.exit_code == 2 and "--adaptive-audit goes with --adaptive" in result.stderr
    result = run("select", SOURCE, *FAST, "-k", "5", "--adaptive", "--adaptive-audit", "-1")
    assert result.exit_code == 2 and "--adaptive-audit" in result.stderr


def test_the_allowance_counts_near_duplicate_targets(
    source_texts: list[bytes], target_texts: list[bytes]
) -> None:
    # The sample targets hold near-duplicates (NCD 0.12 between two of them): a record that
    # nearly copies one is near its cluster too, and each of them can be among the unseen.
    assert AdaptiveScorer(TargetSet.from_texts(target_texts, "gzip", 9)).outliers == 3
    distinct = [target_texts[0], *source_texts[1000:4000:1000]]  # Python, then other kinds
    assert near_targets(TargetSet.from_texts(distinct, "gzip", 9)) == 1


@pytest.mark.parametrize("name", ["gzip", "lz4"])
def test_a_pair_never_compresses_below_its_larger_part_by_more_than_the_slack(
    name: str, source_texts: list[bytes], target_texts: list[bytes]
) -> None:
    # The size floor of unseen targets rests on C(x + t) >= max(C(x), C(t)) - slack: checked
    # on sample pairs of every kind and on the cases that come closest (copies, a prefix,
    # a text inside the other, one byte, the same text twice).
    targets = TargetSet.from_texts(target_texts, name)
    slack = targets.compressor.adaptive_size_slack
    assert slack is not None
    t = target_texts[3]
    edge = [t, t[: len(t) // 2], t[len(t) // 3 :], t + t, b"x", _near_copy(t), b"prefix " + t + b" suffix"]
    pool = [*source_texts[::40], *edge]
    getter = targets.compressor.pair_getter(targets.texts)
    closest = math.inf
    for text in pool:
        c_x, pair = getter(text)
        for j, c_t in enumerate(targets.sizes):
            closest = min(closest, pair(j) - max(c_x, c_t))
    assert closest >= -slack
    assert closest < slack  # the edge cases do come near it: the check is not vacuous


def test_the_size_floor_stops_records_far_in_size_sooner(
    monkeypatch: pytest.MonkeyPatch, source_texts: list[bytes], target_texts: list[bytes]
) -> None:
    # Records much longer than every target cannot be near an unseen one: the floor from
    # compressed sizes stops them with fewer comparisons than NCD 0 for the unseen does.
    targets = TargetSet.from_texts(target_texts, "gzip", 1)
    long_ones = [text + b"\n" + text for text in sorted(source_texts, key=len)[-40:]]

    def cost() -> int:
        scorer = AdaptiveScorer(targets)  # each record just out of reach: where bounds differ
        results = [scorer.score(text, targets.score(text) + 0.08) for text in long_ones]
        return sum(r.cost if isinstance(r, Pruned) else len(targets) for r in results)

    with_floor = cost()
    monkeypatch.setattr(targets.compressor, "adaptive_size_slack", None)
    assert with_floor < cost()


def test_adaptive_runs_are_reported_and_do_not_merge_with_exhaustive_parts(tmp_path: Path) -> None:
    report = tmp_path / "run.json"
    args = [*FAST, "-k", "20", "--adaptive", "--seed", "3"]
    ok("select", SOURCE, *args, "--report", report, "-o", os.devnull, "-q")
    assert json.loads(report.read_text())["settings"]["adaptive"] == {
        "z": 4.0,
        "checkpoints": [0.05, 0.075, 0.1, 0.2, 0.4, 0.8],
        "seed": 3,
        "min_seen": 2,
        "sd_floor": 0.01,
        "outliers": 3,
        "exhaustive": False,
        "audit": 256,
    }
    adaptive, exhaustive = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    ok("select", SOURCE, *args, "--shard", "0/2", "-o", adaptive, "-q")
    ok("select", SOURCE, *FAST, "-k", "20", "--shard", "1/2", "-o", exhaustive, "-q")
    refused = run("merge", adaptive, exhaustive)
    assert refused.exit_code == 3 and "adaptive differs" in refused.stderr

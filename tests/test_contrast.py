"""Contrastive scoring (contrast.py) and its background sample (background.py, `zipfit background`)."""

from __future__ import annotations

import gzip
import hashlib
import json
import pickle
from pathlib import Path

import pytest
from conftest import FAST, SOURCE, TARGETS, WriteJsonl, ok, records, run

from zipfit_cli import score_texts
from zipfit_cli.base.errors import UsageError
from zipfit_cli.files.records import TextSpec
from zipfit_cli.scoring.background import sample_background
from zipfit_cli.scoring.contrast import ContrastScorer


def ref_mean_ncd(x: bytes, others: list[bytes], level: int) -> float:
    """Mean NCD with C(b) = len(gzip.compress(b, level)), source first: the paper's formula."""
    total = 0.0
    for y in others:
        c_x, c_y = len(gzip.compress(x, level)), len(gzip.compress(y, level))
        total += (len(gzip.compress(x + y, level)) - min(c_x, c_y)) / max(c_x, c_y)
    return total / len(others)


def ref_contrast(x: bytes, targets: list[bytes], background: list[bytes], level: int, weight: float) -> float:
    """weight * mean NCD to the background (copies of x left out) - mean NCD to the targets."""
    rest = [b for b in background if b != x] or background
    return weight * ref_mean_ncd(x, rest, level) - ref_mean_ncd(x, targets, level)


@pytest.mark.parametrize("level", [1, 6, 9])
def test_contrast_equals_the_reference(
    source_texts: list[bytes], target_texts: list[bytes], level: int
) -> None:
    targets, background = target_texts[:8], source_texts[1000:1012]
    # Short and long sources (the gzip sizer switches strategy with length), and two
    # background members themselves, whose self-pair is left out.
    sources = source_texts[:40] + [t for t in source_texts[40:400] if len(t) > 2500][:10] + background[:2]
    for weight in (1.0, 0.5):
        scorer = ContrastScorer.from_texts(targets, background, "gzip", level, weight)
        for x in sources:
            assert scorer.score(x) == pytest.approx(
                ref_contrast(x, targets, background, level, weight), abs=1e-12
            )


def test_a_background_member_scores_as_if_it_had_not_been_drawn(
    source_texts: list[bytes], target_texts: list[bytes]
) -> None:
    member = source_texts[3]
    with_it = ContrastScorer.from_texts(target_texts[:5], [*source_texts[10:20], member], "gzip", 6)
    without = ContrastScorer.from_texts(target_texts[:5], source_texts[10:20], "gzip", 6)
    assert with_it.score(member) == without.score(member)
    assert with_it.score(source_texts[4]) != without.score(source_texts[4])  # others see all of B


def test_weight_zero_ranks_as_the_paper(source_texts: list[bytes], target_texts: list[bytes]) -> None:
    scorer = ContrastScorer.from_texts(target_texts[:6], source_texts[500:530], "lz4", weight=0.0)
    paper = list(score_texts(source_texts[:60], target_texts[:6], compressor="lz4"))
    contrast = [scorer.score(x) for x in source_texts[:60]]
    assert [c + 1.0 for c in contrast] == pytest.approx(paper, abs=1e-12)


def test_scorer_pickles_and_describes_itself(source_texts: list[bytes], target_texts: list[bytes]) -> None:
    scorer = ContrastScorer.from_texts(target_texts[:4], source_texts[:6], "gzip", 9, 0.75)
    again = pickle.loads(pickle.dumps(scorer))
    assert again.score(source_texts[7]) == scorer.score(source_texts[7])
    info = scorer.describe()
    assert info["method"] == "contrast" and info["background_size"] == 6 and info["contrast_weight"] == 0.75
    digest = hashlib.sha256()
    for text in source_texts[:6]:
        digest.update(len(text).to_bytes(8, "little") + text)
    assert info["background_sha256"] == digest.hexdigest()
    assert scorer.comparisons == 10


def test_api_contrast_and_bad_arguments(source_texts: list[bytes], target_texts: list[bytes]) -> None:
    texts = [t.decode() for t in source_texts[:20]]
    scores = list(score_texts(texts, target_texts[:3], compressor="lz4", background=source_texts[30:40]))
    direct = ContrastScorer.from_texts(target_texts[:3], source_texts[30:40], "lz4")
    assert scores == [direct.score(t) for t in source_texts[:20]]
    assert list(score_texts(texts[:3], direct, workers=2)) == scores[:3]
    with pytest.raises(UsageError, match="background is empty"):
        ContrastScorer.from_texts(target_texts[:3], [], "lz4")
    with pytest.raises(UsageError, match="weight"):
        ContrastScorer.from_texts(target_texts[:3], source_texts[:3], "lz4", weight=-1.0)


def test_sample_is_uniform_seeded_in_input_order_and_skips_invalid(write_jsonl: WriteJsonl) -> None:
    rows: list[object] = [{"text": f"record {i}"} for i in range(300)]
    rows[5] = {"text": None}
    rows[6] = b"not json"
    path = str(write_jsonl(rows))
    spec = TextSpec.build()
    first = sample_background([path], spec, 50, seed=3)
    assert first == sample_background([path], spec, 50, seed=3)
    assert first.records != sample_background([path], spec, 50, seed=4).records
    indexes = [s.index for s in first.records]
    assert indexes == sorted(set(indexes)) and not {5, 6} & set(indexes)
    assert (first.valid, first.read) == (298, 300)
    # Uniform: over many seeds every valid record is drawn about size/valid of the time.
    counts = [0] * 300
    for seed in range(200):
        for s in sample_background([path], spec, 50, seed=seed).records:
            counts[s.index] += 1
    valid = [c for i, c in enumerate(counts) if i not in (5, 6)]
    assert min(valid) > 10 and max(valid) < 60  # expected 33.6 each
    assert sample_background([path], spec, 10, limit=20).read == 20


def test_select_contrast_prefers_the_target_kind(tmp_path: Path) -> None:
    out = ok("select", SOURCE, *FAST, "-k", "100", "--contrast", "--background-size", "64").stdout
    kinds = [r["source"] for r in records(out)]
    assert kinds.count("python") >= 95  # 15% of the pool


def test_contrast_output_is_the_same_for_any_workers_batch_and_background_file(
    slice_path: Path, tmp_path: Path
) -> None:
    args = [*TARGETS, "--compressor", "lz4", "--contrast", "--background-size", "16", "--seed", "5"]
    one = ok("score", slice_path, *args, "-j", "1").stdout_bytes
    assert one == ok("score", slice_path, *args, "-j", "2", "--batch-size", "7").stdout_bytes
    background = tmp_path / "bg.jsonl"
    made = ok("background", slice_path, "-n", "16", "--seed", "5", "-o", background)
    assert "background of 16 records" in made.stderr and not made.stdout
    assert made.stderr.rstrip().endswith(f"; output {background}")  # it names the file it wrote
    assert len(background.read_bytes().splitlines()) == 16
    from_file = [*TARGETS, "--compressor", "lz4", "--contrast", "--background", background, "-j", "1"]
    assert ok("score", slice_path, *from_file).stdout_bytes == one
    ranked = ok("select", slice_path, *args, "-k", "20", "-j", "2").stdout_bytes
    assert ranked == ok("select", slice_path, *from_file, "-k", "20").stdout_bytes


def test_contrast_shards_merge_to_the_single_run_and_mixed_backgrounds_are_refused(
    slice_path: Path, tmp_path: Path
) -> None:
    args = [*FAST, "--contrast", "--background-size", "20", "-q"]
    single = ok("select", slice_path, *args, "-k", "30").stdout_bytes
    parts = []
    for i in range(3):
        part = tmp_path / f"part-{i}.jsonl"
        seed = ["--seed", "1"] if i == 2 else []
        ok("select", slice_path, *args, "-k", "30", "--shard", f"{i}/3", "-o", part, *seed)
        parts.append(part)
    refused = run("merge", *parts)
    assert refused.exit_code == 3 and "background_sha256 differs" in refused.stderr
    ok("select", slice_path, *args, "-k", "30", "--shard", "2/3", "-o", parts[2], "--force")
    assert ok("merge", *parts).stdout_bytes == single


def test_report_and_summary_count_background_comparisons(slice_path: Path, tmp_path: Path) -> None:
    report = tmp_path / "run.json"
    ok(
        "score",
        slice_path,
        *FAST,
        "--contrast",
        "--background-size",
        "10",
        "--report",
        report,
        "-o",
        "/dev/null",
    )
    info = json.loads(report.read_text())
    settings, stats = info["settings"], info["stats"]
    assert settings["method"] == "contrast" and settings["background_size"] == 10
    assert len(settings["background_sha256"]) == 64 and settings["contrast_weight"] == 0.75
    assert stats["pairs"] == 200 * (40 + 10)
    assert stats["score_min"] < 0  # contrast scores can be negative; the summary handles them


def test_a_huge_finite_weight_ranks_and_summarises_without_overflow(slice_path: Path) -> None:
    """A weight of 1e308 makes scores near the float limit: the histogram clamps, the run ends."""
    weight = ("--contrast", "--contrast-weight", "1e308")
    result = ok("select", slice_path, *FAST, *weight, "-k", "3", "--summary", "full")
    scores = [r["zipfit_score"] for r in records(result.stdout)]
    assert len(scores) == 3 and all(1e306 < s < float("inf") for s in scores)
    assert "score min " in result.stderr and "e+30" in result.stderr


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "background set is empty"),
        ([{"other": "x"}], "background: no 'text' field"),
        ([b"{broken"], "background: malformed JSON"),
    ],
)
def test_bad_background_files(
    slice_path: Path, write_jsonl: WriteJsonl, rows: list[object], message: str
) -> None:
    background = write_jsonl(rows, "bg.jsonl")
    result = run("score", slice_path, *FAST, "--contrast", "--background", background)
    assert result.exit_code == 3 and message in result.stderr and not result.stdout
    assert result.stderr.count("\n") == 1


def test_background_refusals(slice_path: Path, tmp_path: Path, write_jsonl: WriteJsonl) -> None:
    missing = run("score", slice_path, *FAST, "--contrast", "--background", tmp_path / "nope.jsonl")
    assert missing.exit_code == 3 and "no such file" in missing.stderr
    too_big = run("score", slice_path, *FAST, "--contrast", "--background-size", "500")
    assert too_big.exit_code == 3 and "only 200" in too_big.stderr
    invalid = write_jsonl([{"content": "x"}] * 20, "invalid.jsonl")
    none_valid = run("score", invalid, *FAST, "--contrast", "--background-size", "4", "--skip-invalid")
    assert none_valid.exit_code == 3 and "only 0" in none_valid.stderr
    stdin = run("score", "-", *FAST, "--contrast", input=slice_path.read_bytes())
    assert stdin.exit_code == 2 and "zipfit background" in stdin.stderr
    assert run("score", slice_path, *FAST, "--seed", "3").exit_code == 2  # goes with --contrast
    both = run("score", slice_path, *FAST, "--contrast", "--method", "corpus")
    assert both.exit_code == 2 and "--method corpus" in both.stderr


def test_a_background_line_over_the_cap_ends_the_run(slice_path: Path, write_jsonl: WriteJsonl) -> None:
    # /dev/zero has no newline: reading its one line to the end would never stop.
    for args in (
        ["background", "/dev/zero", "-n", "3", "--max-line-bytes", "1000"],
        ["background", slice_path, "/dev/zero", "-n", "3", "--max-line-bytes", "1000"],
        ["score", slice_path, *FAST, "--contrast", "--background", "/dev/zero", "--max-line-bytes", "1000"],
        ["score", slice_path, *FAST, "--contrast", "--background-size", "4", "--max-line-bytes", "100"],
    ):
        result = run(*args)
        assert result.exit_code == 3, result.output
        assert "background: line is over the line-length limit" in result.stderr and not result.stdout
    long_line = write_jsonl([{"text": "x" * 2000}], "long.jsonl")
    result = run("background", long_line, "-n", "1", "--max-line-bytes", "1000")
    assert result.exit_code == 3 and "limit of 1,000" in result.stderr
    assert records(ok("background", long_line, "-n", "1").stdout) == [{"text": "x" * 2000}]


def test_sampling_a_background_shows_progress_as_scoring_does(tmp_path: Path) -> None:
    env = {"ZIPFIT_PROGRESS_INTERVAL": "0"}  # a plain line at every update (stderr is no terminal)
    made = ok("background", SOURCE, "-n", "16", "-o", tmp_path / "bg.jsonl", env=env)
    lines = [line for line in made.stderr.splitlines() if "zipfit: sampling " in line]
    assert len(lines) >= 3 and "4,000 records" in lines[-1] and "(100%)" in lines[-1], lines
    args = ["select", SOURCE, *FAST, "-k", "2", "--contrast", "--background-size", "16"]
    assert "zipfit: sampling the background " in ok(*args, env=env).stderr
    assert ok(*args, "-q", env=env).stderr == ""
    heard: list[tuple[int, int]] = []
    spec = TextSpec.build("text")
    sample_background([str(SOURCE)], spec, 16, progress=lambda n, done: heard.append((n, done)))
    assert heard[-1] == (4000, SOURCE.stat().st_size) and heard == sorted(heard)


def test_background_command_takes_globs_and_the_line_cap(tmp_path: Path, source_lines: list[bytes]) -> None:
    for i in range(2):
        (tmp_path / f"part-{i}.jsonl").write_bytes(b"".join(source_lines[i * 100 : (i + 1) * 100]))
    made = ok("background", str(tmp_path / "part-*.jsonl"), "-n", "20", "-o", tmp_path / "bg.jsonl")
    assert "sampled from 200" in made.stderr
    capped = run("background", tmp_path / "part-0.jsonl", "-n", "5", "--max-line-bytes", "10")
    assert capped.exit_code == 3 and "over the line-length limit of 10 " in capped.stderr

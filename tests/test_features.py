"""End to end: the selection rules beyond the paper (decontamination, dedupe, budgets,
corpus mode, dataset alignment) and their agreement with shard/merge.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import TARGET, TEMPLATE, ok, records, run

from zipfit_cli.selection.budget import make_counter
from zipfit_cli.selection.dedupe import normalise_whitespace

TARGET_ARGS = ["-t", str(TARGET), "--target-template", TEMPLATE]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, source_lines: list[bytes]) -> Path:
    """300 sample records with target copies planted: verbatim, re-indented, and with a tail."""
    targets = [json.loads(line) for line in TARGET.read_text().splitlines()]
    lines = list(source_lines[:300])
    copies = [
        targets[3]["prompt"] + targets[3]["canonical_solution"],
        (targets[10]["prompt"] + targets[10]["canonical_solution"]).replace("    ", "\t").upper(),
        "Here is a helper:\n" + targets[20]["prompt"] + targets[20]["canonical_solution"] + "\nThanks!",
    ]
    for n, text in enumerate(copies):
        lines.insert(50 * (n + 1), orjson.dumps({"id": f"leak-{n}", "text": text, "source": "leak"}) + b"\n")
    path = tmp_path_factory.mktemp("planted") / "planted.jsonl"
    path.write_bytes(b"".join(lines))
    return path


def test_decontaminate_removes_planted_copies_and_nothing_else(planted: Path, tmp_path: Path) -> None:
    aside = tmp_path / "leaks.jsonl"
    report = tmp_path / "report.json"
    result = ok("select", planted, *TARGET_ARGS, "--compressor", "lz4", "--decontaminate",
                "--contaminated-output", aside, "--report", report, "-j", "2")  # fmt: skip
    kept = records(result.stdout)
    assert sorted(r["id"] for r in records(aside.read_bytes())) == ["leak-0", "leak-1", "leak-2"]
    assert len(kept) == 300 and not any(r["id"].startswith("leak") for r in kept)
    stats = json.loads(report.read_text())["stats"]
    assert stats["contaminated"] == 3 and stats["scored"] == 300
    assert "3 near-copies of targets" in result.stderr
    # Without the option the verbatim copies rank first: ZIP-FIT favours leaked benchmarks.
    plain = records(ok("select", planted, *TARGET_ARGS, "--compressor", "lz4", "-k", "3").stdout)
    assert {"leak-0", "leak-2"} <= {r["id"] for r in plain}


def test_ncd_decontamination_catches_verbatim_copy(planted: Path) -> None:
    result = ok("score", planted, *TARGET_ARGS, "--decontaminate-ngram", "0", "--decontaminate-ncd", "0.3",
                "-q", "--compressor", "lz4")  # fmt: skip
    ids = {r["id"] for r in records(result.stdout)}
    assert "leak-0" not in ids and len(ids) >= 300


def test_dedupe_keeps_the_best_ranked_copy(write_jsonl: Any, source_lines: list[bytes]) -> None:
    base = [orjson.loads(line) for line in source_lines[:60]]
    dup = dict(base[7], id="dup-of-7", text="  " + base[7]["text"].replace("\n", "\n  ") + "\n")
    path = write_jsonl([*base, dup])
    plain = records(ok("select", path, *TARGET_ARGS, "--compressor", "lz4").stdout)
    deduped_run = ok("select", path, *TARGET_ARGS, "--compressor", "lz4", "--dedupe", "-k", "60")
    deduped = records(deduped_run.stdout)
    seen: set[bytes] = set()
    expected = []
    for r in plain:  # the reference: walk the ranking, keep first copies
        key = normalise_whitespace(r["text"])
        if key not in seen:
            seen.add(key)
            expected.append(r["id"])
    assert [r["id"] for r in deduped] == expected
    assert len(deduped) == 60 and "dropped 1 exact duplicate\n" in deduped_run.stderr


def test_budget_takes_a_prefix_of_the_ranking(slice_path: Path) -> None:
    ranking = records(ok("select", slice_path, *TARGET_ARGS, "--compressor", "lz4", "-q").stdout)
    count = make_counter("approx")
    for args, size in ((["--budget-tokens", "3000"], count), (["--budget-chars", "4000"], len)):
        chosen = records(ok("select", slice_path, *TARGET_ARGS, "--compressor", "lz4", *args, "-q").stdout)
        budget = int(args[1])
        assert chosen == ranking[: len(chosen)]
        used = sum(size(r["text"]) for r in chosen)
        assert used <= budget < used + size(ranking[len(chosen)]["text"])


def test_budget_and_top_k_both_limit(slice_path: Path) -> None:
    args = ("--compressor", "lz4", "--budget-chars", "1000000", "-k", "5", "-q")
    chosen = records(ok("select", slice_path, *TARGET_ARGS, *args).stdout)
    assert len(chosen) == 5


def test_corpus_method_ranks_python_first(slice_path: Path) -> None:
    best = records(ok("select", slice_path, *TARGET_ARGS, "--method", "corpus", "--compressor", "zstd",
                   "-k", "10", "-q").stdout)  # fmt: skip
    assert sum(r["source"] == "python" for r in best) >= 5  # 15% of the slice is Python
    scores = [r["zipfit_score"] for r in best]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)


def test_align_prefers_the_in_domain_dataset(write_jsonl: Any, source_lines: list[bytes]) -> None:
    sample = [orjson.loads(line) for line in source_lines[:1500]]
    python = write_jsonl([r for r in sample if r["source"] == "python"][:150], "python.jsonl")
    prose = write_jsonl([r for r in sample if r["source"] == "prose"][:150], "prose.jsonl")
    result = ok("align", python, prose, *TARGET_ARGS, "--pairs", "2000", "--seed", "7")
    first, second = records(result.stdout)
    assert first["dataset"] == str(python) and second["dataset"] == str(prose)
    assert first["mean"] > second["mean"]
    assert first["ci_low"] <= first["mean"] <= first["ci_high"]
    assert first["n_pairs"] == 2000 and first["total_pairs"] == 150 * 40 and not first["exact"]
    assert "alignment" in result.stderr
    again = records(ok("align", python, *TARGET_ARGS, "--pairs", "2000", "--seed", "7", "-q").stdout)
    assert again[0] == first
    exact = records(ok("align", python, *TARGET_ARGS, "--pairs", "100000", "-q").stdout)[0]
    assert exact["exact"] and exact["n_pairs"] == 6000


@pytest.mark.parametrize(
    "rule", [["--dedupe", "-k", "40"], ["--budget-chars", "20000"], ["--fraction", "0.2"]]
)
def test_merge_applies_rules_like_one_run(planted: Path, tmp_path: Path, rule: list[str]) -> None:
    common = ["select", planted, *TARGET_ARGS, "--compressor", "lz4", "--decontaminate", "-q"]
    single = ok(*common, *rule).stdout
    parts = []
    for i in range(3):
        part = tmp_path / f"part-{i}.jsonl"
        shard_rule = [] if rule[0] in ("--dedupe", "--budget-chars") else rule
        ok(*common, *shard_rule, "--shard", f"{i}/3", "-o", part)
        parts.append(part)
    merge_rule = rule if rule[0] in ("--dedupe", "--budget-chars") else []
    assert ok("merge", *parts, *merge_rule, "-q").stdout == single


def test_decontaminate_ngram_alone_turns_decontamination_on(planted: Path) -> None:
    best = records(
        ok(
            "select", planted, *TARGET_ARGS, "--compressor", "lz4", "-k", "3", "--decontaminate-ngram", "8"
        ).stdout
    )
    assert not any(r["id"].startswith("leak") for r in best)


def test_all_records_skipped_is_an_error_not_an_empty_output(slice_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = run("select", slice_path, *TARGET_ARGS, "--text-key", "content", "--skip-invalid", "-o", out)
    assert result.exit_code == 3, result.output
    assert "no record could be scored" in result.stderr and "missing_key 200" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("key", ["text", "_zipfit_index", "_zipfit_part"])
def test_score_key_may_not_overwrite_what_zipfit_needs(slice_path: Path, key: str) -> None:
    result = run("score", slice_path, *TARGET_ARGS, "--score-key", key)
    assert result.exit_code == 2 and "--score-key" in result.stderr


def test_template_over_a_number_is_a_clear_error(write_jsonl: Any, slice_path: Path) -> None:
    targets = write_jsonl([{"a": 5}], "targets.jsonl")
    result = run("score", slice_path, "-t", targets, "--target-template", "{a.b}")
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith(f"zipfit: error: {targets}:1: target: no 'a.b' template field: tried")
    assert not result.stdout

"""Shard and merge (shards.py, merge.py): any split of the input merges back to the single run's bytes."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import TARGET, TARGETS, TEMPLATE, ok, run

from zipfit_cli.files.shards import parse_shard

BASE = ["-t", str(TARGET), "--target-template", TEMPLATE, "--compressor", "lz4", "-q"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, source_lines: list[bytes]) -> list[Path]:
    """Two files (one gzip), blank lines, and ties: records that repeat the same text."""
    import gzip

    folder = tmp_path_factory.mktemp("shards")
    lines = list(source_lines[:160])
    for i in range(0, 160, 20):
        lines.insert(i, lines[i])  # identical texts tie; the earlier one must win
        lines.insert(i + 3, b"\n")
    first, second = folder / "a.jsonl", folder / "b.jsonl.gz"
    first.write_bytes(b"".join(lines[:90]))
    second.write_bytes(gzip.compress(b"".join(lines[90:]), mtime=0))
    return [first, second]


def shards(
    tmp_path: Path, command: list[Any], n: int, workers: int = 1, suffix: str = ".jsonl"
) -> list[Path]:
    parts = []
    for i in range(n):
        part = tmp_path / f"part-{n}-{i}{suffix}"
        ok(*command, "--shard", f"{i}/{n}", "-j", workers, "-o", part)
        parts.append(part)
    return parts


@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize(
    "selection", [["select", "-k", "17"], ["select", "--fraction", "0.3"], ["select"], ["score"]]
)
def test_merge_is_byte_identical_to_one_run(
    corpus: list[Path], tmp_path: Path, n: int, selection: list[str]
) -> None:
    command = [selection[0], *corpus, *BASE, *selection[1:]]
    single = ok(*command).stdout_bytes
    parts = shards(
        tmp_path, command, n, workers=2 if n == 2 else 1, suffix=".jsonl.gz" if n == 3 else ".jsonl"
    )
    assert ok("merge", *parts).stdout_bytes == single
    assert ok("merge", *reversed(parts)).stdout_bytes == single  # order of the parts does not matter


def test_merge_selects_from_score_parts(corpus: list[Path], tmp_path: Path) -> None:
    parts = shards(tmp_path, ["score", *corpus, *BASE], 3)
    for rule in (["-k", "9"], ["--fraction", "0.25"]):
        expected = ok("select", *corpus, *BASE, *rule).stdout_bytes
        assert ok("merge", *parts, *rule).stdout_bytes == expected


def test_merge_with_a_smaller_k_is_exact_and_a_larger_one_refused(corpus: list[Path], tmp_path: Path) -> None:
    parts = shards(tmp_path, ["select", *corpus, *BASE, "-k", "20"], 2)
    assert ok("merge", *parts, "-k", "5").stdout_bytes == ok("select", *corpus, *BASE, "-k", "5").stdout_bytes
    result = run("merge", *parts, "-k", "50")
    assert result.exit_code == 3 and "top 20 records only" in result.stderr


def test_merge_statistics_add_up_to_the_single_run(corpus: list[Path], tmp_path: Path) -> None:
    single_report, merge_report = tmp_path / "single.json", tmp_path / "merge.json"
    ok("select", *corpus, *BASE, "-k", "5", "--report", single_report)
    parts = shards(tmp_path, ["select", *corpus, *BASE, "-k", "5"], 3)
    ok("merge", *parts, "--report", merge_report)
    single = json.loads(single_report.read_text())["stats"]
    merged = json.loads(merge_report.read_text())["stats"]
    for key in ("records_read", "blank_lines", "scored", "selected", "pairs", "bytes_read", "score_min",
                "score_median", "score_max", "threshold", "skipped"):  # fmt: skip
        assert merged[key] == single[key], key


def test_parts_carry_index_and_trailer(corpus: list[Path], tmp_path: Path) -> None:
    (part,) = shards(tmp_path, ["select", *corpus, *BASE, "-k", "3"], 1)
    lines = part.read_bytes().splitlines()
    assert len(lines) == 4
    assert all("_zipfit_index" in orjson.loads(line) for line in lines[:3])
    trailer = orjson.loads(lines[3])["_zipfit_part"]
    assert trailer["shard_index"] == 0 and trailer["shard_count"] == 1 and trailer["top_k"] == 3


def test_merge_refuses_incomplete_or_mixed_parts(corpus: list[Path], tmp_path: Path) -> None:
    parts = shards(tmp_path, ["select", *corpus, *BASE, "-k", "5"], 3)
    missing = run("merge", parts[0], parts[2])
    assert missing.exit_code == 3 and "missing shard(s) 1/3" in missing.stderr
    twice = run("merge", parts[0], parts[1], parts[1])
    assert twice.exit_code == 3 and "given twice" in twice.stderr

    other = tmp_path / "other"
    other.mkdir()
    corpus_mode = shards(other, ["select", *corpus, *BASE, "-k", "5", "--method", "corpus"], 3)
    mixed = run("merge", parts[0], corpus_mode[1], parts[2])
    assert mixed.exit_code == 3 and "method differs" in mixed.stderr
    other = tmp_path / "other2"
    other.mkdir()
    fraction = shards(other, ["select", *corpus, *BASE, "--fraction", "0.5"], 3)
    mixed = run("merge", parts[0], fraction[1], parts[2])
    assert mixed.exit_code == 3 and "differs" in mixed.stderr

    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(ok("select", *corpus, *BASE, "-k", "5").stdout_bytes)
    not_part = run("merge", plain)
    assert not_part.exit_code == 3 and "not a complete zipfit part" in not_part.stderr

    shuffled = tmp_path / "shuffled.jsonl"
    lines = parts[0].read_bytes().splitlines(keepends=True)
    shuffled.write_bytes(b"".join([lines[1], lines[0], *lines[2:]]))
    modified = run("merge", shuffled, parts[1], parts[2])
    assert modified.exit_code == 3 and "out of order" in modified.stderr


def test_shard_spellings() -> None:
    assert parse_shard("0/1") == (0, 1)
    assert parse_shard("3/4") == (3, 4)
    env = {"SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_COUNT": "4"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        assert parse_shard("slurm") == (2, 4)


@pytest.mark.parametrize("bad", ["4/4", "-1/3", "1", "a/b", "1/0"])
def test_bad_shard_is_a_usage_error(corpus: list[Path], bad: str) -> None:
    result = run("select", *corpus, *BASE, "--shard", bad)
    assert result.exit_code == 2 and "--shard" in result.stderr


def test_slurm_shard_outside_an_array_job(corpus: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
    result = run("select", *corpus, *BASE, "--shard", "slurm")
    assert result.exit_code == 2 and "SLURM_ARRAY_TASK_ID" in result.stderr


@pytest.mark.parametrize("selection", [["select", "-k", "11"], ["select", "--fraction", "0.4"], ["score"]])
def test_file_shards_merge_to_the_single_run(
    source_lines: list[bytes], tmp_path: Path, selection: list[str]
) -> None:
    files = []
    for i in range(5):  # five files, three shards: uneven shares, one file with ties and blanks
        path = tmp_path / f"in-{i}.jsonl"
        chunk = source_lines[40 * i : 40 * i + 40]
        path.write_bytes(b"".join(chunk) + (b"\n" + chunk[0] if i == 2 else b""))
        files.append(path)
    command = [selection[0], *files, *BASE, *selection[1:]]
    single_report = tmp_path / "single.json"
    single = ok(*command, "--report", single_report).stdout_bytes
    parts = []
    for i in range(3):
        part = tmp_path / f"part-{i}.jsonl"
        ok(*command, "--shard", f"{i}/3", "--shard-by", "file", "-o", part)
        parts.append(part)
    merge_report = tmp_path / "merge.json"
    assert ok("merge", *parts, "--report", merge_report).stdout_bytes == single
    merged, expected = (json.loads(p.read_text())["stats"] for p in (merge_report, single_report))
    for key in ("records_read", "blank_lines", "bytes_read", "scored"):
        assert merged[key] == expected[key], key


def test_file_and_record_shards_do_not_mix(corpus: list[Path], tmp_path: Path) -> None:
    by_record = shards(tmp_path, ["select", *corpus, *BASE, "-k", "5"], 2)
    other = tmp_path / "by-file"
    other.mkdir()
    part = other / "part.jsonl"
    ok("select", *corpus, *BASE, "-k", "5", "--shard", "1/2", "--shard-by", "file", "-o", part)
    result = run("merge", by_record[0], part)
    assert result.exit_code == 3 and "shard_by differs" in result.stderr


def test_file_shards_refuse_a_limit(corpus: list[Path]) -> None:
    result = run("select", *corpus, *BASE, "--shard", "0/2", "--shard-by", "file", "--limit", "5")
    assert result.exit_code == 2 and "--limit" in result.stderr


def test_a_record_that_looks_like_a_trailer_survives_the_merge(
    tmp_path: Path, source_lines: list[bytes]
) -> None:
    source = tmp_path / "odd.jsonl"
    odd = orjson.dumps({"_zipfit_part": 1, "text": "def tricky(): return 'looks like a trailer'"}) + b"\n"
    source.write_bytes(b"".join(source_lines[:6]) + odd)
    command = ["select", source, *BASE]
    single = ok(*command).stdout_bytes
    assert ok("merge", *shards(tmp_path, command, 2)).stdout_bytes == single


def test_damaged_parts_are_refused_without_a_traceback(corpus: list[Path], tmp_path: Path) -> None:
    (part,) = shards(tmp_path, ["select", *corpus, *BASE, "-k", "4"], 1)
    lines = part.read_bytes().splitlines(keepends=True)
    damaged = {
        "truncated-trailer.jsonl": b"".join(lines[:-1]) + lines[-1][:40] + b"\n",
        "wrong-trailer.jsonl": b"".join(lines[:-1]) + b'{"_zipfit_part": [1]}\n',
        "missing-record.jsonl": b"".join([*lines[:2], *lines[3:]]),
        "extra-record.jsonl": b"".join([lines[0], *lines]),
        "string-score.jsonl": lines[0].replace(b'"zipfit_score":', b'"zipfit_score":"x",')
        + b"".join(lines[1:]),
    }
    for name, data in damaged.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = run("merge", path)
        assert result.exit_code == 3, (name, result.output)
        assert "Traceback" not in result.output and result.stderr.startswith("zipfit: error:"), name


@pytest.mark.parametrize(("fraction", "count"), [("0.1449999999999999999999", 14), ("1e-999999999", 1)])
def test_fraction_parts_merge_to_the_single_run_for_any_number_of_digits(
    slice_path: Path, tmp_path: Path, fraction: str, count: int
) -> None:
    hundred = tmp_path / "hundred.jsonl"
    hundred.write_bytes(b"".join(slice_path.read_bytes().splitlines(keepends=True)[:100]))
    single = ok("select", hundred, *BASE, "-j", 1, "--fraction", fraction).stdout_bytes
    assert len(single.splitlines()) == count
    parts = shards(tmp_path, ["select", hundred, *BASE, "--fraction", fraction], 2)
    trailer = json.loads(parts[0].read_bytes().splitlines()[-1])["_zipfit_part"]
    assert trailer["fraction"] == str(Decimal(fraction))  # the decimal as given, every digit
    assert ok("merge", *parts).stdout_bytes == single


def test_parts_that_stored_the_fraction_as_a_float_still_merge(slice_path: Path, tmp_path: Path) -> None:
    hundred = tmp_path / "hundred.jsonl"
    hundred.write_bytes(b"".join(slice_path.read_bytes().splitlines(keepends=True)[:100]))
    parts = shards(tmp_path, ["select", hundred, *BASE, "--fraction", "0.145"], 2)
    for part in parts:  # as zipfit 0.x wrote them: a JSON number
        lines = part.read_bytes().splitlines(keepends=True)
        trailer = json.loads(lines[-1])
        trailer["_zipfit_part"]["fraction"] = 0.145
        part.write_bytes(b"".join(lines[:-1]) + json.dumps(trailer).encode() + b"\n")
    assert len(ok("merge", *parts).stdout_bytes.splitlines()) == 15


def test_merge_summary_says_written_for_score_parts_and_selected_for_a_selection(
    slice_path: Path, tmp_path: Path
) -> None:
    parts = shards(tmp_path, ["score", slice_path, *BASE], 2)
    merged = run("merge", *parts, "--summary", "full")
    assert merged.exit_code == 0, merged.output
    assert ", written 200" in merged.stderr and "selected" not in merged.stderr
    assert ", selected 3" in ok("merge", *parts, "-k", "3", "--summary", "full").stderr
    assert " written=200 " in ok("merge", *parts).stderr  # the one-line form, in a log


@pytest.mark.parametrize(
    "rule", [["--dedupe", "-k", "40"], ["--budget-chars", "20000"], ["--fraction", "0.2"]]
)
def test_merge_applies_rules_like_one_run(planted: Path, tmp_path: Path, rule: list[str]) -> None:
    common = ["select", planted, *TARGETS, "--compressor", "lz4", "--decontaminate", "-q"]
    single = ok(*common, *rule).stdout
    parts = []
    for i in range(3):
        part = tmp_path / f"part-{i}.jsonl"
        shard_rule = [] if rule[0] in ("--dedupe", "--budget-chars") else rule
        ok(*common, *shard_rule, "--shard", f"{i}/3", "-o", part)
        parts.append(part)
    merge_rule = rule if rule[0] in ("--dedupe", "--budget-chars") else []
    assert ok("merge", *parts, *merge_rule, "-q").stdout == single


# --- --min-score across shards: parts carry it, merge applies it -------------------------------


def _tied_threshold(corpus: list[Path]) -> str:
    """A score that two records of the corpus share (its ties are copies), as written."""
    scores = [r["zipfit_score"] for r in map(json.loads, ok("score", *corpus, *BASE).stdout.splitlines())]
    tied = sorted({s for s in scores if scores.count(s) > 1}, reverse=True)
    return repr(tied[len(tied) // 3])


@pytest.mark.parametrize(
    "selection",
    [
        ["select"],
        ["select", "-k", "17"],
        ["select", "--fraction", "0.3"],
        ["score"],
        ["select", "-k", "1000"],
    ],
)
def test_min_score_shards_merge_to_the_single_run(
    corpus: list[Path], tmp_path: Path, selection: list[str]
) -> None:
    threshold = _tied_threshold(corpus)
    command = [selection[0], *corpus, *BASE, *selection[1:], "--min-score", threshold]
    single = ok(*command).stdout_bytes
    assert single and all(r["zipfit_score"] >= float(threshold) for r in map(json.loads, single.splitlines()))
    parts = shards(tmp_path, command, 3)
    trailer = json.loads(parts[0].read_bytes().splitlines()[-1])["_zipfit_part"]
    assert trailer["min_score"] == float(threshold)
    merged = ok("merge", *parts, "--report", tmp_path / "merge.json")
    assert merged.stdout_bytes == single
    stats = json.loads((tmp_path / "merge.json").read_text())["stats"]
    scored = len(ok("score", *corpus, *BASE).stdout.splitlines())
    assert stats["min_score"] == float(threshold)
    assert stats["below_min_score"] == scored - len(
        ok("score", *corpus, *BASE, "--min-score", threshold).stdout.splitlines()
    )


def _below(*args: Any, report: Path) -> tuple[bytes, int]:
    """Output, and the report's count of records below --min-score."""
    out = ok(*args, "--report", report, "--force").stdout_bytes
    return out, json.loads(report.read_text())["stats"]["below_min_score"]


@pytest.mark.parametrize("selection", [["select"], ["select", "-k", "40"], ["score"]])
def test_merge_applies_a_min_score_of_its_own(
    corpus: list[Path], tmp_path: Path, selection: list[str]
) -> None:
    # Parts with no threshold, or a lower one, hold every record a higher threshold keeps.
    threshold = _tied_threshold(corpus)
    command = [selection[0], *corpus, *BASE, *selection[1:]]
    single, single_below = _below(*command, "--min-score", threshold, report=tmp_path / "single.json")
    for made_with in ([], ["--min-score", "-1"]):
        folder = tmp_path / f"made{len(made_with)}"
        folder.mkdir()
        parts = shards(folder, [*command, *made_with], 2)
        merged, merged_below = _below(
            "merge", *parts, "--min-score", threshold, report=tmp_path / "merge.json"
        )
        assert merged == single
        # Parts cut to their own top K hold only some of the records below: counted, a lower bound.
        assert merged_below == single_below if selection[1:] != ["-k", "40"] else merged_below <= single_below

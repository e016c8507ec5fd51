"""Options that meet: each combination does what it says, or is refused with its reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import FAST, SOURCE, TARGET, TARGETS, ok, records, run


def test_parquet_input_with_score_only_parquet_output(slice_path: Path, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    source = tmp_path / "source.parquet"
    pq.write_table(pa.Table.from_pylist(records(slice_path.read_bytes())), source)
    out = tmp_path / "ids.parquet"
    ok("select", source, *FAST, "-k", "5", "--output-format", "ids", "-o", out, "-q")
    table = pq.read_table(out)
    assert table.column_names == ["id", "zipfit_score"] and table.num_rows == 5
    expected = records(ok("select", slice_path, *FAST, "-k", "5", "--output-format", "ids", "-q").stdout)
    assert table.to_pylist() == expected


def test_a_long_csv_field_is_a_skippable_too_long_record(tmp_path: Path) -> None:
    table = tmp_path / "posts.csv"
    table.write_text("id,text\n1,def f(x): return x\n2," + "y" * 200_000 + "\n3,def g(y): return y\n")
    refused = run("score", table, *FAST, "--max-line-bytes", "1000")
    assert refused.exit_code == 3 and ":3:" in refused.stderr and "line-length limit" in refused.stderr
    kept = records(ok("score", table, *FAST, "--max-line-bytes", "1000", "--skip-invalid", "-q").stdout)
    assert [r["id"] for r in kept] == ["1", "3"]


def test_attributes_need_every_document(slice_path: Path) -> None:
    for extra in (["--skip-invalid"], ["--decontaminate"]):
        result = run("score", slice_path, *FAST, "--output-format", "attributes", *extra)
        assert result.exit_code == 2 and "a line for every document" in result.stderr


def test_id_key_goes_with_a_score_only_format(slice_path: Path) -> None:
    result = run("select", slice_path, *FAST, "-k", "2", "--id-key", "doc")
    assert result.exit_code == 2 and "--id-key goes with --output-format" in result.stderr


def test_ids_output_refuses_a_score_key_equal_to_the_id_key(slice_path: Path, tmp_path: Path) -> None:
    for args in (
        ["score", slice_path, *FAST, "--output-format", "ids", "--score-key", "id"],
        ["select", slice_path, *FAST, "-k", 2, "--output-format", "ids", "--score-key", "d", "--id-key", "d"],
    ):
        refused = run(*args)
        assert refused.exit_code == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert "the score key and the id key are both" in refused.stderr and not refused.stdout
    # Parts scored under the key "id" hold whole records (fine), but no ids line can be made of them.
    parts = [tmp_path / f"part-{i}.jsonl" for i in range(2)]
    for i, part in enumerate(parts):
        ok("score", slice_path, *FAST, "--score-key", "id", "--shard", f"{i}/2", "-o", part, "-q")
    refused = run("merge", *parts, "--output-format", "ids")
    assert refused.exit_code == 2 and "both 'id'" in refused.stderr and not refused.stdout, refused.stderr
    ids = records(ok("merge", *parts, "--output-format", "ids", "--id-key", "text", "-q").stdout)
    assert set(ids[0]) == {"text", "id"}


def test_background_command_takes_globs_and_the_line_cap(tmp_path: Path, source_lines: list[bytes]) -> None:
    for i in range(2):
        (tmp_path / f"part-{i}.jsonl").write_bytes(b"".join(source_lines[i * 100 : (i + 1) * 100]))
    made = ok("background", str(tmp_path / "part-*.jsonl"), "-n", "20", "-o", tmp_path / "bg.jsonl")
    assert "sampled from 200" in made.stderr
    capped = run("background", tmp_path / "part-0.jsonl", "-n", "5", "--max-line-bytes", "10")
    assert capped.exit_code == 3 and "over the line-length limit of 10 " in capped.stderr


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


def test_seed_alone_is_refused() -> None:
    result = run("select", SOURCE, "-t", TARGET, "-k", "2", "--seed", "3")
    assert result.exit_code == 2 and "--seed goes with --contrast" in result.stderr

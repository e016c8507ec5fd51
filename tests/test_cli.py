"""The `zipfit` command line (cli.py, commands.py): data on stdout, summary on stderr, exit codes."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import itertools
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard
from conftest import (
    FAST,
    SOURCE,
    TARGET,
    TARGETS,
    TEMPLATE,
    WriteJsonl,
    ok,
    records,
    run,
    run_process,
    select_fast,
)
from test_scoring import ref_alignment

from zipfit_cli import __version__
from zipfit_cli.selection.ranking import count_for_fraction

DECOMPRESS = {
    "gz": gzip.decompress,
    "bz2": bz2.decompress,
    "xz": lzma.decompress,
    "zst": lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b),
}
COMPRESS = {
    "gz": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "zst": lambda b: zstandard.ZstdCompressor().compress(b),
}


def by_id(path: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in records(path.read_bytes())}


def listing(directory: Path) -> set[str]:
    return set(os.listdir(directory))


@pytest.fixture(scope="module")
def scored_slice(slice_path: Path) -> list[dict[str, Any]]:
    """`zipfit score` of the 200-record slice with gzip level 9: every record in input order."""
    return records(ok("score", slice_path, *TARGETS, "-j", "1").stdout_bytes)


@pytest.fixture
def tie_corpus(write_jsonl: WriteJsonl, source_lines: list[bytes]) -> Path:
    """120 real records with 40 duplicated texts (new ids) mixed in: many exact score ties."""
    base = [json.loads(line) for line in source_lines[:120]]
    rows: list[dict[str, Any]] = []
    for i, record in enumerate(base):
        rows.append(record)
        if i % 3 == 0:
            rows.append({"id": f"dup-of-{record['id']}", "text": record["text"], "source": "dup"})
    return write_jsonl(rows, "ties.jsonl")


# --- select and score ------------------------------------------------------------------------


def test_select_top_k_stdout_is_ranked_jsonl(slice_path: Path) -> None:
    result = ok("select", slice_path, *TARGETS, "-k", 20, "-j", 1, "--summary", "full")
    out = records(result.stdout_bytes)
    assert len(out) == 20
    scores = [r["zipfit_score"] for r in out]
    assert scores == sorted(scores, reverse=True)
    originals = by_id(slice_path)
    for r in out:
        score = r.pop("zipfit_score")
        assert r == originals[r["id"]]
        assert 0.0 < score < 1.0
    # Sample data: the Python records are the aligned ones.
    assert sum(r["source"] == "python" for r in out) >= 15
    # Summary on stderr only.
    assert "selected 20" in result.stderr
    assert "read 200 records" in result.stderr
    assert "zipfit" not in result.stdout.replace("zipfit_score", "")


def test_score_every_record_in_input_order(slice_path: Path, scored_slice: list[dict[str, Any]]) -> None:
    inputs = records(slice_path.read_bytes())
    assert [r["id"] for r in scored_slice] == [r["id"] for r in inputs]
    for out, original in zip(scored_slice, inputs, strict=True):
        assert {k: v for k, v in out.items() if k != "zipfit_score"} == original
        assert list(out)[-1] == "zipfit_score"


def test_score_values_are_the_paper_formula(
    scored_slice: list[dict[str, Any]], target_texts: list[bytes]
) -> None:
    for r in scored_slice[:12]:
        expected = ref_alignment(r["text"].encode("utf-8"), target_texts, 9)
        assert r["zipfit_score"] == pytest.approx(expected, abs=1e-12), r["id"]


def test_select_top_k_is_best_of_score(slice_path: Path, scored_slice: list[dict[str, Any]]) -> None:
    ranked = sorted(enumerate(scored_slice), key=lambda p: (-p[1]["zipfit_score"], p[0]))
    out = records(ok("select", slice_path, *TARGETS, "-k", 25, "-j", 1, "-q").stdout_bytes)
    assert out == [r for _, r in ranked[:25]]


def test_select_without_k_ranks_everything(slice_path: Path, scored_slice: list[dict[str, Any]]) -> None:
    ranked = sorted(enumerate(scored_slice), key=lambda p: (-p[1]["zipfit_score"], p[0]))
    result = ok("select", slice_path, *TARGETS, "-j", 1)
    assert records(result.stdout_bytes) == [r for _, r in ranked]
    assert "selected=200" in result.stderr  # the one-line summary: stderr is not a terminal


@pytest.mark.parametrize(("fraction", "count"), [("0.1", 20), ("0.0125", 3), ("1", 200), ("0.0001", 1)])
def test_fraction(slice_path: Path, scored_slice: list[dict[str, Any]], fraction: str, count: int) -> None:
    ranked = sorted(enumerate(scored_slice), key=lambda p: (-p[1]["zipfit_score"], p[0]))
    out = records(ok("select", slice_path, *TARGETS, "--fraction", fraction, "-j", 1).stdout_bytes)
    assert out == [r for _, r in ranked[:count]]


def test_fraction_rounds_half_up_the_decimal_as_typed(slice_path: Path, tmp_path: Path) -> None:
    """0.145 of 100 records is 14.5: 15 kept, though 0.145 * 100 is 14.499999999999998 in floats."""
    hundred = tmp_path / "hundred.jsonl"
    hundred.write_bytes(b"".join(slice_path.read_bytes().splitlines(keepends=True)[:100]))
    three = tmp_path / "three.jsonl"
    three.write_bytes(b"".join(slice_path.read_bytes().splitlines(keepends=True)[:3]))
    for source, fraction, count in ((hundred, "0.145", 15), (hundred, "0.575", 58), (three, "0.5", 2)):
        out = ok("select", source, *FAST, "--fraction", fraction, "-q").stdout_bytes
        assert len(records(out)) == count, fraction
    report = tmp_path / "run.json"
    single = ok("select", hundred, *FAST, "--fraction", "0.145", "--report", report, "-q").stdout_bytes
    assert json.loads(report.read_text())["settings"]["fraction"] == "0.145"
    parts = [tmp_path / f"part-{i}.jsonl" for i in range(3)]
    for i, part in enumerate(parts):
        ok("select", hundred, *FAST, "--fraction", "0.145", "--shard", f"{i}/3", "-o", part, "-q")
    assert ok("merge", *parts, "-q").stdout_bytes == single
    assert len(records(ok("merge", *parts, "--fraction", "0.285", "-q").stdout_bytes)) == 29


@pytest.mark.parametrize(
    "args", [["--fraction", "0"], ["--fraction", "1.5"], ["--fraction", "-0.1"], ["-k", 5, "--fraction", 0.5]]
)
def test_bad_fraction_or_both_refused(slice_path: Path, args: list[Any]) -> None:
    result = run("select", slice_path, *FAST, *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""


def test_k_larger_than_input(write_jsonl: WriteJsonl) -> None:
    path = write_jsonl([{"text": "def f(x):\n    return x\n"}, {"text": "hello"}])
    out = records(ok("select", path, *FAST, "-k", 100).stdout_bytes)
    assert [r["text"] for r in out] == ["def f(x):\n    return x\n", "hello"]


def test_limit(slice_path: Path) -> None:
    result = ok("score", slice_path, *FAST, "--limit", 30)
    out = records(result.stdout_bytes)
    assert [r["id"] for r in out] == [r["id"] for r in records(slice_path.read_bytes())[:30]]


def test_quiet_prints_nothing_on_stderr(slice_path: Path) -> None:
    result = ok("select", slice_path, *FAST, "-k", 5, "-q")
    assert result.stderr == ""
    assert len(records(result.stdout_bytes)) == 5


def test_help() -> None:
    for args in (["-h"], ["--help"], ["select", "-h"], ["score", "-h"]):
        result = ok(*args)
        assert "Usage" in result.stdout
    assert "--top-k" in ok("select", "-h").stdout
    assert "--fraction" in ok("select", "-h").stdout
    assert "--target-template" in ok("score", "-h").stdout
    main_help = ok("-h").stdout
    assert "select" in main_help and "score" in main_help and "141" in main_help


def test_version() -> None:
    assert __version__ in ok("--version").stdout


COMMANDS = ["select", "score", "merge", "align", "background"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_names_values_not_python_types(command: str) -> None:
    text = ok(command, "--help").stdout
    for python_name in ("<list[str]>", "<int range>", "<float>", "<str>", "<int>", "{sources}"):
        assert python_name not in text, (python_name, text)
    if command in ("select", "score"):
        assert ("-o, --output PATH" in text and "--text-key KEY" in text and "-k, --top-k K" in text) or (
            command == "score" and "--text-key KEY" in text
        )


# --- determinism -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["select", "-k", "30"], ["select"], ["score"]])
def test_workers_and_batch_size_do_not_change_output(tie_corpus: Path, command: list[str]) -> None:
    outputs = [
        ok(*command, tie_corpus, *TARGETS, "--level", 6, "-j", j, "--batch-size", bs, "-q").stdout_bytes
        for j, bs in [(1, 256), (2, 7), (2, 1000), (1, 1)]
    ]
    assert outputs[0]
    assert all(o == outputs[0] for o in outputs[1:])


def test_ties_keep_input_order(tie_corpus: Path) -> None:
    out = records(ok("select", tie_corpus, *FAST, "-j", 2, "--batch-size", 5, "-q").stdout_bytes)
    position = {r["id"]: i for i, r in enumerate(records(tie_corpus.read_bytes()))}
    assert len(out) == len(position)
    for a, b in itertools.pairwise(out):
        assert a["zipfit_score"] >= b["zipfit_score"]
        if a["zipfit_score"] == b["zipfit_score"]:
            assert position[a["id"]] < position[b["id"]]
    # Every duplicate ties with its original and comes right after it.
    rank = {r["id"]: i for i, r in enumerate(out)}
    dups = [r for r in out if r["id"].startswith("dup-of-")]
    assert len(dups) == 40
    for d in dups:
        original = d["id"].removeprefix("dup-of-")
        assert rank[d["id"]] > rank[original]


def test_ties_across_files_first_file_wins(write_jsonl: WriteJsonl) -> None:
    a = write_jsonl([{"id": "a", "text": "def f(x): return x"}], "a.jsonl")
    b = write_jsonl([{"id": "b", "text": "def f(x): return x"}], "b.jsonl")
    assert [r["id"] for r in records(ok("select", a, b, *FAST, "-k", 1).stdout_bytes)] == ["a"]
    assert [r["id"] for r in records(ok("select", b, a, *FAST, "-k", 1).stdout_bytes)] == ["b"]


# --- output files ----------------------------------------------------------------------------


def test_output_file_equals_stdout(slice_path: Path, tmp_path: Path) -> None:
    stdout = ok("select", slice_path, *FAST, "-k", 10, "-q").stdout_bytes
    out = tmp_path / "out.jsonl"
    result = ok("select", slice_path, *FAST, "-k", 10, "-o", out)
    assert result.stdout == ""
    assert "selected=10" in result.stderr and f"output={out}" in result.stderr
    assert out.read_bytes() == stdout
    assert listing(tmp_path) == {"out.jsonl"}  # no temporary file left behind


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zst"])
def test_compressed_output_readable(slice_path: Path, tmp_path: Path, kind: str) -> None:
    plain = ok("score", slice_path, *FAST, "-q").stdout_bytes
    out = tmp_path / f"out.jsonl.{kind}"
    ok("score", slice_path, *FAST, "-q", "-o", out)
    assert DECOMPRESS[kind](out.read_bytes()) == plain
    if kind == "gz":
        with gzip.open(out, "rt", encoding="utf-8") as fh:
            assert len([json.loads(line) for line in fh]) == 200


def test_existing_output_refused_without_force(slice_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n")
    result = run("select", slice_path, *FAST, "-k", 3, "-o", out)
    assert result.exit_code == 4, result.output
    assert "--force" in result.stderr
    assert out.read_text() == "precious\n"
    ok("select", slice_path, *FAST, "-k", 3, "-o", out, "--force")
    assert len(records(out.read_bytes())) == 3


def test_failed_run_leaves_no_output(
    write_jsonl: WriteJsonl, source_lines: list[bytes], tmp_path: Path
) -> None:
    corpus = write_jsonl([*source_lines[:50], b'{"text": broken', *source_lines[50:60]], "bad.jsonl")
    out = tmp_path / "out.jsonl"
    result = run("score", corpus, *FAST, "-o", out)
    assert result.exit_code == 3, result.output
    assert listing(tmp_path) == {"bad.jsonl"}
    # An existing file survives a failed --force run untouched.
    out.write_text("old\n")
    result = run("score", corpus, *FAST, "-o", out, "--force")
    assert result.exit_code == 3, result.output
    assert out.read_text() == "old\n"
    assert listing(tmp_path) == {"bad.jsonl", "out.jsonl"}


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_output_equal_to_input_refused(slice_path: Path, tmp_path: Path, force: list[str]) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(slice_path.read_bytes())
    result = run("select", corpus, *FAST, "-k", 3, "-o", corpus, *force)
    assert result.exit_code == 2, result.output
    assert corpus.read_bytes() == slice_path.read_bytes()
    # The same file under another name is still the input.
    result = run("select", corpus, *FAST, "-k", 3, "-o", tmp_path / "." / "corpus.jsonl", *force)
    assert result.exit_code == 2, result.output
    assert corpus.read_bytes() == slice_path.read_bytes()


def test_output_equal_to_target_refused(slice_path: Path, tmp_path: Path, target_path: Path) -> None:
    target = tmp_path / "target.jsonl"
    target.write_bytes(target_path.read_bytes())
    result = run("select", slice_path, "-t", target, "--target-template", TEMPLATE, "-o", target, "--force")
    assert result.exit_code == 2, result.output
    assert target.read_bytes() == target_path.read_bytes()


def test_report_path_equal_to_output_refused(slice_path: Path, tmp_path: Path) -> None:
    # Writing the report over the selection would silently destroy the output.
    out = tmp_path / "out.jsonl"
    result = run("select", slice_path, *FAST, "-k", 3, "-o", out, "--report", out, "--force")
    assert result.exit_code == 2, result.output


# --- bad input -------------------------------------------------------------------------------


def test_missing_source_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    result = run("select", missing, *FAST, "-k", 3, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 3, result.output
    assert "nope.jsonl" in result.stderr
    assert result.stdout == ""
    assert listing(tmp_path) == set()


def test_missing_target_file(slice_path: Path, tmp_path: Path) -> None:
    result = run("select", slice_path, "-t", tmp_path / "t.jsonl", "-k", 3)
    assert result.exit_code == 3, result.output
    assert "t.jsonl" in result.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_malformed_line_names_file_and_line(
    write_jsonl: WriteJsonl, source_lines: list[bytes], workers: int
) -> None:
    # Blank lines count as lines: the bad record is on physical line 14.
    corpus = write_jsonl([*source_lines[:10], b"", b"  ", *source_lines[10:11], b'{"text": "a",}'])
    result = run("select", corpus, *TARGETS, "--compressor", "lz4", "-j", workers, "--batch-size", 3, "-k", 2)
    assert result.exit_code == 3, result.output
    assert f"{corpus}:14:" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"text": "a", oops}', "malformed_json"),
        (b'["a list"]', "not_object"),
        (b'{"body": "x"}', "missing_key"),
        (b'{"text": null}', "not_string"),
        (b'{"text": "   "}', "empty_text"),
        (b'{"text": "caf\xe9"}', "invalid_utf8"),
    ],
)
def test_each_invalid_record_stops_the_run(write_jsonl: WriteJsonl, line: bytes, reason: str) -> None:
    corpus = write_jsonl([{"text": "fine"}, line])
    result = run("score", corpus, *FAST)
    assert result.exit_code == 3, result.output
    assert f"{corpus}:2:" in result.stderr
    assert "--skip-invalid" in result.stderr


def test_skip_invalid_counts_reasons_in_report(
    write_jsonl: WriteJsonl, source_lines: list[bytes], tmp_path: Path
) -> None:
    bad = [
        b'{"text": "a", oops}',
        b"not json",
        b'["a list"]',
        b"42",
        b'{"body": "x"}',
        b'{"text": null}',
        b'{"text": 7}',
        b'{"text": ""}',
        b'{"text": " \\t\\n "}',
        b'{"text": "caf\xe9"}',
        b'{"text": "' + b"y" * 5000 + b'"}',
    ]
    good = source_lines[:20]
    rows = [*good[:10], *bad[:5], b"", *good[10:], *bad[5:], b"   "]
    corpus = write_jsonl(rows)
    report = tmp_path / "report.json"
    result = ok(
        "score", corpus, *FAST, "--skip-invalid", "--max-text-bytes", 4000, "--report", report, "-j", 2,
        "--summary", "full",
    )  # fmt: skip
    out = records(result.stdout_bytes)
    assert [r["id"] for r in out] == [json.loads(line)["id"] for line in good]
    stats = json.loads(report.read_text())["stats"]
    assert stats["skipped"] == {
        "empty_text": 2,
        "invalid_utf8": 1,
        "malformed_json": 2,
        "missing_key": 1,
        "not_object": 2,
        "not_string": 2,
        "too_long": 1,
    }
    assert stats["skipped_total"] == 11
    assert stats["scored"] == 20
    assert stats["records_read"] == 31
    assert stats["blank_lines"] == 2
    assert "skipped" in result.stderr and "malformed_json 2" in result.stderr


def test_max_text_bytes_without_skip_stops(write_jsonl: WriteJsonl) -> None:
    corpus = write_jsonl([{"text": "short"}, {"text": "x" * 101}])
    result = run("score", corpus, *FAST, "--max-text-bytes", 100)
    assert result.exit_code == 3, result.output
    assert f"{corpus}:2:" in result.stderr


def test_all_records_skipped_is_an_error_not_an_empty_output(slice_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = run("select", slice_path, *TARGETS, "--text-key", "content", "--skip-invalid", "-o", out)
    assert result.exit_code == 3, result.output
    assert "no record could be scored" in result.stderr and "missing_key 200" in result.stderr
    assert not out.exists()


def test_empty_target_set(slice_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "t.jsonl"
    target.write_text("\n\n")
    result = run("select", slice_path, "-t", target, "-k", 3)
    assert result.exit_code == 3, result.output
    assert "empty" in result.stderr
    assert result.stdout == ""


def test_no_target_refused(slice_path: Path) -> None:
    result = run("select", slice_path, "-k", 3)
    assert result.exit_code == 2, result.output
    assert "--target" in result.stderr


def test_target_without_template_names_the_option(slice_path: Path) -> None:
    result = run("select", slice_path, "-t", TARGET, "-k", 3)
    assert result.exit_code == 3, result.output
    assert f"{TARGET}:1:" in result.stderr
    assert "--target-key" in result.stderr or "--target-template" in result.stderr


def test_level_zero_refused(slice_path: Path) -> None:
    result = run("select", slice_path, *TARGETS, "--level", 0, "-k", 3)
    assert result.exit_code == 2, result.output
    assert "length" in result.stderr


def test_unknown_compressor_refused(slice_path: Path) -> None:
    result = run("select", slice_path, *TARGETS, "--compressor", "brotli", "-k", 3)
    assert result.exit_code == 2, result.output
    assert "brotli" in result.stderr


def test_stdin_only_once(slice_path: Path) -> None:
    result = run("select", "-", "-t", "-", "-k", 3, input=slice_path.read_bytes())
    assert result.exit_code == 2, result.output
    twice = run("select", "-", "-", *FAST, "-k", 3, input=slice_path.read_bytes())  # not a repeat to drop
    assert twice.exit_code == 2 and "stdin (-) can be read only once" in twice.stderr, twice.output


# --- report ----------------------------------------------------------------------------------


def test_report_contents(slice_path: Path, tmp_path: Path, target_texts: list[bytes]) -> None:
    report = tmp_path / "report.json"
    result = ok("select", slice_path, *TARGETS, "--level", 6, "-k", 7, "-j", 1, "--report", report)
    out = records(result.stdout_bytes)
    data = json.loads(report.read_text())
    assert data["zipfit_version"] == __version__
    settings = data["settings"]
    digest = hashlib.sha256()
    for t in target_texts:
        digest.update(len(t).to_bytes(8, "little"))
        digest.update(t)
    assert settings["target_sha256"] == digest.hexdigest()
    assert settings["n_targets"] == 40
    assert settings["compressor"] == "gzip"
    assert settings["level"] == 6
    assert settings["top_k"] == 7
    assert settings["command"] == "select"
    assert settings["target_template"] == TEMPLATE
    stats = data["stats"]
    assert stats["records_read"] == stats["scored"] == 200
    assert stats["selected"] == 7
    assert stats["skipped_total"] == 0
    assert stats["score_max"] == out[0]["zipfit_score"]
    assert stats["threshold"] == out[-1]["zipfit_score"]
    assert stats["score_min"] <= stats["score_median"] <= stats["score_max"]
    assert stats["pairs"] == 200 * 40


def test_report_target_hash_changes_with_targets(slice_path: Path, tmp_path: Path) -> None:
    r1, r2 = tmp_path / "r1.json", tmp_path / "r2.json"
    ok("score", slice_path, *FAST, "--limit", 5, "--report", r1, "-q")
    ok("score", slice_path, "-t", TARGET, "--target-key", "prompt", "--compressor", "lz4", "--report", r2)
    h1 = json.loads(r1.read_text())["settings"]["target_sha256"]
    h2 = json.loads(r2.read_text())["settings"]["target_sha256"]
    assert re.fullmatch("[0-9a-f]{64}", h1) and h1 != h2


def test_empty_source_is_a_warning_and_in_the_report(slice_path: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"\n  \n")
    report = tmp_path / "report.json"
    result = select_fast(empty, slice_path, "-k", "2", "--report", str(report))
    assert result.exit_code == 0, result.output
    assert f"zipfit: warning: {empty} holds no records\n" in result.stderr
    assert len(result.stdout.splitlines()) == 2
    assert json.loads(report.read_text())["warnings"] == [f"{empty} holds no records"]
    quiet = select_fast(empty, "-k", "2", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_a_source_with_records_gives_no_warning(slice_path: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = select_fast(slice_path, "-k", "2", "--report", str(report))
    assert "zipfit: warning" not in result.stderr and "warnings=0" in result.stderr
    assert json.loads(report.read_text())["warnings"] == []


def test_report_records_the_command_line_inputs_and_library_versions(tmp_path: Path) -> None:
    report = tmp_path / "run.json"
    ok("select", SOURCE, *FAST, "-k", "3", "--limit", "20", "--report", report, "-o", os.devnull)
    info = json.loads(report.read_text())
    assert "--report" in info["command_line"]
    versions = info["versions"]
    assert (
        versions["python"].count(".") == 2 and versions["zlib"] and versions["lz4"] and versions["zstandard"]
    )
    by_path = {entry["path"]: entry for entry in info["inputs"]}
    assert by_path[str(SOURCE)]["size"] == SOURCE.stat().st_size
    assert by_path[str(TARGET)]["mtime_ns"] == TARGET.stat().st_mtime_ns


# --- text and target options -----------------------------------------------------------------


def test_target_template_changes_scores(slice_path: Path) -> None:
    a = records(ok("score", slice_path, *FAST, "--limit", 20).stdout_bytes)
    by_prompt = ["-t", TARGET, "--target-key", "prompt", "--compressor", "lz4", "-j", 1]
    b = records(ok("score", slice_path, *by_prompt, "--limit", 20).stdout_bytes)
    assert [r["id"] for r in a] == [r["id"] for r in b]
    assert [r["zipfit_score"] for r in a] != [r["zipfit_score"] for r in b]


def test_dotted_text_key(write_jsonl: WriteJsonl, source_lines: list[bytes]) -> None:
    flat = [json.loads(line) for line in source_lines[:30]]
    nested = [{"id": r["id"], "meta": {"content": r["text"]}} for r in flat]
    flat_path = write_jsonl(flat, "flat.jsonl")
    nested_path = write_jsonl(nested, "nested.jsonl")
    a = records(ok("score", flat_path, *FAST).stdout_bytes)
    b = records(ok("score", nested_path, *FAST, "--text-key", "meta.content").stdout_bytes)
    assert [r["zipfit_score"] for r in a] == [r["zipfit_score"] for r in b]
    assert b[0]["meta"]["content"] == flat[0]["text"]
    missing = run("score", nested_path, *FAST)
    assert missing.exit_code == 3, missing.output
    assert "--text-key" in missing.stderr


def test_score_key_and_rescoring(slice_path: Path, write_jsonl: WriteJsonl) -> None:
    first = ok("score", slice_path, *FAST, "--limit", 10, "--score-key", "s").stdout_bytes
    assert all("s" in r and "zipfit_score" not in r for r in records(first))
    again_path = write_jsonl([first], "again.jsonl")
    again = ok("score", again_path, *FAST, "--score-key", "s").stdout_bytes
    assert records(again) == records(first)
    assert all(line.count(b'"s"') == 1 for line in again.splitlines())


def test_stdin_source(slice_path: Path) -> None:
    from_file = ok("select", slice_path, *FAST, "-k", 10, "-q").stdout_bytes
    from_stdin = ok("select", "-", *FAST, "-k", 10, "-q", input=slice_path.read_bytes())
    assert from_stdin.stdout_bytes == from_file
    scored = ok("score", "-", *FAST, input=slice_path.read_bytes())
    assert len(records(scored.stdout_bytes)) == 200
    assert "read=200 " in scored.stderr


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zst"])
def test_compressed_sources(slice_path: Path, tmp_path: Path, kind: str) -> None:
    plain = ok("score", slice_path, *FAST, "-q").stdout_bytes
    packed = tmp_path / f"corpus.jsonl.{kind}"
    packed.write_bytes(COMPRESS[kind](slice_path.read_bytes()))
    assert ok("score", packed, *FAST, "-q").stdout_bytes == plain


def test_bom_crlf_blank_lines_and_last_line(write_jsonl: WriteJsonl, tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"text": "def f(x): return x"}\r\n\r\n{"text": "hello"}\r\n \n{"text": "last"}'
    )
    report = tmp_path / "r.json"
    result = ok("score", path, *FAST, "--report", report)
    assert [r["text"] for r in records(result.stdout_bytes)] == ["def f(x): return x", "hello", "last"]
    stats = json.loads(report.read_text())["stats"]
    assert stats["blank_lines"] == 2
    assert stats["records_read"] == 3


def test_multiple_sources_concatenate(write_jsonl: WriteJsonl, source_lines: list[bytes]) -> None:
    a = write_jsonl(source_lines[:7], "a.jsonl")
    b = write_jsonl(source_lines[7:12], "b.jsonl")
    both = write_jsonl(source_lines[:12], "both.jsonl")
    assert ok("score", a, b, *FAST, "-q").stdout_bytes == ok("score", both, *FAST, "-q").stdout_bytes
    assert ok("select", a, b, *FAST, "-q").stdout_bytes == ok("select", both, *FAST, "-q").stdout_bytes


# --- damaged compressed input ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zst"])
def test_corrupt_compressed_source_is_bad_input(slice_path: Path, tmp_path: Path, kind: str) -> None:
    blob = bytearray(COMPRESS[kind](slice_path.read_bytes()))
    blob[20] ^= 0xFF  # inside the compressed payload of every format
    path = tmp_path / f"corrupt.jsonl.{kind}"
    path.write_bytes(bytes(blob))
    result = run("score", path, *FAST, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 3, result.output
    assert "corrupt.jsonl" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zst"])
def test_truncated_compressed_source_is_bad_input(slice_path: Path, tmp_path: Path, kind: str) -> None:
    blob = COMPRESS[kind](slice_path.read_bytes())
    path = tmp_path / f"trunc.jsonl.{kind}"
    path.write_bytes(blob[: len(blob) // 2])
    result = run("score", path, *FAST, "--skip-invalid", "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 3, result.output
    assert "trunc.jsonl" in result.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_read_error_names_line_of_that_file(slice_path: Path, tmp_path: Path) -> None:
    # A damaged second file: the message must count lines of that file, not of the whole run.
    blob = gzip.compress(slice_path.read_bytes())
    second = tmp_path / "second.jsonl.gz"
    second.write_bytes(blob[: len(blob) // 2])
    result = run("score", slice_path, second, *FAST)
    assert result.exit_code == 3, result.output
    assert "second.jsonl.gz" in result.stderr
    numbers = [int(n) for n in re.findall(r"(?:line |:)(\d+)", result.stderr.split("second.jsonl.gz", 1)[1])]
    assert numbers, result.stderr
    assert all(n <= 200 for n in numbers), result.stderr  # the file has 200 lines


# --- warnings, --strict, and a source named twice -------------------------------------------


@pytest.fixture
def two_files(tmp_path: Path, source_lines: list[bytes]) -> tuple[Path, Path]:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(b"".join(source_lines[:60]))
    b.write_bytes(b"".join(source_lines[60:100]))
    return a, b


def test_a_source_named_twice_is_read_once_with_a_warning(
    two_files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two_files
    (tmp_path / "link.jsonl").symlink_to(a)
    os.link(b, tmp_path / "hard.jsonl")
    monkeypatch.chdir(tmp_path)
    once = ok("score", "a.jsonl", "b.jsonl", *FAST, "--report", "once.json")
    named = [
        "a.jsonl",
        "./a.jsonl",
        "b.jsonl",
        str(a),
        "link.jsonl",
        "hard.jsonl",
        "[ab].jsonl",
        f"file://{a}",
    ]
    twice = ok("score", *named, *FAST, "--report", "twice.json")
    assert twice.stdout_bytes == once.stdout_bytes  # 100 records, each once, in the same order
    warned = [line for line in twice.stderr.splitlines() if line.startswith("zipfit: warning: ")]
    assert warned == [
        "zipfit: warning: ./a.jsonl is named twice (as a.jsonl); it is read once",
        f"zipfit: warning: {a} is named twice (as a.jsonl); it is read once",
        "zipfit: warning: link.jsonl is named twice (as a.jsonl); it is read once",
        "zipfit: warning: hard.jsonl is named twice (as b.jsonl); it is read once",
        "zipfit: warning: a.jsonl is named twice; it is read once",  # the glob's a.jsonl
        "zipfit: warning: b.jsonl is named twice; it is read once",
        f"zipfit: warning: file://{a} is named twice (as a.jsonl); it is read once",
    ]
    report = json.loads(Path("twice.json").read_text())
    assert report["settings"]["sources"] == ["a.jsonl", "b.jsonl"] and report["stats"]["records_read"] == 100


def test_a_target_or_background_file_named_twice_is_read_once_with_a_warning(
    two_files: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b = two_files
    lines = TARGET.read_bytes().splitlines(keepends=True)
    first, second = tmp_path / "t1.jsonl", tmp_path / "t2.jsonl"
    first.write_bytes(b"".join(lines[:3]))
    second.write_bytes(b"".join(lines[3:]))
    link = tmp_path / "again.jsonl"
    link.symlink_to(first)
    scoring = ["--target-template", TEMPLATE, "--contrast", "--compressor", "lz4", "-j", "1"]
    once = ok("score", a, "-t", first, "-t", second, *scoring, "--background", a, "--background", b, "-q")
    twice = run("score", a, "-t", first, "-t", second, "-t", link, *scoring,
                "--background", a, "--background", b, "--background", b)  # fmt: skip
    # Read twice, t1's targets (and b's background records) would weigh double in the means.
    assert twice.exit_code == 0 and twice.stdout_bytes == once.stdout_bytes
    warned = [line for line in twice.stderr.splitlines() if line.startswith("zipfit: warning: ")]
    assert warned == [
        f"zipfit: warning: {link} is named twice (as {first}); it is read once",
        f"zipfit: warning: {b} is named twice; it is read once",
    ]


def test_shards_of_a_repeated_list_merge_with_shards_of_the_plain_one(
    two_files: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b = two_files
    single = ok("select", a, b, *FAST, "-k", "15", "-q").stdout_bytes
    part0, part1 = tmp_path / "p0.jsonl", tmp_path / "p1.jsonl"
    ok("select", a, b, a, *FAST, "-k", "15", "--shard", "0/2", "-o", part0, "-q")  # a repeat...
    ok("select", a, b, *FAST, "-k", "15", "--shard", "1/2", "-o", part1, "-q")  # ...and none
    merged = run("merge", part0, part1, "--strict")
    assert merged.exit_code == 6 and merged.stdout_bytes == single  # the shard's warning carried
    assert f"zipfit: warning: {a} is named twice; it is read once" in merged.stderr


def test_strict_ends_a_run_that_warned_with_exit_6_after_writing(
    two_files: tuple[Path, Path], tmp_path: Path
) -> None:
    a, _ = two_files
    out, report = tmp_path / "top.jsonl", tmp_path / "run.json"
    args = ["select", a, a, *FAST, "-k", "4", "-o", out, "--report", report]
    assert run(*args).exit_code == 0  # a warning, no more
    result = run(*args, "--force", "--strict")
    assert result.exit_code == 6, result.output
    assert len(records(out.read_bytes())) == 4 and json.loads(report.read_text())["warnings"]
    assert result.stderr.splitlines()[-1] == (
        f"zipfit: error: --strict: {a} is named twice; it is read once; the outputs were written"
    )
    assert run(*args, "--force", "--strict", "--no-strict").exit_code == 0
    assert run(*args, "--force", env={"ZIPFIT_STRICT": "1"}).exit_code == 6


def test_a_budget_that_stops_before_its_first_record_warns(slice_path: Path, tmp_path: Path) -> None:
    best = records(ok("select", slice_path, *FAST, "-k", "1", "-q").stdout_bytes)[0]
    size = len(best["text"])
    under = ("--budget-chars", str(size - 1))
    result = run("select", slice_path, *FAST, *under, "--report", tmp_path / "r.json")
    assert result.exit_code == 0 and result.stdout == ""
    warnings = json.loads((tmp_path / "r.json").read_text())["warnings"]
    assert warnings == [
        f"the budget of {size - 1:,} characters stops before the first record, which holds {size:,}: "
        "nothing was selected",
        "nothing was selected: the output holds no records",
    ]
    assert run("select", slice_path, *FAST, "--budget-chars", str(size - 1), "--strict", "-q").exit_code == 6
    fits = run("select", slice_path, *FAST, "--budget-chars", str(size), "--strict", "-q")
    assert fits.exit_code == 0 and len(records(fits.stdout_bytes)) == 1  # exactly the first: no warning
    parts = [tmp_path / f"p{i}.jsonl" for i in range(2)]
    for i, part in enumerate(parts):
        ok("select", slice_path, *FAST, "--shard", f"{i}/2", "-o", part, "-q")
    merged = run("merge", *parts, "--budget-tokens", "1", "--strict")
    assert merged.exit_code == 6 and "stops before the first record" in merged.stderr


def test_an_empty_selection_warns(write_jsonl: WriteJsonl, tmp_path: Path) -> None:
    empty = write_jsonl([b""], "blank.jsonl")
    result = run("select", empty, *FAST, "-k", "3", "--strict")
    assert result.exit_code == 6 and result.stdout == ""
    assert "zipfit: warning: nothing was selected: the output holds no records" in result.stderr
    scored = run("score", empty, *FAST, "--strict")  # score selects nothing by design: one warning
    assert scored.exit_code == 6 and "nothing was selected" not in scored.stderr


# --- a Makefile that rebuilds a selection when its inputs change (README) ----------------------


def _readme_makefile() -> str:
    """The Makefile rule in the README's "Running unattended", as written there."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("```make\n  # zipfit: rebuild the selection", 1)[1].split("```", 1)[0]
    return textwrap.dedent("  # zipfit: rebuild the selection" + block)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_the_readme_makefile_rebuilds_only_when_an_input_changes(
    tmp_path: Path, source_lines: list[bytes], target_texts: list[bytes]
) -> None:
    (tmp_path / "Makefile").write_text(_readme_makefile())
    (tmp_path / "corpus.jsonl").write_bytes(b"".join(source_lines[:80]))
    targets = tmp_path / "targets.jsonl"
    targets.write_text("".join(json.dumps({"text": t.decode()}) + "\n" for t in target_texts[:3]))
    env = {**os.environ, "ZIPFIT_WORKERS": "1"}
    zipfit = f"{sys.executable} -m zipfit_cli"

    def make() -> subprocess.CompletedProcess[str]:
        command = ["make", f"ZIPFIT={zipfit}"]
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    selected = tmp_path / "selected.jsonl"
    first = make()
    assert first.returncode == 0, first.stderr
    assert len(records(selected.read_bytes())) == 80 and (tmp_path / "selected.report.json").exists()
    built = selected.stat().st_mtime_ns
    second = make()
    assert second.returncode == 0 and zipfit not in second.stdout  # up to date: nothing ran
    assert selected.stat().st_mtime_ns == built
    later = built + 2_000_000_000  # past any file system's time granularity
    os.utime(targets, ns=(later, later))
    third = make()
    assert third.returncode == 0 and zipfit in third.stdout, third.stderr
    assert selected.stat().st_mtime_ns != built
    # A warning under ZIPFIT_STRICT fails the rule and .DELETE_ON_ERROR takes the target away,
    # so the next make tries again instead of taking it as up to date.
    (tmp_path / "corpus.jsonl").write_bytes(b"")
    failed = make()
    assert failed.returncode != 0 and "--strict" in failed.stderr
    assert not selected.exists()
    # A run that fails writes nothing: the old target stays, older than its input, and is retried.
    (tmp_path / "corpus.jsonl").write_bytes(b"".join(source_lines[:80]))
    assert make().returncode == 0 and selected.exists()
    built = selected.stat().st_mtime_ns
    (tmp_path / "corpus.jsonl").write_bytes(b"not json\n")
    os.utime(tmp_path / "corpus.jsonl", ns=(built + 2_000_000_000,) * 2)
    broken = make()
    assert broken.returncode != 0 and "malformed JSON" in broken.stderr
    assert selected.stat().st_mtime_ns == built  # untouched...
    assert zipfit in make().stdout  # ...and not taken as up to date


# --- --min-score: `select --min-score S` is `score | jq 'select(.zipfit_score >= S)'`, ranked ---


@pytest.fixture(scope="module")
def tied(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes], str]:
    """The sample with a copy of its 60th best record appended (a tie at exactly S), its
    `score` output lines in input order, and S: that record's score as the output shows it."""
    lines = SOURCE.read_bytes().splitlines(keepends=True)
    first = ok("score", SOURCE, *FAST, "-q").stdout_bytes.splitlines(keepends=True)
    ranked = sorted(range(len(first)), key=lambda i: -orjson.loads(first[i])["zipfit_score"])
    copy = orjson.loads(lines[ranked[59]]) | {"id": "tie-copy"}
    source = tmp_path_factory.mktemp("tied") / "tied.jsonl"
    source.write_bytes(b"".join(lines) + orjson.dumps(copy) + b"\n")
    scored = ok("score", source, *FAST, "-q").stdout_bytes.splitlines(keepends=True)
    threshold = repr(orjson.loads(scored[ranked[59]])["zipfit_score"])
    return source, scored, threshold


def jq_at_least(scored: list[bytes], threshold: str) -> list[bytes]:
    """What `jq -c 'select(.zipfit_score >= S)'` keeps of `score` output, sorted by rank
    (score down, then input order), as zipfit writes those records."""
    kept = [(orjson.loads(line)["zipfit_score"], i, line) for i, line in enumerate(scored)]
    at_least = [entry for entry in kept if entry[0] >= float(threshold)]
    return [line for _, _, line in sorted(at_least, key=lambda e: (-e[0], e[1]))]


@pytest.mark.parametrize(
    "extra", [[], ["-k", "10"], ["-k", "1000"], ["--fraction", "0.005"], ["--fraction", "0.5"]]
)
def test_select_min_score_is_score_filtered_by_jq_and_ranked(
    tied: tuple[Path, list[bytes], str], extra: list[str]
) -> None:
    source, scored, threshold = tied
    expected = jq_at_least(scored, threshold)
    assert len(expected) == 61 and b'"tie-copy"' in expected[-1]  # both tied records, input order
    if extra[:1] == ["-k"]:
        expected = expected[: int(extra[1])]
    elif extra:  # a fraction of every record scored, then at most what the threshold leaves
        expected = expected[: count_for_fraction(float(extra[1]), len(scored))]
    result = ok("select", source, *FAST, "--min-score", threshold, *extra, "--summary", "full")
    assert result.stdout_bytes == b"".join(expected)
    assert f"below --min-score {threshold}: {len(scored) - 61:,} records" in result.stderr


def test_score_min_score_writes_the_records_at_or_above_it_in_input_order(
    tied: tuple[Path, list[bytes], str], tmp_path: Path
) -> None:
    source, scored, threshold = tied
    report = tmp_path / "run.json"
    result = ok("score", source, *FAST, "--min-score", threshold, "--report", report)
    expected = [line for line in scored if orjson.loads(line)["zipfit_score"] >= float(threshold)]
    assert result.stdout_bytes == b"".join(expected) and len(expected) == 61
    summary = json.loads(report.read_text())
    assert summary["settings"]["min_score"] == float(threshold)
    assert summary["stats"]["below_min_score"] == len(scored) - 61
    assert summary["stats"]["scored"] == len(scored)  # below the threshold is still scored


@pytest.mark.parametrize(("threshold", "kept"), [("-0.01", None), ("-1e300", 4000), ("1", 0), ("1e300", 0)])
def test_min_score_anywhere_on_the_scale(threshold: str, kept: int | None) -> None:
    # Scores can be negative (contrast scores mostly are): any finite S; none above it is no error.
    result = ok("select", SOURCE, *FAST, "--min-score", threshold, "-q")
    out = records(result.stdout_bytes)
    assert all(r["zipfit_score"] >= float(threshold) for r in out)
    if kept is not None:
        assert len(out) == kept
    else:
        assert 3900 < len(out) < 4000  # a few sample records score below -0.01 with lz4


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999", "abc", ""])
def test_min_score_that_is_not_a_finite_number_is_a_usage_error(value: str) -> None:
    for command in ("select", "score"):
        result = run(command, SOURCE, *FAST, "--min-score", value)
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1 and "--min-score" in result.stderr
        assert result.stdout == ""


def test_score_refuses_attribute_output_with_a_min_score() -> None:
    # An attribute file needs a line for every document: a threshold would leave some out.
    result = run("score", SOURCE, *FAST, "--min-score", "0.05", "--output-format", "attributes")
    assert result.exit_code == 2, result.output
    assert "--min-score" in result.stderr and result.stdout == ""


def test_min_score_in_every_output_format(tied: tuple[Path, list[bytes], str], tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    source, scored, threshold = tied
    expected = records(b"".join(jq_at_least(scored, threshold)))
    args = ["select", source, *FAST, "--min-score", threshold, "-q"]
    ids = records(ok(*args, "--output-format", "ids").stdout_bytes)
    assert ids == [{"id": r["id"], "zipfit_score": r["zipfit_score"]} for r in expected]
    ok(*args, "-o", tmp_path / "top.jsonl.gz")
    assert records(gzip.decompress((tmp_path / "top.jsonl.gz").read_bytes())) == expected
    ok(*args, "-o", tmp_path / "top.parquet")
    rows = pq.read_table(tmp_path / "top.parquet").to_pylist()
    assert [(r["id"], r["zipfit_score"]) for r in rows] == [(r["id"], r["zipfit_score"]) for r in expected]


def test_min_score_comes_before_dedupe_and_budgets(tied: tuple[Path, list[bytes], str]) -> None:
    source, scored, threshold = tied
    ranked = jq_at_least(scored, threshold)
    result = ok("select", source, *FAST, "--min-score", threshold, "--dedupe", "--summary", "full")
    assert result.stdout_bytes == b"".join(ranked[:-1])  # the tie's copy: the earlier one stays
    assert "dropped 1 exact duplicate" in result.stderr
    budget = sum(len(orjson.loads(line)["text"]) for line in ranked[:7])
    result = ok("select", source, *FAST, "--min-score", threshold, "--budget-chars", budget, "-q")
    assert result.stdout_bytes == b"".join(ranked[:7])


def test_min_score_through_a_real_process(tied: tuple[Path, list[bytes], str]) -> None:
    source, scored, threshold = tied
    done = run_process("select", str(source), *FAST, "--min-score", threshold, "-k", "5")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"".join(jq_at_least(scored, threshold)[:5])  # stdout: records only
    below = len(scored) - 61  # a log's one summary line says the threshold and what fell below it
    assert f"min_score={threshold} below_min_score={below} selected=5 ".encode() in done.stderr
    refused = run_process("select", str(source), *FAST, "--min-score", "nan")
    assert refused.returncode == 2 and refused.stdout == b""
    assert refused.stderr.startswith(b"zipfit: error: ") and refused.stderr.count(b"\n") == 1

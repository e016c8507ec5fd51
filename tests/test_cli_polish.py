"""What a new user tripped over: usage errors, help text, warnings, reports, progress lines."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST, SOURCE, TARGET, TARGETS, WriteJsonl, ok, records, run

COMMANDS = ["select", "score", "merge", "align", "background"]


@pytest.mark.parametrize(
    "args",
    [
        ["select", SOURCE, *TARGETS, "-k", "0"],
        ["select", SOURCE, *TARGETS, "--fraction", "10%"],
        ["score", SOURCE, *TARGETS, "--no-such-option"],
        ["nosuch"],
        ["merge"],
    ],
    ids=["k-0", "fraction-percent", "unknown-option", "unknown-command", "missing-argument"],
)
def test_every_usage_error_is_one_zipfit_line_and_exit_2(args: list[object]) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("zipfit: error: ") and "-h'" in lines[0], result.stderr
    assert not result.stdout


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e400"])
@pytest.mark.parametrize(
    ("option", "context"),
    [
        ("--contrast-weight", ["--contrast", "-k", "3"]),
        ("--adaptive-z", ["--adaptive", "-k", "3"]),
        ("--decontaminate-ncd", ["-k", "3"]),
        ("--fraction", []),
    ],
)
def test_float_options_refuse_values_that_are_not_finite(option: str, context: list[str], value: str) -> None:
    """1e400 overflows to inf when read as a float; none of these is a usable setting."""
    result = run("select", SOURCE, *FAST, *context, option, value, "-o", os.devnull)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("zipfit: error: ") and option in lines[0], result.stderr


def test_usage_error_from_the_installed_command_is_the_same_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "zipfit_cli", "select", str(SOURCE), "-t", str(TARGET), "-k", "0"],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2 and not done.stdout
    assert done.stderr.decode().startswith("zipfit: error: Invalid value for '--top-k'")
    assert b"Traceback" not in done.stderr and b"\xe2\x95\xad" not in done.stderr  # no framed box


@pytest.mark.parametrize("command", COMMANDS)
def test_help_names_values_not_python_types(command: str) -> None:
    text = ok(command, "--help").stdout
    for python_name in ("<list[str]>", "<int range>", "<float>", "<str>", "<int>", "{sources}"):
        assert python_name not in text, (python_name, text)
    if command in ("select", "score"):
        assert ("-o, --output PATH" in text and "--text-key KEY" in text and "-k, --top-k K" in text) or (
            command == "score" and "--text-key KEY" in text
        )


def test_corpus_method_says_when_targets_do_not_fit_the_dictionary(
    write_jsonl: WriteJsonl, tmp_path: Path
) -> None:
    big = [{"id": f"t{i}", "text": f"def f{i}(x):\n    return x * {i}\n" * 700} for i in range(3)]
    targets = write_jsonl(big, "targets.jsonl")
    report = tmp_path / "run.json"
    args = (
        "-t",
        targets,
        "--method",
        "corpus",
        "-k",
        "3",
        "--limit",
        "50",
        "--report",
        report,
        "-o",
        os.devnull,
    )
    result = ok("select", SOURCE, *args)
    assert "zipfit: warning: the corpus method's dictionary holds 1 of the 3 targets" in result.stderr
    info = json.loads(report.read_text())
    assert info["settings"]["targets_used"] == 1 and "dictionary holds 1 of the 3" in info["warnings"][0]


def test_contaminated_records_say_which_target_and_what_matched(
    write_jsonl: WriteJsonl, source_lines: list[bytes], tmp_path: Path
) -> None:
    target = json.loads(TARGET.read_text().splitlines()[2])
    leak = {"id": "leak", "text": "Seen online:\n" + target["prompt"] + target["canonical_solution"]}
    source = write_jsonl([*map(json.loads, source_lines[:20]), leak])
    aside = tmp_path / "leaked.jsonl"
    ok("score", source, *FAST, "--contaminated-output", aside, "-o", os.devnull)
    (kept,) = records(aside.read_bytes())
    why = kept["_zipfit_contamination"]
    assert kept["id"] == "leak" and why["criterion"] == "ngram" and why["target"] == target["task_id"]
    words = " ".join(re.findall(r"[a-z0-9]+", leak["text"].lower()))  # decontam.words
    assert len(why["match"].split()) == 13 and why["match"] in words


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


@pytest.mark.slow
def test_limit_runs_show_no_eta_and_progress_says_scoring() -> None:
    env = {**os.environ, "ZIPFIT_PROGRESS_INTERVAL": "0"}
    args = [str(SOURCE), *map(str, FAST), "-k", "3", "--limit", "600", "--batch-size", "100"]
    done = subprocess.run(
        [sys.executable, "-m", "zipfit_cli", "select", *args], capture_output=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    progress = [line for line in done.stderr.decode().splitlines() if " records, " in line and "/s" in line]
    assert progress and all(" scoring " in line and "ETA" not in line for line in progress), progress


@pytest.mark.parametrize(
    "args",
    [
        ["score", "--max-line-bytes", "9223372036854775808"],
        ["score", "--max-text-bytes", str(10**30)],
        ["select", "-k", "99999999999999999999999"],
        ["select", "--budget-chars", str(2**64)],
        ["select", "--limit", str(2**63)],
        ["select", "--batch-size", str(2**63)],
        ["select", "-j", "99999999999999999999999"],
        ["select", "--contrast", "--seed", str(2**64)],
        ["select", "--shard", "0/99999999999999999999999"],
        ["score", "--engine", "dask", "--scheduler", "tcp://127.0.0.1:1", "--connect-timeout", "1e10"],
    ],
)
def test_numbers_past_an_options_bound_are_usage_errors(source_path: Path, args: list[str]) -> None:
    """Values that would overflow deep inside (C integers, timestamps, 64-bit JSON) are
    refused up front, in one line."""
    command, *options = args
    result = run(command, source_path, *FAST, *options, "-q")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("zipfit: error: ") and result.stderr.count("\n") == 1
    assert result.stdout == ""

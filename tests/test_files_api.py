"""`select_files` and `score_files`: the library call the `select` and `score` commands are
thin shells over, so a notebook reproduces a file run byte for byte."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from conftest import FAST, SOURCE, TARGET, ok

from zipfit_cli import (
    RunSettings,
    ScoringInputs,
    TextSpec,
    UsageError,
    ZipfitError,
    build_scorer,
    get_compressor,
    score_files,
    select_files,
)
from zipfit_cli.base.errors import Terminated


def settings(workers: int = 1) -> RunSettings:
    targets = [
        (row["prompt"] + row["canonical_solution"]).encode()
        for row in map(json.loads, TARGET.read_text().splitlines())
    ]
    scorer = build_scorer("pairwise", ScoringInputs(targets, get_compressor("lz4")))
    return RunSettings([str(SOURCE)], scorer, TextSpec.build("text"), workers=workers)


@pytest.mark.parametrize("workers", [1, 2])
def test_select_files_writes_the_bytes_the_command_writes(tmp_path: Path, workers: int) -> None:
    ok("select", SOURCE, *FAST, "-k", "25", "-o", tmp_path / "cli.jsonl")
    stats = select_files(settings(workers), str(tmp_path / "lib.jsonl"), top_k=25)
    assert (tmp_path / "lib.jsonl").read_bytes() == (tmp_path / "cli.jsonl").read_bytes()
    assert stats.selected == 25


def test_score_files_writes_the_bytes_the_command_writes(tmp_path: Path) -> None:
    ok("score", SOURCE, *FAST, "-o", tmp_path / "cli.jsonl.gz")
    score_files(settings(), str(tmp_path / "lib.jsonl.gz"))
    assert (tmp_path / "lib.jsonl.gz").read_bytes() == (tmp_path / "cli.jsonl.gz").read_bytes()


def test_select_files_writes_a_report_with_what_decided_the_run(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    select_files(
        settings(), str(tmp_path / "out.jsonl"), top_k=5, report=str(report), described={"note": "nb"}
    )
    written = json.loads(report.read_text())
    assert written["settings"]["note"] == "nb"
    assert written["stats"]["selected"] == 5


def test_an_existing_output_needs_force_and_an_input_is_never_one(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("keep me\n")
    with pytest.raises(ZipfitError):  # OutputExistsError: exit 4 on the command line
        select_files(settings(), str(out), top_k=5)
    assert out.read_text() == "keep me\n"
    select_files(settings(), str(out), top_k=5, force=True)
    assert len(out.read_text().splitlines()) == 5
    with pytest.raises(UsageError):
        select_files(settings(), str(TARGET), top_k=5, force=True, inputs=[str(TARGET)])


def test_a_run_stopped_midway_leaves_no_output(tmp_path: Path) -> None:
    class Stop:
        def update(self, records: int, bytes_done: int) -> None:
            raise Terminated(signal.SIGTERM)

    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    with pytest.raises(Terminated):
        score_files(settings(), str(out), report=str(report), progress=Stop())
    assert sorted(p.name for p in tmp_path.iterdir()) == []

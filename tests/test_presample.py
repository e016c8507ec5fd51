"""The starting threshold of --adaptive (presample.py): saves work; what it wrongly stopped is rescored."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import FAST, SOURCE, TARGETS, ok

from zipfit_cli.base.errors import InputError
from zipfit_cli.engines import presample
from zipfit_cli.engines.presample import WarmStart, rereadable
from zipfit_cli.files.batches import Batch, Slicing


def _stats(report: Path) -> dict[str, object]:
    stats: dict[str, object] = json.loads(report.read_text())["stats"]
    return stats


@pytest.mark.slow
def test_a_file_run_starts_from_a_sampled_threshold(tmp_path: Path) -> None:
    # gzip: with lz4 the sample data's records are seldom stopped, with a sample or without.
    args = [*TARGETS, "--compressor", "gzip", "--level", "1", "-j", "1", "-k", "10", "-q"]
    exhaustive = ok("select", SOURCE, *args).stdout_bytes
    from_file, from_stdin = tmp_path / "file.json", tmp_path / "stdin.json"
    assert ok("select", SOURCE, *args, "--adaptive", "--report", from_file).stdout_bytes == exhaustive
    piped = ok("select", "-", *args, "--adaptive", "--report", from_stdin, input=SOURCE.read_bytes())
    assert piped.stdout_bytes == exhaustive
    sampled, streamed = _stats(from_file), _stats(from_stdin)
    assert sampled["presampled"] == 4000 // presample.SHARE and isinstance(sampled["start_threshold"], float)
    assert sampled["rescored"] == 0
    # stdin cannot be read twice: no sample, and the first two blocks are scored in full.
    assert streamed["presampled"] == 0 and streamed["start_threshold"] is None
    assert sampled["pairs"] < streamed["pairs"]  # type: ignore[operator]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_threshold_that_proves_too_high_scores_what_it_stopped_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, workers: str
) -> None:
    # The sample's best score as the threshold: far above the 300th best of the input.
    monkeypatch.setattr(presample, "Q", 1e-9)
    monkeypatch.setattr(presample, "MIN_RANK", 1)
    args = [*FAST[:-1], workers, "-k", "300"]
    exhaustive = ok("select", SOURCE, *args, "-q").stdout_bytes
    report = tmp_path / "run.json"
    result = ok("select", SOURCE, *args, "--adaptive", "--report", report)
    assert result.stdout_bytes == exhaustive
    stats = _stats(report)
    assert stats["rescored"] > 0  # type: ignore[operator]
    assert stats["audit_misses"] == 0
    assert f" rescored={stats['rescored']} " in result.stderr  # the one-line summary of a log
    # Counts still add up: every record read was scored or stopped.
    assert stats["scored"] + stats["pruned_total"] == 4000  # type: ignore[operator]


def test_only_regular_files_are_read_twice(tmp_path: Path) -> None:
    plain = tmp_path / "a.jsonl"
    plain.write_bytes(b'{"text": "x"}\n')
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert rereadable([str(plain)])
    assert not rereadable([str(plain), "-"])
    assert not rereadable([str(plain), str(fifo)])  # reading a pipe twice would empty it
    assert not rereadable(["https://example.invalid/a.jsonl"])
    assert not rereadable([str(tmp_path / "missing.jsonl")])


def test_a_sampled_line_that_changed_is_scored_anew() -> None:
    warm = WarmStart(0.5, {1: (b"old", 0.9), 2: (b"same", 0.7)}, 2, [])
    batch = Batch("a.jsonl", first=0, lines=[b"x", b"new", b"same"])
    threshold, known = warm.payload(batch, lagging=0.2)
    assert threshold == 0.5 and known == {2: 0.7}
    assert warm.payload(Batch("a.jsonl", first=0, lines=[b"x"]), lagging=0.6)[0] == 0.6


def test_only_records_stopped_by_the_sampled_threshold_are_remembered() -> None:
    warm = WarmStart(0.5, {}, 0, [])
    warm.payload(Batch("a.jsonl", first=0, lines=[b"x"]), lagging=0.1)  # block 0: the sample's
    warm.payload(Batch("a.jsonl", first=2048, lines=[b"x"]), lagging=0.9)  # block 2: its own
    for position in (0, 7, 1000, 2048, 2050):
        warm.note(position)
    assert [p for p in range(3000) if warm.stopped_at(p)] == [0, 7, 1000]


def test_a_source_that_changed_before_the_second_reading_stops_the_run(tmp_path: Path) -> None:
    source = tmp_path / "a.jsonl"
    source.write_bytes(b'{"text": "x"}\n')
    warm = WarmStart(0.5, {}, 0, [(0, 0)])  # not the file's size and time any more
    found = presample.rescore(warm, [str(source)], Slicing(), None, None, 0.0, None)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="a source changed during the run"):
        next(found)

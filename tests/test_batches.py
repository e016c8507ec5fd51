"""batches.read_batches: batches cut by record count, by bytes, at block edges, and when a pipe goes quiet."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from zipfit_cli.base.stats import RunStats
from zipfit_cli.files.batches import Slicing, read_batches


def _cut(path: Path, slicing: Slicing) -> list[list[bytes]]:
    return [batch.lines for batch in read_batches([str(path)], slicing, RunStats())]


def test_batches_are_cut_by_bytes_and_a_larger_record_is_a_batch_of_its_own(tmp_path: Path) -> None:
    sizes = [20, 20, 20, 60, 20, 20, 20, 20]
    lines = [b'{"text": "' + b"x" * (n - 13) + b'"}\n' for n in sizes]
    assert [len(line) for line in lines] == sizes
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"".join(lines))
    batches = _cut(path, Slicing(size=256, max_bytes=45))
    assert [[len(line) for line in batch] for batch in batches] == [[20, 20], [20], [60], [20, 20], [20, 20]]
    assert [line for batch in batches for line in batch] == lines  # nothing lost, order kept
    # The count cap and block edges still cut as before.
    assert [len(b) for b in _cut(path, Slicing(size=3, max_bytes=1000))] == [3, 3, 2]
    assert [len(b) for b in _cut(path, Slicing(size=256, max_bytes=45, block=3))] == [2, 1, 1, 2, 2]


def test_api_batches_are_cut_by_bytes_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from zipfit_cli.runs import api

    monkeypatch.setattr(api, "BATCH_BYTES", 25)
    texts = [b"a" * 10, b"b" * 10, b"c" * 10, b"d" * 50, b"e" * 10]
    assert [batch for _, batch in api._batched(texts, 256)] == [texts[:2], texts[2:3], texts[3:4], texts[4:]]
    assert [len(batch) for _, batch in api._batched([b"x"] * 5, 2)] == [2, 2, 1]


def _fifo_writer(fifo: Path, parts: list[bytes], resume: threading.Event) -> threading.Thread:
    """A thread writing `parts[0]` into `fifo`, then the rest once `resume` is set."""

    def write() -> None:
        with open(fifo, "wb", buffering=0) as pipe:
            pipe.write(parts[0])
            assert resume.wait(30)
            for part in parts[1:]:
                pipe.write(part)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_a_quiet_pipe_sends_its_part_filled_batch_on_then_a_pause(tmp_path: Path) -> None:
    lines = [b'{"text": "%d"}\n' % n for n in range(5)]
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    resume = threading.Event()
    writer = _fifo_writer(fifo, [b"".join(lines[:3]), b"\n" + b"".join(lines[3:])], resume)
    stats = RunStats()
    batches = read_batches([str(fifo)], Slicing(size=256, quiet=0.05), stats)
    part = next(batches)
    assert part.lines == lines[:3]  # not kept back for the 253 records a full batch would need
    pause = next(batches)
    assert pause.lines == [] and pause.first == 3
    resume.set()
    rest = list(batches)
    writer.join(30)
    got = [batch.lines for batch in rest if batch.lines]
    assert got == [lines[3:]]
    assert [b.line_nos for b in (part, *rest) if b.lines] == [[1, 2, 3], [5, 6]]
    assert [b.indexes for b in (part, *rest) if b.lines] == [[0, 1, 2], [3, 4]]
    assert stats.records_read == 5 and stats.blank_lines == 1


def test_a_regular_file_is_cut_as_before_whatever_the_quiet(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"".join(b'{"text": "%d"}\n' % n for n in range(10)))
    assert _cut(path, Slicing(size=4, quiet=0.0001)) == _cut(path, Slicing(size=4))
    assert [len(b) for b in _cut(path, Slicing(size=4, quiet=0.0001))] == [4, 4, 2]


def test_a_pipe_with_no_pause_is_cut_like_a_file(tmp_path: Path) -> None:
    """Cuts by count, bytes and limit hold on a pipe too; only a quiet input adds cuts."""
    lines = [b'{"text": "%d"}\n' % n for n in range(10)]
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    resume = threading.Event()
    resume.set()
    writer = _fifo_writer(fifo, [b"".join(lines)], resume)
    batches = [b.lines for b in read_batches([str(fifo)], Slicing(size=4, quiet=30, limit=9), RunStats())]
    writer.join(30)
    assert batches == [lines[:4], lines[4:8], lines[8:9]]

"""batches.read_batches: batches cut by record count, by bytes, and at block edges."""

from __future__ import annotations

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

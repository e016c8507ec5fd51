"""Reading input bytes (reading.py): stdin piped or compressed, and the line-length cap in every reader."""

from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST, ok, records, run

from zipfit_cli.reading import LongLine, capped_lines


class _Endless(io.RawIOBase):
    """`prefix`, then `fill` bytes for ever (or `length` of them), then `suffix`."""

    def __init__(self, fill: bytes, length: int | None = None, suffix: bytes = b"") -> None:
        self.fill, self.left, self.suffix = fill, length, suffix

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = len(buffer) if self.left is None else min(len(buffer), self.left)
        if n == 0:
            data, self.suffix = self.suffix[: len(buffer)], self.suffix[len(buffer) :]
            buffer[: len(data)] = data
            return len(data)
        buffer[:n] = self.fill * n
        if self.left is not None:
            self.left -= n
        return n


def test_capped_lines_never_hold_more_than_the_cap() -> None:
    stream = io.BufferedReader(_Endless(b"x", 5_000_000, b'\n{"text": "ok"}\n'))
    asked: list[int] = []
    readline = stream.readline
    stream.readline = lambda size=-1: asked.append(size) or readline(size)  # type: ignore[method-assign]
    lines = list(capped_lines(stream, 1000))
    assert isinstance(lines[0], LongLine) and lines[0].size == 5_000_001
    assert lines[1:] == [b'{"text": "ok"}\n']
    assert all(0 < size <= 1 << 20 for size in asked)
    assert pickle.loads(pickle.dumps(lines[0])).size == 5_000_001  # crosses to workers intact


def test_line_at_the_cap_is_a_line() -> None:
    stream = io.BytesIO(b"a" * 10 + b"\n" + b"b" * 11 + b"\n" + b"c" * 11)
    lines = list(capped_lines(stream, 10))
    assert lines[0] == b"a" * 10 + b"\n"
    assert isinstance(lines[1], LongLine) and lines[1].size == 12
    assert isinstance(lines[2], LongLine) and lines[2].size == 11


def test_too_long_line_names_file_and_line_or_is_skipped(write_jsonl: Any, source_lines: list[bytes]) -> None:
    long_line = b'{"text": "' + b"x" * 100_000 + b'"}'
    source = write_jsonl([source_lines[0], long_line, source_lines[1]])
    result = run("score", source, *FAST, "--max-line-bytes", "50000")
    assert result.exit_code == 3, result.output
    assert f"{source}:2: line is over the line-length limit of 50,000 (not read further)" in result.stderr
    result = run("score", source, *FAST, "--max-line-bytes", "50000", "--skip-invalid", "-j", "2")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 2
    assert "too_long 1" in result.stderr


def test_too_long_line_in_a_gzip_bomb(tmp_path: Path, source_lines: list[bytes]) -> None:
    source = tmp_path / "bomb.jsonl.gz"
    with gzip.open(source, "wb") as f:
        f.write(source_lines[0])
        for _ in range(64):  # one 64 MB line, 64 kB on disk
            f.write(b"\x00" * (1 << 20))
        f.write(b"\n" + source_lines[1])
    args = ["select", str(source), *FAST, "--max-line-bytes", "1000000", "--skip-invalid"]
    result = run(*args, "--max-text-bytes", "100000")
    assert result.exit_code == 0, result.output
    assert "too_long 1" in result.stderr and len(result.stdout.splitlines()) == 2


def test_a_long_csv_field_is_a_skippable_too_long_record(tmp_path: Path) -> None:
    table = tmp_path / "posts.csv"
    table.write_text("id,text\n1,def f(x): return x\n2," + "y" * 200_000 + "\n3,def g(y): return y\n")
    refused = run("score", table, *FAST, "--max-line-bytes", "1000")
    assert refused.exit_code == 3 and ":3:" in refused.stderr and "line-length limit" in refused.stderr
    kept = records(ok("score", table, *FAST, "--max-line-bytes", "1000", "--skip-invalid", "-q").stdout)
    assert [r["id"] for r in kept] == ["1", "3"]


def test_dask_partition_reader_applies_the_cap(tmp_path: Path, source_lines: list[bytes]) -> None:
    pytest.importorskip("fsspec")
    from zipfit_cli.dask_engine import Partition, score_partition
    from zipfit_cli.records import TextSpec
    from zipfit_cli.runner import ScoreJob
    from zipfit_cli.scoring import TargetSet

    source = tmp_path / "long.jsonl"
    source.write_bytes(source_lines[0] + b'{"text": "' + b"y" * 5000 + b'"}\n' + source_lines[1])
    job = ScoreJob(TargetSet.from_texts(["def f(): pass"], "lz4"), TextSpec.build(max_line_bytes=4000))
    part = Partition(str(source), str(source))
    result = score_partition(job, part, batch_size=8, keep=None, cap=None, skip_invalid=True)
    reasons = [row[3] for row in result.rows]
    assert isinstance(reasons[0], float) and isinstance(reasons[2], float)
    assert reasons[1][0] == "too_long"
    assert result.rows[2][2] == source.stat().st_size  # byte offsets count the whole long line

"""Reading input bytes (reading.py): stdin piped, compressed or fed slowly (feeder.py), and the
line-length cap in every reader."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import zstandard
from conftest import (
    FAST,
    TARGET,
    TARGETS,
    TEMPLATE,
    ZIPFIT,
    assert_jsonl,
    colour_env,
    ok,
    records,
    run,
    zipfit,
)

from zipfit_cli.files.reading import LongLine, capped_lines


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
    assert "skipped_too_long=1 " in result.stderr


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
    assert "skipped_too_long=1 " in result.stderr and len(result.stdout.splitlines()) == 2


def test_a_long_csv_field_is_a_skippable_too_long_record(tmp_path: Path) -> None:
    table = tmp_path / "posts.csv"
    table.write_text("id,text\n1,def f(x): return x\n2," + "y" * 200_000 + "\n3,def g(y): return y\n")
    refused = run("score", table, *FAST, "--max-line-bytes", "1000")
    assert refused.exit_code == 3 and ":3:" in refused.stderr and "line-length limit" in refused.stderr
    kept = records(ok("score", table, *FAST, "--max-line-bytes", "1000", "--skip-invalid", "-q").stdout)
    assert [r["id"] for r in kept] == ["1", "3"]


def test_dask_partition_reader_applies_the_cap(tmp_path: Path, source_lines: list[bytes]) -> None:
    pytest.importorskip("fsspec")
    from zipfit_cli.engines.dask_worker import Partition, score_partition
    from zipfit_cli.engines.runner import ScoreJob
    from zipfit_cli.files.records import TextSpec
    from zipfit_cli.scoring.pairwise import TargetSet

    source = tmp_path / "long.jsonl"
    source.write_bytes(source_lines[0] + b'{"text": "' + b"y" * 5000 + b'"}\n' + source_lines[1])
    job = ScoreJob(TargetSet.from_texts(["def f(): pass"], "lz4"), TextSpec.build(max_line_bytes=4000))
    part = Partition(str(source), str(source))
    result = score_partition(job, part, batch_size=8, keep=None, cap=None, skip_invalid=True)
    reasons = [row[3] for row in result.rows]
    assert isinstance(reasons[0], float) and isinstance(reasons[2], float)
    assert reasons[1][0] == "too_long"
    assert result.rows[2][2] == source.stat().st_size  # byte offsets count the whole long line


@pytest.mark.slow
def test_cat_into_select_with_two_workers(slice_path: Path) -> None:
    args = ["select", *TARGETS, "-k", "15", "-j", "2", "--level", "6"]
    with subprocess.Popen(["cat", str(slice_path)], stdout=subprocess.PIPE) as cat:
        assert cat.stdout is not None
        piped = subprocess.run(
            [*ZIPFIT, args[0], "-", *args[1:]],
            stdin=cat.stdout,
            capture_output=True,
            timeout=60,
            env=colour_env(),
        )
        cat.stdout.close()
        assert cat.wait(timeout=10) == 0
    assert piped.returncode == 0, piped.stderr.decode()
    direct = zipfit(args[0], str(slice_path), *args[1:])
    assert direct.returncode == 0, direct.stderr.decode()
    assert piped.stdout == direct.stdout
    out = assert_jsonl(piped.stdout)
    assert len(out) == 15
    assert b"selected=15 " in piped.stderr


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_compressed_stdin_recognised(slice_path: Path, kind: str) -> None:
    data = slice_path.read_bytes()
    packed = gzip.compress(data) if kind == "gz" else zstandard.ZstdCompressor().compress(data)
    args = [*TARGETS, "--compressor", "lz4", "-j", "1", "-q"]
    plain = zipfit("score", "-", *args, stdin=data)
    from_packed = zipfit("score", "-", *args, stdin=packed)
    assert plain.returncode == 0, plain.stderr.decode()
    assert from_packed.returncode == 0, from_packed.stderr.decode()
    assert from_packed.stdout == plain.stdout
    assert len(assert_jsonl(plain.stdout)) == 200


@pytest.mark.slow
def test_compressed_stdin_arriving_in_pieces(slice_path: Path) -> None:
    """The magic bytes may come in separate writes: zipfit waits for all of them."""
    data = gzip.compress(slice_path.read_bytes())
    proc = subprocess.Popen(
        [sys.executable, "-m", "zipfit_cli", "score", "-", "-t", str(TARGET), "--target-template", TEMPLATE,
         "--compressor", "lz4", "-q"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None
    proc.stdin.write(data[:1])
    proc.stdin.flush()
    import time

    time.sleep(0.3)
    out, err = proc.communicate(data[1:], timeout=120)
    assert proc.returncode == 0, err.decode()
    assert len(out.splitlines()) == 200


PAUSED = 60  # seconds a slow writer stays paused at most: only a stalled stream waits that long


def _fed_slowly(args: list[str], first: bytes, rest: bytes, wait_for_output: bool) -> tuple[bytes, bytes]:
    """`zipfit ARGS` fed `first`, then, after a pause, `rest`. wait_for_output: the pause
    lasts until a whole output line arrives (or PAUSED seconds); the test fails if none came
    while the writer was paused. Else it lasts 1 s, long enough to count as quiet."""
    proc = subprocess.Popen(
        [*ZIPFIT, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    early = b""
    try:
        proc.stdin.write(first)
        proc.stdin.flush()
        if wait_for_output:
            deadline = time.monotonic() + PAUSED
            while b"\n" not in early and time.monotonic() < deadline:
                ready, _, _ = select.select([proc.stdout], [], [], 1)
                if ready:
                    chunk = os.read(proc.stdout.fileno(), 1 << 20)
                    assert chunk, "zipfit ended while its input was still open"
                    early += chunk
            assert b"\n" in early, "no output line while the input was paused"
        else:
            time.sleep(1)
        out, err = proc.communicate(rest, timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err.decode()
    return early + out, err


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_slowly_fed_stdin_streams_its_scores(slice_path: Path, workers: str) -> None:
    """`tail -f log.jsonl | zipfit score -`: records that came before a pause are scored and
    written while the input is quiet, not when 256 records have gathered (issue 19.7); the
    output is byte for byte that of the same records read from a file."""
    data = slice_path.read_bytes()
    cut = data.index(b"\n", len(data) // 3) + 1  # a part-filled batch: fewer than 256 records
    args = [*FAST[:-2], "-j", workers, "-q"]
    streamed, err = _fed_slowly(["score", "-", *args], data[:cut], data[cut:], wait_for_output=True)
    direct = zipfit("score", str(slice_path), *args)
    assert direct.returncode == 0, direct.stderr.decode()
    assert streamed == direct.stdout
    assert len(assert_jsonl(streamed)) == 200
    assert err == b""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("workers", "extra"),
    [("1", ["-k", "20"]), ("2", ["-k", "20", "--adaptive"]), ("2", ["--fraction", "0.3", "--dedupe"])],
)
def test_select_on_a_slowly_fed_stdin_gives_the_bytes_of_a_file_run(
    slice_path: Path, workers: str, extra: list[str]
) -> None:
    """A pause cuts a batch short; which records are selected must not change."""
    data = slice_path.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1
    args = [*FAST[:-2], "-j", workers, "-q", *extra]
    fed, _ = _fed_slowly(["select", "-", *args], data[:cut], data[cut:], wait_for_output=False)
    direct = zipfit("select", str(slice_path), *args)
    assert direct.returncode == 0, direct.stderr.decode()
    assert fed == direct.stdout and fed


@pytest.mark.slow
def test_a_read_error_on_a_piped_stdin_is_the_file_runs_error(slice_path: Path, tmp_path: Path) -> None:
    """A pipe is read by the feeding thread: an error there must still end the run with its
    one line, naming the line, and the code of bad input, as reading the file does."""
    blob = gzip.compress(slice_path.read_bytes())
    path = tmp_path / "trunc.jsonl.gz"
    path.write_bytes(blob[: len(blob) // 2])
    args = [*FAST, "-q"]
    piped = zipfit("score", "-", *args, stdin=path.read_bytes())
    direct = zipfit("score", str(path), *args)
    assert piped.returncode == direct.returncode == 3, piped.stderr.decode()
    assert piped.stderr.count(b"\n") == 1 and b"Traceback" not in piped.stderr
    assert piped.stderr.replace(b"-:", b"") == direct.stderr.replace(str(path).encode() + b":", b"")
    assert piped.stdout == direct.stdout  # the records before the damage, as from the file

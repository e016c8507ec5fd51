"""Issue 11, round two of "hard to break": outputs, temporary files and processes, endless
input, closed standard streams, empty inputs, and the Python API's worker processes.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST, TARGET, TEMPLATE, alive, busy_corpus, descendants, run

from zipfit_cli import TargetSet, score_texts
from zipfit_cli.base.errors import OutputExistsError, ZipfitError
from zipfit_cli.files.output import Output
from zipfit_cli.files.reading import LongLine, capped_lines
from zipfit_cli.selection.ranking import Spool

ZIPFIT = [sys.executable, "-m", "zipfit_cli"]


def _select(source: Path | str, *extra: str | Path) -> Any:
    return run("select", source, *FAST, *extra)


def _zipfit(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    if "stdout" not in kwargs:
        kwargs.setdefault("capture_output", True)
    return subprocess.run([*ZIPFIT, *args], timeout=120, **kwargs)


# --- 1. special outputs are decided by stat, not by a /dev/ prefix -------------------------


@pytest.fixture
def shm_path() -> Iterator[Path]:
    if not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        pytest.skip("no writable /dev/shm")
    path = Path(f"/dev/shm/zipfit-test-{uuid.uuid4().hex}.jsonl")
    yield path
    for leftover in Path("/dev/shm").glob(f"*{path.name}*"):
        leftover.unlink()


def test_dev_shm_file_is_an_ordinary_output(slice_path: Path, shm_path: Path) -> None:
    shm_path.write_text("old\n")
    result = _select(slice_path, "-k", "3", "-o", str(shm_path))
    assert result.exit_code == 4, result.output
    assert shm_path.read_text() == "old\n"
    assert _select(slice_path, "-k", "3", "-o", str(shm_path), "--force").exit_code == 0
    assert len(shm_path.read_text().splitlines()) == 3


def test_failed_run_leaves_no_partial_dev_shm_file(slice_path: Path, shm_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(slice_path.read_bytes() + b"{broken\n")
    assert run("score", bad, *FAST, "-o", shm_path).exit_code == 3
    assert not shm_path.exists()
    assert not list(Path("/dev/shm").glob(f".{shm_path.name}.*"))


@pytest.mark.parametrize("name", ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"])
def test_descriptor_names_write_through_stdout(slice_path: Path, tmp_path: Path, name: str) -> None:
    args = ["select", str(slice_path), *FAST, "-k", "2", "-q", "-o", name]
    # a pipe
    assert len(_zipfit(*args).stdout.splitlines()) == 2
    # `>> file`: appended after what the file holds, as the shell asked
    target = tmp_path / "appended.jsonl"
    target.write_text('{"already": "here"}\n')
    with open(target, "ab") as stdout:
        done = _zipfit(*args, stdout=stdout, stderr=subprocess.PIPE)
    assert done.returncode == 0, done.stderr
    assert target.read_text().splitlines()[0] == '{"already": "here"}'
    assert len(target.read_text().splitlines()) == 3
    # /dev/null
    with open(os.devnull, "wb") as stdout:
        assert _zipfit(*args, stdout=stdout, stderr=subprocess.PIPE).returncode == 0


def test_fifo_is_written_in_place(slice_path: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    proc = subprocess.Popen([*ZIPFIT, "select", str(slice_path), *FAST, "-k", "2", "-q", "-o", str(fifo)])
    with open(fifo, "rb") as reader:
        data = reader.read()
    assert proc.wait(timeout=60) == 0
    assert len(data.splitlines()) == 2


# --- 2. two runs publishing one path: the second fails, nothing clobbered -----------------


def test_publish_does_not_clobber_a_file_that_appeared(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    sink = Output(str(out), replace=False)
    with pytest.raises(OutputExistsError, match="appeared while zipfit ran"), sink:
        sink.write(b'{"mine": 1}\n')
        out.write_text("the other run's\n")  # another run finished first
    assert out.read_text() == "the other run's\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def _finishing_with(monkeypatch: pytest.MonkeyPatch, path: Path, action: Any) -> None:
    """Do `action()` when the output `path` finishes writing: something changes mid-run."""
    finish = Output.finish

    def finish_then_act(self: Output) -> None:
        finish(self)
        if self.path == str(path):
            action()

    monkeypatch.setattr(Output, "finish", finish_then_act)


def test_concurrent_run_exits_4_and_leaves_the_winner(
    slice_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.jsonl"
    _finishing_with(monkeypatch, out, lambda: out.write_text("winner\n"))
    result = _select(slice_path, "-k", "3", "-o", str(out))
    assert result.exit_code == 4, result.output
    assert "appeared while zipfit ran" in result.stderr
    assert out.read_text() == "winner\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


# --- 3. publishing several outputs is all or nothing ---------------------------------------


def test_report_that_cannot_be_published_takes_the_output_back(
    slice_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    _finishing_with(monkeypatch, report, report.mkdir)  # the report's name became a directory
    # --force: without it the name that appeared is refused as another run's (exit 4).
    result = _select(slice_path, "-k", "3", "-o", str(out), "--report", str(report), "--force")
    assert result.exit_code == 1, result.output
    assert "rolled back" in result.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_rollback_with_force_puts_the_old_output_back(
    slice_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    out.write_text("previous result\n")
    _finishing_with(monkeypatch, report, report.mkdir)
    result = _select(slice_path, "-k", "3", "-o", str(out), "--report", str(report), "--force")
    assert result.exit_code == 1, result.output
    assert out.read_text() == "previous result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "report.json"]


def test_successful_force_run_leaves_no_backup(slice_path: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    out.write_text("previous result\n")
    report.write_text("{}\n")
    assert _select(slice_path, "-k", "3", "-o", str(out), "--report", str(report), "--force").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "report.json"]
    assert len(out.read_text().splitlines()) == 3


# --- 4, 5, 6: outputs and keys refused up front -------------------------------------------


def test_output_with_trailing_slash_for_a_missing_directory_is_refused(
    slice_path: Path, tmp_path: Path
) -> None:
    result = _select(slice_path, "-k", "3", "-o", f"{tmp_path / 'newdir'}/")
    assert result.exit_code == 2, result.output
    assert "ends with '/'" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["/dev/stdout", "/proc/self/fd/1"])
def test_report_on_stdout_while_records_go_there_is_refused(slice_path: Path, name: str) -> None:
    done = _zipfit("select", str(slice_path), *FAST, "-k", "2", "--report", name)
    assert done.returncode == 2, done.stderr
    assert b"same file or stream" in done.stderr
    assert done.stdout == b""


def test_report_on_the_file_stdout_goes_to_is_refused(slice_path: Path, tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    with open(log, "wb") as stdout:
        done = _zipfit("select", str(slice_path), *FAST, "-k", "2", "--report", str(log), stdout=stdout)
    assert done.returncode == 2, done.stderr
    assert log.read_bytes() == b""


def test_score_key_naming_the_object_that_holds_the_text_is_refused(write_jsonl: Any) -> None:
    source = write_jsonl([{"meta": {"content": "def f(x): return x"}}])
    result = run("score", source, *FAST, "--text-key", "meta.content", "--score-key", "meta")
    assert result.exit_code == 2, result.output
    assert "--score-key 'meta'" in result.stderr


# --- 7. the spool leaves nothing behind, and a full disk names it ----------------------------


def test_spool_file_is_unlinked_at_once(tmp_path: Path) -> None:
    with Spool(str(tmp_path)) as spool:
        assert list(tmp_path.iterdir()) == []
        spool.add(0.5, 0, b'{"a": 1}\n')
        spool.add(0.7, 1, b'{"a": 2}\n')
        assert [line for _, _, line in spool.ranked()] == [b'{"a": 2}\n', b'{"a": 1}\n']


def test_full_spool_disk_is_one_error_naming_the_path(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path))
    with open("/dev/full", "wb") as full:
        os.dup2(full.fileno(), spool._file.fileno())  # the spool's disk is now full
    spool.add(0.5, 0, b'{"a": 1}\n')
    with pytest.raises(ZipfitError, match=f"cannot write the temporary file {tmp_path}/.zipfit-spool-"):
        list(spool.ranked())
    spool.close()
    assert list(tmp_path.iterdir()) == []


# --- 8, 9, 10: processes and temporary files around the worker pool -------------------------


def _pooled_run(tmp_path: Path, tmpdir: Path) -> tuple[subprocess.Popen[bytes], Path, set[int]]:
    """A --fraction run (so a spool exists) with two workers, once its workers are busy."""
    source = busy_corpus(tmp_path / "big.jsonl")
    out = tmp_path / "out.jsonl"
    cmd = [*ZIPFIT, "select", str(source), "-t", str(TARGET), "--target-template", TEMPLATE,
           "--fraction", "0.1", "-o", str(out), "-j", "2"]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(tmpdir)},
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        tree = descendants(proc.pid)
        if len(tree) >= 3:  # resource tracker, two workers (and the forkserver, if used)
            time.sleep(1.0)
            return proc, out, descendants(proc.pid)
        time.sleep(0.1)
    raise AssertionError("workers never started")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Whatever a failed test left of the run's session (it has one of its own)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _gone(pids: set[int], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(alive(p) for p in pids)


@pytest.mark.slow
def test_sigkill_of_the_main_process_leaves_no_process_and_no_spool(tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    proc, out, tree = _pooled_run(tmp_path, tmpdir)
    assert len(tree) >= 3
    proc.kill()
    proc.communicate(timeout=60)
    try:
        assert _gone(tree), "forkserver, resource tracker or workers still running"
    finally:
        _kill_group(proc)
    assert list(tmpdir.iterdir()) == []  # no spool, no pymp-* directory
    assert not out.exists()
    # Only the output's temporary file can stay (documented): SIGKILL runs no cleanup.
    assert {p.name for p in tmp_path.iterdir()} - {"big.jsonl", "tmpdir"} <= {
        p.name for p in tmp_path.glob(".out.jsonl.*.zipfit-tmp")
    }


@pytest.mark.slow
def test_pooled_run_with_a_very_long_tmpdir(slice_path: Path, tmp_path: Path) -> None:
    tmpdir = tmp_path / ("t" * 150)
    tmpdir = tmpdir / ("u" * max(1, 150 - len(str(tmpdir)) - 1)) if len(str(tmpdir)) < 150 else tmpdir
    tmpdir.mkdir(parents=True)
    assert len(str(tmpdir)) >= 150
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    args = ["select", str(slice_path), *FAST[:-2], "-j", "2", "--fraction", "0.1", "-q"]
    done = _zipfit(*args, env=env)
    assert done.returncode == 0, done.stderr.decode()
    assert len(done.stdout.splitlines()) == 20
    assert list(tmpdir.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(3))
def test_signal_storm_stops_cleanly(tmp_path: Path, attempt: int) -> None:
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    proc, out, tree = _pooled_run(tmp_path, tmpdir)
    storm = [signal.SIGTERM, signal.SIGINT, signal.SIGTERM, signal.SIGINT, signal.SIGTERM, signal.SIGTERM]
    try:
        for sig in storm[: 3 + attempt]:
            os.kill(proc.pid, sig)
            time.sleep(0.003)
        _, err = proc.communicate(timeout=60)
    except BaseException:
        _kill_group(proc)
        raise
    text = err.decode()
    # Python runs pending handlers in signal-number order: SIGINT may be handled first.
    assert proc.returncode in (130, 143), text
    assert "Exception ignored" not in text and "Traceback" not in text, text
    assert text.count("zipfit: error:") == 1, text
    assert _gone(tree)
    assert list(tmpdir.iterdir()) == []
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.jsonl", "tmpdir"]


# --- 12. closed standard streams ----------------------------------------------------------------


def _with_closed(fd: int, *args: str) -> subprocess.CompletedProcess[bytes]:
    """zipfit run with descriptor `fd` closed, as `<&-`, `>&-` or `2>&-` would leave it."""
    streams: dict[str, Any] = {
        "stdin": subprocess.DEVNULL,
        "stdout": subprocess.PIPE,
        "stderr": subprocess.PIPE,
    }
    streams[("stdin", "stdout", "stderr")[fd]] = None
    return subprocess.run(
        [*ZIPFIT, *args], **streams, timeout=60, preexec_fn=lambda: os.close(fd), check=False
    )


def test_closed_stdout_is_one_error_line(slice_path: Path, tmp_path: Path) -> None:
    done = _with_closed(1, "select", str(slice_path), *FAST, "-k", "2", "-q")
    assert done.returncode == 1
    assert done.stderr == b"zipfit: error: stdout is closed; give the output file with -o PATH\n"
    out = tmp_path / "out.jsonl"  # with -o, stdout is not needed
    done = _with_closed(1, "select", str(slice_path), *FAST, "-k", "2", "-q", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert len(out.read_text().splitlines()) == 2


def test_closed_stdin_is_one_error_line(slice_path: Path) -> None:
    done = _with_closed(0, "select", "-", *FAST, "-k", "2", "-q")
    assert done.returncode == 3
    assert done.stderr == b"zipfit: error: stdin is closed; give the input as a file\n"
    assert done.stdout == b""


def test_closed_stderr_leaves_the_exit_code_and_clean_stdout(slice_path: Path, tmp_path: Path) -> None:
    done = _with_closed(2, "select", str(tmp_path / "missing.jsonl"), *FAST, "-k", "2")
    assert done.returncode == 3
    assert done.stdout == b""  # the error did not land among the records
    done = _with_closed(2, "select", str(slice_path), *FAST, "-k", "2")
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 2


# --- 11. lines have a length cap, found without holding the line ------------------------------


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
def test_dev_zero_runs_in_bounded_memory_and_stops_on_sigterm() -> None:
    # --skip-invalid: a line with no end is read (and skipped) until its end, so forever.
    args = ["score", "/dev/zero", *FAST, "--limit", "5", "--max-line-bytes", "1000000", "--skip-invalid"]
    proc = subprocess.Popen(
        [*ZIPFIT, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(3)
        assert proc.poll() is None
        rss_kb = int(next(line for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                          if line.startswith("VmRSS:")).split()[1])  # fmt: skip
        assert rss_kb < 300_000
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 143, err.decode()


# --- 13. an empty source is said, on stderr and in the report ---------------------------------


def test_empty_source_is_a_warning_and_in_the_report(slice_path: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"\n  \n")
    report = tmp_path / "report.json"
    result = _select(empty, slice_path, "-k", "2", "--report", str(report))
    assert result.exit_code == 0, result.output
    assert f"zipfit: warning: {empty} holds no records\n" in result.stderr
    assert len(result.stdout.splitlines()) == 2
    assert json.loads(report.read_text())["warnings"] == [f"{empty} holds no records"]
    quiet = _select(empty, "-k", "2", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_a_source_with_records_gives_no_warning(slice_path: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = _select(slice_path, "-k", "2", "--report", str(report))
    assert "warning" not in result.stderr
    assert json.loads(report.read_text())["warnings"] == []


# --- 18. the Python API in a plain script ----------------------------------------------------------

_SCRIPT = """
from zipfit_cli import TargetSet, score_texts

targets = ["def add(a, b):\\n    return a + b\\n", "def mul(a, b):\\n    return a * b\\n"]
{body}
"""
_BODY = 'print(len(list(score_texts(["def sub(a, b):\\n    return a - b\\n"] * 40, targets, workers=2))))'


@pytest.mark.slow
def test_script_without_main_guard_gets_an_error_naming_it(tmp_path: Path) -> None:
    script = tmp_path / "plain.py"
    script.write_text(_SCRIPT.format(body=_BODY))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=120, cwd=tmp_path)
    assert done.returncode != 0
    err = done.stderr.decode()
    assert "re-ran this script's top level" in err and 'if __name__ == "__main__":' in err, err
    assert "out of memory" not in err


@pytest.mark.slow
def test_script_with_main_guard_runs(tmp_path: Path) -> None:
    script = tmp_path / "guarded.py"
    script.write_text(_SCRIPT.format(body='if __name__ == "__main__":\n    ' + _BODY))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b"40\n"


def test_alignment_and_score_texts_take_str_and_bytes() -> None:
    targets = ["def add(a, b):\n    return a + b\n", "def mul(a, b):\n    return a * b\n"]
    text = "def sub(a, b):\n    return a - b  # é\n"
    ts = TargetSet.from_texts(targets)
    assert ts.alignment(text) == ts.alignment(text.encode())
    from_str, from_bytes = (list(score_texts([t], ts)) for t in (text, text.encode()))
    assert from_str == from_bytes == [ts.alignment(text)]

"""Outputs (output.py, destinations.py, output_checks.py): all or nothing, never an input, refused early."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    FAST,
    TARGET,
    TEMPLATE,
    ZIPFIT,
    alive,
    busy_corpus,
    descendants,
    records,
    run,
    run_process,
    select_fast,
)
from typer.testing import CliRunner

from zipfit_cli.base.errors import OutputExistsError
from zipfit_cli.cli.app import app
from zipfit_cli.files import output as output_module
from zipfit_cli.files.output import Output, OutputError

runner = CliRunner()


def _select(source: Path, out: Path, *extra: str) -> Any:
    args = ["select", str(source), "-t", str(TARGET), "--target-template", TEMPLATE, "-o", str(out)]
    return runner.invoke(app, [*args, "--compressor", "lz4", "-j", "1", *extra])


class _FullDisk(io.RawIOBase):
    """A file that takes `room` bytes, then fails like a full disk."""

    def __init__(self, fd: int, room: int) -> None:
        self.fd, self.room = fd, room

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return os.write(self.fd, bytes(data))

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
        super().close()


@pytest.mark.parametrize("room", [0, 5000])
def test_disk_full_fails_cleanly(
    slice_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, room: int
) -> None:
    def fake_fdopen(fd: int, mode: str, buffering: int = -1) -> io.BufferedWriter:
        return io.BufferedWriter(_FullDisk(fd, room), buffer_size=1024)

    monkeypatch.setattr(output_module.os, "fdopen", fake_fdopen)
    out = tmp_path / "out" / "selected.jsonl"
    out.parent.mkdir()
    result = _select(slice_path, out)
    assert result.exit_code == 1, result.output
    assert "No space left on device" in result.stderr
    assert list(out.parent.iterdir()) == []


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB file system (needs root; skipped elsewhere)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_real_full_disk_leaves_nothing(slice_path: Path, tiny_tmpfs: Path) -> None:
    out = tiny_tmpfs / "selected.jsonl"  # 200 records with text: far more than 64 KiB
    done = subprocess.run(
        [sys.executable, "-m", "zipfit_cli", "score", str(slice_path), "-t", str(TARGET),
         "--target-template", TEMPLATE, "-o", str(out), "--compressor", "lz4"],
        capture_output=True,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr.decode()
    err = done.stderr.decode()
    assert "No space left on device" in err and str(out) in err
    assert "Traceback" not in err
    assert list(tiny_tmpfs.iterdir()) == []


def test_missing_output_directory(slice_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "dir" / "out.jsonl"
    result = _select(slice_path, out)
    assert result.exit_code == 1, result.output
    assert "does not exist" in result.stderr


def test_read_only_output_directory(slice_path: Path, tmp_path: Path) -> None:
    read_only = tmp_path / "ro"
    read_only.mkdir()
    done = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(read_only), str(read_only)], capture_output=True
    )
    if done.returncode != 0:
        read_only.chmod(0o500)
        if os.access(read_only, os.W_OK):  # root ignores permissions
            pytest.skip("cannot make a read-only directory here")
    try:
        result = _select(slice_path, read_only / "out.jsonl")
        assert result.exit_code == 1, result.output
        assert "cannot write" in result.stderr
        assert list(read_only.iterdir()) == []
    finally:
        subprocess.run(["umount", str(read_only)], check=False, capture_output=True)
        read_only.chmod(0o700)


def test_inputs_never_modified(slice_path: Path, tmp_path: Path) -> None:
    source = tmp_path / "source.jsonl"
    source.write_bytes(slice_path.read_bytes() + b"not json\n")
    before = hashlib.sha256(source.read_bytes()).hexdigest(), source.stat().st_mtime_ns
    target_before = hashlib.sha256(TARGET.read_bytes()).hexdigest()
    assert _select(source, tmp_path / "a.jsonl", "-k", "5").exit_code == 3
    assert _select(source, tmp_path / "b.jsonl", "-k", "5", "--skip-invalid").exit_code == 0
    assert (hashlib.sha256(source.read_bytes()).hexdigest(), source.stat().st_mtime_ns) == before
    assert hashlib.sha256(TARGET.read_bytes()).hexdigest() == target_before


def _refused_as_input(result: Any, *protected: Path, before: list[bytes]) -> None:
    assert result.exit_code == 2, result.output
    assert "is also an input" in result.stderr
    assert [p.read_bytes() for p in protected] == before


def test_an_input_named_by_a_file_url_or_a_file_url_glob_is_never_an_output(
    slice_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(slice_path.read_bytes())
    before = [out.read_bytes()]
    for source in (f"file://{out}", f"file://{tmp_path}/*.jsonl"):
        result = runner.invoke(app, ["select", source, *FAST, "-k", "3", "-o", str(out), "--force"])
        _refused_as_input(result, out, before=before)


def test_a_background_is_never_an_output(slice_path: Path, tmp_path: Path) -> None:
    background = tmp_path / "bg.jsonl"
    background.write_bytes(b"".join(slice_path.read_bytes().splitlines(keepends=True)[:20]))
    before = [background.read_bytes()]
    contrast = ["--contrast", "--background", str(background), "-k", "3"]
    for extra in (
        ["--report", str(background)],
        ["--report", str(background), "--force"],
        ["-o", str(background), "--force"],
        ["--decontaminate", "--contaminated-output", str(background), "--force"],
    ):
        result = runner.invoke(app, ["select", str(slice_path), *FAST, *contrast, *extra])
        _refused_as_input(result, background, before=before)


def test_a_parquet_background_is_never_an_output(slice_path: Path, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    background = tmp_path / "bg.parquet"
    pq.write_table(pa.Table.from_pylist(records(slice_path.read_bytes())[:20]), background)
    before = [background.read_bytes()]
    args = ["select", str(slice_path), *FAST, "--contrast", "--background", str(background), "-k", "3"]
    result = runner.invoke(app, [*args, "-o", str(background), "--force"])
    _refused_as_input(result, background, before=before)


def test_a_report_through_a_link_is_an_output_like_the_others(slice_path: Path, tmp_path: Path) -> None:
    background = tmp_path / "bg.jsonl"
    background.write_bytes(b"".join(slice_path.read_bytes().splitlines(keepends=True)[:20]))
    elsewhere = tmp_path / "notes.txt"
    elsewhere.write_text("keep me\n")
    before = [background.read_bytes()]
    (tmp_path / "to-bg.json").symlink_to(background)
    (tmp_path / "to-notes.json").symlink_to(elsewhere)
    os.link(background, tmp_path / "hard.json")
    args = ["--contrast", "--background", str(background), "-k", "3", "--report"]
    for report in ("to-bg.json", "hard.json"):
        result = _select(slice_path, tmp_path / "out.jsonl", *args, str(tmp_path / report), "--force")
        _refused_as_input(result, background, before=before)
    result = _select(slice_path, tmp_path / "out.jsonl", *args, str(tmp_path / "to-notes.json"))
    assert result.exit_code == 4, result.output
    assert elsewhere.read_text() == "keep me\n"
    assert not (tmp_path / "out.jsonl").exists()


def test_an_existing_report_needs_force(slice_path: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text("an earlier run's report\n")
    result = _select(slice_path, tmp_path / "out.jsonl", "-k", "3", "--report", str(report))
    assert result.exit_code == 4, result.output
    assert f"output {report} exists; use --force" in result.stderr
    assert report.read_text() == "an earlier run's report\n"
    assert not (tmp_path / "out.jsonl").exists()
    assert (
        _select(slice_path, tmp_path / "out.jsonl", "-k", "3", "--report", str(report), "--force").exit_code
        == 0
    )
    assert json.loads(report.read_text())["stats"]["selected"] == 3


def test_merge_and_background_never_write_an_input(slice_path: Path, tmp_path: Path) -> None:
    parts = [tmp_path / f"part-{i}.jsonl" for i in range(2)]
    for i, part in enumerate(parts):
        assert _select(slice_path, part, "-k", "3", "--shard", f"{i}/2").exit_code == 0
    before = [p.read_bytes() for p in parts]
    for extra in (["-o", str(parts[0]), "--force"], ["--report", str(parts[1]), "--force"]):
        result = runner.invoke(app, ["merge", *map(str, parts), *extra])
        _refused_as_input(result, *parts, before=before)
    result = runner.invoke(
        app, ["background", f"file://{parts[0]}", "-n", "2", "-o", str(parts[0]), "--force"]
    )
    _refused_as_input(result, *parts, before=before)


@pytest.mark.slow
def test_stdout_opened_on_an_input_is_refused(slice_path: Path, tmp_path: Path) -> None:
    source = tmp_path / "source.jsonl"
    source.write_bytes(slice_path.read_bytes())
    before = source.read_bytes()
    args = ["select", str(source), *FAST, "-k", "3"]
    with open(source, "ab") as appending:  # `zipfit select source.jsonl ... >> source.jsonl`
        done = subprocess.run(
            [sys.executable, "-m", "zipfit_cli", *args], stdout=appending, stderr=subprocess.PIPE
        )
    assert done.returncode == 2, done.stderr
    assert b"is also an input" in done.stderr
    assert source.read_bytes() == before


def test_output_abort_removes_temporary_file(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl.gz"
    with pytest.raises(RuntimeError), Output(str(out)) as sink:
        sink.write(b'{"a": 1}\n')
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []


def test_output_whose_directory_vanishes_fails_with_its_path(tmp_path: Path) -> None:
    """A publish that cannot happen is an OutputError (exit 1) naming the output, and the
    temporary file goes with it."""
    directory = tmp_path / "gone"
    directory.mkdir()
    out = directory / "x.jsonl"
    sink = Output(str(out))
    with pytest.raises(OutputError, match=str(out)) as info, sink:
        sink.write(b'{"a": 1}\n')
        for leftover in directory.iterdir():
            leftover.unlink()
        directory.rmdir()
    assert info.value.exit_code == 1 and not directory.exists()


def test_symlinked_output_is_written_through(slice_path: Path, tmp_path: Path) -> None:
    real = tmp_path / "data" / "selected.jsonl"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "latest.jsonl"
    link.symlink_to(real)
    assert _select(slice_path, link, "-k", "3", "--force").exit_code == 0
    assert link.is_symlink() and link.resolve() == real
    assert len(real.read_text().splitlines()) == 3


def test_dev_stdout_as_output_in_a_makefile_idiom(slice_path: Path, tmp_path: Path) -> None:
    target_file = tmp_path / "selected.jsonl"
    with open(target_file, "wb") as stdout:
        done = subprocess.run(
            [sys.executable, "-m", "zipfit_cli", "select", str(slice_path), "-t", str(TARGET),
             "--target-template", TEMPLATE, "-k", "4", "--compressor", "lz4", "-q", "-o", "/dev/stdout"],
            stdout=stdout, stderr=subprocess.PIPE,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert len(target_file.read_text().splitlines()) == 4


@pytest.mark.parametrize("second", [["--report", "-"], ["--contaminated-output", "-"]])
def test_only_one_output_may_be_stdout(slice_path: Path, second: list[str]) -> None:
    args = ["select", str(slice_path), "-t", str(TARGET), "--target-template", TEMPLATE, "-k", "2", *second]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "only one of" in result.stderr and result.stdout == ""


def test_report_appears_with_the_output_or_not_at_all(slice_path: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    source = tmp_path / "bad.jsonl"
    source.write_bytes(slice_path.read_bytes() + b"{broken\n")
    assert _select(source, out, "--report", str(report)).exit_code == 3
    assert not out.exists() and not report.exists()
    assert _select(slice_path, out, "--report", str(report)).exit_code == 0
    assert out.exists() and report.exists()


def test_failed_output_leaves_no_report(slice_path: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = _select(slice_path, Path("/dev/full"), "-k", "3", "--report", str(report))
    assert result.exit_code == 1, result.output
    assert "cannot write /dev/full" in result.stderr
    assert not report.exists()


def test_an_output_being_written_has_no_name_yet(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    with Output(str(out)) as sink:
        sink.write(b'{"a": 1}\n')
        sink.finish()
        assert list(tmp_path.iterdir()) == []  # nothing a kill could leave behind
    assert out.read_bytes() == b'{"a": 1}\n'
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~output_module._UMASK)


def test_without_o_tmpfile_the_temporary_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def no_tmpfile(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & getattr(os, "O_TMPFILE", 0) == getattr(os, "O_TMPFILE", -1):
            raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(output_module.os, "open", no_tmpfile)
    out = tmp_path / "x.jsonl"
    out.write_text("old\n")
    with Output(str(out), replace=True) as sink:
        sink.write(b'{"a": 1}\n')
        assert [p.name.endswith(".zipfit-tmp") for p in tmp_path.iterdir() if p != out] == [True]
    assert out.read_bytes() == b'{"a": 1}\n'
    assert list(tmp_path.iterdir()) == [out]


def test_an_unnamed_output_replaces_with_force_and_never_clobbers_without(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    out.write_text("old\n")
    out.chmod(0o640)
    with Output(str(out), replace=True) as sink:
        sink.write(b"new\n")
    assert out.read_text() == "new\n" and out.stat().st_mode & 0o777 == 0o640
    with pytest.raises(output_module.OutputExistsError), Output(str(out), replace=False) as sink:
        sink.write(b"newer\n")
    assert out.read_text() == "new\n"
    assert list(tmp_path.iterdir()) == [out]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["x.jsonl", "x.parquet"])
def test_sigkill_leaves_no_temporary_output(tmp_path: Path, name: str) -> None:
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow")
    source = busy_corpus(tmp_path / "big.jsonl")
    (tmp_path / "out").mkdir()
    cmd = [sys.executable, "-m", "zipfit_cli", "select", str(source), "-t", str(TARGET),
           "--target-template", TEMPLATE, "--fraction", "0.5", "-j", "2",
           "-o", str(tmp_path / "out" / name)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(descendants(proc.pid)) < 3:  # the workers and the resource tracker
            assert proc.poll() is None and time.monotonic() < deadline, "workers never started"
            time.sleep(0.1)
        time.sleep(1.0)  # midway: records are being scored and the output is open
        tree = descendants(proc.pid)
        proc.kill()
        proc.wait(timeout=60)
        deadline = time.monotonic() + 10
        while any(alive(p) for p in tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(p) for p in tree)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    assert list((tmp_path / "out").iterdir()) == []


def test_background_with_force_leaves_only_its_output(slice_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "bg.jsonl"
    out.write_text("an older background\n")
    result = runner.invoke(app, ["background", str(slice_path), "-n", "5", "-o", str(out), "--force", "-q"])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 5
    assert list(tmp_path.iterdir()) == [out]


@pytest.mark.slow
def test_stdin_opened_on_a_file_is_an_input_like_any_other(slice_path: Path, tmp_path: Path) -> None:
    source = tmp_path / "source.jsonl"
    source.write_bytes(slice_path.read_bytes())
    targets = tmp_path / "targets.jsonl"
    targets.write_bytes(TARGET.read_bytes())
    before = [source.read_bytes(), targets.read_bytes()]
    zipfit = [sys.executable, "-m", "zipfit_cli", "select"]
    fast = ["--target-template", TEMPLATE, "--compressor", "lz4", "-j", "1", "-k", "3"]
    cases = [  # (stdin, arguments, stdout): `< source.jsonl -o source.jsonl`, `-t - < targets`, `>> source`
        (source, ["-", "-t", str(targets), "-o", str(source), "--force"], None),
        (targets, [str(source), "-t", "-", "-o", str(targets), "--force"], None),
        (source, ["-", "-t", str(targets), "--report", str(source), "--force"], None),
        (source, ["-", "-t", str(targets), "-q"], source),
    ]
    for stdin_file, args, stdout_file in cases:
        with open(stdin_file, "rb") as stdin, open(stdout_file or os.devnull, "ab") as stdout:
            done = subprocess.run([*zipfit, *args, *fast], stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
        assert done.returncode == 2, done.stderr
        assert b"is also an input" in done.stderr
        assert [source.read_bytes(), targets.read_bytes()] == before


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
    result = select_fast(slice_path, "-k", "3", "-o", str(shm_path))
    assert result.exit_code == 4, result.output
    assert shm_path.read_text() == "old\n"
    assert select_fast(slice_path, "-k", "3", "-o", str(shm_path), "--force").exit_code == 0
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
    assert len(run_process(*args).stdout.splitlines()) == 2
    # `>> file`: appended after what the file holds, as the shell asked
    target = tmp_path / "appended.jsonl"
    target.write_text('{"already": "here"}\n')
    with open(target, "ab") as stdout:
        done = run_process(*args, stdout=stdout, stderr=subprocess.PIPE)
    assert done.returncode == 0, done.stderr
    assert target.read_text().splitlines()[0] == '{"already": "here"}'
    assert len(target.read_text().splitlines()) == 3
    # /dev/null
    with open(os.devnull, "wb") as stdout:
        assert run_process(*args, stdout=stdout, stderr=subprocess.PIPE).returncode == 0


def test_fifo_is_written_in_place(slice_path: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    proc = subprocess.Popen([*ZIPFIT, "select", str(slice_path), *FAST, "-k", "2", "-q", "-o", str(fifo)])
    with open(fifo, "rb") as reader:
        data = reader.read()
    assert proc.wait(timeout=60) == 0
    assert len(data.splitlines()) == 2


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
    result = select_fast(slice_path, "-k", "3", "-o", str(out))
    assert result.exit_code == 4, result.output
    assert "appeared while zipfit ran" in result.stderr
    assert out.read_text() == "winner\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_report_that_cannot_be_published_takes_the_output_back(
    slice_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    _finishing_with(monkeypatch, report, report.mkdir)  # the report's name became a directory
    # --force: without it the name that appeared is refused as another run's (exit 4).
    result = select_fast(slice_path, "-k", "3", "-o", str(out), "--report", str(report), "--force")
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
    result = select_fast(slice_path, "-k", "3", "-o", str(out), "--report", str(report), "--force")
    assert result.exit_code == 1, result.output
    assert out.read_text() == "previous result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "report.json"]


def test_successful_force_run_leaves_no_backup(slice_path: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    out.write_text("previous result\n")
    report.write_text("{}\n")
    assert (
        select_fast(slice_path, "-k", "3", "-o", str(out), "--report", str(report), "--force").exit_code == 0
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "report.json"]
    assert len(out.read_text().splitlines()) == 3


def test_output_with_trailing_slash_for_a_missing_directory_is_refused(
    slice_path: Path, tmp_path: Path
) -> None:
    result = select_fast(slice_path, "-k", "3", "-o", f"{tmp_path / 'newdir'}/")
    assert result.exit_code == 2, result.output
    assert "directory outputs are for `zipfit score`" in result.stderr  # select: one ranked file
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["/dev/stdout", "/proc/self/fd/1"])
def test_report_on_stdout_while_records_go_there_is_refused(slice_path: Path, name: str) -> None:
    done = run_process("select", str(slice_path), *FAST, "-k", "2", "--report", name)
    assert done.returncode == 2, done.stderr
    assert b"same file or stream" in done.stderr
    assert done.stdout == b""


def test_report_on_the_file_stdout_goes_to_is_refused(slice_path: Path, tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    with open(log, "wb") as stdout:
        done = run_process("select", str(slice_path), *FAST, "-k", "2", "--report", str(log), stdout=stdout)
    assert done.returncode == 2, done.stderr
    assert log.read_bytes() == b""


# --- the output's name picks its format --------------------------------------------------------


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    from zipfit_cli.files.sources import open_source

    source = open_source(str(path))
    try:
        return [json.loads(line) for _, line in source]
    finally:
        source.close()


def _as_text(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{k: v if isinstance(v, str) else json.dumps(v) for k, v in r.items()} for r in rows]


def test_every_command_writes_csv_for_a_csv_name(planted: Path, slice_path: Path, tmp_path: Path) -> None:
    """`-o out.csv` with select, score, merge and background, and --contaminated-output x.csv:
    CSV, not JSONL, holding what the JSONL output holds."""
    for command in (["select", "-k", "7"], ["score"]):
        run_args = [command[0], str(slice_path), *FAST, *command[1:]]
        jsonl = records(_ok(*run_args, "-o", "-").stdout_bytes)
        out = tmp_path / f"{command[0]}.csv"
        _ok(*run_args, "-o", str(out))
        assert _csv_rows(out) == _as_text(jsonl), command
    parts = [tmp_path / f"part{i}.jsonl" for i in range(2)]
    for i, part in enumerate(parts):
        _ok("select", str(slice_path), *FAST, "-k", "5", "--shard", f"{i}/2", "-o", str(part))
    _ok("merge", *map(str, parts), "-o", str(tmp_path / "merged.csv"))
    assert _csv_rows(tmp_path / "merged.csv") == _as_csv_of(slice_path, tmp_path, "-k", "5")
    _ok("background", str(slice_path), "-n", "4", "-o", str(tmp_path / "bg.tsv"))
    assert len(_csv_rows(tmp_path / "bg.tsv")) == 4
    leaked = tmp_path / "leaked.csv"
    _ok(
        "score",
        str(planted),
        *FAST,
        "--decontaminate",
        "--contaminated-output",
        str(leaked),
        "-o",
        os.devnull,
    )
    rows = _csv_rows(leaked)
    assert [r["id"] for r in rows] == ["leak-0", "leak-1", "leak-2"]
    assert json.loads(rows[0]["_zipfit_contamination"])["criterion"] == "ngram"


def _ok(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def _as_csv_of(source: Path, tmp_path: Path, *selection: str) -> list[dict[str, str]]:
    return _as_text(records(_ok("select", str(source), *FAST, *selection, "-o", "-").stdout_bytes))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["-o", "top.parquet.gz"],
            "zipfit does not compress this format by name (.gz); name it {dir}/top.parquet",
        ),
        (["--output-format", "attributes", "-o", "a.csv"], "an attribute file is JSON lines"),
        (["--output-format", "attributes", "-o", "a.parquet"], "an attribute file is JSON lines"),
        (["--shard", "0/2", "-o", "part.csv.gz"], "shard parts are JSONL"),
        (["-o", "top.jsonl", "--contaminated-output", "leaks.parquet.zst"], "name it {dir}/leaks.parquet"),
        # zipfit reads .arrow: JSON lines under that name would be a file it cannot read back.
        (["-o", "top.arrow"], "{dir}/top.arrow: zipfit reads this format (.arrow) but does not write it"),
        (["-o", "top.jsonl", "--contaminated-output", "leaks.ARROW"], "does not write it"),
    ],
)
def test_unsupported_output_names_are_usage_errors_with_a_hint(
    slice_path: Path, tmp_path: Path, args: list[str], says: str
) -> None:
    (tmp_path / "out").mkdir()
    named = [str(tmp_path / "out" / a) if "." in a and not a.startswith("-") else a for a in args]
    result = runner.invoke(app, ["score", str(slice_path), *FAST, *named])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert says.format(dir=tmp_path / "out") in line and "(see --" in line, line
    assert os.listdir(tmp_path / "out") == []


def test_csv_output_errors_are_one_line_and_exit_1_in_a_real_process(tmp_path: Path) -> None:
    source = tmp_path / "varied.jsonl"
    source.write_text('{"text": "def a(): pass"}\n{"text": "def b(): pass", "extra": 1}\n')
    out = tmp_path / "out.csv"
    done = run_process("score", str(source), *FAST, "-o", str(out))
    assert done.returncode == 1 and done.stdout == b""
    (line,) = done.stderr.decode().splitlines()
    assert line.startswith("zipfit: error: ") and "record 2 has field 'extra'" in line
    assert not out.exists()
    done = run_process("score", str(source), *FAST, "--limit", "1", "-o", str(out), "-q")
    assert done.returncode == 0 and done.stdout == b"" and done.stderr == b""
    assert out.read_bytes().startswith(b"text,zipfit_score\r\ndef a(): pass,")


def test_parquet_spool_has_no_name_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pyarrow")
    from zipfit_cli.files import parquet_sink

    monkeypatch.setattr(parquet_sink, "GROUP_ROWS", 2)
    out = tmp_path / "late.parquet"
    with Output(str(out)) as sink:
        for i in range(7):
            sink.write(json.dumps({"text": "x", **({"late": i} if i > 3 else {})}).encode() + b"\n")
        assert os.listdir(tmp_path) == []  # spooled row groups and the output: no names yet
    assert os.listdir(tmp_path) == ["late.parquet"]
    with pytest.raises(KeyboardInterrupt), Output(str(tmp_path / "gone.parquet")) as sink:
        sink.write(b'{"a": 1}\n{"a": 2}\n{"a": 3, "b": 1}\n{"a": 4}\n{"a": 5}\n')
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == ["late.parquet"]


@pytest.mark.parametrize("name", ["out.jsonl.gz", "out.jsonl.zst", "out.parquet", "out.jsonl"])
def test_flushing_a_file_output_changes_none_of_its_bytes(tmp_path: Path, name: str) -> None:
    """A run flushes its output when the input goes quiet; a file is complete only at the end,
    and a compressor or Parquet writer flushed mid-stream would write other bytes."""
    lines = [b'{"text": "%d", "zipfit_score": 0.5}\n' % n for n in range(50)]
    for path, flushing in ((tmp_path / f"a-{name}", False), (tmp_path / f"b-{name}", True)):
        with Output(str(path)) as out:
            for line in lines:
                out.write(line)
                if flushing:
                    out.flush()
            if flushing:
                assert list(tmp_path.glob(f"b-{name}")) == []  # still nothing to see
    assert (tmp_path / f"a-{name}").read_bytes() == (tmp_path / f"b-{name}").read_bytes()


def test_flushing_a_pipe_output_sends_what_was_written(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with Output(str(fifo)) as out:
            out.write(b'{"a": 1}\n')
            out.flush()
            assert os.read(reader, 100) == b'{"a": 1}\n'
    finally:
        os.close(reader)

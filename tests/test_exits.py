"""How a zipfit process ends (exits.py): one `zipfit: error:` line on stderr and a documented exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST, SOURCE, TARGET, TARGETS, ZIPFIT, WriteJsonl, colour_env, records, run, zipfit


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


def test_usage_error_from_the_installed_command_is_the_same_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "zipfit_cli", "select", str(SOURCE), "-t", str(TARGET), "-k", "0"],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2 and not done.stdout
    assert done.stderr.decode().startswith("zipfit: error: Invalid value for '--top-k'")
    assert b"Traceback" not in done.stderr and b"\xe2\x95\xad" not in done.stderr  # no framed box


BROKEN_PIPE = 141


@pytest.mark.slow
@pytest.mark.parametrize(("command", "workers"), [("score", "1"), ("score", "2"), ("select", "2")])
def test_reader_closing_early_exits_141_quietly(tmp_path: Path, command: str, workers: str) -> None:
    # Like `zipfit score big.jsonl | head -n 1`: the whole sample is far more than a pipe holds.
    stderr_path = tmp_path / "stderr.txt"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            [*ZIPFIT, command, str(SOURCE), *TARGETS, "--compressor", "lz4", "-j", workers],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=colour_env(),
        )
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert isinstance(json.loads(first), dict)
            proc.stdout.close()
            code = proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    err = stderr_path.read_text(errors="replace")
    assert code == BROKEN_PIPE, err
    assert "Traceback" not in err
    assert "Broken pipe" not in err and "BrokenPipe" not in err
    assert "Exception ignored" not in err


@pytest.mark.slow
def test_bad_record_in_subprocess_is_one_line(write_jsonl: WriteJsonl, source_lines: list[bytes]) -> None:
    corpus = write_jsonl([*source_lines[:40], b'{"text": 1}', *source_lines[40:80]])
    result = zipfit("score", str(corpus), *TARGETS, "--compressor", "lz4", "-j", "2", "--batch-size", "8")
    assert result.returncode == 3
    err = result.stderr.decode()
    assert f"{corpus}:41:" in err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("zipfit: error:")] == [err.strip()]


def test_strict_exit_6_is_one_last_line_after_the_outputs(slice_path: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty\n\x1b[2J.jsonl"  # the warning names it: escaped, one line
    empty.write_bytes(b"")
    out = tmp_path / "out.jsonl"
    done = subprocess.run(
        [*ZIPFIT, "select", str(slice_path), str(empty), *FAST, "-k", "3", "-o", str(out), "--strict", "-q"],
        capture_output=True, timeout=60, env=colour_env(),
    )  # fmt: skip
    assert done.returncode == 6
    assert done.stderr.decode() == (
        "zipfit: error: --strict: " + str(empty).replace("\n", "\\x0a").replace("\x1b", "\\x1b")
        + " holds no records; the outputs were written\n"
    )  # fmt: skip
    assert len(out.read_text().splitlines()) == 3 and done.stdout == b""
    loud = run("select", slice_path, empty, *FAST, "-k", "3", "--strict", "--summary", "full")
    assert loud.exit_code == 6 and len(records(loud.stdout)) == 3  # stdout: the records, complete
    lines = loud.stderr.splitlines()
    assert lines[0].startswith("zipfit: warning: ") and lines[-1].startswith("zipfit: error: --strict: ")
    assert run("select", slice_path, *FAST, "-k", "3", "--strict", "-q").exit_code == 0  # no warning


def test_a_bad_variable_in_a_real_environment_is_exit_2_naming_it(slice_path: Path) -> None:
    args = [*ZIPFIT, "select", str(slice_path), *TARGETS, "--compressor", "lz4", "-k", "2", "-q"]
    env = {**colour_env(), "ZIPFIT_WORKERS": "0"}
    done = subprocess.run(args, capture_output=True, timeout=60, env=env)
    assert done.returncode == 2 and done.stdout == b""
    line = done.stderr.decode()
    assert line.startswith("zipfit: error: ") and line.count("\n") == 1
    assert "(env var: 'ZIPFIT_WORKERS')" in line
    empty = subprocess.run(args, capture_output=True, timeout=60, env={**env, "ZIPFIT_WORKERS": ""})
    assert empty.returncode == 0 and len(empty.stdout.splitlines()) == 2  # empty: as if unset

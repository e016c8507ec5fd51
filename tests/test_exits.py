"""How a zipfit process ends (exits.py): one `zipfit: error:` line on stderr and a documented exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST, SOURCE, TARGET, TARGETS, ZIPFIT, run


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

"""How a zipfit process ends (exits.py): one `zipfit: error:` line on stderr and a documented exit code."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from conftest import FAST, ZIPFIT


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

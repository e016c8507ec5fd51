"""What a run shows on stderr (display.py): a Rich bar on a terminal, timestamped plain lines otherwise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST, SOURCE, TARGET, TARGETS, TEMPLATE, assert_jsonl, zipfit


@pytest.mark.slow
def test_limit_runs_show_no_eta_and_progress_says_scoring() -> None:
    env = {**os.environ, "ZIPFIT_PROGRESS_INTERVAL": "0"}
    args = [str(SOURCE), *map(str, FAST), "-k", "3", "--limit", "600", "--batch-size", "100"]
    done = subprocess.run(
        [sys.executable, "-m", "zipfit_cli", "select", *args], capture_output=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    progress = [line for line in done.stderr.decode().splitlines() if " records, " in line and "/s" in line]
    assert progress and all(" scoring " in line and "ETA" not in line for line in progress), progress


@pytest.mark.slow
def test_stderr_not_a_tty_has_no_escape_codes(slice_path: Path, tmp_path: Path) -> None:
    ok = zipfit("select", str(slice_path), *TARGETS, "-k", "5", "--compressor", "lz4", "-j", "1")
    assert ok.returncode == 0, ok.stderr.decode()
    assert b" selected=5 " in ok.stderr  # the summary is one line when stderr is not a terminal
    assert b"\x1b" not in ok.stderr
    assert b"\r" not in ok.stderr
    assert len(assert_jsonl(ok.stdout)) == 5  # stdout holds the records and nothing else

    missing = zipfit("select", str(tmp_path / "nope.jsonl"), *TARGETS, "-k", "5")
    assert missing.returncode == 3
    assert b"nope.jsonl" in missing.stderr
    assert b"\x1b" not in missing.stderr
    assert missing.stdout == b""

    bad_option = zipfit("select", str(slice_path), *TARGETS, "--no-such-option")
    assert bad_option.returncode == 2
    assert b"no-such-option" in bad_option.stderr
    assert b"\x1b" not in bad_option.stderr
    assert bad_option.stdout == b""


@pytest.mark.slow
def test_periodic_progress_lines_are_timestamped_for_logs(slice_path: Path) -> None:
    env = {**os.environ, "ZIPFIT_PROGRESS_INTERVAL": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "zipfit_cli", "score", str(slice_path), "-t", str(TARGET),
         "--target-template", TEMPLATE, "--batch-size", "50", "-j", "1", "-o", os.devnull],
        capture_output=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stderr.decode().splitlines()
    progress = [line for line in lines if "records/s" in line and "ETA" in line]
    assert len(progress) >= 3  # one a batch, with the interval at 0
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ zipfit: ")
    assert all(stamp.match(line) for line in lines), lines
    assert "\r" not in done.stderr.decode() and "\x1b" not in done.stderr.decode()


@pytest.mark.slow
def test_bad_progress_interval_is_a_usage_error(slice_path: Path) -> None:
    env = {**os.environ, "ZIPFIT_PROGRESS_INTERVAL": "soon"}
    done = subprocess.run(
        [sys.executable, "-m", "zipfit_cli", "score", str(slice_path), "-t", str(TARGET),
         "--target-template", TEMPLATE, "-o", os.devnull],
        capture_output=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "ZIPFIT_PROGRESS_INTERVAL" in done.stderr.decode()


@pytest.mark.slow
def test_rich_progress_on_a_terminal_stderr_leaves_stdout_clean(slice_path: Path) -> None:
    """With stderr on a terminal, the Rich bar and the summary go there; stdout stays JSONL."""
    import pty

    main, secondary = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "zipfit_cli", "select", str(slice_path), "-t", str(TARGET),
         "--target-template", TEMPLATE, "-k", "5", "-j", "1", "--compressor", "lz4"],
        stdout=subprocess.PIPE, stderr=secondary, env=env,
    )  # fmt: skip
    os.close(secondary)
    out, _ = proc.communicate(timeout=120)
    terminal = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the other side is closed
            break
        if not chunk:
            break
        terminal += chunk
    os.close(main)
    assert proc.returncode == 0, terminal.decode(errors="replace")
    assert len(assert_jsonl(out)) == 5
    text = terminal.decode(errors="replace")
    assert "scoring" in text and "selected 5" in text
    assert "\x1b[" in text  # a live terminal display, not plain log lines

"""What a run shows on stderr (display.py): a Rich bar on a terminal, timestamped plain lines otherwise."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST, SOURCE, TARGET, TARGETS, TEMPLATE, assert_jsonl, records, run, zipfit


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


# --- the summary's two forms: full, and one line for logs --------------------------------------

VALUE = r"(?:\"(?:[^\"\\]|\\.)*\"|\S+)"  # logfmt: bare, or quoted with backslash escapes
LINE = re.compile(rf"^\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ zipfit: summary (?:[a-z_]+={VALUE} ?)+$")
PAIR = re.compile(rf"([a-z_]+)=({VALUE})")


def _pairs(stderr: str) -> dict[str, str]:
    """The key=value pairs of the one summary line in `stderr` (logfmt: quoted values unquoted)."""
    lines = [line for line in stderr.splitlines() if " zipfit: summary " in line]
    assert len(lines) == 1 and LINE.match(lines[0]), stderr
    found = PAIR.findall(lines[0].split(" summary ", 1)[1])
    return {key: json.loads(value) if value.startswith('"') else value for key, value in found}


def test_off_a_terminal_the_summary_is_one_greppable_line(slice_path: Path, tmp_path: Path) -> None:
    report = tmp_path / "run.json"
    result = run("select", slice_path, *FAST, "-k", "7", "--report", report)
    assert result.exit_code == 0, result.output
    assert len(records(result.stdout)) == 7  # stdout: the records, nothing else
    assert result.stderr.count("\n") == 1 and "|" not in result.stderr  # no histogram
    pairs = _pairs(result.stderr)
    stats = json.loads(report.read_text())["stats"]
    assert list(pairs)[:4] == ["read", "scored", "skipped", "selected"]
    assert pairs["read"] == "200" and pairs["selected"] == "7" and pairs["warnings"] == "0"
    assert pairs["score_max"] == f"{stats['score_max']:.4f}"
    assert pairs["threshold"] == f"{stats['threshold']:.4f}"
    assert (pairs["output"], pairs["report"]) == ("stdout", str(report))


def test_the_line_quotes_odd_file_names_and_stays_one_line(slice_path: Path, tmp_path: Path) -> None:
    out = tmp_path / 'my "top" =\n\x1b[31mred.jsonl'
    result = run("score", slice_path, *FAST, "-o", out, "--summary", "line")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stderr and result.stderr.count("\n") == 1
    assert _pairs(result.stderr)["output"] == str(out).replace("\n", "\\x0a").replace("\x1b", "\\x1b")
    assert _pairs(result.stderr)["written"] == "200"


def test_the_full_summary_names_the_outputs(slice_path: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "top.jsonl", tmp_path / "run.json"
    result = run("select", slice_path, *FAST, "-k", "3", "-o", out, "--report", report, "--summary", "full")
    assert result.exit_code == 0, result.output
    assert "score min" in result.stderr and " | " in result.stderr  # the histogram
    assert result.stderr.splitlines()[-1].endswith(f"zipfit: output {out}; report {report}")
    quiet = run("select", slice_path, *FAST, "-k", "3", "-q", "--summary", "full")
    assert quiet.exit_code == 0 and quiet.stderr == ""  # -q says less than either form


def test_warnings_come_before_the_line_and_are_counted(slice_path: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    result = run("select", slice_path, empty, *FAST, "-k", "3")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0] == f"zipfit: warning: {empty} holds no records" and len(lines) == 2
    assert _pairs(result.stderr)["warnings"] == "1"


def test_a_terminal_gets_the_line_unwrapped_when_asked() -> None:
    from rich.console import Console

    from zipfit_cli.base.stats import RunStats
    from zipfit_cli.cli.display import RichDisplay

    stream = io.StringIO()
    display = RichDisplay(100, console=Console(file=stream, width=40, force_terminal=False), form="line")
    stats = RunStats(records_read=3, selected=3)
    for score in (0.1, 0.2, 0.3):
        stats.add_score(score)
    display.summary(stats, "selected", {"output": "/a/long/path/to/the/selected/records.jsonl"})
    assert stream.getvalue().count("\n") == 1  # 40 columns, one line all the same
    assert stream.getvalue().startswith("zipfit: summary read=3 scored=3 skipped=0 selected=3 ")

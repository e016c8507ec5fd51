"""`python -m zipfit_cli` as a real process: pipes in and out, early-closing readers, plain stderr."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard
from conftest import SOURCE, TARGET, TEMPLATE, WriteJsonl

pytestmark = pytest.mark.slow  # real subprocesses

ZIPFIT = [sys.executable, "-m", "zipfit_cli"]
TARGETS = ["-t", str(TARGET), "--target-template", TEMPLATE]
BROKEN_PIPE = 141


def colour_env() -> dict[str, str]:
    """A colour-capable terminal type: only the fact that stderr is not a TTY should keep output plain."""
    env = dict(os.environ)
    for name in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "PY_COLORS", "CLICOLOR_FORCE"):
        env.pop(name, None)
    env["TERM"] = "xterm-256color"
    return env


def zipfit(*args: str, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*ZIPFIT, *args], input=stdin, capture_output=True, timeout=timeout, env=colour_env()
    )


def assert_jsonl(data: bytes) -> list[dict[str, object]]:
    assert data.endswith(b"\n")
    out = [json.loads(line) for line in data.splitlines()]
    assert all(isinstance(r, dict) for r in out)
    return out


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
    assert b"selected 15" in piped.stderr


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


def test_stderr_not_a_tty_has_no_escape_codes(slice_path: Path, tmp_path: Path) -> None:
    ok = zipfit("select", str(slice_path), *TARGETS, "-k", "5", "--compressor", "lz4", "-j", "1")
    assert ok.returncode == 0, ok.stderr.decode()
    assert b"selected 5" in ok.stderr
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


def test_bad_record_in_subprocess_is_one_line(write_jsonl: WriteJsonl, source_lines: list[bytes]) -> None:
    corpus = write_jsonl([*source_lines[:40], b'{"text": 1}', *source_lines[40:80]])
    result = zipfit("score", str(corpus), *TARGETS, "--compressor", "lz4", "-j", "2", "--batch-size", "8")
    assert result.returncode == 3
    err = result.stderr.decode()
    assert f"{corpus}:41:" in err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("zipfit: error:")] == [err.strip()]


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


def test_bad_progress_interval_is_a_usage_error(slice_path: Path) -> None:
    env = {**os.environ, "ZIPFIT_PROGRESS_INTERVAL": "soon"}
    done = subprocess.run(
        [sys.executable, "-m", "zipfit_cli", "score", str(slice_path), "-t", str(TARGET),
         "--target-template", TEMPLATE, "-o", os.devnull],
        capture_output=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "ZIPFIT_PROGRESS_INTERVAL" in done.stderr.decode()


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

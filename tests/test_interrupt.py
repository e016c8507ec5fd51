"""Stopping a run (exits.py, runner.py): Ctrl-C, SIGTERM, a worker killed, all in real subprocesses.

Each run is long enough (gzip level 9 over a generated corpus) that it is still busy
when the signal arrives; each must end promptly with its documented code, leave no
output or temporary file, and leave no worker process behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAST, SOURCE, TARGET, TEMPLATE, ZIPFIT, alive, busy_corpus, descendants, run

from zipfit_cli.base.errors import Terminated

pytestmark = pytest.mark.slow  # real subprocesses and signals

TOO_LONG = 60  # seconds: a hang, not a slow run


def _start(tmp_path: Path, workers: str) -> tuple[subprocess.Popen[bytes], Path]:
    source = busy_corpus(tmp_path / "big.jsonl")
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "zipfit_cli", "select", str(source), "-t", str(TARGET),
           "--target-template", TEMPLATE, "-k", "10", "-o", str(out), "-j", workers]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_like_a_terminal,
    )
    return proc, out


def _like_a_terminal() -> None:
    # A shell starts background jobs (`&` in scripts, some CI runners) with SIGINT ignored,
    # nohup ignores SIGHUP, and children inherit both; a terminal's foreground job has them
    # at their defaults. zipfit respects an inherited "ignore", so the test resets them.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _catches_sigterm(pid: int) -> bool:
    """Whether zipfit's signal handlers are in place (a slow start under load could
    otherwise let the default action kill it before they are)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return False


def _wait_for_workers(proc: subprocess.Popen[bytes], workers: int) -> set[int]:
    """The run's process tree once its workers are up (parent, forkserver, workers...)."""
    deadline = time.monotonic() + TOO_LONG
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        tree = descendants(proc.pid)
        if (workers == 1 or len(tree) >= workers + 1) and _catches_sigterm(proc.pid):
            time.sleep(1.0)  # let scoring get under way
            return descendants(proc.pid)
        time.sleep(0.1)
    raise AssertionError("workers never started")


def _assert_clean(tmp_path: Path, out: Path, tree: set[int], also: set[str] = frozenset()) -> None:
    assert not out.exists()
    left = sorted(p.name for p in tmp_path.iterdir() if p.name not in also)
    assert left == ["big.jsonl"], "temporary file left behind"
    deadline = time.monotonic() + 5
    while any(alive(p) for p in tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in tree if alive(p)], "worker processes left running"


@pytest.mark.parametrize(
    ("sig", "code", "workers", "whole_group"),
    [
        (signal.SIGINT, 130, "2", True),  # Ctrl-C in a terminal reaches the whole group
        (signal.SIGINT, 130, "1", False),
        (signal.SIGTERM, 143, "2", False),  # kill PID
        (signal.SIGTERM, 143, "1", False),
        (signal.SIGHUP, 129, "2", False),  # the session went away
    ],
)
def test_signal_stops_cleanly(
    tmp_path: Path, sig: signal.Signals, code: int, workers: str, whole_group: bool
) -> None:
    proc, out = _start(tmp_path, workers)
    tree = _wait_for_workers(proc, int(workers))
    if whole_group:
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=TOO_LONG)
    assert proc.returncode == code, err.decode()
    text = err.decode()
    assert "Traceback" not in text
    assert "no output written" in text
    _assert_clean(tmp_path, out, tree)


def test_killed_worker_fails_the_run_clearly(tmp_path: Path) -> None:
    proc, out = _start(tmp_path, "2")
    tree = _wait_for_workers(proc, 2)
    # Workers are the leaves of the tree other than the resource tracker: the forkserver's
    # children, or the main process's own when a long $TMPDIR makes zipfit use spawn.
    children = descendants(proc.pid)
    workers = sorted(
        p
        for p in children
        if not descendants(p) and b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()
    )
    assert workers, f"no worker found in {children}"
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=TOO_LONG)
    assert proc.returncode == 1, err.decode()
    assert "worker process died" in err.decode()
    assert "Traceback" not in err.decode()
    _assert_clean(tmp_path, out, tree)


def test_stopped_fraction_run_removes_its_spool(tmp_path: Path) -> None:
    """--fraction keeps records in a spool file under $TMPDIR until the end; a stopped run
    must remove it too.
    """
    spool_dir = tmp_path / "tmpdir"
    spool_dir.mkdir()
    source = busy_corpus(tmp_path / "big.jsonl")
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "zipfit_cli", "select", str(source), "-t", str(TARGET),
           "--target-template", TEMPLATE, "--fraction", "0.1", "-o", str(out), "-j", "2"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "TMPDIR": str(spool_dir)}
    )
    tree = _wait_for_workers(proc, 2)
    # The spool is unlinked as soon as it is created: it is only an open descriptor.
    assert any(".zipfit-spool-" in os.readlink(fd) for fd in Path(f"/proc/{proc.pid}/fd").iterdir())
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=TOO_LONG)
    assert proc.returncode == 143, err.decode()
    assert list(spool_dir.iterdir()) == []  # the spool, and multiprocessing's own directory
    _assert_clean(tmp_path, out, tree, also={"tmpdir"})


@pytest.mark.parametrize(("sig", "code", "message"), [(signal.SIGTERM, 143, "stopped by SIGTERM"),
                                                      (signal.SIGHUP, 129, "stopped by SIGHUP")])  # fmt: skip
def test_a_signal_while_the_options_are_read_is_one_line_and_its_code(
    monkeypatch: pytest.MonkeyPatch, sig: int, code: int, message: str
) -> None:
    # Seen in CI: SIGTERM landed while the command's options were being filled in, before
    # the command's own error handling, and Python printed a traceback with exit 1.
    def stopped(*args: object) -> None:
        raise Terminated(sig)

    monkeypatch.setattr("zipfit_cli.cli.optspec.fill", stopped)
    result = run("select", SOURCE, *FAST, "-k", "1")
    assert result.exit_code == code
    assert result.stderr.startswith(f"zipfit: error: {message}") and result.stderr.count("\n") == 1


def _pooled_run(tmp_path: Path, tmpdir: Path) -> tuple[subprocess.Popen[bytes], Path, set[int]]:
    """A --fraction run (so a spool exists) with two workers, once its workers are busy and
    its spool holds scored records: the cleanup the callers check has something to clean."""
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
        # Resource tracker, two workers (and the forkserver, if used); the spool in TMPDIR.
        if len(tree) >= 3 and any(tmpdir.iterdir()):
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


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "code", "workers"),
    [(signal.SIGTERM, 143, "1"), (signal.SIGTERM, 143, "2"), (signal.SIGINT, 130, "2")],
)
def test_a_signal_while_stdin_is_paused_leaves_no_output(
    tmp_path: Path, sig: signal.Signals, code: int, workers: str
) -> None:
    """A slowly fed stdin is read by a thread that may be blocked on it when the signal
    comes: the run still stops at once, with its code, and writes nothing."""
    out = tmp_path / "out.jsonl"
    cmd = [*ZIPFIT, "score", "-", *FAST[:-2], "-j", workers, "-o", str(out)]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_like_a_terminal,
    )
    assert proc.stdin is not None
    try:
        proc.stdin.write(b"".join(SOURCE.read_bytes().splitlines(keepends=True)[:100]))
        proc.stdin.flush()  # and then nothing more: the input stays open, quiet
        tree = _wait_for_workers(proc, int(workers))
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)  # Ctrl-C reaches the whole group
        else:
            os.kill(proc.pid, sig)
        proc.wait(timeout=TOO_LONG)  # stdin still open: the run ends without its end
        assert proc.stderr is not None
        text = proc.stderr.read().decode()
    finally:
        proc.stdin.close()
        _kill_group(proc)
    assert proc.returncode == code, text
    assert "Traceback" not in text and "Fatal Python error" not in text, text
    assert text.count("zipfit: error:") == 1 and "no output written" in text, text
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file
    assert _gone(tree), "worker processes left running"

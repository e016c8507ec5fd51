"""The worker pool (runner.py): started from a script without a main guard, or under a long $TMPDIR;
a pause in the input hands on every result."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FAST, run_process


@pytest.mark.slow
def test_pooled_run_with_a_very_long_tmpdir(slice_path: Path, tmp_path: Path) -> None:
    tmpdir = tmp_path / ("t" * 150)
    tmpdir = tmpdir / ("u" * max(1, 150 - len(str(tmpdir)) - 1)) if len(str(tmpdir)) < 150 else tmpdir
    tmpdir.mkdir(parents=True)
    assert len(str(tmpdir)) >= 150
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    args = ["select", str(slice_path), *FAST[:-2], "-j", "2", "--fraction", "0.1", "-q"]
    done = run_process(*args, env=env)
    assert done.returncode == 0, done.stderr.decode()
    assert len(done.stdout.splitlines()) == 20
    assert list(tmpdir.iterdir()) == []


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


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_an_empty_batch_hands_on_every_earlier_result_before_more_input_is_read(workers: int) -> None:
    """An empty batch is a pause (the input went quiet): the results of the batches before it
    must reach the consumer before the next batch is asked for, which may be minutes away.
    Before, with workers > 1, they waited in the pool's window until more batches came."""
    from zipfit_cli.engines.runner import ScoreJob, map_batches
    from zipfit_cli.scoring.pairwise import TargetSet

    job = ScoreJob(TargetSet.from_texts(["def f(): pass", "def g(): return 1"], "lz4"))
    received: list[str] = []
    asked_after_pause: list[list[str]] = []

    def batches() -> Iterator[tuple[str, list[bytes]]]:
        yield "a", [b"def a(): pass"] * 3
        yield "b", [b"def b(): pass"] * 2
        yield "pause", []
        asked_after_pause.append(list(received))  # what had arrived when more was asked for
        yield "c", [b"def c(): pass"]

    for tag, results in map_batches(job, batches(), workers):
        received.append(tag)
        assert len(results) == {"a": 3, "b": 2, "pause": 0, "c": 1}[tag]
    assert received == ["a", "b", "pause", "c"]
    assert asked_after_pause == [["a", "b", "pause"]]

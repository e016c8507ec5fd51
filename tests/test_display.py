"""What a run shows on stderr (display.py): a Rich bar on a terminal, timestamped plain lines otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import FAST, SOURCE


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

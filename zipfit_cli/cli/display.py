"""What the user sees on stderr while a run goes: progress, then the summary.

A Rich bar when stderr is a terminal; a timestamped plain line every few seconds when it
is not (cron logs, CI); nothing at all with --quiet. stdout is never touched here.
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import IO, TYPE_CHECKING

from ..base.errors import UsageError, shown
from ..base.stats import RunStats
from ..runs.report import outputs_line, summary_line, summary_lines, timestamp

if TYPE_CHECKING:
    from rich.console import Console


def _human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Display:
    """Base display: does nothing (used for --quiet)."""

    def __init__(self, total_bytes: int | None = None, label: str = "scoring", form: str = "full") -> None:
        self.total_bytes = total_bytes
        self.label = label
        self.form = form  # of the summary: "full", or "line" (one key=value line, for logs)

    def __enter__(self) -> Display:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        pass

    def update(self, records: int, bytes_done: int) -> None:
        pass

    def summary(self, stats: RunStats, what: str, outputs: dict[str, str] | None = None) -> None:
        pass

    def summary_text(
        self, stats: RunStats, what: str, outputs: dict[str, str] | None
    ) -> tuple[list[str], list[str]]:
        """The warning lines, and the summary in this display's form (naming the outputs)."""
        warnings = [f"zipfit: warning: {shown(warning)}" for warning in stats.warnings]
        if self.form == "line":
            return warnings, [summary_line(stats, what, outputs or {})]
        lines = summary_lines(stats, what)
        return warnings, [*lines, outputs_line(outputs)] if outputs else lines


class PlainDisplay(Display):
    """One line every `interval` seconds, and a plain summary: readable in a log file."""

    def __init__(
        self,
        total_bytes: int | None = None,
        label: str = "scoring",
        interval: float = 5.0,
        stream: IO[str] | None = None,
        form: str = "line",
    ) -> None:
        super().__init__(total_bytes, label, form)
        self.interval = interval
        self.stream = stream or sys.stderr
        self._start = time.monotonic()
        self._last = self._start

    def _print(self, text: str) -> None:
        print(f"{timestamp()} zipfit: {text}", file=self.stream, flush=True)

    def update(self, records: int, bytes_done: int) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        elapsed = now - self._start
        rate = records / elapsed if elapsed else 0.0
        parts = [f"{self.label} {records:,} records", _human_bytes(bytes_done)]
        if self.total_bytes:
            share = min(bytes_done / self.total_bytes, 1.0)
            parts[-1] += f" of {_human_bytes(self.total_bytes)} ({share:.0%})"
            if share > 0:
                parts.append(f"ETA {_duration(elapsed / share - elapsed)}")
        parts.insert(2, f"{rate:,.0f} records/s")
        self._print(", ".join(parts))

    def summary(self, stats: RunStats, what: str, outputs: dict[str, str] | None = None) -> None:
        warnings, lines = self.summary_text(stats, what, outputs)
        for warning in warnings:
            print(warning, file=self.stream, flush=True)
        for line in lines:
            self._print(line)


class RichDisplay(Display):
    """A live Rich bar on the stderr console; stdout stays untouched for data."""

    def __init__(
        self,
        total_bytes: int | None = None,
        label: str = "scoring",
        console: Console | None = None,
        form: str = "full",
    ) -> None:
        super().__init__(total_bytes, label, form)
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console or Console(stderr=True)
        self._records = 0
        self._start = time.monotonic()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[records]} records, {task.fields[rate]}/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            redirect_stdout=False,
            redirect_stderr=False,
            transient=False,
        )
        self._task = self._progress.add_task(label, total=total_bytes, records="0", rate="0")

    def __enter__(self) -> RichDisplay:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None and self.total_bytes:
            self._progress.update(self._task, completed=self.total_bytes)
        self._progress.stop()

    def update(self, records: int, bytes_done: int) -> None:
        elapsed = time.monotonic() - self._start
        rate = f"{records / elapsed:,.0f}" if elapsed else "0"
        self._progress.update(self._task, completed=bytes_done, records=f"{records:,}", rate=rate)

    def summary(self, stats: RunStats, what: str, outputs: dict[str, str] | None = None) -> None:
        warnings, lines = self.summary_text(stats, what, outputs)
        if self.form == "line":  # one line, however wide the terminal
            lines = [f"zipfit: {line}" for line in lines]
        for line in [*warnings, *lines]:
            self.console.print(line, highlight=False, markup=False, soft_wrap=self.form == "line")


def make_display(
    quiet: bool, total_bytes: int | None, label: str = "scoring", summary: str | None = None
) -> Display:
    """The display that fits stderr: none, plain lines, or a Rich bar on a terminal. The
    summary is `summary` (full or line), by default full on a terminal and one line in a log."""
    if quiet:
        return Display(total_bytes, label)
    if sys.stderr.isatty():
        return RichDisplay(total_bytes, label, form=summary or "full")
    return PlainDisplay(total_bytes, label, interval=progress_interval(), form=summary or "line")


def progress_interval() -> float:
    """Seconds between plain progress lines: ZIPFIT_PROGRESS_INTERVAL, else 5."""
    value = os.environ.get("ZIPFIT_PROGRESS_INTERVAL", "5")
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise UsageError(f"ZIPFIT_PROGRESS_INTERVAL must be a number of seconds, not {value!r}")
    return seconds

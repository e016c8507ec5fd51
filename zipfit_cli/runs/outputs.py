"""A run's output files, all or nothing: checked against the inputs, written to temporary
files, and renamed into place only once every one of them (the report too) is complete.

A run stopped by Ctrl-C, SIGTERM or an error leaves none of them behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import orjson

from ..base.errors import Terminated, stored
from ..base.stats import RunStats
from ..files.output import Output, publish_all
from ..files.output_checks import check_outputs
from ..files.sources import is_parquet
from ..files.writers import check_output_name
from .report import report_dict

# A job writes the main output and may write side outputs (by name, e.g. "contaminated").
OutputJob = Callable[[Output, dict[str, Output]], RunStats]


def write_outputs(
    job: OutputJob,
    *,
    inputs: list[str],
    output: str,
    report: str | None = None,
    force: bool = False,
    side_outputs: dict[str, str] | None = None,
    report_settings: Callable[[], dict[str, Any]] | None = None,
    command_line: list[str] | None = None,
    schema: Callable[[], Any] | None = None,
    around: AbstractContextManager[Any] | None = None,
    output_format: str = "records",
) -> RunStats:
    """Run `job` with atomic outputs and an optional JSON report (`report_settings()` says
    what decided the output). `schema` gives the Parquet schema of a '.parquet' output (None:
    inferred from its records); `around` (a progress display) is entered once the outputs
    are checked and left before they are published. The names of the record outputs pick
    their formats (writers.WRITERS); one `output_format` cannot take is refused first."""
    side = side_outputs or {}
    check_output_name(output, output_format)
    for path in side.values():
        check_output_name(path)
    check_outputs([output, *side.values(), *([report] if report is not None else [])], inputs, force)
    out = Output(output, replace=force, schema=schema() if schema and is_parquet(output) else None)
    sides = {name: Output(path, replace=force) for name, path in side.items()}
    report_out = Output(report, replace=force, records=False) if report is not None else None
    outputs = [out, *sides.values(), *([report_out] if report_out is not None else [])]
    with around if around is not None else contextlib.nullcontext():
        opened: list[Output] = []
        try:
            for sink in outputs:
                opened.append(sink.__enter__())
            stats = job(out, sides)
            if report_out is not None:
                described = report_settings() if report_settings is not None else {}
                summary = report_dict(stats, described, command_line or [])
                report_out.write(orjson.dumps(stored(summary), option=orjson.OPT_INDENT_2) + b"\n")
            # Two phases: every file is complete on disk before any is renamed into place,
            # so a failure leaves none of them (no report claiming a success, say).
            for sink in outputs:
                sink.finish()
            publish_all(outputs)
        except (KeyboardInterrupt, Terminated) as exc:
            for sink in opened:
                sink.abort()
            signum = exc.signum if isinstance(exc, Terminated) else 2  # SIGINT
            raise Terminated(signum, stdout_written=out.written and out.to_stdout) from None
        except BaseException:
            for sink in opened:
                sink.abort()
            raise
    return stats

"""What a worker does for a directory output (`score -o DIR/`): read one partition, score it,
and write its part file itself, returning only counters and the part's manifest entry.

The same function runs in the local engine's worker processes (runner.map_tasks) and on Dask
workers (part_engines.py), so both write the same bytes for the same partition. Near-copies
of targets (with decontamination) are the only records that go back to the client, which
counts them and keeps them aside as a single run does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..base.results import Contaminated, Pruned, Skipped
from ..base.stats import RunStats
from ..files.part_dir import PartDir, PartFile
from ..files.writing import RecordWriter, output_shape
from ..selection.rules import below
from .dask_worker import Partition, PartResult, Row, score_partition
from .runner import ScoreJob


@dataclass(frozen=True)
class PartPlan:
    """One part to write: its partition, its name in the output directory, and how."""

    part: Partition
    directory: str
    name: str
    force: bool  # replace a part of that name (else refuse it)
    output_format: str
    score_key: str
    id_key: str
    batch_size: int
    skip_invalid: bool
    min_score: float | None
    schema: Any = None  # a Parquet part's columns: the Parquet sources' (None: inferred, as for -o)
    # Return the scores for an exact median: not past stats.EXACT_SCORES_BYTES of input.
    keep_scores: bool = True


@dataclass
class PartWritten:
    """What comes back: the partition's counters and errors (rows: its near-copies only),
    and the manifest's entry for the part, once it is in place."""

    result: PartResult
    entry: dict[str, Any] | None = None
    aside: list[Row] = field(default_factory=list)


class _Stop(Exception):
    """A bad record ends the partition (without --skip-invalid): the part is not written."""


def write_partition(job: ScoreJob, plan: PartPlan) -> PartWritten:
    """Runs on a worker: score one partition and write its part (see the module docstring)."""
    assert job.spec is not None, "a directory output scores records"
    shape = output_shape(plan.output_format, plan.score_key, plan.id_key, job.spec)
    counts = RunStats(scores=[] if plan.keep_scores else None)
    aside: list[Row] = []
    invalid: list[tuple[int, str, str]] = []
    out = PartFile(PartDir(plan.directory), plan.name, replace=plan.force, schema=plan.schema)
    writer = RecordWriter(out, plan.score_key, counts, shape=shape)

    def drain(rows: list[Row]) -> None:
        for row in rows:
            index, line_no, _, result, line = row
            if isinstance(result, float):
                counts.add_score(result)
                if below(result, plan.min_score):
                    counts.below_min_score += 1
                else:
                    writer.write(result, index, line)
            elif isinstance(result, Contaminated):
                aside.append(row)
            elif isinstance(result, Pruned):
                counts.add_pruned(result)
            elif isinstance(result, Skipped) and plan.skip_invalid:
                counts.skipped[result.reason] += 1
            else:
                invalid.append((line_no, result.reason, result.detail))
                raise _Stop

    try:
        found = score_partition(
            job, plan.part, batch_size=plan.batch_size, keep=None, cap=None, skip_invalid=plan.skip_invalid,
            drain=drain,
        )  # fmt: skip
    except _Stop:
        out.abort()
        return PartWritten(PartResult(RunStats(), invalid=invalid[0]))
    except BaseException:
        out.abort()
        raise
    if found.failure is not None or found.refused is not None:
        out.abort()
        return PartWritten(found)
    size, digest = out.commit()
    found.stats += counts
    entry = {"name": plan.name, "records": counts.selected, "bytes": size, "sha256": digest}
    return PartWritten(found, entry, aside)

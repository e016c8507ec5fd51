"""What scoring one record gives: its score, or why it has none.

Workers return one `Result` per record, in input order. Both engines, the audit and the
second reading of presample.py tell the kinds apart by type, never by parsing strings.
"""

from __future__ import annotations

from typing import NamedTuple


class Skipped(NamedTuple):
    """A record that could not be scored: bad JSON, no text, ... (records.RecordError)."""

    reason: str
    detail: str


class Pruned(NamedTuple):
    """--adaptive stopped the record at a checkpoint: the share of its comparisons reached
    there ("0.05", a key of the run's counts) and the comparisons it had made."""

    checkpoint: str
    cost: int


class Contaminated(NamedTuple):
    """--decontaminate found a near-copy of a target; `why` is a JSON object (which target,
    and the matching words or NCD: decontam.Decontaminator.explain)."""

    why: str


Result = float | Skipped | Pruned | Contaminated

"""The first record of a run, checked before any scoring starts.

Some problems are shared by every record of a corpus: an `--id-key` the data does not
have, a template field it does not hold, a text key that names the wrong field. Found at
write time they cost a whole run; found on the first record they cost a second. The check
raises what the run itself would raise later, naming the file and the line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..base.errors import InputError, InvalidRecordError, shown
from .reading import LongLine
from .records import RecordError, TextSpec, lookup, missing_key

# Records looked at, at most, for a first valid one when bad records are skipped: a corpus
# whose first records are all bad is checked by the run itself, as before.
LOOK_AHEAD = 1000


@dataclass(frozen=True)
class FirstRecordCheck:
    """What every record of the run must hold, besides being valid for `spec`."""

    spec: TextSpec
    skip_invalid: bool = False
    id_key: str | None = None  # the output writes it for each record (--output-format ids, attributes)
    output_format: str = "records"

    def check(self, path: str, records: Iterable[tuple[int, bytes]]) -> None:
        """Check the first record of `records` (the first valid one with skip_invalid);
        raises InvalidRecordError or InputError naming `path` and the line."""
        for seen, (line_no, line) in enumerate(records):
            if seen >= LOOK_AHEAD:
                return
            if isinstance(line, LongLine) and self.skip_invalid:
                continue
            try:
                record, _ = self.spec.parse(line)
            except RecordError as exc:
                if self.skip_invalid:
                    continue
                raise InvalidRecordError(path, line_no, exc.reason, exc.detail) from None
            self._check_fields(path, line_no, record)
            return

    def _check_fields(self, path: str, line_no: int, record: dict[str, object]) -> None:
        if self.id_key is None:
            return
        try:
            lookup(record, self.id_key)
        except KeyError:
            raise InputError(
                f"{shown(path)}:{line_no}: the record has {missing_key(record, self.id_key)}, and "
                f"--output-format {self.output_format} writes each record's id: nothing was scored",
                setting="id_key",
            ) from None

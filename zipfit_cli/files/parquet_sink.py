"""Parquet out (writers.WRITERS' `.parquet`): the JSON lines an `Output` is given, written
as row groups of at most GROUP_ROWS records, GROUP_BYTES of JSON or GROUP_CELLS cells
(records times columns: the schema may grow to thousands of fields), through pyarrow.

A schema given (the sources', when every source is Parquet of one schema, or the one a
merge's parts carry) is kept: each value is turned back by parquet_values' rules, and a
record that does not fit is an OutputError naming the field and the record.

Otherwise each row group's types are inferred from its records and the schema widens as
records bring new fields or types (parquet_widen: a new field becomes a nullable column, a
null column takes the first type it meets, integers and fractions make a float64 column, a
struct gains fields); two types no column holds both of (text and an object, say) are an
OutputError naming the field, the record, and JSONL as what takes them. Row groups are
spooled to an unnamed temporary file next to the output, a new one each time the schema
widens; at the end the output is that one file copied, or, when the schema widened, every
row group read back one at a time and cast to the final schema. Memory holds one row
group, whatever the output's size.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from ..base.errors import OutputError, shown
from .parquet_values import MISFITS, fits, from_json, pyarrow_modules
from .parquet_widen import Conflict, conform, json_kind, unify, widened
from .writers import JSONL_HINT, load_record

# A row group of the output: whichever comes first. Cells are rows times columns: a field a
# record lacks is a null that still takes its slot, so records that each bring new fields
# would otherwise grow a row group with their square.
GROUP_ROWS = 10_000
GROUP_BYTES = 64 << 20
GROUP_CELLS = 1 << 23


class _Spool:
    """Row groups of one schema, in an unnamed temporary file (gone however the run ends)."""

    def __init__(self, pq: Any, directory: str, schema: Any, first: int) -> None:
        self.schema = schema
        self.first = first  # the 0-based output position of its first record
        self.file = tempfile.TemporaryFile(dir=directory)
        self.writer = pq.ParquetWriter(self.file, schema)

    def finish(self) -> IO[bytes]:
        self.writer.close()
        self.file.seek(0)
        return self.file

    def drop(self) -> None:
        self.writer.is_open = False  # its __del__ would write a footer into a closed file
        self.file.close()


def _slices(pa: Any, stored: Any, columns: int) -> Iterator[Any]:
    """The row groups of `stored` as tables, each cut to at most GROUP_CELLS cells of a schema
    of `columns` columns (the final one, which may be far wider than theirs)."""
    rows = max(1, GROUP_CELLS // max(1, columns))
    for group in range(stored.num_row_groups):
        if stored.metadata.row_group(group).num_rows <= rows:
            yield stored.read_row_group(group)
            continue
        for batch in stored.iter_batches(batch_size=rows, row_groups=[group], use_threads=False):
            yield pa.Table.from_batches([batch])


def _failure(pa: Any, values: list[Any]) -> Exception:
    """What pyarrow says when `values` infer no one type."""
    try:
        pa.array(values)
    except (pa.ArrowException, OverflowError) as exc:
        return exc
    return ValueError("no error")


class ParquetSink:
    """Writes the JSON lines it is given (objects, one a line) to `raw` as Parquet; see the
    module docstring. `raw` stays open."""

    def __init__(self, raw: IO[bytes], path: str, schema: Any = None) -> None:
        self._pa, self._pq = pyarrow_modules("writing")
        self._raw = raw
        self.path = path
        self._schema = schema
        self._given = schema is not None  # the inputs' schema, not one inferred here
        self._writer: Any = None  # with a given schema: writing to `raw` directly
        self._spools: list[_Spool] = []  # inferred: the row groups so far, by schema
        self._rows: list[dict[str, Any]] = []
        self._size = 0
        self._pending = b""  # a line not yet ended
        self._names: set[str] = set(schema.names) if schema is not None else set()  # columns so far
        self._written = 0  # records in finished row groups
        self._discarded = False

    def write(self, data: bytes) -> None:
        *lines, self._pending = (self._pending + data).split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            try:
                row = load_record(line)
            except ValueError:
                row = None
            if not isinstance(row, dict):
                raise OutputError(
                    f"cannot write {shown(self.path)}: record {self._record_no(len(self._rows))} "
                    "is not a JSON object"
                )
            self._rows.append(row)
            self._names.update(row)
            self._size += len(line)
            full = len(self._rows) >= GROUP_ROWS or len(self._rows) * len(self._names) >= GROUP_CELLS
            if full or self._size >= GROUP_BYTES:
                self._flush()

    def _record_no(self, index: int) -> str:
        return f"{self._written + index + 1:,}"

    def _flush(self) -> None:
        if not self._rows:
            return
        try:
            if self._given:
                table = self._given_table(self._rows)
                if self._writer is None:
                    self._writer = self._pq.ParquetWriter(self._raw, table.schema)
                self._writer.write_table(table, row_group_size=len(self._rows))
            else:
                self._spool(self._inferred_table(self._rows))
        except self._pa.ArrowInvalid as exc:  # a null in a column the schema says is never null
            raise OutputError(
                f"cannot write {shown(self.path)}: records do not fit {self._whose()} ({shown(exc)})"
            ) from None
        except self._pa.ArrowNotImplementedError as exc:  # a struct that never had a field
            raise self._unstorable(exc) from None
        self._written += len(self._rows)
        self._rows, self._size = [], 0

    def _spool(self, table: Any) -> None:
        if not self._spools or not self._spools[-1].schema.equals(table.schema):
            directory = os.path.dirname(os.path.realpath(self.path))
            if self._spools:  # done with: its writer's buffers (per column) need not stay
                self._spools[-1].writer.close()
            self._spools.append(_Spool(self._pq, directory, table.schema, self._written))
        self._spools[-1].writer.write_table(table, row_group_size=table.num_rows)

    def _inferred_table(self, rows: list[dict[str, Any]]) -> Any:
        """The rows as a table of the schema so far, widened to hold them."""
        names = list(dict.fromkeys(k for row in rows for k in row))
        columns = {name: self._inferred(rows, name) for name in names}
        try:
            schema = widened(self._schema, {name: column.type for name, column in columns.items()})
        except Conflict as conflict:
            raise self._conflict(rows, conflict) from None
        table = self._pa.Table.from_arrays(list(columns.values()), names=names)
        try:
            table = conform(table, schema)
        except self._pa.ArrowInvalid:
            raise self._inexact(table, schema) from None
        self._schema = schema
        return table

    def _inferred(self, rows: list[dict[str, Any]], name: str) -> Any:
        """One column's values as an array of the type they infer; values that infer no one
        type are an OutputError naming the first record that breaks it."""
        pa = self._pa
        values = [row.get(name) for row in rows]
        try:
            return pa.array(values)
        except (pa.ArrowException, OverflowError):
            pass
        low, high = 0, len(values)  # values[:low] infer a type; values[:high] do not
        while high - low > 1:
            middle = (low + high) // 2
            try:
                pa.array(values[:middle])
                low = middle
            except (pa.ArrowException, OverflowError):
                high = middle
        value, before = values[high - 1], pa.array(values[: high - 1]).type
        try:
            unify(before, pa.array([value]).type, name)
            problem = str(_failure(pa, values[:high])).splitlines()[0]
            what = f"which makes the column float64, and an integer before it is not exactly one ({problem})"
        except (pa.ArrowException, OverflowError) as exc:
            what = f"which no Parquet type holds ({str(exc).splitlines()[0]})"
        except Conflict:
            what = f"where the records before it in its row group hold {before}"
        raise self._error(name, high - 1, f"is {json_kind(value)}, {what}")

    def _conflict(self, rows: list[dict[str, Any]], conflict: Conflict) -> OutputError:
        """The error for the first record whose value of the column cannot join its type."""
        name, old = conflict.column, self._schema.field(conflict.column).type
        at, value = 0, None
        for i, row in enumerate(rows):
            if row.get(name) is None:
                continue
            try:
                unify(old, self._pa.array([row[name]]).type, name)
            except Conflict:
                at, value = i, row[name]
                break
        where = f" ({shown(conflict.path)} differs)" if conflict.path != name else ""
        return self._error(name, at, f"is {json_kind(value)}{where}, where earlier records hold {old}")

    def _inexact(self, table: Any, schema: Any) -> OutputError:
        """The error for an integer no double holds exactly, in a column fractions made float64."""
        for field in schema:
            if field.name not in table.schema.names:
                continue
            column = table.column(field.name)
            for i in range(len(column)):
                try:
                    column.slice(i, 1).cast(field.type)
                except self._pa.ArrowInvalid:
                    what = f"holds an integer beyond 2**53, which its {field.type} column cannot hold exactly"
                    return self._error(field.name, i, what)
        return OutputError(f"cannot write {shown(self.path)}: records do not fit the schema")

    def _unstorable(self, exc: Exception) -> OutputError:
        problem = str(exc).splitlines()[0]
        return OutputError(
            f"cannot write {shown(self.path)}: Parquet cannot store these records ({shown(problem)}); "
            + JSONL_HINT
        )

    def _error(self, name: str, index: int, what: str) -> OutputError:
        field = f"field '{shown(name)}' of record {self._record_no(index)}"
        return OutputError(
            f"cannot write {shown(self.path)}: {field} {what}; "
            f"a Parquet column holds one type: {JSONL_HINT}, or give "
            "the field one type"
        )

    def _given_table(self, rows: list[dict[str, Any]]) -> Any:
        """The rows as a table of the given schema, each value turned back (parquet_values)."""
        pa = self._pa
        known = set(self._schema.names)
        for i, row in enumerate(rows):
            extra = next((k for k in row if k not in known), None)
            if extra is not None:
                where = shown(self.path)
                raise OutputError(f"cannot write {where}: {self._misfit(i, extra)}: no such column")
        columns = []
        for field in self._schema:
            convert = from_json(field.type)
            values = [row.get(field.name) for row in rows]
            try:
                if convert is not None:
                    values = [v if v is None else convert(v) for v in values]
                columns.append(pa.array(values, type=field.type))
            except (pa.ArrowException, *MISFITS) as exc:
                at = next((i for i, v in enumerate(values) if not fits(pa, v, field.type, convert)), 0)
                problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise OutputError(
                    f"cannot write {shown(self.path)}: {self._misfit(at, field.name)}: "
                    f"not {field.type} ({shown(problem)})"
                ) from None
        return pa.Table.from_arrays(columns, schema=self._schema)

    def _whose(self) -> str:
        return "the input Parquet schema" if self._given else "the schema"

    def _misfit(self, index: int, name: str) -> str:
        return f"field '{shown(name)}' of record {self._record_no(index)} does not fit {self._whose()}"

    def flush(self) -> None:
        """Rows are written a row group at a time; nothing to do until one is full."""

    def close(self) -> None:
        """Write what is left and the footer; an empty output still gets a schema."""
        if self._discarded:
            return
        self._flush()
        if self._given or not self._spools:
            if self._writer is None:
                schema = self._schema if self._schema is not None else self._pa.schema([])
                self._writer = self._pq.ParquetWriter(self._raw, schema)
            self._writer.close()
            return
        try:
            self._unspool()
        except self._pa.ArrowNotImplementedError as exc:
            raise self._unstorable(exc) from None
        finally:
            for spool in self._spools:
                spool.drop()
            self._spools = []

    def _unspool(self) -> None:
        """The spooled row groups into `raw`: copied as they are under one schema, else each
        read back and cast to the final one."""
        if len(self._spools) == 1:
            shutil.copyfileobj(self._spools[0].finish(), self._raw, 1 << 20)
            return
        final = self._spools[-1].schema
        self._writer = self._pq.ParquetWriter(self._raw, final)
        for spool in self._spools:
            stored = self._pq.ParquetFile(spool.finish())
            offset = spool.first
            for table in _slices(self._pa, stored, len(final)):
                try:
                    table = conform(table, final)
                except self._pa.ArrowInvalid:
                    self._written = offset
                    raise self._inexact(table, final) from None
                self._writer.write_table(table, row_group_size=table.num_rows)
                offset += table.num_rows
        self._writer.close()

    def discard(self) -> None:
        """Drop everything: the file is being removed."""
        self._rows = []
        if self._writer is not None:
            # Its __del__ would write the footer into a file that is closed and gone by then.
            self._writer.is_open = False
            self._writer = None
        for spool in self._spools:
            spool.drop()
        self._spools = []
        self._discarded = True

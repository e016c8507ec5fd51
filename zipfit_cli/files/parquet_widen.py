"""Widening an inferred Parquet schema as records bring new fields and types (parquet_sink).

Types inferred from JSON values are null, bool, int64, double, string, list and struct.
Two of them unify when every value of both keeps its meaning in the result:

- the same type: itself; null (a field missing, or null in every record so far) and T: T
- int64 and double: double, as long as each integer is exactly a double (|n| <= 2**53);
  a larger one is a conflict, found when the column is cast
- list<A> and list<B>: list of A and B unified; struct and struct: the fields of both
  (the first's in order, then the new ones), those in both unified

Anything else (text and a number, a struct and text, a boolean and an integer) is a
`Conflict`, naming the field's dotted path; the sink turns it into an error naming the
record and what to do.
"""

from __future__ import annotations

from typing import Any

from .parquet_values import pyarrow_modules


class Conflict(Exception):
    """Two types no column can hold both of; `path` is the field's, dotted into structs."""

    def __init__(self, path: str, old: Any, new: Any) -> None:
        super().__init__(path)
        self.path = path
        self.column = path  # the top-level column, set by `widened`
        self.old = old
        self.new = new


def unify(old: Any, new: Any, path: str) -> Any:
    """The type that holds both `old` and `new`, by the rules above; else Conflict."""
    pa, _ = pyarrow_modules("writing")
    t = pa.types
    if old == new or t.is_null(new):
        return old
    if t.is_null(old):
        return new
    if {old, new} == {pa.int64(), pa.float64()}:
        return pa.float64()
    if t.is_list(old) and t.is_list(new):
        return pa.list_(unify(old.value_type, new.value_type, f"{path}[]"))
    if t.is_struct(old) and t.is_struct(new):
        theirs = {field.name: field for field in new}
        fields = [
            field.with_type(unify(field.type, theirs[field.name].type, f"{path}.{field.name}"))
            if field.name in theirs
            else field
            for field in old
        ]
        known = {field.name for field in old}
        return pa.struct([*fields, *(field for field in new if field.name not in known)])
    raise Conflict(path, old, new)


def widened(schema: Any, columns: dict[str, Any]) -> Any:
    """`schema` (None: none yet) widened to hold `columns` (name -> inferred type): new
    names appended in order, nullable; Conflict when one cannot be."""
    pa, _ = pyarrow_modules("writing")
    if schema is None:
        return pa.schema([pa.field(name, kind) for name, kind in columns.items()])
    fields = []
    for field in schema:
        try:
            kind = unify(field.type, columns[field.name], field.name) if field.name in columns else field.type
        except Conflict as conflict:
            conflict.column = field.name
            raise
        fields.append(field.with_type(kind))
    known = set(schema.names)
    return pa.schema([*fields, *(pa.field(n, k) for n, k in columns.items() if n not in known)])


def conform(table: Any, schema: Any) -> Any:
    """`table` cast to `schema`, a widening of its own: missing columns null, the rest cast
    safely (an integer that is not exactly a double raises pyarrow's ArrowInvalid)."""
    pa, _ = pyarrow_modules("writing")
    names = set(table.schema.names)
    n = table.num_rows
    columns = [table.column(f.name).cast(f.type) if f.name in names else pa.nulls(n, f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def json_kind(value: Any) -> str:
    """What a JSON value is, in words, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "an array" if isinstance(value, list) else "an object"

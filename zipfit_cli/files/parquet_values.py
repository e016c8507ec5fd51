"""Parquet values as JSON and back: the rules `parquet.ParquetSource` reads by and
`parquet_sink.ParquetSink` reverses, and pyarrow (the optional `[parquet]` extra) itself.

- struct: a nested object (so `--text-key meta.content` reaches into it); list: an array;
  map: an array of `[key, value]` pairs
- date, time, timestamp: ISO 8601 text (`2024-05-01T12:00:00+00:00`); nanoseconds are cut
  to microseconds, which is what Python's datetime holds
- decimal: its digits as text (`"12.50"`); duration: seconds as a number
- binary: its UTF-8 text when it is valid UTF-8 and does not start with `base64:`; otherwise
  `"base64:"` and the standard base64 of the bytes, so the two cannot be confused
- NaN and infinite floats: null (JSON has no such numbers)
"""

from __future__ import annotations

import base64
import datetime
import decimal
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from ..base.errors import InputError, UsageError, shown
from .reading import LongLine

BASE64_PREFIX = "base64:"


def pyarrow_modules(doing: str = "reading") -> tuple[Any, Any]:
    """(pyarrow, pyarrow.parquet), or the one-line error naming the extra."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise UsageError(f"{doing} Parquet needs pyarrow: pip install 'zipfit-cli[parquet]'") from None
    return pyarrow, pyarrow.parquet


def _bytes_to_json(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and not text.startswith(BASE64_PREFIX):
        return text
    return BASE64_PREFIX + base64.b64encode(data).decode("ascii")


def json_default(value: Any) -> Any:
    """What orjson cannot encode by itself, as the module docstring says."""
    if isinstance(value, bytes | bytearray | memoryview):
        return _bytes_to_json(bytes(value))
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, datetime.date | datetime.time):  # subclasses orjson refuses (pandas')
        return value.isoformat()
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


def microseconds(kind: Any) -> Any:
    """`kind` with nanosecond temporal types (recursively) at microseconds, for to_pylist."""
    pa, _ = pyarrow_modules()
    t = pa.types
    if (t.is_timestamp(kind) or t.is_time64(kind) or t.is_duration(kind)) and kind.unit == "ns":
        if t.is_timestamp(kind):
            return pa.timestamp("us", kind.tz)
        return pa.time64("us") if t.is_time64(kind) else pa.duration("us")
    if t.is_struct(kind):
        return pa.struct([f.with_type(microseconds(f.type)) for f in kind])
    if t.is_large_list(kind):
        return pa.large_list(kind.value_field.with_type(microseconds(kind.value_type)))
    if t.is_list(kind):
        return pa.list_(kind.value_field.with_type(microseconds(kind.value_type)))
    if t.is_map(kind):
        return pa.map_(kind.key_field.with_type(microseconds(kind.key_type)), microseconds(kind.item_type))
    return kind


def from_json(kind: Any) -> Callable[[Any], Any] | None:
    """A function that turns a JSON value back into the Python value pyarrow takes for a
    column of type `kind` (reversing the rules above), or None when none is needed."""
    pa, _ = pyarrow_modules()
    t = pa.types
    if t.is_binary(kind) or t.is_large_binary(kind) or t.is_fixed_size_binary(kind):
        return _json_to_bytes
    if t.is_timestamp(kind):
        return datetime.datetime.fromisoformat
    if t.is_date(kind):
        return datetime.date.fromisoformat
    if t.is_time(kind):
        return datetime.time.fromisoformat
    if t.is_decimal(kind):
        return decimal.Decimal
    if t.is_duration(kind):
        return lambda v: datetime.timedelta(seconds=v)
    if t.is_struct(kind):
        inner = {f.name: c for f in kind if (c := from_json(f.type)) is not None}
        if not inner:
            return None
        return lambda v: {k: (x if x is None or k not in inner else inner[k](x)) for k, x in v.items()}
    if t.is_list(kind) or t.is_large_list(kind) or t.is_fixed_size_list(kind):
        item = from_json(kind.value_type)
        return None if item is None else (lambda v: [x if x is None else item(x) for x in v])
    if t.is_map(kind):
        key = from_json(kind.key_type) or _same
        value = from_json(kind.item_type) or _same
        return lambda v: [(key(k), x if x is None else value(x)) for k, x in v]
    return None


def _same(value: Any) -> Any:
    return value


def _json_to_bytes(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{type(value).__name__} where text or base64 was expected")
    if value.startswith(BASE64_PREFIX):
        return base64.b64decode(value[len(BASE64_PREFIX) :], validate=True)
    return value.encode("utf-8")


# What turning JSON values into a column can raise when they do not fit its type (a schema
# from a part is data too: a struct where a string was comes back as AttributeError).
MISFITS: tuple[type[Exception], ...] = (
    ArithmeticError,
    AttributeError,
    LookupError,
    TypeError,
    ValueError,
    decimal.InvalidOperation,
)


def fits(pa: Any, value: Any, kind: Any, convert: Callable[[Any], Any] | None) -> bool:
    try:
        pa.array([value if value is None or convert is None else convert(value)], type=kind)
    except Exception:
        return False
    return True


class JsonRows:
    """Rows of Arrow record batches of one schema as JSON lines, by the rules above: what
    the Parquet and Arrow readers share, so one table reads the same in either format."""

    def __init__(self, schema: Any, path: str, max_line_bytes: int) -> None:
        self._pa, _ = pyarrow_modules()
        self.path = path
        self.limit = max_line_bytes
        self._wanted = [microseconds(f.type) for f in schema]
        self._casts = [i for i, (f, w) in enumerate(zip(schema, self._wanted, strict=True)) if f.type != w]

    def lines(self, batch: Any, before: int) -> Iterator[bytes]:
        """Each row of `batch` as one JSON object and a newline (a LongLine when over the
        limit); `before`: rows of the source before this batch, for the row an error names."""
        if self._casts:
            columns = list(batch.columns)
            for i in self._casts:
                columns[i] = columns[i].cast(self._wanted[i], safe=False)
            batch = self._pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
        limit = self.limit
        dumps, default, option = orjson.dumps, json_default, orjson.OPT_APPEND_NEWLINE
        for n, row in enumerate(batch.to_pylist(), before + 1):
            try:
                line = dumps(row, default=default, option=option)
            except orjson.JSONEncodeError as exc:
                raise InputError(f"{shown(self.path)}:{n}: row cannot be JSON: {exc}") from None
            yield line if len(line) <= limit + 1 else LongLine(len(line), limit)

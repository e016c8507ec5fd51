"""Records: from one JSONL line to the UTF-8 text that gets scored, or the reason it can't be.

Parsing runs in the workers (`TextSpec.parse`), so the main process only splits lines.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..base.errors import InputError, UsageError, shown
from .compression import sniff_compression
from .reading import DEFAULT_MAX_LINE_BYTES, WHITESPACE, BadRecord, LongLine, is_plain_text, read_lines

# Reasons a record cannot be scored, with the text shown to users.
REASONS = {
    "malformed_json": "malformed JSON",
    "malformed_row": "CSV/TSV row that cannot be read: wrong width, NUL byte, quote never closed",
    "invalid_utf8": "not valid UTF-8",
    "not_object": "JSON value is not an object",
    "missing_key": "text field missing",
    "not_string": "text field is not a string",
    "empty_text": "text is empty or whitespace only",
    "too_long": "text or line longer than its size limit",
}


class RecordError(InputError):
    """A record that cannot be scored; `reason` is a key of REASONS."""

    def __init__(self, reason: str, detail: str, *, setting: str | None = None) -> None:
        super().__init__(detail, setting=setting)
        self.reason = reason
        self.detail = detail


def encode_text(text: str | bytes) -> bytes:
    """UTF-8 bytes of a text; lone surrogates (from JSON escapes) are kept, not refused."""
    return text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text


@functools.lru_cache(maxsize=64)
def key_path(key: str) -> tuple[str, ...]:
    """The names along a dotted key: `meta.content` is ('meta', 'content'); a backslash takes
    the next character as it is, so `a.b\\.c` is ('a', 'b.c')."""
    parts, name, escaped = [], [], False
    for ch in key:
        if escaped:
            name.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ".":
            parts.append("".join(name))
            name = []
        else:
            name.append(ch)
    parts.append("".join(name) + ("\\" if escaped else ""))
    return tuple(parts)


def field_name(key: str) -> str:
    """The name a key is written under as an output field: a key naming one field by
    itself is that field's name, escapes removed (`doc\\.id` is `doc.id`); a dotted path
    keeps the key as given."""
    path = key_path(key)
    return path[0] if len(path) == 1 else key


def lookup(record: dict[str, Any], key: str) -> Any:
    """The value under `key`: a field named exactly `key` if there is one (names may hold
    dots: `meta.content` from a flattened export), else the dotted path; raises KeyError."""
    if key in record:
        return record[key]
    value: Any = record
    for part in key_path(key):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(part)
        value = value[part]
    return value


def missing_key(record: dict[str, Any], key: str, what: str = "field") -> str:
    """Why `key` found nothing in `record`, naming each reading of the key that was tried."""
    path = key_path(key)
    tried = f": tried the field named '{shown(key)}' and the path {' > '.join(repr(shown(p)) for p in path)}"
    fields = ", ".join(shown(name) for name in list(record)[:8])
    return f"no '{shown(key)}' {what}{tried if len(path) > 1 else ''} (fields: {fields or 'none'})"


@dataclass(frozen=True)
class TextSpec:
    """Where a record's text comes from: a (dotted) key, or a str.format template.

    `setting` names the option this spec came from (text_key or target_key), for error hints.
    """

    key: str = "text"
    template: str | None = None
    max_bytes: int = 0  # 0: no limit
    fields: tuple[str, ...] = field(default=(), compare=False)
    setting: str = field(default="text_key", compare=False)
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES  # what the readers of these records cap lines at

    @classmethod
    def build(
        cls,
        key: str = "text",
        template: str | None = None,
        max_bytes: int = 0,
        setting: str = "text_key",
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> TextSpec:
        fields: tuple[str, ...] = ()
        if template is None and not key:
            raise UsageError("the text key needs a field name", setting=setting)
        if template is not None:
            fields = tuple(name for _, name in _template_pieces(template) if name is not None)
            if not fields:
                raise UsageError(
                    f"template '{shown(template)}' names no field, like {{prompt}}", setting="target_template"
                )
        return cls(key, template, max_bytes, fields, setting, max_line_bytes)

    def value_of(self, record: Any) -> Any:
        """The value under the (dotted) key; raises KeyError."""
        return lookup(record, self.key)

    def text_of(self, record: Any) -> bytes:
        """The UTF-8 text of one parsed record; raises RecordError."""
        if not isinstance(record, dict):
            raise RecordError("not_object", f"JSON value is a {type(record).__name__}, not an object")
        if self.template is not None:
            text = self._render(record)
        else:
            try:
                text = lookup(record, self.key)
            except KeyError:
                raise RecordError(
                    "missing_key", missing_key(record, self.key), setting=self.setting
                ) from None
            if not isinstance(text, str):
                kind = "null" if text is None else type(text).__name__
                raise RecordError("not_string", f"{self.key!r} is {kind}, not a string")
        if not text.strip():
            raise RecordError("empty_text", "text is empty or whitespace only")
        data = encode_text(text)
        if self.max_bytes and len(data) > self.max_bytes:
            raise RecordError(
                "too_long",
                f"text is {len(data):,} bytes, over the text-length limit of {self.max_bytes:,}",
                setting="max_text_bytes",
            )
        return data

    def _render(self, record: dict[str, Any]) -> str:
        """The template with each field's value; fields are looked up like keys, never
        through str.format (which would reach attributes and items of the values)."""
        assert self.template is not None
        text: list[str] = []
        for literal, name in _template_pieces(self.template):
            text.append(literal)
            if name is None:
                continue
            try:
                value = lookup(record, name)
            except KeyError:
                raise RecordError("missing_key", missing_key(record, name, "template field")) from None
            if value is None or isinstance(value, dict | list):
                kind = "null" if value is None else type(value).__name__
                raise RecordError("not_string", f"template field '{shown(name)}' is {kind}, not text")
            text.append(str(value))  # what str.format wrote for numbers and booleans
        return "".join(text)

    def parse(self, line: bytes) -> tuple[Any, bytes]:
        """(record, text) of one JSONL line; raises RecordError."""
        if isinstance(line, LongLine):
            detail = (
                f"line is {line.size:,} bytes, over the line-length limit of {line.limit:,}"
                if line.measured
                else f"line is over the line-length limit of {line.limit:,} (not read further)"
            )
            raise RecordError("too_long", detail, setting="max_line_bytes")
        if isinstance(line, BadRecord):
            raise RecordError(line.reason, line.detail)
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as uexc:
                kind = sniff_compression(line)
                hint = f"; it looks {kind}-compressed: name the file .{kind}" if kind else ""
                raise RecordError("invalid_utf8", f"not valid UTF-8 at byte {uexc.start}{hint}") from None
            raise RecordError("malformed_json", f"malformed JSON: {_json_problem(exc)}") from None
        return record, self.text_of(record)


@functools.lru_cache(maxsize=16)
def _template_pieces(template: str) -> tuple[tuple[str, str | None], ...]:
    """(literal text, field name or None) of a template; anything in a field but a name or a
    dotted path (an index, a conversion, a format spec, an attribute) is a UsageError."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise UsageError(f"bad template '{shown(template)}': {exc}", setting="target_template") from None
    pieces: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is not None:
            field_ = (
                "{"
                + shown(name)
                + (f"!{shown(conversion)}" if conversion else "")
                + (f":{shown(spec)}" if spec else "")
                + "}"
            )
            problem = _template_field_problem(name, spec, conversion)
            if problem:
                raise UsageError(
                    f"template field {field_}: {problem}; fields are names or dotted paths, like {{prompt}} "
                    "or {meta.title}",
                    setting="target_template",
                )
        pieces.append((literal, name))
    return tuple(pieces)


def _template_field_problem(name: str, spec: str | None, conversion: str | None) -> str | None:
    if name == "" or name.isdigit():
        return "it needs a name"
    if conversion is not None:
        return f"conversions (!{shown(conversion)}) are not supported"
    if spec:
        return "format specs (:...) are not supported"
    if "[" in name or "]" in name:
        return "indexing ([...]) is not supported"
    if any(part.startswith("__") and part.endswith("__") for part in key_path(name)[1:]):
        return "attribute access is not supported"
    return None


def _json_problem(exc: Exception) -> str:
    # orjson says "…: line 1 column 9 (char 8)"; the line is ours to name, the column is not.
    text = str(exc)
    match = re.search(r": line \d+ column \d+ \(char (\d+)\)$", text)
    return f"{text[: match.start()]} at character {match.group(1)}" if match else text


# Fields that name an example (HumanEval's task_id, most corpora's id), for messages.
ID_FIELDS = ("id", "task_id")


def load_texts(
    paths: Sequence[str], spec: TextSpec, role: str = "target", ids: list[str | None] | None = None
) -> list[bytes]:
    """All texts of small example files (targets, backgrounds), in order. JSONL files by
    default; '.txt' files hold one example a line.

    They must all be valid: any bad line is an error naming file and line, and an empty
    set is an error too (`role` names the set in messages). `ids`, when given, receives
    each example's id (its `id` or `task_id` field), or None.
    """
    texts: list[bytes] = []
    for path in paths:
        for line_no, line, plain in _example_lines(path, spec, role):
            try:
                record: Any = None
                if plain and isinstance(line, LongLine):
                    spec.parse(line)  # raises too_long
                if plain:
                    text = line.rstrip(b"\r\n")
                    text.decode("utf-8")
                    texts.append(text)
                else:
                    record, text = spec.parse(line)
                    texts.append(text)
                if ids is not None:
                    ids.append(_id_of(record))
            except RecordError as exc:
                hint = (
                    f" ({role}s are JSONL; a .txt file holds one example a line)"
                    if exc.reason == "malformed_json"
                    else ""
                )
                # A target without the key may want a template over its fields instead.
                also = ("target_template",) if exc.settings == ("target_key",) and not spec.template else ()
                raise InputError(
                    f"{shown(path)}:{line_no}: {role}: {exc.detail}{hint}", setting=(*exc.settings, *also)
                ) from None
            except UnicodeDecodeError as exc:
                where = f"{shown(path)}:{line_no}"
                raise InputError(f"{where}: {role}: not valid UTF-8 at byte {exc.start}") from None
    if not texts:
        raise InputError(f"no {role} examples in {', '.join(map(shown, paths))}: the {role} set is empty")
    return texts


def _example_lines(path: str, spec: TextSpec, role: str) -> list[tuple[int, bytes, bool]]:
    """(number, record or line, whether it is a plain-text line) of one small example file,
    read whole: through the reader its format has (sources.py), or as text lines."""
    from .sources import open_source

    plain = is_plain_text(path)
    try:
        lines: Iterable[tuple[int, bytes]]
        source = None if plain else open_source(path, spec.max_line_bytes, measure_long=False)
        lines = read_lines(path, spec.max_line_bytes, measure_long=False) if source is None else source
        found: list[tuple[int, bytes, bool]] = []
        try:
            for n, line in lines:
                if not plain or line.strip(WHITESPACE):
                    found.append((n, line, plain))
                if isinstance(line, LongLine):
                    break  # an error: reading on could take for ever (/dev/zero has no newline)
        finally:
            if source is not None:
                source.close()
        return found
    except InputError as exc:
        raise InputError(f"{role} file {exc}") from None


def _id_of(record: Any) -> str | None:
    if isinstance(record, dict):
        for key in ID_FIELDS:
            value = record.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                return str(value)
    return None

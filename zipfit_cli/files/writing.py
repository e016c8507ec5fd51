"""Output records: the input line with the score added, every original byte kept; in shard
parts also the input index and a closing trailer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import orjson

from ..base.errors import InputError, UsageError, shown
from ..base.stats import RunStats
from .records import TextSpec, field_name, missing_key
from .shards import part_trailer, tag_distances, tag_index


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...


def add_score(line: bytes, key: str, score: float) -> bytes:
    """The JSONL line with `key: score` added, every original byte of the record kept.

    If the record already has the key (re-scoring earlier output), its value is replaced
    in place, so the other fields keep their exact bytes (big integers, 1.10, escapes).
    """
    return add_field(line, key, score)


def add_field(line: bytes, key: str, value: Any) -> bytes:
    """The JSONL line with `key: value` added (or its value replaced), as `add_score` does."""
    key_json, value_json = orjson.dumps(key), orjson.dumps(value)
    body = line.rstrip()
    # Scanning is slow in Python: only when the key is there, or may be there escaped.
    maybe_escaped = key_json not in body and b"\\" in body and key in orjson.loads(body)
    if key_json in body or maybe_escaped:
        span = _top_level_value(body, key)
        if span is not None:
            start, end = span
            return body[:start] + value_json + body[end:] + b"\n"
    head = body[:-1].rstrip()
    sep = b"" if head.endswith(b"{") else b","
    return head + sep + key_json + b":" + value_json + b"}\n"


def _top_level_value(obj: bytes, key: str) -> tuple[int, int] | None:
    """Byte span of the last top-level value under `key` in a valid JSON object, if any."""
    found = None
    depth = 0
    i, n = 0, len(obj)
    want_key = False  # at depth 1, the next string is a key
    while i < n:
        c = obj[i]
        if c == 0x22:  # a string
            j = _string_end(obj, i)
            if depth == 1 and want_key:
                colon = obj.index(b":", j)
                if orjson.loads(obj[i:j]) == key:
                    start = colon + 1
                    while obj[start] in b" \t\r\n":
                        start += 1
                    found = (start, _value_end(obj, start))
                want_key = False
                i = colon + 1
                continue
            i = j
            continue
        if c in b"{[":
            depth += 1
            if depth == 1:
                want_key = True
        elif c in b"}]":
            depth -= 1
        elif c == 0x2C and depth == 1:  # ","
            want_key = True
        i += 1
    return found


def _string_end(obj: bytes, i: int) -> int:
    """Index just past the JSON string that starts at `i` (its opening quote)."""
    i += 1
    while obj[i] != 0x22:
        i += 2 if obj[i] == 0x5C else 1
    return i + 1


def _value_end(obj: bytes, start: int) -> int:
    """Index just past the JSON value that starts at `start`."""
    first = obj[start]
    if first == 0x22:
        return _string_end(obj, start)
    if first in b"{[":
        depth, i = 0, start
        while True:
            c = obj[i]
            if c == 0x22:
                i = _string_end(obj, i)
                continue
            if c in b"{[":
                depth += 1
            elif c in b"}]":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
    i = start  # a number, true, false or null
    while obj[i] not in b",}] \t\r\n":
        i += 1
    return i


# (record line, its score) -> the output line, for score-only outputs (--output-format).
Shape = Callable[[bytes, float], bytes]
OUTPUT_FORMATS = ("records", "ids", "attributes")


def refuse_ranked_attributes(kind: str, ranked: bool) -> None:
    """Dolma attribute files hold one line per document, in input order: a selection (a top
    K, a fraction, filters), written in rank order, cannot be one."""
    if kind == "attributes" and ranked:
        raise UsageError(
            "an attribute file needs one line per document in input order, and a selection is "
            "written in rank order: write attributes with `zipfit score --output-format attributes` "
            "(or `zipfit merge` of score parts without -k, --fraction, --dedupe or budgets)",
            setting="output_format",
        )


def check_output_format(kind: str, score_key: str, id_key: str) -> None:
    """The output format is known, and its fields do not collide: an ids line holds the id
    and the score side by side, so one key for both would keep the score alone."""
    if kind not in OUTPUT_FORMATS:
        raise UsageError(f"unknown output format '{shown(kind)}'; choose one of: {', '.join(OUTPUT_FORMATS)}")
    if kind == "ids" and score_key == field_name(id_key):
        raise UsageError(
            f"the score key and the id key are both '{shown(score_key)}': the score would replace "
            "the id in every ids line; choose another",
            setting=("score_key", "id_key"),
        )


def output_shape(kind: str, score_key: str, id_key: str, spec: TextSpec) -> Shape | None:
    """What an output line holds: the whole record with its score (records: None), the id and
    the score (ids), or a Dolma attribute line (attributes: the score over the whole text, as
    a [start, end, score] span in characters, under the score key's name)."""
    check_output_format(kind, score_key, id_key)
    if kind == "records":
        return None
    id_spec = TextSpec.build(id_key, setting="id_key")

    def record_id(record: Any) -> Any:
        try:
            return id_spec.value_of(record)
        except KeyError:
            why = missing_key(record, id_key) if isinstance(record, dict) else f"no '{shown(id_key)}' field"
            raise InputError(f"a record to write has {why}", setting="id_key") from None

    id_name = field_name(id_key)

    def ids(line: bytes, score: float) -> bytes:
        return orjson.dumps({id_name: record_id(orjson.loads(line)), score_key: score}) + b"\n"

    def attributes(line: bytes, score: float) -> bytes:
        record = orjson.loads(line)
        chars = len(spec.text_of(record).decode("utf-8", "surrogatepass"))
        span = {score_key: [[0, chars, score]]}
        return orjson.dumps({"id": record_id(record), "attributes": span}) + b"\n"

    return ids if kind == "ids" else attributes


class RecordWriter:
    """Writes output records, with the score added; in shard parts, also the index and a trailer."""

    def __init__(
        self,
        sink: Sink,
        score_key: str,
        stats: RunStats,
        part: dict[str, Any] | None = None,
        ranked: bool = False,
        scored: bool = False,
        shape: Shape | None = None,
    ) -> None:
        self.sink = sink
        self.score_key = score_key
        self.stats = stats
        self.part = part
        self.ranked = ranked  # output in rank order: the last score written is the threshold
        self.scored = scored  # lines already carry their score (merging parts)
        self.shape = shape

    def write(self, score: float, index: int, line: bytes) -> None:
        # A score with its distances to the targets (select --coverage): a part keeps them.
        distances: tuple[float, ...] | None = getattr(score, "distances", None)
        score = float(score)
        if self.shape is not None:
            out = self.shape(line, score)
        else:
            out = line if self.scored else add_score(line, self.score_key, score)
        if self.part is not None:
            if distances is not None:
                out = tag_distances(out, distances)
            out = tag_index(out, index)
        self.sink.write(out)
        self.stats.selected += 1
        if self.ranked:
            self.stats.threshold = score

    def close(self) -> None:
        if self.part is not None:
            self.sink.write(part_trailer(self.part, self.stats))

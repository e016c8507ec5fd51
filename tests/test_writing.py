"""Output lines (writing.py): the score added to the input line, every other byte kept; ids and attributes."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from conftest import FAST, SOURCE, WriteJsonl, ok, records, run

from zipfit_cli.files.writing import add_score

# --- add_score -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b'{"id": "a-1", "text": "x  y", "n": 1.50, "u": "caf\\u00e9"}\n',
        '{"text":"naïve","nested":{"k":[1, 2 ,3]}}\n'.encode(),
        b'{"text": "no newline at end"}',
        b'{"text": "crlf"}\r\n',
        b'{"text": "mentions \\"zipfit_score\\" and zipfit_score"}\n',
    ],
)
def test_add_score_keeps_original_bytes_and_appends(line: bytes) -> None:
    out = add_score(line, "zipfit_score", 0.123456789)
    assert out.endswith(b"\n") and out.count(b"\n") == 1
    body = line.rstrip(b"\r\n")
    assert out.startswith(body[:-1])  # every original byte up to the closing brace
    record = json.loads(out)
    original = json.loads(line)
    assert record.pop("zipfit_score") == 0.123456789
    assert record == original
    assert list(json.loads(out))[-1] == "zipfit_score"


def test_add_score_to_empty_object() -> None:
    assert json.loads(add_score(b"{}\n", "s", 0.5)) == {"s": 0.5}
    assert json.loads(add_score(b"{ }\n", "s", 0.5)) == {"s": 0.5}


def test_add_score_replaces_existing_key() -> None:
    out = add_score(b'{"text": "a", "zipfit_score": 0.9, "z": 1}\n', "zipfit_score", 0.25)
    assert out.endswith(b"\n")
    record = json.loads(out)
    assert record == {"text": "a", "zipfit_score": 0.25, "z": 1}
    assert out.count(b"zipfit_score") == 1


def test_add_score_nested_key_is_not_the_key() -> None:
    out = add_score(b'{"meta": {"zipfit_score": 1}}\n', "zipfit_score", 0.5)
    assert json.loads(out) == {"meta": {"zipfit_score": 1}, "zipfit_score": 0.5}


def test_add_score_custom_key_and_float_roundtrip() -> None:
    score = 0.1 + 0.2
    out = add_score(b'{"text": "a"}\n', "my score", score)
    assert json.loads(out)["my score"] == score


@pytest.mark.parametrize(
    "line",
    [
        b'{"text":"x","big":12345678901234567890123,"f":1.10,"zipfit_score":0.5}\n',
        b'{"zipfit_score": {"a": [1, "}"]}, "x": 1.10, "e": "\\u00e9"}\n',
        b'{"a": {"zipfit_score": 1}, "zipfit_score" : "old" , "b": "q\\"zipfit_score\\""}\r\n',
        b'{"zipfit\\u005fscore": 3, "t": 1}\n',
    ],
)
def test_rescoring_replaces_the_value_and_keeps_every_other_byte(line: bytes) -> None:
    out = add_score(line, "zipfit_score", 0.25)
    assert orjson.loads(out)["zipfit_score"] == 0.25
    # Only the value changed: the rest of the line is byte for byte the original.
    prefix = out[: out.index(b"0.25")]
    suffix = out[out.index(b"0.25") + 4 :]
    assert line.rstrip().startswith(prefix) and line.rstrip().endswith(suffix.rstrip())


def test_rescoring_finds_a_key_written_with_escapes() -> None:
    out = add_score(b'{"a\\/b": 1, "t": "x"}\n', "a/b", 0.5)
    assert out == b'{"a\\/b": 0.5, "t": "x"}\n'


# --- ids and attribute lines: --output-format ------------------------------------------------


def test_ids_output(write_jsonl: WriteJsonl, source_lines: list[bytes]) -> None:
    full = records(ok("select", SOURCE, *FAST, "-k", "5", "-q").stdout_bytes)
    ids = records(ok("select", SOURCE, *FAST, "-k", "5", "--output-format", "ids", "-q").stdout_bytes)
    assert ids == [{"id": r["id"], "zipfit_score": r["zipfit_score"]} for r in full]
    nested = write_jsonl(
        [{"meta": {"key": i}, "text": json.loads(line)["text"]} for i, line in enumerate(source_lines[:5])]
    )
    by_dotted = records(
        ok("score", nested, *FAST, "--output-format", "ids", "--id-key", "meta.key", "-q").stdout
    )
    assert [r["meta.key"] for r in by_dotted] == [0, 1, 2, 3, 4]
    no_id = run("score", nested, *FAST, "--output-format", "ids")
    assert no_id.exit_code == 3 and "no 'id' field" in no_id.stderr and "--id-key" in no_id.stderr


def test_attributes_output_is_dolma_shaped_and_line_aligned(source_lines: list[bytes]) -> None:
    out = records(ok("score", SOURCE, *FAST, "--limit", "30", "--output-format", "attributes", "-q").stdout)
    originals = [json.loads(line) for line in source_lines[:30]]
    assert [r["id"] for r in out] == [r["id"] for r in originals]
    for row, original in zip(out, originals, strict=True):
        ((start, end, score),) = row["attributes"]["zipfit_score"]
        assert (start, end) == (0, len(original["text"])) and isinstance(score, float)


def test_score_only_outputs_come_from_the_merge_not_the_shards(tmp_path: Path) -> None:
    refused = run("select", SOURCE, *FAST, "-k", "5", "--shard", "0/2", "--output-format", "ids")
    assert refused.exit_code == 2 and "give --output-format to the merge" in refused.stderr
    parts = []
    for i in range(2):
        part = tmp_path / f"part-{i}.jsonl"
        ok("select", SOURCE, *FAST, "-k", "5", "--shard", f"{i}/2", "-o", part, "-q")
        parts.append(part)
    single = ok("select", SOURCE, *FAST, "-k", "5", "--output-format", "ids", "-q").stdout_bytes
    assert ok("merge", *parts, "--output-format", "ids", "-q").stdout_bytes == single

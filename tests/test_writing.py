"""Output records: the score added to the input line, every other byte kept."""

from __future__ import annotations

import json

import orjson
import pytest

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

"""Scores written into records, top-K with ties, the spooled full ranking, --fraction counts."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import orjson
import pytest

from zipfit_cli.selection import Spool, TopK, add_score, count_for_fraction

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


# --- TopK ------------------------------------------------------------------------------------


def test_topk_keeps_best_k_in_rank_order() -> None:
    rng = random.Random(1)
    scores = [rng.random() for _ in range(500)]
    top: TopK[str] = TopK(17)
    for i, s in enumerate(scores):
        top.push(s, i, f"item{i}")
    expected = sorted(range(500), key=lambda i: (-scores[i], i))[:17]
    assert [(s, i, item) for s, i, item in top.ranked()] == [(scores[i], i, f"item{i}") for i in expected]


def test_topk_ties_earlier_wins() -> None:
    top: TopK[str] = TopK(3)
    for i, s in enumerate([0.5, 0.7, 0.5, 0.5, 0.7, 0.5, 0.1]):
        top.push(s, i, chr(ord("a") + i))
    assert [(s, i) for s, i, _ in top.ranked()] == [(0.7, 1), (0.7, 4), (0.5, 0)]


def test_topk_all_equal_keeps_first_k() -> None:
    top: TopK[int] = TopK(4)
    for i in range(100):
        top.push(0.25, i, i)
    assert [item for _, _, item in top.ranked()] == [0, 1, 2, 3]


def test_topk_fewer_than_k() -> None:
    top: TopK[str] = TopK(10)
    top.push(0.1, 0, "a")
    top.push(0.3, 1, "b")
    assert [item for _, _, item in top.ranked()] == ["b", "a"]
    assert TopK(5).ranked() == []


def test_topk_items_never_compared() -> None:
    # Items (e.g. dicts) are not orderable: equal scores must be decided by index alone.
    top: TopK[dict[str, int]] = TopK(2)
    for i in range(6):
        top.push(0.5, i, {"i": i})
    assert [item["i"] for _, _, item in top.ranked()] == [0, 1]


def test_topk_many_ties_random_order_matches_sort() -> None:
    rng = random.Random(7)
    scores = [rng.choice([0.1, 0.2, 0.3]) for _ in range(300)]
    top: TopK[None] = TopK(50)
    for i, s in enumerate(scores):
        top.push(s, i, None)
    expected = sorted(range(300), key=lambda i: (-scores[i], i))[:50]
    assert [i for _, i, _ in top.ranked()] == expected


# --- Spool -----------------------------------------------------------------------------------


def _fill(spool: Spool, scores: list[float]) -> list[bytes]:
    lines = [b'{"i": %d, "pad": "%s"}\n' % (i, b"x" * (i % 13)) for i in range(len(scores))]
    for i, (s, line) in enumerate(zip(scores, lines, strict=True)):
        spool.add(s, i, line)
    return lines


def test_spool_full_ranking_equals_sort(tmp_path: Path) -> None:
    rng = random.Random(3)
    scores = [rng.choice([0.1, 0.2, 0.3, rng.random()]) for _ in range(400)]
    with Spool(str(tmp_path)) as spool:
        lines = _fill(spool, scores)
        assert len(spool) == 400
        expected = sorted(range(400), key=lambda i: (-scores[i], i))
        assert list(spool.ranked()) == [(scores[i], i, lines[i]) for i in expected]


@pytest.mark.parametrize("k", [1, 5, 57, 399, 400, 1000])
def test_spool_partial_ranking_equals_sort_prefix(tmp_path: Path, k: int) -> None:
    rng = random.Random(k)
    scores = [rng.choice([0.1, 0.2, 0.3]) for _ in range(400)]
    with Spool(str(tmp_path)) as spool:
        lines = _fill(spool, scores)
        expected = sorted(range(400), key=lambda i: (-scores[i], i))[:k]
        assert list(spool.ranked(k)) == [(scores[i], i, lines[i]) for i in expected]


def test_spool_removes_its_file(tmp_path: Path) -> None:
    with Spool(str(tmp_path)) as spool:
        _fill(spool, [0.5, 0.1])
        assert not os.path.exists(spool.path)  # unlinked at creation, used through its descriptor
    assert not os.path.exists(spool.path)
    assert os.listdir(tmp_path) == []


def test_spool_empty(tmp_path: Path) -> None:
    with Spool(str(tmp_path)) as spool:
        assert list(spool.ranked()) == []


# --- count_for_fraction ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fraction", "total", "expected"),
    [
        (1.0, 200, 200),
        (0.5, 200, 100),
        (0.5, 3, 2),  # 1.5 rounds half up
        (0.25, 10, 3),  # 2.5 rounds half up
        (0.24, 10, 2),
        (0.26, 10, 3),
        (0.1, 4, 1),  # 0.4 rounds to 0, but at least one
        (0.001, 10, 1),
        (0.3, 10, 3),  # 0.3 * 10 is 3.0000000000000004 in floating point
        (0.05, 4000, 200),
        (0.5, 0, 0),
    ],
)
def test_count_for_fraction(fraction: float, total: int, expected: int) -> None:
    assert count_for_fraction(fraction, total) == expected


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

"""The Python API: score_texts and select_top_k."""

from __future__ import annotations

import json

import pytest
from test_scoring import ref_alignment

from zipfit_cli import TargetSet, score_texts, select_top_k
from zipfit_cli.api import RecordError


@pytest.fixture(scope="module")
def texts(source_texts: list[bytes]) -> list[str]:
    return [t.decode("utf-8") for t in source_texts[:120]]


@pytest.fixture(scope="module")
def targets(target_texts: list[bytes]) -> list[str]:
    return [t.decode("utf-8") for t in target_texts[:10]]


def test_score_texts_is_the_paper_formula(texts: list[str], target_texts: list[bytes]) -> None:
    targets = [t.decode("utf-8") for t in target_texts[:10]]
    scores = list(score_texts(texts[:15], targets))
    assert len(scores) == 15
    for text, score in zip(texts[:15], scores, strict=True):
        assert score == pytest.approx(ref_alignment(text.encode("utf-8"), target_texts[:10], 9), abs=1e-12)


def test_score_texts_workers_equal(texts: list[str], targets: list[str]) -> None:
    one = list(score_texts(texts, targets, level=6, workers=1))
    two = list(score_texts(texts, targets, level=6, workers=2, batch_size=7))
    assert len(one) == len(texts)
    assert one == two


def test_score_texts_lazy_iterable_and_progress(
    texts: list[str], targets: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    expected = list(score_texts(texts[:30], targets, compressor="lz4"))
    got = list(score_texts((t for t in texts[:30]), targets, compressor="lz4", progress=True))
    assert got == expected
    got_list = list(score_texts(texts[:30], targets, compressor="lz4", progress=True, batch_size=4))
    assert got_list == expected
    captured = capsys.readouterr()
    assert captured.out == ""  # the bar never touches stdout


def test_score_texts_accepts_a_target_set(texts: list[str], targets: list[str]) -> None:
    ts = TargetSet.from_texts(targets, "zstd", 3)
    assert list(score_texts(texts[:10], ts)) == list(score_texts(texts[:10], targets, compressor="zstd"))
    assert list(score_texts(texts[:10], ts)) == [ts.alignment(t.encode()) for t in texts[:10]]


def test_score_texts_identical_scores_high() -> None:
    target = "def add(a, b):\n    return a + b\n"
    same, other = score_texts([target, "Bonjour tout le monde, quel beau temps."], [target])
    assert same > other
    assert same > 0.5


def test_select_top_k_best_first_with_records(
    source_lines: list[bytes], targets: list[str], texts: list[str]
) -> None:
    recs = [json.loads(line) for line in source_lines[:120]]
    scores = list(score_texts(texts, targets))
    best = select_top_k(recs, targets, 12)
    expected = sorted(range(120), key=lambda i: (-scores[i], i))[:12]
    assert [score for score, _ in best] == [scores[i] for i in expected]
    assert [record for _, record in best] == [recs[i] for i in expected]
    assert all(record is recs[i] for (_, record), i in zip(best, expected, strict=True))
    assert sum(r["source"] == "python" for _, r in best) >= 9


def test_select_top_k_workers_and_ties(targets: list[str], texts: list[str]) -> None:
    recs = []
    for i, text in enumerate(texts[:60]):
        recs.append({"id": i, "text": text})
        recs.append({"id": f"copy-{i}", "text": text})  # ties with the record just before
    one = select_top_k(recs, targets, 20, workers=1, level=6)
    two = select_top_k(recs, targets, 20, workers=2, level=6)
    assert one == two
    ids = [r["id"] for _, r in one]
    for i in (x for x in ids if isinstance(x, int)):
        if f"copy-{i}" in ids:
            assert ids.index(i) < ids.index(f"copy-{i}")
    assert isinstance(ids[0], int)  # the original wins the tie for first place


def test_select_top_k_dotted_key_and_bad_record(targets: list[str]) -> None:
    recs = [{"meta": {"body": "def f(x):\n    return x\n"}}, {"meta": {"body": "hello there"}}]
    best = select_top_k(recs, targets, 2, text_key="meta.body", compressor="lz4")
    scores = list(score_texts([r["meta"]["body"] for r in recs], targets, compressor="lz4"))
    assert scores[0] > scores[1]
    assert best == [(scores[0], recs[0]), (scores[1], recs[1])]
    with pytest.raises(RecordError):
        select_top_k([{"text": "ok"}, {"body": "no text"}], targets, 1)


def test_api_refuses_what_the_cli_refuses() -> None:
    from zipfit_cli import UsageError

    with pytest.raises(UsageError, match="at least 1"):
        select_top_k([{"text": "a"}], ["b"], k=0)
    with pytest.raises(RecordError, match="text 1 is empty"):
        list(score_texts(["fine", "  "], ["b"]))
    # Any mapping will do as a record.
    from types import MappingProxyType

    best = select_top_k([MappingProxyType({"text": "def b(): pass"})], ["def b(): pass"], k=1)
    assert best[0][1]["text"] == "def b(): pass"

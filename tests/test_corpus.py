"""Corpus scoring (corpus.py): one compression per source against the whole target set."""

from __future__ import annotations

import json
import os
import pickle
import zlib
from pathlib import Path

import pytest
from conftest import SOURCE, TARGETS, WriteJsonl, ok, records

from zipfit_cli.base.errors import UsageError
from zipfit_cli.scoring.compressors import get_compressor
from zipfit_cli.scoring.corpus import (
    CorpusScorer,
    build_dictionary,
)

GZIP_DICT_BYTES, LZ4_DICT_BYTES = 32 << 10, 64 << 10

COMPRESSORS = [("gzip", 9), ("gzip", 1), ("lz4", 0), ("lz4", 9), ("zstd", 3)]


def reference_conditional(name: str, level: int, dictionary: bytes, x: bytes) -> int:
    """C(x | T) computed from scratch with the compressor's own dictionary API."""
    if name == "gzip":
        c = zlib.compressobj(level, zlib.DEFLATED, -15, zdict=dictionary)
        return len(c.compress(x) + c.flush()) + 18
    if name == "lz4":
        import lz4.block

        mode = "default" if level < 3 else "high_compression"
        return len(lz4.block.compress(x, mode=mode, compression=level, store_size=False, dict=dictionary))
    import zstandard

    zdict = zstandard.ZstdCompressionDict(dictionary, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    zc = zstandard.ZstdCompressor(
        level=level, dict_data=zdict, write_content_size=False, write_checksum=False, write_dict_id=False
    )
    return len(zc.compress(x))


@pytest.mark.parametrize(("name", "level"), COMPRESSORS)
def test_score_is_the_documented_formula(
    name: str, level: int, source_texts: list[bytes], target_texts: list[bytes]
) -> None:
    scorer = CorpusScorer.from_targets(target_texts, name, level)
    assert scorer.targets_used == 40 and scorer.dictionary == b"\n".join(target_texts)
    plain = get_compressor(name, level)
    for x in source_texts[:25]:
        c_x = plain.size(x)
        c_xt = reference_conditional(name, level, scorer.dictionary, x)
        assert scorer.conditional_size(x) == c_xt
        assert scorer.score(x) == (c_x - c_xt) / c_x


@pytest.mark.parametrize(("name", "level"), COMPRESSORS)
def test_copies_score_high_and_noise_scores_zero(
    name: str, level: int, source_texts: list[bytes], target_texts: list[bytes]
) -> None:
    scorer = CorpusScorer.from_targets(target_texts, name, level)
    copies = scorer.scores(target_texts[::5])
    # Fast modes (gzip 1, LZ4 0) find only part of a copy in the dictionary.
    assert min(copies) > 0.5 and sum(copies) / len(copies) > 0.75
    noise = bytes(range(256)) * 3
    assert abs(scorer.score(noise)) < 0.05
    sample = scorer.scores(source_texts[:200])
    assert all(-0.05 < s < 1.0 for s in sample)


def test_python_sources_rank_first(source_path: Path, target_texts: list[bytes]) -> None:
    records = [json.loads(line) for line in source_path.read_text(encoding="utf-8").splitlines()[:1000]]
    scorer = CorpusScorer.from_targets(target_texts, "gzip", 9)
    scores = scorer.scores([r["text"].encode() for r in records])
    top = sorted(range(len(records)), key=lambda i: (-scores[i], i))[:100]
    share = sum(records[i]["source"] == "python" for i in top) / len(top)
    base = sum(r["source"] == "python" for r in records) / len(records)
    assert base < 0.2 and share > 0.45  # measured: 0.63 on all 4,000


def test_gzip_samples_whole_targets_to_fit_its_window() -> None:
    texts = [(b"target %03d " % i) * 100 for i in range(100)]  # 1.1 KB each, 110 KB in all
    a = CorpusScorer.from_targets(texts, "gzip", 6, seed=1)
    assert a.dict_bytes <= GZIP_DICT_BYTES and 20 <= a.targets_used < 100 and a.targets_total == 100
    pieces = a.dictionary.split(b"\n")
    assert all(p in texts for p in pieces)
    assert pieces == sorted(pieces)  # original order kept
    again = CorpusScorer.from_targets(texts, "gzip", 6, seed=1)
    assert again.dictionary == a.dictionary
    assert CorpusScorer.from_targets(texts, "gzip", 6, seed=2).dictionary != a.dictionary
    # A larger budget cannot widen deflate's window.
    assert CorpusScorer.from_targets(texts, "gzip", 6, max_dict_bytes=1 << 20).dict_bytes <= GZIP_DICT_BYTES


def test_default_budgets() -> None:
    assert get_compressor("gzip", 9).dictionary_reach() == GZIP_DICT_BYTES
    assert get_compressor("lz4", 0).dictionary_reach() == LZ4_DICT_BYTES
    assert get_compressor("zstd", 1).dictionary_reach() == 32 << 10
    assert get_compressor("zstd", 3).dictionary_reach() == 512 << 10
    assert get_compressor("zstd", 19).dictionary_reach() == 2 << 20
    big = [bytes([65 + i % 26]) * 3000 + b"%d" % i for i in range(100)]  # 300 KB
    assert CorpusScorer.from_targets(big, "zstd", 3).targets_used == 100
    assert CorpusScorer.from_targets(big, "zstd", 1).dict_bytes <= 32 << 10
    assert CorpusScorer.from_targets(big, "zstd", 3, max_dict_bytes=10_000).targets_used == 3


def test_build_dictionary_edge_cases() -> None:
    assert build_dictionary([b"a", b"b"], 3) == (b"a\nb", 2)
    assert build_dictionary([b"0123456789"], 4) == (b"6789", 1)  # nothing fits: the tail
    dictionary, used = build_dictionary([b"x" * 10, b"yy", b"zz"], 5, seed=0)
    assert (dictionary, used) == (b"yy\nzz", 2)


@pytest.mark.parametrize("name", ["gzip", "lz4", "zstd"])
def test_pickles_without_native_state(
    name: str, source_texts: list[bytes], target_texts: list[bytes]
) -> None:
    scorer = CorpusScorer.from_targets(target_texts, name)
    expected = scorer.scores(source_texts[:10])  # native objects now built
    clone = pickle.loads(pickle.dumps(scorer))
    assert clone._conditional is None
    assert clone.scores(source_texts[:10]) == expected
    assert (clone.spec(), clone.targets_used) == (scorer.spec(), 40)
    assert len(pickle.dumps(scorer)) < scorer.dict_bytes + 1000


def test_errors() -> None:
    with pytest.raises(UsageError, match="empty"):
        CorpusScorer.from_targets([], "gzip")
    with pytest.raises(UsageError, match="unknown compressor"):
        CorpusScorer.from_targets([b"t"], "brotli")
    with pytest.raises(UsageError, match="level 0"):
        CorpusScorer.from_targets([b"t"], "gzip", 0)
    with pytest.raises(UsageError, match="budget"):
        CorpusScorer.from_targets([b"t"], "zstd", max_dict_bytes=0)
    assert repr(CorpusScorer.from_targets(["t"], "zstd", 3)) == (
        "CorpusScorer(corpus:zstd:3, 1 dictionary bytes, 1/1 targets)"
    )


def test_corpus_method_says_when_targets_do_not_fit_the_dictionary(
    write_jsonl: WriteJsonl, tmp_path: Path
) -> None:
    big = [{"id": f"t{i}", "text": f"def f{i}(x):\n    return x * {i}\n" * 700} for i in range(3)]
    targets = write_jsonl(big, "targets.jsonl")
    report = tmp_path / "run.json"
    args = (
        "-t",
        targets,
        "--method",
        "corpus",
        "-k",
        "3",
        "--limit",
        "50",
        "--report",
        report,
        "-o",
        os.devnull,
    )
    result = ok("select", SOURCE, *args)
    assert "zipfit: warning: the corpus method's dictionary holds 1 of the 3 targets" in result.stderr
    info = json.loads(report.read_text())
    assert info["settings"]["targets_used"] == 1 and "dictionary holds 1 of the 3" in info["warnings"][0]


def test_corpus_method_ranks_python_first(slice_path: Path) -> None:
    best = records(ok("select", slice_path, *TARGETS, "--method", "corpus", "--compressor", "zstd",
                   "-k", "10", "-q").stdout)  # fmt: skip
    assert sum(r["source"] == "python" for r in best) >= 5  # 15% of the slice is Python
    scores = [r["zipfit_score"] for r in best]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)

"""Duplicate removal in rank order (dedupe.py): exact and near duplicates."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from conftest import TARGETS, ok, records

from zipfit_cli.selection.decontam import words
from zipfit_cli.selection.dedupe import Deduper, minhash_signature, normalise_whitespace


def shingles(text: bytes, n: int = 5) -> set[str]:
    w = words(text)
    n = min(n, len(w))
    return {" ".join(w[i : i + n]) for i in range(len(w) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b)


def edit_words(text: bytes, changes: int, rng: random.Random) -> bytes:
    parts = text.split()
    for _ in range(changes):
        parts[rng.randrange(len(parts))] = b"edited%d" % rng.randrange(10**6)
    return b" ".join(parts)


def test_normalise_whitespace() -> None:
    assert normalise_whitespace("  a\t\tb\n\nc  ") == b"a b c"
    assert normalise_whitespace(b"a\xc2\xa0 b") == b"a b"  # NBSP is whitespace, as in str.split
    assert normalise_whitespace(b"bad \xff byte") == normalise_whitespace(b"bad  \xff\nbyte")


def test_exact_keeps_the_first_copy_only() -> None:
    dedupe = Deduper()
    texts: list[str | bytes] = [
        "def f():\n    return 1\n",
        "def f():  return 1",
        b"def f():\n\treturn 1",
        "def g(): return 1",
    ]
    assert [dedupe.seen_before(t) for t in texts] == [False, True, True, False]
    assert dedupe.check("  def g(): return 1\n") == "exact"
    assert len(dedupe._digests) == 2 and all(len(d) == 16 for d in dedupe._digests)


def test_exact_is_case_and_punctuation_sensitive() -> None:
    dedupe = Deduper()
    assert [dedupe.check(t) for t in ("Hello, world", "hello, world", "Hello world")] == [None] * 3


def test_exact_finds_no_duplicates_in_sample(source_texts: list[bytes]) -> None:
    dedupe = Deduper()
    assert not any(dedupe.seen_before(t) for t in source_texts)
    assert all(dedupe.seen_before(b"  " + t.replace(b"\n", b"\n\n")) for t in source_texts[:200])


def test_signature_is_deterministic_and_dense(source_texts: list[bytes]) -> None:
    toks = words(source_texts[0])
    sig = minhash_signature(toks, 5, 64)
    assert sig == minhash_signature(list(toks), 5, 64)
    assert sig is not None and len(sig) == 64 and len(set(sig)) > 32
    assert minhash_signature([], 5, 64) is None
    assert minhash_signature(["one", "two"], 5, 64) == minhash_signature(["one", "two"], 5, 64)


def test_near_flags_lightly_edited_copies(source_texts: list[bytes]) -> None:
    rng = random.Random(0)
    originals = [t for t in source_texts if len(t.split()) >= 100][:150]
    dedupe = Deduper(near=True)
    for t in originals:
        dedupe.check(t)
    kept = len(dedupe._digests)
    edited = [edit_words(t, 1, rng) for t in originals]
    similar = [e for t, e in zip(originals, edited, strict=True) if jaccard(shingles(t), shingles(e)) >= 0.85]
    assert len(similar) >= 100
    results = [dedupe.check(e) for e in similar]
    assert results.count("near") >= 0.95 * len(similar)
    assert "exact" not in results
    assert len(dedupe._digests) - kept == results.count(None)  # misses are kept, flagged ones are not
    assert dedupe.check(originals[0].upper()) == "near"  # words are lowercased


def test_near_never_flags_dissimilar_records(source_texts: list[bytes]) -> None:
    """Records with shingle Jaccard under 0.3 to every earlier record are all kept."""
    chosen: list[bytes] = []
    sets: list[set[str]] = []
    for t in source_texts[:400]:
        s = shingles(t)
        if s and all(jaccard(s, o) < 0.3 for o in sets):
            chosen.append(t)
            sets.append(s)
    assert len(chosen) > 300
    dedupe = Deduper(near=True)
    assert [dedupe.check(t) for t in chosen] == [None] * len(chosen)


def test_near_off_by_default_and_exact_checked_first() -> None:
    a = b"alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu"
    b = a.replace(b"mu", b"nu")
    plain = Deduper()
    assert [plain.check(a), plain.check(b)] == [None, None]
    near = Deduper(near=True)
    assert [near.check(a), near.check(a + b"\n"), near.check(b)] == [None, "exact", "near"]
    assert near.check(b"!!! ???") is None and near.check(b"!!!  ???") == "exact"  # no words


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        Deduper(near=True, bands=0)


def test_dedupe_keeps_the_best_ranked_copy(write_jsonl: Any, source_lines: list[bytes]) -> None:
    base = [orjson.loads(line) for line in source_lines[:60]]
    dup = dict(base[7], id="dup-of-7", text="  " + base[7]["text"].replace("\n", "\n  ") + "\n")
    path = write_jsonl([*base, dup])
    plain = records(ok("select", path, *TARGETS, "--compressor", "lz4").stdout)
    args = ("--compressor", "lz4", "--dedupe", "-k", "60", "--summary", "full")
    deduped_run = ok("select", path, *TARGETS, *args)
    deduped = records(deduped_run.stdout)
    seen: set[bytes] = set()
    expected = []
    for r in plain:  # the reference: walk the ranking, keep first copies
        key = normalise_whitespace(r["text"])
        if key not in seen:
            seen.add(key)
            expected.append(r["id"])
    assert [r["id"] for r in deduped] == expected
    assert len(deduped) == 60 and "dropped 1 exact duplicate\n" in deduped_run.stderr

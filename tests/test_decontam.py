"""Decontamination (decontam.py): planted target copies are flagged, and nothing else is."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import FAST, ROOT, TARGET, TARGETS, WriteJsonl, ok, records

from zipfit_cli.base.errors import UsageError
from zipfit_cli.scoring.pairwise import TargetSet
from zipfit_cli.selection.decontam import Contamination, Decontaminator, words


def reindent(t: bytes) -> bytes:
    return t.replace(b"\n    ", b"\n  ")


def shout_some(t: bytes) -> bytes:
    """Upper-case one word in twenty."""
    parts = t.split(b" ")
    return b" ".join(p.upper() if i % 20 == 7 else p for i, p in enumerate(parts))


def shout_more(t: bytes) -> bytes:
    """Upper-case every fifth word."""
    parts = t.split(b" ")
    return b" ".join(p.upper() if i % 5 == 0 else p for i, p in enumerate(parts))


def append_words(t: bytes) -> bytes:
    return t + b"\n# adapted for the exercise, see the notes below\n"


def retab_and_requote(t: bytes) -> bytes:
    return t.replace(b"    ", b"\t").replace(b'"""', b"'''").replace(b"(", b"( ")


# Edits that keep a copy close enough for both criteria (NCD <= 0.22 on every sample target),
# and edits only the n-gram criterion survives.
LIGHT_EDITS: dict[str, Callable[[bytes], bytes]] = {
    "exact": lambda t: t,
    "reindent": reindent,
    "case": shout_some,
    "append": append_words,
}
NGRAM_ONLY_EDITS: dict[str, Callable[[bytes], bytes]] = {
    "upper": bytes.upper,
    "case": shout_more,
    "retab_requote": retab_and_requote,
    "embedded": lambda t: b"Some unrelated prose before the code. " * 40 + t + b"\nAnd after. " * 30,
}


def planted_slice(
    source_texts: list[bytes], target_texts: list[bytes], edits: dict[str, Callable[[bytes], bytes]]
) -> tuple[list[bytes], dict[int, int]]:
    """300 sample records with edited copies of targets inserted; {position: target index}."""
    records = list(source_texts[:300])
    planted: dict[int, int] = {}
    for k, (_, edit) in enumerate(sorted(edits.items())):
        for j in range(k, len(target_texts), 7):  # a different spread of targets per edit
            position = (37 * j + 11 * k) % len(records)
            records.insert(position, edit(target_texts[j]))
    for i, text in enumerate(records):
        for j, t in enumerate(target_texts):
            if any(text == edit(t) for edit in edits.values()):
                planted[i] = j
    return records, planted


def test_words_normalise_case_whitespace_and_punctuation() -> None:
    assert words("Hello,  World!\n\tsnake_case x2") == ["hello", "world", "snake", "case", "x2"]
    assert words(b"caf\xc3\xa9 ok") == ["café", "ok"]


@pytest.mark.parametrize("edits", [LIGHT_EDITS, NGRAM_ONLY_EDITS], ids=["light", "heavy"])
def test_ngram_flags_all_planted_copies_and_nothing_else(
    source_texts: list[bytes], target_texts: list[bytes], edits: dict[str, Callable[[bytes], bytes]]
) -> None:
    records, planted = planted_slice(source_texts, target_texts, edits)
    assert len(planted) >= 20 and len(set(planted.values())) >= 20
    decon = Decontaminator.from_targets(target_texts)
    found = {i: decon.find(text) for i, text in enumerate(records)}
    flagged = {i: hit for i, hit in found.items() if hit is not None}
    assert set(flagged) == set(planted)
    for i, hit in flagged.items():
        assert hit.criterion == "ngram"
        # The reported target is the planted one, or another target sharing the n-gram.
        assert hit.target == planted[i] or set(words(target_texts[hit.target])) & set(words(records[i]))


def test_ncd_flags_lightly_edited_copies_and_nothing_else(
    source_texts: list[bytes], target_texts: list[bytes]
) -> None:
    records, planted = planted_slice(source_texts, target_texts, LIGHT_EDITS)
    decon = Decontaminator.from_targets(target_texts, ngram=None, ncd_threshold=0.3)
    flagged = {i: decon.find(text) for i, text in enumerate(records)}
    assert {i for i, hit in flagged.items() if hit} == set(planted)
    for i, j in planted.items():
        hit = flagged[i]
        assert hit is not None and hit.criterion == "ncd" and hit.target == j
        assert re.fullmatch(r"NCD 0\.\d{3} <= 0\.3 to target \d+", hit.reason)


def test_ncd_prefilter_matches_scoring_every_target(
    source_texts: list[bytes], target_texts: list[bytes]
) -> None:
    """The size prefilter never hides a pair under the threshold, compared with scoring all."""
    ts = TargetSet.from_texts(target_texts, "gzip", 9)
    threshold = 0.75  # loose, so that real sample pairs fall on both sides
    decon = Decontaminator.from_targets(target_texts, ngram=None, ncd_threshold=threshold)
    samples = [*source_texts[:60], *(reindent(t) for t in target_texts[:10])]
    for x in samples:
        c_x = ts.compressor.size(x)
        dists = [
            (c_xt - min(c_x, c_t)) / max(c_x, c_t)
            for c_t, c_xt in zip(ts.sizes, ts.compressor.pair_sizes(x, ts.texts), strict=True)
        ]
        hit = decon.find(x)
        assert (hit is not None) == (min(dists) <= threshold)
        if hit is not None:
            assert hit.target == dists.index(min(dists))


def test_reason_strings_and_check() -> None:
    targets = [
        b"one two three four five six seven eight nine ten eleven twelve thirteen fourteen",
        b"Short target here",
    ]
    decon = Decontaminator.from_targets(targets)
    assert decon.check(b"x " + targets[0].upper() + b" y") == "13-gram overlap with target 0"
    assert decon.check("prefix: short   TARGET, here!") == "contains all 3 words of target 1"
    assert decon.check(b"short target there") is None
    assert decon.check(b"one two three four five six seven eight nine ten eleven twelve") is None
    hit = decon.find(b"short target here")
    assert hit == Contamination("contains", 1, "contains all 3 words of", "short target here")
    assert decon.explain(hit) == {"criterion": "contains", "target": 1, "match": "short target here"}
    named = Decontaminator.from_targets(targets, names=["t-0", None], ncd_threshold=0.5)
    ngram_hit = named.find(b"x " + targets[0] + b" y")
    assert ngram_hit is not None and named.explain(ngram_hit) == {
        "criterion": "ngram",
        "target": "t-0",
        "match": "one two three four five six seven eight nine ten eleven twelve thirteen",
    }
    copy = named.find(targets[1] + b".")
    assert copy is not None and copy.criterion in ("contains", "ncd")


def test_min_shared_counts_distinct_ngrams_per_target() -> None:
    target = " ".join(f"w{i}" for i in range(40))
    decon = Decontaminator.from_targets([target], ngram=5, min_shared=3)
    assert decon.check("w0 w1 w2 w3 w4 w5 w6") == "5-gram overlap with target 0"  # 3 five-grams
    assert decon.check("w0 w1 w2 w3 w4 w5") is None  # only 2
    assert decon.check("w0 w1 w2 w3 w4 x w0 w1 w2 w3 w4") is None  # the same 5-gram twice


def test_ngram_shared_by_several_targets() -> None:
    common = "a b c d e"
    decon = Decontaminator.from_targets([f"x {common} y", f"p {common} q", "z z z z z z"], ngram=5)
    assert decon.check(common) == "5-gram overlap with target 0"
    decon2 = Decontaminator.from_targets([f"x {common} y", f"p {common} q"], ngram=5, min_shared=2)
    assert decon2.check(f"p {common} q") == "5-gram overlap with target 1"


def test_options_are_checked() -> None:
    with pytest.raises(UsageError, match="criterion"):
        Decontaminator.from_targets([b"t"], ngram=None)
    with pytest.raises(UsageError):
        Decontaminator.from_targets([b"t"], ngram=0)
    with pytest.raises(UsageError):
        Decontaminator.from_targets([b"t"], min_shared=0)
    with pytest.raises(UsageError):
        Decontaminator.from_targets([b"t"], ncd_threshold=1.5)
    with pytest.raises(UsageError, match="empty"):
        Decontaminator.from_targets([])
    with pytest.raises(UsageError, match="level 0"):
        Decontaminator.from_targets([b"t"], ncd_threshold=0.3, compressor="gzip", level=0)


def test_pickles_across_processes_with_other_string_hashes(target_texts: list[bytes]) -> None:
    decon = Decontaminator.from_targets(target_texts, ncd_threshold=0.3, compressor="zstd")
    copy = target_texts[5] + b" and a few more words"
    assert decon.check(copy) == "13-gram overlap with target 5"  # builds the index here
    blob = pickle.dumps(decon)
    assert len(blob) < 3 * sum(len(t) for t in target_texts)  # no index inside
    texts = [copy, reindent(target_texts[9]), b"def unrelated(): pass"]
    code = "import pickle, sys\nd, texts = pickle.load(sys.stdin.buffer)\nfor t in texts: print(d.check(t))\n"
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            input=pickle.dumps((decon, texts)),
            capture_output=True,
            check=True,
            cwd=ROOT,
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT), "PATH": ""},
        )
        assert out.stdout.decode().splitlines() == [
            "13-gram overlap with target 5",
            "13-gram overlap with target 9",
            "None",
        ]


def test_contaminated_records_say_which_target_and_what_matched(
    write_jsonl: WriteJsonl, source_lines: list[bytes], tmp_path: Path
) -> None:
    target = json.loads(TARGET.read_text().splitlines()[2])
    leak = {"id": "leak", "text": "Seen online:\n" + target["prompt"] + target["canonical_solution"]}
    source = write_jsonl([*map(json.loads, source_lines[:20]), leak])
    aside = tmp_path / "leaked.jsonl"
    ok("score", source, *FAST, "--contaminated-output", aside, "-o", os.devnull)
    (kept,) = records(aside.read_bytes())
    why = kept["_zipfit_contamination"]
    assert kept["id"] == "leak" and why["criterion"] == "ngram" and why["target"] == target["task_id"]
    words = " ".join(re.findall(r"[a-z0-9]+", leak["text"].lower()))  # decontam.words
    assert len(why["match"].split()) == 13 and why["match"] in words


def test_decontaminate_removes_planted_copies_and_nothing_else(planted: Path, tmp_path: Path) -> None:
    aside = tmp_path / "leaks.jsonl"
    report = tmp_path / "report.json"
    result = ok("select", planted, *TARGETS, "--compressor", "lz4", "--decontaminate",
                "--contaminated-output", aside, "--report", report, "-j", "2")  # fmt: skip
    kept = records(result.stdout)
    assert sorted(r["id"] for r in records(aside.read_bytes())) == ["leak-0", "leak-1", "leak-2"]
    assert len(kept) == 300 and not any(r["id"].startswith("leak") for r in kept)
    stats = json.loads(report.read_text())["stats"]
    assert stats["contaminated"] == 3 and stats["scored"] == 300
    assert " contaminated=3 " in result.stderr and f"contaminated_output={aside}" in result.stderr
    # Without the option the verbatim copies rank first: ZIP-FIT favours leaked benchmarks.
    plain = records(ok("select", planted, *TARGETS, "--compressor", "lz4", "-k", "3").stdout)
    assert {"leak-0", "leak-2"} <= {r["id"] for r in plain}


def test_ncd_decontamination_catches_verbatim_copy(planted: Path) -> None:
    result = ok("score", planted, *TARGETS, "--decontaminate-ngram", "0", "--decontaminate-ncd", "0.3",
                "-q", "--compressor", "lz4")  # fmt: skip
    ids = {r["id"] for r in records(result.stdout)}
    assert "leak-0" not in ids and len(ids) >= 300


def test_decontaminate_ngram_alone_turns_decontamination_on(planted: Path) -> None:
    best = records(
        ok("select", planted, *TARGETS, "--compressor", "lz4", "-k", "3", "--decontaminate-ngram", "8").stdout
    )
    assert not any(r["id"].startswith("leak") for r in best)

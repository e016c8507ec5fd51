"""The compressor contract: a `Compressor` subclass added with one line in `COMPRESSORS`
scores by the paper's formula, on every command and under `--adaptive`."""

from __future__ import annotations

import bz2
import json
from pathlib import Path

import pytest
from conftest import SOURCE, TARGET, ok, records

from zipfit_cli import TargetSet
from zipfit_cli.scoring import compressors


class ToyBz2(compressors.Compressor):
    name = "toybz2"
    default_level = 9
    levels = range(1, 10)

    def size(self, data: bytes) -> int:
        return len(bz2.compress(data, self.level))


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(compressors.COMPRESSORS, "toybz2", ToyBz2)  # the one line


def plain_alignment(text: bytes, targets: list[bytes]) -> float:
    def c(b: bytes) -> int:
        return len(bz2.compress(b, 9))

    ncds = [(c(text + t) - min(c(text), c(t))) / max(c(text), c(t)) for t in targets]
    return 1 - sum(ncds) / len(ncds)


def test_a_registered_compressor_scores_by_the_formula(toy: None) -> None:
    targets = [b"def add(a, b):\n    return a + b\n", b"for i in range(10):\n    print(i)\n"]
    scorer = TargetSet.from_texts(targets, compressor="toybz2")
    for text in (b"def sub(a, b):\n    return a - b\n", b"", b"x" * 500):
        assert scorer.score(text) == pytest.approx(plain_alignment(text, targets), abs=1e-12)


def test_a_registered_compressor_runs_on_the_command_line_and_under_adaptive(
    toy: None, tmp_path: Path
) -> None:
    lines = SOURCE.read_text().splitlines()[:150]
    source = "\n".join(lines) + "\n"
    # 20 targets: --adaptive needs at least 16 to prune.
    target = tmp_path / "targets.jsonl"
    target.write_text("\n".join(TARGET.read_text().splitlines()[:20]) + "\n")
    args = [
        "-t",
        target,
        "--target-template",
        "{prompt}{canonical_solution}",
        "-j",
        "1",
        "--compressor",
        "toybz2",
        "-k",
        "10",
        "-o",
        "-",
    ]
    exhaustive = ok("select", "-", *args, input=source.encode()).stdout
    adaptive = ok("select", "-", *args, "--adaptive", input=source.encode()).stdout
    assert adaptive == exhaustive
    assert len(records(exhaustive)) == 10
    assert json.loads(exhaustive.splitlines()[0])["zipfit_score"] > 0

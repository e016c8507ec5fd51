"""The scorer contract: a method with an option of its own is one class and one registry
line, and it runs through the library, the CLI and --adaptive with no edit elsewhere.

`ToyScorer` below is that method: toy_scale × (1 − mean NCD to the targets) plus half its
mean NCD to a background (its own copies left out). Nothing in zipfit_cli knows it.
"""

from __future__ import annotations

import io
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import FAST, SOURCE, ok, records, run

from zipfit_cli import SCORERS, RunSettings, ScoringInputs, TextSpec, UsageError, build_scorer, run_select
from zipfit_cli.base.stats import RunStats
from zipfit_cli.scoring.adaptive import AdaptiveScorer
from zipfit_cli.scoring.compressors import get_compressor
from zipfit_cli.scoring.contrast import ContrastSettings
from zipfit_cli.scoring.pairwise import NcdTerm, NcdTerms, TargetSet


@dataclass(frozen=True)
class ToySettings:
    toy_scale: float = 2.0


class ToyScorer:
    settings = ToySettings
    needs_background = True

    def __init__(self, targets: TargetSet, background: TargetSet, scale: float) -> None:
        self.targets, self.background, self.scale = targets, background, scale

    @classmethod
    def from_inputs(cls, inputs: ScoringInputs) -> ToyScorer:
        assert inputs.background is not None
        settings: ToySettings = inputs.settings
        compressor = inputs.compressor
        background = TargetSet(list(inputs.background), compressor)
        return cls(TargetSet(list(inputs.targets), compressor), background, settings.toy_scale)

    @property
    def comparisons(self) -> int:
        return len(self.targets) + len(self.background)

    def describe(self) -> dict[str, Any]:
        return {**self.targets.describe(), "method": "toy", "toy_scale": self.scale}

    def ncd_terms(self) -> NcdTerms:
        return NcdTerms(
            self.scale,
            (NcdTerm(-self.scale, self.targets), NcdTerm(0.5, self.background, leave_out_copies=True)),
        )

    def score(self, text: bytes) -> float:
        return self.ncd_terms().score(text)


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one line that registers the method (the test module is importable by name)."""
    monkeypatch.setitem(SCORERS, "toy", f"{__name__}:ToyScorer")


def _inputs(targets: list[bytes], background: list[bytes], settings: Any = None) -> ScoringInputs:
    return ScoringInputs(targets, get_compressor("lz4"), background, settings)


def test_build_scorer_uses_the_methods_own_settings(
    toy: None, target_texts: list[bytes], source_texts: list[bytes]
) -> None:
    background = source_texts[:12]
    scorer = build_scorer("toy", _inputs(target_texts[:20], background, ToySettings(toy_scale=3.0)))
    assert isinstance(scorer, ToyScorer) and scorer.scale == 3.0
    assert scorer.describe()["toy_scale"] == 3.0 and scorer.comparisons == 32
    x = source_texts[40]
    by_hand = 3.0 - 3.0 * scorer.targets.mean_ncd(x) + 0.5 * scorer.background.mean_ncd(x)
    assert scorer.score(x) == pytest.approx(by_hand, rel=1e-12)
    own = scorer.background.mean_ncd_excluding(background[0], [0])  # a drawn record: its copy is left out
    assert scorer.score(background[0]) == 3.0 - 3.0 * scorer.targets.mean_ncd(background[0]) + 0.5 * own
    default = build_scorer("toy", _inputs(target_texts[:20], background))
    assert isinstance(default, ToyScorer) and default.scale == 2.0  # settings None: the defaults


def test_build_scorer_refuses_another_methods_settings_and_a_missing_background(
    toy: None, target_texts: list[bytes]
) -> None:
    with pytest.raises(TypeError, match="the toy method takes ToySettings settings, not ContrastSettings"):
        build_scorer("toy", _inputs(target_texts, [b"x = 1"], ContrastSettings()))
    with pytest.raises(UsageError, match="the toy method needs a background"):
        build_scorer("toy", ScoringInputs(target_texts, get_compressor("lz4")))


def test_adaptive_scores_equal_the_toy_scores_bit_for_bit_and_pickle(
    toy: None, target_texts: list[bytes], source_texts: list[bytes]
) -> None:
    scorer = build_scorer("toy", _inputs(target_texts[:20], source_texts[900:930], ToySettings(1.5)))
    adaptive = AdaptiveScorer(scorer, seed=3)  # type: ignore[arg-type]
    assert adaptive.exhaustive_reason is None and adaptive.comparisons == 50
    shipped = pickle.loads(pickle.dumps(adaptive))  # as each worker receives it
    for x in [*source_texts[:20], source_texts[905]]:
        assert adaptive.score(x, -math.inf) == scorer.score(x)  # ==, not approx
        assert shipped.score(x, -math.inf) == scorer.score(x)
    assert AdaptiveScorer(build_scorer("toy", _inputs(target_texts[:15], source_texts[:4]))).exhaustive_reason  # type: ignore[arg-type]


def _select(settings: RunSettings, k: int) -> tuple[bytes, RunStats]:
    sink = io.BytesIO()
    stats = run_select(settings, sink, top_k=k)  # type: ignore[arg-type]
    return sink.getvalue(), stats


def test_the_library_run_selects_the_same_bytes_with_and_without_adaptive(
    toy: None, target_texts: list[bytes], source_texts: list[bytes]
) -> None:
    inputs = _inputs(target_texts, source_texts[::160], ToySettings(toy_scale=2.5))
    spec = TextSpec.build("text")
    scorer = build_scorer("toy", inputs)
    exhaustive, _ = _select(RunSettings([str(SOURCE)], scorer, spec, workers=2, limit=2500), 50)
    settings = RunSettings([str(SOURCE)], scorer, spec, workers=2, limit=2500)
    settings.adaptive = AdaptiveScorer(scorer)  # type: ignore[arg-type]
    adaptive, stats = _select(settings, 50)
    assert adaptive == exhaustive and len(records(exhaustive)) == 50
    assert sum(stats.pruned.values()) > 0  # records were stopped, and the selection is the same


def test_method_toy_on_the_command_line_with_adaptive(toy: None, tmp_path: Path) -> None:
    args = ["select", SOURCE, *FAST, "--method", "toy", "-k", "30", "-q", "--background-size", "24"]
    exhaustive = ok(*args).stdout_bytes
    report = tmp_path / "report.json"
    adaptive = ok(*args, "--adaptive", "--report", report).stdout_bytes
    assert adaptive == exhaustive and len(records(exhaustive)) == 30
    settings = orjson.loads(report.read_bytes())["settings"]
    assert (
        settings["method"] == "toy"
        and settings["toy_scale"] == 2.0
        and not settings["adaptive"]["exhaustive"]
    )
    refused = run("select", SOURCE, *FAST, "--method", "toy", "-k", "3", "--contrast-weight", "1")
    assert refused.exit_code == 2 and "--contrast-weight goes with --contrast" in refused.stderr

"""The Python API (api.py): score_texts and select_top_k."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import pytest
from conftest import FAST, TARGETS, ok, records, run
from test_scoring import ref_alignment

from zipfit_cli import (
    AdaptiveScorer,
    ContrastScorer,
    Decontaminator,
    RunSettings,
    ScoringInputs,
    TargetSet,
    TextSpec,
    UsageError,
    build_scorer,
    get_compressor,
    run_select,
    sample_background,
    score_texts,
    select_files,
    select_top_k,
)
from zipfit_cli.runs.api import RecordError
from zipfit_cli.scoring.align import dataset_alignment


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


TEXT, TARGET_TEXT = "def f(x): return x", "def g(y): return y"


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: score_texts([TEXT], [TARGET_TEXT], batch_size=0), ValueError, "batch_size must be at least"),
        (lambda: score_texts([TEXT], [TARGET_TEXT], batch_size=2.5), TypeError, "batch_size must be an int"),
        (lambda: score_texts([TEXT], [TARGET_TEXT], workers=0), ValueError, "workers must be at least 1"),
        (lambda: score_texts([TEXT], [TARGET_TEXT], workers=True), TypeError, "workers must be an int"),
        (lambda: score_texts([TEXT], TARGET_TEXT), TypeError, "targets must be an iterable of texts"),
        (lambda: score_texts([TEXT], TARGET_TEXT.encode()), TypeError, "not a single bytes"),
        (lambda: score_texts([TEXT], []), ValueError, "targets is empty"),
        (lambda: score_texts([TEXT], [TARGET_TEXT, 3]), TypeError, r"targets\[1\] must be str or bytes"),
        (lambda: score_texts([TEXT], iter([TARGET_TEXT])), TypeError, "a list of texts or a scorer"),
        (lambda: score_texts(TEXT, [TARGET_TEXT]), TypeError, "texts must be an iterable of texts"),
        (lambda: score_texts([TEXT], [TARGET_TEXT], background=TEXT), TypeError, "background must be"),
        (lambda: score_texts([TEXT], [TARGET_TEXT], background=[]), ValueError, "background is empty"),
        (lambda: score_texts([TEXT], [TARGET_TEXT], contrast_weight=2.0), ValueError, "goes with a"),
        (lambda: score_texts([TEXT], [TARGET_TEXT], level=0), ValueError, "level 0"),
        (lambda: score_texts([TEXT], [TARGET_TEXT], level=True), TypeError, "level must be an int"),
        (lambda: score_texts([TEXT], [TARGET_TEXT], level=9.0), TypeError, "level must be an int"),
        (lambda: score_texts([TEXT], [TARGET_TEXT], compressor="nope"), ValueError, "unknown compressor"),
        (lambda: select_top_k([{"text": TEXT}], [TARGET_TEXT], k=1.5), TypeError, "k must be an int"),
        (lambda: select_top_k([{"text": TEXT}], [TARGET_TEXT], k=True), TypeError, "k must be an int"),
        (lambda: select_top_k([{"text": TEXT}], [TARGET_TEXT], k=0), ValueError, "k must be at least 1"),
        (lambda: select_top_k({"text": TEXT}, [TARGET_TEXT], k=1), TypeError, "not a single record"),
        (lambda: select_top_k([{"text": TEXT}], TARGET_TEXT, k=1), TypeError, "targets must be"),
        (lambda: select_top_k([{"text": TEXT}], [TARGET_TEXT], k=1, workers=0), ValueError, "workers"),
        (lambda: score_texts([TEXT], [""]), ValueError, r"targets\[0\] is empty or whitespace only"),
        (lambda: score_texts([TEXT], [TARGET_TEXT, " \n"]), ValueError, r"targets\[1\] is empty"),
        (lambda: score_texts([TEXT], [TARGET_TEXT], compressor=None), TypeError, "compressor must be"),
        (lambda: select_top_k([{"text": TEXT}], [TARGET_TEXT], k=1, text_key=None), TypeError, "text_key"),
        (lambda: select_top_k([{"text": TEXT}], [TARGET_TEXT], k=1, text_key=""), ValueError, "text_key"),
        (lambda: select_top_k([{"text": TEXT}], [TARGET_TEXT], k=1, text_key=5), TypeError, "text_key"),
        (
            lambda: select_top_k([TEXT], [TARGET_TEXT], k=1),
            TypeError,
            r"records\[0\] is str: a record is a mapping",
        ),
        (lambda: select_top_k([b'{"text": "x"}'], [TARGET_TEXT], k=1), TypeError, r"pass json.loads\(line\)"),
        (lambda: select_top_k([3], [TARGET_TEXT], k=1), TypeError, r"records\[0\] must be a mapping"),
        (
            lambda: dataset_alignment([TEXT.encode()], TargetSet.from_texts([TARGET_TEXT]), pairs=0),
            ValueError,
            "pairs must be at least 1",
        ),
        (
            lambda: dataset_alignment([TEXT.encode()], TargetSet.from_texts([TARGET_TEXT]), pairs=1.5),
            TypeError,
            "pairs must be an int",
        ),
        (
            lambda: TargetSet.from_texts([TARGET_TEXT]).alignment(None),
            TypeError,
            "source must be str or bytes",
        ),
        (lambda: Decontaminator([TARGET_TEXT]).check(None), TypeError, "text must be str or bytes"),
    ],
)
def test_api_arguments_are_checked_when_called(call: Any, error: type[Exception], message: str) -> None:
    """Each mistake raises at the call, naming the argument: nothing is scored silently wrong."""
    with pytest.raises(error, match=message):
        call()  # score_texts is lazy, but its arguments are checked before it returns


@pytest.mark.parametrize("weight", [math.inf, -math.inf, math.nan, -1.0])
def test_contrast_weight_must_be_finite_and_not_negative(weight: float) -> None:
    with pytest.raises(ValueError, match="contrast weight must be a finite number of at least 0"):
        ContrastScorer.from_texts([TARGET_TEXT], [TEXT], "lz4", weight=weight)
    with pytest.raises(ValueError, match="contrast weight"):
        score_texts([TEXT], [TARGET_TEXT], background=[TEXT], contrast_weight=weight)


def test_library_objects_refuse_a_bare_text_and_bad_numbers() -> None:
    with pytest.raises(TypeError, match="texts must be an iterable of texts, not a single str"):
        TargetSet.from_texts(TARGET_TEXT)
    with pytest.raises(ValueError, match="texts is empty"):
        TargetSet.from_texts([])
    with pytest.raises(TypeError, match="background must be"):
        ContrastScorer.from_texts([TARGET_TEXT], TEXT)
    with pytest.raises(TypeError, match="targets must be"):
        ContrastScorer.from_texts(TARGET_TEXT, [TEXT])
    with pytest.raises(TypeError, match="texts must be"):
        Decontaminator.from_targets(TARGET_TEXT)
    targets = TargetSet.from_texts([TARGET_TEXT], "lz4")
    for z in (math.inf, math.nan, 0.0, -1.0):
        with pytest.raises(ValueError, match="z"):
            AdaptiveScorer(targets, z=z)
    with pytest.raises(TypeError, match="scorer must be a TargetSet or a ContrastScorer"):
        AdaptiveScorer([TARGET_TEXT])  # type: ignore[arg-type]
    spec = TextSpec.build("text")
    with pytest.raises(TypeError, match="sources must be an iterable of paths"):
        sample_background("corpus.jsonl", spec, 10)
    with pytest.raises(TypeError, match="size must be an int"):
        sample_background(["corpus.jsonl"], spec, 2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit must be at least 1"):
        sample_background(["corpus.jsonl"], spec, 2, limit=0)


def test_run_settings_and_selection_limits_follow_the_cli_rules() -> None:
    targets = TargetSet.from_texts([TARGET_TEXT], "lz4")
    spec = TextSpec.build("text")
    for field, value, error in (
        ("workers", 0, ValueError),
        ("workers", 1.0, TypeError),
        ("batch_size", 0, ValueError),
        ("batch_size", True, TypeError),
        ("limit", 0, ValueError),
    ):
        with pytest.raises(error, match=field):
            RunSettings(["a.jsonl"], targets, spec, **{field: value})
    with pytest.raises(TypeError, match="sources must be an iterable of paths"):
        RunSettings("a.jsonl", targets, spec)  # type: ignore[arg-type]
    settings = RunSettings(["a.jsonl"], targets, spec)
    for top_k, fraction, error in (
        (1.5, None, TypeError),
        (0, None, ValueError),
        (None, 0.0, ValueError),
        (None, math.inf, ValueError),
        (None, math.nan, ValueError),
        (None, "0.5", TypeError),
    ):
        with pytest.raises(error):
            run_select(settings, io.BytesIO(), top_k=top_k, fraction=fraction)  # type: ignore[arg-type]


def test_values_out_of_range_are_value_errors_and_usage_errors() -> None:
    from zipfit_cli import UsageError

    for call in (lambda: get_compressor("gzip", 10), lambda: TargetSet([], get_compressor("lz4"))):
        with pytest.raises(ValueError) as raised:
            call()
        assert isinstance(raised.value, UsageError)  # the CLI's exit code 2, should it meet one


def test_alignment_and_score_texts_take_str_and_bytes() -> None:
    targets = ["def add(a, b):\n    return a + b\n", "def mul(a, b):\n    return a * b\n"]
    text = "def sub(a, b):\n    return a - b  # é\n"
    ts = TargetSet.from_texts(targets)
    assert ts.alignment(text) == ts.alignment(text.encode())
    from_str, from_bytes = (list(score_texts([t], ts)) for t in (text, text.encode()))
    assert from_str == from_bytes == [ts.alignment(text)]


# ---- coverage: select --coverage F in the API --------------------------------------------


@pytest.fixture(scope="module")
def coverage_pool(tmp_path_factory: pytest.TempPathFactory, source_lines: list[bytes]) -> dict[str, Any]:
    """300 sample records and a background of 20 of them, as files for the CLI and as texts."""
    root = tmp_path_factory.mktemp("coverage")
    lines = source_lines[:300]
    (root / "pool.jsonl").write_bytes(b"".join(lines))
    (root / "bg.jsonl").write_bytes(b"".join(lines[::15]))
    recs = [json.loads(line) for line in lines]
    return {"root": root, "records": recs, "background": [r["text"] for r in recs[::15]]}


def _cli_coverage(pool: dict[str, Any], k: int) -> list[dict[str, Any]]:
    root = pool["root"]
    out = ok(
        "select", root / "pool.jsonl", *FAST, "-q", "--contrast", "--background", root / "bg.jsonl",
        "--coverage", "0.25", "-k", str(k),
    )  # fmt: skip
    return records(out.stdout_bytes)


@pytest.mark.parametrize("k", [30, 9])  # C = 7.5 and 2.25: rounded half up to 8, and to 2
def test_select_top_k_coverage_is_the_clis_selection(
    coverage_pool: dict[str, Any], target_texts: list[bytes], k: int
) -> None:
    """The API's --contrast --coverage 0.25 picks the CLI's records, in the CLI's order, with
    its scores (worker processes carry each score's distances)."""
    cli = _cli_coverage(coverage_pool, k)
    api = select_top_k(
        coverage_pool["records"],
        target_texts,
        k,
        compressor="lz4",
        background=coverage_pool["background"],
        coverage=0.25,
        workers=2,
    )
    assert [record for _, record in api] == [{f: v for f, v in r.items() if f != "zipfit_score"} for r in cli]
    assert [score for score, _ in api] == [r["zipfit_score"] for r in cli]
    assert all(type(score) is float for score, _ in api)  # not the score with its distances
    by_score = select_top_k(
        coverage_pool["records"], target_texts, k, compressor="lz4", background=coverage_pool["background"]
    )
    assert [r for _, r in api] != [r for _, r in by_score]  # the coverage picks changed the selection


def test_select_files_coverage_writes_the_clis_selection(
    coverage_pool: dict[str, Any], target_texts: list[bytes], tmp_path: Any
) -> None:
    scorer = ContrastScorer.from_texts(target_texts, coverage_pool["background"], "lz4")
    settings = RunSettings([str(coverage_pool["root"] / "pool.jsonl")], scorer, TextSpec.build("text"))
    stats = select_files(settings, str(tmp_path / "top.jsonl"), top_k=30, coverage=0.25)
    assert records((tmp_path / "top.jsonl").read_bytes()) == _cli_coverage(coverage_pool, 30)
    assert stats.selected_by == {"coverage": 8, "score": 22}
    assert settings.coverage is None and settings.scorer is scorer  # the caller's settings are kept


def test_coverage_in_the_api_is_refused_where_the_cli_refuses_it(
    coverage_pool: dict[str, Any], target_texts: list[bytes], tmp_path: Any
) -> None:
    """Adaptive scoring and the corpus method: the same one-line messages as the command's."""
    pool, recs = str(coverage_pool["root"] / "pool.jsonl"), coverage_pool["records"]
    pairwise = TargetSet(target_texts, get_compressor("lz4"))
    corpus = build_scorer("corpus", ScoringInputs(target_texts, get_compressor("lz4")))
    spec = TextSpec.build("text")
    adaptive = RunSettings([pool], pairwise, spec, adaptive=AdaptiveScorer(pairwise))
    refused = {
        "--adaptive": [
            lambda: select_top_k(recs, AdaptiveScorer(pairwise), 5, coverage=0.5),
            lambda: select_files(adaptive, str(tmp_path / "a.jsonl"), top_k=5, coverage=0.5),
        ],
        "--method corpus": [
            lambda: select_top_k(recs, corpus, 5, coverage=0.5),
            lambda: select_files(
                RunSettings([pool], corpus, spec), str(tmp_path / "c.jsonl"), top_k=5, coverage=1
            ),
        ],
    }
    for flag, calls in refused.items():
        cli = run("select", pool, *TARGETS, "-k", "5", "--coverage", "0.5", *flag.split())
        assert cli.exit_code == 2
        for call in calls:
            with pytest.raises(ValueError) as raised:
                call()
            assert isinstance(raised.value, UsageError)
            assert cli.output.startswith(f"zipfit: error: {raised.value} (see --coverage)")
    assert not list(tmp_path.iterdir())  # refused before any output was opened


@pytest.mark.parametrize(
    ("coverage", "error", "message"),
    [
        (1.5, ValueError, "--coverage takes a share from 0 to 1, not 1.5"),
        (-0.25, ValueError, "from 0 to 1"),
        (math.nan, ValueError, "from 0 to 1"),
        (math.inf, ValueError, "from 0 to 1"),
        ("0.25", TypeError, "coverage must be a number, not str"),
        (True, TypeError, "coverage must be a number, not bool"),
    ],
)
def test_coverage_values_follow_the_clis_rules(coverage: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        select_top_k([{"text": TEXT}], [TARGET_TEXT], 1, coverage=coverage)
    settings = RunSettings(["a.jsonl"], TargetSet.from_texts([TARGET_TEXT], "lz4"), TextSpec.build("text"))
    with pytest.raises(error, match=message):
        select_files(settings, "out.jsonl", top_k=1, coverage=coverage)


def test_coverage_needs_k_and_zero_is_by_score(
    coverage_pool: dict[str, Any], target_texts: list[bytes]
) -> None:
    settings = RunSettings(["a.jsonl"], TargetSet.from_texts([TARGET_TEXT], "lz4"), TextSpec.build("text"))
    with pytest.raises(ValueError, match="--coverage takes a share of the K records: give -k or --fraction"):
        select_files(settings, "out.jsonl", coverage=0.5)
    recs = coverage_pool["records"][:60]
    plain = select_top_k(recs, target_texts, 10, compressor="lz4")
    assert select_top_k(recs, target_texts, 10, compressor="lz4", coverage=0) == plain
    assert select_top_k(recs, target_texts, 10, compressor="lz4", coverage=None) == plain


@pytest.mark.parametrize("fill", ["rank", "shortest"])
@pytest.mark.parametrize("coverage", [None, 0.25])
def test_select_top_k_budget_is_the_clis(
    coverage_pool: dict[str, Any], target_texts: list[bytes], fill: str, coverage: float | None
) -> None:
    root, k, budget = coverage_pool["root"], 40, 9000
    extra = ["--coverage", "0.25"] if coverage else []
    out = ok(
        "select", root / "pool.jsonl", *FAST, "-q", "--contrast", "--background", root / "bg.jsonl",
        "-k", str(k), *extra, "--budget-chars", str(budget), "--budget-fill", fill,
    )  # fmt: skip
    cli = records(out.stdout_bytes)
    api = select_top_k(
        coverage_pool["records"], target_texts, k, compressor="lz4", background=coverage_pool["background"],
        coverage=coverage, budget_chars=budget, budget_fill=fill,
    )  # fmt: skip
    assert 0 < len(api) < k
    assert [record for _, record in api] == [{f: v for f, v in r.items() if f != "zipfit_score"} for r in cli]
    assert sum(len(r["text"]) for _, r in api) <= budget


def test_select_top_k_budget_refusals(target_texts: list[bytes]) -> None:
    recs = [{"text": "def f(): pass"}]
    with pytest.raises(UsageError, match="--budget-fill shortest goes with"):
        select_top_k(recs, target_texts, 1, budget_fill="shortest")
    with pytest.raises(UsageError, match="--budget-fill is one of"):
        select_top_k(recs, target_texts, 1, budget_chars=5, budget_fill="longest")
    with pytest.raises(TypeError, match="budget_chars must be an int"):
        select_top_k(recs, target_texts, 1, budget_chars=5.0)  # type: ignore[arg-type]

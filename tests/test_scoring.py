"""ZIP-FIT alignment (scoring.py) against a plain reference implementation of the paper's formula."""

from __future__ import annotations

import gzip
import json
import pickle

import pytest

from zipfit_cli.base.errors import UsageError
from zipfit_cli.scoring.compressors import COMPRESSORS, GzipCompressor, get_compressor
from zipfit_cli.scoring.pairwise import TargetSet, ncd

COPY_THRESHOLD = 1024  # GzipCompressor switches strategy at this source length


def ref_alignment(x: bytes, targets: list[bytes], level: int) -> float:
    """1 - mean NCD, with C(b) = len(gzip.compress(b, level)) and the source first."""
    total = 0.0
    for t in targets:
        c_x = len(gzip.compress(x, level))
        c_t = len(gzip.compress(t, level))
        c_xt = len(gzip.compress(x + t, level))
        total += (c_xt - min(c_x, c_t)) / max(c_x, c_t)
    return 1.0 - total / len(targets)


@pytest.fixture(scope="module")
def mixed_sources(source_texts: list[bytes]) -> list[bytes]:
    """100 real sources: 70 from the start of the corpus plus 30 longer than the threshold."""
    head = source_texts[:70]
    long_ones = [t for t in source_texts[70:] if len(t) >= COPY_THRESHOLD][:30]
    return head + long_ones


@pytest.fixture(scope="module")
def long_source(source_texts: list[bytes]) -> bytes:
    """About 20 KB of real text (several records joined)."""
    joined = b"\n".join(source_texts[:60])
    assert len(joined) > 20_000
    return joined[:20_000]


def test_mixed_sources_cover_both_gzip_strategies(mixed_sources: list[bytes]) -> None:
    assert len(mixed_sources) >= 100
    assert sum(len(s) < COPY_THRESHOLD for s in mixed_sources) >= 30
    assert sum(len(s) >= COPY_THRESHOLD for s in mixed_sources) >= 30


def test_alignment_equals_reference_level9(mixed_sources: list[bytes], target_texts: list[bytes]) -> None:
    targets = TargetSet.from_texts(target_texts, "gzip", 9)
    assert len(targets) == 40
    for i, x in enumerate(mixed_sources):
        assert targets.alignment(x) == pytest.approx(ref_alignment(x, target_texts, 9), abs=1e-12), (
            i,
            len(x),
        )


@pytest.mark.parametrize("level", [1, 6])
def test_alignment_equals_reference_other_levels(
    level: int, mixed_sources: list[bytes], long_source: bytes, target_texts: list[bytes]
) -> None:
    targets = TargetSet.from_texts(target_texts, "gzip", level)
    short = [s for s in mixed_sources if len(s) < COPY_THRESHOLD][:4]
    long_ = [s for s in mixed_sources if len(s) >= COPY_THRESHOLD][:4]
    for x in [*short, *long_, long_source]:
        assert targets.alignment(x) == pytest.approx(ref_alignment(x, target_texts, level), abs=1e-12)


def test_alignment_long_source_level9(long_source: bytes, target_texts: list[bytes]) -> None:
    targets = TargetSet.from_texts(target_texts, "gzip", 9)
    assert targets.alignment(long_source) == pytest.approx(
        ref_alignment(long_source, target_texts, 9), abs=1e-12
    )


def test_alignments_is_alignment_per_source(mixed_sources: list[bytes], target_texts: list[bytes]) -> None:
    targets = TargetSet.from_texts(target_texts[:5], "gzip", 9)
    assert targets.alignments(mixed_sources[:10]) == [targets.alignment(s) for s in mixed_sources[:10]]


@pytest.mark.parametrize("level", range(1, 10))
def test_gzip_sizes_are_gzip_compress_lengths(
    level: int, source_texts: list[bytes], long_source: bytes, target_texts: list[bytes]
) -> None:
    comp = GzipCompressor(level)
    around = b"".join(source_texts[:10])
    sources = [
        source_texts[1][:300],
        around[: COPY_THRESHOLD - 1],
        around[:COPY_THRESHOLD],
        around[: COPY_THRESHOLD + 1],
        long_source,
    ]
    targets = target_texts[:6]
    for x in sources:
        assert comp.size(x) == len(gzip.compress(x, level))
        assert comp.pair_sizes(x, targets) == [len(gzip.compress(x + t, level)) for t in targets], len(x)


def test_source_comes_first_in_the_pair(target_texts: list[bytes], source_texts: list[bytes]) -> None:
    comp = GzipCompressor(9)
    x, t = source_texts[0], target_texts[0]
    assert comp.pair_sizes(x, [t]) == [len(gzip.compress(x + t, 9))]


def test_identical_text_scores_highest(source_texts: list[bytes], target_texts: list[bytes]) -> None:
    targets = TargetSet.from_texts(target_texts[:1], "gzip", 9)
    same = targets.alignment(target_texts[0])
    other = targets.alignment(source_texts[3])
    assert same > 0.8
    assert same > other


def test_level_zero_refused_with_reason() -> None:
    with pytest.raises(UsageError, match="length"):
        get_compressor("gzip", 0)
    with pytest.raises(UsageError, match="length"):
        TargetSet.from_texts(["def f(): pass"], "gzip", 0)


@pytest.mark.parametrize(
    ("name", "level"), [("gzip", 10), ("gzip", -1), ("lz4", 13), ("zstd", 0), ("zstd", 23)]
)
def test_out_of_range_levels_refused(name: str, level: int) -> None:
    with pytest.raises(UsageError, match=str(level)):
        get_compressor(name, level)


def test_unknown_compressor_refused() -> None:
    with pytest.raises(UsageError, match="brotli"):
        get_compressor("brotli")
    with pytest.raises(UsageError, match="unknown compressor"):
        TargetSet.from_texts(["x"], "bz3")


def test_default_levels() -> None:
    assert get_compressor("gzip").level == 9
    assert get_compressor("lz4").level == 0
    assert get_compressor("zstd").level == 3
    assert set(COMPRESSORS) >= {"gzip", "lz4", "zstd"}


def test_empty_target_set_refused() -> None:
    with pytest.raises(UsageError, match="empty"):
        TargetSet.from_texts([], "gzip")


@pytest.mark.parametrize(
    ("name", "level"), [("lz4", 0), ("lz4", 9), ("zstd", 1), ("zstd", 3), ("isal", 0), ("isal", 1)]
)
def test_fast_compressors_deterministic_and_sane(
    name: str, level: int, source_lines: list[bytes], source_texts: list[bytes], target_texts: list[bytes]
) -> None:
    if name == "isal":
        pytest.importorskip("isal")  # an optional extra; `make test` installs it
    targets = TargetSet.from_texts(target_texts[:8], name, level)
    again = TargetSet.from_texts(target_texts[:8], name, level)
    shipped = pickle.loads(pickle.dumps(targets))  # what a worker process receives
    prose = next(
        json.loads(line)["text"].encode() for line in source_lines if json.loads(line)["source"] == "prose"
    )
    for x in [*source_texts[:20], prose]:
        s = targets.alignment(x)
        assert s == again.alignment(x) == shipped.alignment(x)
        assert -0.5 < s < 1.0
    identical = targets.alignment(target_texts[0])
    assert identical > targets.alignment(prose)
    assert identical > 0.1


def test_shipped_target_set_scores_identically(source_texts: list[bytes], target_texts: list[bytes]) -> None:
    targets = TargetSet.from_texts(target_texts[:5], "gzip", 6)
    shipped = pickle.loads(pickle.dumps(targets))
    assert shipped.compressor.level == 6
    for x in [*source_texts[:5], b"".join(source_texts[:5])]:
        assert shipped.alignment(x) == targets.alignment(x)


def test_str_and_bytes_targets_are_the_same() -> None:
    a = TargetSet.from_texts(["naïve café", "def f(x): return x"], "gzip")
    b = TargetSet.from_texts(["naïve café".encode(), b"def f(x): return x"], "gzip")
    assert a.texts == b.texts
    assert a.digest() == b.digest()


def test_digest_is_order_and_boundary_sensitive() -> None:
    d = TargetSet.from_texts(["ab", "c"]).digest()
    assert d == TargetSet.from_texts(["ab", "c"]).digest()
    assert d != TargetSet.from_texts(["c", "ab"]).digest()
    assert d != TargetSet.from_texts(["a", "bc"]).digest()
    assert len(d) == 64


def test_ncd_helper() -> None:
    assert ncd(100, 100, 100) == 0.0
    assert ncd(100, 50, 130) == pytest.approx(0.8)
    assert ncd(50, 100, 130) == ncd(100, 50, 130)  # symmetric in the single sizes
    assert ncd(40, 60, 100) == pytest.approx(1.0)  # nothing shared: C(xt) = C(x) + C(t)
    c_x, c_t = len(gzip.compress(b"abc" * 50)), len(gzip.compress(b"xyz" * 50))
    c_xt = len(gzip.compress(b"abc" * 50 + b"xyz" * 50))
    assert 0.0 < ncd(c_x, c_t, c_xt) < 1.2


@pytest.mark.parametrize("level", [1, 4, 6, 9])
def test_window_choice_stays_exact_at_every_boundary(level: int, source_texts: list[bytes]) -> None:
    """Window sizes are picked per pair to fit source + target; sizes around each window's edge
    (2**w - 262 bytes), with long-distance repeats, must still match gzip exactly.
    """
    from zipfit_cli.scoring.compressors import window_bits

    pool = b"\n".join(source_texts[:400])
    targets = [pool[:300], pool[5000:5800], pool[100:700] * 3, pool[:40]]
    longest = max(map(len, targets))
    comp = get_compressor("gzip", level)
    sizer = comp.pair_sizer(targets)
    for w in range(9, 16):
        edge = (1 << w) - 262 - longest
        for length in (edge - 1, edge, edge + 1):
            if length <= 0:
                continue
            # The target text also appears at the very start of the source: the longest match.
            x = (targets[1] + pool)[:length]
            assert window_bits(length + longest) in (w, w + 1, 15)
            expected = [len(gzip.compress(x + t, level)) for t in targets]
            assert sizer(x) == expected, (w, length)
            assert comp.size(x) == len(gzip.compress(x, level))


def test_missing_optional_compressor_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_isal(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("isal"):
            raise ModuleNotFoundError("No module named 'isal'", name="isal")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_isal)
    with pytest.raises(UsageError, match="pip install isal"):
        get_compressor("isal")

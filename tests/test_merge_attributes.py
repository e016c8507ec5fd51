"""`zipfit merge PARTS --output-format attributes -o DIR/` (runs/merge_attributes.py): one
attribute file a source file, the tree `score --output-format attributes -o DIR/` writes;
the source names a part carries are checked before anything is written."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import SOURCE, TARGETS, ok, run

from zipfit_cli.files.part_names import MANIFEST

LZ4 = [*TARGETS, "--compressor", "lz4", "-q", "-j", "1"]


@pytest.fixture
def sources(tmp_path: Path) -> list[Path]:
    """Three source files under docs/: gzip-compressed, plain in a subdirectory, and empty."""
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    lines = SOURCE.read_bytes().splitlines(keepends=True)
    (docs / "a.jsonl.gz").write_bytes(gzip.compress(b"".join(lines[:70]), mtime=0))
    (docs / "sub" / "empty.jsonl").write_bytes(b"")
    (docs / "sub" / "b.jsonl").write_bytes(b"".join([*lines[70:100], b"\n", *lines[100:131]]))
    return [docs / "a.jsonl.gz", docs / "sub" / "empty.jsonl", docs / "sub" / "b.jsonl"]


def _parts(tmp_path: Path, sources: list[Path], n: int, by: str = "record") -> list[Path]:
    made = []
    for i in range(n):
        part = tmp_path / f"part-{i}.jsonl"
        ok("score", *sources, *LZ4, "--shard-by", by, "--shard", f"{i}/{n}", "-o", part)
        made.append(part)
    return made


def _tree(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` but the manifest (its settings and times are the run's own)."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)
    return {str(p.relative_to(directory)): p.read_bytes() for p in files}


def _rewrite_trailers(made: list[Path], change: Any) -> None:
    for part in made:
        lines = part.read_bytes().splitlines(keepends=True)
        trailer = json.loads(lines[-1])
        change(trailer["_zipfit_part"])
        part.write_bytes(b"".join(lines[:-1]) + json.dumps(trailer).encode() + b"\n")


@pytest.mark.parametrize(("by", "n"), [("record", 3), ("file", 2), ("file", 5)])
def test_attribute_parts_merge_into_the_tree_score_writes(
    sources: list[Path], tmp_path: Path, by: str, n: int
) -> None:
    ok("score", *sources, *LZ4, "--output-format", "attributes", "-o", f"{tmp_path}/single/")
    made = _parts(tmp_path, sources, n, by)
    ok("merge", *reversed(made), "--output-format", "attributes", "-o", f"{tmp_path}/merged/", "-q")
    single, merged = _tree(tmp_path / "single"), _tree(tmp_path / "merged")
    assert sorted(merged) == ["a.jsonl.gz", "sub/b.jsonl", "sub/empty.jsonl"]
    assert merged == single  # byte for byte, compression included
    manifest = json.loads((tmp_path / "merged" / MANIFEST).read_bytes())
    assert [(e["name"], e["records"]) for e in manifest["parts"]] == [
        ("a.jsonl.gz", 70),
        ("sub/empty.jsonl", 0),
        ("sub/b.jsonl", 61),
    ]
    assert manifest["records"] == 131 and manifest["output_format"] == "attributes"
    assert [e["source"] for e in manifest["parts"]] == [str(s) for s in sources]


@pytest.mark.parametrize(
    "name",
    ["../escaped.jsonl", "/tmp/absolute.jsonl", "sub/../../up.jsonl", "sub/../\x1b[2J.jsonl", MANIFEST],
)
def test_source_names_from_parts_never_leave_the_directory(
    sources: list[Path], tmp_path: Path, name: str
) -> None:
    made = _parts(tmp_path, sources, 2)
    _rewrite_trailers(made, lambda t: t["source_names"].__setitem__(1, name))
    out = tmp_path / "deep" / "out"
    result = run("merge", *made, "--output-format", "attributes", "-o", f"{out}/")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("zipfit: error: part name") and result.stderr.count("\n") == 1
    assert "\x1b" not in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["docs", "part-0.jsonl", "part-1.jsonl"]


def test_parts_whose_source_lists_disagree_are_refused(sources: list[Path], tmp_path: Path) -> None:
    made = _parts(tmp_path, sources, 2)
    _rewrite_trailers(made[1:], lambda t: t["source_names"].__setitem__(0, "other.jsonl.gz"))
    result = run("merge", *made, "--output-format", "attributes", "-o", f"{tmp_path}/out/")
    assert result.exit_code == 2, result.output
    assert f"{made[1]} and {made[0]} list different source files" in result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "out").exists()


def test_parts_from_before_source_names_are_refused_saying_what_to_do(
    sources: list[Path], tmp_path: Path
) -> None:
    made = _parts(tmp_path, sources, 2)
    _rewrite_trailers(made, lambda t: t.pop("source_names"))
    result = run("merge", *made, "--output-format", "attributes", "-o", f"{tmp_path}/out/")
    assert result.exit_code == 2, result.output
    assert "older zipfit" in result.stderr and "write the parts again" in result.stderr
    # Into one file they still merge, as before.
    assert len(ok("merge", *made, "--output-format", "attributes").stdout.splitlines()) == 131


def test_sources_that_cannot_be_mirrored_are_refused(sources: list[Path], tmp_path: Path) -> None:
    made = _parts(tmp_path, sources, 2)
    _rewrite_trailers(made, lambda t: t.update(source_names=None))
    result = run("merge", *made, "--output-format", "attributes", "-o", f"{tmp_path}/out/")
    assert result.exit_code == 2 and "cannot be mirrored" in result.stderr, result.output
    _rewrite_trailers(made, lambda t: t.update(source_names=["a.jsonl", "b.jsonl"]))  # 3 sources
    result = run("merge", *made, "--output-format", "attributes", "-o", f"{tmp_path}/out/")
    assert result.exit_code == 3 and "source_names are not one a source" in result.stderr, result.output
    _rewrite_trailers(made, lambda t: t.update(source_names=["a.parquet", "b.jsonl", "c.jsonl"]))
    result = run("merge", *made, "--output-format", "attributes", "-o", f"{tmp_path}/out/")
    assert result.exit_code == 2 and "mirror JSONL document files" in result.stderr, result.output


def test_a_part_stream_that_does_not_hold_every_record_leaves_no_file(
    sources: list[Path], tmp_path: Path
) -> None:
    made = _parts(tmp_path, sources, 2)
    # Two parts of shard 0: records 0, 2, 4, ... twice and never 1, 3, ...; the trailer passes.
    twin = tmp_path / "twin.jsonl"
    twin.write_bytes(made[0].read_bytes())
    _rewrite_trailers([twin], lambda t: t.update(shard_index=1))
    result = run("merge", made[0], twin, "--output-format", "attributes", "-o", f"{tmp_path}/out/")
    assert result.exit_code == 3, result.output
    assert "do not hold record 2 of a.jsonl.gz once and in its place" in result.stderr
    assert not (tmp_path / "out").exists()  # made by the run, removed


def test_output_name_does_not_apply_to_attribute_files(sources: list[Path], tmp_path: Path) -> None:
    made = _parts(tmp_path, sources, 2)
    result = run(
        "merge",
        *made,
        "--output-format",
        "attributes",
        "-o",
        f"{tmp_path}/out/",
        "--output-name",
        "p{n}.jsonl",
    )
    assert result.exit_code == 2 and "--output-name does not apply" in result.stderr, result.output


def test_blank_lines_under_attributes_are_a_warning_and_fail_strict(tmp_path: Path) -> None:
    # A blank line gets no attribute line, so the lines after it no longer match their
    # documents by number: it passed with exit 0 and no warning, even with --strict.
    lines = SOURCE.read_bytes().splitlines(keepends=True)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.jsonl").write_bytes(b"".join([*lines[:3], b"\n", *lines[3:6]]))
    (docs / "b.jsonl").write_bytes(b"".join(lines[6:9]))
    sources = [docs / "a.jsonl", docs / "b.jsonl"]
    flags = [*TARGETS, "--compressor", "lz4", "-j", "1", "--output-format", "attributes", "--strict"]
    parts = [tmp_path / f"p{i}.jsonl" for i in range(2)]
    for i, part in enumerate(parts):
        ok("score", *sources, *TARGETS, "--compressor", "lz4", "-q", "--shard", f"{i}/2", "-o", part)
    runs = {
        "score -o FILE": ("score", *sources, *flags, "-o", tmp_path / "attrs.jsonl"),
        "score -o DIR/": ("score", *sources, *flags, "-o", f"{tmp_path}/dir/"),
        "merge -o FILE": (
            "merge",
            *parts,
            "--output-format",
            "attributes",
            "--strict",
            "-o",
            tmp_path / "m.jsonl",
        ),
        "merge -o DIR/": (
            "merge",
            *parts,
            "--output-format",
            "attributes",
            "--strict",
            "-o",
            f"{tmp_path}/mdir/",
        ),
    }
    for name, args in runs.items():
        result = run(*args)
        assert result.exit_code == 6, (name, result.output)
        assert "1 blank line(s), which get no attribute line" in result.stderr, name

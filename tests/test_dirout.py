"""Directory outputs (`score -o DIR/`, runs/dirout.py, files/part_dir.py): parts written by the
workers, a manifest written last, the same bytes as a single output; Dolma attributes per file."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import zstandard
from conftest import FAST, SOURCE, TARGETS, ZIPFIT, busy_corpus, ok, run
from test_dask import scheduler as cluster  # noqa: F401  # a scheduler and 2 workers, as processes

from zipfit_cli.files.part_names import MANIFEST, safe_name

LZ4 = [*TARGETS, "--compressor", "lz4", "-q"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 sample records with blank lines: about 380 KB, several 64 KiB parts."""
    lines = SOURCE.read_bytes().splitlines(keepends=True)[:600]
    lines.insert(10, b"\n")
    lines.insert(300, b"  \n")
    path = tmp_path_factory.mktemp("dirout") / "corpus.jsonl"
    path.write_bytes(b"".join(lines))
    return path


def _manifest(directory: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((directory / MANIFEST).read_bytes())
    return manifest


def _joined(directory: Path) -> bytes:
    """The parts the manifest lists, in order, decompressed."""
    data = b""
    for entry in _manifest(directory)["parts"]:
        raw = (directory / entry["name"]).read_bytes()
        if entry["name"].endswith(".zst"):
            raw = zstandard.ZstdDecompressor().stream_reader(raw).read()
        elif entry["name"].endswith(".gz"):
            raw = gzip.decompress(raw)
        data += raw
    return data


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
    }


def _parts(directory: Path) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    """The part files, and what the manifest says of them (its settings name the engine)."""
    files = _files(directory)
    return {name: data for name, data in files.items() if name != MANIFEST}, _manifest(directory)["parts"]


@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        ("records", None),
        ("ids", None),
        ("attributes", None),
        ("records", "scored-{n:03d}.jsonl.zst"),
        ("ids", "ids-{n}.jsonl.gz"),
    ],
)
def test_parts_concatenate_to_the_single_output(
    corpus: Path, tmp_path: Path, fmt: str, name: str | None
) -> None:
    single = tmp_path / "single.jsonl"
    ok("score", corpus, *FAST, "--output-format", fmt, "-o", single)
    named = ["--output-name", name] if name else []
    cut = [] if fmt == "attributes" else ["--blocksize", "64KiB"]
    ok("score", corpus, *FAST, "--output-format", fmt, "-o", f"{tmp_path}/out/", *cut, *named)
    manifest = _manifest(tmp_path / "out")
    assert len(manifest["parts"]) == (1 if fmt == "attributes" else 6)
    assert _joined(tmp_path / "out") == single.read_bytes()


def test_manifest_describes_every_part(corpus: Path, tmp_path: Path) -> None:
    ok(
        "score",
        corpus,
        *FAST,
        "-o",
        f"{tmp_path}/out/",
        "--blocksize",
        "100KB",
        "--report",
        tmp_path / "r.json",
    )
    out = tmp_path / "out"
    manifest = _manifest(out)
    names = [entry["name"] for entry in manifest["parts"]]
    assert names == [f"part-{n:05d}.jsonl" for n in range(len(names))]
    assert sorted([*names, MANIFEST]) == sorted(_files(out))  # nothing else: no temporary files
    for entry in manifest["parts"]:
        data = (out / entry["name"]).read_bytes()
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["records"] == data.count(b"\n")
    assert manifest["complete"] is True
    last_part = max((out / name).stat().st_mtime_ns for name in names)
    assert (out / MANIFEST).stat().st_mtime_ns >= last_part
    assert (out / MANIFEST).stat().st_mtime_ns >= (tmp_path / "r.json").stat().st_mtime_ns  # after the report
    assert manifest["records"] == 600
    assert manifest["settings"]["compressor"] == "lz4"
    report = json.loads((tmp_path / "r.json").read_bytes())
    assert report["settings"]["directory_output"]["record_bytes_received"] == 0  # the client got no record
    assert report["stats"]["selected"] == 600


def test_workers_write_the_same_parts(corpus: Path, tmp_path: Path) -> None:
    for workers in ("1", "2"):
        ok("score", corpus, *LZ4, "-j", workers, "-o", f"{tmp_path}/j{workers}/", "--blocksize", "64KiB")
    assert _parts(tmp_path / "j1") == _parts(tmp_path / "j2")


@pytest.mark.slow
def test_dask_writes_the_same_parts(corpus: Path, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    lines = corpus.read_bytes().splitlines(keepends=True)
    (docs / "a.jsonl.gz").write_bytes(gzip.compress(b"".join(lines[:200]), mtime=0))
    (docs / "sub" / "b.jsonl").write_bytes(b"".join(lines[200:]))
    sources = [docs / "a.jsonl.gz", docs / "sub" / "b.jsonl"]
    for engine in ("local", "dask"):
        for fmt, cut in (("records", ["--blocksize", "64KiB"]), ("attributes", [])):
            out = f"{tmp_path}/{engine}-{fmt}/"
            ok(
                "score",
                *sources,
                *LZ4,
                "-j",
                "2",
                "--engine",
                engine,
                "--output-format",
                fmt,
                "-o",
                out,
                *cut,
            )
    assert _parts(tmp_path / "local-records") == _parts(tmp_path / "dask-records")
    assert _parts(tmp_path / "local-attributes") == _parts(tmp_path / "dask-attributes")
    assert sorted(_files(tmp_path / "dask-attributes")) == [MANIFEST, "a.jsonl.gz", "sub/b.jsonl"]


def test_attributes_mirror_each_source_file(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    lines = SOURCE.read_bytes().splitlines(keepends=True)
    (docs / "a.jsonl.gz").write_bytes(gzip.compress(b"".join(lines[:120])))
    (docs / "sub" / "b.jsonl").write_bytes(b"".join(lines[120:300]))
    (docs / "sub" / "empty.jsonl").write_bytes(b"")
    sources = [docs / "a.jsonl.gz", docs / "sub" / "b.jsonl", docs / "sub" / "empty.jsonl"]
    ok(
        "score",
        *sources,
        *LZ4,
        "-j",
        "2",
        "--output-format",
        "attributes",
        "-o",
        f"{tmp_path}/attributes/zipfit/",
    )
    out = tmp_path / "attributes" / "zipfit"
    assert sorted(_files(out)) == [MANIFEST, "a.jsonl.gz", "sub/b.jsonl", "sub/empty.jsonl"]
    for source, name in zip(sources, ("a.jsonl.gz", "sub/b.jsonl", "sub/empty.jsonl"), strict=True):
        docs_lines = source.read_bytes()
        attr_lines = (out / name).read_bytes()
        if name.endswith(".gz"):
            docs_lines, attr_lines = gzip.decompress(docs_lines), gzip.decompress(attr_lines)
        ids = [json.loads(line)["id"] for line in docs_lines.splitlines()]
        assert [json.loads(line)["id"] for line in attr_lines.splitlines()] == ids  # line for line
    entries = _manifest(out)["parts"]
    assert [entry["records"] for entry in entries] == [120, 180, 0]


def test_existing_outputs_need_force(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    ok("score", corpus, *FAST, "-o", f"{out}/", "--blocksize", "128KiB")
    before = _files(out)
    again = run("score", corpus, *FAST, "-o", f"{out}/", "--blocksize", "128KiB")
    assert again.exit_code == 4, again.output
    assert "holds files; use --force" in again.stderr
    assert _files(out) == before
    (out / "notes.txt").write_text("mine")
    ok("score", corpus, *FAST, "-o", f"{out}/", "--blocksize", "64KiB", "--force")
    after = _manifest(out)
    assert len(after["parts"]) == 6  # the new set; the manifest lists it alone
    assert (out / "notes.txt").read_text() == "mine"  # other files are left alone


def test_a_failed_run_leaves_no_part_and_no_manifest(corpus: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(corpus.read_bytes() + b'{"text": 1}\n')
    result = run("score", bad, *FAST, "-o", f"{tmp_path}/out/", "--blocksize", "64KiB")
    assert result.exit_code == 3, result.output
    assert "bad.jsonl:603" in result.stderr
    assert _files(tmp_path / "out") == {}


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_failed_run_leaves_no_temporary_file(tmp_path: Path, workers: str) -> None:
    # The first part fails at once; with -j 2 another worker is still writing the next part
    # (gzip-9), and is stopped: its hidden temporary file goes too.
    source = busy_corpus(tmp_path / "busy.jsonl", 3000)
    bad = tmp_path / "bad.jsonl"
    first, rest = source.read_bytes().split(b"\n", 1)
    bad.write_bytes(first + b'\n{"text": 1}\n' + rest)  # line 2: the first is checked before any part
    out = tmp_path / "out"
    result = run("score", bad, *TARGETS, "-q", "-j", workers, "--blocksize", "64KiB", "-o", f"{out}/")
    assert result.exit_code == 3, result.output
    assert not out.exists()  # made by the run, removed with its files


def test_force_never_removes_a_file_the_run_did_not_write(corpus: Path, tmp_path: Path) -> None:
    # The last part fails: the parts this run put in place go, files it never replaced stay,
    # even under a name it planned to write.
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(corpus.read_bytes() + b'{"text": 1}\n')
    out = tmp_path / "out"
    out.mkdir()
    theirs = {"part-00005.jsonl": b"theirs\n", "notes.txt": b"mine\n", MANIFEST: b"{}\n"}
    for name, data in theirs.items():
        (out / name).write_bytes(data)
    result = run("score", bad, *FAST, "-q", "--blocksize", "64KiB", "-o", f"{out}/", "--force")
    assert result.exit_code == 3, result.output
    del theirs[MANIFEST]  # the old set's manifest is removed first: that set is no longer complete
    assert _files(out) == theirs


def test_long_part_names(corpus: Path, tmp_path: Path) -> None:
    # A name a file system takes is written (its temporary name is shortened to fit) ...
    out = tmp_path / "out"
    ok("score", corpus, *FAST, "-o", f"{out}/", "--output-name", "{n:>240}.jsonl", "-q")
    names = [name for name in os.listdir(out) if name != MANIFEST]
    assert len(names) > 1 and all(len(name) == 246 for name in names)
    # ... and one it cannot take is a usage error of one short line, before anything is created.
    for width in (300, 1_000_000):
        result = run("score", corpus, *FAST, "-o", f"{tmp_path}/x/", "--output-name", f"{{n:>{width}}}.jsonl")
        assert result.exit_code == 2, result.output[:300]
        assert "above 255" in result.stderr and len(result.stderr) < 400
        assert len(result.stderr.strip().splitlines()) == 1
    # A width from a nested field is refused before formatting: at n = 1 it would be a gigabyte.
    result = run("score", corpus, *FAST, "-o", f"{tmp_path}/x/", "--output-name", "{n:>{n}000000000}.jsonl")
    assert result.exit_code == 2 and "a field inside a format spec" in result.stderr
    assert not (tmp_path / "x").exists()


def _wait_for_part(directory: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not any(p.name.startswith("part-") for p in directory.glob("*")):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else proc.returncode
        assert time.monotonic() < deadline, "no part was written"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_run_leaves_no_manifest_and_no_partial_part(tmp_path: Path, sig: signal.Signals) -> None:
    source = busy_corpus(tmp_path / "busy.jsonl", 6000)
    args = ["score", str(source), *TARGETS, "-q", "-j", "2", "--blocksize", "64KiB"]
    complete = tmp_path / "complete"  # the same parts, scored fast
    subprocess.run([*ZIPFIT, *args, "--compressor", "lz4", "-o", f"{complete}/"], check=True, timeout=120)
    out = tmp_path / "out"  # gzip-9: still busy when it is stopped
    proc = subprocess.Popen([*ZIPFIT, *args, "-o", f"{out}/"], stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_for_part(out, proc)
        os.kill(proc.pid, sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    left = _files(out)
    assert MANIFEST not in left
    if sig == signal.SIGTERM:  # it stops cleanly: the parts it planned and their temporary files go
        assert left == {}
    finished = _files(complete)
    for name, data in left.items():  # under a part's name, only ever a whole part
        if not name.startswith("."):
            assert data.count(b"\n") == finished[name].count(b"\n")
            assert all(json.loads(line)["zipfit_score"] for line in data.splitlines())


def test_hostile_names_stay_inside_the_directory(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "in").mkdir(parents=True)
    lines = SOURCE.read_bytes().splitlines(keepends=True)
    odd = docs / "in" / "a\nb.jsonl"
    odd.write_bytes(b"".join(lines[:5]))
    (docs / "c.jsonl").write_bytes(b"".join(lines[5:9]))
    out = tmp_path / "deep" / "out"
    sources = [odd, f"{docs}/in/../c.jsonl"]
    ok("score", *sources, *LZ4, "--output-format", "attributes", "-o", f"{out}/")
    assert sorted(_files(out)) == [MANIFEST, "c.jsonl", "in/a\nb.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "docs"]
    for pattern in (
        "../p-{n}.jsonl",
        "/tmp/p-{n}.jsonl",
        ".p-{n}.jsonl",
        "p.jsonl",
        "{m}.jsonl",
        "p-{n}.arrow",
    ):
        result = run("score", SOURCE, *LZ4, "-o", f"{tmp_path}/x/", "--output-name", pattern)
        assert result.exit_code == 2, (pattern, result.output)
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("name", ["../x", "/abs", "a/../b", ".hidden", "a/./b", "", "a\\b", MANIFEST])
def test_safe_name_refuses_names_leaving_the_directory(name: str) -> None:
    with pytest.raises(Exception, match="part name"):
        safe_name(name)


def test_usage_errors(corpus: Path, tmp_path: Path) -> None:
    cases = [
        (["select", corpus, *FAST, "-k", "3", "-o", f"{tmp_path}/sel/"], "select writes one ranked output"),
        (["score", corpus, *FAST, "--output-name", "p-{n}.jsonl"], "--output-name"),
        (
            [
                "score",
                corpus,
                *FAST,
                "--output-format",
                "attributes",
                "--output-name",
                "p-{n}.jsonl",
                "-o",
                f"{tmp_path}/a/",
            ],
            "mirror the source files",
        ),
        (["score", "-", *FAST, "-o", f"{tmp_path}/s/"], "not stdin"),
        (["score", corpus, *FAST, "--limit", "5", "-o", f"{tmp_path}/l/"], "--limit"),
        (
            [
                "score",
                corpus,
                *FAST,
                "-o",
                f"{tmp_path}/r/",
                "--blocksize",
                "20KiB",
                "--output-name",
                "{n:.0e}.jsonl",
            ],
            "repeat",
        ),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr


def test_memory_url_and_near_copies_aside(planted: Path, tmp_path: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    aside = tmp_path / "leaked.jsonl"
    single = tmp_path / "single.jsonl"
    decontam = ["--decontaminate", "--contaminated-output"]
    ok("score", planted, *FAST, *decontam, tmp_path / "leaked1.jsonl", "-o", single)
    ok("score", planted, *FAST, *decontam, aside, "-o", "memory://zipfit-dirout/out/", "--blocksize", "64KiB")
    fs = fsspec.filesystem("memory")
    manifest = json.loads(fs.cat("/zipfit-dirout/out/" + MANIFEST))
    joined = b"".join(fs.cat("/zipfit-dirout/out/" + entry["name"]) for entry in manifest["parts"])
    assert joined == single.read_bytes()
    assert aside.read_bytes() == (tmp_path / "leaked1.jsonl").read_bytes()
    assert aside.read_bytes().count(b"\n") == 3
    fs.rm("/zipfit-dirout", recursive=True)


def test_parquet_parts_keep_the_sources_columns(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [json.loads(line) for line in SOURCE.read_bytes().splitlines()[:300]]
    columns = [("id", pa.string()), ("text", pa.string()), ("source", pa.string()), ("n", pa.int32())]
    table = pa.Table.from_pylist([{**row, "n": i} for i, row in enumerate(rows)], schema=pa.schema(columns))
    pq.write_table(table, tmp_path / "src.parquet", row_group_size=40)
    ok("score", tmp_path / "src.parquet", *FAST, "-o", tmp_path / "single.parquet")
    out = tmp_path / "out"
    ok(
        "score",
        tmp_path / "src.parquet",
        *FAST,
        "-o",
        f"{out}/",
        "--output-name",
        "p-{n:02d}.parquet",
        "--blocksize",
        "60KB",
    )
    names = [entry["name"] for entry in _manifest(out)["parts"]]
    assert len(names) > 2
    single = pq.read_table(tmp_path / "single.parquet")
    parts = [pq.read_table(out / name) for name in names]
    assert all(part.schema == single.schema for part in parts)  # int32 stays int32
    assert pa.concat_tables(parts).equals(single)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs a directory that holds no new file")
def test_parquet_parts_spool_next_to_themselves_not_in_the_working_directory(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Row groups of an inferred schema spool to an unnamed file next to the output, as for
    # -o FILE.parquet; a part's went to the working directory, so the run failed from one
    # where no file can be made (a read-only checkout, a Dask worker's cwd; /proc here).
    pq = pytest.importorskip("pyarrow.parquet")
    ok("score", corpus, *FAST, "-o", tmp_path / "single.parquet")
    monkeypatch.chdir("/proc")
    out = tmp_path / "out"
    ok("score", corpus, *FAST, "-o", f"{out}/", "--output-name", "p-{n}.parquet", "--blocksize", "64KiB")
    names = [entry["name"] for entry in _manifest(out)["parts"]]
    assert len(names) > 1
    rows = [row for name in names for row in pq.read_table(out / name).to_pylist()]
    assert rows == pq.read_table(tmp_path / "single.parquet").to_pylist()


@pytest.mark.parametrize("exact", [True, False])
def test_the_report_counts_as_the_single_run_does(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exact: bool
) -> None:
    if not exact:  # past the exact median: parts stop sending scores, the histogram gives it
        monkeypatch.setattr("zipfit_cli.base.stats.EXACT_SCORES", 100)
    ok("score", corpus, *FAST, "-o", tmp_path / "single.jsonl", "--report", tmp_path / "single.json")
    ok(
        "score",
        corpus,
        *FAST,
        "-o",
        f"{tmp_path}/out/",
        "--blocksize",
        "64KiB",
        "--report",
        tmp_path / "dir.json",
    )
    timing = ("elapsed_s", "records_per_s", "pairs_per_s")
    single, parted = (
        json.loads((tmp_path / name).read_bytes())["stats"] for name in ("single.json", "dir.json")
    )
    assert {k: v for k, v in parted.items() if k not in timing} == {
        k: v for k, v in single.items() if k not in timing
    }
    assert single["score_median_exact"] is exact


def test_a_part_that_appears_meanwhile_is_kept_and_the_run_fails(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zipfit_cli.files.part_dir import PartDir

    prepare = PartDir.prepare

    def other_run_writes(self: PartDir, force: bool, names: Any = ()) -> None:  # as a racing run would
        prepare(self, force, names)
        (Path(self.root) / "part-00003.jsonl").write_bytes(b"theirs\n")

    monkeypatch.setattr(PartDir, "prepare", other_run_writes)
    result = run("score", corpus, *FAST, "-o", f"{tmp_path}/out/", "--blocksize", "64KiB")
    assert result.exit_code == 4, result.output
    assert "appeared" in result.stderr or "exists" in result.stderr
    assert _files(tmp_path / "out") == {"part-00003.jsonl": b"theirs\n"}  # only this run's parts removed


def test_a_part_is_never_an_input(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    source = docs / "a.jsonl"
    source.write_bytes(SOURCE.read_bytes()[:5000].rsplit(b"\n", 1)[0] + b"\n")
    before = source.read_bytes()
    result = run("score", source, *LZ4, "--output-format", "attributes", "-o", f"{docs}/", "--force")
    assert result.exit_code == 2, result.output
    assert "is also an input" in result.stderr
    assert source.read_bytes() == before
    assert sorted(p.name for p in docs.iterdir()) == ["a.jsonl"]


@pytest.mark.slow
def test_a_separate_process_cluster_writes_the_same_parts(corpus: Path, tmp_path: Path, cluster: str) -> None:  # noqa: F811
    lines = corpus.read_bytes().splitlines(keepends=True)
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(b"".join(lines[300:]), mtime=0))
    (tmp_path / "a.jsonl").write_bytes(b"".join(lines[:300]))
    sources = [tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz"]
    cut = ["--blocksize", "64KiB"]
    ok("score", *sources, *FAST, "-o", f"{tmp_path}/local/", *cut, "--output-name", "p-{n}.jsonl.zst")
    dask = ["--engine", "dask", "--scheduler", cluster, "--report", tmp_path / "r.json"]
    ok("score", *sources, *LZ4, *dask, "-o", f"{tmp_path}/dask/", *cut, "--output-name", "p-{n}.jsonl.zst")
    assert _parts(tmp_path / "local") == _parts(tmp_path / "dask")
    report = json.loads((tmp_path / "r.json").read_bytes())
    assert report["settings"]["directory_output"]["record_bytes_received"] == 0


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_scores_for_the_exact_median_come_only_from_the_input_under_the_bound(
    corpus: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cluster: str,  # noqa: F811
    engine: str,
) -> None:
    from zipfit_cli.engines import part_engines

    asked: list[bool] = []  # local -j 1 runs the tasks here: what each part was asked for
    plain = part_engines.write_partition
    monkeypatch.setattr(
        part_engines, "write_partition", lambda job, plan: asked.append(plan.keep_scores) or plain(job, plan)
    )
    ok("score", corpus, *FAST, "-o", tmp_path / "single.jsonl", "--report", tmp_path / "single.json")
    single = json.loads((tmp_path / "single.json").read_bytes())["stats"]
    on = ["--engine", "dask", "--scheduler", cluster] if engine == "dask" else []
    for bound, exact in ((None, True), (100_000, False)):
        if bound is not None:  # about 1.5 of the 64 KiB parts: the third and later are asked for none
            monkeypatch.setattr("zipfit_cli.base.stats.EXACT_SCORES_BYTES", bound)
        out, report = tmp_path / f"out-{exact}", tmp_path / f"r-{exact}.json"
        result = ok(
            "score",
            corpus,
            *FAST,
            *on,
            "-o",
            f"{out}/",
            "--blocksize",
            "64KiB",
            "--report",
            report,
            "--summary",
            "full",
        )
        stats = json.loads(report.read_bytes())["stats"]
        assert stats["score_median_exact"] is exact and single["score_median_exact"] is True
        if exact:  # the single run's median, exactly
            assert stats["score_median"] == single["score_median"]
        assert ("median ~" in result.stderr) is not exact
    if engine == "local":
        assert asked == [True] * 6 + [True, True, False, False, False, False]


def test_a_link_in_the_directory_never_leads_a_part_out_of_it(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "cc").mkdir(parents=True)
    lines = SOURCE.read_bytes().splitlines(keepends=True)
    (docs / "cc" / "a.jsonl").write_bytes(b"".join(lines[:5]))
    (docs / "b.jsonl").write_bytes(b"".join(lines[5:9]))
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "cc").symlink_to(elsewhere)  # the part cc/a.jsonl would land in elsewhere/
    args = ["score", docs / "cc" / "a.jsonl", docs / "b.jsonl", *LZ4, "--output-format", "attributes"]
    result = run(*args, "-o", f"{out}/", "--force")
    assert result.exit_code == 2, result.output
    assert "outside the output directory" in result.stderr and len(result.stderr.splitlines()) == 1
    assert os.listdir(elsewhere) == [] and sorted(os.listdir(out)) == ["cc"]


def test_a_complete_set_holds_no_temporary_file(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker killed while writing leaves its hidden file; Dask runs its task again elsewhere
    # and the run completes. Here, one left by a killed earlier run (rerun with --force), and
    # one that appears during the run: neither may stay beside the manifest.
    from zipfit_cli.files.part_dir import PartDir

    out = tmp_path / "out"
    out.mkdir()
    (out / ".part-00001.jsonl.abcd_123.zipfit-tmp").write_bytes(b"half a part")
    (out / ".notes.txt").write_bytes(b"mine")  # a hidden file of someone else's
    prepare = PartDir.prepare

    def worker_killed_meanwhile(self: PartDir, force: bool, names: Any = ()) -> None:
        prepare(self, force, names)
        (Path(self.root) / ".part-00004.jsonl.x9y8z7w6.zipfit-tmp").write_bytes(b"half a part")

    monkeypatch.setattr(PartDir, "prepare", worker_killed_meanwhile)
    ok("score", corpus, *FAST, "-o", f"{out}/", "--blocksize", "64KiB", "--force", "-q")
    hidden = sorted(name for name in os.listdir(out) if name.startswith("."))
    assert hidden == [".notes.txt"]
    assert len(_manifest(out)["parts"]) == 6


@pytest.mark.parametrize("side", ["--report", "--contaminated-output"])
@pytest.mark.parametrize("name", ["part-00000.jsonl", MANIFEST])
def test_a_side_output_is_never_a_part_or_the_manifest(
    corpus: Path, tmp_path: Path, side: str, name: str
) -> None:
    # With --force it replaced the part (the manifest then listed a part holding the report)
    # or the manifest; without, it failed as if another run had written there.
    out = tmp_path / "out"
    out.mkdir()
    result = run("score", corpus, *FAST, "-o", f"{out}/", "--force", side, out / name, "--decontaminate")
    assert result.exit_code == 2, result.output
    assert "output directory" in result.stderr and len(result.stderr.splitlines()) == 1
    assert os.listdir(out) == []


@pytest.mark.parametrize("engine", [["-j", "2"], ["--engine", "dask", "-j", "1"]])
def test_a_memory_directory_needs_the_client_s_own_process(corpus: Path, engine: list[str]) -> None:
    # Worker processes wrote their parts into their own memory: the run said 0 and its
    # manifest listed parts that the client's memory:// did not hold.
    pytest.importorskip("fsspec")
    out = "memory://zipfit-dirout-workers/out/"
    result = run("score", corpus, *LZ4, *engine, "-o", out, "--blocksize", "64KiB")
    assert result.exit_code == 2, result.output
    assert "memory://" in result.stderr and "-j 1" in result.stderr


def test_a_failed_run_into_a_remote_directory_removes_only_its_own_files(
    corpus: Path, tmp_path: Path
) -> None:
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    fs.pipe("/zipfit-dirout-failed/out/part-00005.jsonl", b"theirs\n")
    fs.pipe("/zipfit-dirout-failed/out/.part-00001.jsonl.abcd_123.zipfit-tmp", b"half a part")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(corpus.read_bytes() + b'{"text": 1}\n')
    out = "memory://zipfit-dirout-failed/out/"
    result = run("score", bad, *FAST, "-q", "--blocksize", "64KiB", "-o", out, "--force")
    assert result.exit_code == 3, result.output
    assert fs.ls("/zipfit-dirout-failed/out", detail=False) == ["/zipfit-dirout-failed/out/part-00005.jsonl"]
    assert fs.cat("/zipfit-dirout-failed/out/part-00005.jsonl") == b"theirs\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_source_that_cannot_be_read_twice_is_refused(tmp_path: Path) -> None:
    # The workers read their partitions by byte range, after the client read the first record:
    # a named pipe (or a device) cannot be read again, and the run waited for ever on it.
    pipe = tmp_path / "pipe.jsonl"
    os.mkfifo(pipe)
    args = [*ZIPFIT, "score", str(pipe), *LZ4, "-o", f"{tmp_path}/out/"]
    proc = subprocess.run(args, capture_output=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert b"-o FILE" in proc.stderr and proc.stderr.count(b"\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fmt", ["records", "attributes"])
def test_a_source_name_that_is_not_utf8_gets_a_manifest(tmp_path: Path, fmt: str) -> None:
    # The manifest names each part's source (and an attribute file is named after it): a
    # name's bytes that are not UTF-8 crashed the run with a traceback once every part was written.
    source = os.fsdecode(bytes(tmp_path) + b"/bad\xff.jsonl")
    Path(source).write_bytes(SOURCE.read_bytes()[:20000].rsplit(b"\n", 1)[0] + b"\n")
    out = tmp_path / "out"
    ok("score", source, *LZ4, "--output-format", fmt, "-o", f"{out}/")
    entry = _manifest(out)["parts"][0]
    assert entry["source"].endswith("bad\\xff.jsonl")
    part = os.fsdecode(b"bad\xff.jsonl") if fmt == "attributes" else "part-00000.jsonl"
    assert sorted(os.listdir(out)) == sorted([MANIFEST, part])


def test_a_report_that_names_the_output_directory_is_refused_before_scoring(
    corpus: Path, tmp_path: Path
) -> None:
    # The directory did not exist yet, so the report passed the checks; the run scored
    # everything, then failed as if another run had made the directory (exit 4).
    out = tmp_path / "out"
    result = run("score", corpus, *FAST, "-o", f"{out}/", "--report", f"{out}/")
    assert result.exit_code == 2, result.output
    assert "output directory" in result.stderr and not out.exists()


def test_a_failed_run_removes_the_folders_it_made_and_keeps_those_it_found(tmp_path: Path) -> None:
    # An interrupted or failed run left the (empty) directory it had made, and the attribute
    # subfolders of its parts.
    docs = tmp_path / "docs"
    (docs / "cc").mkdir(parents=True)
    lines = SOURCE.read_bytes().splitlines(keepends=True)
    (docs / "cc" / "a.jsonl").write_bytes(b"".join(lines[:5]))
    (docs / "b.jsonl").write_bytes(b"".join([*lines[5:9], b'{"text": 1}\n']))  # fails on its last line
    args = ["score", docs / "cc" / "a.jsonl", docs / "b.jsonl", *LZ4, "--output-format", "attributes"]
    made = tmp_path / "new" / "deep"
    result = run(*args, "-o", f"{made}/")
    assert result.exit_code == 3, result.output
    assert not (tmp_path / "new").exists()
    found = tmp_path / "found"
    found.mkdir()
    result = run(*args, "-o", f"{found}/")
    assert result.exit_code == 3, result.output
    assert found.is_dir() and os.listdir(found) in ([], ["cc"])  # the run's subfolder may stay

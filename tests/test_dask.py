"""--engine dask (dask_engine.py) on a real cluster (a scheduler, two workers): same bytes as local."""

from __future__ import annotations

import csv
import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TARGET, TEMPLATE, free_port, ok, run, tcp_server, write_arrow, write_dataset
from typer.testing import Result

pytestmark = pytest.mark.slow  # Dask clusters

FAST = ["-t", str(TARGET), "--target-template", TEMPLATE, "--compressor", "lz4", "-q"]
TIMING = ("elapsed_s", "records_per_s", "pairs_per_s")


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Each process leads its own group (a worker's nanny has a child): signal the groups."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        for proc in procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + wait
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a scheduler with two single-threaded workers, each in its own process."""
    distributed = pytest.importorskip("distributed")
    work = tmp_path_factory.mktemp("cluster")
    scheduler_file = work / "scheduler.json"
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(*args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dask", *args, "--no-dashboard"],
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        procs.append(proc)
        return proc

    try:
        boss = spawn(
            "scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file", str(scheduler_file)
        )
        deadline = time.monotonic() + 30
        address = None
        while address is None:
            assert boss.poll() is None, "dask scheduler exited"
            assert time.monotonic() < deadline, "dask scheduler did not start"
            time.sleep(0.1)
            try:
                address = json.loads(scheduler_file.read_text())["address"]
            except (OSError, ValueError):  # not written yet, or only partly
                pass
        assert address.startswith("tcp://127.0.0.1:")
        for i in range(2):
            spawn("worker", address, "--nworkers", "1", "--nthreads", "1", "--name", f"w{i}")
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        _stop(procs)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two sources, plain and gzip, with blank lines, a BOM and equal-score ties across files."""
    lines = (TARGET.parent / "source.jsonl").read_bytes().splitlines(keepends=True)[:240]
    twins = [json.loads(lines[7]) | {"id": f"twin-{i}"} for i in (1, 2)]  # same text, same score
    a_twin, b_twin = (json.dumps(twin).encode() + b"\n" for twin in twins)
    first = [b"\xef\xbb\xbf" + lines[0], *lines[1:60], b"\n", b"   \n", *lines[60:99], a_twin, *lines[99:120]]
    second = [*lines[120:200], b"\n", b_twin, *lines[200:240]]
    work = tmp_path_factory.mktemp("corpus")
    a, b = work / "a.jsonl", work / "b.jsonl.gz"
    a.write_bytes(b"".join(first))
    b.write_bytes(gzip.compress(b"".join(second)))
    return [a, b]


def same(*args: Any, scheduler: str, dask_args: tuple[Any, ...] = ()) -> tuple[Result, Result]:
    """Run locally (2 processes) and on the cluster; stdout and the report's counters must match."""
    out: list[Result] = []
    counters: list[dict[str, Any]] = []
    for engine in (["-j", 2], ["--engine", "dask", "--scheduler", scheduler, *dask_args]):
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "report.json"
            result = run(*args, *engine, "--report", report)
            assert result.exit_code == 0, result.output
            stats = json.loads(report.read_text())["stats"]
        counters.append({k: v for k, v in stats.items() if k not in TIMING})
        out.append(result)
    local, dask = out
    assert local.stdout_bytes, "nothing written"
    assert dask.stdout_bytes == local.stdout_bytes
    assert counters[1] == counters[0]
    return local, dask


CASES = {
    "top-k": ["select", "-k", 25],
    "fraction": ["select", "--fraction", 0.1],
    "full ranking": ["select"],
    "score": ["score"],
    # --limit inside the first file, at its end, inside the second one
    "limit-50": ["select", "-k", 10, "--limit", 50],
    "limit-120": ["score", "--limit", 120],
    "limit-150": ["select", "-k", 10, "--limit", 150],
    "contrast": ["select", "-k", 25, "--contrast", "--background-size", 16],
    "contrast-limit": ["score", "--limit", 120, "--contrast", "--background-size", 16, "--seed", 2],
    # --min-score: counted on the workers under -k (they return their top K), else on the client
    "min-score": ["select", "-k", 25, "--min-score", 0.06],
    "min-score-score": ["score", "--min-score", 0.06],
    "budget-fill-shortest": ["select", "-k", 40, "--budget-chars", 6000, "--budget-fill", "shortest"],
}


@pytest.mark.parametrize("args", CASES.values(), ids=CASES.keys())
def test_same_bytes_as_local(args: list[Any], corpus: list[Path], scheduler: str) -> None:
    same(*args, *corpus, *FAST, scheduler=scheduler)


COVERAGE = {
    "coverage-1": ["select", "-k", 30, "--coverage", 1],
    "recommended": ["select", "-k", 30, "--contrast", "--background-size", 16, "--coverage", "0.25"],
    "coverage-fraction": ["select", "--fraction", "0.1", "--coverage", "0.5"],
    "coverage-min-score": ["select", "-k", 30, "--coverage", 1, "--min-score", 0.06],
}


@pytest.mark.parametrize("args", COVERAGE.values(), ids=COVERAGE.keys())
def test_coverage_same_bytes_as_local(args: list[Any], corpus: list[Path], scheduler: str) -> None:
    # 8 KiB blocks: many partitions, each handing on its top K and each target's nearest.
    local, _ = same(*args, *corpus, *FAST, scheduler=scheduler, dask_args=("--blocksize", "8KiB"))
    assert local.stdout_bytes == ok(*args, *corpus, *FAST, "-j", 1).stdout_bytes


def test_fraction_rounds_the_decimal_given(corpus: list[Path], scheduler: str) -> None:
    # 0.145 of 100 records: 15 (floating point computes 14.499999999999998).
    _, dask = same("select", "--fraction", "0.145", "--limit", 100, *corpus, *FAST, scheduler=scheduler)
    assert len(dask.stdout_bytes.splitlines()) == 15


@pytest.mark.parametrize("command", [["select", "-k", 30], ["score"]], ids=["top-k", "score"])
def test_blocks_within_a_file_keep_order(command: list[Any], corpus: list[Path], scheduler: str) -> None:
    # 8 KiB blocks cut the plain file into many partitions, lines across block edges.
    same(*command, *corpus, *FAST, scheduler=scheduler, dask_args=("--blocksize", "8KiB"))


def test_ties_keep_input_order(corpus: list[Path], scheduler: str) -> None:
    _, dask = same("score", *corpus, *FAST, scheduler=scheduler)
    rows = [json.loads(line) for line in dask.stdout_bytes.splitlines()]
    scores = {r["id"]: r["zipfit_score"] for r in rows}
    original = rows[7]["id"]
    assert scores["twin-1"] == scores["twin-2"] == scores[original]
    for selection in ([], ["-k", 300]):  # spooled full ranking; the top-K heap
        ranked = run("select", *selection, *corpus, *FAST, "--engine", "dask", "--scheduler", scheduler)
        ids = [json.loads(line)["id"] for line in ranked.stdout_bytes.splitlines()]
        first = ids.index(original)
        assert ids[first : first + 3] == [original, "twin-1", "twin-2"]


def test_invalid_records(corpus: list[Path], tmp_path: Path, scheduler: str) -> None:
    lines = corpus[0].read_bytes().splitlines(keepends=True)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"".join([*lines[:30], b"{not json\n", *lines[30:50], b'{"id": 1}\n', *lines[50:]]))
    sources = [corpus[1], bad]
    same("select", "-k", 20, *sources, *FAST, "--skip-invalid", scheduler=scheduler)
    _, dask = same("score", *sources, *FAST, "--skip-invalid", scheduler=scheduler)
    for args in (["select", "-k", 20], ["score"]):
        local = run(*args, *sources, *FAST, "-j", 2)
        dask = run(*args, *sources, *FAST, "--engine", "dask", "--scheduler", scheduler)
        assert local.exit_code == dask.exit_code == 3, dask.output
        assert f"{bad}:31: malformed JSON" in dask.stderr
        assert dask.stderr == local.stderr


def test_scheduler_from_environment_and_globs(corpus: list[Path], scheduler: str) -> None:
    local = run("select", "-k", 5, *corpus, *FAST)
    pattern = str(corpus[0].parent / "*.jsonl*")  # a.jsonl, b.jsonl.gz: sorted, like the list
    dask = run(
        "select", "-k", 5, pattern, *FAST, "--engine", "dask", env={"DASK_SCHEDULER_ADDRESS": scheduler}
    )
    assert dask.exit_code == 0, dask.output
    assert dask.stdout_bytes == local.stdout_bytes


def test_dask_options_need_the_dask_engine(corpus: list[Path]) -> None:
    result = run("select", *corpus, *FAST, "--scheduler", "tcp://127.0.0.1:1")
    assert result.exit_code == 2
    assert "need --engine dask" in result.stderr
    result = run("select", *corpus, *FAST, "--connect-timeout", "3")
    assert result.exit_code == 2 and "need --engine dask" in result.stderr
    for bad in ("0", "-1", "nan", "inf"):
        result = run("select", *corpus, *FAST, "--engine", "dask", "--connect-timeout", bad)
        assert result.exit_code == 2 and "--connect-timeout" in result.stderr
        assert any(why in result.stderr for why in ("takes seconds > 0", "not a finite number", "at least 0"))


@pytest.mark.parametrize(
    ("behaviour", "says"),
    [
        ("silent", "no answer within 1 s"),
        ("hang_up", "it closed the connection"),
        ("refused", "connection refused"),
    ],
)
def test_an_unreachable_scheduler_is_one_line_and_exit_1(
    corpus: list[Path], behaviour: str, says: str
) -> None:
    pytest.importorskip("distributed")
    # The server stops by itself after 20 s: a run that still waited for it would end then.
    with tcp_server("hang_up" if behaviour == "refused" else behaviour, seconds=20) as port:
        address = f"tcp://127.0.0.1:{free_port() if behaviour == 'refused' else port}"
        dask = ["--engine", "dask", "--scheduler", address, "--connect-timeout", "1"]
        result = subprocess.run(
            [sys.executable, "-m", "zipfit_cli", "select", *map(str, corpus), *FAST, *dask],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("zipfit: error: "), result.stderr
    assert f"cannot reach the Dask scheduler at {address}: {says}" in result.stderr
    assert ("see --connect-timeout" in result.stderr) == (behaviour == "silent")


def test_unusable_sources(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    result = run("select", "-", *FAST, "--engine", "dask", input=b"")
    assert result.exit_code == 2
    assert "stdin" in result.stderr
    result = run("select", tmp_path / "missing.jsonl", *FAST, "--engine", "dask")
    assert result.exit_code == 3
    assert "missing.jsonl: no such file" in result.stderr


def test_an_unreachable_url_glob_is_one_line_and_exit_3() -> None:
    pytest.importorskip("distributed")
    glob_url = f"ftp://127.0.0.1:{free_port()}/part-*.jsonl"
    result = run("select", glob_url, *FAST, "--engine", "dask")
    assert result.exit_code == 3, result.output
    assert result.stderr.count("\n") == 1 and "connection refused" in result.stderr
    assert glob_url in result.stderr


def test_missing_extra_names_the_install_command(corpus: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # what `import distributed` sees when absent
    result = run("select", *corpus, *FAST, "--engine", "dask")
    assert result.exit_code == 2
    assert "pip install 'zipfit-cli[dask]'" in result.stderr


def test_blocks_cover_every_line_once(tmp_path: Path) -> None:
    # In-process, no cluster: for block sizes around the line lengths, lines starting exactly
    # at a block's first byte, or spanning several blocks, must each land in one block.
    pytest.importorskip("distributed")
    from zipfit_cli.engines.dask_engine import DaskEngine
    from zipfit_cli.engines.dask_worker import score_partition
    from zipfit_cli.engines.runner import ScoreJob
    from zipfit_cli.files.records import TextSpec
    from zipfit_cli.scoring.pairwise import TargetSet

    lines = [b'{"text": "a"}\n', b"\n", b'{"text": "bb"}\n', b'{"text": "' + b"c" * 40 + b'"}\n', b"  \n"]
    path = tmp_path / "small.jsonl"
    path.write_bytes(b"".join(lines * 3) + b'{"text": "end"}')  # no final newline
    job = ScoreJob(TargetSet.from_texts(["abc"], "lz4"), TextSpec())
    expected = [(n, line) for n, line in enumerate(path.read_bytes().splitlines(True), 1) if line.strip()]
    for size in [*range(1, 70), 1000]:
        engine = DaskEngine.plan([str(path)], scheduler=None, workers=1, blocksize=str(size))
        got, base, size_read = [], 0, 0
        for part in engine.partitions(threads=1):
            result = score_partition(job, part, batch_size=4, keep=None, cap=None, skip_invalid=False)
            got += [(base + line_no, line) for _, line_no, _, _, line in result.rows]
            base += result.lines
            size_read += result.stats.bytes_read
        assert got == expected, size
        assert size_read == path.stat().st_size


def test_local_cluster_without_a_scheduler(corpus: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("distributed")
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    local = run("select", "-k", 5, *corpus, *FAST)
    dask = run("select", "-k", 5, *corpus, *FAST, "--engine", "dask", "-j", 1)
    assert dask.exit_code == 0, dask.output
    assert dask.stdout_bytes == local.stdout_bytes
    assert dask.stderr == ""  # -q: a local cluster's logging stays quiet too


def test_unreadable_file_names_file_and_line(corpus: list[Path], tmp_path: Path, scheduler: str) -> None:
    blob = corpus[1].read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(blob[: len(blob) // 2])
    local = run("score", corpus[0], cut, *FAST)
    dask = run("score", corpus[0], cut, *FAST, "--engine", "dask", "--scheduler", scheduler)
    assert local.exit_code == dask.exit_code == 3, dask.output
    assert f"{cut}:" in dask.stderr
    assert dask.stderr == local.stderr


def test_a_name_with_glob_characters_is_that_file(corpus: list[Path], tmp_path: Path, scheduler: str) -> None:
    # d1.jsonl beside d[1].jsonl: globbing the name again would read the wrong file.
    literal, decoy = tmp_path / "d[1].jsonl", tmp_path / "d1.jsonl"
    literal.write_bytes(corpus[0].read_bytes())
    decoy.write_bytes(b'{"text": "not this one"}\n')
    _, dask = same("score", literal, *FAST, scheduler=scheduler)
    assert len(dask.stdout_bytes.splitlines()) > 1


def test_url_globs_keep_their_chain_and_file_urls(corpus: list[Path], tmp_path: Path, scheduler: str) -> None:
    import zipfile

    archive = tmp_path / "z.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(corpus[0], "a.jsonl")
    local = run("score", corpus[0], *FAST)
    for pattern in (f"zip://*.jsonl::{archive.as_uri()}", f"{corpus[0].parent.as_uri()}/a.json*"):
        dask = run("score", pattern, *FAST, "--engine", "dask", "--scheduler", scheduler)
        assert dask.exit_code == 0, dask.output
        assert dask.stdout_bytes == local.stdout_bytes


def test_a_scheduler_port_out_of_range_is_a_usage_error(corpus: list[Path]) -> None:
    pytest.importorskip("distributed")
    for port in ("99999", "0"):
        result = run("select", *corpus, *FAST, "--engine", "dask", "--scheduler", f"tcp://127.0.0.1:{port}")
        assert result.exit_code == 2 and f"port {port} is out of range" in result.stderr, result.stderr


@pytest.mark.parametrize("floor", [[], ["--min-score", "0.06"]], ids=["k", "k-and-min-score"])
def test_adaptive_with_its_audit_as_local(scheduler: str, tmp_path: Path, floor: list[str]) -> None:
    # One partition (a whole file) has the thresholds, stops and audit sample of the local
    # pool reading the records once, from stdin; the sampled starting threshold is the local
    # engine's alone (it reads a file twice), and it changes only the work, not the bytes.
    # --min-score is a floor under both engines' thresholds from the first record.
    source = Path(__file__).resolve().parent.parent / "sample_data" / "source.jsonl"
    args = ["select", "-k", 40, "--adaptive", *FAST, *floor]
    reports = tmp_path / "local.json", tmp_path / "dask.json"
    streamed = ok(*args, "-", "-j", 2, "--report", reports[0], input=source.read_bytes())
    cluster = ["--engine", "dask", "--scheduler", scheduler, "--blocksize", "0"]
    dask = ok(*args, source, *cluster, "--report", reports[1])
    from_file = ok(*args, source, "-j", 2)
    assert streamed.stdout_bytes.count(b"\n") == 40
    assert dask.stdout_bytes == streamed.stdout_bytes == from_file.stdout_bytes
    local_stats, dask_stats = (json.loads(report.read_text())["stats"] for report in reports)
    assert local_stats["pruned_total"] > 0
    assert {k: v for k, v in dask_stats.items() if k not in TIMING} == {
        k: v for k, v in local_stats.items() if k not in TIMING
    }


# --- every format the local engine reads --------------------------------------------------


@pytest.fixture(scope="module")
def tables(corpus: list[Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The first file's records as Parquet (8 row groups), CSV (source code: line breaks inside
    quoted fields), an Arrow file (7 record batches), an Arrow stream and a saved dataset."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [json.loads(line) for line in corpus[0].read_bytes().splitlines() if line.strip()]
    table = pa.Table.from_pylist(rows)
    work = tmp_path_factory.mktemp("tables")
    pq.write_table(table, work / "s.parquet", row_group_size=16)
    with open(work / "s.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return {
        "parquet": work / "s.parquet",
        "csv": work / "s.csv",
        "arrow-file": write_arrow(work / "file.arrow", table, batch_rows=20),
        "arrow-stream": write_arrow(work / "stream.arrow", table, stream=True),
        "saved-dataset": write_dataset(work / "saved", table, cuts=(40, 90)),
    }


TABLE_CASES = {
    "top-k": ["select", "-k", 25],
    "score": ["score"],
    "limit": ["score", "--limit", 70],
    "contrast": ["select", "-k", 10, "--contrast", "--background-size", 16],
}


@pytest.mark.parametrize("args", TABLE_CASES.values(), ids=TABLE_CASES.keys())
@pytest.mark.parametrize("kind", ["parquet", "csv", "arrow-file", "arrow-stream", "saved-dataset"])
def test_every_format_gives_the_bytes_of_the_local_engine(
    kind: str, args: list[Any], tables: dict[str, Path], scheduler: str
) -> None:
    # 2 KiB blocks: several partitions per Parquet file, Arrow file and dataset.
    same(*args, tables[kind], *FAST, scheduler=scheduler, dask_args=("--blocksize", "2KiB"))


def test_formats_mixed_in_one_run_keep_input_order(
    corpus: list[Path], tables: dict[str, Path], scheduler: str
) -> None:
    sources = [tables["parquet"], corpus[1], tables["saved-dataset"], tables["csv"], tables["arrow-file"]]
    for args in (["select", "-k", 40], ["score", "--limit", 300]):
        same(*args, *sources, *FAST, scheduler=scheduler, dask_args=("--blocksize", "4KiB"))


@pytest.mark.parametrize("kind", ["parquet", "arrow-file", "saved-dataset"])
def test_tables_split_into_partitions_cover_every_row_once(kind: str, tables: dict[str, Path]) -> None:
    # In-process, no cluster: one row group / record batch / data file a partition.
    pytest.importorskip("distributed")
    from zipfit_cli.engines.dask_engine import DaskEngine
    from zipfit_cli.engines.dask_worker import score_partition
    from zipfit_cli.engines.runner import ScoreJob
    from zipfit_cli.files.records import TextSpec
    from zipfit_cli.files.sources import open_source
    from zipfit_cli.scoring.pairwise import TargetSet

    path = str(tables[kind])
    source = open_source(path)
    expected = list(source)
    source.close()
    job = ScoreJob(TargetSet.from_texts(["def f(x): return x"], "lz4"), TextSpec())
    engine = DaskEngine.plan([path], scheduler=None, workers=1, blocksize="1")
    partitions = engine.partitions(threads=1)
    rows = len(expected)  # 121: 8 row groups of 16, 7 record batches of 20, 3 data files
    pieces = {"parquet": -(-rows // 16), "arrow-file": -(-rows // 20), "saved-dataset": 3}
    assert len(partitions) == pieces[kind]
    got, base, size_read = [], 0, 0
    for part in partitions:
        result = score_partition(job, part, batch_size=7, keep=None, cap=None, skip_invalid=False)
        got += [(base + line_no, line) for _, line_no, _, _, line in result.rows]
        base += result.lines
        size_read += result.stats.bytes_read
    assert got == expected
    assert size_read == source.consumed == engine.total_bytes


def test_bad_rows_and_files_read_as_local(corpus: list[Path], tmp_path: Path, scheduler: str) -> None:
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text('id,text\n1,"def f():\n    return 1"\n2,too,many\n3,def g(): pass\n')
    fake = tmp_path / "fake.parquet"
    fake.write_bytes(corpus[0].read_bytes())
    cases = {f"{bad_csv}:4: ": [corpus[1], bad_csv], f"{fake}: not a readable Parquet file": [fake]}
    for says, sources in cases.items():
        local = run("score", *sources, *FAST)
        dask = run("score", *sources, *FAST, "--engine", "dask", "--scheduler", scheduler)
        assert local.exit_code == dask.exit_code == 3, dask.output
        assert dask.stderr == local.stderr and dask.stderr.count("\n") == 1
        assert says in dask.stderr
    same("score", corpus[1], bad_csv, *FAST, "--skip-invalid", scheduler=scheduler)


def test_a_directory_without_state_json_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    result = run("score", tmp_path, *FAST, "--engine", "dask")
    assert result.exit_code == 3 and "is a directory, not a file or a saved dataset" in result.stderr


# select --fraction / --min-score without -k (dask_select.py): ranked on the workers, the
# selected records written as sorted runs under --spill-dir and merged by the client.


@pytest.fixture(scope="module")
def tied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """270 records, 120 of them twins (same text, their own id) in other partitions: ties."""
    lines = (TARGET.parent / "source.jsonl").read_bytes().splitlines(keepends=True)[:150]
    twins = [
        json.dumps(json.loads(line) | {"id": f"twin-{i}"}).encode() + b"\n" for i, line in enumerate(lines)
    ]
    path = tmp_path_factory.mktemp("tied") / "tied.jsonl"
    path.write_bytes(b"".join([*lines, *twins[:60], *twins[90:150]]))
    return path


def _tie_at_the_cut(source: Path) -> tuple[str, str]:
    """A --fraction whose K-th score is tied with the next record's, and a score that many share."""
    out = ok("select", source, *FAST).stdout_bytes
    ranked = [json.loads(line)["zipfit_score"] for line in out.splitlines()]
    k = next(k for k in range(len(ranked) // 3, len(ranked)) if ranked[k - 1] == ranked[k])
    return f"{k / len(ranked):.12f}", repr(ranked[k])


def _counters(report: Path) -> dict[str, Any]:
    stats = json.loads(report.read_text())["stats"]
    return {k: v for k, v in stats.items() if k not in TIMING}


@pytest.mark.parametrize(
    "output", [["x.jsonl"], ["x.parquet"], ["x.jsonl", "--output-format", "ids"], ["x.csv"]]
)
def test_fraction_and_min_score_rank_on_the_workers_with_the_local_bytes(
    tied: Path, tmp_path: Path, scheduler: str, monkeypatch: pytest.MonkeyPatch, output: list[str]
) -> None:
    from zipfit_cli.engines import dask_select

    merged: list[int] = []
    plain = dask_select._run_records
    monkeypatch.setattr(dask_select, "_run_records", lambda run: merged.append(1) or plain(run))
    fraction, tied_score = _tie_at_the_cut(tied)
    spill = tmp_path / "spill"
    spill.mkdir()
    both = ["--fraction", fraction, "--min-score", "0.02"]
    for n, chosen in enumerate((["--fraction", fraction], ["--min-score", tied_score], both)):
        name, *rest = output
        local, dask = tmp_path / f"local{n}-{name}", tmp_path / f"dask{n}-{name}"
        ok("select", tied, *FAST, *chosen, *rest, "-j", "2", "-o", local, "--report", f"{local}.json")
        ok(
            "select", tied, *FAST, *chosen, *rest, "--engine", "dask", "--scheduler", scheduler,
            "--blocksize", "32KiB", "--spill-dir", spill, "-o", dask, "--report", f"{dask}.json",
        )  # fmt: skip
        assert dask.read_bytes() == local.read_bytes(), chosen
        assert _counters(Path(f"{dask}.json")) == _counters(Path(f"{local}.json"))
        assert os.listdir(spill) == [], "the runs are removed"
    assert len(merged) > 3, "the selection was merged from the workers' runs"


def test_a_run_that_fails_while_merging_removes_its_runs(
    tied: Path, tmp_path: Path, scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zipfit_cli.base.errors import InputError
    from zipfit_cli.engines import dask_select

    def broken(run: Any) -> Iterator[Any]:
        yield from []
        raise InputError("the disk went away")

    monkeypatch.setattr(dask_select, "_run_records", broken)
    spill = tmp_path / "spill"
    spill.mkdir()
    result = run(
        "select", tied, *FAST, "--fraction", "0.5", "--engine", "dask", "--scheduler", scheduler,
        "--spill-dir", spill, "--blocksize", "32KiB", "-o", tmp_path / "out.jsonl",
    )  # fmt: skip
    assert result.exit_code == 3 and "the disk went away" in result.stderr, result.output
    assert os.listdir(spill) == [] and not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("fails", [False, True])
def test_a_spill_dir_the_run_made_goes_with_it(
    tied: Path, tmp_path: Path, scheduler: str, monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    from zipfit_cli.base.errors import InputError
    from zipfit_cli.engines import dask_select

    if fails:

        def broken(run: Any) -> Iterator[Any]:
            yield from []
            raise InputError("the disk went away")

        monkeypatch.setattr(dask_select, "_run_records", broken)
    (tmp_path / "kept").mkdir()
    spill = tmp_path / "kept" / "new" / "deeper"  # two folders the run makes
    result = run(
        "select", tied, *FAST, "--fraction", "0.5", "--engine", "dask", "--scheduler", scheduler,
        "--spill-dir", spill, "--blocksize", "32KiB", "-o", tmp_path / "out.jsonl",
    )  # fmt: skip
    assert result.exit_code == (3 if fails else 0), result.output
    assert os.listdir(tmp_path / "kept") == []  # what was there before stays


def test_sigterm_while_merging_runs_removes_them(tmp_path: Path, scheduler: str) -> None:
    lines = (TARGET.parent / "source.jsonl").read_bytes().splitlines(keepends=True)[:2000]
    source = tmp_path / "big.jsonl"
    source.write_bytes(b"".join(lines))
    spill = tmp_path / "spill"
    spill.mkdir()
    proc = subprocess.Popen(  # stdout is never read: the merge blocks on a full pipe
        [
            sys.executable, "-m", "zipfit_cli", "select", str(source), *FAST, "--fraction", "1",
            "--engine", "dask", "--scheduler", scheduler, "--spill-dir", str(spill), "--blocksize", "256KiB",
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not any(runs.is_dir() and any(runs.iterdir()) for runs in spill.iterdir()):
            assert proc.poll() is None and time.monotonic() < deadline, "no runs appeared"
            time.sleep(0.05)
        time.sleep(1.0)  # the client merging, blocked on stdout
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert os.listdir(spill) == []


def test_score_keys_order_as_the_scores_and_back() -> None:
    from zipfit_cli.engines.select_task import key_score, score_key

    scores = [-1e308, -2.5, -1e-300, -0.0, 0.0, 5e-324, 1e-300, 0.03, 0.0300000001, 2.5, 1e308]
    keys = [score_key(score) for score in scores]
    assert keys == sorted(keys) and score_key(-0.0) == score_key(0.0)
    assert len(set(keys)) == len(scores) - 1  # -0.0 and 0.0 are one score
    assert [key_score(key) for key in keys] == [score + 0.0 for score in scores]


def test_a_local_cluster_spills_its_runs_to_the_temporary_directory(
    tied: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zipfit_cli.engines import dask_select

    merged: list[int] = []
    plain = dask_select._run_records
    monkeypatch.setattr(dask_select, "_run_records", lambda run: merged.append(1) or plain(run))
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where a run without --spill-dir spills
    local = ok("select", tied, *FAST, "--fraction", "0.37", "-j", "2").stdout_bytes
    on_dask = ["--engine", "dask", "-j", "2", "--blocksize", "32KiB"]
    dask = ok("select", tied, *FAST, "--fraction", "0.37", *on_dask)
    assert dask.stdout_bytes == local
    assert merged and not [name for name in os.listdir(tmp_path) if name.startswith(".zipfit-runs-")]


def test_a_spill_dir_that_cannot_be_written_fails_before_scoring(
    tied: Path, tmp_path: Path, scheduler: str
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    result = run(
        "select", tied, *FAST, "--fraction", "0.5", "--engine", "dask", "--scheduler", scheduler,
        "--spill-dir", blocked / "runs\x1b[2J", "-o", tmp_path / "out.jsonl",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("zipfit: error: cannot write sorted runs under --spill-dir")
    assert "\x1b" not in result.stderr and not (tmp_path / "out.jsonl").exists()


def test_select_on_the_workers_sends_scores_only_for_the_input_under_the_bound(
    tied: Path, tmp_path: Path, scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    select = ("select", tied, *FAST, "--fraction", "0.25")
    ok(*select, "-o", tmp_path / "local.jsonl", "--report", tmp_path / "l.json")
    local = json.loads((tmp_path / "l.json").read_bytes())["stats"]
    dask = ["--engine", "dask", "--scheduler", scheduler, "--blocksize", "32KiB", "--spill-dir", tmp_path]
    for bound, exact in ((None, True), (40_000, False)):
        if bound is not None:  # a partition and a bit: the later ones are asked for no scores
            monkeypatch.setattr("zipfit_cli.base.stats.EXACT_SCORES_BYTES", bound)
        out, report = tmp_path / f"dask-{exact}.jsonl", tmp_path / f"d-{exact}.json"
        ok(*select, *dask, "-o", out, "--report", report)
        stats = json.loads(report.read_bytes())["stats"]
        assert out.read_bytes() == (tmp_path / "local.jsonl").read_bytes()
        assert stats["score_median_exact"] is exact and local["score_median_exact"] is True
        if exact:
            assert stats["score_median"] == local["score_median"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize("selection", [["-k", "5"], ["--fraction", "0.1"]])
def test_a_named_pipe_source_is_refused_before_it_is_read(tmp_path: Path, selection: list[str]) -> None:
    # Workers read their partitions by byte range after the client read the first record: the
    # pipe was opened again with no one writing to it, and the run waited for ever.
    pipe = tmp_path / "pipe.jsonl"
    os.mkfifo(pipe)
    args = [sys.executable, "-m", "zipfit_cli", "select", str(pipe), *FAST, "--engine", "dask", *selection]
    proc = subprocess.run(args, capture_output=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert b"--engine local" in proc.stderr and proc.stderr.count(b"\n") == 1


def test_a_run_that_cannot_be_written_says_where(tmp_path: Path) -> None:
    # A full or vanished --spill-dir: the worker's OSError reached the user as a bare
    # "zipfit: error: No space left on device", naming nothing.
    from array import array

    from zipfit_cli.base.errors import OutputError
    from zipfit_cli.base.stats import RunStats
    from zipfit_cli.engines.dask_worker import Partition, PartResult
    from zipfit_cli.engines.select_task import Held, score_key, write_run

    source = tmp_path / "a.jsonl"
    source.write_bytes(b'{"text": "one"}\n{"text": "two"}\n')
    held = Held(PartResult(RunStats()), array("d", [0.5]), array("q", [1]), array("Q", [score_key(0.5)]))
    (tmp_path / "full").write_bytes(b"")  # a file where the runs' directory should be
    with pytest.raises(OutputError, match="--spill-dir") as raised:
        write_run(held, Partition(str(source), str(source)), 1, 0, f"{tmp_path}/full/run-000000")
    assert "run-000000" in str(raised.value)


@pytest.mark.parametrize(
    "command",
    [
        ["select", "-k", "10"],
        ["select", "--fraction", "0.2", "--spill-dir", "SPILL"],  # held on the workers: dask_select
        ["score", "-o", "OUT/"],  # parts written by the workers: runs/dirout.py
    ],
    ids=["top-k", "fraction-on-workers", "directory-output"],
)
def test_a_file_that_holds_no_records_is_warned_of_as_locally(
    corpus: list[Path], tmp_path: Path, scheduler: str, command: list[str]
) -> None:
    # Every partition of a file returned nothing: the local reader warns of such a file (a
    # truncated upstream file must not pass a cron job in silence); Dask said nothing.
    empty, blank = tmp_path / "empty.jsonl", tmp_path / "blank.jsonl"
    empty.write_bytes(b"")
    blank.write_bytes(b"\n\n")
    sources = [corpus[0], empty, blank, corpus[1]]
    said = []
    for engine in (["-j", "2"], ["--engine", "dask", "--scheduler", scheduler, "--blocksize", "8KiB"]):
        where = tmp_path / str(len(said))
        where.mkdir()
        args = [
            str(where / a[:-1]) + "/" if a == "OUT/" else str(where) if a == "SPILL" else a for a in command
        ]
        if "SPILL" in command and engine[0] == "-j":
            args = args[:-2]  # --spill-dir is for Dask only
        result = run(*args, *sources, *FAST[:-1], *engine)  # not -q: warnings shown
        assert result.exit_code == 0, result.output
        said.append([line for line in result.stderr.splitlines() if "holds no records" in line])
    assert (
        said[0]
        == said[1]
        == [
            f"zipfit: warning: {empty} holds no records",
            f"zipfit: warning: {blank} holds no records",
        ]
    )

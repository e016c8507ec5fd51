"""Formats in and out (sources.py, delimited.py, parquet.py): Parquet, CSV and TSV in, Parquet out."""

from __future__ import annotations

import base64
import csv
import datetime
import decimal
import gzip
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard
from conftest import FAST, ok, records, run

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from zipfit_cli.base.errors import InputError  # noqa: E402
from zipfit_cli.files import parquet as parquet_module  # noqa: E402
from zipfit_cli.files import parquet_sink  # noqa: E402
from zipfit_cli.files.output import Output  # noqa: E402
from zipfit_cli.files.sources import JsonlSource, open_source  # noqa: E402


def _rows(slice_path: Path) -> list[dict[str, Any]]:
    return records(slice_path.read_bytes())


def _write_parquet(path: Path, table: Any, row_group_size: int = 64) -> Path:
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def _write_csv(path: Path, rows: list[dict[str, Any]], delimiter: str = ",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _scores(*args: Any) -> list[float]:
    return [r["zipfit_score"] for r in records(ok("score", *args, *FAST, "-o", "-").stdout_bytes)]


def _selected(*args: Any) -> list[str]:
    return [r["id"] for r in records(ok("select", *args, *FAST, "-k", 25, "-o", "-").stdout_bytes)]


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- the same records in every format --------------------------------------------------------


def test_same_records_score_and_select_alike_in_every_format(slice_path: Path, tmp_path: Path) -> None:
    rows = _rows(slice_path)
    zst = tmp_path / "s.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(slice_path.read_bytes()))
    pq_path = _write_parquet(tmp_path / "s.parquet", pa.Table.from_pylist(rows), row_group_size=37)
    csv_path = _write_csv(tmp_path / "s.csv", rows)
    tsv_path = tmp_path / "s.tsv.gz"
    _write_csv(tmp_path / "plain.tsv", rows, delimiter="\t")
    tsv_path.write_bytes(gzip.compress((tmp_path / "plain.tsv").read_bytes()))
    expected_scores, expected_ids = _scores(slice_path), _selected(slice_path)
    assert len(expected_scores) == len(rows) and len(expected_ids) == 25
    for path in (zst, pq_path, csv_path, tsv_path):
        assert _scores(path) == expected_scores, path.name
        assert _selected(path) == expected_ids, path.name
    # Every column comes through: the records equal the JSONL ones.
    got = records(ok("score", pq_path, *FAST, "-o", "-").stdout_bytes)
    assert [{k: v for k, v in r.items() if k != "zipfit_score"} for r in got] == rows


def test_struct_column_is_reached_by_a_dotted_text_key(slice_path: Path, tmp_path: Path) -> None:
    rows = _rows(slice_path)
    nested = [{"id": r["id"], "meta": {"content": r["text"], "lang": "en"}} for r in rows]
    path = _write_parquet(tmp_path / "nested.parquet", pa.Table.from_pylist(nested))
    assert pa.types.is_struct(pq.read_schema(path).field("meta").type)
    assert _scores(path, "--text-key", "meta.content") == _scores(slice_path)
    got = records(ok("select", path, *FAST, "--text-key", "meta.content", "-k", 1, "-o", "-").stdout_bytes)
    assert got[0]["meta"]["lang"] == "en" and isinstance(got[0]["meta"]["content"], str)


def test_readers_are_chosen_by_name(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(b'{"text": "x"}\n'))
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(b"text\nx\n"))
    jsonl = open_source(str(tmp_path / "a.jsonl.gz"))
    assert isinstance(jsonl, JsonlSource)
    assert list(jsonl) == [(1, b'{"text": "x"}\n')]
    jsonl.close()
    source = open_source(str(tmp_path / "a.csv.gz"))
    assert type(source).__name__ == "CsvSource"
    assert list(source) == [(2, b'{"text":"x"}\n')]
    source.close()


# --- Parquet values as JSON -------------------------------------------------------------------

UTC = datetime.timezone.utc


def _typed_table() -> Any:
    return pa.table(
        {
            "text": ["alpha beta", "gamma delta", "epsilon zeta"],
            "i": pa.array([1, None, -(2**62)], pa.int64()),
            "f": [1.5, float("nan"), float("inf")],
            "b": [True, False, None],
            "l": pa.array([[1, 2], [], None], pa.list_(pa.int32())),
            "ts": pa.array([datetime.datetime(2024, 5, 1, 12, 0, 0, 250000), None, None], pa.timestamp("us")),
            "tz": pa.array([datetime.datetime(2024, 5, 1, tzinfo=UTC)] * 3, pa.timestamp("ms", "UTC")),
            "ns": pa.array([1_000_000_001_999, 0, None], pa.timestamp("ns")),
            "d": pa.array([datetime.date(2024, 5, 1), None, None], pa.date32()),
            "bin": pa.array([b"plain text", b"\xff\x00\x01", b"base64:looks encoded"], pa.binary()),
            "dec": pa.array([decimal.Decimal("12.50"), decimal.Decimal("-0.01"), None], pa.decimal128(9, 2)),
            "meta": [{"k": "v", "n": 1}, {"k": None, "n": 2}, None],
            "m": pa.array([[("a", 1)], [], None], pa.map_(pa.string(), pa.int64())),
        }
    )


def test_parquet_values_become_json_as_documented(tmp_path: Path) -> None:
    path = _write_parquet(tmp_path / "typed.parquet", _typed_table(), row_group_size=2)
    source = open_source(str(path))
    got = [(n, orjson.loads(line)) for n, line in source]
    assert source.blank_lines == 0 and source.consumed == path.stat().st_size
    source.close()
    assert [n for n, _ in got] == [1, 2, 3]
    first, second, third = (r for _, r in got)
    assert first == {
        "text": "alpha beta",
        "i": 1,
        "f": 1.5,
        "b": True,
        "l": [1, 2],
        "ts": "2024-05-01T12:00:00.250000",
        "tz": "2024-05-01T00:00:00+00:00",
        "ns": "1970-01-01T00:16:40.000001",  # nanoseconds cut to microseconds
        "d": "2024-05-01",
        "bin": "plain text",
        "dec": "12.50",
        "meta": {"k": "v", "n": 1},
        "m": [["a", 1]],
    }
    assert second["i"] is None and second["f"] is None and second["l"] == [] and second["dec"] == "-0.01"
    assert third["f"] is None  # infinity, like NaN: JSON has neither
    # Bytes that are not UTF-8, or that would read as base64, are base64 with the prefix.
    assert second["bin"] == "base64:" + base64.b64encode(b"\xff\x00\x01").decode()
    assert base64.b64decode(third["bin"].removeprefix("base64:")) == b"base64:looks encoded"
    assert third["meta"] is None and third["m"] is None


def test_parquet_column_named_with_a_dot_is_a_text_key(tmp_path: Path) -> None:
    rows = [{"id": 1, "meta.content": "def f(): return 1"}, {"id": 2, "meta.content": "x = 2"}]
    path = _write_parquet(tmp_path / "dotted.parquet", pa.Table.from_pylist(rows))
    result = ok("score", path, *FAST, "--text-key", "meta.content", "-o", "-")
    assert [r["meta.content"] for r in records(result.stdout_bytes)] == [r["meta.content"] for r in rows]


def test_parquet_row_over_the_line_limit_is_a_too_long_record(tmp_path: Path) -> None:
    rows = [{"text": "short one"}, {"text": "x" * 5000}, {"text": "short two"}]
    path = _write_parquet(tmp_path / "long.parquet", pa.Table.from_pylist(rows))
    result = run("score", path, *FAST, "--max-line-bytes", 1000, "-o", "-")
    assert result.exit_code == 3 and f"{path}:2:" in result.stderr
    result = ok("score", path, *FAST, "--max-line-bytes", 1000, "--skip-invalid", "-o", "-")
    assert [r["text"] for r in records(result.stdout_bytes)] == ["short one", "short two"]
    assert "skipped_too_long=1 " in result.stderr


def test_parquet_is_read_a_batch_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows are handed on while later row groups are still unread, and the whole-file
    readers are never used: memory is bounded by a batch, not the file."""
    rows = [{"id": i, "text": f"record number {i}"} for i in range(20 * 100)]
    path = _write_parquet(tmp_path / "groups.parquet", pa.Table.from_pylist(rows), row_group_size=100)
    assert pq.ParquetFile(path).num_row_groups == 20
    monkeypatch.setattr(parquet_module, "BATCH_ROWS", 100)
    pulled: list[int] = []
    real = pq.ParquetFile.iter_batches

    def spy(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for batch in real(self, *args, **kwargs):
            pulled.append(batch.num_rows)
            yield batch

    def whole(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the whole file was read at once")

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    for name in ("read", "read_row_groups", "read_row_group"):
        monkeypatch.setattr(pq.ParquetFile, name, whole)
    monkeypatch.setattr(pq, "read_table", whole)
    source = open_source(str(path))
    numbers = iter(source)
    assert next(numbers)[0] == 1
    assert pulled == [100]  # one batch in hand, 19 row groups still on disk
    assert 0 < source.consumed < path.stat().st_size / 10
    assert sum(1 for _ in numbers) == 1999 and sum(pulled) == 2000
    source.close()


# --- Parquet errors -------------------------------------------------------------------------


def test_missing_pyarrow_is_one_line_naming_the_extra(
    slice_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write_parquet(tmp_path / "s.parquet", pa.Table.from_pylist(_rows(slice_path)))
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` now raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    result = run("select", path, *FAST, "-k", 3, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        "zipfit: error: reading Parquet needs pyarrow: pip install 'zipfit-cli[parquet]'"
    ]


def test_parquet_output_without_pyarrow_is_one_line(
    slice_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    result = run("select", slice_path, *FAST, "-k", 3, "-o", tmp_path / "top.parquet")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        "zipfit: error: writing Parquet needs pyarrow: pip install 'zipfit-cli[parquet]'"
    ]
    assert _leftovers(tmp_path) == []


def test_parquet_is_read_through_fsspec_urls(slice_path: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    table = pa.Table.from_pylist(_rows(slice_path))
    with fsspec.open("memory://zipfit-test/s.parquet", "wb") as fh:
        pq.write_table(table, fh)
    source = open_source("memory://zipfit-test/s.parquet")
    assert [orjson.loads(line) for _, line in source] == _rows(slice_path)
    source.close()
    with pytest.raises(InputError, match=r"memory://zipfit-test/gone\.parquet: no such file"):
        open_source("memory://zipfit-test/gone.parquet")


@pytest.mark.parametrize("kind", ["missing", "not_parquet", "truncated"])
def test_bad_parquet_file_is_exit_3_with_one_line(slice_path: Path, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "bad.parquet"
    if kind == "not_parquet":
        path.write_bytes(slice_path.read_bytes())
    elif kind == "truncated":
        _write_parquet(path, pa.Table.from_pylist(_rows(slice_path)))
        path.write_bytes(path.read_bytes()[:-100])
    result = run("select", path, *FAST, "-k", 3, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0]
    if kind == "missing":
        assert lines[0] == f"zipfit: error: {path}: no such file"
    assert not (tmp_path / "out.jsonl").exists()


# --- CSV/TSV ---------------------------------------------------------------------------------


def test_csv_row_of_the_wrong_width_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('id,body\n1,"first, quoted"\n2,"two\nlines"\n\n3,too,many\n4,fourth text\n5\n')
    result = run("score", path, *FAST, "--text-key", "body", "-o", "-")
    assert result.exit_code == 3
    assert f"{path}:6: row has 3 fields, the header names 2" in result.stderr
    result = ok("score", path, *FAST, "--text-key", "body", "--skip-invalid", "-o", "-")
    assert [r["body"] for r in records(result.stdout_bytes)] == ["first, quoted", "two\nlines", "fourth text"]
    assert "skipped_malformed_row=2 " in result.stderr


def test_csv_invalid_utf8_row_is_skippable(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(b"text\nfine text\nbad \xff byte\n")
    result = run("score", path, *FAST, "-o", "-")
    assert result.exit_code == 3 and f"{path}:3: row is not valid UTF-8" in result.stderr
    result = ok("score", path, *FAST, "--skip-invalid", "-o", "-")
    assert [r["text"] for r in records(result.stdout_bytes)] == ["fine text"]


# --- Parquet out ------------------------------------------------------------------------------


def test_parquet_output_keeps_the_input_schema_and_adds_the_score(tmp_path: Path) -> None:
    table = _typed_table()
    path = _write_parquet(tmp_path / "typed.parquet", table.drop_columns(["ns"]), row_group_size=2)
    out = tmp_path / "scored.parquet"
    ok("score", path, *FAST, "-o", out)
    got = pq.read_table(out)
    expected = table.drop_columns(["ns"])
    assert got.schema.names == [*expected.schema.names, "zipfit_score"]
    assert got.schema.field("zipfit_score").type == pa.float64()
    assert got.drop_columns(["zipfit_score"]).schema.equals(expected.schema)
    for name in expected.schema.names:
        if name != "f":  # NaN and infinity come back as null
            assert got.column(name).to_pylist() == expected.column(name).to_pylist(), name
    assert got.column("f").to_pylist() == [1.5, None, None]
    scores = _scores(path)
    assert got.column("zipfit_score").to_pylist() == scores


def test_parquet_output_replaces_an_existing_score_column(slice_path: Path, tmp_path: Path) -> None:
    rows = [{**r, "zipfit_score": "old"} for r in _rows(slice_path)]
    path = _write_parquet(tmp_path / "s.parquet", pa.Table.from_pylist(rows))
    out = tmp_path / "top.parquet"
    ok("select", path, *FAST, "-k", 5, "-o", out)
    got = pq.read_table(out)
    assert got.schema.names == ["id", "text", "source", "zipfit_score"]
    assert got.schema.field("zipfit_score").type == pa.float64()
    assert got.column("id").to_pylist() == _selected(slice_path)[:5]


def test_parquet_output_from_jsonl_has_an_inferred_schema(slice_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "top.parquet"
    ok("select", slice_path, *FAST, "-k", 10, "-o", out)
    jsonl = records(ok("select", slice_path, *FAST, "-k", 10, "-o", "-").stdout_bytes)
    got = pq.read_table(out)
    assert got.to_pylist() == jsonl
    assert got.schema.field("zipfit_score").type == pa.float64()
    assert got.schema.field("text").type == pa.string()


def _few_targets(tmp_path: Path) -> list[Any]:
    """Two short targets scored with lz4 in one process: 10,000 records score in a second."""
    targets = tmp_path / "few-targets.jsonl"
    targets.write_bytes(b'{"text": "def add(a, b): return a + b"}\n{"text": "def mul(a, b): return a * b"}\n')
    return ["-t", targets, "--compressor", "lz4", "-j", 1, "-q"]


def test_parquet_output_takes_a_field_that_first_appears_after_10000_records(tmp_path: Path) -> None:
    """Issue 19 item 3: 'license' first appears in record 10,001, past the first row group."""
    rows = [{"id": i, "text": f"def f{i}(x): return x + {i}"} for i in range(10_050)]
    for row in rows[10_000:]:
        row["license"] = "mit"
    source = tmp_path / "late.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "scored.parquet"
    ok("score", source, *_few_targets(tmp_path), "-o", out)
    got = pq.read_table(out)
    assert got.schema.names == ["id", "text", "zipfit_score", "license"]
    assert got.schema.field("license").type == pa.string() and got.schema.field("license").nullable
    jsonl = records(ok("score", source, *_few_targets(tmp_path), "-o", "-").stdout_bytes)
    assert got.to_pylist() == [{**r, "license": r.get("license")} for r in jsonl]
    assert got.column("license").null_count == 10_000
    assert _leftovers(out.parent) == ["scored.parquet"]  # the spooled row groups are gone


def test_parquet_row_groups_hold_a_bounded_number_of_cells_however_many_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory: a row group is rows times columns of values (a missing field is a null that
    still takes its slot), so records that each bring new fields made it grow with their
    square (12,000 records of 12,000 fields: 1.7 GB). Row groups are cut by cells too, also
    those spooled before the schema widened and cast to the final one."""
    monkeypatch.setattr(parquet_sink, "GROUP_CELLS", 200)
    rows: list[dict[str, Any]] = [{"id": i, "text": f"def f{i}(x): return x + {i}"} for i in range(90)]
    for i, row in enumerate(rows[40:]):
        row.update({f"f{i}_{j}": j for j in range(4)})  # 4 new fields a record: 202 columns in the end
    rows[-1].update({f"wide{j}": j for j in range(250)})  # one record wider than a row group's cells
    source = tmp_path / "fields.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "scored.parquet"
    ok("score", source, *_few_targets(tmp_path), "-o", out)
    stored = pq.ParquetFile(out)
    columns = len(stored.schema_arrow)
    assert columns == 2 + 1 + 200 + 250
    groups = [stored.metadata.row_group(i).num_rows for i in range(stored.num_row_groups)]
    assert sum(groups) == len(rows)
    assert all(n == 1 or n * columns <= 200 for n in groups), groups
    jsonl = records(ok("score", source, *_few_targets(tmp_path), "-o", "-").stdout_bytes)
    names = stored.schema_arrow.names
    assert stored.read().to_pylist() == [{name: r.get(name) for name in names} for r in jsonl]
    assert _leftovers(out.parent) == ["scored.parquet"]


def test_parquet_output_widens_types_where_every_value_keeps_its_meaning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parquet_sink, "GROUP_ROWS", 4)  # one widening every row group or so
    rows = [
        {"text": "def a(): pass", "n": 1, "meta": {"lang": "en"}, "tags": [1], "later": None},
        {"text": "def b(): pass", "n": 2, "meta": {"lang": "fr"}, "tags": [], "later": None},
        {"text": "def c(): pass", "n": 3, "meta": None, "tags": [2, 3], "later": None},
        {"text": "def d(): pass", "n": 4, "meta": {"lang": "de"}, "tags": None, "later": None},
        {"text": "def e(): pass", "n": 4.5, "meta": {"lang": "en", "stars": 5}, "tags": [0.5], "later": "x"},
        {"text": "def f(): pass", "n": -(2**53), "meta": {"stars": 2}, "tags": [7], "later": None},
        {"text": "def g(): pass"},
        {"text": "def h(): pass", "n": None, "meta": {}, "tags": [], "later": "y"},
        {"text": "def i(): pass", "n": 9, "meta": {"lang": "it", "stars": 1}, "tags": [9.25], "later": "z"},
    ]
    source = tmp_path / "varied.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    out = tmp_path / "varied.parquet"
    ok("score", source, *_few_targets(tmp_path), "-o", out)
    got = pq.read_table(out)
    assert pq.ParquetFile(out).num_row_groups == 3
    schema = got.schema
    assert schema.field("n").type == pa.float64() and schema.field("later").type == pa.string()
    assert schema.field("tags").type.value_type == pa.float64()
    assert schema.field("meta").type == pa.struct([("lang", pa.string()), ("stars", pa.int64())])
    jsonl = records(ok("score", source, *_few_targets(tmp_path), "-o", "-").stdout_bytes)
    # Values keep their meaning: integers come back as the same numbers, a missing field as null.
    for written, want in zip(got.to_pylist(), jsonl, strict=True):
        meta = want.get("meta")
        want = {
            **want,
            "meta": None if meta is None else {"lang": meta.get("lang"), "stars": meta.get("stars")},
        }
        assert written == {name: want.get(name) for name in schema.names}


BEYOND = "holds an integer beyond 2**53, which its double column cannot hold exactly"


@pytest.mark.parametrize(
    ("later", "says"),
    [
        (
            [{"meta": "plain"}],
            "field 'meta' of record 6 is text, where earlier records hold struct<lang: string>",
        ),
        ([{"meta": {"lang": 5}}], "field 'meta' of record 6 is an object (meta.lang differs)"),
        ([{"n": "seven"}], "field 'n' of record 6 is text, where earlier records hold int64"),
        ([{"n": True}], "field 'n' of record 6 is a boolean, where earlier records hold int64"),
        # An integer no double holds, in a column a fraction then makes float64: found when
        # the row groups are cast at the end, or at once within one row group.
        ([{"n": 0.5}], f"field 'n' of record 5 {BEYOND}"),
        ([{"n": 2**60}, {"n": 0.5}], "record 7 is a number, which makes the column float64, and an"),
    ],
)
def test_parquet_type_conflict_names_field_record_and_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, later: list[dict[str, Any]], says: str
) -> None:
    monkeypatch.setattr(parquet_sink, "GROUP_ROWS", 5)
    rows: list[dict[str, Any]] = [
        {"text": f"def f{i}(): pass", "n": i, "meta": {"lang": "en"}} for i in range(5)
    ]
    rows[4]["n"] = 2**60 if later == [{"n": 0.5}] else 4
    rows += [{"text": f"def g{i}(): pass", **row} for i, row in enumerate(later)]
    source = tmp_path / "conflict.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "scored.parquet"
    result = run("score", source, *_few_targets(tmp_path), "-o", out)
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.splitlines()
    assert says in line, line
    assert line.endswith("write JSONL (-o NAME.jsonl, or .jsonl.gz), or give the field one type")
    assert _leftovers(out.parent) == []


def test_parquet_values_of_no_one_type_in_a_row_group_name_the_record(tmp_path: Path) -> None:
    rows = [
        {"text": "def a(): pass", "n": 1},
        {"text": "def b(): pass", "n": 2},
        {"text": "def c(): pass", "n": "3"},
    ]
    source = tmp_path / "mixed.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    result = run("score", source, *_few_targets(tmp_path), "-o", tmp_path / "mixed.parquet")
    assert result.exit_code == 1, result.output
    assert (
        "field 'n' of record 3 is text, where the records before it in its row group hold int64"
        in result.stderr
    )
    assert not (tmp_path / "mixed.parquet").exists()


def test_parquet_column_of_empty_objects_is_one_error_not_a_traceback(tmp_path: Path) -> None:
    source = tmp_path / "empty.jsonl"
    source.write_bytes(b'{"text": "def a(): pass", "meta": {}}\n')
    result = run("score", source, *_few_targets(tmp_path), "-o", tmp_path / "empty.parquet")
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.splitlines()
    assert "Parquet cannot store these records (Cannot write struct type 'meta'" in line
    assert line.endswith("write JSONL (-o NAME.jsonl, or .jsonl.gz)")
    assert _leftovers(tmp_path) == ["empty.jsonl", "few-targets.jsonl"]


def test_interrupted_parquet_output_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "x.parquet"
    with pytest.raises(KeyboardInterrupt), Output(str(out)) as sink:
        sink.write(b'{"text": "a", "zipfit_score": 0.5}\n' * 3)
        raise KeyboardInterrupt
    assert _leftovers(tmp_path) == []


def test_failed_parquet_write_leaves_no_file(
    slice_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(self: Any, *args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full_disk)
    (tmp_path / "out").mkdir()
    result = run("select", slice_path, *FAST, "-k", 5, "-o", tmp_path / "out" / "top.parquet")
    assert result.exit_code == 1, result.output
    assert _leftovers(tmp_path / "out") == []


def test_report_named_parquet_stays_json(slice_path: Path, tmp_path: Path) -> None:
    report_path = tmp_path / "r.parquet"
    ok("select", slice_path, *FAST, "-k", 3, "-o", tmp_path / "top.parquet", "--report", report_path)
    report = orjson.loads(report_path.read_bytes())
    assert report["settings"]["sources"] == [str(slice_path)]


def test_parquet_input_with_score_only_parquet_output(slice_path: Path, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    source = tmp_path / "source.parquet"
    pq.write_table(pa.Table.from_pylist(records(slice_path.read_bytes())), source)
    out = tmp_path / "ids.parquet"
    ok("select", source, *FAST, "-k", "5", "--output-format", "ids", "-o", out, "-q")
    table = pq.read_table(out)
    assert table.column_names == ["id", "zipfit_score"] and table.num_rows == 5
    expected = records(ok("select", slice_path, *FAST, "-k", "5", "--output-format", "ids", "-q").stdout)
    assert table.to_pylist() == expected


def test_shards_refuse_parquet_and_merge_writes_it(slice_path: Path, tmp_path: Path) -> None:
    rows = _rows(slice_path)
    source = _write_parquet(tmp_path / "s.parquet", pa.Table.from_pylist(rows))
    result = run("select", source, *FAST, "-k", 5, "--shard", "0/2", "-o", tmp_path / "part0.parquet")
    assert result.exit_code == 2 and "zipfit merge" in result.stderr
    parts = []
    for i in range(2):
        parts.append(tmp_path / f"part{i}.jsonl")
        ok("select", source, *FAST, "-k", 5, "--shard", f"{i}/2", "-o", parts[-1])
    out = tmp_path / "merged.parquet"
    ok("merge", *parts, "-o", out)
    got = pq.read_table(out)
    assert got.schema.names == ["id", "text", "source", "zipfit_score"]
    assert got.column("id").to_pylist() == _selected(slice_path)[:5]


def test_merge_takes_the_parquet_schema_from_its_parts_not_the_sources(
    slice_path: Path, tmp_path: Path
) -> None:
    rows = [{**row, "day": datetime.date(2024, 5, 1 + i % 28)} for i, row in enumerate(_rows(slice_path))]
    source = _write_parquet(tmp_path / "s.parquet", pa.Table.from_pylist(rows))
    parts = [tmp_path / f"part{i}.jsonl" for i in range(2)]
    for i, part in enumerate(parts):
        ok("select", source, *FAST, "-k", 5, "--shard", f"{i}/2", "-o", part)
    source.unlink()  # the merge reads its parts only
    out = tmp_path / "merged.parquet"
    ok("merge", *parts, "-o", out)
    assert pq.read_table(out).schema.field("day").type == pa.date32()
    forged = [
        line.replace(b'"parquet_schema":"', b'"parquet_schema":"AAAA')
        for line in parts[0].read_bytes().splitlines(keepends=True)
    ]
    parts[0].write_bytes(b"".join(forged))
    result = run("merge", *parts, "-o", tmp_path / "again.parquet")
    assert result.exit_code == 3, result.output
    assert "parquet_schema is not a schema zipfit wrote" in result.stderr


@pytest.mark.parametrize(
    ("forge", "says", "code"),
    [
        # The id as a struct of timestamps: conversion raised AttributeError (a traceback).
        (lambda s: s.set(s.get_field_index("id"), pa.field("id", pa.struct([("a", pa.timestamp("s"))]))),
         "field 'id' of record 1 does not fit", 1),
        # A column no record has, never null, with a name that would forge a message line.
        (lambda s: s.append(pa.field("evil\nzipfit: error: FAKE\x1b[2J", pa.string(), nullable=False)),
         "records do not fit", 1),
        # The text column twice: a Parquet file no reader can address by name.
        (lambda s: s.append(pa.field("text", pa.string())), "parquet_schema is not a schema zipfit wrote", 3),
    ],
)  # fmt: skip
def test_merge_refuses_a_forged_parquet_schema_in_one_line(
    slice_path: Path, tmp_path: Path, forge: Any, says: str, code: int
) -> None:
    source = _write_parquet(tmp_path / "s.parquet", pa.Table.from_pylist(_rows(slice_path)))
    parts = [tmp_path / f"part{i}.jsonl" for i in range(2)]
    for i, part in enumerate(parts):
        ok("select", source, *FAST, "-k", 5, "--shard", f"{i}/2", "-o", part)
    for part in parts:
        *records, trailer = part.read_bytes().splitlines(keepends=True)
        info = orjson.loads(trailer)
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(info["_zipfit_part"]["parquet_schema"])))
        info["_zipfit_part"]["parquet_schema"] = base64.b64encode(forge(schema).serialize()).decode()
        part.write_bytes(b"".join(records) + orjson.dumps(info) + b"\n")
    out = tmp_path / "merged.parquet"
    result = run("merge", *parts, "-o", out)
    assert result.exit_code == code, result.output
    assert says in result.stderr and result.stderr.count("\n") == 1 and "\x1b" not in result.stderr
    assert not out.exists()


def _stray_quote_csv(path: Path, good_rows: int = 3000) -> Path:
    """One good row, a row whose quote never closes, then many good rows (issue 16's file)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('id,text\n1,def f(): return 1\n2,"oops def g(): pass\n')
        for i in range(3, 3 + good_rows):
            fh.write(f"{i},def h{i}(x): return x * {i}\n")
    return path


def test_csv_quote_never_closed_is_a_malformed_row_not_the_rest_of_the_file(tmp_path: Path) -> None:
    path = _stray_quote_csv(tmp_path / "stray.csv")
    result = run("score", path, *FAST, "-o", "-")
    assert result.exit_code == 3, result.stderr
    assert f"{path}:3: a quoted field opened on line 3 is never closed" in result.stderr
    result = ok("score", path, *FAST, "--skip-invalid", "-o", "-")
    assert [r["id"] for r in records(result.stdout_bytes)] == ["1"]
    assert "skipped_malformed_row=1 " in result.stderr


def test_csv_row_over_the_line_limit_is_too_long_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    field = "x = 1\n" * 400  # 2,400 bytes in one quoted field over many lines
    path.write_text(f'id,text\n1,def f(): return 1\n2,"{field}"\n3,def g(): pass\n')
    result = ok("score", path, *FAST, "--skip-invalid", "--max-line-bytes", 1000, "-o", "-")
    assert [r["id"] for r in records(result.stdout_bytes)] == ["1", "3"]
    assert "skipped_too_long=1 " in result.stderr
    # A stray quote whose row passes the limit is too_long with --skip-invalid as without it
    # (which stops at the limit): the skipped row runs to the end of the file.
    stray = _stray_quote_csv(tmp_path / "stray.csv")
    stopped = run("score", stray, *FAST, "--max-line-bytes", 1000, "-o", "-")
    assert stopped.exit_code == 3 and f"{stray}:3: line is over the line-length limit" in stopped.stderr
    result = ok("score", stray, *FAST, "--skip-invalid", "--max-line-bytes", 1000, "-o", "-")
    assert [r["id"] for r in records(result.stdout_bytes)] == ["1"]
    assert "skipped_too_long=1 " in result.stderr and "malformed_row" not in result.stderr


def test_csv_byte_order_mark_before_a_quoted_header(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_bytes(b'\xef\xbb\xbf"text","id"\r\n"def f(): return 1","1"\r\n')
    result = ok("score", path, *FAST, "-o", "-")
    assert [(r["id"], r["text"]) for r in records(result.stdout_bytes)] == [("1", "def f(): return 1")]


def test_csv_nul_byte_is_a_malformed_row_on_every_python(tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"id,text\n1,def f():\x00 return 1\n2,def g(): pass\n")
    result = run("score", path, *FAST, "-o", "-")
    assert result.exit_code == 3 and f"{path}:2: row holds a NUL byte" in result.stderr
    result = ok("score", path, *FAST, "--skip-invalid", "-o", "-")
    assert [r["id"] for r in records(result.stdout_bytes)] == ["2"]
    assert "skipped_malformed_row=1 " in result.stderr


# --- CSV/TSV out ------------------------------------------------------------------------------

AWKWARD = [
    {"id": "a1", "text": 'def f():\n    return "quoted, with a comma"\n', "n": 1, "meta": {"lang": "en"}},
    {"id": "a2", "text": "tab\there\r\nand a CR\ronly", "n": 2.5, "meta": None, "ok": True},
    {"text": "ünïcödé ✓ \u2028 text", "id": "a3", "n": None, "meta": {"tags": ["x", "y"]}},
    {"id": "a4", "text": "", "n": -(2**62), "meta": [1, {"k": "v"}], "ok": False},
]


def _as_csv_cells(record: dict[str, Any], header: list[str]) -> dict[str, str]:
    """What a record becomes read back from CSV: text as it is, null or missing empty, the rest JSON."""
    cell = lambda v: "" if v is None else v if isinstance(v, str) else orjson.dumps(v).decode()  # noqa: E731
    return {name: cell(record.get(name)) for name in header}


def _read_back(path: Path) -> list[dict[str, Any]]:
    source = open_source(str(path))
    try:
        return [orjson.loads(line) for _, line in source]
    finally:
        source.close()


@pytest.mark.parametrize("name", ["out.csv", "out.tsv", "out.csv.gz", "out.tsv.zst"])
def test_csv_output_round_trips_through_the_csv_reader(tmp_path: Path, name: str) -> None:
    """Header from the first record; nested values as JSON; every value comes back as text."""
    rows = [{**r, "text": r["text"] or "x"} for r in AWKWARD]
    rows[0] = {"id": "a1", "text": rows[0]["text"], "n": 1, "meta": {"lang": "en"}, "ok": None}
    source = tmp_path / "awkward.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    out = tmp_path / name
    ok("score", source, *_few_targets(tmp_path), "-o", out)
    jsonl = records(ok("score", source, *_few_targets(tmp_path), "-o", "-").stdout_bytes)
    header = ["id", "text", "n", "meta", "ok", "zipfit_score"]
    assert _read_back(out) == [_as_csv_cells(r, header) for r in jsonl]
    raw = out.read_bytes() if name.endswith(("csv", "tsv")) else None
    if raw is not None:
        assert raw.startswith(b"id,text," if name.endswith(".csv") else b"id\ttext\t")
    # Scored again from its own CSV output, each record scores as it did.
    again = records(ok("score", out, *_few_targets(tmp_path), "--score-key", "again", "-o", "-").stdout_bytes)
    assert [r["again"] for r in again] == [r["zipfit_score"] for r in jsonl]
    assert [float(r["zipfit_score"]) for r in again] == [r["zipfit_score"] for r in jsonl]


def test_csv_output_of_csv_input_gives_the_input_back_with_the_score(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(b'id,text\r\n1,"def f(): return 1"\r\n2,"x = ""two"", 2"\r\n')
    out = tmp_path / "out.csv"
    ok("score", source, *_few_targets(tmp_path), "-o", out)
    got = _read_back(out)
    assert [{k: v for k, v in r.items() if k != "zipfit_score"} for r in got] == _read_back(source)
    assert out.read_bytes().startswith(b"id,text,zipfit_score\r\n1,def f(): return 1,0.")


def test_csv_output_record_with_a_field_the_header_lacks_is_one_error(tmp_path: Path) -> None:
    rows = [
        {"id": 1, "text": "def a(): pass"},
        {"text": "def b(): pass"},
        {"id": 3, "text": "x", "license": "mit"},
    ]
    source = tmp_path / "late.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "top.csv.gz"
    result = run("score", source, *_few_targets(tmp_path), "-o", out)
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        f"zipfit: error: cannot write {out}: record 3 has field 'license', which the header (the first "
        f"record's fields) does not name; a CSV has one set of columns: write JSONL "
        "(-o NAME.jsonl, or .jsonl.gz) or Parquet, which take fields that vary"
    ]
    assert _leftovers(out.parent) == []
    # A field a record lacks is an empty cell: record 2 has no id.
    ok("score", source, *_few_targets(tmp_path), "--limit", 2, "-o", tmp_path / "two.csv")
    assert [r["id"] for r in _read_back(tmp_path / "two.csv")] == ["1", ""]


@pytest.mark.parametrize(
    ("row", "says"),
    [
        (
            {"text": "def a(): pass", "note": "nul \x00 here"},
            "field 'note' of record 1 holds a NUL byte in its text",
        ),
        (
            {"text": "def a(): pass", "bad\x00key": 1},
            "field 'bad\\x00key' of record 1 holds a NUL byte in its name",
        ),
        ({"text": "def a(): pass", "evil\nzipfit: error: FAKE\x1b[2J": 1}, None),
    ],
)
def test_csv_output_refuses_what_csv_in_cannot_read_in_one_line(
    tmp_path: Path, row: dict[str, Any], says: str | None
) -> None:
    source = tmp_path / "odd.jsonl"
    source.write_bytes(orjson.dumps(row) + b"\n")
    out = tmp_path / "odd.csv"
    if says is None:  # a header with a line break and an escape is quoted and read back as it was
        ok("score", source, *_few_targets(tmp_path), "-o", out)
        assert list(_read_back(out)[0]) == [*row, "zipfit_score"]
        return
    result = run("score", source, *_few_targets(tmp_path), "-o", out)
    assert result.exit_code == 1 and says in result.stderr, result.output
    assert result.stderr.count("\n") == 1 and not out.exists()
    assert "write JSONL (-o NAME.jsonl, or .jsonl.gz)" in result.stderr


def test_integers_past_64_bits_stay_exact_in_csv_and_stop_parquet(tmp_path: Path) -> None:
    """orjson reads such an integer as a float; the writers read the line exactly instead."""
    big = "123456789012345678901234567890"
    source = tmp_path / "big.jsonl"
    source.write_text(f'{{"text": "def a(): pass", "big": {big}, "m": {{"n": -{big}}}}}\n')
    ok("score", source, *_few_targets(tmp_path), "-o", tmp_path / "big.csv")
    (row,) = _read_back(tmp_path / "big.csv")
    assert row["big"] == big and row["m"] == f'{{"n":-{big}}}'
    result = run("score", source, *_few_targets(tmp_path), "-o", tmp_path / "big.parquet")
    assert result.exit_code == 1, result.output
    assert "field 'big' of record 1 is an integer, which no Parquet type holds" in result.stderr
    assert not (tmp_path / "big.parquet").exists()

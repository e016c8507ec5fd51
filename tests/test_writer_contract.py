"""The writer contract: a new output format is a class and one line in writers.WRITERS.

`ToyWriter` writes each record as `score<TAB>text` (the text as a JSON string, so it stays
on one line). Registered with one line, it is driven through the CLI like any format: the
file appears whole in its format, or not at all, compressed when the name says so.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import IO, Any, ClassVar

import orjson
import pytest
from conftest import FAST, ok, records, run

from zipfit_cli.base.errors import OutputError
from zipfit_cli.files import writers
from zipfit_cli.files.output import Output

SCORE_KEY = "zipfit_score"


class ToyWriter:
    """Records as `score\\ttext` lines; `seen` notes what the contract promises along the way."""

    seen: ClassVar[dict[str, Any]] = {}

    def __init__(self, stream: IO[bytes], path: str, schema: Any) -> None:
        self.stream = stream
        self.path = path
        self.pending = b""
        ToyWriter.seen.update(schema=schema, discarded=False, closed=False, visible_while_writing=False)

    def write(self, data: bytes) -> None:
        # Not yet published: the output name does not exist while records are written.
        ToyWriter.seen["visible_while_writing"] |= os.path.exists(self.path)
        *lines, self.pending = (self.pending + data).split(b"\n")
        for line in lines:
            self.write_record(orjson.loads(line))

    def write_record(self, record: dict[str, Any]) -> None:
        self.stream.write(b"%r\t%s\n" % (record[SCORE_KEY], orjson.dumps(record["text"])))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        assert not self.pending, "an Output gives whole lines"
        ToyWriter.seen["closed"] = True

    def discard(self) -> None:
        ToyWriter.seen["discarded"] = True


class BrokenToy(ToyWriter):
    """Fails on the third record, as a format refusing a record would."""

    def write_record(self, record: dict[str, Any]) -> None:
        self.written = getattr(self, "written", 0) + 1
        if self.written == 3:
            raise OutputError(f"cannot write {self.path}: record 3 does not fit the toy format")
        super().write_record(record)


@pytest.fixture
def register(monkeypatch: pytest.MonkeyPatch) -> Any:
    def register_writer(endings: tuple[str, ...], cls: type[ToyWriter] = ToyWriter) -> None:
        monkeypatch.setitem(writers.WRITERS, endings, f"{__name__}:{cls.__name__}")  # the one line

    ToyWriter.seen = {}
    return register_writer


def toy_records(data: bytes) -> list[tuple[float, str]]:
    assert data.endswith(b"\n")
    rows = [line.split(b"\t") for line in data.splitlines()]
    assert all(len(row) == 2 for row in rows)
    return [(float(score), orjson.loads(text)) for score, text in rows]


def expected(jsonl: bytes) -> list[tuple[float, str]]:
    return [(row[SCORE_KEY], row["text"]) for row in records(jsonl)]


@pytest.mark.parametrize("command", [["select", "-k", "25"], ["score"]])
def test_registered_writer_writes_cli_output_atomically(
    register: Any, slice_path: Path, tmp_path: Path, command: list[str]
) -> None:
    register((".toy",))
    out = tmp_path / "out.toy"
    ok(command[0], slice_path, *FAST, *command[1:], "-o", out)
    want = expected(ok(command[0], slice_path, *FAST, *command[1:], "-o", "-").stdout_bytes)
    assert want and toy_records(out.read_bytes()) == want
    assert ToyWriter.seen == {
        "schema": None,
        "discarded": False,
        "closed": True,
        "visible_while_writing": False,
    }
    assert os.listdir(tmp_path) == ["out.toy"]  # no temporary file left beside it


def test_registered_writer_writes_through_the_compression_its_name_asks_for(
    register: Any, slice_path: Path, tmp_path: Path
) -> None:
    register((".toy", ".toy.gz"))
    out = tmp_path / "out.toy.gz"
    ok("select", slice_path, *FAST, "-k", "10", "-o", out)
    want = expected(ok("select", slice_path, *FAST, "-k", "10", "-o", "-").stdout_bytes)
    assert toy_records(gzip.decompress(out.read_bytes())) == want


def test_writer_failure_leaves_no_file(register: Any, slice_path: Path, tmp_path: Path) -> None:
    register((".toy",), BrokenToy)
    out = tmp_path / "out.toy"
    result = run("select", slice_path, *FAST, "-k", "10", "-o", out)
    assert result.exit_code == 1, result.output
    assert "record 3 does not fit the toy format" in result.stderr
    assert ToyWriter.seen["discarded"] and not ToyWriter.seen["closed"]
    assert os.listdir(tmp_path) == []


def test_unregistered_names_and_reports_stay_jsonl(register: Any, slice_path: Path, tmp_path: Path) -> None:
    register((".toy",))
    line = b'{"text": "a", "zipfit_score": 0.5}\n'
    with Output(str(tmp_path / "report.toy"), records=False) as report:
        report.write(line)
    assert (tmp_path / "report.toy").read_bytes() == line
    ok("select", slice_path, *FAST, "-k", "5", "-o", tmp_path / "top.toy.jsonl")
    assert len(records((tmp_path / "top.toy.jsonl").read_bytes())) == 5
    assert ToyWriter.seen == {}  # no writer was made for either


def test_a_registered_name_under_a_compression_it_does_not_list_is_refused(
    register: Any, slice_path: Path, tmp_path: Path
) -> None:
    register((".toy",))
    result = run("select", slice_path, *FAST, "-k", "10", "-o", tmp_path / "out.toy.zst")
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"zipfit: error: output {tmp_path}/out.toy.zst: zipfit does not compress this format by name (.zst); "
        f"name it {tmp_path}/out.toy (see --output)"
    ]
    assert os.listdir(tmp_path) == [] and ToyWriter.seen == {}


@pytest.mark.parametrize("name", ["out.csv", "out.tsv.gz", "out.parquet"])
def test_the_builtin_writers_keep_the_contract(slice_path: Path, tmp_path: Path, name: str) -> None:
    """CSV, TSV and Parquet out: read back by zipfit's own readers, the records the JSONL
    output holds (CSV: every value as text), and nothing else left beside the file."""
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow")
    from zipfit_cli.files.sources import open_source

    out = tmp_path / name
    ok("select", slice_path, *FAST, "-k", "25", "-o", out)
    want = records(ok("select", slice_path, *FAST, "-k", "25", "-o", "-").stdout_bytes)
    if not name.endswith(".parquet"):
        text = lambda v: v if isinstance(v, str) else orjson.dumps(v).decode()  # noqa: E731
        want = [{k: text(v) for k, v in r.items()} for r in want]
    source = open_source(str(out))
    assert [orjson.loads(line) for _, line in source] == want
    source.close()
    assert os.listdir(tmp_path) == [name]

"""The reader contract: a format added as one class and one line in `READERS` is read by
every command, as sources and as targets, like the formats zipfit ships; the Arrow reader
(arrow.py), which is such a line, passes it too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from conftest import FAST, SOURCE, TARGET, ok, records

from zipfit_cli.files import sources


class ToySource:
    """`.toy` files: one text a line, no JSON; each line becomes {"text": line}."""

    def __init__(self, path: str, max_line_bytes: int = 0, measure_long: bool = True) -> None:
        self.path = path
        self.blank_lines = 0
        self._file = open(path, "rb")
        self._done = 0

    @property
    def consumed(self) -> int:
        return self._done

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        for line_no, line in enumerate(self._file, 1):
            self._done += len(line)
            if not line.strip():
                self.blank_lines += 1
                continue
            yield line_no, orjson.dumps({"text": line.rstrip(b"\n").decode()})

    def position(self) -> int | None:
        return self._done

    def close(self) -> None:
        self._file.close()


def _toy(path: Path, texts: list[str]) -> None:
    path.write_text("".join(text + "\n" for text in texts))


def _arrow(path: Path, texts: list[str]) -> None:
    pa = pytest.importorskip("pyarrow")
    ipc = pytest.importorskip("pyarrow.ipc")
    table = pa.table({"text": texts})
    with ipc.new_file(path, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=64):
            writer.write_batch(batch)


# Each reader's one line in READERS, and how a test writes a file of texts for it.
REGISTERED = {
    "toy": ((".toy",), f"{__name__}:ToySource", _toy),
    "arrow": ((".arrow",), "zipfit_cli.files.arrow:ArrowSource", _arrow),  # the line zipfit ships
}


@pytest.fixture(params=REGISTERED.keys())
def reader_file(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    endings, where, write = REGISTERED[request.param]
    if sources.READERS.get(endings) != where:
        monkeypatch.setitem(sources.READERS, endings, where)  # the one line
    texts = [json.loads(line)["text"].replace("\n", " ") for line in SOURCE.read_text().splitlines()[:300]]
    path = tmp_path / f"source{endings[0]}"
    write(path, texts)
    jsonl = tmp_path / "source.jsonl"
    jsonl.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
    return path


def test_a_registered_reader_scores_as_its_jsonl_twin(reader_file: Path) -> None:
    from_reader = records(ok("select", reader_file, *FAST, "-k", "20", "-o", "-").stdout)
    from_jsonl = records(ok("select", reader_file.with_suffix(".jsonl"), *FAST, "-k", "20", "-o", "-").stdout)
    assert from_reader == from_jsonl
    assert len(from_reader) == 20


def test_a_registered_reader_reads_targets_and_reports_lines(reader_file: Path, tmp_path: Path) -> None:
    target = tmp_path / f"target{reader_file.suffix}"
    rows = [json.loads(line) for line in TARGET.read_text().splitlines()[:5]]
    REGISTERED[reader_file.suffix.lstrip(".")][2](
        target, [(r["prompt"] + r["canonical_solution"]).replace("\n", " ") for r in rows]
    )
    out = ok("score", reader_file, "-t", target, "--compressor", "lz4", "-j", "1", "-o", "-").stdout
    assert len(records(out)) == 300


def test_the_shipped_arrow_reader_is_one_line_in_readers() -> None:
    assert sources.READERS[(".arrow",)] == REGISTERED["arrow"][1]

"""The reader contract: a format added as one class and one line in `READERS` is read by
every command, as sources and as targets, like the formats zipfit ships."""

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


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setitem(sources.READERS, (".toy",), f"{__name__}:ToySource")  # the one line
    texts = [json.loads(line)["text"] for line in SOURCE.read_text().splitlines()[:300]]
    path = tmp_path / "source.toy"
    path.write_text("".join(text.replace("\n", " ") + "\n" for text in texts))
    jsonl = tmp_path / "source.jsonl"
    jsonl.write_text("".join(json.dumps({"text": text.replace("\n", " ")}) + "\n" for text in texts))
    return path


def test_a_registered_reader_scores_as_its_jsonl_twin(toy: Path) -> None:
    from_toy = records(ok("select", toy, *FAST, "-k", "20", "-o", "-").stdout)
    from_jsonl = records(ok("select", toy.with_suffix(".jsonl"), *FAST, "-k", "20", "-o", "-").stdout)
    assert from_toy == from_jsonl
    assert len(from_toy) == 20


def test_a_registered_reader_reads_targets_and_reports_lines(toy: Path, tmp_path: Path) -> None:
    target = tmp_path / "target.toy"
    rows = [json.loads(line) for line in TARGET.read_text().splitlines()[:5]]
    target.write_text(
        "".join((r["prompt"] + r["canonical_solution"]).replace("\n", " ") + "\n" for r in rows)
    )
    out = ok("score", toy, "-t", target, "--compressor", "lz4", "-j", "1", "-o", "-").stdout
    assert len(records(out)) == 300

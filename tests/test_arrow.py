"""The Arrow reader (arrow.py): `.arrow` files in file and stream format, and directories
`datasets.save_to_disk` writes, built here with pyarrow (no `datasets`, no network)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST, TARGET, ok, records, run, run_process, write_arrow, write_dataset

pa = pytest.importorskip("pyarrow")
ipc = pytest.importorskip("pyarrow.ipc")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def table(slice_path: Path) -> Any:
    return pa.Table.from_pylist(records(slice_path.read_bytes()))


def _score(*args: Any) -> bytes:
    return ok("score", *args, *FAST, "-o", "-").stdout_bytes


def test_arrow_files_and_saved_datasets_read_as_the_same_parquet(table: Any, tmp_path: Path) -> None:
    parquet = tmp_path / "s.parquet"
    pq.write_table(table, parquet, row_group_size=37)
    expected = _score(parquet)
    assert len(records(expected)) == table.num_rows
    file_format = write_arrow(tmp_path / "file.arrow", table)
    assert file_format.read_bytes()[:6] == b"ARROW1"
    stream = write_arrow(tmp_path / "stream.arrow", table, stream=True)
    dataset = write_dataset(tmp_path / "saved", table, cuts=(70, 150))
    for source in (file_format, stream, dataset, f"{dataset}/"):
        assert _score(source) == expected, source
    selected = ok("select", dataset, *FAST, "-k", 10, "-o", "-").stdout_bytes
    assert selected == ok("select", parquet, *FAST, "-k", 10, "-o", "-").stdout_bytes


def test_data_files_are_read_in_the_order_state_json_gives(table: Any, tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "saved", table, cuts=(50,))
    state = json.loads((dataset / "state.json").read_text())
    state["_data_files"].reverse()  # the second file first: not the names' order
    (dataset / "state.json").write_text(json.dumps(state))
    ids = [r["id"] for r in records(_score(dataset))]
    rows = table.to_pylist()
    assert ids == [r["id"] for r in rows[50:] + rows[:50]]


def test_rows_are_numbered_across_the_data_files(tmp_path: Path) -> None:
    rows = [{"text": f"def f{i}(x): return x + {i}"} for i in range(30)]
    rows[24]["text"] = "   "  # the 25th row: in the second data file
    dataset = write_dataset(tmp_path / "saved", pa.Table.from_pylist(rows), cuts=(20,))
    result = run("score", dataset, *FAST)
    assert result.exit_code == 3
    assert f"{dataset}:25: " in result.stderr and "empty" in result.stderr


def test_saved_datasets_are_targets_and_backgrounds(slice_path: Path, tmp_path: Path) -> None:
    targets = [json.loads(line) for line in TARGET.read_text().splitlines()]
    dataset = write_dataset(tmp_path / "targets", pa.Table.from_pylist(targets), cuts=(40,))
    template = ["--target-template", "{prompt}{canonical_solution}", "--compressor", "lz4", "-j", "1"]
    from_dataset = ok("select", slice_path, "-t", dataset, *template, "-k", 5, "-o", "-").stdout_bytes
    from_jsonl = ok("select", slice_path, "-t", TARGET, *template, "-k", 5, "-o", "-").stdout_bytes
    assert from_dataset == from_jsonl
    lines = slice_path.read_bytes().splitlines(keepends=True)[150:166]
    (tmp_path / "background.jsonl").write_bytes(b"".join(lines))
    background = write_dataset(tmp_path / "background", pa.Table.from_pylist(records(b"".join(lines))))
    contrast = ["--contrast", "-k", 5, "-o", "-"]
    jsonl = ok("select", slice_path, *FAST, *contrast, "--background", tmp_path / "background.jsonl")
    saved = ok("select", slice_path, *FAST, *contrast, "--background", background)
    assert saved.stdout_bytes == jsonl.stdout_bytes


HOSTILE = {
    "parent": "../outside.arrow",
    "absolute": "{outside}",
    "url": "file://{outside}",
    "backslash": "..\\outside.arrow",
    "dot-dot": "..",
    "not a string": 7,
    "control characters": "x\x1b[31m\n.arrow",
}


@pytest.mark.parametrize("name", HOSTILE.values(), ids=HOSTILE.keys())
def test_state_json_never_opens_a_file_outside_its_directory(name: Any, table: Any, tmp_path: Path) -> None:
    outside = write_arrow(tmp_path / "outside.arrow", table)  # readable: opening it would succeed
    listed = name.format(outside=outside) if isinstance(name, str) else name
    dataset = write_dataset(tmp_path / "saved", table, names=[listed])
    result = run_process("score", str(dataset), *map(str, FAST))
    assert result.returncode == 3, result.stderr
    err = result.stderr.decode()
    assert err.startswith(f"zipfit: error: {dataset}/state.json: data file ") and err.count("\n") == 1
    assert "\x1b" not in err and result.stdout == b""


def test_a_symbolic_link_leading_out_is_refused(table: Any, tmp_path: Path) -> None:
    outside = write_arrow(tmp_path / "outside.arrow", table)
    dataset = write_dataset(tmp_path / "saved", table, names=["link.arrow"])
    os.symlink(outside, dataset / "link.arrow")
    result = run("score", dataset, *FAST)
    assert result.exit_code == 3 and "'link.arrow' leads out of its directory" in result.stderr


@pytest.mark.parametrize(
    ("state", "says"),
    [
        ("not json", "state.json: not JSON"),
        ("[1, 2]", "no _data_files list"),
        ('{"_data_files": ["a.arrow"]}', "no _data_files list"),
        ('{"_data_files": [{"filename": "gone.arrow"}]}', "'gone.arrow' is not in its directory"),
    ],
)
def test_a_broken_state_json_is_one_line(state: str, says: str, table: Any, tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "saved", table)
    (dataset / "state.json").write_text(state)
    result = run("score", dataset, *FAST)
    assert result.exit_code == 3 and says in result.stderr and result.stderr.count("\n") == 1


def test_a_dataset_dict_is_refused_naming_its_splits(table: Any, tmp_path: Path) -> None:
    top = tmp_path / "dd"
    write_dataset(top / "train", table)
    write_dataset(top / "test", table.slice(0, 20))
    (top / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}))
    result = run("score", top, *FAST)
    assert result.exit_code == 3
    assert f"{top} is a DatasetDict of splits train, test: give one split's directory, like {top}/train" in (
        result.stderr
    )
    assert records(_score(top / "train")) == records(_score(write_dataset(tmp_path / "one", table)))


def test_a_directory_is_a_source_only_by_its_state_json(table: Any, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    write_arrow(plain / "data-00000-of-00001.arrow", table, stream=True)  # looks like a dataset
    result = run("score", plain, *FAST)
    assert result.exit_code == 3 and "is a directory" in result.stderr


def test_a_file_that_is_not_arrow_is_one_line(slice_path: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake.arrow"
    fake.write_bytes(slice_path.read_bytes())
    result = run("score", fake, *FAST)
    assert result.exit_code == 3 and result.stderr.count("\n") == 1
    assert f"{fake}: not a readable Arrow IPC file" in result.stderr


@pytest.mark.parametrize("cut", [1, 10, 0.5])
def test_a_truncated_arrow_file_is_refused_before_pyarrow_opens_it(
    cut: float, table: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file-format Arrow file without its footer (a write cut short): pyarrow's file reader,
    failing on it, can abort the whole process at exit (SIGABRT, 'terminate called without an
    active exception', now and then): zipfit finds the missing footer itself."""
    whole = write_arrow(tmp_path / "whole.arrow", table).read_bytes()
    cut_at = int(len(whole) * cut) if cut < 1 else len(whole) - int(cut)
    truncated = tmp_path / "cut.arrow"
    truncated.write_bytes(whole[:cut_at])

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pyarrow opened a file without a footer")

    monkeypatch.setattr(ipc, "open_file", refuse)
    result = run("score", truncated, *FAST)
    assert result.exit_code == 3, result.output
    assert result.stderr.count("\n") == 1
    assert f"{truncated}: not a readable Arrow IPC file (truncated: no footer" in result.stderr


def test_files_inside_a_saved_dataset_are_inputs(table: Any, tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "saved", table)
    data_file = dataset / "data-00000-of-00001.arrow"
    before = data_file.read_bytes()
    # -o NAME.arrow is refused by its name already; --report takes any name.
    result = run("score", dataset, *FAST, "-o", tmp_path / "out.jsonl", "--report", data_file, "--force")
    assert result.exit_code == 2 and "is also an input" in result.stderr
    assert run("score", dataset, *FAST, "-o", data_file, "--force").exit_code == 2
    assert data_file.read_bytes() == before and not (tmp_path / "out.jsonl").exists()


def test_bytes_read_are_the_data_files_bytes(table: Any, tmp_path: Path) -> None:
    from zipfit_cli.files.locations import input_file_size

    dataset = write_dataset(tmp_path / "saved", table, cuts=(60,))
    arrow_file = write_arrow(tmp_path / "file.arrow", table)
    data = sum(f.stat().st_size for f in dataset.glob("*.arrow"))
    for source, size in ((dataset, data), (arrow_file, arrow_file.stat().st_size)):
        report = tmp_path / f"{source.name}.json"
        ok("score", source, *FAST, "-o", tmp_path / f"{source.name}.out.jsonl", "--report", report)
        assert json.loads(report.read_text())["stats"]["bytes_read"] == size
    # The progress total: every file of the directory, not the directory's own inode size.
    assert input_file_size(str(dataset)) == sum(f.stat().st_size for f in dataset.iterdir())

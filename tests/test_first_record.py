"""The run's first record is checked before any scoring (files/first_record.py): a problem
every record shares fails in a second, naming file and line, not after the whole corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import FAST, WriteJsonl, ok, records, run

from zipfit_cli.base.errors import InputError, InvalidRecordError
from zipfit_cli.engines import engine as engine_module
from zipfit_cli.engines.dask_engine import DaskEngine
from zipfit_cli.files.first_record import LOOK_AHEAD, FirstRecordCheck
from zipfit_cli.files.reading import LongLine
from zipfit_cli.files.records import TextSpec

ROWS = [{"text": f"def f{i}(x):\n    return x + {i}\n", "doc_id": f"d{i}"} for i in range(30)]


@pytest.fixture
def no_scoring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any scoring (the local pool, a Dask cluster) fails the test: the check must come first."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("scoring started")

    monkeypatch.setattr(engine_module, "map_batches", refuse)
    monkeypatch.setattr(DaskEngine, "_client", refuse)


def _without(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != key} for row in rows]


@pytest.mark.parametrize(
    ("command", "output_format"), [("select", "ids"), ("score", "ids"), ("score", "attributes")]
)
def test_a_missing_id_key_fails_before_scoring(
    write_jsonl: WriteJsonl, no_scoring: None, command: str, output_format: str
) -> None:
    source = write_jsonl(_without(ROWS, "doc_id"))
    result = run(command, source, *FAST, "--output-format", output_format, "--id-key", "doc_id")
    assert result.exit_code == 3, result.output
    assert f"{source}:1: the record has no 'doc_id' field (fields: text)" in result.stderr
    assert "nothing was scored" in result.stderr and "--id-key" in result.stderr
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_missing_id_key_fails_before_a_dask_cluster_starts(
    write_jsonl: WriteJsonl, no_scoring: None
) -> None:
    source = write_jsonl(_without(ROWS, "doc_id"))
    args = ("select", source, *FAST, "-k", "3", "--output-format", "ids", "--id-key", "doc_id")
    result = run(*args, "--engine", "dask", "-j", "1")
    assert result.exit_code == 3, result.output
    assert f"{source}:1: the record has no 'doc_id' field" in result.stderr


@pytest.mark.parametrize("engine", [[], ["--engine", "dask", "-j", "1"]])
def test_the_first_record_of_the_run_is_checked_past_empty_files(
    write_jsonl: WriteJsonl, no_scoring: None, engine: list[str]
) -> None:
    """An empty first file (or one of blank lines) does not let the run's first record go unchecked."""
    empty = write_jsonl([], "empty.jsonl")
    blank = write_jsonl([b"", b"  "], "blank.jsonl")
    source = write_jsonl(_without(ROWS, "doc_id"))
    args = ("score", empty, blank, source, *FAST, "--output-format", "ids", "--id-key", "doc_id")
    result = run(*args, *engine)
    assert result.exit_code == 3, result.output
    assert f"{source}:1: the record has no 'doc_id' field" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_template_field_missing_from_the_first_record_fails_before_scoring(
    write_jsonl: WriteJsonl, no_scoring: None
) -> None:
    source = write_jsonl(ROWS)
    result = run("score", source, *FAST, "--text-key", "body")
    assert result.exit_code == 3, result.output
    assert f"{source}:1: no 'body' field" in result.stderr


def test_with_skip_invalid_the_first_valid_record_is_checked(
    write_jsonl: WriteJsonl, no_scoring: None
) -> None:
    source = write_jsonl([b"{not json", {"text": "   "}, *_without(ROWS, "doc_id")])
    args = ("score", source, *FAST, "--skip-invalid", "--output-format", "ids", "--id-key", "doc_id")
    result = run(*args)
    assert result.exit_code == 3, result.output
    assert f"{source}:3: the record has no 'doc_id' field" in result.stderr


def test_stdin_is_checked_on_its_first_record(no_scoring: None) -> None:
    data = b"".join(b'{"text": "x = %d"}\n' % i for i in range(5))
    result = run("score", "-", *FAST, "--output-format", "ids", input=data)
    assert result.exit_code == 3, result.output
    assert "-:1: the record has no 'id' field" in result.stderr


def test_a_good_first_record_changes_nothing(write_jsonl: WriteJsonl) -> None:
    source = write_jsonl(ROWS)
    ids = records(
        ok("select", source, *FAST, "-k", "4", "--output-format", "ids", "--id-key", "doc_id").stdout
    )
    whole = records(ok("select", source, *FAST, "-k", "4").stdout)
    assert [row["doc_id"] for row in ids] == [row["doc_id"] for row in whole]


def test_a_later_record_without_the_id_still_stops_the_run(write_jsonl: WriteJsonl, tmp_path: Path) -> None:
    """Only the first record is read early: a later one is caught where it is written."""
    source = write_jsonl([*ROWS[:5], {"text": ROWS[5]["text"]}, *ROWS[6:]])
    out = tmp_path / "ids.jsonl"
    result = run("score", source, *FAST, "--output-format", "ids", "--id-key", "doc_id", "-o", out)
    assert result.exit_code == 3, result.output
    assert "no 'doc_id' field" in result.stderr
    assert not out.exists()


def test_check_unit_cases() -> None:
    spec = TextSpec.build("text")
    check = FirstRecordCheck(spec, skip_invalid=False, id_key="doc", output_format="ids")
    check.check("f", [(1, b'{"text": "a", "doc": 1}\n'), (2, b"{broken\n")])  # only the first counts
    check.check("f", [])  # an empty source: the run itself says so
    with pytest.raises(InvalidRecordError, match="f:1: malformed JSON"):
        check.check("f", [(1, b"{broken\n")])
    with pytest.raises(InvalidRecordError, match="f:4: line is"):
        check.check("f", [(4, LongLine(10, 5))])
    skipping = FirstRecordCheck(spec, skip_invalid=True, id_key="doc", output_format="ids")
    with pytest.raises(InputError, match=r"f:3: the record has no 'doc' field \(fields: text\)"):
        skipping.check("f", [(1, b"[1]\n"), (2, LongLine(10, 5)), (3, b'{"text": "b"}')])
    bad = [(n, b"{broken\n") for n in range(1, LOOK_AHEAD + 5)]
    skipping.check("f", [*bad, (LOOK_AHEAD + 5, b'{"text": "b"}')])  # gives up: the run decides
    FirstRecordCheck(spec).check("f", [(1, b'{"text": "no id needed"}')])

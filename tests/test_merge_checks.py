"""What `zipfit merge` checks (merge.py): each part whole, the same inputs, no forged trailer."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import zstandard
from conftest import TARGET, TEMPLATE, ok, run, run_process

from zipfit_cli.files.part_names import MANIFEST

BASE = ["-t", str(TARGET), "--target-template", TEMPLATE, "--compressor", "lz4", "-q", "-j", "1"]


def parts(tmp_path: Path, source: Path, n: int, *command: Any) -> list[Path]:
    made = []
    for i in range(n):
        part = tmp_path / f"part-{i}.jsonl"
        result = run(*command, source, *BASE, "--shard", f"{i}/{n}", "-o", part)
        assert result.exit_code == 0, result.output
        made.append(part)
    return made


def test_a_part_with_a_record_deleted_is_refused_even_when_k_stops_early(
    slice_path: Path, tmp_path: Path
) -> None:
    made = parts(tmp_path, slice_path, 2, "select", "-k", "20")
    lines = made[1].read_bytes().splitlines(keepends=True)
    made[1].write_bytes(b"".join(lines[:15] + lines[16:]))  # one record line gone, near the end
    result = run("merge", *made, "-k", "3")
    assert result.exit_code == 3, result.output
    assert f"zipfit: error: {made[1]}:" in result.stderr
    assert result.stdout == ""


def test_parts_made_before_and_after_an_input_changed_are_refused(slice_path: Path, tmp_path: Path) -> None:
    source = tmp_path / "source.jsonl"
    source.write_bytes(slice_path.read_bytes())
    first = parts(tmp_path, source, 2, "score")[0]
    with open(source, "ab") as f:
        f.write(b'{"text": "def added(): return 1"}\n')
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    result = run("score", source, *BASE, "--shard", "1/2", "-o", tmp_path / "late.jsonl")
    assert result.exit_code == 0, result.output
    result = run("merge", first, tmp_path / "late.jsonl")
    assert result.exit_code == 3, result.output
    assert f"input {source} changed between shards" in result.stderr


def test_part_trailer_records_what_it_read(slice_path: Path, tmp_path: Path) -> None:
    part = parts(tmp_path, slice_path, 1, "score")[0]
    info = json.loads(part.read_bytes().splitlines()[-1])["_zipfit_part"]
    size, mtime = slice_path.stat().st_size, slice_path.stat().st_mtime_ns
    assert info["inputs"] == [{"path": str(slice_path), "size": size, "mtime_ns": mtime}]
    assert info["part_version"] == 2


def test_shard_whose_share_is_all_invalid_writes_a_part(source_lines: list[bytes], tmp_path: Path) -> None:
    source = tmp_path / "source.jsonl"
    # Even lines are good records, odd lines broken: shard 1 of 2 gets only broken ones.
    source.write_bytes(b"".join(line for good in source_lines[:10] for line in (good, b"{broken\n")))
    made = parts(tmp_path, source, 2, "select", "--skip-invalid", "-k", "3")
    result = run("merge", *made)
    assert result.exit_code == 0, result.output
    single = run("select", source, *BASE, "--skip-invalid", "-k", "3")
    assert result.stdout == single.stdout


def test_merge_of_shards_that_skipped_everything_fails(tmp_path: Path) -> None:
    source = tmp_path / "source.jsonl"
    source.write_bytes(b"{broken\n" * 6)
    made = parts(tmp_path, source, 2, "score", "--skip-invalid")
    result = run("merge", *made)
    assert result.exit_code == 3, result.output
    assert "no record could be scored: all 6 were skipped (malformed_json 6)" in result.stderr


def test_merge_reports_its_own_time_and_the_shards_total(slice_path: Path, tmp_path: Path) -> None:
    made = parts(tmp_path, slice_path, 2, "select", "-k", "5")
    shard_seconds = sum(
        json.loads(p.read_bytes().splitlines()[-1])["_zipfit_part"]["stats"]["elapsed"] for p in made
    )
    for part in made:  # as if each shard had taken 50 s
        lines = part.read_bytes().splitlines(keepends=True)
        trailer = json.loads(lines[-1])
        trailer["_zipfit_part"]["stats"]["elapsed"] = 50.0
        part.write_bytes(b"".join(lines[:-1]) + json.dumps(trailer).encode() + b"\n")
    assert shard_seconds < 50
    report = tmp_path / "merge.json"
    result = run("merge", *made, "--report", report)
    assert result.exit_code == 0, result.output
    stats = json.loads(report.read_text())["stats"]
    assert stats["shards_elapsed_s"] == 100.0
    assert stats["elapsed_s"] < 10
    assert stats["records_per_s"] == round(200 / 100.0, 1)
    assert " shards_elapsed_s=100.00 " in result.stderr
    full = run("merge", *made, "--report", report, "--force", "--summary", "full")
    assert "shards 100.00 s in total" in full.stderr


def _rewrite_trailer(part: Path, change: Any) -> None:
    """Apply `change(trailer)` to a part's trailer, as someone forging the part would."""
    lines = part.read_bytes().splitlines(keepends=True)
    trailer = json.loads(lines[-1])
    change(trailer["_zipfit_part"])
    part.write_bytes(b"".join(lines[:-1]) + json.dumps(trailer).encode() + b"\n")


@contextmanager
def _listener() -> Iterator[tuple[int, list[str]]]:
    """A port on 127.0.0.1 that notes every connection to it; stops by itself within 60 s."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.1)
    connected: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            connected.append("connected")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], connected
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


@pytest.mark.slow
def test_merge_opens_no_path_or_url_a_part_names(slice_path: Path, tmp_path: Path) -> None:
    made = parts(tmp_path, slice_path, 2, "select", "-k", "5")
    with _listener() as (port, connected):
        for part in made:
            _rewrite_trailer(part, lambda t: t.update(sources=[f"ftp://127.0.0.1:{port}/x.parquet"]))
        result = run("merge", *made, "-o", tmp_path / "m.parquet")
    assert connected == []
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.parquet").exists()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("command", "explain"),
        ("top_k", "3"),
        ("top_k", 0),
        ("fraction", 7.0),
        ("fraction", "1.5"),
        ("fraction", "a half"),
        ("written", -1),
        ("scored", True),
        ("skipped", {"malformed_json": "many"}),
        ("inputs", [{"path": 1}]),
        ("warnings", [["not text"]]),
        ("shard_index", 5),
        ("parquet_schema", 42),
        ("stats", {"scored": 1}),
        ("min_score", "0.1"),
        ("min_score", True),
        ("min_score", 1),  # a shard writes the float it compared with: 1.0
    ],
)
def test_merge_refuses_a_part_whose_trailer_holds_what_no_shard_writes(
    slice_path: Path, tmp_path: Path, key: str, value: Any
) -> None:
    made = parts(tmp_path, slice_path, 2, "select", "-k", "5")
    _rewrite_trailer(made[1], lambda t: t.update({key: value}))
    result = run("merge", *made)
    assert result.exit_code == 3, result.output
    assert (
        "its trailer" in result.stderr and key in result.stderr and "the part was modified" in result.stderr
    )
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("skipped", lambda t: t.update(skipped={"evil\nzipfit: error: FAKE\x1b[2J": 1})),
        ("stats.pruned", lambda t: t["stats"].update(pruned={"abc\n": 1})),
        ("stats.pruned", lambda t: t["stats"].update(pruned={"nan": 1})),
    ],
)
def test_merge_refuses_forged_reasons_and_checkpoints_before_writing(
    slice_path: Path, tmp_path: Path, where: str, change: Any
) -> None:
    made = parts(tmp_path, slice_path, 2, "score")
    _rewrite_trailer(made[1], change)
    for output in ("-", tmp_path / "merged.jsonl"):
        result = run("merge", *made, "-o", output)
        assert result.exit_code == 3, result.output
        assert result.stderr.count("\n") == 1 and "\x1b" not in result.stderr
        assert f"its trailer's {where} is not" in result.stderr
        assert result.stdout == ""
    assert not (tmp_path / "merged.jsonl").exists()


@pytest.mark.parametrize(
    "change",
    [
        lambda scores: scores[1:],  # one fewer than the part scored
        lambda scores: [*scores[:-1], 99.0],  # outside the part's score range
        lambda scores: [*scores[:-1], "0.1"],
    ],
)
def test_merge_refuses_a_part_whose_kept_scores_were_tampered_with(
    slice_path: Path, tmp_path: Path, change: Any
) -> None:
    made = parts(tmp_path, slice_path, 2, "select", "-k", "5")
    _rewrite_trailer(made[0], lambda t: t["stats"].update(scores=change(t["stats"]["scores"])))
    result = run("merge", *made)
    assert result.exit_code == 3, result.output
    assert "its trailer's stats.scores " in result.stderr and result.stdout == ""


def test_merge_refuses_a_part_whose_score_histogram_was_tampered_with(
    slice_path: Path, tmp_path: Path
) -> None:
    made = parts(tmp_path, slice_path, 2, "select", "-k", "5")
    _rewrite_trailer(made[0], lambda t: t["stats"].update(histogram={"x": 1}, score_min="low"))
    result = run("merge", *made)
    assert result.exit_code == 3, result.output
    assert "its trailer's stats.score_min is not a score" in result.stderr


def test_merge_refuses_a_part_whose_trailer_lacks_a_statistic(slice_path: Path, tmp_path: Path) -> None:
    made = parts(tmp_path, slice_path, 2, "select", "-k", "5")
    _rewrite_trailer(made[1], lambda t: t["stats"].pop("score_min"))
    result = run("merge", *made)
    assert result.exit_code == 3, result.output
    assert "its trailer has no stats.score_min" in result.stderr


def test_merge_of_a_huge_shard_count_names_the_first_missing_shards(slice_path: Path, tmp_path: Path) -> None:
    made = parts(tmp_path, slice_path, 2, "select", "-k", "5")
    for part in made:
        _rewrite_trailer(part, lambda t: t.update(shard_count=10**15))
    result = run("merge", *made)
    assert result.exit_code == 3, result.output
    assert "missing shard(s) 2/1000000000000000, 3/1000000000000000" in result.stderr


def test_merge_shows_a_parts_warnings_on_one_line(slice_path: Path, tmp_path: Path) -> None:
    made = parts(tmp_path, slice_path, 2, "score")
    for part in made:
        _rewrite_trailer(part, lambda t: t.update(warnings=["forged\nzipfit: error: FAKE\x1b[2J"]))
    result = run("merge", *made)
    assert result.exit_code == 0, result.output
    assert "zipfit: warning: forged\\x0azipfit: error: FAKE\\x1b[2J" in result.stderr
    assert "\x1b" not in result.stderr and "\nzipfit: error" not in result.stderr


def test_merge_to_attributes_refuses_parts_that_left_records_out(
    source_lines: list[bytes], tmp_path: Path
) -> None:
    source = tmp_path / "source.jsonl"
    source.write_bytes(b"".join(source_lines[:10]) + b"{broken\n")
    made = parts(tmp_path, source, 2, "score", "--skip-invalid")
    result = run("merge", *made, "--output-format", "attributes")
    assert result.exit_code == 2, result.output
    assert "needs a line for every document" in result.stderr and "left 1 record(s) out" in result.stderr
    assert result.stdout == ""
    assert len(ok("merge", *made, "--output-format", "ids").stdout.splitlines()) == 10


@pytest.mark.parametrize(
    ("key", "change"),
    [
        ("records_read", lambda t: t.update(skipped={})),  # hides the record it skipped
        ("written", lambda t: t.update(written=t["scored"] + 1)),
        ("written", lambda t: t["stats"].update(below_min_score=t["scored"])),  # wrote records below it
        ("score_min", lambda t: t["stats"].update(score_max=None)),
        ("score_min", lambda t: t["stats"].update(score_min=t["stats"]["score_max"] + 1)),
    ],
)
def test_merge_refuses_a_part_whose_counts_do_not_add_up(
    source_lines: list[bytes], tmp_path: Path, key: str, change: Any
) -> None:
    source = tmp_path / "source.jsonl"
    source.write_bytes(b"".join(source_lines[:10]) + b"{broken\n")
    made = parts(tmp_path, source, 2, "score", "--skip-invalid")
    for part in made:
        _rewrite_trailer(part, change)
    result = run("merge", *made, "--output-format", "attributes")
    assert result.exit_code == 3, result.output
    assert "its trailer" in result.stderr and key in result.stderr and result.stdout == ""


def test_merge_to_attributes_of_parts_that_skipped_nothing(source_lines: list[bytes], tmp_path: Path) -> None:
    source = tmp_path / "source.jsonl"
    source.write_bytes(b"".join(source_lines[:10]))
    made = parts(tmp_path, source, 2, "score", "--skip-invalid")
    assert len(ok("merge", *made, "--output-format", "attributes").stdout.splitlines()) == 10


@pytest.mark.parametrize("output_format", ["attributes", "ids"])
def test_merge_refuses_parts_whose_score_key_is_the_id_key(
    source_lines: list[bytes], tmp_path: Path, output_format: str
) -> None:
    """The parts' records hold the score where the id was: a merge cannot write the ids a
    single `score --output-format attributes --score-key id` writes, so it refuses."""
    source = tmp_path / "source.jsonl"
    source.write_bytes(b"".join(source_lines[:10]))
    made = parts(tmp_path, source, 2, "score", "--score-key", "id")
    result = run("merge", *made, "--output-format", output_format)
    assert result.exit_code == 2, result.output
    assert "id key" in result.stderr and result.stdout == ""


def test_merge_stops_at_a_part_line_over_the_limit(slice_path: Path, tmp_path: Path) -> None:
    # A part line with no end (/dev/zero) is refused once it passes --max-line-bytes, in
    # bounded memory; real parts merge under the limit their shards had.
    result = run("merge", "/dev/zero", "--max-line-bytes", "1000", "-o", tmp_path / "m.jsonl")
    assert result.exit_code == 3, result.output
    assert "over the line-length limit of 1,000 bytes" in result.stderr
    assert "--max-line-bytes" in result.stderr
    made = parts(tmp_path, slice_path, 2, "select", "-k", "5")
    assert run("merge", *made, "--max-line-bytes", "100").exit_code == 3
    assert len(ok("merge", *made, "-q").stdout.splitlines()) == 5


def test_attributes_are_never_written_in_rank_order(source_lines: list[bytes], tmp_path: Path) -> None:
    # A Dolma attribute file is one line per document in input order: a selection is not.
    source = tmp_path / "source.jsonl"
    source.write_bytes(b"".join(source_lines[:10]))
    refused = run("select", source, *BASE, "-k", "3", "--output-format", "attributes")
    assert refused.exit_code == 2 and refused.stdout == ""
    assert "write attributes with `zipfit score --output-format attributes`" in refused.stderr
    selected = parts(tmp_path, source, 2, "select", "-k", "3")
    scored = [tmp_path / "score-0.jsonl", tmp_path / "score-1.jsonl"]
    for i, part in enumerate(scored):
        ok("score", source, *BASE, "--shard", f"{i}/2", "-o", part)
    for made, extra in ((selected, []), (scored, ["-k", "3"]), (scored, ["--dedupe"])):
        result = run("merge", *made, *extra, "--output-format", "attributes")
        assert result.exit_code == 2 and "needs one line per document in input order" in result.stderr
        assert result.stdout == ""
    assert len(ok("merge", *scored, "--output-format", "attributes").stdout.splitlines()) == 10


# --- --min-score: parts carry the threshold; merge applies it, and refuses what it cannot ----


def test_merge_refuses_parts_made_with_different_thresholds(slice_path: Path, tmp_path: Path) -> None:
    for name in ("low", "high", "plain"):
        (tmp_path / name).mkdir()
    low = parts(tmp_path / "low", slice_path, 2, "select", "--min-score", "0.01")
    high = parts(tmp_path / "high", slice_path, 2, "select", "--min-score", "0.05")
    result = run("merge", low[0], high[1])
    assert result.exit_code == 3, result.output
    assert result.stderr.count("\n") == 1 and "min_score differs" in result.stderr
    assert "(0.05 vs 0.01); parts must come from one run" in result.stderr
    plain = parts(tmp_path / "plain", slice_path, 2, "select")
    assert run("merge", plain[0], high[1]).exit_code == 3  # a threshold against none
    assert result.stdout == ""


def test_merge_refuses_a_threshold_below_the_parts_own(slice_path: Path, tmp_path: Path) -> None:
    made = parts(tmp_path, slice_path, 2, "score", "--min-score", "0.05")
    result = run("merge", *made, "--min-score", "0.04", "-o", tmp_path / "merged.jsonl")
    assert result.exit_code == 3, result.output
    assert "hold only records scoring at least 0.05" in result.stderr and "--min-score 0.04" in result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "merged.jsonl").exists()
    assert ok("merge", *made, "--min-score", "0.05").stdout == ok("merge", *made).stdout  # the same: fine


def test_merge_refuses_a_forged_threshold_that_is_not_finite(slice_path: Path, tmp_path: Path) -> None:
    made = parts(tmp_path, slice_path, 2, "select", "--min-score", "0.05")
    for part in made:  # orjson writes no NaN; a hand-made trailer can
        lines = part.read_bytes().splitlines(keepends=True)
        part.write_bytes(b"".join(lines[:-1]) + lines[-1].replace(b'"min_score":0.05', b'"min_score":NaN'))
    result = run("merge", *made)
    assert result.exit_code == 3, result.output
    assert "not a complete zipfit part (no valid trailer line)" in result.stderr and result.stdout == ""


def test_merge_to_attributes_refuses_a_threshold(source_lines: list[bytes], tmp_path: Path) -> None:
    source = tmp_path / "source.jsonl"
    source.write_bytes(b"".join(source_lines[:30]))
    made = parts(tmp_path, source, 2, "score")
    result = run("merge", *made, "--output-format", "attributes", "--min-score", "0.0")
    assert result.exit_code == 2, result.output
    assert "needs a line for every document" in result.stderr and "--min-score" in result.stderr
    (tmp_path / "below").mkdir()
    below = parts(tmp_path / "below", source, 2, "score", "--min-score", "0.03")
    result = run("merge", *below, "--output-format", "attributes")
    assert result.exit_code == 2, result.output
    assert "record(s) out (--skip-invalid, decontamination or --min-score)" in result.stderr


# `zipfit merge PARTS -o DIR/` (runs/merge_dir.py): one file a score part, a manifest last.


def _two_files(tmp_path: Path, slice_path: Path) -> list[Path]:
    lines = slice_path.read_bytes().splitlines(keepends=True)
    made = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    made[0].write_bytes(b"".join(lines[:120]))
    made[1].write_bytes(b"".join(lines[120:]))
    return made


def _file_parts(tmp_path: Path, sources: list[Path], n: int) -> list[Path]:
    made = []
    for i in range(n):
        part = tmp_path / f"part-{i}.jsonl"
        ok("score", *sources, *BASE, "--shard-by", "file", "--shard", f"{i}/{n}", "-o", part)
        made.append(part)
    return made


@pytest.mark.parametrize("name", ["part-{n:05d}.jsonl", "part-{n}.jsonl.zst"])
def test_merge_into_a_directory_writes_each_score_part_as_the_single_merge_does(
    slice_path: Path, tmp_path: Path, name: str
) -> None:
    made = _file_parts(tmp_path, _two_files(tmp_path, slice_path), 2)
    ok("merge", *made, "-o", tmp_path / "one.jsonl", "-q")
    ok("merge", *reversed(made), "-o", f"{tmp_path}/out/", "--output-name", name, "-q")
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_bytes())
    names = [entry["name"] for entry in manifest["parts"]]
    assert names == [name.format(n=0), name.format(n=1)]
    assert [entry["shard"] for entry in manifest["parts"]] == ["0/2", "1/2"]

    def plain(path: Path) -> bytes:
        data = path.read_bytes()
        unpack = zstandard.ZstdDecompressor().decompressobj().decompress
        return unpack(data) if path.suffix == ".zst" else data

    # --shard-by file: shard 0 read a.jsonl, shard 1 b.jsonl, so the parts concatenate to input order.
    assert b"".join(plain(tmp_path / "out" / n) for n in names) == (tmp_path / "one.jsonl").read_bytes()
    assert manifest["records"] == 200 and sorted(os.listdir(tmp_path / "out")) == sorted([*names, MANIFEST])
    for entry in manifest["parts"]:
        assert entry["bytes"] == (tmp_path / "out" / entry["name"]).stat().st_size


def test_merge_into_a_directory_of_interleaved_shards_holds_every_record_once(
    slice_path: Path, tmp_path: Path
) -> None:
    made = parts(tmp_path, slice_path, 3, "score")
    ok("merge", *made, "-o", tmp_path / "one.jsonl", "--output-format", "ids", "-q")
    ok("merge", *made, "-o", f"{tmp_path}/out/", "--output-format", "ids", "-q")
    written = b"".join((tmp_path / "out" / f"part-{i:05d}.jsonl").read_bytes() for i in range(3))
    assert sorted(written.splitlines()) == sorted((tmp_path / "one.jsonl").read_bytes().splitlines())
    assert b"_zipfit" not in written


def test_merge_into_a_directory_refuses_a_hostile_trailer_and_leaves_nothing(
    slice_path: Path, tmp_path: Path
) -> None:
    made = parts(tmp_path, slice_path, 2, "score")
    _rewrite_trailer(made[1], lambda t: t.update(score_key="text\n\x1b[2Jzipfit: error: FAKE"))
    result = run("merge", *made, "-o", f"{tmp_path}/out/")
    assert result.exit_code == 3, result.output
    assert "differs" in result.stderr and "\x1b" not in result.stderr and result.stdout == ""
    assert not (tmp_path / "out").exists()
    # A part whose records were cut after its trailer was checked: no manifest, no part left.
    (tmp_path / "again").mkdir()
    made = parts(tmp_path / "again", slice_path, 2, "score")
    lines = made[1].read_bytes().splitlines(keepends=True)
    made[1].write_bytes(b"".join([*lines[:5], lines[-1]]))
    result = run("merge", *made, "-o", f"{tmp_path}/out/")
    assert result.exit_code == 3, result.output
    assert "part-1.jsonl:6: not a zipfit part record" in result.stderr
    assert not (tmp_path / "out").exists()  # made by the run, removed


@pytest.mark.parametrize(
    ("command", "extra", "said"),
    [
        ("select", [], "ranked across shards"),
        ("score", ["-k", "5"], "--top-k"),
        ("score", ["--min-score", "0.01"], "--min-score"),
        ("score", ["--output-format", "attributes", "--id-key", "zipfit_score"], "in place of each"),
    ],
)
def test_merge_into_a_directory_refuses_selections_and_what_attributes_cannot_hold(
    slice_path: Path, tmp_path: Path, command: str, extra: list[str], said: str
) -> None:
    made = parts(tmp_path, slice_path, 2, command, *(["-k", "5"] if command == "select" else []))
    result = run("merge", *made, "-o", f"{tmp_path}/out/", *extra)
    assert result.exit_code == 2 and said in result.stderr, result.output
    assert not (tmp_path / "out" / "_zipfit_manifest.json").exists()


def test_merge_output_name_needs_a_directory(slice_path: Path, tmp_path: Path) -> None:
    made = parts(tmp_path, slice_path, 2, "score")
    result = run("merge", *made, "-o", tmp_path / "one.jsonl", "--output-name", "p{n}.jsonl")
    assert result.exit_code == 2 and "--output-name" in result.stderr, result.output


@pytest.mark.parametrize("name", ["part-{n:05d}.jsonl", "part-{n}.jsonl.zst"])
def test_merge_into_a_directory_writes_the_same_files_with_one_worker_or_two(
    slice_path: Path, tmp_path: Path, name: str
) -> None:
    made = parts(tmp_path, slice_path, 3, "score")
    for workers in ("1", "2"):
        ok("merge", *made, "-o", f"{tmp_path}/j{workers}/", "--output-name", name, "-j", workers, "-q")
    one, two = (json.loads((tmp_path / f"j{w}" / MANIFEST).read_bytes()) for w in ("1", "2"))
    assert one["parts"] == two["parts"] and len(one["parts"]) == 3  # names, counts, sizes, hashes
    for entry in one["parts"]:
        assert (tmp_path / "j1" / entry["name"]).read_bytes() == (
            tmp_path / "j2" / entry["name"]
        ).read_bytes()


def test_merge_into_a_directory_with_two_workers_stops_at_a_bad_part_and_leaves_nothing(
    slice_path: Path, tmp_path: Path
) -> None:
    made = parts(tmp_path, slice_path, 4, "score")
    lines = made[2].read_bytes().splitlines(keepends=True)
    made[2].write_bytes(b"".join([*lines[:5], lines[-1]]))  # records cut after the trailer was read
    result = run_process("merge", *map(str, made), "-o", f"{tmp_path}/out/", "-j", "2", "-q")
    assert result.returncode == 3, result.stderr
    assert result.stderr.decode() == f"zipfit: error: {made[2]}:6: not a zipfit part record\n"
    assert not (tmp_path / "out").exists()  # made by the run, removed


def test_merge_into_a_memory_directory_stays_in_this_process(slice_path: Path, tmp_path: Path) -> None:
    import fsspec

    made = parts(tmp_path, slice_path, 2, "score")
    ok("merge", *made, "-o", "memory://merged-j2/", "-j", "2", "-q")
    fs = fsspec.filesystem("memory")
    try:  # the files are where this process can read them, not in a worker's memory
        assert sorted(p.rsplit("/", 1)[1] for p in fs.ls("/merged-j2", detail=False)) == [
            MANIFEST,
            "part-00000.jsonl",
            "part-00001.jsonl",
        ]
    finally:
        fs.rm("/merged-j2", recursive=True)


def test_merge_into_a_directory_with_force_removes_only_what_it_wrote(
    slice_path: Path, tmp_path: Path
) -> None:
    made = parts(tmp_path, slice_path, 2, "score")
    lines = made[1].read_bytes().splitlines(keepends=True)
    made[1].write_bytes(b"".join([*lines[:5], lines[-1]]))  # shard 1 fails, after shard 0's file is in place
    out = tmp_path / "out"
    out.mkdir()
    (out / "part-00001.jsonl").write_bytes(b"theirs\n")
    (out / "notes.txt").write_bytes(b"mine\n")
    result = run("merge", *made, "-o", f"{out}/", "--force")
    assert result.exit_code == 3, result.output
    assert sorted(os.listdir(out)) == ["notes.txt", "part-00001.jsonl"]
    assert (out / "part-00001.jsonl").read_bytes() == b"theirs\n"


def test_merge_into_a_directory_refuses_a_report_that_is_a_part(slice_path: Path, tmp_path: Path) -> None:
    made = parts(tmp_path, slice_path, 2, "score")
    out = tmp_path / "out"
    out.mkdir()
    result = run("merge", *made, "-o", f"{out}/", "--force", "--report", out / "part-00001.jsonl")
    assert result.exit_code == 2, result.output
    assert "output directory" in result.stderr and os.listdir(out) == []


def test_merge_into_a_directory_refuses_a_pattern_whose_names_repeat(
    slice_path: Path, tmp_path: Path
) -> None:
    # `{n:.0e}` names shards 10 and 11 both 1e+01.jsonl: with --force the second replaced the
    # first and the manifest listed that name twice (a shard's records lost); without, exit 4.
    made = parts(tmp_path, slice_path, 12, "score")
    out = tmp_path / "out"
    for force in ([], ["--force"]):
        result = run("merge", *made, "-o", f"{out}/", "--output-name", "{n:.0e}.jsonl", *force)
        assert result.exit_code == 2, result.output
        assert "repeat" in result.stderr and not (out / MANIFEST).exists()
        assert not out.exists() or os.listdir(out) == []


@pytest.mark.parametrize("command", [["select", "-k", "10"], ["select"], ["score"]])
def test_a_record_copied_into_another_part_is_refused(
    slice_path: Path, tmp_path: Path, command: list[str]
) -> None:
    # Shard 0's best record pasted into shard 1, where the rank order takes it: the merge
    # wrote it twice, and the tenth record of the selection was silently left out.
    made = parts(tmp_path, slice_path, 2, *command)
    first = made[0].read_bytes().splitlines(keepends=True)[0]
    lines = made[1].read_bytes().splitlines(keepends=True)
    index = json.loads(first)["_zipfit_index"]
    before = [json.loads(line)["_zipfit_index"] < index for line in lines[:-1]]
    at = 0 if command[0] == "select" else sum(before)
    made[1].write_bytes(b"".join([*lines[:at], first, *lines[at:]]))

    def one_more(trailer: dict[str, Any]) -> None:  # consistent counts, as a careful forger keeps them
        keys = ["written"] if "-k" in command else ["written", "scored", "records_read"]
        trailer.update({key: trailer[key] + 1 for key in keys})

    _rewrite_trailer(made[1], one_more)
    result = run("merge", *made, "-k", "10", "-o", tmp_path / "top.jsonl")
    assert result.exit_code == 3, result.output
    assert "in two parts" in result.stderr and not (tmp_path / "top.jsonl").exists()


def test_parts_of_different_commands_are_named_by_the_command(slice_path: Path, tmp_path: Path) -> None:
    # A score part among select --contrast parts was named by `background_sha256`, a hash that
    # follows from the difference, not by the difference itself.
    (tmp_path / "s").mkdir()
    (tmp_path / "c").mkdir()
    selects = parts(tmp_path / "s", slice_path, 2, "select", "--contrast", "--background-size", "8")
    scores = parts(tmp_path / "c", slice_path, 2, "score")
    result = run("merge", selects[0], scores[1], "-o", tmp_path / "m.jsonl")
    assert result.exit_code == 3, result.output
    assert ": command differs from" in result.stderr and "('score' vs 'select')" in result.stderr

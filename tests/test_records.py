"""JSONL records (records.py): text extraction, invalid records accounted for, line handling, compression."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard
from conftest import FAST, ok, records, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zipfit_cli import RunSettings, TargetSet, run_score
from zipfit_cli.base.errors import InputError, InvalidRecordError, UsageError
from zipfit_cli.files.compression import compression_of
from zipfit_cli.files.reading import read_lines
from zipfit_cli.files.records import REASONS, RecordError, TextSpec, key_path, load_texts

COMPRESS = {
    "gz": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "zst": lambda data: zstandard.ZstdCompressor().compress(data),
}


def reason_of(spec: TextSpec, line: bytes) -> str:
    with pytest.raises(RecordError) as info:
        spec.parse(line)
    assert info.value.reason in REASONS
    return info.value.reason


# --- text extraction -------------------------------------------------------------------------


def test_plain_key() -> None:
    record, text = TextSpec.build().parse(b'{"text": "hello", "id": 1}\n')
    assert record == {"text": "hello", "id": 1}
    assert text == b"hello"


def test_text_is_utf8_bytes() -> None:
    assert TextSpec.build().parse('{"text": "naïve 😀"}'.encode())[1] == "naïve 😀".encode()
    assert TextSpec.build().parse(b'{"text": "caf\\u00e9"}')[1] == "café".encode()


def test_dotted_key() -> None:
    spec = TextSpec.build("meta.content")
    assert spec.parse(b'{"meta": {"content": "deep text"}, "text": "top"}')[1] == b"deep text"
    assert TextSpec.build("a.b.c").parse(b'{"a": {"b": {"c": "x y"}}}')[1] == b"x y"


@pytest.mark.parametrize(
    "line",
    [b'{"meta": {}}', b'{"meta": "content"}', b'{"meta": ["content"]}', b'{"text": "x"}'],
)
def test_dotted_key_missing(line: bytes) -> None:
    assert reason_of(TextSpec.build("meta.content"), line) == "missing_key"


def test_template_rendering() -> None:
    spec = TextSpec.build(template="{prompt}{canonical_solution}")
    line = b'{"prompt": "def f():\\n", "canonical_solution": "    return 1\\n", "x": 0}'
    assert spec.parse(line)[1] == b"def f():\n    return 1\n"
    assert TextSpec.build(template="# {title}\n{body}").text_of({"title": "T", "body": "B"}) == b"# T\nB"


def test_template_missing_field() -> None:
    spec = TextSpec.build(template="{prompt}{canonical_solution}")
    assert reason_of(spec, b'{"prompt": "def f(): pass"}') == "missing_key"


def test_template_null_field_is_not_rendered_as_none() -> None:
    # A null field must not silently become the text "None".
    spec = TextSpec.build(template="{prompt}{canonical_solution}")
    with pytest.raises(RecordError):
        spec.parse(b'{"prompt": "def f():\\n", "canonical_solution": null}')


@pytest.mark.parametrize(
    "template",
    [
        "no fields at all",
        "{}",
        "{0}",
        "{prompt",
        "{prompt.__class__}",
        "{prompt.__class__.__name__}",
        "{x[0]}",
        "{x[key]}",
        "{prompt!x}",
        "{prompt!r}",
        "{prompt!s}",
        "{prompt:>10}",
        "{prompt:{width}}",
    ],
)
def test_bad_templates_refused(template: str) -> None:
    with pytest.raises(UsageError):
        TextSpec.build(template=template)


def test_template_fields_are_dotted_paths_like_keys() -> None:
    spec = TextSpec.build(template="{meta.title}: {body} ({n}) {{x}}")
    assert spec.text_of({"meta": {"title": "T"}, "body": "B", "n": 3}) == b"T: B (3) {x}"
    assert spec.text_of({"meta.title": "flat", "body": "B", "n": 1.5}) == b"flat: B (1.5) {x}"
    with pytest.raises(RecordError) as info:
        spec.text_of({"meta": "a string has no fields", "body": "B", "n": 1})
    assert info.value.reason == "missing_key" and "the path 'meta' > 'title'" in info.value.detail


@pytest.mark.parametrize(
    "template", ["{prompt.__class__}", "{x[0]}", "{prompt!x}", "{prompt!r}", "{prompt:>4}"]
)
def test_bad_template_is_a_usage_error_before_any_record_is_read(tmp_path: Path, template: str) -> None:
    source = tmp_path / "s.jsonl"
    source.write_text("{not json\n")
    targets = tmp_path / "t.jsonl"
    targets.write_text('{"prompt": "def f(): return 1"}\n')
    result = run("score", source, "-t", targets, "--target-template", template, "-j", 1)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(f"zipfit: error: template field {template}: ") and result.stdout == ""


def test_template_over_a_number_is_a_clear_error(write_jsonl: Any, slice_path: Path) -> None:
    targets = write_jsonl([{"a": 5}], "targets.jsonl")
    result = run("score", slice_path, "-t", targets, "--target-template", "{a.b}")
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith(f"zipfit: error: {targets}:1: target: no 'a.b' template field: tried")
    assert not result.stdout


def test_key_naming_a_field_with_a_dot() -> None:
    """A field named exactly as the key comes first; else the dotted path; a backslash
    makes a dot part of a name along the path."""
    flat = TextSpec.build("meta.content")
    assert flat.text_of({"id": 1, "meta.content": "flat"}) == b"flat"
    assert flat.text_of({"meta": {"content": "nested"}}) == b"nested"
    assert flat.text_of({"meta.content": "flat", "meta": {"content": "nested"}}) == b"flat"
    escaped = TextSpec.build("doc.meta\\.content")
    assert escaped.text_of({"doc": {"meta.content": "deep"}}) == b"deep"
    assert key_path("a.b\\.c") == ("a", "b.c") and key_path("a\\\\.b") == ("a\\", "b")


def test_missing_dotted_key_says_which_readings_were_tried() -> None:
    with pytest.raises(RecordError) as info:
        TextSpec.build("meta.content").text_of({"id": 1, "meta": {"title": "x"}})
    assert info.value.detail == (
        "no 'meta.content' field: tried the field named 'meta.content' and the path 'meta' > 'content' "
        "(fields: id, meta)"
    )


def test_keys_with_a_dot_on_the_command_line(tmp_path: Path) -> None:
    source = tmp_path / "s.jsonl"
    source.write_text(
        '{"doc.id": "a", "meta.content": "def f(): return 1"}\n{"doc.id": "b", "meta.content": "x = 2"}\n'
    )
    targets = tmp_path / "t.jsonl"
    targets.write_text('{"task.text": "def g(): return 2"}\n')
    args = [
        "score",
        source,
        "-t",
        targets,
        "--target-key",
        "task.text",
        "--text-key",
        "meta.content",
        "-j",
        1,
    ]
    result = run(*args, "--output-format", "ids", "--id-key", "doc.id", "--score-key", "zipfit.score")
    assert result.exit_code == 0, result.stderr
    assert [(r["doc.id"], sorted(r)) for r in records(result.stdout)] == [
        ("a", ["doc.id", "zipfit.score"]),
        ("b", ["doc.id", "zipfit.score"]),
    ]
    # An escaped key names the field it resolves to, in the output and in the clash check.
    escaped = [*args, "--output-format", "ids", "--id-key", "doc\\.id"]
    assert [sorted(r) for r in records(ok(*escaped).stdout)] == [["doc.id", "zipfit_score"]] * 2
    pq = pytest.importorskip("pyarrow.parquet")
    parquet = tmp_path / "ids.parquet"
    ok(*escaped, "-o", parquet)
    assert pq.read_table(parquet).column_names == ["doc.id", "zipfit_score"]
    clash = run(*escaped, "--score-key", "doc.id")
    assert clash.exit_code == 2 and "the score key and the id key are both 'doc.id'" in clash.stderr
    assert not clash.stdout


# --- invalid records -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"text": "unterminated', "malformed_json"),
        (b"not json at all", "malformed_json"),
        (b'{"text": "a"} trailing', "malformed_json"),
        (b'["text", "a list"]', "not_object"),
        (b'"just a string"', "not_object"),
        (b"42", "not_object"),
        (b"null", "not_object"),
        (b'{"body": "no text key"}', "missing_key"),
        (b'{"text": 3}', "not_string"),
        (b'{"text": null}', "not_string"),
        (b'{"text": ["a"]}', "not_string"),
        (b'{"text": {"a": 1}}', "not_string"),
        (b'{"text": true}', "not_string"),
        (b'{"text": ""}', "empty_text"),
        (b'{"text": "   \\n\\t "}', "empty_text"),
        (b'{"text": "caf\xe9"}', "invalid_utf8"),
        (b'{"text": "ok", "x": "\xff\xfe"}', "invalid_utf8"),
    ],
)
def test_invalid_record_reasons(line: bytes, reason: str) -> None:
    assert reason_of(TextSpec.build(), line) == reason


def test_missing_key_detail_lists_fields() -> None:
    with pytest.raises(RecordError) as info:
        TextSpec.build().parse(b'{"content": "x", "id": 1}')
    assert "content" in info.value.detail and info.value.settings == ("text_key",)


def test_too_long_with_max_bytes() -> None:
    spec = TextSpec.build(max_bytes=10)
    assert spec.parse(b'{"text": "0123456789"}')[1] == b"0123456789"  # exactly at the limit
    assert reason_of(spec, b'{"text": "0123456789A"}') == "too_long"
    # the limit is in UTF-8 bytes, not characters: 6 characters, 12 bytes
    assert reason_of(spec, '{"text": "éééééé"}'.encode()) == "too_long"
    assert TextSpec.build(max_bytes=0).parse(b'{"text": "' + b"x" * 100_000 + b'"}')[1] == b"x" * 100_000


# Property-based: any mixture of good and bad lines is accounted for exactly. Every good
# record is scored exactly once and in order, every bad one is counted under its reason (or,
# without --skip-invalid, the first one stops the run naming its line), and the counts add up.
TARGETS = TargetSet.from_texts(["def add(a, b):\n    return a + b\n", "the quick brown fox"], "lz4")


# (raw line without newline, reason) for each kind of bad record.
BAD_LINES: list[tuple[bytes, str]] = [
    (b'{"text": "unterminated', "malformed_json"),
    (b'{"text": NaN}', "malformed_json"),
    (b'{"text": Infinity}', "malformed_json"),
    (b"[" * 2000 + b"]" * 2000, "malformed_json"),
    (b'{"text": "bad \xff\xfe bytes"}', "invalid_utf8"),
    (b'["text", "a list"]', "not_object"),
    (b"42", "not_object"),
    (b'"just a string"', "not_object"),
    (b'{"body": "no text field"}', "missing_key"),
    (b'{"text": null}', "not_string"),
    (b'{"text": 7}', "not_string"),
    (b'{"text": ["a"]}', "not_string"),
    (b'{"text": ""}', "empty_text"),
    (b'{"text": " \\t\\n "}', "empty_text"),
    (b"\xef\xbb\xbf" + b'{"text": "a BOM is only allowed on line 1"}', "malformed_json"),
]


def _good_line(words: list[str], crlf: bool, duplicate_key: bool) -> tuple[bytes, bool]:
    line = orjson.dumps({"text": " ".join(words)})
    if duplicate_key:  # an earlier "text" that the later one overrides
        line = line.replace(b"{", b'{"text": "overridden", ', 1)
    return line, crlf


good = st.builds(
    _good_line,
    st.lists(
        st.sampled_from(["def", "return", "fox", "the", "x", "é", "λ", "\u2028"]), min_size=1, max_size=12
    ),
    st.booleans(),
    st.booleans(),
)


def _classify(line: bytes, crlf: bool) -> tuple[str, bytes, bool]:
    # Unicode whitespace such as U+2028 alone makes an empty text, by str.strip()'s rules.
    return ("good" if orjson.loads(line)["text"].strip() else "empty_text"), line, crlf


line_kinds = st.one_of(
    good.map(lambda g: _classify(*g)),
    st.sampled_from(BAD_LINES).map(lambda b: (b[1], b[0], False)),
    st.sampled_from([b"", b"   ", b"\t"]).map(lambda b: ("blank", b, False)),
)


FIRST = ("good", b'{"text": "line one, so a BOM further down is out of place"}', False)


def _write(tmp: Path, kinds: list[tuple[str, bytes, bool]], final_newline: bool) -> Path:
    """Write the lines; callers put FIRST at the head (a BOM is legal on line 1 only)."""
    path = tmp / "mixed.jsonl"
    parts = [line + (b"\r\n" if crlf else b"\n") for _, line, crlf in kinds]
    data = b"".join(parts)
    if not final_newline and data.endswith(b"\n"):
        data = data.rstrip(b"\r\n")
    path.write_bytes(data)
    return path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(line_kinds, min_size=1, max_size=40), final_newline=st.booleans())
def test_skip_invalid_accounts_for_every_line(
    tmp_path_factory: pytest.TempPathFactory, kinds: list[tuple[str, bytes, bool]], final_newline: bool
) -> None:
    kinds = [FIRST, *kinds]
    path = _write(tmp_path_factory.mktemp("prop"), kinds, final_newline)
    out = io.BytesIO()
    settings_ = RunSettings([str(path)], TARGETS, TextSpec(), workers=1, batch_size=7, skip_invalid=True)
    stats = run_score(settings_, out)

    goods = [line for kind, line, _ in kinds if kind == "good"]
    written = out.getvalue().splitlines()
    assert len(written) == len(goods) == stats.scored
    for line, original in zip(written, goods, strict=True):
        record = orjson.loads(line)
        # Duplicate keys: the last value wins, as in Python's json module.
        assert record["text"] == orjson.loads(original)["text"]
        assert isinstance(record["zipfit_score"], float)
    expected: dict[str, int] = {}
    for kind, _, _ in kinds:
        if kind not in ("good", "blank"):
            expected[kind] = expected.get(kind, 0) + 1
    assert dict(stats.skipped) == expected
    lines = path.read_bytes().split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # after the final newline
    assert stats.blank_lines == sum(not line.strip() for line in lines)
    assert stats.records_read == stats.scored + sum(stats.skipped.values())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(line_kinds, min_size=1, max_size=30))
def test_first_bad_line_stops_the_run_and_is_named(
    tmp_path_factory: pytest.TempPathFactory, kinds: list[tuple[str, bytes, bool]]
) -> None:
    kinds = [FIRST, *kinds]
    path = _write(tmp_path_factory.mktemp("prop"), kinds, True)
    settings_ = RunSettings([str(path)], TARGETS, TextSpec(), workers=1, batch_size=5)
    first_bad = next((i for i, (kind, _, _) in enumerate(kinds, 1) if kind not in ("good", "blank")), None)
    if first_bad is None:
        stats = run_score(settings_, io.BytesIO())
        assert stats.scored == sum(kind == "good" for kind, _, _ in kinds)
        return
    with pytest.raises(InvalidRecordError) as info:
        run_score(settings_, io.BytesIO())
    assert info.value.line_no == first_bad
    assert info.value.reason == kinds[first_bad - 1][0]
    assert str(info.value).startswith(f"{path}:{first_bad}: ")


# --- reading lines ---------------------------------------------------------------------------


def test_read_lines_bom_crlf_blank_and_last_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "a"}\r\n\r\n{"text": "b"}\n\n{"text": "c"}')
    lines = list(read_lines(str(path)))
    assert [n for n, _ in lines] == [1, 2, 3, 4, 5]
    assert lines[0][1] == b'{"text": "a"}\r\n'  # BOM removed
    assert lines[4][1] == b'{"text": "c"}'  # last line without newline is kept
    spec = TextSpec.build()
    assert [spec.parse(line)[1] for _, line in lines if line.strip()] == [b"a", b"b", b"c"]


def test_bom_only_removed_on_first_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"text": "a"}\n\xef\xbb\xbf{"text": "b"}\n')
    lines = [line for _, line in read_lines(str(path))]
    assert lines[1].startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zst"])
def test_read_compressed_files(tmp_path: Path, kind: str) -> None:
    data = b"".join(b'{"text": "line %d"}\n' % i for i in range(500))
    path = tmp_path / f"c.jsonl.{kind}"
    path.write_bytes(COMPRESS[kind](data))
    assert compression_of(str(path)) == kind
    assert b"".join(line for _, line in read_lines(str(path))) == data


def test_compression_from_name() -> None:
    assert compression_of("a.JSONL.GZ") == "gz"
    assert compression_of("a.jsonl.zstd") == "zst"
    assert compression_of("a.jsonl") is None
    assert compression_of("gz.jsonl") is None


def test_truncated_gzip_names_the_file(tmp_path: Path) -> None:
    data = b"".join(b'{"text": "record number %d with some words"}\n' % i for i in range(5000))
    path = tmp_path / "trunc.jsonl.gz"
    blob = gzip.compress(data)
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(InputError, match=re.escape("trunc.jsonl.gz")):
        list(read_lines(str(path)))


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zst"])
def test_corrupt_compressed_file_is_input_error(tmp_path: Path, kind: str) -> None:
    data = b"".join(b'{"text": "record number %d with some words"}\n' % i for i in range(2000))
    blob = bytearray(COMPRESS[kind](data))
    blob[20] ^= 0xFF  # inside the compressed payload of every format
    path = tmp_path / f"corrupt.jsonl.{kind}"
    path.write_bytes(bytes(blob))
    with pytest.raises(InputError, match=re.escape("corrupt.jsonl")):
        list(read_lines(str(path)))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=re.escape("nope.jsonl")):
        list(read_lines(str(tmp_path / "nope.jsonl")))
    with pytest.raises(InputError, match="directory"):
        list(read_lines(str(tmp_path)))


# --- targets ---------------------------------------------------------------------------------


def test_load_targets_txt(tmp_path: Path) -> None:
    path = tmp_path / "targets.txt"
    path.write_bytes(b"def f(x): return x\r\n\n   \n  indented {not json}\nlast line")
    assert load_texts([str(path)], TextSpec.build()) == [
        b"def f(x): return x",
        b"  indented {not json}",
        b"last line",
    ]


def test_load_targets_txt_gz(tmp_path: Path) -> None:
    path = tmp_path / "targets.txt.gz"
    path.write_bytes(gzip.compress(b"alpha\nbeta\n"))
    assert load_texts([str(path)], TextSpec.build()) == [b"alpha", b"beta"]


def test_load_targets_jsonl_and_order(tmp_path: Path, target_path: Path, target_texts: list[bytes]) -> None:
    spec = TextSpec.build(template="{prompt}{canonical_solution}")
    assert load_texts([str(target_path)], spec) == target_texts
    extra = tmp_path / "extra.jsonl"
    extra.write_text('{"prompt": "x", "canonical_solution": "y"}\n\n')
    both = load_texts([str(extra), str(target_path)], spec)
    assert both == [b"xy", *target_texts]


def test_load_targets_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "targets.jsonl"
    path.write_text('{"text": "a"}\n\n{"text": "b"}\n{"text": 5}\n')
    with pytest.raises(InputError) as info:
        load_texts([str(path)], TextSpec.build())
    assert f"{path}:4:" in str(info.value)
    assert "string" in str(info.value)


def test_load_targets_invalid_utf8_txt_names_line(tmp_path: Path) -> None:
    path = tmp_path / "targets.txt"
    path.write_bytes(b"good\nbad \xff byte\n")
    with pytest.raises(InputError, match=r"targets\.txt:2:.*UTF-8"):
        load_texts([str(path)], TextSpec.build())


def test_load_targets_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n")
    with pytest.raises(InputError, match="empty"):
        load_texts([str(path)], TextSpec.build())


def test_zstd_reader_in_tiny_chunks_keeps_every_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import zstandard

    from zipfit_cli.files import compression, reading

    lines = [json.dumps({"text": f"line {i} " + "x" * (i % 50)}).encode() + b"\n" for i in range(3000)]
    data = b"".join(lines)
    frames = zstandard.ZstdCompressor().compress(data[:40000]) + zstandard.ZstdCompressor().compress(
        data[40000:]
    )
    path = tmp_path / "two-frames.jsonl.zst"
    path.write_bytes(frames)
    monkeypatch.setattr(compression._ZstdReader, "CHUNK", 7)  # frame edges fall mid-chunk
    assert [line for _, line in reading.read_lines(str(path))] == lines


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_line_with_no_end_stops_the_run_once_known_too_long(workers: str) -> None:
    """Without --skip-invalid the first line over --max-line-bytes ends the run at once:
    /dev/zero has no line end to read up to."""
    command = [sys.executable, "-m", "zipfit_cli", "score", "/dev/zero", *FAST, "-j", workers]
    proc = subprocess.run(
        [*command, "--limit", "5", "--max-line-bytes", "4096"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.startswith("zipfit: error: /dev/zero:1: line is over the line-length limit of 4,096")
    assert proc.stdout == ""


def test_too_long_line_after_a_bad_record_the_bad_record_is_named(tmp_path: Path) -> None:
    """The run stops at the first bad record in input order, even when a later line is too
    long and reading stops there."""
    path = tmp_path / "s.jsonl"
    good = b'{"text": "def f(): return 1"}\n'
    path.write_bytes(good * 3 + b"{not json\n" + good * 3 + b'{"text": "' + b"x" * 9000 + b'"}\n' + good)
    for workers in ("1", "2"):
        result = run("score", path, *FAST, "-j", workers, "--batch-size", 2, "--max-line-bytes", 4096)
        assert result.exit_code == 3 and f"{path}:4: malformed JSON" in result.stderr, result.stderr

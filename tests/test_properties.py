"""Property-based: any mixture of good and bad lines is accounted for exactly.

Every good record is scored exactly once and in order, every bad one is counted under its
reason (or, without --skip-invalid, the first one stops the run naming its line), and the
counts add up.
"""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zipfit_cli import RunSettings, TargetSet, run_score
from zipfit_cli.base.errors import InvalidRecordError
from zipfit_cli.files.records import TextSpec

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

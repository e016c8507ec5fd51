"""Messages (errors.shown, errors.redacted): input-derived text stays one line, inert, without passwords."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from conftest import FAST, SOURCE, TARGET, ok, records, run

from zipfit_cli.base.errors import faithful, redacted, remember_urls, shown, stored
from zipfit_cli.base.stats import RunStats

EVIL_KEYS = ["evil\nzipfit: error: FAKE", "\x1b]0;pwned\x07\x1b[2J"]
PASSWORD = "S3cr3tPW"


def _clean(stderr: str) -> None:
    """Every line zipfit wrote is its own (no forged `zipfit: error: FAKE` line), with no
    escape sequence or bell for the terminal."""
    assert "\x1b" not in stderr and "\x07" not in stderr and "\r" not in stderr
    assert not any(line.startswith("zipfit: error: FAKE") for line in stderr.splitlines())


def _one_error_line(stderr: str) -> None:
    _clean(stderr)
    assert stderr.count("\n") == 1 and stderr.startswith("zipfit: error: "), stderr


def test_shown_escapes_control_characters_and_is_idempotent() -> None:
    text = "a\nb\x1b[2J\x07\u2028c d"
    assert shown(text) == "a\\x0ab\\x1b[2J\\x07\\u2028c d"
    assert shown(shown(text)) == shown(text)


@pytest.mark.timeout(60)
def test_escaping_long_input_takes_linear_time() -> None:
    # Tried from every position, the URL pattern took minutes on a 20,000-character key; a
    # megabyte would take hours. Linear, it takes milliseconds: the timeout only catches a hang.
    word = "x" * 1_000_000
    assert shown(word) == word
    assert shown(f"ftp://alice:pw@{word}") == f"ftp://alice:***@{word}"
    assert shown("a://" * 100_000) == "a://" * 100_000


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://alice:S3cr3tPW@host/x.jsonl", "ftp://alice:***@host/x.jsonl"),
        ("zip://a.jsonl::ftp://alice:p@ss@h:21/z.zip", "zip://a.jsonl::ftp://alice:***@h:21/z.zip"),
        ("see s3://k:v@b/x and ftp://u:pw@h", "see s3://k:***@b/x and ftp://u:***@h"),
        ("ftp://alice@host/x.jsonl", "ftp://alice@host/x.jsonl"),  # no password
        ("tcp://127.0.0.1:8786", "tcp://127.0.0.1:8786"),
        ("ftp://alice:pw#frag@h:1/x.jsonl: no such file", "ftp://alice:***@h:1/x.jsonl: no such file"),
        ("ftp://a:p/q?r@h/x", "ftp://a:***@h/x"),
        ("tcp://HOST:8786: bad 'x'", "tcp://HOST:8786: bad 'x'"),  # no '@': nothing hidden
    ],
)
def test_redacted_hides_url_passwords(url: str, expected: str) -> None:
    assert redacted(url) == expected == redacted(expected)
    assert shown(url) == expected


def test_keys_with_newlines_and_escapes_stay_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(orjson.dumps(dict.fromkeys(EVIL_KEYS, 1)) + b"\n")
    result = run("score", path, *FAST)
    assert result.exit_code == 3
    _one_error_line(result.stderr)
    assert "fields: evil\\x0azipfit: error: FAKE, \\x1b]0;pwned\\x07\\x1b[2J" in result.stderr


def test_a_quoted_csv_header_with_a_newline_stays_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(b'id,"te\nxt\x1b[2J"\n1,def f(): return 1\n')
    result = run("score", path, *FAST)
    assert result.exit_code == 3
    _one_error_line(result.stderr)
    assert "te\\x0axt\\x1b[2J" in result.stderr


@pytest.mark.parametrize("name", ["a\x1b[2Jb.jsonl", "a\nzipfit: error: FAKE.jsonl"])
def test_file_names_with_control_characters_stay_on_one_line(tmp_path: Path, name: str) -> None:
    missing = run("score", tmp_path / name, *FAST)
    assert missing.exit_code == 3
    assert "no such file" in missing.stderr or "no file matches" in missing.stderr  # '[' is a glob
    _one_error_line(missing.stderr)
    bad = tmp_path / name
    bad.write_bytes(b'{"id": 1}\n')
    invalid = run("score", bad, *FAST)
    assert invalid.exit_code == 3 and "no 'text' field" in invalid.stderr
    _one_error_line(invalid.stderr)
    empty = tmp_path / f"empty-{name}"
    empty.write_bytes(b"")
    warned = ok("score", empty, SOURCE, *FAST, "--limit", "5", "-o", tmp_path / "out.jsonl")
    _clean(warned.stderr)
    assert any(
        line.startswith("zipfit: warning: ") and line.endswith("holds no records")
        for line in warned.stderr.splitlines()
    )


def test_rich_display_prints_names_as_text_not_markup() -> None:
    from rich.console import Console

    from zipfit_cli.cli.display import RichDisplay

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200, color_system=None)
    display = RichDisplay(10, console=console)
    stats = RunStats(warnings=["[bold]x[/bold].jsonl\x1b[2J holds no records"])
    display.summary(stats, "selected")
    assert "[bold]x[/bold].jsonl\\x1b[2J holds no records" in buffer.getvalue()


@pytest.mark.parametrize("secret", [PASSWORD, "my se#cr\tet"])  # any character may stand in one
def test_url_passwords_stay_out_of_messages_reports_and_parts(tmp_path: Path, secret: str) -> None:
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    lines = SOURCE.read_bytes().splitlines(keepends=True)[:40]
    memory.pipe(f"/alice:{secret}@zipfit-secret/a.jsonl", b"".join(lines))
    try:
        url = f"memory://alice:{secret}@zipfit-secret/a.jsonl"
        report, part = tmp_path / "run.json", tmp_path / "part.jsonl"
        ok("select", url, *FAST, "-k", "3", "--report", report, "-o", tmp_path / "top.jsonl", "-q")
        ok("select", url, *FAST, "-k", "3", "--shard", "0/2", "-o", part, "-q")
        missing = run("score", url.replace("a.jsonl", "gone.jsonl"), *FAST)
    finally:
        memory.rm(f"/alice:{secret}@zipfit-secret", recursive=True)
    pieces = {secret, *secret.split("#")} - {""}  # what a URL parser may take as the password
    for text in (report.read_text(), part.read_text(), missing.stderr):
        assert not any(piece in text for piece in pieces), text
    info = json.loads(report.read_text())
    assert "memory://alice:***@zipfit-secret/a.jsonl" in info["command_line"]
    assert info["settings"]["sources"] == ["memory://alice:***@zipfit-secret/a.jsonl"]
    assert missing.exit_code == 3 and "alice:***@" in missing.stderr


@pytest.mark.slow
def test_the_installed_command_escapes_keys_and_file_names(tmp_path: Path) -> None:
    keys = tmp_path / "e.jsonl"
    keys.write_bytes(orjson.dumps(dict.fromkeys(EVIL_KEYS, 1)) + b"\n")
    named = tmp_path / "b\x1b]0;pwned\x07\nzipfit: error: FAKE.jsonl"
    named.write_bytes(b'{"id": 1}\n')
    for path in (keys, named):
        result = subprocess.run(
            [sys.executable, "-m", "zipfit_cli", "score", str(path), *map(str, FAST)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 3
        _one_error_line(result.stderr)


@pytest.mark.parametrize("password", ["my secret", "tab\there", "pw#frag", "ab?c/d@e"])
def test_passwords_of_given_urls_are_hidden_whatever_they_hold(password: str) -> None:
    url = f"ftp://alice:{password}@127.0.0.1:1/x.jsonl"
    remember_urls(["zipfit", "score", url])
    parsed = password.split("#")[0].split("?")[0].split("/")[0]  # what a URL parser takes
    for message in (
        f"{url}: no such file",
        f"invalid address 'alice:{password}@127.0.0.1:1'",
        f"as {parsed!r}",
    ):
        assert password not in redacted(message) and parsed not in redacted(message), redacted(message)
    assert redacted(url) == "ftp://alice:***@127.0.0.1:1/x.jsonl"


def test_a_password_is_forgotten_by_the_next_command(tmp_path: Path) -> None:
    # One process runs many commands (the test runner, a notebook): the passwords of one
    # command's URLs must not blank the same letters in the next command's messages.
    run("score", "ftp://alice:pw@127.0.0.1:1/x.jsonl", *FAST)
    keys = tmp_path / "k.jsonl"
    keys.write_bytes(b'{"pwned": 1}\n')
    result = run("score", keys, *FAST)
    assert result.exit_code == 3 and "fields: pwned" in result.stderr, result.stderr


def test_a_dask_scheduler_password_stays_out_of_messages() -> None:
    pytest.importorskip("distributed")
    result = run("score", SOURCE, *FAST, "--engine", "dask", "--scheduler", "tcp://bob:Secr3tPW@127.0.0.1:1")
    assert result.exit_code != 0 and "bob:***@" in result.stderr and "Secr3tPW" not in result.stderr


def test_faithful_writes_undecodable_name_bytes_as_escapes() -> None:
    name = os.fsdecode(b"bad\xff\xfe.jsonl")
    assert faithful(name) == "bad\\xff\\xfe.jsonl" == faithful(faithful(name))
    assert faithful("caf\u00e9 \ud800") == "caf\u00e9 \\ud800" and shown(name) == "bad\\xff\\xfe.jsonl"
    assert stored({name: [name, (1, name)]}) == {faithful(name): [faithful(name), [1, faithful(name)]]}


def test_non_utf8_file_names_in_reports_parts_and_merges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    name = os.fsdecode(b"bad\xff\xfe.jsonl")
    try:
        Path(name).write_bytes(b"".join(SOURCE.read_bytes().splitlines(True)[:20]))
    except OSError:
        pytest.skip("this filesystem takes UTF-8 names only")
    ok("score", name, *FAST, "--report", "r.json", "-q")
    report = json.loads(Path("r.json").read_text("utf-8"))
    assert (
        report["settings"]["sources"] == ["bad\\xff\\xfe.jsonl"] == [i["path"] for i in report["inputs"]][:1]
    )
    ok("score", name, *FAST, "--shard", "0/2", "-o", "p0.jsonl", "-q")
    ok("score", name, *FAST, "--shard", "1/2", "-o", "p1.jsonl", "-q")
    assert len(records(ok("merge", "p0.jsonl", "p1.jsonl", "-q").stdout)) == 20
    with Path(name).open("ab") as grown:  # the parts' input comparison still sees a change
        grown.write(b"\n")
    ok("score", name, *FAST, "--shard", "1/2", "-o", "p2.jsonl", "-q")
    changed = run("merge", "p0.jsonl", "p2.jsonl")
    assert changed.exit_code == 3 and "input bad\\xff\\xfe.jsonl changed" in changed.stderr, changed.stderr


def test_a_target_without_the_text_key_points_at_the_template_too(tmp_path: Path) -> None:
    # The sample targets (HumanEval) have no `text`: a template over their fields is the fix
    # most users need, and the hint named only --target-key.
    source = tmp_path / "s.jsonl"
    source.write_bytes(b'{"text": "def f(): pass"}\n')
    result = run("select", source, "-t", TARGET, "-k", "1", "--compressor", "lz4")
    assert result.exit_code == 3, result.output
    assert "target: no 'text' field" in result.stderr
    assert "--target-key" in result.stderr and "--target-template" in result.stderr
    with_template = run("select", source, "-t", TARGET, "--target-template", "{nope}", "-k", "1")
    assert "template field" in with_template.stderr and "--target-key" not in with_template.stderr

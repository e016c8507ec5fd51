"""Reading fsspec URLs and globs (reading.py): the same records as local files, one line when a URL fails."""

from __future__ import annotations

import importlib.util
import socket
import socketserver
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import FAST, SOURCE, TARGET, TEMPLATE, free_port, ok, records, run, tcp_server

fsspec = pytest.importorskip("fsspec")


@pytest.fixture
def memory_copy() -> tuple[str, str]:
    """The first 300 sample records and the targets on fsspec's in-process memory filesystem."""
    fs = fsspec.filesystem("memory")
    lines = SOURCE.read_bytes().splitlines(keepends=True)
    fs.pipe("/zipfit-test/corpus/a.jsonl", b"".join(lines[:150]))
    fs.pipe("/zipfit-test/corpus/b.jsonl", b"".join(lines[150:300]))
    fs.pipe("/zipfit-test/targets.jsonl", TARGET.read_bytes())
    yield "memory://zipfit-test/corpus", "memory://zipfit-test/targets.jsonl"
    fs.rm("/zipfit-test", recursive=True)


def test_urls_and_url_globs_read_like_local_files(memory_copy: tuple[str, str], tmp_path: Path) -> None:
    corpus, targets = memory_copy
    local = tmp_path / "local.jsonl"
    local.write_bytes(b"".join(SOURCE.read_bytes().splitlines(keepends=True)[:300]))
    expected = ok("select", local, *FAST, "-k", "25", "-q").stdout_bytes
    by_url = ok("select", f"{corpus}/a.jsonl", f"{corpus}/b.jsonl", *FAST, "-k", "25", "-q").stdout_bytes
    by_glob = ok("select", f"{corpus}/*.jsonl", *FAST, "-k", "25", "-q").stdout_bytes
    url_targets = ["-t", targets, "--target-template", TEMPLATE, "--compressor", "lz4", "-j", "2"]
    with_url_targets = ok("select", f"{corpus}/*.jsonl", *url_targets, "-k", "25", "-q").stdout_bytes
    assert expected == by_url == by_glob == with_url_targets


def test_file_urls_and_quoted_local_globs(tmp_path: Path, source_lines: list[bytes]) -> None:
    for i in range(3):
        (tmp_path / f"part-{i}.jsonl").write_bytes(b"".join(source_lines[i * 50 : (i + 1) * 50]))
    parts = [tmp_path / f"part-{i}.jsonl" for i in range(3)]
    expected = ok("score", *parts, *FAST, "-q").stdout_bytes
    assert ok("score", str(tmp_path / "part-*.jsonl"), *FAST, "-q").stdout_bytes == expected
    assert ok("score", *(p.as_uri() for p in parts), *FAST, "-q").stdout_bytes == expected
    missing = run("score", str(tmp_path / "nothing-*.jsonl"), *FAST)
    assert missing.exit_code == 3 and missing.stderr.strip().endswith("nothing-*.jsonl: no file matches")
    gone = run("score", (tmp_path / "gone.jsonl").as_uri(), *FAST)
    assert gone.exit_code == 3 and "no such file" in gone.stderr and gone.stderr.count("\n") == 1


@pytest.mark.skipif(importlib.util.find_spec("s3fs") is not None, reason="s3fs is installed here")
def test_missing_backend_is_one_line_naming_the_package() -> None:
    result = run("score", "s3://zipfit-no-bucket/corpus.jsonl", *FAST)
    assert result.exit_code == 2 and "s3fs" in result.stderr and result.stderr.count("\n") == 1


def _one_line_error(result: Any, code: int, *parts: str) -> str:
    """The stderr of a run (in-process or a subprocess) that failed with one `zipfit: error:`
    line holding every part."""
    stderr: str = result.stderr
    assert getattr(result, "exit_code", getattr(result, "returncode", None)) == code, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("zipfit: error: "), stderr
    assert "interrupted" not in stderr and "Traceback" not in stderr
    for part in parts:
        assert part in stderr, stderr
    return stderr


def test_a_server_that_hangs_up_is_bad_input_naming_the_url(tmp_path: Path) -> None:
    background = tmp_path / "bg.jsonl"
    background.write_bytes(b"".join(SOURCE.read_bytes().splitlines(keepends=True)[:20]))
    with tcp_server("hang_up") as port:
        url = f"ftp://127.0.0.1:{port}/x.jsonl"
        for args in (
            ["select", url, *FAST, "-k", "3"],
            ["select", SOURCE, "-t", url, "-k", "3"],
            ["select", SOURCE, *FAST, "-k", "3", "--contrast", "--background", url],
        ):
            _one_line_error(run(*args), 3, url, "the server closed the connection")


def test_unreachable_servers_say_what_happened(monkeypatch: pytest.MonkeyPatch) -> None:
    refused = f"ftp://127.0.0.1:{free_port()}/x.jsonl"
    _one_line_error(run("score", refused, *FAST), 3, refused, "connection refused")
    # fsspec's FTP backend waits 30 s by default; its configuration takes a shorter timeout.
    monkeypatch.setitem(fsspec.config.conf, "ftp", {"timeout": 0.5})
    with tcp_server("silent") as port:
        silent = f"ftp://127.0.0.1:{port}/x.jsonl"
        _one_line_error(run("score", silent, *FAST), 3, silent, "timed out")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("nosuch://x.jsonl", "unknown protocol 'nosuch'"),
        ("reference://x.jsonl", "cannot open: TypeError"),
        ("dir://x.jsonl", "cannot open: AttributeError"),
        ("data://text/plain,hello", "malformed JSON"),  # read, and it is not JSONL
    ],
)
def test_odd_urls_are_one_line_and_exit_3(url: str, says: str) -> None:
    _one_line_error(run("score", url, *FAST), 3, url, says)
    _one_line_error(run("score", SOURCE, "-t", url), 3, url, says)


def test_chained_urls_read_the_inner_file(tmp_path: Path, source_lines: list[bytes]) -> None:
    local = tmp_path / "s.jsonl"
    local.write_bytes(b"".join(source_lines[:40]))
    archive = tmp_path / "z.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(local, "s.jsonl")
    expected = ok("score", local, *FAST, "-q").stdout_bytes
    assert ok("score", f"zip://s.jsonl::{archive.as_uri()}", *FAST, "-q").stdout_bytes == expected


@pytest.mark.slow
def test_a_server_that_hangs_up_is_one_line_from_the_installed_command() -> None:
    with tcp_server("hang_up") as port:
        url = f"ftp://alice:S3cr3tPW@127.0.0.1:{port}/x.jsonl"
        result = subprocess.run(
            [sys.executable, "-m", "zipfit_cli", "select", url, *map(str, FAST), "-k", "3"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    stderr = _one_line_error(result, 3, "ftp://alice:***@127.0.0.1", "the server closed the connection")
    assert "S3cr3tPW" not in stderr


def _zip_of(tmp_path: Path, members: dict[str, bytes]) -> str:
    """A zip archive holding `members` (name -> bytes), as a file:// URL."""
    archive = tmp_path / "z.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return archive.as_uri()


def test_chained_urls_take_format_and_compression_from_the_inner_name(
    tmp_path: Path, source_lines: list[bytes]
) -> None:
    import gzip

    data = b"".join(source_lines[:20])
    local = tmp_path / "s.jsonl"
    local.write_bytes(data)
    table = b'id,text\n1,"def f(): return 1"\n2,"def g(): return 2"\n'
    (tmp_path / "p.csv").write_bytes(table)
    archive = _zip_of(tmp_path, {"g.jsonl.gz": gzip.compress(data), "d/p.csv": table})
    expected = ok("score", local, *FAST, "-q").stdout_bytes
    assert ok("score", f"zip://g.jsonl.gz::{archive}", *FAST, "-q").stdout_bytes == expected
    csv_scores = [
        r["zipfit_score"] for r in records(ok("score", f"zip://d/p.csv::{archive}", *FAST, "-q").stdout)
    ]
    assert csv_scores == [
        r["zipfit_score"] for r in records(ok("score", tmp_path / "p.csv", *FAST, "-q").stdout)
    ]


def test_url_globs_inside_chained_urls_keep_the_chain(tmp_path: Path, source_lines: list[bytes]) -> None:
    local = tmp_path / "s.jsonl"
    local.write_bytes(b"".join(source_lines[:40]))
    archive = _zip_of(
        tmp_path, {"a.jsonl": b"".join(source_lines[:20]), "b.jsonl": b"".join(source_lines[20:40])}
    )
    expected = ok("score", local, *FAST, "-q").stdout_bytes
    assert ok("score", f"zip://*.jsonl::{archive}", *FAST, "-q").stdout_bytes == expected


def test_url_glob_matches_keep_host_port_and_credentials() -> None:
    from zipfit_cli.files.locations import matched_url

    class Bare:  # a filesystem's own spelling loses the URL's host part
        def unstrip_protocol(self, path: str) -> str:
            return f"ftp://{path}"

    pattern = "ftp://alice:pw@127.0.0.1:2121/d/x*.jsonl"
    assert (
        matched_url(pattern, "/d/x*.jsonl", "/d/x1.jsonl", Bare())
        == "ftp://alice:pw@127.0.0.1:2121/d/x1.jsonl"
    )
    assert matched_url("ftp://h:21/**", "/**", "/a/b.jsonl", Bare()) == "ftp://h:21/a/b.jsonl"
    assert matched_url("ftp://h/?.jsonl", "/?.jsonl", "/a.jsonl", Bare()) == "ftp://h/a.jsonl"
    chained = "zip://d/*.csv::ftp://u:p@h:21/z.zip"
    assert matched_url(chained, "d/*.csv", "d/p.csv", Bare()) == "zip://d/p.csv::ftp://u:p@h:21/z.zip"


@pytest.mark.parametrize("wrapper", ["blockcache", "simplecache", "filecache", "cached"])
def test_caching_wrappers_do_not_hide_the_cause(wrapper: str) -> None:
    refused = f"{wrapper}::ftp://127.0.0.1:{free_port()}/x.jsonl"
    _one_line_error(run("score", refused, *FAST), 3, refused, "connection refused")
    _one_line_error(run("score", f"{wrapper}::nosuch://x.jsonl", *FAST), 3, "unknown protocol 'nosuch'")


def test_a_remote_directory_is_a_directory(memory_copy: tuple[str, str], tmp_path: Path) -> None:
    corpus, _ = memory_copy
    _one_line_error(run("score", corpus, *FAST), 3, corpus, "is a directory")
    archive = _zip_of(tmp_path, {"d/a.jsonl": b"{}\n"})
    _one_line_error(run("score", f"zip://d::{archive}", *FAST), 3, "is a directory")


class _FtpHandler(socketserver.StreamRequestHandler):
    """Just enough FTP for fsspec's backend (ftplib): any login, PASV, MLSD and whole-file
    RETR over a dict of files, every socket with a timeout."""

    files: ClassVar[dict[str, bytes]] = {}

    def _reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def _send(self, passive: socket.socket | None, data: bytes) -> None:
        if passive is None:
            self._reply("425 no PASV")
            return
        self._reply("150 sending")
        conn, _ = passive.accept()
        with conn:
            conn.sendall(data)
        passive.close()
        self._reply("226 sent")

    def _listing(self, path: str) -> bytes | None:
        prefix = path.rstrip("/") + "/"
        names = {name[len(prefix) :].split("/")[0] for name in self.files if name.startswith(prefix)}
        if not names:
            return None
        rows = []
        for name in sorted(names):
            data = self.files.get(prefix + name)
            facts = f"type=file;size={len(data)};" if data is not None else "type=dir;size=0;"
            rows.append(f"{facts} {name}\r\n")
        return "".join(rows).encode()

    def handle(self) -> None:
        self.request.settimeout(10)
        passive: socket.socket | None = None
        rest = 0
        self._reply("220 fake")
        for raw in self.rfile:
            verb, _, arg = raw.decode().strip().partition(" ")
            if verb == "USER":
                self._reply("331 password please")
            elif verb in ("PASS", "TYPE"):
                self._reply("230 ok" if verb == "PASS" else "200 ok")
            elif verb == "PASV":
                passive = socket.create_server(("127.0.0.1", 0))
                passive.settimeout(10)
                port = passive.getsockname()[1]
                self._reply(f"227 passive (127,0,0,1,{port >> 8},{port & 255})")
            elif verb == "MLSD" and self._listing(arg) is not None:
                self._send(passive, self._listing(arg) or b"")
                passive = None
            elif verb == "REST":
                rest = int(arg)
                self._reply("350 restarting")
            elif verb == "RETR" and arg in self.files and not arg.endswith(".refused"):
                self._send(passive, self.files[arg][rest:])
                passive, rest = None, 0
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("550 no such thing")


@contextmanager
def ftp_server(files: dict[str, bytes], seconds: float = 60.0) -> Iterator[int]:
    """A fake FTP server on 127.0.0.1 serving `files` (absolute path -> bytes); it stops when
    the block ends, or by itself after `seconds`."""
    handler = type("Handler", (_FtpHandler,), {"files": files})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    timer = threading.Timer(seconds, server.shutdown)
    timer.start()
    try:
        yield server.server_address[1]
    finally:
        timer.cancel()
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_ftp_globs_keep_host_port_and_credentials_and_directories_are_refused(
    source_lines: list[bytes],
) -> None:
    data = b"".join(source_lines[:30])
    expected = ok("score", "-", *FAST, "-q", input=data).stdout_bytes
    files = {"/x1.jsonl": data, "/d/a.jsonl": data, "/x.refused": data}
    with ftp_server(files) as port:
        for url in (
            f"ftp://127.0.0.1:{port}/x*.jsonl",
            f"ftp://alice:pw@127.0.0.1:{port}/x[0-9].jsonl",
            f"ftp://127.0.0.1:{port}/d/*",
        ):
            result = run("score", url, *FAST, "-q")
            assert result.exit_code == 0 and "Traceback" not in result.stderr, result.output
            assert result.stdout_bytes == expected
        _one_line_error(run("score", f"ftp://127.0.0.1:{port}/d", *FAST), 3, "/d: is a directory")
        _one_line_error(run("score", f"ftp://127.0.0.1:{port}/", *FAST), 3, "is a directory")
        # Listed, but the server refuses to send it: ftplib's own error, read as one line.
        refused = f"ftp://127.0.0.1:{port}/x.refused"
        _one_line_error(run("score", refused, *FAST), 3, refused, "550 no such thing")

"""Shared fixtures: sample data paths, small corpus slices, a JSONL writer, a stable terminal."""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner, Result

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "sample_data"
SOURCE = SAMPLE_DIR / "source.jsonl"
TARGET = SAMPLE_DIR / "target.jsonl"
TEMPLATE = "{prompt}{canonical_solution}"

WriteJsonl = Callable[..., Path]
# Arguments naming the sample targets, and the same scored fast (lz4, one process).
TARGETS = ["-t", str(TARGET), "--target-template", TEMPLATE]
FAST = [*TARGETS, "--compressor", "lz4", "-j", "1"]
# zipfit as a real process.
ZIPFIT = [sys.executable, "-m", "zipfit_cli"]


def run(*args: Any, env: dict[str, str] | None = None, input: bytes | None = None) -> Result:
    """`zipfit ARGS...` in-process through Typer's runner; stdout and stderr captured apart."""
    from zipfit_cli.cli.app import app

    return CliRunner().invoke(app, [str(a) for a in args], env=env, input=input)


def ok(*args: Any, env: dict[str, str] | None = None, input: bytes | None = None) -> Result:
    """`run`, asserting exit code 0 and showing what the user would have seen otherwise."""
    result = run(*args, env=env, input=input)
    assert result.exit_code == 0, result.output
    return result


def select_fast(source: Path | str, *extra: str | Path) -> Result:
    """`zipfit select SOURCE EXTRA...` in-process, against the sample targets scored fast."""
    return run("select", source, *FAST, *extra)


def run_process(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    """`python -m zipfit_cli ARGS...` as a real process, given subprocess.run's `kwargs`;
    stdout and stderr captured unless `stdout` is given."""
    if "stdout" not in kwargs:
        kwargs.setdefault("capture_output", True)
    return subprocess.run([*ZIPFIT, *args], timeout=120, **kwargs)


def colour_env() -> dict[str, str]:
    """A colour-capable terminal type: only the fact that stderr is not a TTY should keep output plain."""
    env = dict(os.environ)
    for name in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "PY_COLORS", "CLICOLOR_FORCE"):
        env.pop(name, None)
    env["TERM"] = "xterm-256color"
    return env


def zipfit(*args: str, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """`python -m zipfit_cli ARGS...` as a real process fed `stdin`, in `colour_env()`; output captured."""
    return subprocess.run(
        [*ZIPFIT, *args], input=stdin, capture_output=True, timeout=timeout, env=colour_env()
    )


def assert_jsonl(data: bytes) -> list[dict[str, object]]:
    """Output that must be JSON objects a line, the last line ended, as objects."""
    assert data.endswith(b"\n")
    out = [json.loads(line) for line in data.splitlines()]
    assert all(isinstance(r, dict) for r in out)
    return out


def records(data: bytes | str) -> list[dict[str, Any]]:
    """JSONL output as objects; every line, the last included, must end with a newline."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    assert raw == b"" or raw.endswith(b"\n")
    return [orjson.loads(line) for line in raw.splitlines()]


@pytest.fixture(autouse=True)
def stable_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin terminal width and colour so Rich/Click output does not depend on the caller's shell."""
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.delenv("FORCE_COLOR", raising=False)


@pytest.fixture(scope="session")
def source_path() -> Path:
    return SOURCE


@pytest.fixture(scope="session")
def target_path() -> Path:
    return TARGET


@pytest.fixture(scope="session")
def source_lines() -> list[bytes]:
    """Every line of the sample source, newline included."""
    return SOURCE.read_bytes().splitlines(keepends=True)


@pytest.fixture(scope="session")
def source_texts(source_lines: list[bytes]) -> list[bytes]:
    return [json.loads(line)["text"].encode("utf-8") for line in source_lines]


@pytest.fixture(scope="session")
def target_texts() -> list[bytes]:
    """The 40 sample targets rendered with '{prompt}{canonical_solution}', UTF-8."""
    out = []
    for line in TARGET.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        out.append((record["prompt"] + record["canonical_solution"]).encode("utf-8"))
    return out


@pytest.fixture(scope="session")
def slice_path(tmp_path_factory: pytest.TempPathFactory, source_lines: list[bytes]) -> Path:
    """The first 200 sample source records: enough for real rankings, quick at gzip level 9."""
    path = tmp_path_factory.mktemp("slice") / "source200.jsonl"
    path.write_bytes(b"".join(source_lines[:200]))
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, source_lines: list[bytes]) -> Path:
    """300 sample records with target copies planted: verbatim, re-indented, and with a tail."""
    targets = [json.loads(line) for line in TARGET.read_text().splitlines()]
    lines = list(source_lines[:300])
    copies = [
        targets[3]["prompt"] + targets[3]["canonical_solution"],
        (targets[10]["prompt"] + targets[10]["canonical_solution"]).replace("    ", "\t").upper(),
        "Here is a helper:\n" + targets[20]["prompt"] + targets[20]["canonical_solution"] + "\nThanks!",
    ]
    for n, text in enumerate(copies):
        lines.insert(50 * (n + 1), orjson.dumps({"id": f"leak-{n}", "text": text, "source": "leak"}) + b"\n")
    path = tmp_path_factory.mktemp("planted") / "planted.jsonl"
    path.write_bytes(b"".join(lines))
    return path


def _write_jsonl(path: Path, rows: Iterable[Any]) -> Path:
    """Rows: dicts/lists/values are JSON-encoded; bytes are written as raw lines (newline added)."""
    with open(path, "wb") as fh:
        for row in rows:
            if isinstance(row, bytes):
                fh.write(row if row.endswith(b"\n") else row + b"\n")
            else:
                fh.write(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
    return path


@pytest.fixture
def write_jsonl(tmp_path: Path) -> WriteJsonl:
    """write_jsonl(rows, name='corpus.jsonl') -> path of a JSONL file in tmp_path."""

    def write(rows: Iterable[Any], name: str = "corpus.jsonl") -> Path:
        return _write_jsonl(tmp_path / name, rows)

    return write


def busy_corpus(path: Path, n: int = 20000) -> Path:
    """Enough gzip-9 work that a run is still busy when a test signals it."""
    line = b'{"text": "' + b"def f(x):\\n    return [y * 2 for y in range(x) if y % 3] " * 8 + b'"}\n'
    path.write_bytes(line * n)
    return path


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (workers, the forkserver, the resource tracker)."""
    found: set[int] = set()
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                children = {int(c) for c in (task / "children").read_text().split()}
                stack.extend(children - found)
                found |= children
        except OSError:
            continue
    return found


def alive(pid: int) -> bool:
    """Running, and not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def free_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then closed): connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def tcp_server(behaviour: str = "hang_up", seconds: float = 20.0) -> Iterator[int]:
    """A TCP server on 127.0.0.1 (an ephemeral port, yielded) that misbehaves: "hang_up"
    accepts each connection and closes it at once (an FTP or Dask server that drops the
    client), "silent" accepts and never says a word. It stops when the block ends, and by
    itself after `seconds` at the latest.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.05)
    port: int = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        held: list[socket.socket] = []
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = listener.accept()
            except OSError:  # the accept timeout: look at the clock and `stop` again
                continue
            if behaviour == "silent":
                held.append(conn)
            else:
                conn.close()
        for conn in held:
            conn.close()
        listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(seconds)


# --- Arrow IPC, as pyarrow and `datasets.save_to_disk` write it (needs the [parquet] extra) ---


def write_arrow(path: Path, table: Any, stream: bool = False, batch_rows: int = 50) -> Path:
    """`table` as an Arrow IPC file (stream=True: the stream format) of several record batches."""
    import pyarrow.ipc as ipc

    opened = ipc.new_stream if stream else ipc.new_file
    with opened(path, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=batch_rows):
            writer.write_batch(batch)
    return path


def write_dataset(
    directory: Path, table: Any, cuts: tuple[int, ...] = (), names: list[Any] | None = None
) -> Path:
    """What `Dataset.save_to_disk` leaves: stream-format data files cut at `cuts`, listed in
    state.json (`names` overrides what is listed), and a dataset_info.json."""
    directory.mkdir(parents=True)
    edges = [0, *cuts, table.num_rows]
    count = len(edges) - 1
    written = []
    for i, (start, end) in enumerate(itertools.pairwise(edges)):
        name = f"data-{i:05d}-of-{count:05d}.arrow"
        write_arrow(directory / name, table.slice(start, end - start), stream=True, batch_rows=32)
        written.append(name)
    files = [{"filename": name} for name in (written if names is None else names)]
    state = {"_data_files": files, "_fingerprint": "f00d", "_format_type": None, "_split": None}
    (directory / "state.json").write_text(json.dumps(state))
    (directory / "dataset_info.json").write_text(json.dumps({"citation": "", "features": {}}))
    return directory

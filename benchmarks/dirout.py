"""The client's share of `zipfit score`: a single -o file against a directory output (-o DIR/).

Scoring is made nearly free (one tiny target, lz4) so that what is timed is the path records
take. Each case runs `zipfit score` in a fresh process that reports its own CPU time (os.times:
this process only) and the bytes it read (/proc/self/io rchar: input files, pipes from the
local pool, modules imported; plus what its sockets received, counted around socket.recv and
recv_into, since rchar leaves recv out: Dask's messages), both from after zipfit's import to
the end. Dask runs use a scheduler and single-threaded workers started here as separate processes
(`dask scheduler`, `dask worker`), as on a real cluster: a local cluster's scheduler would run
in the client, and its workers' reads would be added to the client's rchar when reaped.

    python benchmarks/dirout.py --copies 50 --repeat 2
    python benchmarks/dirout.py --copies 50 --repeat 2 --select   # select --fraction 0.1 on Dask

With --select: `select --fraction 0.1 -o FILE` on 1- and 2-worker clusters, every scored record
sent to the client (no --spill-dir: today's path for a remote scheduler) against the workers
ranking and writing sorted runs that the client merges (--spill-dir); the client's reads of
those runs count as bytes it received.

Writes the corpus (the sample source repeated) and the outputs under a temporary directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs in the child: the CLI in-process, then what this process cost.
# From after zipfit's import to the end: the run's own cost (Dask's import, done in the run, counts).
CHILD = """
import json, os, socket, sys
from zipfit_cli.cli.app import main

received = [0]  # rchar counts read(), not a socket's recv(): Dask's messages are counted here
plain_recv, plain_recv_into = socket.socket.recv, socket.socket.recv_into

def recv(self, *args, **kwargs):
    data = plain_recv(self, *args, **kwargs)
    received[0] += len(data)
    return data

def recv_into(self, *args, **kwargs):
    count = plain_recv_into(self, *args, **kwargs)
    received[0] += count or 0
    return count

socket.socket.recv, socket.socket.recv_into = recv, recv_into

def cost():
    times = os.times()
    rchar = int(dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())["rchar"])
    return times.user + times.system, rchar + received[0]

sys.argv = ["zipfit", *sys.argv[1:]]
cpu, rchar = cost()
try:
    main()
except SystemExit as exc:
    if exc.code:
        raise
cpu_end, rchar_end = cost()
print(json.dumps({"cpu": cpu_end - cpu, "rchar": rchar_end - rchar}), file=sys.stderr)
"""

CASES = [("local -j 2", 0), ("dask, 1 worker", 1), ("dask, 2 workers", 2), ("dask, 4 workers", 4)]


@contextlib.contextmanager
def cluster(workers: int, work: str) -> Iterator[list[str]]:
    """The engine options for a case: the local pool, or a Dask cluster of `workers`."""
    if not workers:
        yield ["-j", "2"]
        return
    import distributed

    info = Path(work) / f"scheduler-{workers}.json"
    dask = [sys.executable, "-m", "dask"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
    procs = [
        subprocess.Popen(
            [*dask, "scheduler", "--port", "0", "--no-dashboard", "--scheduler-file", str(info)], **quiet
        )
    ]
    try:
        while not info.exists():
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        for _ in range(workers):
            worker = [*dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"]
            procs.append(subprocess.Popen(worker, **quiet))
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(workers, timeout=60)
        yield ["--engine", "dask", "--scheduler", address]
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait()


def run_case(
    corpus: Path, target: Path, output: str, engine: list[str], command: tuple[str, ...] = ("score",)
) -> tuple[float, float, int]:
    args = [str(corpus), "-t", str(target), "--compressor", "lz4", "-q", "--force", "-o", output, *engine]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *command, *args], capture_output=True, check=True)
    wall = time.perf_counter() - start
    measured = json.loads(done.stderr.decode().strip().splitlines()[-1])
    return wall, measured["cpu"], measured["rchar"]


def measure(
    label: str, engine: list[str], corpus: Path, target: Path, records: int, repeat: int, select: bool = False
) -> None:
    """One engine, both outputs (or with `select`, both select paths): a table row each."""
    work = corpus.parent
    score: tuple[str, ...] = ("score",)
    cases = [("-o FILE", f"{work}/single.jsonl", [], score), ("-o DIR/", f"{work}/parts/", [], score)]
    if select:
        os.makedirs(f"{work}/spill", exist_ok=True)
        pick, out = ("select", "--fraction", "0.1"), f"{work}/selected.jsonl"
        spill = ["--spill-dir", f"{work}/spill"]
        cases = [("records to the client", out, [], pick), ("runs merged", out, spill, pick)]
    for kind, output, extra, command in cases:
        runs = [run_case(corpus, target, output, [*engine, *extra], command) for _ in range(repeat)]
        wall = f"{min(r[0] for r in runs):.1f}–{max(r[0] for r in runs):.1f}"
        cpu = [r[1] for r in runs]
        per = [r[2] / records for r in runs]
        micro = f"{min(cpu) / records * 1e6:.1f}–{max(cpu) / records * 1e6:.1f}"
        print(
            f"| {label} | `{kind}` | {wall} | {min(cpu):.2f}–{max(cpu):.2f} | {micro} | "
            f"{min(per):,.0f}–{max(per):,.0f} |",
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=50, help="copies of the 4,000 sample records")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--select", action="store_true", help="select --fraction 0.1 on 1 and 2 Dask workers")
    options = parser.parse_args()
    sample = (ROOT / "sample_data" / "source.jsonl").read_bytes()
    records = sample.count(b"\n") * options.copies
    with tempfile.TemporaryDirectory() as work:
        corpus = Path(work) / "corpus.jsonl"
        corpus.write_bytes(sample * options.copies)
        target = Path(work) / "target.txt"
        target.write_text("def f(x):\n")
        print(f"{records:,} records, {corpus.stat().st_size / 1e6:.0f} MB")
        print("| engine | output | wall s | client CPU s | µs/record | bytes read by the client/record |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        for label, workers in CASES[1:3] if options.select else CASES:
            with cluster(workers, work) as engine:
                measure(label, engine, corpus, target, records, options.repeat, options.select)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Read throughput of each input format: the benchmark sources as JSONL, JSONL.zst and Parquet.

Every record is read through `zipfit_cli.files.sources.open_source` and its text parsed with
`TextSpec.parse`, as the workers do; nothing is scored. Prints a markdown table of MB/s
(of the file on disk, and of the JSON records handed on) and records/s. Nothing asserts.

    python benchmarks/read_speed.py [--sources 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import orjson
import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import iter_sources

from zipfit_cli.files.records import TextSpec
from zipfit_cli.files.sources import open_source


def write_inputs(directory: Path, n: int) -> dict[str, Path]:
    jsonl = directory / "sources.jsonl"
    with open(jsonl, "wb") as out:
        for i, text in enumerate(iter_sources(n)):
            out.write(orjson.dumps({"id": f"doc-{i}", "text": text}) + b"\n")
    zst = directory / "sources.jsonl.zst"
    with open(jsonl, "rb") as src, open(zst, "wb") as dst:
        zstandard.ZstdCompressor(level=3).copy_stream(src, dst)
    files = {"JSONL": jsonl, "JSONL.zst": zst}
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        print("pyarrow is not installed: no Parquet row (pip install 'zipfit-cli[parquet]')", file=sys.stderr)
        return files
    parquet = directory / "sources.parquet"
    schema = pa.schema([("id", pa.string()), ("text", pa.string())])
    with pq.ParquetWriter(parquet, schema) as writer:
        rows: list[dict[str, str]] = []
        for i, text in enumerate(iter_sources(n)):
            rows.append({"id": f"doc-{i}", "text": text})
            if len(rows) == 10_000:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                rows = []
        if rows:
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
    files["Parquet"] = parquet
    return files


def read_all(path: Path, spec: TextSpec) -> tuple[int, int, float]:
    """(records, bytes of the records handed on, seconds) for one pass over a file."""
    start = time.perf_counter()
    source = open_source(str(path))
    count = size = 0
    try:
        for _, line in source:
            spec.parse(line)
            count += 1
            size += len(line)
    finally:
        source.close()
    return count, size, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=200_000, help="records to generate")
    parser.add_argument("--repeat", type=int, default=3, help="passes over each file; the best is reported")
    args = parser.parse_args()
    spec = TextSpec.build("text")
    with tempfile.TemporaryDirectory(prefix="zipfit-read-") as tmp:
        files = write_inputs(Path(tmp), args.sources)
        print(f"{args.sources:,} records, texts of 200-4,000 characters; best of {args.repeat} passes\n")
        print("| format | on disk | MB/s on disk | MB/s of records | records/s |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, path in files.items():
            count, size, seconds = min((read_all(path, spec) for _ in range(args.repeat)), key=lambda r: r[2])
            disk = os.path.getsize(path)
            print(
                f"| {name} | {disk / 1e6:,.0f} MB | {disk / 1e6 / seconds:,.0f} | "
                f"{size / 1e6 / seconds:,.0f} | {count / seconds:,.0f} |"
            )


if __name__ == "__main__":
    main()

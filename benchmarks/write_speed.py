"""Output writers: time and peak memory to write N records through `Output`, by format.

Each record holds about 170 characters of code text, an id, a number and a small struct.
With `late`, two things change after record 10,000 (past the first Parquet row group): a
`license` field appears and the struct gains a field, so Parquet widens its schema and
rewrites its row groups at the end. Run each case in a fresh process (peak memory is the
process's):

    python benchmarks/write_speed.py same top.parquet 300000
    python benchmarks/write_speed.py late top.parquet 300000
    python benchmarks/write_speed.py same top.csv 100000
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time

import orjson

from zipfit_cli.files.output import Output


def main() -> int:
    late, name = sys.argv[1] == "late", sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
    with tempfile.TemporaryDirectory() as directory:
        start = time.perf_counter()
        with Output(os.path.join(directory, name)) as out:
            for i in range(count):
                record = {"id": i, "text": f"def f{i}(x):\n    return x * {i} + 1\n" * 4, "n": i}
                record["meta"] = {"lang": "en"}
                if not late or i >= 10_000:
                    record["license"] = "mit"
                    record["meta"]["stars"] = i % 5
                out.write(orjson.dumps(record) + b"\n")
        elapsed = time.perf_counter() - start
        size = os.path.getsize(os.path.join(directory, name))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"{sys.argv[1]} {name}: {count:,} records, {elapsed:.2f} s, {size / 1e6:.1f} MB, peak {peak} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Full pair matrix M[i, j] = C(text_i + text_j) (source i first) and C(text_i), for lz4:0 and gzip:9.

Writes cache/{name}_single.npy (int32, n) and cache/{name}_pair.npy (int32, n x n). Row blocks are
checkpointed so an interrupted run resumes.
"""

import os
import sys
import time

import numpy as np
import orjson

from zipfit_cli.scoring.compressors import get_compressor

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("ZIPFIT_SWEEP_CACHE", os.path.join(HERE, "cache"))
DATA = os.path.join(HERE, "..", "..", "sample_data", "source.jsonl")
BLOCK = 200


def main() -> None:
    recs = [orjson.loads(line) for line in open(DATA, "rb") if line.strip()]
    texts = [r["text"].encode("utf-8", "surrogatepass") for r in recs]
    n = len(texts)
    for name, level in (("lz4", 0), ("gzip", 9)):
        out = os.path.join(CACHE, f"{name}_pair.npy")
        if os.path.exists(out):
            continue
        comp = get_compressor(name, level)
        sizer = comp.sizer(texts)
        single = np.array([comp.size(t) for t in texts], dtype=np.int32)
        np.save(os.path.join(CACHE, f"{name}_single.npy"), single)
        blocks = []
        t0 = time.time()
        for b in range(0, n, BLOCK):
            part = os.path.join(CACHE, f"{name}_rows_{b:05d}.npy")
            if not os.path.exists(part):
                rows = np.empty((min(BLOCK, n - b), n), dtype=np.int32)
                for i in range(b, min(b + BLOCK, n)):
                    own, pairs = sizer(texts[i])
                    assert own == single[i]
                    rows[i - b] = pairs
                np.save(part, rows)
            blocks.append(part)
            print(f"{name} rows {b + BLOCK}/{n} {time.time() - t0:.0f}s", flush=True)
        mat = np.concatenate([np.load(p) for p in blocks])
        np.save(out, mat)
        for p in blocks:
            os.remove(p)
    print("done", flush=True)


if __name__ == "__main__":
    sys.exit(main())

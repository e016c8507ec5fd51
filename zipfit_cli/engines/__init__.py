"""Where scoring runs: the per-record runner, the local process pool, the sampled starting
threshold for --adaptive, and the Dask engine.

Layering (checked by `make lint`, import-linter): May import `selection`, `scoring`, `files` and `base`.
"""

"""How alignment is measured: compressors, NCD against a target set (the paper's score),
the scorer registry (pairwise, corpus, contrast), backgrounds, dataset alignment, and the
adaptive scorer that stops comparing a record once it cannot reach the top K.

Layering (checked by `make lint`, import-linter): May import `files` and `base`.
"""

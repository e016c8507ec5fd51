"""Whole runs as library calls: score or select files to an output (`run_score`,
`run_select`), merge shard parts, in-memory `score_texts`/`select_top_k`, run reports.

Layering (checked by `make lint`, import-linter): May import every layer
below it: `engines`, `selection`, `scoring`, `files`, `base`.
"""

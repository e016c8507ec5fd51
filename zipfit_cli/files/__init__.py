"""Records in and out: the reader registry (JSONL, CSV/TSV, Parquet, URLs, stdin), record
text extraction, batching, output files and their formats, shard parts.

Layering (checked by `make lint`, import-linter): May import `base` only.
"""

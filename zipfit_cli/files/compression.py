"""Compression by file name: the one table of name endings, for readers and writers alike.

A name ending in one of ENDINGS is read through that decompressor and written through
that compressor, whatever the format under it (`.jsonl.zst`, `.tsv.gz`).
"""

from __future__ import annotations

# Name ending (lower case) -> compression kind; `.zstd` is read and written as `.zst`.
ENDINGS: dict[str, str] = {".gz": "gz", ".bz2": "bz2", ".xz": "xz", ".zst": "zst", ".zstd": "zst"}
# The endings help texts name: the one named after its kind.
NAMED: tuple[str, ...] = tuple(ending for ending, kind in ENDINGS.items() if ending == f".{kind}")


def compression_by_name(name: str) -> str | None:
    """The compression kind a file name's ending implies ('gz', 'bz2', 'xz', 'zst'), or None."""
    lower = name.lower()
    return next((kind for ending, kind in ENDINGS.items() if lower.endswith(ending)), None)


def without_compression(name: str) -> str:
    """`name` (lower case) without its compression ending: what says the format under it."""
    lower = name.lower()
    return next((lower[: -len(ending)] for ending in ENDINGS if lower.endswith(ending)), lower)

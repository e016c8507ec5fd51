"""Compressed-length functions C(b) for NCD, one class per compressor.

Each compressor gives `size(data)` = C(data) and `pair_sizer(targets)`, a function
source -> [C(source + t) for t in targets]: where nearly all of zipfit's time goes.
Instances hold only settings and are cheap to pickle; reusable native state is
created lazily in the process that uses it.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, ClassVar

from ..base.checks import ArgumentError
from ..base.errors import UsageError

# gzip framing around a raw deflate stream: 10-byte header + 8-byte CRC32/ISIZE trailer.
GZIP_FRAMING = 18

if sys.version_info >= (3, 11):
    raw_deflate = zlib.compress
else:  # zlib.compress takes wbits only from Python 3.11; the same stream, one call more

    def raw_deflate(data: bytes, level: int, wbits: int) -> bytes:
        c = zlib.compressobj(level, zlib.DEFLATED, wbits)
        return c.compress(data) + c.flush()


class Compressor:
    """Base class: a named compressor at a level."""

    name: ClassVar[str] = ""
    default_level: ClassVar[int] = 0
    levels: ClassVar[range] = range(0)
    # --adaptive checks a record after these shares of its comparisons (adaptive.py): early
    # checks save the most. With the outlier allowance and the spread floor, simulation on the
    # exact NCD matrices (BENCHMARKS.md §9) found no miss with these for gzip-9 and lz4 alike.
    adaptive_checkpoints: ClassVar[tuple[float, ...]] = (0.05, 0.075, 0.1, 0.2, 0.4, 0.8)
    # The least spread of NCDs the bound assumes: a record's NCDs to 40 targets spread by 0.004 at
    # the 1st percentile, 0.01-0.03 at the median (sample data, gzip-9 and lz4).
    adaptive_sd_floor: ClassVar[float] = 0.01
    # With a slack s, --adaptive takes an unseen target's NCD to be at least
    # 1 - (min(C(x), C(t)) + s) / max(C(x), C(t)): C(x + t) below max(C(x), C(t)) - s would
    # mean the pair compressed to less than one of its parts. None: no such floor (0).
    adaptive_size_slack: ClassVar[int | None] = None

    def __init__(self, level: int | None = None) -> None:
        self.level = self.default_level if level is None else level
        self.check_level()

    def check_level(self) -> None:
        if isinstance(self.level, bool) or not isinstance(self.level, int):
            # 1.0 and True are in range(1, 10): they would pass for levels
            raise TypeError(f"level must be an int, not {type(self.level).__name__}")
        if self.level not in self.levels:
            first, last = self.levels[0], self.levels[-1]
            raise ArgumentError(
                f"level {self.level} is not valid for {self.name}; choose {first}..{last}", setting="level"
            )

    def size(self, data: bytes) -> int:
        raise NotImplementedError

    def pair_sizer(self, targets: Sequence[bytes]) -> Callable[[bytes], list[int]]:
        """A function: source -> [C(source + t) for t in targets], prepared once per target set."""
        size = self.size
        return lambda source: [size(source + t) for t in targets]

    def sizer(self, targets: Sequence[bytes]) -> Callable[[bytes], tuple[int, list[int]]]:
        """A function: source -> (C(source), [C(source + t) for t in targets]): all one record needs."""
        size, pairs = self.size, self.pair_sizer(targets)
        return lambda source: (size(source), pairs(source))

    def pair_getter(self, targets: Sequence[bytes]) -> Callable[[bytes], tuple[int, Callable[[int], int]]]:
        """A function: source -> (C(source), j -> C(source + targets[j])), for scoring a record
        against some targets only (adaptive top K). Sizes equal the `sizer`'s exactly."""
        size = self.size
        return lambda source: (size(source), lambda j: size(source + targets[j]))

    def pair_sizes(self, source: bytes, targets: Sequence[bytes]) -> list[int]:
        """[C(source + t) for t in targets], for one-off use; hot loops keep a pair_sizer."""
        return self.pair_sizer(targets)(source)

    def spec(self) -> str:
        return f"{self.name}:{self.level}"

    # Corpus scoring (corpus.py): C(x | D), the size of x compressed with D as prior history.
    # Each compressor only looks back so far; `dictionary_reach` is how much of D it can use.

    def dictionary_reach(self) -> int:
        """Bytes of dictionary this compressor can still use; 0: no dictionary support."""
        return 0

    def dictionary_sizer(self, dictionary: bytes) -> Callable[[bytes], int]:
        """A function: x -> C(x | dictionary), framed as `size` is. Build it in the process that uses it."""
        raise UsageError(f"the {self.name} compressor cannot use a dictionary", setting="compressor")

    def __getstate__(self) -> dict[str, Any]:
        # Native compressor objects are per process and not picklable; drop them.
        return {"level": self.level}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["level"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(level={self.level})"


def tune_heap() -> None:
    """Keep freed memory instead of returning it to the OS after every deflate call.

    Each deflate call allocates ~256 KB of state. With glibc's default 128 KiB trim
    threshold, freeing it can shrink the heap, and the next call grows it again and
    page-faults: 2-4x slower per pair (measured in BENCHMARKS.md). Harmless elsewhere.
    """
    global _heap_tuned
    if _heap_tuned:
        return
    _heap_tuned = True
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        if libc.mallopt(m_trim_threshold, 64 << 20) and libc.mallopt(m_mmap_threshold, 4 << 20):
            return
    except (OSError, AttributeError):
        pass
    # Not glibc (or no mallopt): freeing one large block also raises glibc-like thresholds.
    bytearray(4 << 20)


_heap_tuned = False

# Deflate never looks further back than the window minus this much lookahead.
_MIN_LOOKAHEAD = 262


def window_bits(total: int) -> int:
    """Smallest deflate window that holds `total` bytes whole: output is then identical to the
    default 32 KiB window, but smaller state is cheaper to allocate and copy.
    """
    w = 9
    while w < 15 and (1 << w) - _MIN_LOOKAHEAD < total:
        w += 1
    return w


class GzipCompressor(Compressor):
    """The paper's C: len(gzip.compress(b, level)), computed exactly without gzip's CRC pass."""

    name = "gzip"
    default_level = 9
    levels = range(1, 10)
    # Measured: C(x + t) fell below max(C(x), C(t)) by at most 2 bytes (60 of 2.6 million
    # pairs, gzip-9 and lz4, BENCHMARKS.md section 9); tests/test_adaptive.py checks it.
    adaptive_size_slack = 16

    def __init__(self, level: int | None = None) -> None:
        super().__init__(level)
        tune_heap()

    def check_level(self) -> None:
        if self.level == 0:
            raise ArgumentError(
                "level 0 makes gzip store data uncompressed, so every score would depend "
                "on text length alone; choose a level from 1 (fastest) to 9 (the paper's)",
                setting="level",
            )
        super().check_level()

    def dictionary_reach(self) -> int:
        return 32 * 1024  # deflate's window; zlib keeps only the last 32 KiB of a zdict

    def dictionary_sizer(self, dictionary: bytes) -> Callable[[bytes], int]:
        primed = zlib.compressobj(self.level, zlib.DEFLATED, -15, zdict=dictionary)

        def size(x: bytes) -> int:
            c = primed.copy()  # cheaper than loading the dictionary again
            return len(c.compress(x)) + len(c.flush()) + GZIP_FRAMING

        return size

    def size(self, data: bytes) -> int:
        return len(raw_deflate(data, self.level, -window_bits(len(data)))) + GZIP_FRAMING

    def pair_sizer(self, targets: Sequence[bytes]) -> Callable[[bytes], list[int]]:
        sizes = self.sizer(targets)
        return lambda source: sizes(source)[1]

    def _strategy(self, targets: Sequence[bytes]) -> tuple[int, float]:
        """(longest target, for the window; the source length from which deflating the source
        once and copying the compressor state per target pays off: measured, BENCHMARKS.md).
        The sizer and the pair getter share it, so their sizes are the same, bit for bit."""
        longest = max(map(len, targets), default=0)
        mean = sum(map(len, targets)) / max(len(targets), 1)
        return longest, mean * (1.5 if self.level >= 4 else 3.5)

    def sizer(self, targets: Sequence[bytes]) -> Callable[[bytes], tuple[int, list[int]]]:
        level = self.level
        longest, copy_from = self._strategy(targets)
        compress, compressobj, deflated = raw_deflate, zlib.compressobj, zlib.DEFLATED

        def sizes(source: bytes) -> tuple[int, list[int]]:
            wbits = -window_bits(len(source) + longest)
            if len(source) < copy_from:
                own = len(compress(source, level, wbits)) + GZIP_FRAMING
                return own, [len(compress(source + t, level, wbits)) + GZIP_FRAMING for t in targets]
            # Exact: deflate's output depends only on the bytes fed so far and its state.
            primed = compressobj(level, deflated, wbits)
            head = len(primed.compress(source)) + GZIP_FRAMING
            out = []
            for t in targets:
                c = primed.copy()
                out.append(head + len(c.compress(t)) + len(c.flush()))
            return head + len(primed.flush()), out

        return sizes

    def pair_getter(self, targets: Sequence[bytes]) -> Callable[[bytes], tuple[int, Callable[[int], int]]]:
        # The sizer's strategy and window, one target at a time: the same sizes, exactly.
        level = self.level
        longest, copy_from = self._strategy(targets)
        compress, compressobj, deflated = raw_deflate, zlib.compressobj, zlib.DEFLATED

        def prepare(source: bytes) -> tuple[int, Callable[[int], int]]:
            wbits = -window_bits(len(source) + longest)
            if len(source) < copy_from:
                own = len(compress(source, level, wbits)) + GZIP_FRAMING
                return own, lambda j: len(compress(source + targets[j], level, wbits)) + GZIP_FRAMING
            primed = compressobj(level, deflated, wbits)
            head = len(primed.compress(source)) + GZIP_FRAMING

            def pair(j: int) -> int:
                c = primed.copy()
                return head + len(c.compress(targets[j])) + len(c.flush())

            return head + len(primed.copy().flush()), pair

        return prepare


class Lz4Compressor(Compressor):
    """LZ4 block format, no frame header or size prefix: only the compressed bytes count."""

    name = "lz4"
    default_level = 0
    levels = range(0, 13)
    adaptive_size_slack = 16  # measured with gzip's (above)

    def check_level(self) -> None:
        if self.level in (1, 2):
            raise ArgumentError(
                "lz4 levels 1 and 2 are the same as 0 (its fast mode); "
                "choose 0, or 3-12 for high compression",
                setting="level",
            )
        super().check_level()

    def __init__(self, level: int | None = None) -> None:
        super().__init__(level)
        import lz4.block

        block = lz4.block.compress
        level = self.level
        # Fewer keywords on the fast path: argument parsing is a visible share of a 4 µs call.
        self._compress: Callable[[bytes], bytes] = (
            partial(block, store_size=False)
            if level < 3
            else partial(block, mode="high_compression", compression=level, store_size=False)
        )

    def size(self, data: bytes) -> int:
        return len(self._compress(data))

    def pair_sizer(self, targets: Sequence[bytes]) -> Callable[[bytes], list[int]]:
        compress = self._compress
        return lambda source: [len(compress(source + t)) for t in targets]

    def dictionary_reach(self) -> int:
        return 64 * 1024  # LZ4 offsets are 16-bit

    def dictionary_sizer(self, dictionary: bytes) -> Callable[[bytes], int]:
        import lz4.block

        compress, level = lz4.block.compress, self.level
        mode = "default" if level < 3 else "high_compression"
        return lambda x: len(compress(x, mode=mode, compression=level, store_size=False, dict=dictionary))


# zstd levels -> bytes of dictionary still found from its far end, measured with zstandard
# 0.25 (libzstd 1.5.7) on sample_data: above this, copies of text placed at the start of
# the dictionary compressed no better than without it. It is set by the level's hash
# table size, not its window; levels 7-22 all reached 2 MiB, some failed at 4 MiB.
ZSTD_DICT_REACH = {1: 32 << 10, 2: 64 << 10, 3: 512 << 10, 4: 1 << 20, 5: 1 << 20, 6: 1 << 20}
ZSTD_DICT_REACH_MAX = 2 << 20


class ZstdCompressor(Compressor):
    """Zstandard frame without content size, checksum or dictionary id (a fixed 6-byte header)."""

    name = "zstd"
    default_level = 3
    levels = range(1, 23)

    def __init__(self, level: int | None = None) -> None:
        super().__init__(level)
        import zstandard

        self._compress = zstandard.ZstdCompressor(
            level=self.level, write_content_size=False, write_checksum=False, write_dict_id=False
        ).compress

    def size(self, data: bytes) -> int:
        return len(self._compress(data))

    def pair_sizer(self, targets: Sequence[bytes]) -> Callable[[bytes], list[int]]:
        compress = self._compress
        return lambda source: [len(compress(source + t)) for t in targets]

    def dictionary_reach(self) -> int:
        return ZSTD_DICT_REACH.get(self.level, ZSTD_DICT_REACH_MAX)

    def dictionary_sizer(self, dictionary: bytes) -> Callable[[bytes], int]:
        import zstandard

        zdict = zstandard.ZstdCompressionDict(dictionary, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        zdict.precompute_compress(level=self.level)
        compress = zstandard.ZstdCompressor(
            level=self.level,
            dict_data=zdict,
            write_content_size=False,
            write_checksum=False,
            write_dict_id=False,
        ).compress
        return lambda x: len(compress(x))


class IsalCompressor(Compressor):
    """Deflate by Intel's ISA-L (optional `isal` package): raw deflate length, no framing.

    Its own matcher, so sizes differ from zlib's: not the paper's gzip, but the same
    family of compression at several times the speed.
    """

    name = "isal"
    default_level = 1
    levels = range(0, 4)

    def __init__(self, level: int | None = None) -> None:
        super().__init__(level)
        from isal import isal_zlib

        self._compress = isal_zlib.compress

    def size(self, data: bytes) -> int:
        return len(self._compress(data, self.level, -15))

    def pair_sizer(self, targets: Sequence[bytes]) -> Callable[[bytes], list[int]]:
        compress, level = self._compress, self.level
        return lambda source: [len(compress(source + t, level, -15)) for t in targets]


COMPRESSORS: dict[str, type[Compressor]] = {
    c.name: c for c in (GzipCompressor, Lz4Compressor, ZstdCompressor, IsalCompressor)
}


def get_compressor(name: str, level: int | None = None) -> Compressor:
    """The compressor called `name` at `level` (None: its default level)."""
    try:
        cls = COMPRESSORS[name]
    except KeyError:
        known = ", ".join(COMPRESSORS)
        raise ArgumentError(
            f"unknown compressor {name!r}; choose one of: {known}", setting="compressor"
        ) from None
    try:
        return cls(level)
    except ImportError as exc:
        raise UsageError(
            f"the {name} compressor needs the {exc.name} package: pip install {exc.name}"
        ) from None

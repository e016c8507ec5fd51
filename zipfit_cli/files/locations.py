"""Where inputs are: local paths, stdin and URLs (fsspec), globs over either, and sizes.

Opening a URL here is only ever for a location the user named; nothing a record or part file
holds is passed in.
"""

from __future__ import annotations

import glob
import io
import os
import stat
from collections.abc import Sequence
from typing import IO, Any

from ..base.errors import InputError, UsageError, ZipfitError, shown

STDIN = "-"


def is_url(path: str) -> bool:
    """A location with a scheme (s3://, gs://, hf://, https://, file://, memory://), possibly
    behind wrappers (simplecache::s3://..., blockcache::ftp://...): fsspec reads it."""
    scheme, sep, _ = path.partition("://")
    return bool(sep) and all(protocol.isidentifier() for protocol in scheme.split("::"))


def file_name(path: str) -> str:
    """The name that says what a file holds (format, compression): for a chained URL the first
    link naming a path (zip://a.csv.gz::s3://b/z.zip: the member, not the archive; a bare
    wrapper like simplecache:: names none), otherwise `path` itself."""
    if not is_url(path):
        return path
    return next((link for link in path.split("::") if not link.isidentifier()), path)


def _fsspec() -> Any:
    try:
        import fsspec  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise UsageError("reading URLs needs fsspec: pip install 'zipfit-cli[remote]'") from None
    return fsspec


def failure(exc: BaseException) -> str:
    """What an error from fsspec, one of its backends or a server means, in a few words."""
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "the server reset the connection"
    if isinstance(exc, TimeoutError):  # socket.timeout as well
        return "timed out"
    if isinstance(exc, EOFError):  # ftplib's word for a server that hung up
        return str(exc) or "the server closed the connection"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, ValueError) and text.startswith("Protocol not known:"):
        protocol = text.partition(":")[2].strip()
        return f"unknown protocol {protocol!r}: no fsspec backend reads it"
    if isinstance(exc, OSError):
        return f"cannot open: {exc.strerror or text or type(exc).__name__}"
    # Odd URLs make backends fail in odd ways (IndexError, TypeError, AttributeError, ...).
    return f"cannot open: {type(exc).__name__}{': ' if text else ''}{text}"


def url_failure(path: str, exc: BaseException) -> ZipfitError:
    """The one-line error for a URL that could not be resolved, opened or read, naming it
    (its password redacted). A backend that is not installed is a usage error naming its
    package (fsspec says "Install s3fs ..."); anything else is bad input."""
    if isinstance(exc, ImportError):
        return UsageError(f"{shown(path)}: {shown(exc)}")
    return InputError(f"{shown(path)}: {shown(failure(exc))}")


class _UrlFile(io.BufferedReader):
    """A buffered file opened through fsspec that holds on to its `OpenFile`: for a chained
    URL (zip://a.jsonl::file:///z.zip) the outer file is closed when the filesystem holding
    it is collected, which would happen while the inner file is still being read."""

    def __init__(self, raw: IO[bytes], opened: Any) -> None:
        super().__init__(raw, buffer_size=1 << 20)  # type: ignore[arg-type]
        self._opened = opened


def open_url(path: str) -> IO[bytes]:
    """A URL (or a local path) opened for reading through fsspec, buffered; why it cannot be
    is one line naming it (see url_failure)."""
    fsspec = _fsspec()
    try:
        opened = fsspec.open(path, "rb")
        if _is_directory(opened.fs, opened.path):  # FTP would read it as an empty file
            raise IsADirectoryError(path)
        raw: IO[bytes] = opened.open()
    except Exception as exc:  # fsspec and its backends raise anything: the URL is the input
        raise url_failure(path, exc) from None
    return _UrlFile(raw, opened)


def _is_directory(fs: Any, inner: str) -> bool:
    """Whether a filesystem says `inner` is a directory; a backend that cannot say (data://,
    a plain web server) leaves it to opening."""
    try:
        return fs.info(inner).get("type") == "directory"  # type: ignore[no-any-return]
    except Exception:  # fsspec and its backends raise anything: opening will tell why
        return False


def file_size(path: str) -> int | None:
    """Bytes of a local file or a URL; None for stdin, or when the size cannot be known."""
    try:
        return input_file_size(path)
    except ZipfitError:
        return None


def input_file_size(path: str) -> int | None:
    """Bytes of one input: None for stdin, or a URL whose backend cannot tell (data://);
    a missing local file, or a URL that cannot be reached, is an error saying why."""
    if path == STDIN:
        return None
    if not is_url(path):
        try:
            if os.path.isdir(path):  # a saved dataset (arrow.py): the files in it, for progress
                inside = (os.path.join(path, name) for name in os.listdir(path))
                return sum(os.path.getsize(f) for f in inside if os.path.isfile(f))
            return os.path.getsize(path)
        except OSError:
            raise InputError(f"{shown(path)}: no such file") from None
    fs, inner = url_to_fs(path)
    try:
        info = fs.info(inner)
    except (OSError, EOFError) as exc:
        raise url_failure(path, exc) from None
    except Exception:  # a backend that cannot say (data:// has no info): opening will tell
        return None
    return int(info.get("size") or 0)


def url_to_fs(path: str) -> tuple[Any, str]:
    """(fsspec filesystem, path within it) of a URL; why there is none is one line (url_failure)."""
    fsspec = _fsspec()
    try:
        fs, inner = fsspec.core.url_to_fs(path)
    except Exception as exc:  # fsspec and its backends raise anything: the URL is the input
        raise url_failure(path, exc) from None
    return fs, inner


def expand_paths(paths: Sequence[str]) -> list[str]:
    """Paths with their globs expanded, in order (each glob's matches sorted): local globs,
    and URL globs (s3://bucket/part-*.jsonl.zst) through fsspec. A glob matching nothing is
    an error; a file whose name merely contains glob characters is taken as it is."""
    expanded: list[str] = []
    for path in paths:
        if path == STDIN or not any(c in path for c in "*?[") or (not is_url(path) and os.path.exists(path)):
            expanded.append(path)
            continue
        found = [url for url, _ in url_glob(path)] if is_url(path) else sorted(glob.glob(path))
        if not found:
            raise InputError(f"{shown(path)}: no file matches")
        expanded += found
    return expanded


def url_glob(pattern: str) -> list[tuple[str, str]]:
    """(URL, path within its filesystem) of every file a URL glob matches, sorted; a glob that
    cannot be run is one line naming it (url_failure)."""
    fs, inner = url_to_fs(pattern)
    try:
        found = sorted(fs.glob(inner))
    except Exception as exc:  # fsspec and its backends raise anything: the URL is the input
        raise url_failure(pattern, exc) from None
    return [(matched_url(pattern, inner, match, fs), match) for match in found]


def matched_url(pattern: str, inner: str, match: str, fs: Any) -> str:
    """The URL of `match`, a path a URL glob's filesystem found for its `inner` pattern.

    A filesystem's paths drop what its URL carried (host, port, user and password of
    ftp://alice:pw@host:2121/x*.jsonl; the outer links of zip://*.jsonl::s3://b/z.zip), so a
    match is put back into the glob as the user wrote it: the part a match adds to the
    pattern's directory goes after that directory as written. Whatever the protocol, the
    rest of the URL is kept as given.
    """
    head, chain, outer = pattern.partition("::")
    head_glob, inner_glob = _first_glob(head), _first_glob(inner)
    if head_glob < len(head) and inner_glob < len(inner):
        written = head[: head.rfind("/", 0, head_glob) + 1]
        spelled = inner[: inner.rfind("/", 0, inner_glob) + 1]
        if match.startswith(spelled) and written:
            return f"{written}{match[len(spelled) :]}{chain}{outer}"
    return str(fs.unstrip_protocol(match))


def _first_glob(text: str) -> int:
    """Index of the first glob character in `text`; len(text) when it has none."""
    return min((i for i in (text.find(c) for c in "*?[") if i >= 0), default=len(text))


def input_size(paths: list[str]) -> int | None:
    """Total bytes on disk of the inputs, or None when one of them is stdin or of unknown size;
    a missing or unreachable input is an error saying why."""
    total: int | None = 0
    for path in paths:
        if path == STDIN:
            return None
        size = input_file_size(path)  # every input is checked, even once the total is unknown
        total = None if total is None or size is None else total + size
    return total


def input_stats(sources: list[str]) -> list[dict[str, Any] | None]:
    """Size and modification time of each local input file (None for stdin and pipes), so a
    merge can refuse parts made before and after an input changed.
    """
    found: list[dict[str, Any] | None] = []
    for path in sources:
        try:
            info = os.stat(path) if path != STDIN else None
        except OSError:
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            found.append(None)
        else:
            found.append({"path": path, "size": info.st_size, "mtime_ns": info.st_mtime_ns})
    return found


def distinct_sources(paths: Sequence[str]) -> tuple[list[str], list[str]]:
    """The sources with every repeat of a file left out (the first naming keeps its place),
    and a warning for each repeat. A file is the same whether it is named again, matched by a
    second glob, reached through a symbolic or hard link or spelled `./x` for `x`; remote
    URLs are the same when they are spelled the same. Reading it twice would count and score
    its records twice; left out, the run is the run with the repeat not named at all, so
    file numbers, record keys and shards are that run's (shards dedupe alike and agree)."""
    kept: list[str] = []
    seen: dict[object, str] = {}
    warnings: list[str] = []
    for path in paths:
        key = _file_key(path)
        if key in seen:
            first = seen[key]
            also = "" if first == path else f" (as {shown(first)})"
            warnings.append(f"{shown(path)} is named twice{also}; it is read once")
            continue
        seen[key] = path
        kept.append(path)
    return kept, warnings


def _file_key(path: str) -> object:
    """What makes two source names one file: (device, inode) of a local file."""
    local = path
    if is_url(path):
        scheme, _, rest = path.partition("://")
        if scheme not in ("file", "local") or "::" in path:  # members of one archive differ
            return ("url", path)
        local = rest
    if path == STDIN:  # never one file with another: stdin twice is refused (options.check)
        return object()
    try:
        info = os.stat(local)
    except OSError:  # missing: reading it will say so
        return ("path", os.path.normpath(os.path.abspath(local)))
    return (info.st_dev, info.st_ino)

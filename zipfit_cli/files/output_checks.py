"""Outputs checked before a run reads anything: none is an input, none exists without
--force, no two are one file, each can be written.

Inputs are only ever read: every file a command reads (sources, targets, backgrounds,
parts) is compared with every file it writes (-o, --report, --contaminated-output), by
resolved path and, where both exist, by device and inode (symbolic and hard links alike).
`file://` URLs, the local end of a chained URL and globs are resolved to the files they name;
stdin (`-`) counts as the file it is open on when that is a regular file.
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Sequence

from ..base.errors import OutputError, OutputExistsError, UsageError, shown
from .destinations import descriptor_of, identity, is_special
from .locations import STDIN, is_url

_GLOB = "*?["
# A record of one input file: what the user named, its resolved path, its (device, inode).
_Input = tuple[str, str, tuple[int, int] | None]


def check_outputs(outputs: Sequence[str], inputs: Sequence[str], force: bool) -> None:
    """The check every command makes before it writes: see the module docstring."""
    if list(outputs).count(STDIN) > 1:
        raise UsageError("only one of -o, --report and --contaminated-output can be stdout (-)")
    _check_distinct(outputs)
    files = _input_files(inputs)
    for path in outputs:
        _check_output(path, files, force)


def local_file(name: str) -> str | None:
    """The local file an input name reads, or None for stdin and remote URLs: the path
    itself, a `file://` (or `local://`) URL's path, or the last link of a chain
    (`zip://x.jsonl::file:///data/z.zip` reads /data/z.zip)."""
    if name == STDIN:
        return None
    if not is_url(name):
        return name
    last = name.split("::")[-1]
    scheme, sep, rest = last.partition("://")
    if not sep:
        return last  # a chain ending in a plain path: fsspec reads it from the local disk
    return rest if scheme in ("file", "local") else None


def _input_files(inputs: Sequence[str]) -> list[_Input]:
    found: list[_Input] = []
    for name in inputs:
        if name == STDIN and _is_regular(0):
            # `< file.jsonl` reads a file like any other: its path and inode are fd 0's.
            info = os.fstat(0)
            found.append((name, os.path.realpath("/proc/self/fd/0"), (info.st_dev, info.st_ino)))
            continue
        path = local_file(name)
        if path is None:
            continue
        matches = glob.glob(path) if any(c in path for c in _GLOB) and not os.path.lexists(path) else [path]
        for match in matches:
            found.append((name, os.path.realpath(match), identity(match)))
            if os.path.isdir(match):  # a saved dataset (arrow.py): the files in it are read too
                inside = (os.path.join(match, entry) for entry in sorted(os.listdir(match)))
                found += [(name, os.path.realpath(f), identity(f)) for f in inside if os.path.isfile(f)]
    return found


def _check_output(path: str, inputs: list[_Input], force: bool) -> None:
    """Refuse an output that is one of the inputs, or that exists without --force."""
    if path == STDIN or is_special(path):
        # Only a regular file can be an input: stdout or a descriptor the shell opened on one.
        written = identity(path)
        fd = descriptor_of(path) if path != STDIN else 1
        if fd is not None and written is not None and _is_regular(fd):
            _refuse_input(path, os.path.realpath(f"/proc/self/fd/{fd}"), written, inputs)
        return
    if path.endswith("/") and not os.path.isdir(path):
        # realpath() would drop the slash and write a file named like the missing directory.
        raise UsageError(f"output {shown(path)} ends with '/' but is not a directory; give a file name")
    real = os.path.realpath(path)  # a link is written through
    _refuse_input(path, real, identity(real), inputs)
    if os.path.exists(real) and stat.S_ISBLK(os.stat(real).st_mode):
        raise UsageError(f"output {shown(real)} is a block device; give a file, a pipe or a character device")
    if os.path.isdir(real):
        raise UsageError(f"output {shown(real)} is a directory; give a file name")
    if os.path.exists(real) and not force:
        raise OutputExistsError(f"output {shown(real)} exists; use --force to replace it")
    parent = os.path.dirname(os.path.abspath(real))
    if not os.path.isdir(parent):
        raise OutputError(f"cannot write {shown(real)}: directory {shown(parent)} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {shown(real)}: directory {shown(parent)} is not writable")


def _is_regular(fd: int) -> bool:
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


def _refuse_input(path: str, real: str, written: tuple[int, int] | None, inputs: list[_Input]) -> None:
    for name, input_real, read in inputs:
        if real == input_real or (written is not None and written == read):
            raise UsageError(
                f"output {shown(path)} is also an input ({shown(name)}); inputs are only ever read: "
                "choose another output path"
            )


def _check_distinct(paths: Sequence[str]) -> None:
    """Refuse two outputs that write to one file or stream: `--report /dev/stdout` while the
    records go to stdout mixes the two, as `--report -` would. /dev/null takes any number.
    """
    null = identity(os.devnull)
    seen: dict[object, str] = {}
    for path in paths:
        key: object = identity(path) or os.path.realpath(path)
        if key == null:
            continue
        if key in seen:
            raise UsageError(
                f"outputs {shown(seen[key])} and {shown(path)} are the same file or stream; "
                "-o, --report and --contaminated-output must each go somewhere else"
            )
        seen[key] = path

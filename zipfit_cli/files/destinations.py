"""What an output path names: this process's stdout, an open descriptor's name, a device,
FIFO or socket (all written in place), or a file (written atomically by output.Output)."""

from __future__ import annotations

import os
import re
import stat

from .locations import STDIN

_DESCRIPTOR_NAME = re.compile(r"/dev/fd/(\d+)|/proc/self/fd/(\d+)|/proc/(\d+)/fd/(\d+)")


def descriptor_of(path: str) -> int | None:
    """The descriptor a path names (/dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N), if any.

    Such a name is written through the descriptor itself: `-o /dev/stdout` then goes wherever
    stdout goes, a pipe, a terminal or a file the shell opened with `>` or `>>`.
    """
    name = os.path.normpath(os.path.abspath(path))
    if name in ("/dev/stdout", "/dev/stderr"):
        return 1 if name == "/dev/stdout" else 2
    match = _DESCRIPTOR_NAME.fullmatch(name)
    if match is None:
        return None
    if match.group(3) is not None:  # /proc/PID/fd/N: a descriptor only when PID is this process
        return int(match.group(4)) if int(match.group(3)) == os.getpid() else None
    return int(match.group(1) or match.group(2))


def is_special(path: str) -> bool:
    """Written in place, not atomically: an open descriptor's name, a character device, a FIFO
    or a socket. Decided by `stat`, not by where the path is: /dev/shm holds ordinary files.
    """
    if descriptor_of(path) is not None:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of what an output path would write to, when it exists."""
    try:
        if path == STDIN:
            info = os.fstat(1)
        else:
            fd = descriptor_of(path)
            info = os.fstat(fd) if fd is not None else os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino

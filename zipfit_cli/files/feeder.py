"""Lines of an input that can stall (stdin, a pipe, a FIFO, a terminal), read by a thread.

On such an input the reader blocks inside the line iterator until more bytes come, so a
part-filled batch would wait for the rest of its records (`tail -f log.jsonl | zipfit
score -` would show nothing for minutes). A thread reads the lines and hands them over; the
batch cutter waits for them with a timeout and hears of a pause (None) once the input has
been quiet for `quiet` seconds. Regular files never stall and are read directly, so their
batch cuts stay exact.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from .locations import STDIN, is_url
from .reading import LongLine

QUIET = 0.2  # seconds without a new line after which a part-filled batch is sent on
_WAIT = 1.0  # seconds per wait once paused (a signal ends a wait anyway; this only bounds it)

Line = tuple[int, bytes]


def can_stall(path: str) -> bool:
    """The input may keep the reader waiting for more bytes: stdin, a FIFO, a character
    device or a socket (by `stat`). Regular files, directories, URLs: no."""
    if is_url(path):
        return False
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode if path == STDIN else os.stat(path).st_mode
    except (OSError, ValueError, AttributeError):  # no real stdin (a test runner's), or no file
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)


class Feed:
    """Iterates the `(number, line)` items of `lines`, read by a daemon thread, with None
    after each spell of `quiet` seconds without a new item. At most about `room` bytes of
    lines wait in between. Close it with `close(closer)`: the source is closed by whichever
    side is last, never while the thread is blocked reading it.
    """

    def __init__(self, lines: Iterable[Line], quiet: float = QUIET, room: int = 8 << 20) -> None:
        self._quiet, self._room = quiet, room
        self._cond = threading.Condition()
        self._items: deque[Line] = deque()
        self._held = 0  # line bytes in _items
        self._hold = False  # an unmeasured long line was handed over: read on only if asked
        self._done = False  # the thread has ended
        self._stop = False  # the consumer has gone
        self._error: BaseException | None = None
        self._closer: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._read, args=(lines,), name="zipfit-feed", daemon=True)
        self._thread.start()

    def _read(self, lines: Iterable[Line]) -> None:
        try:
            for item in lines:
                with self._cond:
                    if not self._items:
                        self._cond.notify()  # the consumer waits only on an empty queue
                    self._items.append(item)
                    self._held += len(item[1])
                    # Such a line may end the run; reading on would skip the rest of a
                    # line that may have no end (/dev/zero).
                    self._hold = isinstance(item[1], LongLine) and not item[1].measured
                    while (self._held >= self._room or self._hold) and not self._stop:
                        self._cond.wait()
                    if self._stop:
                        return
        except BaseException as exc:  # raised on the consumer's side, where it is handled
            with self._cond:
                self._error = exc
        finally:
            with self._cond:
                self._done = True
                self._cond.notify()
                closer = self._closer
            if closer is not None:
                closer()

    def __iter__(self) -> Iterator[Line | None]:
        timeout: float | None = self._quiet  # None: paused already, wait on without pausing
        release = False  # the long line the thread waits after was handed on
        while True:
            with self._cond:
                if release:  # back for more: that line did not end the run
                    self._hold = release = False
                    self._cond.notify()
                ready = self._cond.wait_for(self._ready, _WAIT if timeout is None else timeout)
                chunk = list(self._items)
                self._items.clear()
                self._held = 0
                self._cond.notify()  # room again
                release = release or (self._hold and bool(chunk))
                error = self._error
            if not ready:
                if timeout is not None:
                    yield None
                timeout = None
            elif not chunk:  # the thread has ended and everything it read was handed on
                if error is not None:
                    raise error
                return
            else:
                timeout = self._quiet
                yield from chunk

    def _ready(self) -> bool:
        return bool(self._items) or self._done

    def close(self, closer: Callable[[], None]) -> None:
        """Stop reading; `closer` (the source's close) runs now if the thread has ended,
        else when it does (it may be blocked on a read that only more input ends)."""
        with self._cond:
            self._stop = True
            self._cond.notify()
            if not self._done:
                self._closer = closer
                return
        closer()

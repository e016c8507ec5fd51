"""feeder.py: lines read by a thread, a pause when the input goes quiet, and closing safely."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from zipfit_cli.files.feeder import Feed, Line, can_stall
from zipfit_cli.files.reading import LongLine

DEADLINE = 30  # seconds: a hang, not a slow machine


def _gated(lines: list[Line], go: threading.Event, after: int) -> Iterator[Line]:
    """`lines`, stalling after the first `after` of them until `go` is set."""
    for n, item in enumerate(lines):
        if n == after:
            assert go.wait(DEADLINE)
        yield item


def test_a_quiet_input_gives_one_pause_then_the_rest_in_order() -> None:
    lines = [(n, b"line %d\n" % n) for n in range(1, 6)]
    go = threading.Event()
    feed = iter(Feed(_gated(lines, go, 2), quiet=0.05))
    seen = [next(feed), next(feed)]
    assert next(feed) is None  # quiet: the two lines read so far were handed on before it
    go.set()
    seen.extend(feed)
    assert seen == lines  # one pause per quiet spell, nothing lost or reordered


def test_a_read_error_is_raised_on_the_reading_side_after_the_lines_before_it() -> None:
    def failing() -> Iterator[Line]:
        yield 1, b"a\n"
        raise OSError("the disk went away")

    feed = iter(Feed(failing(), quiet=5))
    assert next(feed) == (1, b"a\n")
    with pytest.raises(OSError, match="the disk went away"):
        next(feed)


def test_closing_while_the_thread_is_blocked_closes_the_source_only_when_it_returns() -> None:
    go = threading.Event()
    closed = threading.Event()
    lines = [(1, b"a\n"), (2, b"b\n")]
    feed = Feed(_gated(lines, go, 1), quiet=0.05)
    assert next(iter(feed)) == (1, b"a\n")
    feed.close(closed.set)  # returns at once: the thread is still waiting for input
    assert not closed.is_set()
    go.set()
    assert closed.wait(DEADLINE)  # the thread, done with its read, closed the source


def test_closing_after_the_end_closes_the_source_at_once() -> None:
    feed = Feed(iter([(1, b"a\n")]), quiet=5)
    assert list(feed) == [(1, b"a\n")]
    closed: list[bool] = []
    feed.close(lambda: closed.append(True))
    assert closed == [True]


def test_lines_wait_in_bounded_room() -> None:
    """The thread stops reading while `room` bytes of lines wait for the consumer."""
    read: list[int] = []

    def counted() -> Iterator[Line]:
        for n in range(1, 101):
            read.append(n)
            yield n, b"x" * 99 + b"\n"

    feed = iter(Feed(counted(), quiet=5, room=1000))
    assert next(feed) == (1, b"x" * 99 + b"\n")
    # The consumer took what was there (10 lines at most); the thread fills the room
    # again (10 lines), reads one more, and waits.
    threading.Event().wait(0.3)
    assert len(read) <= 21, read
    assert len(list(feed)) == 99


def test_an_unmeasured_long_line_is_not_read_past_unless_asked() -> None:
    """Such a line may end the run; reading on would skip the rest of a line that may have
    no end (/dev/zero), so the thread waits until the consumer comes back for more."""
    read_past = threading.Event()

    def endless() -> Iterator[Line]:
        yield 1, LongLine(100, 10, measured=False)
        read_past.set()
        yield 2, b"b\n"

    feed = Feed(endless(), quiet=DEADLINE)
    items = iter(feed)
    first = next(items)
    assert first is not None and first[0] == 1 and isinstance(first[1], LongLine)
    assert not read_past.wait(0.3)
    assert next(items) == (2, b"b\n")  # back for more: the thread reads on, with no pause
    assert read_past.is_set()


def test_only_inputs_that_can_stall_are_fed(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"{}\n")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert not can_stall(str(path))
    assert not can_stall(str(tmp_path))
    assert not can_stall("https://example.com/x.jsonl")
    assert not can_stall(str(tmp_path / "missing.jsonl"))
    assert can_stall(str(fifo))
    assert can_stall("/dev/zero")
    read, write = os.pipe()
    saved = sys.stdin
    try:
        with os.fdopen(read, "rb") as piped:
            sys.stdin = piped  # type: ignore[assignment]
            assert can_stall("-")
        with open(path, "rb") as redirected:  # zipfit - < file.jsonl: a regular file
            sys.stdin = redirected  # type: ignore[assignment]
            assert not can_stall("-")
    finally:
        sys.stdin = saved
        os.close(write)

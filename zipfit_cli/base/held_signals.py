"""Stretches of work a stop signal must not cut in two.

Starting a worker process is one: if Ctrl-C or SIGTERM lands between the moment the
forkserver forks the worker and the moment the pool records it, nobody stops that worker,
and it fails at unpickling (its semaphores gone with the parent) with a traceback on the
user's stderr. Inside `signals_held()`, the CLI's handlers hand their action here instead
of raising; it runs (raises) as soon as the stretch ends. The handlers run in the main
thread only, so a plain module-level counter is enough.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

_depth = 0
_held: list[Callable[[], None]] = []


@contextmanager
def signals_held() -> Iterator[None]:
    """Stop signals that arrive inside are acted on when it ends (the first one only)."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _held:
            action = _held[0]
            _held.clear()
            action()


def run_or_hold(action: Callable[[], None]) -> None:
    """Run `action` now, or when the current `signals_held()` stretch ends."""
    if _depth:
        _held.append(action)
    else:
        action()

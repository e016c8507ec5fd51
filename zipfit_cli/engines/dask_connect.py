"""Reaching a Dask scheduler (--scheduler) within --connect-timeout, or one line saying why not.

distributed bounds the TCP connect with its timeout but waits for the scheduler's greeting
without one: a server that accepts and never answers would hang zipfit for ever. So a
tcp:// scheduler is first asked for its greeting on a plain socket, within the timeout;
the Client that follows bounds everything after that with the same timeout. Dask is
imported only inside functions: it is an optional extra.
"""

from __future__ import annotations

import asyncio
import importlib
import socket
import time
from typing import Any

from ..base.errors import ZipfitError, shown

DEFAULT_CONNECT_TIMEOUT = 10.0  # seconds; --connect-timeout


def connect(address: str, timeout: float) -> Any:
    """A `distributed.Client` of the scheduler at `address`, connected in about `timeout` s."""
    distributed = importlib.import_module("distributed")
    _probe(address, timeout)
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except asyncio.TimeoutError:  # not an OSError on Python 3.10
        raise _unreachable(address, f"no answer within {timeout:g} s", timed_out=True) from None
    except (OSError, ValueError) as exc:
        timed_out = isinstance(exc, TimeoutError) or "Timed out" in str(exc)
        raise _unreachable(address, str(exc), timed_out=timed_out) from None


def _probe(address: str, timeout: float) -> None:
    """Wait (at most `timeout` s) for the first byte a tcp:// scheduler sends on a new
    connection, its handshake; other transports (tls://, ...) are left to the Client."""
    comm = importlib.import_module("distributed.comm")
    scheme, location = comm.parse_address(address)
    if scheme != "tcp":
        return
    host, port = comm.parse_host_port(location)
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            greeting = sock.recv(1)
    except TimeoutError:  # socket.timeout too
        raise _unreachable(address, f"no answer within {timeout:g} s", timed_out=True) from None
    except ConnectionRefusedError:
        raise _unreachable(address, "connection refused") from None
    except OSError as exc:
        raise _unreachable(address, exc.strerror or str(exc)) from None
    if not greeting:
        raise _unreachable(address, "it closed the connection without a word (is it a Dask scheduler?)")


def _unreachable(address: str, reason: str, *, timed_out: bool = False) -> ZipfitError:
    return ZipfitError(
        f"cannot reach the Dask scheduler at {shown(address)}: {reason}; "
        "check --scheduler (or DASK_SCHEDULER_ADDRESS)",
        setting="connect_timeout" if timed_out else None,
    )

"""A stop signal inside signals_held() waits for the stretch to end, then stops the run as
it would have (exits._on_signal/_on_interrupt), once."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from zipfit_cli.base.errors import Terminated
from zipfit_cli.base.held_signals import signals_held
from zipfit_cli.cli import exits


@pytest.fixture
def handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    exits.install_signal_handlers()
    try:
        yield
    finally:
        exits._stopping = False
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def test_a_signal_inside_waits_for_the_end(handlers: None) -> None:
    reached = []
    with pytest.raises(Terminated), signals_held():
        os.kill(os.getpid(), signal.SIGTERM)
        reached.append("after the signal")  # the handler ran here, and held its action
    assert reached == ["after the signal"]


def test_only_the_first_of_many_acts(handlers: None) -> None:
    with pytest.raises(KeyboardInterrupt), signals_held():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        with signals_held():  # nested: the outer end acts
            os.kill(os.getpid(), signal.SIGTERM)


def test_outside_a_signal_acts_at_once(handlers: None) -> None:
    with pytest.raises(Terminated):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("not stopped at once")

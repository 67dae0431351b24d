"""Stop signals set a flag and arm a deadline; the handlers before them come back afterwards.

What a second signal and the deadline do (exit at once) is tested with real processes in
tests/faults/test_store.py.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest

from feedgen.stopping import StopSignals


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_sets_the_flag_and_arms_the_deadline(number: signal.Signals) -> None:
    stop = threading.Event()
    with StopSignals(stop, grace=3600) as signals:
        os.kill(os.getpid(), number)
        assert stop.wait(10)
    assert signals.received == number and signals.exit_code == 128 + number
    assert signals.deadline is not None and signals.deadline.is_alive()
    signals.deadline.cancel()


def test_the_previous_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with StopSignals(threading.Event(), grace=3600):
        assert signal.getsignal(signal.SIGTERM) != before[0]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before

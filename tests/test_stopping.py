"""Stop signals set a flag and arm a deadline; the handlers before them come back afterwards.

Work waited for in steps hears of signals wherever they land. What a second signal and the
deadline do (exit at once) is tested with real processes in tests/faults/test_store.py.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from feedgen.stopping import StopSignals, wait_in_steps


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


def test_a_signal_on_another_thread_is_handled_while_the_main_thread_waits_in_steps() -> None:
    handled = threading.Event()
    previous = signal.signal(signal.SIGUSR1, lambda *_: handled.set())

    def work() -> bool:
        time.sleep(0.5)  # the main thread is waiting by now
        signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
        return handled.wait(10)  # the handler runs on the main thread, or not at all

    try:
        assert wait_in_steps(work, name="work")
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_what_the_work_returns_comes_back() -> None:
    assert wait_in_steps(lambda: 42, name="work") == 42


def test_what_the_work_raises_is_raised_on_the_main_thread() -> None:
    def work() -> None:
        raise ValueError("activity 451: meeting has no start time")

    with pytest.raises(ValueError, match="activity 451"):
        wait_in_steps(work, name="work")

"""Stopping on SIGTERM and SIGINT: a flag the running job reads, and a bound on how long it takes.

A signal handler does nothing but set the flag: the job finishes the batch in hand, records it and
returns, and the process exits in its own time. Nothing is shut down or closed under a running job.

The kernel hands a signal sent to the process to any of its threads that does not block it, and
Python runs the handler only when the main thread next runs Python code. A main thread that sits
in an untimed wait (a join, a future's result) while the signal landed on an upload thread would
never run it: whatever a stop waits for runs through ``wait_in_steps``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any, TypeVar

log = logging.getLogger("feedgen.worker")

SIGNALS = (signal.SIGTERM, signal.SIGINT)
STEP_SECONDS = 0.2  # the longest a signal that landed on another thread waits for its handler

T = TypeVar("T")


def wait_in_steps(work: Callable[[], T], name: str) -> T:
    """Run ``work`` on a thread of its own while the main thread waits in short steps.

    Returns what ``work`` returns and raises what it raises. Between steps the main thread runs the
    handlers of the signals that came meanwhile, whichever thread the kernel gave them to.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # raised again on the main thread
            failure.append(exc)

    thread = threading.Thread(target=run, name=name)
    thread.start()
    while thread.is_alive():
        thread.join(STEP_SECONDS)
    if failure:
        raise failure[0]
    return outcome[0]


class StopSignals:
    """While installed, SIGTERM and SIGINT set ``event``.

    A second signal, or a stop that takes longer than ``grace`` seconds from the first, ends the
    process at once with 128 + the first signal's number, as a shell reports a process killed by
    it. That is as safe as kill -9: a batch that was not recorded is built again by the next run.
    """

    def __init__(self, event: threading.Event, grace: float) -> None:
        self.event = event
        self.grace = grace
        self.received: signal.Signals | None = None
        self.deadline: threading.Timer | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> StopSignals:
        for number in SIGNALS:
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The deadline stays armed: threads may still hold the process up after this point.
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    @property
    def exit_code(self) -> int:
        """What a forced stop exits with: 128 + the signal's number (143 SIGTERM, 130 SIGINT)."""
        return 128 + (self.received or signal.SIGTERM)

    def _handle(self, number: int, _frame: FrameType | None) -> None:
        if self.received is not None:
            self.force(f"second signal ({signal.Signals(number).name})")
        self.received = signal.Signals(number)
        self.event.set()
        self.deadline = threading.Timer(
            self.grace, self.force, args=(f"the stop took longer than {self.grace:g} s",)
        )
        self.deadline.daemon = True
        self.deadline.name = "stop-deadline"
        self.deadline.start()

    def force(self, why: str) -> None:
        # Logging takes locks another thread may hold (one stuck writing to a full pipe): the
        # exit must not wait on them for long.
        fallback = threading.Timer(2.0, os._exit, args=(self.exit_code,))
        fallback.daemon = True
        fallback.start()
        log.error(
            "%s: exiting at once with %d; what the running job did not record is built again "
            "by the next run",
            why,
            self.exit_code,
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(self.exit_code)

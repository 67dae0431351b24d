"""Stopping on SIGTERM and SIGINT: a flag the running job reads, and a bound on how long it takes.

A signal handler does nothing but set the flag: the job finishes the batch in hand, records it and
returns, and the process exits in its own time. Nothing is shut down or closed under a running job.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

log = logging.getLogger("feedgen.worker")

SIGNALS = (signal.SIGTERM, signal.SIGINT)


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

"""Wake-ups: a PostgreSQL ``NOTIFY feedgen`` runs the cycle at once (``worker.listen``).

The CRM's triggers (``feedgen/crm/notify.sql``) notify at every commit that touches the tables
feedgen reads. A daemon thread holds one connection of its own that LISTENs, waits on its socket
and hands each notification to a ``Waker``, which moves the cycle job's next run to now. The
interval stays as it was: a notification lost (the listener reconnecting, a CRM without the
triggers) costs at most one interval, as without listening.

A burst of saves is one cycle: the cycle starts once no notification came for
``DEBOUNCE_SECONDS``, or ``LONGEST_WAIT_SECONDS`` after the first one if saves keep coming.
Notifications that come while a cycle runs (its detection may have read the CRM before their
commit) make one follow-up cycle, however many they are.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

import sqlalchemy as sa
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import BaseScheduler

from feedgen.logs import describe_failure

log = logging.getLogger("feedgen.worker")

CHANNEL = "feedgen"
DEBOUNCE_SECONDS = 0.2
LONGEST_WAIT_SECONDS = 1.0
# Waits between attempts to listen again after the connection was lost, the last one repeated.
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# How often the listening thread looks at its stop flag while the channel is quiet.
POLL_SECONDS = 1.0
APPLICATION_NAME = "feedgen wake-up"


class Waker:
    """Runs the scheduler's job ``job_id`` soon after ``notify``: once per burst, once more for
    whatever came while it ran. Wraps the job's function to know when it runs."""

    def __init__(
        self,
        scheduler: BaseScheduler,
        job_id: str = "cycle",
        debounce: float = DEBOUNCE_SECONDS,
        longest_wait: float = LONGEST_WAIT_SECONDS,
    ) -> None:
        self.scheduler = scheduler
        self.job_id = job_id
        self.debounce = debounce
        self.longest_wait = longest_wait
        self._lock = threading.Lock()
        self._first: float | None = None  # the first notification the next run answers
        self._running = False
        self._again = False  # notified while running: one more run when it ends
        job = scheduler.get_job(job_id)
        if job is None:
            raise LookupError(f"the scheduler has no job {job_id!r}")
        scheduler.modify_job(job_id, func=self._watch(job.func))

    def notify(self) -> None:
        now = time.monotonic()
        with self._lock:
            if self._running:
                self._again = True
                return
            if self._first is None:
                self._first = now
            wait = min(self.debounce, self._first + self.longest_wait - now)
        self._wake(max(wait, 0.0))

    def _watch(self, func: Callable[[], Any]) -> Callable[[], Any]:
        @wraps(func)
        def run() -> Any:
            with self._lock:
                self._first, self._running = None, True
            try:
                return func()
            finally:
                with self._lock:
                    again, self._again, self._running = self._again, False, False
                if again:
                    self.notify()

        return run

    def _wake(self, wait: float) -> None:
        when = datetime.now(UTC) + timedelta(seconds=wait)
        with suppress(JobLookupError):  # the scheduler is shutting down
            self.scheduler.modify_job(self.job_id, next_run_time=when)


class Listener:
    """A daemon thread that LISTENs on ``channel`` over a connection of ``engine``'s (taken out
    of its pool) and calls ``on_notify`` for each wake-up; it reconnects for as long as it runs,
    logging one WARNING when the connection is lost and one INFO line when it is back."""

    def __init__(
        self, engine: sa.Engine, on_notify: Callable[[], None], channel: str = CHANNEL
    ) -> None:
        self.engine = engine
        self.on_notify = on_notify
        self.channel = channel
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feedgen-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.stopping.set()
        self._thread.join(timeout=POLL_SECONDS + 1)

    def _run(self) -> None:
        lost_at: float | None = None
        attempt = 0
        while not self.stopping.is_set():
            try:
                connection = self._connect()
            except Exception as exc:  # the database is away: wait and try again
                lost_at = self._lost(lost_at, exc)
                self.stopping.wait(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
                attempt += 1
                continue
            try:
                if lost_at is not None:
                    log.info(
                        "listening for NOTIFY %s again after %.0fs", self.channel, _since(lost_at)
                    )
                    self.on_notify()  # what changed meanwhile was not notified to us
                else:
                    log.info("listening for NOTIFY %s: changes wake the cycle", self.channel)
                lost_at, attempt = None, 0
                self._listen(connection)
            except Exception as exc:
                lost_at = self._lost(lost_at, exc)
            finally:
                _close(connection)

    def _connect(self) -> Any:
        """A psycopg2 connection of the engine's, out of its pool: this thread's while it listens
        (a detached connection is closed by whoever holds it, and closing never resets it)."""
        pooled = self.engine.raw_connection()
        pooled.detach()
        connection: Any = pooled.dbapi_connection
        try:
            connection.autocommit = True  # LISTEN takes effect at once; no transaction stays open
            with connection.cursor() as cursor:
                # pg_stat_activity shows what this connection is for.
                cursor.execute("SET application_name = %s", (APPLICATION_NAME,))
                cursor.execute(f'LISTEN "{self.channel}"')
        except Exception:
            _close(connection)
            raise
        return connection

    def _listen(self, connection: Any) -> None:
        """Wait on the socket; return when stopping, raise when the connection is lost."""
        while not self.stopping.is_set():
            readable, _, _ = select.select([connection], [], [], POLL_SECONDS)
            if not readable:
                continue
            connection.poll()  # raises when the server closed the connection
            if connection.notifies:
                connection.notifies.clear()
                self.on_notify()

    def _lost(self, lost_at: float | None, exc: Exception) -> float:
        if lost_at is not None:  # the same outage: one line is enough
            return lost_at
        log.warning(
            "not listening for NOTIFY %s: %s (trying again; cycles still come every interval)",
            self.channel,
            describe_failure(exc),
        )
        return time.monotonic()


def listen_for_changes(engine: sa.Engine, scheduler: BaseScheduler) -> Listener:
    """Start listening: each notification wakes the scheduler's cycle job."""
    listener = Listener(engine, Waker(scheduler).notify)
    listener.start()
    return listener


def _since(moment: float) -> float:
    return time.monotonic() - moment


def _close(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # already broken: nothing to release
        log.debug("closing the listening connection failed", exc_info=True)

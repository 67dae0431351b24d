"""Liveness: each worker's heartbeat and the results of the last runs, for ``feedgen status``.

A worker writes its row of ``feedgen_workers`` when it starts, refreshes ``seen_at`` every
HEARTBEAT_SECONDS from a thread of its own (so a long reconcile does not look like a dead worker),
and records each job in ``feedgen_runs``. While the database is away, records wait in memory and
go in with the first write that succeeds: the failed jobs of an outage show once it is over.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from ..model import utc_now
from . import tables as state

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30.0
# A worker not seen for this long is listed as silent: hung, killed, or cut off from the database.
SILENT_AFTER = timedelta(minutes=2)
# Workers seen within this are listed; rows and runs older than the KEEP_ ones are deleted.
SHOWN_FOR = timedelta(hours=24)
STOPPED_SHOWN = 5
KEEP_WORKERS = timedelta(days=7)
KEEP_RUNS = timedelta(days=30)
# Runs waiting for the database: the latest ones are kept, an outage of days loses the oldest.
UNRECORDED_RUNS = 100

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Run:
    """One job's result: ``outcome`` is ok, stopped, feeds failed, or failed (nothing done)."""

    kind: str
    started_at: datetime
    seconds: float
    built: int = 0
    uploaded: int = 0
    failed: int = 0
    outcome: str = "ok"
    error: str | None = None


def record_run(conn: Connection, run: Run, runner: str, worker_id: str | None = None) -> None:
    conn.execute(
        insert(state.runs).values(
            worker_id=worker_id,
            runner=runner,
            kind=run.kind,
            started_at=run.started_at,
            seconds=round(run.seconds, 3),
            built=run.built,
            uploaded=run.uploaded,
            failed=run.failed,
            outcome=run.outcome,
            error=run.error[:2000] if run.error else None,
        )
    )


def command_runner() -> str:
    return f"command on {socket.gethostname()} (pid {os.getpid()})"


class Heartbeat:
    """A worker's row: registered by ``start``, refreshed by a thread, closed by ``stop``.

    Only ``start`` may raise; later writes that fail are retried with the next beat, since the
    job that runs meanwhile reports the outage itself.
    """

    def __init__(
        self, engine: Engine, clock: Clock = utc_now, interval: float = HEARTBEAT_SECONDS
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.interval = interval
        self.id = uuid.uuid4().hex[:16]
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.runner = f"worker on {self.host} (pid {self.pid})"
        self.failures = 0
        self._unrecorded: deque[Run] = deque(maxlen=UNRECORDED_RUNS)
        self._lock = threading.Lock()  # the job's thread and the heartbeat's both write
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat_until_done, name="heartbeat", daemon=True)

    def start(self) -> None:
        now = self.clock()
        with self.engine.begin() as conn:
            prune(conn, now)
            conn.execute(
                insert(state.workers).values(
                    id=self.id,
                    host=self.host,
                    pid=self.pid,
                    started_at=now,
                    seen_at=now,
                    failures=0,
                )
            )
        self._thread.start()

    def job_started(self, kind: str) -> None:
        self._write(job=kind, job_started_at=self.clock())

    def job_finished(self, run: Run, record: bool = True) -> None:
        """The job ended; its run is kept for ``status`` unless ``record`` is false (an idle
        cycle every few seconds would bury the runs worth reading)."""
        if run.outcome == "failed":
            self.failures += 1
            last_error = run.error
        else:
            self.failures, last_error = 0, None
        if record:
            with self._lock:
                self._unrecorded.append(run)
        self._write(job=None, job_started_at=None, failures=self.failures, last_error=last_error)

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)  # mid-write on a slow database: the stop does not wait
        self._write(job=None, job_started_at=None, stopped_at=self.clock())

    def beat(self) -> None:
        self._write()

    def _beat_until_done(self) -> None:
        while not self._done.wait(self.interval):
            self.beat()

    def _write(self, **values: object) -> None:
        """Refresh the row (and record waiting runs); a database away costs a DEBUG line."""
        with self._lock:
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        update(state.workers)
                        .where(state.workers.c.id == self.id)
                        .values(seen_at=self.clock(), **values)
                    )
                    for run in self._unrecorded:
                        record_run(conn, run, self.runner, self.id)
                self._unrecorded.clear()
            except SQLAlchemyError as exc:
                log.debug("heartbeat not written: %s", exc)


def prune(conn: Connection, now: datetime) -> None:
    """Forget workers long gone and runs older than KEEP_RUNS."""
    w = state.workers
    conn.execute(delete(w).where(w.c.seen_at < now - KEEP_WORKERS))
    conn.execute(delete(state.runs).where(state.runs.c.started_at < now - KEEP_RUNS))


# --- what status shows ----------------------------------------------------------------------


WORKER_KEYS = (
    "host",
    "pid",
    "started_at",
    "seen_at",
    "stopped_at",
    "job",
    "job_started_at",
    "failures",
    "last_error",
)
RUN_KEYS = ("kind", "runner", "started_at", "seconds", "built", "uploaded", "failed", "outcome")


def status_documents(conn: Connection, now: datetime, runs: int = 10) -> dict[str, Any]:
    """The workers seen within SHOWN_FOR (each with its ``state``: running, failing, silent or
    stopped) and the last ``runs`` runs, as objects for ``status --json``."""
    return {
        "workers": [
            {key: row._mapping[key] for key in WORKER_KEYS} | {"state": _state(row, now)}
            for row in _seen_workers(conn, now)
        ],
        "runs": [
            {key: row._mapping[key] for key in RUN_KEYS} | {"error": row.error}
            for row in _last_runs(conn, runs)
        ],
    }


def _seen_workers(conn: Connection, now: datetime) -> list[Any]:
    w = state.workers
    query = select(w).where(w.c.seen_at >= now - SHOWN_FOR).order_by(w.c.started_at.desc())
    return list(conn.execute(query))


def _last_runs(conn: Connection, runs: int) -> list[Any]:
    r = state.runs
    query = select(r).order_by(r.c.started_at.desc(), r.c.id.desc()).limit(runs)
    return list(conn.execute(query))


def status_lines(conn: Connection, now: datetime, runs: int = 10) -> list[str]:
    """The workers seen within SHOWN_FOR and the last ``runs`` runs, as lines for the CLI."""
    rows = _seen_workers(conn, now)
    states = [_state(row, now) for row in rows]
    counts = ", ".join(
        f"{states.count(name)} {name}"
        for name in ("running", "failing", "silent", "stopped")
        if name in states
    )
    lines = [f"workers: {counts or 'none'} (seen in the last {_ago(SHOWN_FOR)})"]
    # Every worker that may still run; of those that stopped (restarts), the latest few.
    stopped = 0
    for row, name in zip(rows, states, strict=True):
        stopped += name == "stopped"
        if name != "stopped" or stopped <= STOPPED_SHOWN:
            lines.append(f"  {_worker_line(row, name, now)}")
    if stopped > STOPPED_SHOWN:
        lines.append(f"  and {stopped - STOPPED_SHOWN} more that stopped")
    last = _last_runs(conn, runs)
    lines.append(f"last runs: {'none yet' if not last else ''}".rstrip())
    lines += [f"  {_run_line(row)}" for row in last]
    return lines


def _state(row: Any, now: datetime) -> str:
    if row.stopped_at is not None:
        return "stopped"
    if now - row.seen_at > SILENT_AFTER:
        return "silent"
    return "failing" if row.failures else "running"


def _worker_line(r: Any, name: str, now: datetime) -> str:
    """A row of feedgen_workers, in words."""
    head = f"{r.host} pid {r.pid}: {name.upper() if name in ('failing', 'silent') else name}"
    if name == "stopped":
        return f"{head} at {_when(r.stopped_at)}"
    text = f"{head} since {_when(r.started_at)}, seen {_ago(now - r.seen_at)} ago"
    if name == "silent":
        return f"{text}; it never said it stopped: hung, killed, or cut off from the database"
    if r.job:
        text += f", running a {r.job} for {_ago(now - r.job_started_at)}"
    if r.failures:
        text += f"; its last {r.failures} job(s) failed, the last: {r.last_error}"
    return text


def _run_line(r: Any) -> str:
    """A row of feedgen_runs, in words."""
    outcome = f"{r.outcome}: {r.error}" if r.error else r.outcome
    return (
        f"{_when(r.started_at)}  {r.kind:<9} {r.seconds:8.2f}s  "
        f"built {r.built}, uploaded {r.uploaded}, failed {r.failed}  {outcome}  "
        f"({r.runner})"
    )


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _ago(span: timedelta) -> str:
    seconds = max(int(span.total_seconds()), 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"

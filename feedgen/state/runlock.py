"""One worker per SQLite database, and one job at a time on it: locks on files beside the database.

SQLite has no row locks to share the work with, so two workers would each build every feed.
(PostgreSQL workers share it through ``FOR UPDATE SKIP LOCKED`` and take none of these locks.)
The worker holds ``<database>.feedgen-worker.lock`` for its life; each job, the worker's or a
command's (cycle, build, reconcile), holds ``<database>.feedgen-job.lock`` while it runs. They are
flock(2) locks: the kernel drops them with their process, so a killed worker leaves none behind.
The files stay, holding who took the lock last.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from ..errors import Busy, SourceError

# How long a command waits for a running job before it gives up, and how often it looks.
JOB_WAIT_SECONDS = 30.0
POLL_SECONDS = 0.2


class RunLock:
    def __init__(self, database: Path) -> None:
        self.worker_path = database.with_name(f"{database.name}.feedgen-worker.lock")
        self.job_path = database.with_name(f"{database.name}.feedgen-job.lock")

    @classmethod
    def for_url(cls, url: str) -> RunLock | None:
        """The locks of a SQLite database file; None for PostgreSQL or an in-memory database."""
        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
            return None
        return cls(Path(parsed.database).absolute())

    @contextmanager
    def worker(self) -> Iterator[None]:
        """Hold the worker lock, or raise Busy naming the worker that holds it."""
        with _locked(self.worker_path, "a worker", wait=0) as holder:
            if holder is not None:
                raise Busy(
                    f"{holder} already runs on this SQLite database; run one worker per SQLite "
                    "database (several workers need PostgreSQL)"
                )
            yield

    @contextmanager
    def job(
        self,
        what: str,
        wait: float = 0.0,
        stop: threading.Event | None = None,
        waiting: Callable[[str], None] | None = None,
    ) -> Iterator[None]:
        """Hold the job lock as ``what``, waiting up to ``wait`` seconds for the running job.

        ``waiting`` hears once who is waited for; Busy names them when the wait is over (or
        ``stop`` is set) and the lock is still held.
        """
        with _locked(self.job_path, what, wait, stop, waiting) as holder:
            if holder is not None and stop is not None and stop.is_set():
                raise Busy(f"{holder} holds this SQLite database; stopped while waiting")
            if holder is not None:
                waited = f" after {wait:g} s" if wait else ""
                raise Busy(f"{holder} holds this SQLite database{waited}; run this again later")
            yield


@contextmanager
def _locked(
    path: Path,
    what: str,
    wait: float,
    stop: threading.Event | None = None,
    waiting: Callable[[str], None] | None = None,
) -> Iterator[str | None]:
    """Yield None holding the lock on ``path``, or who holds it when it stays taken."""
    try:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held across the yield
    except OSError as exc:
        raise SourceError(
            f"cannot open the lock file {path} beside the SQLite database: {exc.strerror}"
        ) from None
    with handle:
        deadline = time.monotonic() + wait
        told = False
        while not _try_lock(handle):
            holder = _holder(handle)
            if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                yield holder
                return
            if waiting is not None and not told:
                waiting(holder)
                told = True
            time.sleep(POLL_SECONDS)
        _write_holder(handle, what)
        try:
            yield None
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _try_lock(handle: IO[str]) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _write_holder(handle: IO[str], what: str) -> None:
    since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    handle.seek(0)
    handle.truncate()
    holder = {"what": what, "pid": os.getpid(), "host": socket.gethostname(), "since": since}
    handle.write(json.dumps(holder))
    handle.flush()


def _holder(handle: IO[str]) -> str:
    handle.seek(0)
    try:
        holder = json.loads(handle.read())
        return (
            f"{holder['what']} (pid {holder['pid']} on {holder['host']}, "
            f"since {holder['since']} UTC)"
        )
    except (ValueError, KeyError, TypeError):  # written this very moment, or by hand
        return "another feedgen process"

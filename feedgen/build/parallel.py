"""Builds on several cores: rendering is CPU-bound Python, so a large run uses processes.

Each process opens its own engine and storage from the configuration and builds whole chunks
(claim, render, upload, record: one transaction each), exactly as a single process would; the
parent merges their reports. On PostgreSQL the chunks' claims use the same row locks as several
workers do; on SQLite, WAL mode and the busy timeout serialise the short writes.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ..config import Config
    from ..publish.storage import Storage
    from .batches import Batches
    from .report import RunReport

# Each process's own batch builder, made once by ``_start``.
_batches: Batches | None = None


def process_count(config: Config) -> int:
    """How many processes a run with more than one batch uses: ``worker.processes``, where
    "auto" is every core this process may use; 1 when the database or the store lives in this
    process's memory, which other processes cannot share."""
    database = config.database.url
    in_memory = database.startswith("sqlite") and (
        ":memory:" in database or database.endswith("://")
    )
    if in_memory or config.storage.url.startswith("memory://"):
        return 1
    wanted = config.worker.processes
    return available_cores() if wanted == "auto" else int(wanted)


def shared_with(config: Config, engine: Engine, storage: Storage) -> bool:
    """Whether processes that open the configuration's database and store reach ``engine`` and
    ``storage``: a builder given others (an embedding application's, a test's) builds alone."""
    mine, named = engine.url, make_url(config.database.url)
    if mine.get_backend_name() != named.get_backend_name():
        return False
    if mine.get_backend_name() == "sqlite":
        if not mine.database or not named.database:
            return False
        if Path(mine.database).absolute() != Path(named.database).absolute():
            return False
    elif (mine.host, mine.port, mine.database) != (named.host, named.port, named.database):
        return False
    scheme, _, rest = config.storage.url.partition("://")
    if scheme == "file":
        from ..publish.storage.local import LocalStorage

        return isinstance(storage, LocalStorage) and storage.root == Path(rest).absolute()
    if scheme == "s3":
        from ..publish.storage.s3 import S3Storage

        bucket, _, prefix = rest.partition("/")
        return isinstance(storage, S3Storage) and (storage.bucket, storage.prefix) == (
            bucket,
            f"{prefix}/" if prefix else "",
        )
    return False


def available_cores(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The cores this process may run on: its affinity mask, not the machine's count, and no more
    than its cgroup's CPU quota (a container limited to 2 CPUs on a 64-core node sees 64 cores,
    and 64 processes would overrun its memory limit)."""
    counter = getattr(os, "process_cpu_count", None)  # Python 3.13
    if counter is not None:
        cores = max(1, counter() or 1)
    elif hasattr(os, "sched_getaffinity"):  # Linux
        cores = max(1, len(os.sched_getaffinity(0)))
    else:
        cores = os.cpu_count() or 1
    quota = cpu_quota(cpu_max)
    return cores if quota is None else max(1, min(cores, math.ceil(quota)))


def cpu_quota(cpu_max: Path) -> float | None:
    """CPUs the cgroup v2 quota allows ("200000 100000": 2.0), or None when unlimited or unknown."""
    try:
        quota, period = cpu_max.read_text(encoding="ascii").split()[:2]
        return int(quota) / int(period)
    except (OSError, ValueError):  # no such file (no cgroup v2, not Linux), "max", garbage
        return None


def usable(config: Config) -> bool:
    """Whether this configuration runs builds on more than one process (``process_count``);
    ``shared_with`` says whether a given builder's database and store allow it."""
    return process_count(config) > 1


def build_chunks(
    config: Config,
    chunks: Sequence[Sequence[int]],
    now: datetime,
    report: RunReport,
    stop: threading.Event,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Build ``chunks`` on ``process_count`` processes; once ``stop`` is set, start no more.
    ``progress`` hears (feeds done, feeds in all) as each chunk ends.

    A chunk is handed out only when a process is free, so a stop waits for the chunks in hand.
    """
    # spawn, not fork: the parent may hold threads and database connections.
    context = multiprocessing.get_context("spawn")
    todo = iter(chunks)
    # No more processes than chunks: each costs a start and an engine.
    workers = min(process_count(config), len(chunks))
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_start,
        initargs=(config, now, logging.getLogger().getEffectiveLevel()),
    ) as pool:
        running: set[Future[RunReport]] = set()
        sizes: dict[Future[RunReport], int] = {}
        done_feeds, total = 0, sum(map(len, chunks))
        while True:
            while len(running) < workers and not stop.is_set():
                chunk = next(todo, None)
                if chunk is None:
                    break
                future = pool.submit(_build, chunk)
                running.add(future)
                sizes[future] = len(chunk)
            if not running:
                break
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                report.merge(future.result())
                done_feeds += sizes.pop(future)
                if progress is not None:
                    progress(done_feeds, total)
        report.stopped = next(todo, None) is not None


def _start(config: Config, now: datetime, log_level: int) -> None:
    global _batches
    # The parent decides when to stop (Ctrl-C reaches the whole process group; systemd signals
    # every process of the unit): each process finishes the chunk it was given.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from ..db import open_engine
    from ..logs import setup_logging
    from ..publish.storage import open_storage
    from .batches import Batches

    setup_logging(
        logging.getLevelName(log_level),
        config.logging.format,
        text_format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
    )
    engine, storage = open_engine(config.database.url), open_storage(config.storage)
    # Every process builds for the parent's day, whatever the clock says when it gets there.
    _batches = Batches(engine, storage, config, now=lambda: now)


def _build(chunk: Sequence[int]) -> RunReport:
    from .report import RunReport

    assert _batches is not None
    report = RunReport("part")
    _batches.build_chunks([chunk], report)
    return report

"""Builds on several cores: rendering is CPU-bound Python, so a large run uses processes.

Each process opens its own engine and storage from the configuration and builds whole chunks
(claim, render, upload, record: one transaction each), exactly as a single process would; the
parent merges their reports. On PostgreSQL the chunks' claims use the same row locks as several
workers do; on SQLite, WAL mode and the busy timeout serialise the short writes.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .build import Builder
    from .config import Config
    from .report import RunReport

_builder: Builder | None = None


def usable(config: Config) -> bool:
    """Whether this run may use processes: more than one configured, and shared storage."""
    database = config.database.url
    in_memory = database.startswith("sqlite") and (
        ":memory:" in database or database.endswith("://")
    )
    return (
        config.worker.processes > 1
        and not in_memory
        and not config.storage.url.startswith("memory://")
    )


def build_chunks(
    config: Config,
    chunks: Sequence[Sequence[int]],
    now: datetime,
    report: RunReport,
    stop: threading.Event,
) -> None:
    """Build ``chunks`` on ``worker.processes`` processes; once ``stop`` is set, start no more.

    A chunk is handed out only when a process is free, so a stop waits for the chunks in hand.
    """
    # spawn, not fork: the parent may hold threads and database connections.
    context = multiprocessing.get_context("spawn")
    todo = iter(chunks)
    with ProcessPoolExecutor(
        max_workers=config.worker.processes,
        mp_context=context,
        initializer=_start,
        initargs=(config, now, logging.getLogger().getEffectiveLevel()),
    ) as pool:
        running: set[Future[RunReport]] = set()
        while True:
            while len(running) < config.worker.processes and not stop.is_set():
                chunk = next(todo, None)
                if chunk is None:
                    break
                running.add(pool.submit(_build, chunk))
            if not running:
                break
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                report.merge(future.result())
        report.stopped = next(todo, None) is not None


def _start(config: Config, now: datetime, log_level: int) -> None:
    global _builder
    # The parent decides when to stop (Ctrl-C reaches the whole process group; systemd signals
    # every process of the unit): each process finishes the chunk it was given.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from .app import setup_logging
    from .build import Builder
    from .db import open_engine
    from .storage import open_storage

    setup_logging(
        logging.getLevelName(log_level),
        "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
    )
    _builder = Builder(open_engine(config.database.url), open_storage(config.storage), config)
    _builder.now = lambda: now  # every process builds for the parent's day


def _build(chunk: Sequence[int]) -> RunReport:
    from .report import RunReport

    assert _builder is not None
    report = RunReport("part")
    _builder.build_chunks([chunk], report)
    return report

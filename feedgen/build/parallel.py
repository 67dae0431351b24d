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
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Config
    from .batches import Batches
    from .report import RunReport

# Each process's own batch builder, made once by ``_start``.
_batches: Batches | None = None


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
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Build ``chunks`` on ``worker.processes`` processes; once ``stop`` is set, start no more.
    ``progress`` hears (feeds done, feeds in all) as each chunk ends.

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
        sizes: dict[Future[RunReport], int] = {}
        done_feeds, total = 0, sum(map(len, chunks))
        while True:
            while len(running) < config.worker.processes and not stop.is_set():
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

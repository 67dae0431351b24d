"""Builds on several cores: rendering is CPU-bound Python, so a large run uses processes.

Each process opens its own engine and storage from the configuration and builds whole chunks
(claim, render, upload, record: one transaction each), exactly as a single process would; the
parent merges their reports. On PostgreSQL the chunks' claims use the same row locks as several
workers do; on SQLite, WAL mode and the busy timeout serialise the short writes.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
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
    config: Config, chunks: Sequence[Sequence[int]], now: datetime, report: RunReport
) -> None:
    # spawn, not fork: the parent may hold threads and database connections.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=config.worker.processes,
        mp_context=context,
        initializer=_start,
        initargs=(config, now, logging.getLogger().getEffectiveLevel()),
    ) as pool:
        for part in pool.map(_build, chunks):
            report.merge(part)


def _start(config: Config, now: datetime, log_level: int) -> None:
    global _builder
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

"""Wiring: configuration → engine, storage, CDN purger and builder, for the CLI and the worker."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from contextlib import nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from . import liveness, runlock
from .build import Builder
from .cdn import Purger, open_purger
from .config import CONFIG_ENV, Config, load_config
from .db import describe_error, open_engine, require_current_schema
from .errors import FeedgenError
from .feeds import object_key, page_key
from .lifecycle import FeedService
from .model import Feed
from .report import RunReport
from .runlock import RunLock
from .source import check_schema
from .stopping import StopSignals
from .storage import Storage, open_storage
from .subscribe import SubscribeLinks, subscribe_links
from .tokens import scrub

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str, log_format: str = LOG_FORMAT) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(log_format, tracebacks=level == "DEBUG"))
    logging.basicConfig(level=getattr(logging, level), handlers=[handler])
    # botocore logs every retried request at INFO; keep the worker's log about feeds.
    for noisy in ("alembic", "botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, getattr(logging, level)))
    # A cycle skipped or coalesced behind a long reconcile is the schedule working as meant.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if level == "DEBUG" else logging.ERROR)


class OneLineFormatter(logging.Formatter):
    """A line per record: an exception adds its cause in a few words, its traceback only at DEBUG.

    Whatever the line holds, anything shaped like a feed token is redacted (DESIGN invariant 7):
    exceptions of libraries can quote a URL or a key.
    """

    def __init__(self, fmt: str, tracebacks: bool) -> None:
        super().__init__(fmt)
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and not self.tracebacks:
            record = logging.makeLogRecord(record.__dict__)  # other handlers see the original
            record.msg = f"{record.getMessage()}: {describe_failure(exc)}"
            record.args = None
            record.exc_info = record.exc_text = None
        return scrub(super().format(record))


def describe_failure(exc: BaseException) -> str:
    """An exception in a few words for a log line or a run record: no traceback, SQL or token."""
    if isinstance(exc, SQLAlchemyError):
        return describe_error(exc)
    if isinstance(exc, FeedgenError):
        return scrub(str(exc))
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return scrub(f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__)


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


@dataclass
class App:
    config: Config

    @classmethod
    def from_sources(cls, path: str | None, environ: Mapping[str, str] = os.environ) -> App:
        path = path or environ.get(CONFIG_ENV)
        return cls(load_config(path, environ))

    @cached_property
    def engine(self) -> Engine:
        return open_engine(self.config.database.url)

    @cached_property
    def storage(self) -> Storage:
        storage = open_storage(self.config.storage)
        storage.check()
        return storage

    @cached_property
    def purger(self) -> Purger:
        prefix = ""
        if self.config.storage.url.startswith("s3://"):
            prefix = self.config.storage.url[5:].partition("/")[2].strip("/")
            prefix = f"{prefix}/" if prefix else ""
        return open_purger(self.config.cdn, prefix)

    def builder(self, stop: threading.Event | None = None) -> Builder:
        """A builder after checking the CRM tables and feedgen's own schema.

        Setting ``stop`` ends its runs after the batch in hand.
        """
        self._check_tables()
        return Builder(self.engine, self.storage, self.config, self.purger, stop=stop)

    def service(self) -> FeedService:
        """The feed lifecycle, publishing as it goes, after the same checks as ``builder``."""
        self._check_tables()
        return FeedService(self.engine, self.storage, self.config, self.purger)

    def _check_tables(self) -> None:
        with self.engine.connect() as conn:
            check_schema(conn)
        require_current_schema(self.engine)

    def run_job(
        self, kind: str, run: Callable[[Builder], RunReport], waiting: Callable[[str], None]
    ) -> tuple[RunReport, StopSignals]:
        """Run a build job for a command, and record it for ``feedgen status``.

        On SQLite it runs once no other job does (a worker's included), waiting up to
        ``runlock.JOB_WAIT_SECONDS`` and telling ``waiting`` whom for. SIGTERM or Ctrl-C ends it
        after the batch in hand (the returned signals say which came), a second one at once.
        """
        stop = threading.Event()
        builder = self.builder(stop=stop)
        lock = RunLock.for_url(self.config.database.url)
        wait = runlock.JOB_WAIT_SECONDS
        exclusive = lock.job(f"`feedgen {kind}`", wait, stop, waiting) if lock else None
        signals = StopSignals(stop, self.config.worker.stop_seconds)
        with signals, exclusive or nullcontext():
            started_at = now_utc()
            report = run(builder)
        run_record = liveness.Run.of(report, started_at)
        with suppress(SQLAlchemyError), self.engine.begin() as conn:  # the run itself went well
            liveness.record_run(conn, run_record, liveness.command_runner())
        return report, signals

    def feed_url(self, feed: Feed) -> str:
        return f"{self.config.publish.public_base_url}/{object_key(feed.token)}"

    def page_url(self, feed: Feed) -> str:
        return f"{self.config.publish.public_base_url}/{page_key(feed.page_token)}"

    def links(self, feed: Feed, name: str) -> SubscribeLinks:
        return subscribe_links(self.feed_url(feed), name)

    def local_path(self, feed: Feed) -> str | None:
        """Where a feed lies on disk with the local backend (None for other backends)."""
        scheme, _, rest = self.config.storage.url.partition("://")
        if scheme != "file":
            return None
        return os.path.join(rest, object_key(feed.token))

    def close(self) -> None:
        if "storage" in self.__dict__:
            self.storage.close()
        if "engine" in self.__dict__:
            self.engine.dispose()

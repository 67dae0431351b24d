"""Wiring: configuration → engine, storage, CDN purger and builder, for the CLI and the worker."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from contextlib import nullcontext, suppress
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from .build import Builder
from .build.report import RunReport
from .config import CONFIG_ENV, Config, load_config
from .crm.tables import check_schema
from .db import open_engine
from .errors import SourceError
from .lifecycle import FeedService
from .model import Feed, utc_now
from .publish.cdn import Purger, open_purger
from .publish.pages import SubscribeLinks, feed_url, page_url, subscribe_links
from .publish.storage import Storage, open_storage
from .state import liveness, runlock
from .state.migrations import require_current_schema
from .state.runlock import RunLock
from .stopping import StopSignals, wait_in_steps
from .tokens import object_key


@dataclass
class App:
    config: Config
    # Read-only commands (status, show, dry runs) create nothing: no SQLite file, no folder.
    read_only: bool = False

    @classmethod
    def from_sources(
        cls, path: str | None, environ: Mapping[str, str] = os.environ, read_only: bool = False
    ) -> App:
        path = path or environ.get(CONFIG_ENV)
        return cls(load_config(path, environ), read_only)

    @cached_property
    def engine(self) -> Engine:
        if self.read_only:
            missing = missing_sqlite_file(self.config.database.url)
            if missing is not None:
                raise SourceError(f"no CRM database at {missing} (database.url)")
        return open_engine(self.config.database.url)

    @cached_property
    def storage(self) -> Storage:
        storage = open_storage(self.config.storage)
        # A local store's check creates its folder; read, a missing folder is an empty store.
        if not (self.read_only and self.config.storage.url.startswith("file://")):
            storage.check()
        return storage

    @cached_property
    def purger(self) -> Purger:
        prefix = ""
        if self.config.storage.url.startswith("s3://"):
            prefix = self.config.storage.url[5:].partition("/")[2].strip("/")
            prefix = f"{prefix}/" if prefix else ""
        return open_purger(self.config.cdn, prefix)

    def builder(
        self,
        stop: threading.Event | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Builder:
        """A builder after checking the CRM tables and feedgen's own schema.

        Setting ``stop`` ends its runs after the batch in hand; ``progress`` hears (feeds done,
        feeds to build) as batches end.
        """
        self.check_tables()
        return Builder(
            self.engine, self.storage, self.config, self.purger, stop=stop, progress=progress
        )

    def service(self) -> FeedService:
        """The feed lifecycle, publishing as it goes, after the same checks as ``builder``."""
        self.check_tables()
        return FeedService(self.engine, self.storage, self.config, self.purger)

    def check_tables(self) -> None:
        """Raise when the CRM's tables or feedgen's own are missing or outdated."""
        with self.engine.connect() as conn:
            check_schema(conn)
        require_current_schema(self.engine)

    def run_job(
        self,
        kind: str,
        run: Callable[[Builder], RunReport],
        waiting: Callable[[str], None],
        progress: Callable[[int, int], None] | None = None,
        wait: float = runlock.JOB_WAIT_SECONDS,
    ) -> tuple[RunReport, StopSignals]:
        """Run a build job for a command, and record it for ``feedgen status``.

        On SQLite it runs once no other job does (a worker's included), waiting up to ``wait``
        seconds and telling ``waiting`` whom for. SIGTERM or Ctrl-C ends it
        after the batch in hand (the returned signals say which came), a second one at once.
        """
        stop = threading.Event()
        builder = self.builder(stop=stop, progress=progress)
        lock = RunLock.for_url(self.config.database.url)
        exclusive = lock.job(f"`feedgen {kind}`", wait, stop, waiting) if lock else None
        signals = StopSignals(stop, self.config.worker.stop_seconds)
        with signals, exclusive or nullcontext():
            started_at = utc_now()
            # In steps: a second signal stops at once while the batch in hand waits on the store.
            report = wait_in_steps(lambda: run(builder), name="job")
        run_record = report.as_run(started_at)
        with suppress(SQLAlchemyError), self.engine.begin() as conn:  # the run itself went well
            liveness.record_run(conn, run_record, liveness.command_runner())
        return report, signals

    def feed_url(self, feed: Feed) -> str:
        return feed_url(self.config.publish.public_base_url, feed)

    def page_url(self, feed: Feed) -> str:
        return page_url(self.config.publish.public_base_url, feed)

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


def missing_sqlite_file(url: str) -> str | None:
    """The path of a SQLite database URL's file when it does not exist (None otherwise):
    opening it would create it."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return None if os.path.exists(parsed.database) else parsed.database

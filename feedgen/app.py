"""Wiring: configuration → engine, storage, CDN purger and builder, for the CLI and the worker."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from sqlalchemy import Engine

from .build import Builder
from .cdn import Purger, open_purger
from .config import CONFIG_ENV, Config, load_config
from .db import open_engine, require_current_schema
from .feeds import object_key, page_key
from .lifecycle import FeedService
from .model import Feed
from .source import check_schema
from .storage import Storage, open_storage
from .subscribe import SubscribeLinks, subscribe_links


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # botocore logs every retried request at INFO; keep the worker's log about feeds.
    for noisy in ("alembic", "botocore", "boto3", "urllib3", "apscheduler.executors"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, getattr(logging, level)))


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

    def builder(self) -> Builder:
        """A builder after checking the CRM tables and feedgen's own schema."""
        self._check_tables()
        return Builder(self.engine, self.storage, self.config, self.purger)

    def service(self) -> FeedService:
        """The feed lifecycle, publishing as it goes, after the same checks as ``builder``."""
        self._check_tables()
        return FeedService(self.engine, self.storage, self.config, self.purger)

    def _check_tables(self) -> None:
        with self.engine.connect() as conn:
            check_schema(conn)
        require_current_schema(self.engine)

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

"""Several workers on PostgreSQL: the work is shared through row locks, never done twice."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from feedgen.build import Builder
from feedgen.build.report import RunReport
from feedgen.config import Config, WorkerConfig
from feedgen.crm import tables as crm_tables
from feedgen.model import FeedOptions, SubjectKind
from feedgen.publish.storage.memory import MemoryStorage
from feedgen.state import migrations
from feedgen.state import tables as state
from feedgen.state.feeds import issue_feed
from tests.conftest import NOW, _drop_everything
from tests.factories import Crm

pytestmark = pytest.mark.postgres
CONFIG = Config(worker=WorkerConfig(batch_size=3))


class CountingStorage(MemoryStorage):
    """Counts puts per key, and can stand still inside a put (a worker busy uploading)."""

    def __init__(self) -> None:
        super().__init__()
        self.puts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str) -> None:
        with self._lock:
            self.puts[key] += 1
        super().put(key, data, content_type=content_type, cache_control=cache_control)


class Killed(BaseException):
    """Stands for a worker process dying: not an Exception, nothing catches it."""


class DyingStorage(MemoryStorage):
    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str) -> None:
        raise Killed


@pytest.fixture
def pg(pg_server: sa.URL) -> Iterator[sa.Engine]:
    engine = sa.create_engine(pg_server)
    _drop_everything(engine)
    crm_tables.metadata.create_all(engine)
    migrations.upgrade(engine)
    yield engine
    engine.dispose()


def seed(engine: sa.Engine, users: int) -> list[int]:
    crm = Crm(engine, NOW)
    ids = [crm.user(f"Agent {i:02d}") for i in range(users)]
    for i, user in enumerate(ids):
        crm.activity(user, colleagues=(ids[(i + 1) % users],))
    with engine.begin() as conn:
        for user in ids:
            issue_feed(conn, SubjectKind.USER, user, NOW, FeedOptions())
    return ids


def test_two_workers_build_every_feed_exactly_once(pg: sa.Engine, pg_server: sa.URL) -> None:
    seed(pg, 30)
    storage = CountingStorage()
    engines = [sa.create_engine(pg_server) for _ in range(2)]
    builders = [Builder(e, storage, CONFIG, now=lambda: NOW) for e in engines]
    reports = []
    threads = [threading.Thread(target=lambda b=b: reports.append(b.cycle())) for b in builders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    feed_puts = {k: n for k, n in storage.puts.items() if k.endswith(".ics")}
    assert len(feed_puts) == 30 and set(feed_puts.values()) == {1}
    assert sum(r.feeds_built for r in reports) == 30
    for engine in engines:
        engine.dispose()


def test_a_worker_that_dies_mid_batch_loses_nothing(pg: sa.Engine) -> None:
    seed(pg, 5)
    with pytest.raises(Killed):
        Builder(pg, DyingStorage(), CONFIG, now=lambda: NOW).cycle()
    with pg.connect() as conn:
        dirty = conn.execute(sa.select(sa.func.count()).where(state.builds.c.dirty)).scalar_one()
    assert dirty == 5
    survivor = CountingStorage()
    report = Builder(pg, survivor, CONFIG, now=lambda: NOW).cycle()
    assert report.feeds_built == 5 and report.failed == 0


def test_a_locked_batch_is_skipped_by_the_other_worker(pg: sa.Engine) -> None:
    seed(pg, 6)
    builder = Builder(pg, CountingStorage(), CONFIG, now=lambda: NOW)
    builder.detect(RunReport("cycle"))  # marks all six dirty before the other worker starts
    b = state.builds
    with pg.connect() as holder:
        holder.begin()
        # Another worker holds the first three feeds' rows, as a running batch would.
        holder.execute(
            sa.select(b.c.feed_id).order_by(b.c.feed_id).limit(3).with_for_update(skip_locked=True)
        ).all()
        report = builder.cycle()
        holder.rollback()
    assert report.feeds_built == 3

"""A stop asked for mid-run: the batch in hand is finished and recorded, the rest waits, and the
next run leaves storage as a clean build would (both databases)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from feedgen.build import Builder
from feedgen.config import Config, DatabaseConfig, PublishConfig, StorageConfig, WorkerConfig
from feedgen.model import FeedOptions, SubjectKind
from feedgen.publish.storage.local import LocalStorage
from feedgen.publish.storage.memory import MemoryStorage
from feedgen.publish.uploads import ROBOTS_KEY
from feedgen.state import tables as state
from feedgen.state.feeds import issue_feed
from tests.conftest import NOW
from tests.factories import Crm
from tests.support.clean import differences

CONFIG = Config(publish=PublishConfig(uid_domain="crm.test"), worker=WorkerConfig(batch_size=2))


class StopOnFirstPut(MemoryStorage):
    """Asks the builder to stop as its first feed goes up: a signal in the middle of a batch."""

    builder: Builder
    armed = True

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str) -> None:
        if key.endswith(".ics") and self.armed:
            self.armed = False
            self.builder.stop.set()
        super().put(key, data, content_type=content_type, cache_control=cache_control)


@pytest.fixture
def six_feeds(crm: Crm, engine: sa.Engine) -> None:
    users = [crm.user(f"Agent {i}") for i in range(6)]
    for i, user in enumerate(users):
        crm.activity(user, title=f"Viewing {i}", colleagues=(users[(i + 1) % 6],))
    with engine.begin() as conn:
        for user in users:
            issue_feed(conn, SubjectKind.USER, user, NOW, FeedOptions())


def dirty(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).where(state.builds.c.dirty)
        return int(conn.execute(query).scalar_one())


def stopping(engine: sa.Engine) -> tuple[Builder, StopOnFirstPut]:
    storage = StopOnFirstPut()
    storage.builder = Builder(engine, storage, CONFIG, now=lambda: NOW)
    return storage.builder, storage


@pytest.mark.usefixtures("six_feeds")
def test_a_stop_ends_a_cycle_after_the_batch_in_hand(engine: sa.Engine) -> None:
    builder, storage = stopping(engine)
    report = builder.cycle()
    assert report.stopped and "stopped early" in report.summary()
    assert report.feeds_built == 2 and report.failed == 0  # the whole first batch, recorded
    assert dirty(engine) == 4
    builder.stop.clear()
    assert builder.cycle().feeds_built == 4
    assert differences(engine, storage, CONFIG, NOW) == []


@pytest.mark.usefixtures("six_feeds")
def test_a_stopped_reconcile_leaves_its_clean_up_to_the_next(engine: sa.Engine) -> None:
    builder, storage = stopping(engine)
    stray = "S" * 43 + ".ics"
    storage.put(stray, b"old", content_type="text/calendar", cache_control="no-cache")
    report = builder.reconcile()
    assert report.stopped and storage.get(stray) is not None
    assert storage.get(ROBOTS_KEY) is None
    builder.stop.clear()
    builder.cycle()
    builder.reconcile()
    assert storage.get(stray) is None and differences(engine, storage, CONFIG, NOW) == []


@pytest.mark.usefixtures("six_feeds")
def test_a_run_asked_to_stop_before_it_builds_leaves_every_feed_for_the_next(
    engine: sa.Engine,
) -> None:
    builder, storage = stopping(engine)
    builder.stop.set()
    report = builder.build()
    assert report.stopped and report.feeds_built == 0 and dirty(engine) == 6


@pytest.mark.usefixtures("six_feeds")
def test_processes_get_no_new_chunk_once_a_stop_is_asked(engine: sa.Engine, tmp_path: Path) -> None:
    url = engine.url.render_as_string(hide_password=False)
    config = Config(
        database=DatabaseConfig(url=url),
        storage=StorageConfig(url=f"file://{tmp_path}"),
        worker=WorkerConfig(batch_size=2, processes=2),
    )
    builder = Builder(engine, LocalStorage(tmp_path), config, now=lambda: NOW)
    builder.stop.set()
    report = builder.cycle()
    assert report.stopped and report.feeds_built == 0 and dirty(engine) == 6

"""A store that fails a quarter of its requests: every job says one line, failed feeds are retried,
and cycles end with storage equal to a clean build (both databases)."""

from __future__ import annotations

import logging
import random

import pytest
import sqlalchemy as sa

from feedgen.build import Builder
from feedgen.config import Config, PublishConfig, WorkerConfig
from feedgen.errors import StorageError
from feedgen.model import FeedOptions, SubjectKind
from feedgen.publish.storage.memory import MemoryStorage
from feedgen.state import tables as state
from feedgen.state.feeds import issue_feed
from jobs.tasks import Jobs
from tests.conftest import NOW
from tests.factories import Crm
from tests.support.clean import differences

CONFIG = Config(publish=PublishConfig(uid_domain="crm.test"), worker=WorkerConfig(batch_size=3))


class FlakyStorage(MemoryStorage):
    """Fails ``rate`` of puts, gets and deletes, as a store under strain does; seeded."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate
        self.random = random.Random(7)
        self.failures = 0

    def _maybe_fail(self, operation: str) -> None:
        if self.random.random() < self.rate:
            self.failures += 1
            raise StorageError(f"S3 {operation} failed: SlowDown Please reduce your request rate")

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str) -> None:
        self._maybe_fail("put")
        super().put(key, data, content_type=content_type, cache_control=cache_control)

    def get(self, key: str) -> bytes | None:
        self._maybe_fail("get")
        return super().get(key)

    def delete(self, key: str) -> None:
        self._maybe_fail("delete")
        super().delete(key)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        self.now += 3600  # every cycle comes after any back-off
        return self.now


def dirty(engine: sa.Engine) -> int:
    query = sa.select(sa.func.count()).where(state.builds.c.dirty)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def test_a_quarter_of_requests_failing_is_repaired_a_line_per_job(
    crm: Crm, engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    users = [crm.user(f"Agent {i}") for i in range(12)]
    team = crm.team("Sales", users[:6])
    for i, user in enumerate(users):
        crm.activity(user, title=f"Viewing {i}", colleagues=(users[(i + 1) % 12],))
    with engine.begin() as conn:
        for user in users:
            issue_feed(conn, SubjectKind.USER, user, NOW, FeedOptions())
        issue_feed(conn, SubjectKind.TEAM, team, NOW, FeedOptions())
    storage = FlakyStorage(rate=0.25)
    jobs = Jobs(Builder(engine, storage, CONFIG, now=lambda: NOW), CONFIG.worker, clock=Clock())
    caplog.set_level(logging.INFO, logger="feedgen.worker")
    cycles = 0
    while cycles == 0 or dirty(engine):
        jobs.cycle()
        cycles += 1
        assert cycles < 20, "the failed feeds were not repaired"
    assert storage.failures > 0 and cycles > 1
    worker_lines = [r for r in caplog.records if r.name == "feedgen.worker"]
    assert len(worker_lines) == cycles  # one line per job
    storage.rate = 0
    assert differences(engine, storage, CONFIG, NOW) == []

"""The feed URL lifecycle with storage: each call has stored or removed the objects when it
returns, and what storage or the CDN refuses is queued and retried with backoff."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pytest
import sqlalchemy as sa

from feedgen.build import Builder
from feedgen.config import Config, PublishConfig
from feedgen.errors import FeedNotFound, NotPublished, StorageError
from feedgen.lifecycle import FeedService
from feedgen.model import FeedOptions, SubjectKind
from feedgen.publish.removals import backoff
from feedgen.publish.storage.memory import MemoryStorage
from feedgen.state import tables as state
from feedgen.state.status import feed_status
from feedgen.tokens import keys_of, object_key, page_key
from tests.conftest import NOW
from tests.factories import Crm
from tests.parsers import parse_all

CONFIG = Config(publish=PublishConfig(uid_domain="crm.test"))
USER = SubjectKind.USER


class RecordingPurger:
    """A CDN that records what it was asked to purge; fails while ``failing`` is set."""

    def __init__(self) -> None:
        self.purged: list[str] = []
        self.attempts = 0
        self.failing = False

    def purge(self, keys: Sequence[str]) -> None:
        self.attempts += 1
        if self.failing:
            raise StorageError("CloudFront invalidation failed: NoSuchDistribution")
        self.purged.extend(keys)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def purger() -> RecordingPurger:
    return RecordingPurger()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def service(
    engine: sa.Engine, storage: MemoryStorage, purger: RecordingPurger, clock: Clock
) -> FeedService:
    return FeedService(engine, storage, CONFIG, purger, now=clock)


@pytest.fixture
def anna(crm: Crm) -> int:
    anna = crm.user("Anna Schmidt", email="anna.schmidt@tesoro.example")
    crm.activity(anna, "viewing", "Loft with garden")
    return anna


def queued(engine: sa.Engine) -> dict[str, sa.Row]:
    d = state.deletions
    with engine.connect() as conn:
        return {row.object_key: row for row in conn.execute(sa.select(d))}


# --- issue ------------------------------------------------------------------------------------


def test_issue_stores_the_feed_and_its_page_before_returning(
    service: FeedService, storage: MemoryStorage, anna: int
) -> None:
    feed = service.issue(USER, anna)
    data = storage.get(object_key(feed.token))
    assert data is not None and len(parse_all(data)) == 1
    page = storage.objects[page_key(feed.page_token)]
    assert page.content_type == "text/html; charset=utf-8"


def test_issuing_again_returns_the_same_feed_and_stores_it_again(
    service: FeedService, storage: MemoryStorage, anna: int
) -> None:
    feed = service.issue(USER, anna)
    storage.delete(object_key(feed.token))
    assert service.issue(USER, anna) == feed
    assert storage.get(object_key(feed.token)) is not None


def test_issue_says_when_storage_failed_and_the_next_cycle_stores_it(
    service: FeedService, storage: MemoryStorage, engine: sa.Engine, anna: int, clock: Clock
) -> None:
    class Refusing(MemoryStorage):
        def put(self, key: str, data: bytes, *, content_type: str, cache_control: str) -> None:
            raise StorageError(f"S3 put of {key[:6]}… failed: SlowDown")

    refusing = FeedService(engine, Refusing(), CONFIG, now=clock)
    with pytest.raises(NotPublished, match="issued, but storing it failed") as raised:
        refusing.issue(USER, anna)
    feed = raised.value.feed
    assert feed.token not in str(raised.value)
    assert service.get(USER, anna) == feed
    Builder(engine, storage, CONFIG, now=clock).cycle()
    assert storage.get(object_key(feed.token)) is not None


def test_issue_for_an_unknown_user_is_not_found(service: FeedService, anna: int) -> None:
    with pytest.raises(FeedNotFound, match="no CRM user with id 999999"):
        service.issue(USER, 999_999)


def test_new_options_are_stored_before_returning(
    service: FeedService, storage: MemoryStorage, anna: int
) -> None:
    feed = service.issue(USER, anna)
    service.set_options(USER, anna, FeedOptions(busy_only=True))
    data = storage.get(object_key(feed.token))
    assert data is not None
    assert [event.summary for event in parse_all(data).values()] == ["Busy"]


# --- rotate -----------------------------------------------------------------------------------


def test_rotate_removes_the_old_url_and_stores_the_new_one_before_returning(
    service: FeedService, storage: MemoryStorage, engine: sa.Engine, anna: int
) -> None:
    old = service.issue(USER, anna)
    new = service.rotate(USER, anna)
    assert not set(keys_of(old)) & set(storage.objects)
    assert set(keys_of(new)) <= set(storage.objects)
    assert queued(engine) == {}


def test_rotate_purges_exactly_the_old_objects_from_the_cdn(
    service: FeedService, purger: RecordingPurger, anna: int
) -> None:
    old = service.issue(USER, anna)
    service.rotate(USER, anna)
    assert sorted(purger.purged) == sorted(keys_of(old))


# --- revoke -----------------------------------------------------------------------------------


def test_revoke_removes_the_feed_and_page_before_returning(
    service: FeedService, storage: MemoryStorage, purger: RecordingPurger, anna: int
) -> None:
    feed = service.issue(USER, anna)
    service.revoke(USER, anna)
    assert not set(keys_of(feed)) & set(storage.objects)
    assert sorted(purger.purged) == sorted(keys_of(feed))


def test_a_failed_delete_stays_queued_and_the_next_cycle_deletes_it(
    service: FeedService, storage: MemoryStorage, engine: sa.Engine, anna: int, clock: Clock
) -> None:
    feed = service.issue(USER, anna)
    storage.failing_keys.add(object_key(feed.token))
    with pytest.raises(NotPublished, match="revoked, but removing the old URL failed"):
        service.revoke(USER, anna)
    assert object_key(feed.token) in queued(engine)
    storage.failing_keys.clear()
    clock.at += backoff(1)
    Builder(engine, storage, CONFIG, now=clock).cycle()
    assert object_key(feed.token) not in storage.objects
    assert queued(engine) == {}


# --- CDN purge retries ------------------------------------------------------------------------


def test_a_failed_purge_stays_queued_and_is_shown(
    service: FeedService, purger: RecordingPurger, engine: sa.Engine, anna: int
) -> None:
    feed = service.issue(USER, anna)
    purger.failing = True
    with pytest.raises(NotPublished, match="CDN purge of 2 object"):
        service.revoke(USER, anna)
    rows = queued(engine)
    assert set(rows) == set(keys_of(feed))
    assert all(row.deleted_at is not None and row.attempts == 1 for row in rows.values())
    with engine.connect() as conn:
        summary, _ = feed_status(conn, 10, NOW)
    assert any("2 object(s) deleted but waiting for a CDN purge" in line for line in summary)
    assert any("NoSuchDistribution" in line for line in summary)


def test_a_failed_purge_waits_for_its_backoff_then_is_retried(
    service: FeedService,
    purger: RecordingPurger,
    engine: sa.Engine,
    storage: MemoryStorage,
    anna: int,
    clock: Clock,
) -> None:
    feed = service.issue(USER, anna)
    purger.failing = True
    with pytest.raises(NotPublished):
        service.revoke(USER, anna)
    builder = Builder(engine, storage, CONFIG, purger, now=clock)
    builder.cycle()
    assert purger.attempts == 1, "retried before its backoff"
    clock.at += backoff(1)
    report = builder.cycle()
    assert purger.attempts == 2 and report.storage_errors
    purger.failing = False
    clock.at += backoff(2)
    assert builder.cycle().storage_errors == []
    assert sorted(purger.purged) == sorted(keys_of(feed))
    assert queued(engine) == {}

"""Storage mirrors the feeds after every pass, and reconcile cannot wipe it by mistake."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from feedgen.build import Builder, cleanup
from feedgen.config import Config, PublishConfig, WorkerConfig
from feedgen.errors import CleanupRefused
from feedgen.model import FeedOptions, SubjectKind
from feedgen.publish.storage.memory import MemoryStorage
from feedgen.publish.uploads import ROBOTS_KEY
from feedgen.state import tables as state
from feedgen.state.feeds import active_feeds, issue_feed
from feedgen.tokens import keys_of, new_token, object_key, page_key
from tests.conftest import NOW
from tests.factories import Crm
from tests.parsers import parse_all

CONFIG = Config(publish=PublishConfig(uid_domain="crm.test"))


@pytest.fixture
def builder(engine: sa.Engine, storage: MemoryStorage) -> Builder:
    return Builder(engine, storage, CONFIG, now=lambda: NOW)


@pytest.fixture
def published(crm: Crm, engine: sa.Engine, builder: Builder) -> list[int]:
    """Twelve users, each with a published feed."""
    users = [crm.user(f"Agent {n}") for n in range(12)]
    with engine.begin() as conn:
        for user in users:
            issue_feed(conn, SubjectKind.USER, user, NOW, FeedOptions())
    assert builder.build().failed == 0
    return users


def strays(storage: MemoryStorage, count: int) -> list[str]:
    keys = [f"{new_token()}.ics" for _ in range(count)]
    for key in keys:
        storage.put(key, b"BEGIN:VCALENDAR", content_type="text/calendar", cache_control="x")
    return keys


def feed_keys(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return {key for feed in active_feeds(conn) for key in keys_of(feed)}


# --- what storage lacks -----------------------------------------------------------------------


def test_a_cycle_writes_robots_txt_when_it_is_missing(
    storage: MemoryStorage, builder: Builder, published: list[int]
) -> None:
    storage.delete(ROBOTS_KEY)
    builder.cycle()
    assert storage.get(ROBOTS_KEY) == b"User-agent: *\nAllow: /\n"


def test_a_force_build_into_an_empty_store_writes_every_feed_and_page(
    engine: sa.Engine, builder: Builder, published: list[int]
) -> None:
    empty = MemoryStorage()
    Builder(engine, empty, CONFIG, now=lambda: NOW).build(force=True)
    assert feed_keys(engine) | {ROBOTS_KEY} == set(empty.objects)


def test_reconcile_puts_back_a_feed_and_a_page_deleted_by_hand(
    engine: sa.Engine, storage: MemoryStorage, builder: Builder, published: list[int]
) -> None:
    with engine.connect() as conn:
        first, second = active_feeds(conn)[:2]
    storage.delete(object_key(first.token))
    storage.delete(page_key(second.page_token))
    builder.reconcile()
    data = storage.get(object_key(first.token))
    assert data is not None and parse_all(data) == {}
    assert storage.get(page_key(second.page_token)) is not None


def test_the_survey_names_missing_feeds_and_pages(
    engine: sa.Engine, storage: MemoryStorage, published: list[int]
) -> None:
    with engine.connect() as conn:
        feed = active_feeds(conn)[0]
    storage.delete(object_key(feed.token))
    found = cleanup.survey(engine, storage)
    assert (found.missing_feeds, found.missing_pages, found.stray) == ((feed.id,), (), ())


# --- safety -----------------------------------------------------------------------------------


def test_reconcile_deletes_a_few_strays(
    engine: sa.Engine, storage: MemoryStorage, builder: Builder, published: list[int]
) -> None:
    stray = strays(storage, 3)
    report = builder.reconcile()
    assert report.deleted == 3 and not set(stray) & set(storage.objects)
    assert feed_keys(engine) <= set(storage.objects)


def test_reconcile_against_a_database_without_feeds_deletes_nothing(
    engine: sa.Engine, storage: MemoryStorage, builder: Builder, published: list[int]
) -> None:
    before = set(storage.objects)
    with engine.begin() as conn:
        conn.execute(sa.update(state.feeds).values(revoked_at=NOW))
    with pytest.raises(CleanupRefused, match="no active feeds, yet 24 feed object"):
        builder.reconcile()
    assert set(storage.objects) == before


def test_reconcile_refuses_to_delete_more_than_the_configured_share(
    engine: sa.Engine, storage: MemoryStorage, published: list[int]
) -> None:
    strays(storage, 11)  # 11 of 35 objects: 31 %
    config = Config(publish=CONFIG.publish, worker=WorkerConfig(max_delete_share=0.3))
    with pytest.raises(CleanupRefused, match=r"11 of 35 feed objects \(31%\)"):
        Builder(engine, storage, config, now=lambda: NOW).reconcile()
    assert len(storage.objects) == 36  # and robots.txt


def test_a_forced_reconcile_deletes_every_stray(
    engine: sa.Engine, storage: MemoryStorage, builder: Builder, published: list[int]
) -> None:
    stray = strays(storage, 40)
    builder.reconcile(force=True)
    assert not set(stray) & set(storage.objects)
    assert feed_keys(engine) <= set(storage.objects)


def test_up_to_ten_strays_go_whatever_their_share() -> None:
    few = cleanup.Survey(active=1, objects=12, stray=tuple(f"{n}" for n in range(10)))
    assert few.refusal(0.1) is None
    assert cleanup.Survey(1, 12, tuple(f"{n}" for n in range(11))).refusal(0.1) is not None


def test_a_shared_buckets_other_objects_are_never_counted_or_deleted(
    engine: sa.Engine, storage: MemoryStorage, builder: Builder, published: list[int]
) -> None:
    storage.put("index.html", b"<html>", content_type="text/html", cache_control="x")
    found = cleanup.survey(engine, storage)
    assert found.stray == () and found.objects == 24
    builder.reconcile()
    assert storage.get("index.html") == b"<html>"


# --- removed users and teams ------------------------------------------------------------------


def test_a_user_deleted_from_the_crm_keeps_an_empty_feed_with_a_neutral_name(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage, builder: Builder
) -> None:
    anna = crm.user("Anna Schmidt")
    crm.activity(anna, "viewing", "Loft")
    with engine.begin() as conn:
        feed = issue_feed(conn, SubjectKind.USER, anna, NOW, FeedOptions())
    builder.cycle()
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM participants"))
        conn.execute(sa.text("DELETE FROM activities"))
        conn.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": anna})
    builder.cycle()
    data = storage.get(object_key(feed.token))
    assert data is not None and parse_all(data) == {}
    assert b"X-WR-CALNAME:Removed user \xc2\xb7 CRM" in data and b"Anna" not in data


def test_a_deactivated_users_feed_is_emptied_and_keeps_its_name(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage, builder: Builder
) -> None:
    anna = crm.user("Anna Schmidt")
    crm.activity(anna, "viewing", "Loft")
    with engine.begin() as conn:
        feed = issue_feed(conn, SubjectKind.USER, anna, NOW, FeedOptions())
    builder.cycle()
    crm.update_user(anna, active=False)
    builder.cycle()
    data = storage.get(object_key(feed.token))
    assert data is not None and parse_all(data) == {}
    assert "Anna Schmidt · CRM" in data.decode()

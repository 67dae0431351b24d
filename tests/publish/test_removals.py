"""The deletion queue: objects leave storage, then the CDN; what fails waits and is retried."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa

from feedgen.publish.cdn import NoopPurger
from feedgen.publish.removals import backoff, clean_storage, process_deletions
from feedgen.publish.storage.memory import MemoryStorage
from feedgen.state import tables as state
from feedgen.state.feeds import queue_deletion
from tests.conftest import NOW

KEYS = ["a" * 43 + ".ics", "a" * 43 + ".html"]


class Purger:
    def __init__(self) -> None:
        self.purged: list[str] = []

    def purge(self, keys: Sequence[str]) -> None:
        self.purged += keys


def put(storage: MemoryStorage, *keys: str) -> None:
    for key in keys:
        storage.put(key, b"x", content_type="text/calendar", cache_control="max-age=60")


def queued(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(state.deletions.c.object_key)).scalars())


def test_a_queued_object_is_deleted_purged_and_forgotten(
    engine: sa.Engine, storage: MemoryStorage
) -> None:
    put(storage, *KEYS)
    purger = Purger()
    with engine.begin() as conn:
        queue_deletion(conn, KEYS, NOW)
        removal = process_deletions(conn, storage, purger, NOW)
    assert (removal.deleted, removal.purged, removal.ok) == (2, 2, True)
    assert storage.objects == {} and sorted(purger.purged) == sorted(KEYS)
    assert queued(engine) == []


def test_without_a_cdn_a_deleted_object_is_forgotten_at_once(
    engine: sa.Engine, storage: MemoryStorage
) -> None:
    with engine.begin() as conn:
        queue_deletion(conn, KEYS, NOW)
        process_deletions(conn, storage, NoopPurger(), NOW)
    assert queued(engine) == []


def test_a_failed_delete_waits_for_its_backoff(engine: sa.Engine, storage: MemoryStorage) -> None:
    put(storage, KEYS[0])
    storage.failing_keys.add(KEYS[0])
    with engine.begin() as conn:
        queue_deletion(conn, KEYS[:1], NOW)
        assert not process_deletions(conn, storage, NoopPurger(), NOW).ok
        storage.failing_keys.clear()
        early = process_deletions(conn, storage, NoopPurger(), NOW + backoff(1) / 2)
        late = process_deletions(conn, storage, NoopPurger(), NOW + backoff(1))
    assert (early.deleted, late.deleted) == (0, 1)


def test_named_keys_are_removed_at_once_whatever_their_backoff(
    engine: sa.Engine, storage: MemoryStorage
) -> None:
    put(storage, KEYS[0])
    storage.failing_keys.add(KEYS[0])
    with engine.begin() as conn:
        queue_deletion(conn, KEYS[:1], NOW)
        process_deletions(conn, storage, NoopPurger(), NOW)
        storage.failing_keys.clear()
        assert process_deletions(conn, storage, NoopPurger(), NOW, keys=KEYS[:1]).deleted == 1


def test_a_stray_deleted_by_clean_up_is_queued_for_its_purge(
    engine: sa.Engine, storage: MemoryStorage
) -> None:
    put(storage, KEYS[0])
    with engine.begin() as conn:
        assert clean_storage(conn, storage, KEYS[:1], NOW) == 1
        rows = conn.execute(sa.select(state.deletions)).all()
    assert [(row.object_key, row.deleted_at) for row in rows] == [(KEYS[0], NOW)]


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [timedelta(minutes=m) for m in (1, 2, 4)]
    assert backoff(30) == timedelta(hours=1)

"""Every save reaches the feed: versions compared to the microsecond, SEQUENCE counted per version.

A CRM user who saves twice within one second (a double click, a quick correction) makes two
versions that share their whole second; a cycle between the two commits must not keep the first.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import icalendar
import pytest
import sqlalchemy as sa

from feedgen.build import Builder
from feedgen.config import Config, PublishConfig
from feedgen.model import MAX_SEQUENCE, FeedOptions, SubjectKind, next_sequence, sequence_floor
from feedgen.publish.storage.memory import MemoryStorage
from feedgen.state import tables as state
from feedgen.state.feeds import issue_feed
from feedgen.tokens import object_key
from tests.conftest import NOW
from tests.factories import Crm
from tests.parsers import parse_all

CONFIG = Config(publish=PublishConfig(uid_domain="crm.test"))


def annas_feed(crm: Crm, engine: sa.Engine, **activity: object) -> tuple[int, int, str]:
    """Anna, a meeting of hers and her feed: (activity id, feed id, token)."""
    anna = crm.user("Anna Schmidt")
    meeting = crm.activity(anna, title="Viewing, Hauptstraße 5", **activity)  # type: ignore[arg-type]
    with engine.begin() as conn:
        feed = issue_feed(conn, SubjectKind.USER, anna, NOW, FeedOptions())
    return meeting, feed.id, feed.token


def event(storage: MemoryStorage, token: str, activity_id: int) -> icalendar.Event:
    data = storage.get(object_key(token))
    assert data is not None
    parse_all(data)
    found = [
        e
        for e in icalendar.Calendar.from_ical(data).walk("VEVENT")
        if str(e["UID"]) == f"activity-{activity_id}@crm.test"
    ]
    assert len(found) == 1
    return found[0]


def sequence(storage: MemoryStorage, token: str, activity_id: int) -> int:
    return int(event(storage, token, activity_id)["SEQUENCE"])


def title(storage: MemoryStorage, token: str, activity_id: int) -> str:
    return str(event(storage, token, activity_id)["SUMMARY"])


def test_a_second_save_within_the_same_second_reaches_the_feed(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage
) -> None:
    meeting, feed_id, token = annas_feed(crm, engine)
    builder = Builder(engine, storage, CONFIG, now=lambda: NOW)
    builder.cycle()
    second = crm.stamp()
    crm.edit(meeting, at=second.replace(microsecond=100_000), title="v1")
    builder.cycle()
    assert title(storage, token, meeting) == "v1"
    crm.edit(meeting, at=second.replace(microsecond=900_000), title="v2")
    report = builder.cycle()
    assert (report.changed_activities, report.uploaded) == (1, 1)
    assert title(storage, token, meeting) == "v2"
    # Patched from the last bytes, to the bytes of a full build.
    assert report.patched == 1
    assert storage.get(object_key(token)) == builder.preview(feed_id).data


def test_sequence_rises_with_every_save_a_cycle_sees_in_one_second(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage
) -> None:
    meeting, _, token = annas_feed(crm, engine)
    builder = Builder(engine, storage, CONFIG, now=lambda: NOW)
    builder.cycle()
    seen = [sequence(storage, token, meeting)]
    second = crm.stamp()
    for microsecond in (100_000, 500_000, 900_000):
        crm.edit(meeting, at=second.replace(microsecond=microsecond), title=f"v{microsecond}")
        builder.cycle()
        seen.append(sequence(storage, token, meeting))
    assert seen == sorted(set(seen)), f"SEQUENCE did not rise with each save: {seen}"


def test_sequence_keeps_its_count_through_reconcile_rebuild_and_a_new_deployment(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage
) -> None:
    meeting, _, token = annas_feed(crm, engine)
    builder = Builder(engine, storage, CONFIG, now=lambda: NOW)
    builder.cycle()
    second = crm.stamp()
    for microsecond in (100_000, 400_000, 700_000):
        crm.edit(meeting, at=second.replace(microsecond=microsecond), title=f"v{microsecond}")
        builder.cycle()
    counted = sequence(storage, token, meeting)
    published = storage.get(object_key(token))
    builder.reconcile()
    assert sequence(storage, token, meeting) == counted
    builder.build(force=True)
    assert sequence(storage, token, meeting) == counted
    # A new deployment against the same CRM and feedgen tables: nothing held in memory.
    Builder(engine, storage, CONFIG, now=lambda: NOW).build(force=True)
    assert storage.get(object_key(token)) == published
    crm.edit(meeting, at=second.replace(microsecond=800_000), title="after all that")
    Builder(engine, storage, CONFIG, now=lambda: NOW).cycle()
    assert sequence(storage, token, meeting) == counted + 1


def test_an_edit_a_build_meets_before_detection_keeps_the_last_count_until_the_next_cycle(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage
) -> None:
    meeting, feed_id, token = annas_feed(crm, engine)
    builder = Builder(engine, storage, CONFIG, now=lambda: NOW)
    builder.cycle()
    second = crm.stamp()
    crm.edit(meeting, at=second.replace(microsecond=300_000), title="v1")
    builder.cycle()
    counted = sequence(storage, token, meeting)
    crm.edit(meeting, at=second.replace(microsecond=600_000), title="v2")
    early = builder.preview(feed_id).data  # a build that reads the row before detection does
    assert b"SUMMARY:v2\r\n" in early and b"SEQUENCE:%d\r\n" % counted in early
    builder.cycle()
    assert sequence(storage, token, meeting) == counted + 1


def test_sequence_stays_within_the_integer_of_rfc_5545(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage
) -> None:
    # Imports often leave a placeholder creation date; 1900 is 3.9 billion seconds ago.
    meeting, _, token = annas_feed(crm, engine, created_at=datetime(1900, 1, 1))
    builder = Builder(engine, storage, CONFIG, now=lambda: NOW)
    builder.cycle()
    assert sequence(storage, token, meeting) == MAX_SEQUENCE == 2_147_483_647
    crm.edit(meeting, title="Still there")
    builder.cycle()
    assert sequence(storage, token, meeting) == MAX_SEQUENCE
    assert title(storage, token, meeting) == "Still there"


def test_the_index_counts_the_sequence_of_each_version(crm: Crm, engine: sa.Engine) -> None:
    meeting, _, _ = annas_feed(crm, engine)
    builder = Builder(engine, MemoryStorage(), CONFIG, now=lambda: NOW)
    ix = state.activity_index

    def stored() -> tuple[datetime, int]:
        with engine.connect() as conn:
            row = conn.execute(sa.select(ix).where(ix.c.activity_id == meeting)).one()
        return row.version, row.sequence

    builder.cycle()
    version, first = stored()
    at = version.replace(microsecond=0) + timedelta(seconds=1, microseconds=250_001)
    crm.edit(meeting, at=at)
    builder.cycle()
    assert stored() == (at, max(first + 1, sequence_floor(NOW - timedelta(days=3), at)))


@pytest.mark.parametrize(
    ("created", "updated", "whole_seconds"),
    [
        (datetime(2026, 1, 1, 9, 0, 0, 700_000), datetime(2026, 1, 1, 9, 0, 5, 200_000), 5),
        (datetime(2026, 1, 1, 9, 0, 0, 200_000), datetime(2026, 1, 1, 9, 0, 5, 700_000), 5),
        (datetime(2026, 1, 1, 9, 0, 0), datetime(2026, 1, 1, 9, 0, 0, 999_999), 0),
        (datetime(2026, 1, 1, 9, 0, 1, 500_000), datetime(2026, 1, 1, 9, 0, 0), 0),
        (datetime(2026, 1, 1), datetime(2026, 3, 1, 0, 0, 1), 59 * 86_400 + 1),
    ],
)
def test_the_floor_is_the_sequence_feedgen_published_before_it_counted(
    created: datetime, updated: datetime, whole_seconds: int
) -> None:
    assert sequence_floor(created, updated) == whole_seconds
    cut = int((updated.replace(microsecond=0) - created.replace(microsecond=0)).total_seconds())
    assert sequence_floor(created, updated) == max(0, cut)


def test_a_new_version_counts_one_more_never_below_the_floor_nor_beyond_the_integer() -> None:
    assert next_sequence(None, 7) == 7
    assert next_sequence(7, 7) == 8
    assert next_sequence(8, 60) == 60
    assert next_sequence(MAX_SEQUENCE, 3) == MAX_SEQUENCE

"""Times in every client: instants survive DST changes, half-hour zones and midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from feedgen.build import Builder
from feedgen.config import Config, PublishConfig
from feedgen.model import FeedOptions, SubjectKind
from feedgen.publish.storage.memory import MemoryStorage
from feedgen.state.feeds import issue_feed
from feedgen.tokens import object_key
from tests.conftest import NOW
from tests.factories import Crm
from tests.parsers import parse_all

CONFIG = Config(publish=PublishConfig(uid_domain="crm.test"))
WHOLE_YEAR = FeedOptions(days_back=400, days_ahead=400)

# Local wall-clock times on, and around, the days the clocks change.
DST_CASES = [
    ("Europe/Berlin", datetime(2026, 3, 28, 9, 0)),  # the day before summer time
    ("Europe/Berlin", datetime(2026, 3, 29, 9, 0)),  # summer time starts at 02:00
    ("Europe/Berlin", datetime(2026, 10, 25, 9, 0)),  # back to winter time
    ("America/New_York", datetime(2026, 3, 8, 9, 0)),  # US summer time starts
    ("America/New_York", datetime(2026, 11, 1, 9, 0)),  # and ends
    ("Asia/Kolkata", datetime(2026, 12, 1, 9, 0)),  # UTC+05:30
    ("Australia/Adelaide", datetime(2026, 10, 4, 9, 0)),  # UTC+09:30 → +10:30 that night
]


def to_utc(local: datetime, zone: str) -> datetime:
    aware = local.replace(tzinfo=ZoneInfo(zone))
    return aware.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def to_local(utc: datetime, zone: str) -> datetime:
    return utc.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def build_feed(engine: sa.Engine, user: int) -> bytes:
    with engine.begin() as conn:
        token = issue_feed(conn, SubjectKind.USER, user, NOW, WHOLE_YEAR).token
    storage = MemoryStorage()
    Builder(engine, storage, CONFIG, now=lambda: NOW).cycle()
    data = storage.get(object_key(token))
    assert data is not None
    return data


@pytest.mark.parametrize(("zone", "local"), DST_CASES, ids=[f"{z}-{d:%m-%d}" for z, d in DST_CASES])
def test_a_meeting_keeps_its_local_time_across_dst(
    engine: sa.Engine, zone: str, local: datetime
) -> None:
    crm = Crm(engine, NOW)
    user = crm.user("Anna", zone=zone)
    activity = crm.activity(user, start=to_utc(local, zone), minutes=90)
    event = parse_all(build_feed(engine, user))[f"activity-{activity}@crm.test"]
    assert isinstance(event.start, datetime) and isinstance(event.end, datetime)
    assert to_local(event.start, zone) == local
    assert to_local(event.end, zone) == local + timedelta(minutes=90)


def test_a_meeting_across_midnight_spans_two_local_days(engine: sa.Engine) -> None:
    zone = "Europe/Berlin"
    crm = Crm(engine, NOW)
    user = crm.user("Anna", zone=zone)
    start = datetime(2026, 12, 4, 23, 0)
    activity = crm.activity(user, start=to_utc(start, zone), minutes=120)
    event = parse_all(build_feed(engine, user))[f"activity-{activity}@crm.test"]
    assert isinstance(event.end, datetime)
    assert to_local(event.end, zone) == datetime(2026, 12, 5, 1, 0)


def test_an_all_day_meeting_on_a_dst_day_is_a_date_with_an_exclusive_end(
    engine: sa.Engine,
) -> None:
    crm = Crm(engine, NOW)
    user = crm.user("Anna", zone="Europe/Berlin")
    first, last = datetime(2026, 10, 24), datetime(2026, 10, 26)
    activity = crm.activity(user, start=first, all_day=True, ends_at=last)
    event = parse_all(build_feed(engine, user))[f"activity-{activity}@crm.test"]
    assert (event.start, event.end) == (date(2026, 10, 24), date(2026, 10, 27))


def test_the_calendar_carries_no_time_zone(engine: sa.Engine) -> None:
    crm = Crm(engine, NOW)
    user = crm.user("Anna", zone="Asia/Kolkata")
    crm.activity(user)
    data = build_feed(engine, user)
    assert b"X-WR-TIMEZONE" not in data and b"VTIMEZONE" not in data


def test_a_users_zone_known_or_not_changes_nothing_in_the_feed(engine: sa.Engine) -> None:
    crm = Crm(engine, NOW)
    user = crm.user("Anna", zone="Europe/Berlin")
    crm.activity(user, start=datetime(2026, 12, 1, 14, 0))
    with engine.begin() as conn:
        token = issue_feed(conn, SubjectKind.USER, user, NOW, WHOLE_YEAR).token
    storage = MemoryStorage()
    builder = Builder(engine, storage, CONFIG, now=lambda: NOW)
    builder.cycle()
    before = storage.get(object_key(token))
    for zone in ("Australia/Adelaide", "Mars/Olympus_Mons"):
        crm.update_user(user, time_zone=zone)
        builder.cycle()
        assert storage.get(object_key(token)) == before


def test_timed_events_are_written_in_utc(engine: sa.Engine) -> None:
    crm = Crm(engine, NOW)
    user = crm.user("Anna", zone="America/New_York")
    crm.activity(user, start=datetime(2026, 12, 1, 14, 0))
    data = build_feed(engine, user)
    assert b"DTSTART:20261201T140000Z" in data and b"TZID" not in data


def offset_changes(zone: str, year: int) -> list[datetime]:
    """The UTC instants (naive) in ``year`` at which ``zone`` changes its offset."""
    tz, step = ZoneInfo(zone), timedelta(minutes=30)
    changes, at = [], datetime(year, 1, 1, tzinfo=UTC)
    while at.year == year:
        if (at + step).astimezone(tz).utcoffset() != at.astimezone(tz).utcoffset():
            changes.append((at + step).replace(tzinfo=None))
        at += step
    return changes


# Around each change: ending at it, across it, inside the hour that repeats (or just after the
# skipped one), and across the whole repeated hour.
AROUND_A_CHANGE = [(-30, 30), (-30, 60), (0, 15), (30, 30), (-60, 120)]


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Adelaide"])
def test_every_parser_reads_the_same_instants_at_both_dst_changes(
    engine: sa.Engine, zone: str
) -> None:
    changes = offset_changes(zone, 2027)
    assert len(changes) == 2  # summer time starts and ends
    crm = Crm(engine, NOW)
    user = crm.user("Anna", zone=zone)
    expected = {}
    for change in changes:
        for offset, minutes in AROUND_A_CHANGE:
            start = change + timedelta(minutes=offset)
            activity = crm.activity(user, start=start, minutes=minutes)
            expected[f"activity-{activity}@crm.test"] = (start, start + timedelta(minutes=minutes))
    events = parse_all(build_feed(engine, user))
    assert {uid: (e.start, e.end) for uid, e in events.items()} == expected

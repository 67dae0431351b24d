"""Builds end to end on both databases: the CRM in, feeds in storage out, read back by 3 parsers."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from feedgen.build import Builder
from feedgen.config import Config, PublishConfig, WorkerConfig
from feedgen.model import FeedOptions, SubjectKind
from feedgen.publish.storage.memory import MemoryStorage
from feedgen.state import tables as state
from feedgen.state.feeds import issue_feed, revoke_feed, rotate_feed
from feedgen.tokens import object_key
from tests.conftest import NOW
from tests.factories import Crm
from tests.parsers import parse_all

CONFIG = Config(publish=PublishConfig(uid_domain="crm.test"))


@pytest.fixture
def builder(engine: sa.Engine, storage: MemoryStorage) -> Builder:
    return Builder(engine, storage, CONFIG, now=lambda: NOW)


def issue(engine: sa.Engine, kind: SubjectKind, subject_id: int, **options: object) -> str:
    with engine.begin() as conn:
        return issue_feed(conn, kind, subject_id, NOW, FeedOptions(**options)).token  # type: ignore[arg-type]


def events_of(storage: MemoryStorage, token: str) -> dict[str, object]:
    data = storage.get(object_key(token))
    assert data is not None, "the feed has no object"
    return parse_all(data)


def uid(activity_id: int, team: int | None = None) -> str:
    suffix = f".team-{team}" if team else ""
    return f"activity-{activity_id}{suffix}@crm.test"


def test_a_users_feed_holds_owned_and_shared_activities_but_no_notes(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage, builder: Builder
) -> None:
    anna, ben = crm.user("Anna Schmidt"), crm.user("Ben Li")
    own = crm.activity(anna, "viewing", "Flat, 3 rooms; balcony")
    shared = crm.activity(ben, "meeting", "Team sync", colleagues=(anna,))
    call = crm.activity(anna, "call", "Call notary", minutes=15)
    task = crm.activity(anna, "task", "Send contract", due=NOW + timedelta(days=2), priority="high")
    crm.activity(anna, "note", "Met at fair", start=None)
    crm.activity(ben, "meeting", "Ben alone")
    token = issue(engine, SubjectKind.USER, anna)
    report = builder.cycle()
    assert report.failed == 0
    assert set(events_of(storage, token)) == {uid(own), uid(shared), uid(call), uid(task)}


def test_an_unchanged_feed_is_not_uploaded_again(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage, builder: Builder
) -> None:
    anna = crm.user("Anna")
    crm.activity(anna)
    issue(engine, SubjectKind.USER, anna)
    builder.build()
    puts = storage.put_count
    builder.build()
    assert storage.put_count == puts


def test_an_edit_reaches_the_feed_in_one_cycle(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage, builder: Builder
) -> None:
    anna = crm.user("Anna")
    activity = crm.activity(anna, title="Old title")
    token = issue(engine, SubjectKind.USER, anna)
    builder.cycle()
    crm.edit(activity, title="New title")
    builder.cycle()
    assert events_of(storage, token)[uid(activity)].summary == "New title"  # type: ignore[attr-defined]


def test_a_removed_participant_loses_the_event(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage, builder: Builder
) -> None:
    anna, ben = crm.user("Anna"), crm.user("Ben")
    activity = crm.activity(anna, colleagues=(ben,))
    token = issue(engine, SubjectKind.USER, ben)
    builder.cycle()
    assert uid(activity) in events_of(storage, token)
    crm.remove_colleague(activity, ben)
    builder.cycle()
    assert uid(activity) not in events_of(storage, token)


def test_a_hard_deleted_activity_leaves_the_feed(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage, builder: Builder
) -> None:
    anna = crm.user("Anna")
    keep, gone = crm.activity(anna), crm.activity(anna, title="Cancelled viewing")
    token = issue(engine, SubjectKind.USER, anna)
    builder.cycle()
    crm.hard_delete(gone)
    builder.cycle()
    assert set(events_of(storage, token)) == {uid(keep)}


def test_an_owner_change_moves_the_event(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage, builder: Builder
) -> None:
    anna, ben = crm.user("Anna"), crm.user("Ben")
    activity = crm.activity(anna)
    anna_token, ben_token = (
        issue(engine, SubjectKind.USER, anna),
        issue(engine, SubjectKind.USER, ben),
    )
    builder.cycle()
    crm.edit(activity, owner_id=ben)
    builder.cycle()
    assert uid(activity) not in events_of(storage, anna_token)
    assert uid(activity) in events_of(storage, ben_token)


def test_a_late_commit_inside_the_lookback_is_picked_up(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage, builder: Builder
) -> None:
    anna = crm.user("Anna")
    token = issue(engine, SubjectKind.USER, anna)
    builder.cycle()
    # A row whose updated_at lies before the last cycle started: its transaction committed late.
    late = crm.activity(anna, updated_at=crm.stamp() - timedelta(minutes=3))
    builder.cycle()
    assert uid(late) in events_of(storage, token)


def test_a_team_feed_shows_each_activity_once_naming_the_members(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage, builder: Builder
) -> None:
    anna, ben, cleo = crm.user("Anna"), crm.user("Ben"), crm.user("Cleo")
    team = crm.team("Sales North", [anna, ben])
    both = crm.activity(anna, title="Joint viewing", colleagues=(ben,))
    crm.activity(cleo, title="Not this team")
    token = issue(engine, SubjectKind.TEAM, team)
    builder.cycle()
    events = events_of(storage, token)
    assert list(events) == [uid(both, team)]
    assert events[uid(both, team)].summary == "Anna, Ben: Joint viewing"  # type: ignore[attr-defined]


def test_a_membership_change_shows_within_one_cycle(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage, builder: Builder
) -> None:
    anna, ben = crm.user("Anna"), crm.user("Ben")
    team = crm.team("Sales", [anna, ben])
    bens = crm.activity(ben, title="Ben's viewing")
    token = issue(engine, SubjectKind.TEAM, team)
    builder.cycle()
    crm.remove_member(team, ben)
    builder.cycle()
    assert uid(bens, team) not in events_of(storage, token)


def test_a_broken_activity_is_skipped_and_the_rest_builds(
    crm: Crm,
    engine: sa.Engine,
    storage: MemoryStorage,
    builder: Builder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    anna = crm.user("Anna")
    good = crm.activity(anna)
    broken = crm.activity(anna, ends_at=NOW - timedelta(days=30))
    token = issue(engine, SubjectKind.USER, anna)
    report = builder.cycle()
    assert set(events_of(storage, token)) == {uid(good)}
    assert report.failed == 0
    assert f"activity {broken}: ends before it starts" in caplog.text


def test_a_failed_upload_stays_local_and_is_repaired_next_cycle(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage, builder: Builder
) -> None:
    anna, ben = crm.user("Anna"), crm.user("Ben")
    crm.activity(anna), crm.activity(ben)
    anna_token, ben_token = (
        issue(engine, SubjectKind.USER, anna),
        issue(engine, SubjectKind.USER, ben),
    )
    storage.failing_keys.add(object_key(anna_token))
    first = builder.cycle()
    assert first.failed == 1 and storage.get(object_key(ben_token)) is not None
    storage.failing_keys.clear()
    builder.cycle()
    assert storage.get(object_key(anna_token)) is not None


def test_rotating_deletes_the_old_object(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage, builder: Builder
) -> None:
    anna = crm.user("Anna")
    crm.activity(anna)
    old = issue(engine, SubjectKind.USER, anna)
    builder.cycle()
    with engine.begin() as conn:
        new = rotate_feed(conn, SubjectKind.USER, anna, NOW)[1].token
    builder.cycle()
    assert storage.get(object_key(old)) is None
    assert storage.get(object_key(new)) is not None


def test_revoking_deletes_the_object(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage, builder: Builder
) -> None:
    anna = crm.user("Anna")
    token = issue(engine, SubjectKind.USER, anna)
    builder.cycle()
    with engine.begin() as conn:
        revoke_feed(conn, SubjectKind.USER, anna, NOW)
    builder.cycle()
    assert storage.get(object_key(token)) is None


def test_reconcile_removes_objects_no_feed_owns(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage, builder: Builder
) -> None:
    anna = crm.user("Anna")
    token = issue(engine, SubjectKind.USER, anna)
    stray = "A" * 43 + ".ics"
    storage.put(stray, b"old", content_type="text/calendar", cache_control="no-cache")
    builder.reconcile()
    assert storage.get(stray) is None
    assert storage.get(object_key(token)) is not None


def test_a_cycle_without_change_builds_nothing(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage, builder: Builder
) -> None:
    anna = crm.user("Anna")
    crm.activity(anna)
    issue(engine, SubjectKind.USER, anna)
    builder.cycle()
    report = builder.cycle()
    assert report.feeds_built == 0


def test_builds_record_hash_size_and_events(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage, builder: Builder
) -> None:
    anna = crm.user("Anna")
    crm.activity(anna), crm.activity(anna, "call")
    issue(engine, SubjectKind.USER, anna)
    builder.cycle()
    with engine.connect() as conn:
        row = conn.execute(sa.select(state.builds)).one()
    assert (row.event_count, row.dirty, row.failures) == (2, False, 0)
    assert row.size > 0 and len(row.content_hash) == 64


def test_team_feeds_larger_than_a_batch_still_build_whole(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage
) -> None:
    members = [crm.user(f"Agent {i}") for i in range(5)]
    team = crm.team("Sales", members)
    activities = {crm.activity(member, title=f"Viewing {i}") for i, member in enumerate(members)}
    token = issue(engine, SubjectKind.TEAM, team)
    for member in members:
        issue(engine, SubjectKind.USER, member)
    small = Config(publish=CONFIG.publish, worker=WorkerConfig(batch_size=2))
    report = Builder(engine, storage, small, now=lambda: NOW).cycle()
    assert report.feeds_built == 6
    assert set(events_of(storage, token)) == {uid(a, team) for a in activities}


def test_the_next_day_brings_events_into_the_window_and_touches_only_their_feeds(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage
) -> None:
    anna, ben = crm.user("Anna"), crm.user("Ben")
    edge = NOW.replace(hour=10, minute=0) + timedelta(days=366)  # one day past the window
    coming = crm.activity(anna, start=edge)
    crm.activity(ben)
    anna_token = issue(engine, SubjectKind.USER, anna)
    issue(engine, SubjectKind.USER, ben)
    Builder(engine, storage, CONFIG, now=lambda: NOW).cycle()
    assert uid(coming) not in events_of(storage, anna_token)
    report = Builder(engine, storage, CONFIG, now=lambda: NOW + timedelta(days=1)).cycle()
    assert uid(coming) in events_of(storage, anna_token)
    assert report.feeds_built == 1


def test_a_renamed_colleague_reaches_the_feeds_of_those_who_share_an_activity(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage, builder: Builder
) -> None:
    anna, ben = crm.user("Anna"), crm.user("Ben Li")
    crm.activity(anna, title="Joint viewing", colleagues=(ben,))
    token = issue(engine, SubjectKind.USER, anna)
    builder.cycle()
    crm.update_user(ben, name="Ben Li-Weber")
    builder.cycle()
    assert b"Ben Li-Weber" in (storage.get(object_key(token)) or b"")


def test_each_team_feed_is_built_right_before_its_members_feeds(
    crm: Crm, engine: sa.Engine, builder: Builder
) -> None:
    anna, ben, cem, dora = (crm.user(name) for name in ("Anna", "Ben", "Cem", "Dora"))
    sales = crm.team("Sales", [anna, ben])
    lettings = crm.team("Lettings", [anna, dora])  # Anna's feed follows her first team's
    with engine.begin() as conn:

        def feed(kind: SubjectKind, subject: int) -> int:
            return issue_feed(conn, kind, subject, NOW, FeedOptions()).id

        issued = {
            "cem": feed(SubjectKind.USER, cem),
            "dora": feed(SubjectKind.USER, dora),
            "lettings": feed(SubjectKind.TEAM, lettings),
            "ben": feed(SubjectKind.USER, ben),
            "anna": feed(SubjectKind.USER, anna),
            "sales": feed(SubjectKind.TEAM, sales),
        }
    with engine.connect() as conn:
        order = list(builder.batches.build_order(conn, None))
    names = {feed_id: name for name, feed_id in issued.items()}
    assert [names[i] for i in order] == ["cem", "sales", "ben", "anna", "lettings", "dora"]

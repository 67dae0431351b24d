"""Incremental updates: a patched feed is byte for byte the feed a full build writes, and a feed
is patched only while nothing but its activities changed.

The end-to-end tests run cycles after random CRM changes, on both databases, and compare the team
feed and every member's own with ``Builder.preview`` (a full render that stores nothing).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from feedgen.build import Builder
from feedgen.build import batches as build_module
from feedgen.build.claims import ClaimedFeed
from feedgen.build.incremental import patchable
from feedgen.build.report import RunReport
from feedgen.config import Config, PublishConfig
from feedgen.crm import tables as crm_tables
from feedgen.crm.index import MOST_TRACKED
from feedgen.model import Feed, FeedOptions, SubjectKind
from feedgen.publish.storage.memory import MemoryStorage
from feedgen.render import patch as patch_module
from feedgen.render.header import FOOTER
from feedgen.state import tables as state
from feedgen.state.feeds import issue_feed
from feedgen.tokens import object_key
from tests.conftest import NOW
from tests.factories import Crm
from tests.parsers import parse_all


def config(max_bytes: int = 1_000_000) -> Config:
    return Config(publish=PublishConfig(uid_domain="crm.test", max_feed_bytes=max_bytes))


def team_feed(engine: sa.Engine, team: int, **options: object) -> tuple[int, str]:
    with engine.begin() as conn:
        feed = issue_feed(conn, SubjectKind.TEAM, team, NOW, FeedOptions(**options))  # type: ignore[arg-type]
    return feed.id, feed.token


def user_feed(engine: sa.Engine, user: int) -> tuple[int, str]:
    with engine.begin() as conn:
        feed = issue_feed(conn, SubjectKind.USER, user, NOW, FeedOptions())
    return feed.id, feed.token


def build_row(engine: sa.Engine, feed_id: int) -> sa.Row[tuple[object, ...]]:
    b = state.builds
    with engine.connect() as conn:
        return conn.execute(sa.select(b).where(b.c.feed_id == feed_id)).one()


def sales_team(crm: Crm) -> tuple[int, list[int], int]:
    """A team of three with a dozen activities; and an outsider who works with them."""
    members = [crm.user("Anna Schmidt"), crm.user("Ben Li"), crm.user("Cleo Ørsted")]
    outsider = crm.user("Dana Outside")
    team = crm.team("Sales North", members)
    for day in range(-6, 7):
        owner = members[day % 3]
        start = NOW.replace(hour=9 + day % 5, minute=0) + timedelta(days=day * 3)
        crm.activity(owner, "viewing", f"Viewing {day}, Hauptstraße {day + 10}", start=start)
    return team, members, outsider


@dataclass
class Published:
    """A team feed built once by ``builder``: the starting point of an incremental update."""

    team: int
    members: list[int]
    outsider: int
    feed_id: int
    token: str
    builder: Builder

    def stored(self, storage: MemoryStorage) -> bytes | None:
        return storage.get(object_key(self.token))


@pytest.fixture
def published(crm: Crm, engine: sa.Engine, storage: MemoryStorage) -> Published:
    team, members, outsider = sales_team(crm)
    feed_id, token = team_feed(engine, team)
    builder = Builder(engine, storage, config(), now=lambda: NOW)
    builder.cycle()
    return Published(team, members, outsider, feed_id, token, builder)


def test_an_edit_patches_the_team_feed_to_the_bytes_of_a_full_build(
    crm: Crm, storage: MemoryStorage, published: Published
) -> None:
    anna, ben = published.members[:2]
    meeting = crm.activity(anna, title="Price talk", colleagues=(ben,))
    assert published.builder.cycle().patched == 1
    data = published.stored(storage)
    assert data == published.builder.preview(published.feed_id).data
    assert f"activity-{meeting}.team-{published.team}@crm.test" in parse_all(data)


@pytest.fixture
def annas_feed(crm: Crm, engine: sa.Engine, published: Published) -> tuple[int, str]:
    """Anna's own feed, built, and a new activity of hers that the next cycle will pick up."""
    feed_id, token = user_feed(engine, published.members[0])
    published.builder.cycle()
    crm.activity(published.members[0], title="Key handover")
    return feed_id, token


def test_an_edit_patches_the_owners_own_feed_to_the_bytes_of_a_full_build(
    storage: MemoryStorage, published: Published, annas_feed: tuple[int, str]
) -> None:
    feed_id, token = annas_feed
    assert published.builder.cycle().patched == 2  # Anna's feed and her team's
    data = storage.get(object_key(token))
    assert data == published.builder.preview(feed_id).data
    assert b"Key handover" in (data or b"")


def test_a_renamed_user_gets_their_own_feed_built_in_full(
    crm: Crm, storage: MemoryStorage, published: Published, annas_feed: tuple[int, str]
) -> None:
    feed_id, token = annas_feed
    crm.update_user(published.members[0], name="Anna Berg")
    assert published.builder.cycle().patched == 0
    data = storage.get(object_key(token))
    assert data == published.builder.preview(feed_id).data
    assert b"Anna Berg" in (data or b"")


def test_detection_leaves_the_changed_activities_for_the_patch(
    crm: Crm, engine: sa.Engine, published: Published
) -> None:
    assert build_row(engine, published.feed_id).pending_ids == ""
    edited = crm.activity(published.members[1], title="Keys handover")
    published.builder.detect(RunReport("detect"))
    row = build_row(engine, published.feed_id)
    assert (row.dirty, row.pending_ids) == (True, f",{edited}")


def test_a_membership_change_builds_the_team_feed_in_full(crm: Crm, published: Published) -> None:
    crm.remove_member(published.team, published.members[2])
    report = published.builder.cycle()
    assert (report.patched, report.feeds_built) == (0, 1)


def test_a_new_day_builds_the_team_feed_in_full(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage, published: Published
) -> None:
    crm.activity(published.members[0], title="Tomorrow's call", kind="call")
    tomorrow = Builder(engine, storage, config(), now=lambda: NOW + timedelta(days=1))
    assert tomorrow.cycle().patched == 0
    assert published.stored(storage) == tomorrow.preview(published.feed_id).data


def test_an_object_changed_behind_our_back_is_built_in_full(
    crm: Crm, storage: MemoryStorage, published: Published
) -> None:
    tampered = b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"
    key = object_key(published.token)
    storage.put(key, tampered, content_type="text/calendar", cache_control="")
    crm.activity(published.members[0], title="After the tampering")
    assert published.builder.cycle().patched == 0
    assert published.stored(storage) == published.builder.preview(published.feed_id).data


def test_a_renamed_team_is_built_in_full(
    engine: sa.Engine, storage: MemoryStorage, published: Published
) -> None:
    teams = crm_tables.teams
    with engine.begin() as conn:
        conn.execute(teams.update().where(teams.c.id == published.team), {"name": "Sales East"})
    assert published.builder.cycle().patched == 0
    assert b"Sales East" in (published.stored(storage) or b"")


# --- random changes, compared with full builds --------------------------------------------------


def _random_change(crm: Crm, rng: random.Random, members: list[int], outsider: int) -> None:
    ids = crm.activity_ids
    owner = rng.choice(members)
    days = rng.randint(-20, 40)
    start = NOW.replace(hour=rng.randint(7, 18), minute=rng.choice((0, 15, 30))) + timedelta(
        days=days
    )
    op = rng.choice(
        [
            "create",
            "create_shared",
            "create_outsider",
            "move",
            "retitle",
            "cancel",
            "delete",
            "hard_delete",
            "hand_over",
            "add_colleague",
            "remove_colleague",
            "break",
            "task",
            "resave",
        ]
    )
    target = rng.choice(ids)
    if op == "create":
        crm.activity(owner, rng.choice(("meeting", "viewing", "call")), f"New {days}", start=start)
    elif op == "create_shared":
        crm.activity(outsider, title=f"With us {days}", start=start, colleagues=(owner,))
    elif op == "create_outsider":
        crm.activity(outsider, title=f"Not ours {days}", start=start)
    elif op == "move":
        crm.edit(target, starts_at=start, ends_at=start + timedelta(minutes=45))
    elif op == "retitle":
        hostile = rng.choice(("Renamed; ", "Q3\nBEGIN:VEVENT\nUID:activity-1@x\n", "Zoë, \\N "))
        title = f"{hostile}{rng.random():.6f}"
        crm.edit(target, title=title, description="x" * rng.randint(0, 900))
    elif op == "cancel":
        crm.edit(target, status="cancelled")
    elif op == "delete":
        crm.edit(target, deleted_at=NOW)
    elif op == "hard_delete":
        crm.hard_delete(target)
        ids.remove(target)
    elif op == "hand_over":
        crm.edit(target, owner_id=rng.choice([*members, outsider]))
    elif op == "add_colleague":
        crm.add_colleague(target, rng.choice([*members, outsider]))
    elif op == "remove_colleague":
        for user in [*members, outsider]:
            crm.remove_colleague(target, user)
    elif op == "break":
        crm.edit(target, ends_at=datetime(2000, 1, 1))
    elif op == "resave":  # a quick correction within the same second
        second = crm.stamp()
        crm.edit(target, at=second.replace(microsecond=200_000), title=f"Draft {days}")
        crm.edit(target, at=second.replace(microsecond=700_000), title=f"Final {days}")
    else:
        due = start if rng.random() < 0.5 else start.replace(hour=0)
        crm.activity(owner, "task", f"Task {days}", due=due, all_day=due.hour == 0)


@pytest.mark.parametrize(
    ("max_bytes", "tail_bytes", "seed"),
    [
        (1_000_000, 16_384, 1),
        (1_000_000, 16_384, 2),
        (9_000, 0, 3),
        (9_000, 1_500, 4),
        (16_000, 1_500, 5),
        (16_000, 0, 6),
        (9_000, 16_384, 7),
    ],
    ids=[
        "whole-1",
        "whole-2",
        "future-trimmed-no-tail",
        "future-trimmed-short-tail",
        "past-trimmed-short-tail",
        "past-trimmed-no-tail",
        "trimmed-tail-holds-the-rest",
    ],
)
def test_random_changes_patch_to_the_bytes_of_a_full_build(
    crm: Crm,
    engine: sa.Engine,
    storage: MemoryStorage,
    monkeypatch: pytest.MonkeyPatch,
    max_bytes: int,
    tail_bytes: int,
    seed: int,
) -> None:
    monkeypatch.setattr(build_module, "TAIL_BYTES", tail_bytes)
    monkeypatch.setattr(patch_module, "TAIL_BYTES", tail_bytes)
    rng = random.Random(seed)
    team, members, outsider = sales_team(crm)
    for i in range(25):
        start = NOW.replace(hour=8, minute=0) + timedelta(days=rng.randint(-25, 45), hours=i % 9)
        crm.activity(rng.choice(members), "meeting", f"Meeting {i}", start=start)
    feed_id, token = team_feed(engine, team)
    own = [user_feed(engine, user) for user in [*members, outsider]]
    builder = Builder(engine, storage, config(max_bytes), now=lambda: NOW)
    builder.cycle()
    patched = 0
    for _ in range(12):
        for _ in range(rng.randint(1, 3)):
            _random_change(crm, rng, members, outsider)
        patched += builder.cycle().patched
        for some_id, some_token in [(feed_id, token), *own]:
            data = storage.get(object_key(some_token))
            assert data is not None and data.endswith(FOOTER)
            assert data == builder.preview(some_id).data
    # Most cycles patched the team's and members' feeds: the comparisons above tested the patches.
    assert patched >= 24
    trimmed = build_row(engine, feed_id).left_out is not None
    assert trimmed == (max_bytes < 1_000_000)  # the small budgets did trim, at the boundary


def test_a_renamed_outsider_rebuilds_team_feeds_that_show_them_in_full(
    crm: Crm, storage: MemoryStorage, published: Published
) -> None:
    crm.activity(published.members[0], title="With Dana", colleagues=(published.outsider,))
    published.builder.cycle()
    crm.update_user(published.outsider, name="Dana Renamed")
    assert published.builder.cycle().patched == 0
    data = published.stored(storage)
    assert data == published.builder.preview(published.feed_id).data
    assert b"Dana Renamed" in (data or b"")


def _built(feed: Feed, pending: str | None) -> ClaimedFeed:
    """The feed claimed as its last build left it, with the changed activities ``pending``."""
    return ClaimedFeed(
        feed,
        content_hash="0" * 64,
        stored_key=object_key(feed.token),
        stored_page_key=None,
        pending_ids=pending,
        left_out=None,
        built_at=NOW,
        trimmed=0,
        skipped=0,
    )


def test_a_feed_is_patchable_with_its_changed_activities(crm: Crm, engine: sa.Engine) -> None:
    anna = crm.user("Anna Schmidt")
    with engine.begin() as conn:
        feed = issue_feed(conn, SubjectKind.USER, anna, NOW, FeedOptions())
    assert patchable(_built(feed, ",7,9,7"), NOW.date()) == {7, 9}


def test_a_feed_with_tasks_as_todos_is_built_in_full(crm: Crm, engine: sa.Engine) -> None:
    anna = crm.user("Anna Schmidt")
    with engine.begin() as conn:
        feed = issue_feed(conn, SubjectKind.USER, anna, NOW, FeedOptions(tasks_as_todo=True))
    assert patchable(_built(feed, ",7"), NOW.date()) is None


def test_more_changes_than_tracked_build_in_full(crm: Crm, engine: sa.Engine) -> None:
    anna = crm.user("Anna Schmidt")
    with engine.begin() as conn:
        feed = issue_feed(conn, SubjectKind.USER, anna, NOW, FeedOptions())
    many = "".join(f",{i}" for i in range(MOST_TRACKED + 1))
    assert patchable(_built(feed, many), NOW.date()) is None

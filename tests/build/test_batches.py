"""The build order (``Batches.build_order``): each team's feed before its members', and nothing
read of the teams when no feed is dirty."""

from __future__ import annotations

import sqlalchemy as sa

from feedgen.build import Builder
from feedgen.config import Config, PublishConfig
from feedgen.model import FeedOptions, SubjectKind
from feedgen.publish.storage.memory import MemoryStorage
from feedgen.state import tables as state
from feedgen.state.feeds import issue_feed
from tests.conftest import NOW
from tests.factories import Crm

CONFIG = Config(publish=PublishConfig(uid_domain="crm.test"))


def office(crm: Crm, engine: sa.Engine) -> tuple[Builder, dict[str, int]]:
    """Cleo outside any team, Anna and Ben in one; every feed issued (all dirty)."""
    cleo, anna, ben = crm.user("Cleo Martin"), crm.user("Anna Schmidt"), crm.user("Ben Li")
    team = crm.team("Sales", [anna, ben])
    feeds = {}
    with engine.begin() as conn:
        for name, kind, subject in (
            ("cleo", SubjectKind.USER, cleo),
            ("anna", SubjectKind.USER, anna),
            ("ben", SubjectKind.USER, ben),
            ("team", SubjectKind.TEAM, team),
        ):
            feeds[name] = issue_feed(conn, kind, subject, NOW, FeedOptions()).id
    return Builder(engine, MemoryStorage(), CONFIG, now=lambda: NOW), feeds


def test_the_team_feed_comes_before_its_members_feeds(crm: Crm, engine: sa.Engine) -> None:
    builder, feeds = office(crm, engine)
    with engine.connect() as conn:
        order = list(builder.batches.build_order(conn, None))
    assert order == [feeds["cleo"], feeds["team"], feeds["anna"], feeds["ben"]]


def test_with_no_feed_dirty_the_order_is_empty_and_reads_no_membership(
    crm: Crm, engine: sa.Engine
) -> None:
    builder, _ = office(crm, engine)
    with engine.begin() as conn:
        conn.execute(sa.update(state.builds).values(dirty=False))
    seen: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    with engine.connect() as conn:
        order = list(builder.batches.build_order(conn, None))
    assert order == [] and len(seen) == 1 and "team_members" not in seen[0]

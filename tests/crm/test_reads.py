"""Reads of the CRM: users and teams as a batch needs them, never a whole table during a build."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from feedgen.build import Builder
from feedgen.build.report import RunReport
from feedgen.config import Config, PublishConfig
from feedgen.crm.people import Teams, Users
from feedgen.model import FeedOptions, SubjectKind
from feedgen.publish.storage.memory import MemoryStorage
from feedgen.state.feeds import issue_feed
from tests.conftest import NOW
from tests.factories import Crm


def test_users_are_read_when_needed_and_only_those(crm: Crm, engine: sa.Engine) -> None:
    anna, ben = crm.user("Anna Schmidt"), crm.user("Ben Li")
    with engine.connect() as conn:
        users = Users(conn)
        users.need([anna])
        assert list(users) == [anna] and users[anna].name == "Anna Schmidt"
        assert users.get(ben) is not None  # read on demand
        assert len(users) == 2


def test_a_user_not_in_the_crm_is_missing(crm: Crm, engine: sa.Engine) -> None:
    crm.user("Anna Schmidt")
    with engine.connect() as conn:
        users = Users(conn)
        assert 999_999 not in users and users.get(999_999) is None
        with pytest.raises(KeyError):
            users[999_999]


def test_teams_are_read_with_their_members_when_needed(crm: Crm, engine: sa.Engine) -> None:
    agents = [crm.user(f"Agent {i}") for i in range(4)]
    sales = crm.team("Sales", [agents[2], agents[0]])
    crm.team("Lettings", agents[1:])
    with engine.connect() as conn:
        teams = Teams(conn)
        teams.need([sales])
        assert list(teams) == [sales]
        assert teams[sales].name == "Sales"
        assert teams[sales].member_ids == (agents[0], agents[2])


def test_the_teams_of_members_are_every_team_that_has_one_of_them(
    crm: Crm, engine: sa.Engine
) -> None:
    anna, ben, cem = crm.user("Anna"), crm.user("Ben"), crm.user("Cem")
    sales = crm.team("Sales", [anna, ben])
    lettings = crm.team("Lettings", [ben])
    crm.team("Office", [cem])
    with engine.connect() as conn:
        found = Teams(conn).of_members([ben])
    assert [(t.id, t.member_ids) for t in found] == [(sales, (anna, ben)), (lettings, (ben,))]


def test_a_team_not_in_the_crm_is_missing(crm: Crm, engine: sa.Engine) -> None:
    crm.team("Sales", [crm.user("Anna Schmidt")])
    with engine.connect() as conn:
        teams = Teams(conn)
        assert 999_999 not in teams and teams.get(999_999) is None


def test_a_build_never_reads_the_whole_users_table(
    crm: Crm, engine: sa.Engine, storage: MemoryStorage
) -> None:
    agents = [crm.user(f"Agent {i}") for i in range(6)]
    team = crm.team("Sales", agents[:3])
    for i, agent in enumerate(agents):
        crm.activity(agent, title=f"Viewing {i}", colleagues=(agents[(i + 3) % 6],))
    with engine.begin() as conn:
        feeds = [issue_feed(conn, SubjectKind.USER, a, NOW, FeedOptions()).id for a in agents]
        feeds.append(issue_feed(conn, SubjectKind.TEAM, team, NOW, FeedOptions()).id)
    builder = Builder(engine, storage, Config(publish=PublishConfig(uid_domain="crm.test")))
    builder.now = lambda: NOW
    builder.detect(RunReport("detect"))  # streams every user's fingerprint: not a build's read
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()))

    report = RunReport("build")
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        builder.batches.build_chunks([feeds[:3], feeds[3:]], report)
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert report.feeds_built == 7 and report.failed == 0
    reads = [s for s in statements if s.startswith("SELECT users.id, users.name")]
    assert reads and all(" WHERE users.id IN " in s for s in reads)
    team_reads = [s for s in statements if " FROM teams" in s or " FROM team_members" in s]
    assert team_reads and all(" WHERE team" in s for s in team_reads)

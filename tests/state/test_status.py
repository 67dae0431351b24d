"""What ``feedgen status`` reports of the feeds and the deletion queue."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from feedgen.model import FeedOptions, SubjectKind
from feedgen.state import tables as state
from feedgen.state.feeds import issue_feed, queue_deletion
from feedgen.state.status import feed_status
from tests.conftest import NOW
from tests.factories import Crm


def status(engine: sa.Engine, limit: int = 10) -> tuple[list[str], list[str]]:
    with engine.connect() as conn:
        summary, rows = feed_status(conn, limit, NOW)
    return summary, [row.subject for row in rows]


def issue(engine: sa.Engine, kind: SubjectKind, subject_id: int) -> int:
    with engine.begin() as conn:
        return issue_feed(conn, kind, subject_id, NOW, FeedOptions()).id


def test_counts_published_waiting_and_failing_feeds(crm: Crm, engine: sa.Engine) -> None:
    anna, ben, cleo = (crm.user(name) for name in ("Anna Schmidt", "Ben Li", "Cleo Martin"))
    first, second, third = (issue(engine, SubjectKind.USER, user) for user in (anna, ben, cleo))
    b = state.builds
    with engine.begin() as conn:
        conn.execute(sa.update(b).where(b.c.feed_id.in_([first, second])).values(dirty=False))
        conn.execute(sa.update(b).where(b.c.feed_id == second).values(failures=2))
    summary, listed = status(engine)
    assert summary[0] == (
        "3 active feed(s): 2 published and current, 1 waiting for a build, 1 failing"
    )
    assert listed[0] == f"user {ben} (Ben Li)"  # the failing one first


def test_an_empty_queue_says_so(crm: Crm, engine: sa.Engine) -> None:
    assert "no object waiting for deletion or a CDN purge" in status(engine)[0]


def test_a_failing_deletion_shows_its_error_and_next_attempt(engine: sa.Engine) -> None:
    d = state.deletions
    with engine.begin() as conn:
        queue_deletion(conn, ["a" * 43 + ".ics", "a" * 43 + ".html"], NOW - timedelta(hours=2))
        conn.execute(
            sa.update(d).values(
                attempts=3,
                last_error="S3 delete failed: AccessDenied",
                next_attempt_at=NOW + timedelta(minutes=4),
            )
        )
    line = status(engine)[0][1]
    assert line.startswith("2 object(s) waiting for deletion from storage since ")
    assert "failing (3 attempt(s)): S3 delete failed: AccessDenied; retried at 09:34 UTC" in line


def test_feeds_of_subjects_gone_from_the_crm_are_counted(crm: Crm, engine: sa.Engine) -> None:
    anna = crm.user("Anna Schmidt")
    team = crm.team("Sales", [anna])
    issue(engine, SubjectKind.USER, anna)
    issue(engine, SubjectKind.TEAM, team)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM team_members"))
        conn.execute(sa.text("DELETE FROM teams"))
    summary, listed = status(engine)
    assert any(
        line.startswith("1 feed(s) of a user or team no longer in the CRM") for line in summary
    )
    assert listed == [f"user {anna} (Anna Schmidt)", f"team {team} (?)"]


def test_the_limit_bounds_the_listed_feeds(crm: Crm, engine: sa.Engine) -> None:
    for n in range(4):
        issue(engine, SubjectKind.USER, crm.user(f"Agent {n}"))
    assert len(status(engine, limit=2)[1]) == 2

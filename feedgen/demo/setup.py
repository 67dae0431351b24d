"""``feedgen demo``: a demo CRM seeded, feedgen's tables created, a feed issued per subject."""

from __future__ import annotations

from sqlalchemy import Engine

from ..crm.people import load_teams, load_users
from ..model import FeedOptions, SubjectKind, utc_now
from ..state import migrations
from ..state.feeds import issue_feed
from ..state.tables import metadata
from .data import DemoCounts, DemoSpec, seed_crm


def set_up_demo(engine: Engine, spec: DemoSpec, options: FeedOptions, reset: bool) -> DemoCounts:
    """Seed the CRM (``reset``: dropping feedgen's tables and the CRM's first), bring feedgen's
    tables to the head revision, and issue a feed for every active user and every team."""
    if reset:
        drop_state(engine)
    counts = seed_crm(engine, spec, now=utc_now(), reset=reset)
    migrations.upgrade(engine)
    with engine.begin() as conn:
        for user in load_users(conn).values():
            if user.active:
                issue_feed(conn, SubjectKind.USER, user.id, utc_now(), options)
        for team in load_teams(conn).values():
            issue_feed(conn, SubjectKind.TEAM, team.id, utc_now(), options)
    return counts


def drop_state(engine: Engine) -> None:
    """Drop feedgen's own tables and its migration history (a demo database only)."""
    metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {migrations.VERSION_TABLE}")

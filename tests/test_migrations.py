"""feedgen's tables upgrade in place: a deployment at an older revision keeps its feeds."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from feedgen import migrations, state
from feedgen.feeds import issue_feed
from feedgen.model import FeedOptions, SubjectKind
from tests.conftest import NOW
from tests.factories import Crm


def test_upgrading_from_0001_keeps_feeds_and_marks_them_for_a_full_build(
    engine: sa.Engine,
) -> None:
    command.downgrade(migrations.alembic_config(engine), "0001")
    with engine.begin() as conn:
        old = sa.Table("feedgen_feeds", sa.MetaData(), autoload_with=conn)
        conn.execute(
            old.insert().values(
                id=7,
                token="t" * 43,
                subject_kind="team",
                subject_id=3,
                options="{}",
                created_at=NOW,
            )
        )
        builds = sa.Table("feedgen_builds", sa.MetaData(), autoload_with=conn)
        assert "pending_ids" not in builds.c
        conn.execute(
            builds.insert().values(feed_id=7, dirty=False, trimmed=0, skipped=0, failures=0)
        )
    migrations.upgrade(engine)
    assert migrations.current_revision(engine) == migrations.head_revision(engine)
    with engine.connect() as conn:
        row = conn.execute(sa.select(state.builds)).one()
    assert (row.feed_id, row.pending_ids, row.left_out) == (7, None, None)


def test_a_new_feed_waits_for_a_full_build(engine: sa.Engine) -> None:
    team = Crm(engine, NOW).team("Sales", [])
    with engine.begin() as conn:
        feed = issue_feed(conn, SubjectKind.TEAM, team, NOW, FeedOptions())
        b = state.builds
        row = conn.execute(sa.select(b).where(b.c.feed_id == feed.id)).one()
    assert (row.dirty, row.pending_ids) == (True, None)


def test_the_migrations_create_the_tables_state_describes(engine: sa.Engine) -> None:
    def ours(name: str | None, type_: str, _parents: object) -> bool:
        return type_ != "table" or (name or "").startswith("feedgen_") and (
            name != migrations.VERSION_TABLE
        )

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": ours})
        assert compare_metadata(context, state.metadata) == []

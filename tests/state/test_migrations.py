"""feedgen's tables upgrade in place: a deployment at an older revision keeps its feeds."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from feedgen.model import FeedOptions, SubjectKind
from feedgen.state import migrations
from feedgen.state import tables as state
from feedgen.state.feeds import issue_feed
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


def test_upgrading_to_0004_gives_each_feed_a_random_page_key_and_retires_the_derived_one(
    engine: sa.Engine,
) -> None:
    import base64
    import hashlib

    command.downgrade(migrations.alembic_config(engine), "0002")
    token = "t" * 43
    with engine.begin() as conn:
        old = sa.Table("feedgen_feeds", sa.MetaData(), autoload_with=conn)
        assert "page_token" not in old.c
        conn.execute(
            old.insert().values(
                id=7, token=token, subject_kind="user", subject_id=3, options="{}", created_at=NOW
            )
        )
        builds = sa.Table("feedgen_builds", sa.MetaData(), autoload_with=conn)
        conn.execute(
            builds.insert().values(feed_id=7, dirty=False, trimmed=0, skipped=0, failures=0)
        )
    migrations.upgrade(engine)
    digest = hashlib.sha256(f"subscribe-page:{token}".encode()).digest()
    derived = base64.urlsafe_b64encode(digest).decode().rstrip("=") + ".html"
    with engine.connect() as conn:
        page_token = conn.execute(sa.select(state.feeds.c.page_token)).scalar_one()
        queued = set(conn.execute(sa.select(state.deletions.c.object_key)).scalars())
        build = conn.execute(sa.select(state.builds)).one()
    assert len(page_token) == 43 and f"{page_token}.html" != derived
    assert queued == {derived}
    assert (build.dirty, build.page_key) == (True, None)


def test_upgrading_from_0002_counts_sequences_from_zero_and_builds_every_feed_in_full(
    engine: sa.Engine,
) -> None:
    team = Crm(engine, NOW).team("Sales", [])
    with engine.begin() as conn:
        feed = issue_feed(conn, SubjectKind.TEAM, team, NOW, FeedOptions())
        conn.execute(
            sa.update(state.builds).values(dirty=False, pending_ids="", content_hash="0" * 64)
        )
    command.downgrade(migrations.alembic_config(engine), "0002")
    with engine.begin() as conn:
        index = sa.Table("feedgen_activity_index", sa.MetaData(), autoload_with=conn)
        assert "sequence" not in index.c
        conn.execute(index.insert().values(activity_id=12, version=NOW, user_ids="3"))
    migrations.upgrade(engine)
    with engine.connect() as conn:
        indexed = conn.execute(sa.select(state.activity_index)).one()
        built = conn.execute(sa.select(state.builds)).one()
    assert (indexed.activity_id, indexed.version, indexed.sequence) == (12, NOW, 0)
    assert (built.feed_id, built.dirty, built.pending_ids) == (feed.id, True, None)


def test_the_migrations_create_the_tables_state_describes(engine: sa.Engine) -> None:
    def ours(name: str | None, type_: str, _parents: object) -> bool:
        return (
            type_ != "table"
            or (name or "").startswith("feedgen_")
            and (name != migrations.VERSION_TABLE)
        )

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": ours})
        assert compare_metadata(context, state.metadata) == []

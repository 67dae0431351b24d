"""feeds: a random page token; builds: the page last uploaded; deletions: CDN purge retries

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _derived_page_key(token: str) -> str:
    # How page keys were made before this revision: a hash of the feed token.
    digest = hashlib.sha256(f"subscribe-page:{token}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=") + ".html"


def upgrade() -> None:
    with op.batch_alter_table("feedgen_feeds") as batch:
        batch.add_column(sa.Column("page_token", sa.String(64)))
    with op.batch_alter_table("feedgen_builds") as batch:
        batch.add_column(sa.Column("page_key", sa.String(200)))
    with op.batch_alter_table("feedgen_deletions") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime))

    conn = op.get_bind()
    feeds = sa.table(
        "feedgen_feeds",
        sa.column("id", sa.Integer),
        sa.column("token", sa.String),
        sa.column("page_token", sa.String),
        sa.column("revoked_at", sa.DateTime),
    )
    deletions = sa.table(
        "feedgen_deletions",
        sa.column("object_key", sa.String),
        sa.column("requested_at", sa.DateTime),
        sa.column("attempts", sa.Integer),
    )
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    queued = set(conn.execute(sa.select(deletions.c.object_key)).scalars())
    rows = conn.execute(sa.select(feeds.c.id, feeds.c.token, feeds.c.revoked_at)).all()
    for feed_id, token, revoked_at in rows:
        conn.execute(
            feeds.update().where(feeds.c.id == feed_id).values(page_token=secrets.token_urlsafe(32))
        )
        old_page = _derived_page_key(token)
        # Pages of live feeds move to a key of their own: the derivable one must go.
        if revoked_at is None and old_page not in queued:
            conn.execute(
                deletions.insert().values(object_key=old_page, requested_at=now, attempts=0)
            )
    with op.batch_alter_table("feedgen_feeds") as batch:
        batch.alter_column("page_token", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_feedgen_feeds_page_token", ["page_token"])
    # Every live feed's page is uploaded under its new key at the next build.
    op.execute("UPDATE feedgen_builds SET dirty = true, pending_ids = NULL")


def downgrade() -> None:
    with op.batch_alter_table("feedgen_deletions") as batch:
        batch.drop_column("next_attempt_at")
        batch.drop_column("deleted_at")
    with op.batch_alter_table("feedgen_builds") as batch:
        batch.drop_column("page_key")
    with op.batch_alter_table("feedgen_feeds") as batch:
        batch.drop_constraint("uq_feedgen_feeds_page_token", type_="unique")
        batch.drop_column("page_token")

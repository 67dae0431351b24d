"""feeds, builds, deletions and the change-detection index

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedgen_feeds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("subject_kind", sa.String(8), nullable=False),
        sa.Column("subject_id", sa.Integer, nullable=False),
        sa.Column("options", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("rotated_at", sa.DateTime),
        sa.Column("revoked_at", sa.DateTime),
    )
    op.create_index("ix_feedgen_feeds_subject", "feedgen_feeds", ["subject_kind", "subject_id"])
    op.create_index(
        "ux_feedgen_feeds_active_subject",
        "feedgen_feeds",
        ["subject_kind", "subject_id"],
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.create_table(
        "feedgen_builds",
        sa.Column("feed_id", sa.Integer, sa.ForeignKey("feedgen_feeds.id"), primary_key=True),
        sa.Column("dirty", sa.Boolean, nullable=False),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("object_key", sa.String(200)),
        sa.Column("size", sa.Integer),
        sa.Column("event_count", sa.Integer),
        sa.Column("trimmed", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        sa.Column("built_at", sa.DateTime),
        sa.Column("uploaded_at", sa.DateTime),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_at", sa.DateTime),
    )
    op.create_index("ix_feedgen_builds_dirty", "feedgen_builds", ["dirty"])
    op.create_table(
        "feedgen_deletions",
        sa.Column("object_key", sa.String(200), primary_key=True),
        sa.Column("requested_at", sa.DateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
    )
    op.create_table(
        "feedgen_activity_index",
        sa.Column("activity_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.DateTime, nullable=False),
        sa.Column("user_ids", sa.Text, nullable=False),
    )
    op.create_table(
        "feedgen_subject_index",
        sa.Column("subject_kind", sa.String(8), primary_key=True),
        sa.Column("subject_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
    )
    op.create_table(
        "feedgen_cursors",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "feedgen_cursors",
        "feedgen_subject_index",
        "feedgen_activity_index",
        "feedgen_deletions",
        "feedgen_builds",
        "feedgen_feeds",
    ):
        op.drop_table(table)

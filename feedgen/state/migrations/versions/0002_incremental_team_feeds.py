"""builds: pending activity ids and the first event left out, for incremental team feeds

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL pending_ids means "build in full": every existing feed starts that way.
    with op.batch_alter_table("feedgen_builds") as batch:
        batch.add_column(sa.Column("pending_ids", sa.Text))
        batch.add_column(sa.Column("left_out", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("feedgen_builds") as batch:
        batch.drop_column("left_out")
        batch.drop_column("pending_ids")

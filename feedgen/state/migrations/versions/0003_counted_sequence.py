"""activity index: the SEQUENCE counted for each version; every feed due for a full build

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0 renders as before: SEQUENCE is never below the whole seconds since creation.
    with op.batch_alter_table("feedgen_activity_index") as batch:
        batch.add_column(sa.Column("sequence", sa.Integer, nullable=False, server_default="0"))
    # Versions now keep their microseconds: an event's bytes may differ from what older code
    # wrote, so no feed is patched from those bytes; each is built in full once.
    builds = sa.table("feedgen_builds", sa.column("dirty"), sa.column("pending_ids"))
    op.execute(builds.update().values(dirty=True, pending_ids=None))


def downgrade() -> None:
    with op.batch_alter_table("feedgen_activity_index") as batch:
        batch.drop_column("sequence")

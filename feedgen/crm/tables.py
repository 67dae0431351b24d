"""The CRM tables feedgen reads: the contract a CRM database must offer (tables or views).

feedgen never writes these tables; ``feedgen demo`` creates them only to seed a demo CRM. All
timestamps are UTC. See the README's "CRM contract" for what each column must guarantee.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from ..errors import SourceError

metadata = MetaData()


users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320)),
    # An IANA zone name such as "Europe/Berlin"; unknown names fall back to UTC with a warning.
    Column("time_zone", String(64), nullable=False, default="UTC"),
    Column("active", Boolean, nullable=False, default=True),
    # Set on every change of name, email, time_zone or active: feedgen's change detection.
    Column("updated_at", DateTime, nullable=False),
    Index("ix_users_updated_at", "updated_at"),
)


teams = Table(
    "teams",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
)


team_members = Table(
    "team_members",
    metadata,
    Column("team_id", Integer, ForeignKey("teams.id"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("role", String(20), nullable=False, default="member"),
)


activities = Table(
    "activities",
    metadata,
    Column("id", Integer, primary_key=True),
    # meeting | viewing | call | task | note
    Column("kind", String(16), nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text),
    Column("location", Text),
    Column("starts_at", DateTime),
    Column("ends_at", DateTime),
    Column("due_at", DateTime),
    Column("all_day", Boolean, nullable=False, default=False),
    # high | normal | low (tasks)
    Column("priority", String(8)),
    # open | done | cancelled
    Column("status", String(16), nullable=False, default="open"),
    Column("owner_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    # Set on every change of the row or of its participants: feedgen's change detection.
    Column("updated_at", DateTime, nullable=False),
    Column("deleted_at", DateTime),
    Index("ix_activities_updated_at", "updated_at"),
    Index("ix_activities_owner_starts", "owner_id", "starts_at"),
    Index("ix_activities_owner_due", "owner_id", "due_at"),
)


participants = Table(
    "participants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("activity_id", Integer, ForeignKey("activities.id"), nullable=False),
    # A colleague when set; an outside contact (name, email) otherwise.
    Column("user_id", Integer, ForeignKey("users.id")),
    Column("name", String(200)),
    Column("email", String(320)),
    Index("ix_participants_activity", "activity_id"),
    Index("ix_participants_user", "user_id"),
)


CRM_TABLES = (users, teams, team_members, activities, participants)


def check_schema(conn: Connection) -> None:
    """Raise SourceError naming what is missing when the CRM tables do not match the contract."""
    for table in CRM_TABLES:
        try:
            conn.execute(select(*table.c).limit(0))
        except SQLAlchemyError as exc:
            conn.rollback()
            reason = str(exc.orig if hasattr(exc, "orig") else exc).splitlines()[0]
            raise SourceError(
                f"the CRM table '{table.name}' is missing or lacks a column the contract needs "
                f"({reason}); see the README's CRM contract"
            ) from None

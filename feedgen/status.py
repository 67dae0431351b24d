"""What operators see in ``feedgen status``: counts, failures and a few feeds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from . import crm, state
from .feeds import feed_from_row
from .model import Feed, SubjectKind


@dataclass
class FeedRow:
    feed: Feed
    subject: str
    name: str
    events: int | None
    size: int | None
    built_at: datetime | None
    error: str | None


def feed_status(conn: Connection, limit: int) -> tuple[str, list[FeedRow]]:
    f, b = state.feeds, state.builds
    active = f.c.revoked_at.is_(None)
    total = conn.execute(select(func.count()).select_from(f).where(active)).scalar_one()
    dirty = conn.execute(
        select(func.count()).select_from(b.join(f, f.c.id == b.c.feed_id)).where(active, b.c.dirty)
    ).scalar_one()
    failing = conn.execute(
        select(func.count())
        .select_from(b.join(f, f.c.id == b.c.feed_id))
        .where(active, b.c.failures > 0)
    ).scalar_one()
    pending = conn.execute(select(func.count()).select_from(state.deletions)).scalar_one()
    summary = (
        f"{total} active feed(s): {total - dirty} published and current, {dirty} waiting for a "
        f"build, {failing} failing; {pending} object(s) waiting for deletion"
    )
    rows = conn.execute(
        select(f, b.c.event_count, b.c.size, b.c.built_at, b.c.last_error)
        .join(b, b.c.feed_id == f.c.id)
        .where(active)
        .order_by(b.c.failures.desc(), f.c.id)
        .limit(limit)
    ).all()
    users = dict(conn.execute(select(crm.users.c.id, crm.users.c.name)).all())
    teams = dict(conn.execute(select(crm.teams.c.id, crm.teams.c.name)).all())
    result = []
    for row in rows:
        feed = feed_from_row(row)
        names = users if feed.subject_kind == SubjectKind.USER else teams
        name = names.get(feed.subject_id, "?")
        result.append(
            FeedRow(
                feed,
                f"{feed.subject_kind} {feed.subject_id} ({name})",
                name,
                row.event_count,
                row.size,
                row.built_at,
                row.last_error,
            )
        )
    return summary, result

"""What operators see in ``feedgen status``: counts, failures and a few feeds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from ..crm import tables as crm
from ..model import Feed, SubjectKind
from . import tables as state
from .feeds import feed_from_row


@dataclass
class FeedRow:
    feed: Feed
    subject: str
    name: str
    events: int | None
    size: int | None
    built_at: datetime | None
    error: str | None


def feed_status(conn: Connection, limit: int, now: datetime) -> tuple[list[str], list[FeedRow]]:
    """Summary lines, then up to ``limit`` feeds, the failing ones first."""
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
    summary = [
        f"{total} active feed(s): {total - dirty} published and current, {dirty} waiting for a "
        f"build, {failing} failing",
        *_removals(conn, now),
    ]
    orphans = _orphans(conn)
    if orphans:
        summary.append(
            f"{orphans} feed(s) of a user or team no longer in the CRM (empty calendars; "
            "revoke them with `feedgen feed revoke`)"
        )
    rows = conn.execute(
        select(f, b.c.event_count, b.c.size, b.c.built_at, b.c.last_error)
        .join(b, b.c.feed_id == f.c.id)
        .where(active)
        .order_by(b.c.failures.desc(), f.c.id)
        .limit(limit)
    ).all()
    feeds = [feed_from_row(row) for row in rows]
    names = _names(conn, feeds)
    result = []
    for row, feed in zip(rows, feeds, strict=True):
        name = names.get((feed.subject_kind, feed.subject_id), "?")
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


def _removals(conn: Connection, now: datetime) -> list[str]:
    """What the deletion queue holds: objects still in storage, and deleted ones whose CDN purge
    is pending; with the oldest request and the last error, when anything failed."""
    d = state.deletions
    lines = []
    for label, stage in (
        ("waiting for deletion from storage", d.c.deleted_at.is_(None)),
        ("deleted but waiting for a CDN purge", d.c.deleted_at.is_not(None)),
    ):
        count, oldest, failures = conn.execute(
            select(func.count(), func.min(d.c.requested_at), func.max(d.c.attempts)).where(stage)
        ).one()
        if not count:
            continue
        line = f"{count} object(s) {label} since {oldest:%Y-%m-%d %H:%M} UTC"
        if failures:
            error, retry = conn.execute(
                select(d.c.last_error, d.c.next_attempt_at)
                .where(stage, d.c.attempts > 0)
                .order_by(d.c.attempts.desc())
                .limit(1)
            ).one()
            when = "at the next cycle" if retry is None or retry <= now else f"at {retry:%H:%M} UTC"
            line += f"; failing ({failures} attempt(s)): {error}; retried {when}"
        lines.append(line)
    return lines or ["no object waiting for deletion or a CDN purge"]


def _orphans(conn: Connection) -> int:
    f = state.feeds
    count = 0
    for kind, table in ((SubjectKind.USER, crm.users), (SubjectKind.TEAM, crm.teams)):
        gone = ~select(table.c.id).where(table.c.id == f.c.subject_id).exists()
        count += conn.execute(
            select(func.count())
            .select_from(f)
            .where(f.c.revoked_at.is_(None), f.c.subject_kind == kind.value, gone)
        ).scalar_one()
    return count


def _names(conn: Connection, feeds: list[Feed]) -> dict[tuple[SubjectKind, int], str]:
    """The names of the listed feeds' users and teams, read for those alone."""
    names: dict[tuple[SubjectKind, int], str] = {}
    for kind, table in ((SubjectKind.USER, crm.users), (SubjectKind.TEAM, crm.teams)):
        ids = [feed.subject_id for feed in feeds if feed.subject_kind == kind]
        if ids:
            query = select(table.c.id, table.c.name).where(table.c.id.in_(ids))
            names.update(((kind, row.id), row.name) for row in conn.execute(query))
    return names

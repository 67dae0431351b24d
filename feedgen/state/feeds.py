"""The feed URL lifecycle: issue, show, rotate, revoke, change options.

On a connection, without storage: ``feedgen.lifecycle.FeedService`` wraps these and stores or
removes the objects before it returns; a CRM that lets the worker publish may call them alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..crm import tables as crm
from ..errors import FeedNotFound
from ..model import Feed, FeedOptions, SubjectKind
from ..tokens import keys_of, new_token
from . import tables as state

_f = state.feeds


def feed_from_row(row: Any) -> Feed:
    return Feed(
        id=row.id,
        token=row.token,
        subject_kind=SubjectKind(row.subject_kind),
        subject_id=row.subject_id,
        options=FeedOptions.from_json(row.options),
        page_token=row.page_token,
        created_at=row.created_at,
        rotated_at=row.rotated_at,
        revoked_at=row.revoked_at,
    )


def _check_subject(conn: Connection, kind: SubjectKind, subject_id: int) -> None:
    if kind == SubjectKind.USER:
        u = crm.users
        row = conn.execute(select(u.c.active).where(u.c.id == subject_id)).first()
        if row is None:
            raise FeedNotFound(f"no CRM user with id {subject_id}")
        if not row.active:
            raise FeedNotFound(f"CRM user {subject_id} is inactive; activate the user first")
    else:
        t = crm.teams
        if conn.execute(select(t.c.id).where(t.c.id == subject_id)).first() is None:
            raise FeedNotFound(f"no CRM team with id {subject_id}")


def active_feed(conn: Connection, kind: SubjectKind, subject_id: int) -> Feed | None:
    row = conn.execute(
        select(_f).where(
            _f.c.subject_kind == kind.value,
            _f.c.subject_id == subject_id,
            _f.c.revoked_at.is_(None),
        )
    ).first()
    return feed_from_row(row) if row else None


def get_feed(conn: Connection, kind: SubjectKind, subject_id: int) -> Feed:
    feed = active_feed(conn, kind, subject_id)
    if feed is None:
        raise FeedNotFound(f"{kind} {subject_id} has no active feed; issue one first")
    return feed


def issue_feed(
    conn: Connection,
    kind: SubjectKind,
    subject_id: int,
    now: datetime,
    options: FeedOptions | None = None,
) -> Feed:
    """Return the subject's active feed, creating it (and queueing its first build) if none."""
    existing = active_feed(conn, kind, subject_id)
    if existing is not None:
        return existing
    _check_subject(conn, kind, subject_id)
    options = options or FeedOptions()
    token, page_token = new_token(), new_token()
    try:
        with conn.begin_nested():
            feed_id = conn.execute(
                insert(_f).values(
                    token=token,
                    page_token=page_token,
                    subject_kind=kind.value,
                    subject_id=subject_id,
                    options=options.to_json(),
                    created_at=now,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
    except IntegrityError:
        # Another request issued the subject's feed between our check and our insert.
        return get_feed(conn, kind, subject_id)
    conn.execute(
        insert(state.builds).values(feed_id=feed_id, dirty=True, trimmed=0, skipped=0, failures=0)
    )
    return Feed(feed_id, token, kind, subject_id, options, page_token, created_at=now)


def queue_deletion(
    conn: Connection, keys: Iterable[str], now: datetime, *, deleted: bool = False
) -> None:
    """Queue objects for deletion from storage and the CDN: the fallback that makes a removal
    happen even when the synchronous one fails or the process dies before it. ``deleted``: the
    objects are gone from storage already, only their CDN purge is left."""
    d = state.deletions
    done = now if deleted else None
    for key in keys:
        exists = conn.execute(select(d.c.object_key).where(d.c.object_key == key)).first()
        if exists:
            if deleted:
                conn.execute(
                    update(d).where(d.c.object_key == key).values(deleted_at=done, attempts=0)
                )
        else:
            conn.execute(
                insert(d).values(object_key=key, requested_at=now, attempts=0, deleted_at=done)
            )


def _mark_dirty(conn: Connection, feed_id: int) -> None:
    b = state.builds
    conn.execute(update(b).where(b.c.feed_id == feed_id).values(**state.FULL_BUILD))


def rotate_feed(
    conn: Connection, kind: SubjectKind, subject_id: int, now: datetime
) -> tuple[Feed, Feed]:
    """Give the subject a new feed token and page token; return the old feed and the new one.

    The old objects are queued for deletion in the same transaction (``FeedService`` deletes them
    right after the commit; the queue covers a failure or a crash in between).
    """
    feed = get_feed(conn, kind, subject_id)
    token, page_token = new_token(), new_token()
    conn.execute(
        update(_f)
        .where(_f.c.id == feed.id)
        .values(token=token, page_token=page_token, rotated_at=now)
    )
    queue_deletion(conn, keys_of(feed), now)
    _mark_dirty(conn, feed.id)
    return feed, replace(feed, token=token, page_token=page_token, rotated_at=now)


def revoke_feed(conn: Connection, kind: SubjectKind, subject_id: int, now: datetime) -> Feed:
    """End the feed; its objects are queued for deletion in the same transaction."""
    feed = get_feed(conn, kind, subject_id)
    revoke(conn, feed, now)
    return replace(feed, revoked_at=now)


def revoke(conn: Connection, feed: Feed, now: datetime) -> None:
    conn.execute(update(_f).where(_f.c.id == feed.id).values(revoked_at=now))
    # Touching the build row too makes a revoke wait for a build that holds it (PostgreSQL), so
    # no build can upload the feed after the revoke has deleted it.
    conn.execute(update(state.builds).where(state.builds.c.feed_id == feed.id).values(dirty=False))
    queue_deletion(conn, keys_of(feed), now)


def set_options(conn: Connection, kind: SubjectKind, subject_id: int, options: FeedOptions) -> Feed:
    feed = get_feed(conn, kind, subject_id)
    conn.execute(update(_f).where(_f.c.id == feed.id).values(options=options.to_json()))
    _mark_dirty(conn, feed.id)
    return replace(feed, options=options)


def active_feeds(conn: Connection) -> list[Feed]:
    rows = conn.execute(select(_f).where(_f.c.revoked_at.is_(None)).order_by(_f.c.id))
    return [feed_from_row(row) for row in rows]

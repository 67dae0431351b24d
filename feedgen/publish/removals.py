"""The objects of rotated and revoked feeds on their way out: deleted from storage, purged from
the CDN, then forgotten; what fails is retried with backoff."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, or_, select, update

from ..errors import FeedgenError
from ..state import feeds
from ..state import tables as state
from ..tokens import redact
from .cdn import NoopPurger, Purger
from .storage import Storage
from .uploads import _describe

# A failed delete or purge is retried after 1, 2, 4... minutes, at most an hour apart: a wrong
# distribution id must not be hammered, a brief outage must not leave a revoked feed cached long.
log = logging.getLogger(__name__)

BACKOFF_FIRST_SECONDS = 60


BACKOFF_MOST_SECONDS = 3600


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failure in a row."""
    return timedelta(seconds=min(BACKOFF_FIRST_SECONDS * 2 ** (attempts - 1), BACKOFF_MOST_SECONDS))


@dataclass
class Removal:
    """What one pass over the deletion queue did, and what it left for a later one."""

    deleted: int = 0
    purged: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def process_deletions(
    conn: Connection,
    storage: Storage,
    purger: Purger,
    now: datetime,
    keys: Collection[str] | None = None,
) -> Removal:
    """Delete the queued objects from storage, then purge them from the CDN; forget each once both
    are done. A step that fails stays queued and is retried with backoff (``backoff``).

    ``keys`` limits the pass to those objects and ignores their backoff: a rotate or revoke removes
    its own objects at once. Without it, every object whose retry time has come is processed.
    """
    d = state.deletions
    query = select(d.c.object_key, d.c.deleted_at, d.c.attempts).order_by(d.c.object_key)
    if keys is not None:
        query = query.where(d.c.object_key.in_(list(keys)))
    else:
        query = query.where(or_(d.c.next_attempt_at.is_(None), d.c.next_attempt_at <= now))
    rows = conn.execute(query).all()
    result = Removal()
    to_purge = [row.object_key for row in rows if row.deleted_at is not None]
    for row in rows:
        if row.deleted_at is not None:
            continue
        try:
            storage.delete(row.object_key)
        except Exception as exc:
            message = _describe(exc, row.object_key)
            _retry_later(conn, row.object_key, row.attempts + 1, message, now)
            result.failed.append(f"delete of {redact(row.object_key)}: {message}")
        else:
            result.deleted += 1
            to_purge.append(row.object_key)
            conn.execute(
                update(d)
                .where(d.c.object_key == row.object_key)
                .values(deleted_at=now, attempts=0, next_attempt_at=None, last_error=None)
            )
    if to_purge:
        _purge_queued(conn, purger, to_purge, {row.object_key: row for row in rows}, now, result)
    return result


def _purge_queued(
    conn: Connection,
    purger: Purger,
    keys: list[str],
    rows: dict[str, Any],
    now: datetime,
    result: Removal,
) -> None:
    d = state.deletions
    if not isinstance(purger, NoopPurger):
        try:
            purger.purge(keys)
        except Exception as exc:  # the object is gone from storage; the CDN may still serve it
            message = _describe_many(exc, keys)
            for key in keys:
                row = rows.get(key)
                failures = (row.attempts if row is not None and row.deleted_at else 0) + 1
                _retry_later(conn, key, failures, message, now)
            result.failed.append(f"CDN purge of {len(keys)} object(s): {message}")
            return
        result.purged += len(keys)
    for part in range(0, len(keys), 500):
        conn.execute(delete(d).where(d.c.object_key.in_(keys[part : part + 500])))


def _retry_later(conn: Connection, key: str, failures: int, message: str, now: datetime) -> None:
    d = state.deletions
    conn.execute(
        update(d)
        .where(d.c.object_key == key)
        .values(
            attempts=failures, last_error=message[:2000], next_attempt_at=now + backoff(failures)
        )
    )


def _describe_many(exc: Exception, keys: Iterable[str]) -> str:
    text = str(exc) if isinstance(exc, FeedgenError) else f"{type(exc).__name__}: {exc}"
    for key in keys:
        text = text.replace(key, redact(key))
    return text


def clean_storage(conn: Connection, storage: Storage, stray: Iterable[str], now: datetime) -> int:
    """Delete ``stray`` objects (DESIGN invariant 4); each one deleted is queued for its CDN purge,
    one that fails for another attempt."""
    removed = 0
    for key in stray:
        queue = [key]
        try:
            storage.delete(key)
        except Exception as exc:
            log.warning("could not delete stray %s: %s", redact(key), _describe(exc, key))
            feeds.queue_deletion(conn, queue, now)
            continue
        removed += 1
        feeds.queue_deletion(conn, queue, now, deleted=True)
    return removed

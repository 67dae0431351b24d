"""Publishing: put changed feeds into storage, delete what no feed owns, purge the CDN.

Policy only; the mechanism is the Storage backend. Uploads run on a bounded thread pool (boto3
clients are thread-safe and keep their connections alive), while the caller goes on rendering.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Collection, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, or_, select, update

from . import feeds, state
from .cdn import NoopPurger, Purger
from .errors import FeedgenError
from .storage import ICS_CONTENT_TYPE, Storage
from .tokens import redact

log = logging.getLogger(__name__)

HTML_CONTENT_TYPE = "text/html; charset=utf-8"
ROBOTS_KEY = "robots.txt"
# Calendar fetchers (Google's among them) obey robots.txt: let every agent in. Nothing is listed
# anywhere, so nothing can be crawled without the secret URL; the pages say noindex themselves.
ROBOTS_TXT = b"User-agent: *\nAllow: /\n"
# Only keys of this shape are feedgen's: clean-up never touches anything else in a shared bucket.
OWNED_KEY = re.compile(r"^[A-Za-z0-9_-]{43}\.(ics|html)$")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Upload:
    feed_id: int
    key: str
    data: bytes
    content_type: str = ICS_CONTENT_TYPE


class Publisher:
    """Uploads in the background; ``wait`` returns which feeds' uploads failed and why.

    At most ``max_inflight_bytes`` wait for the store at once: rendering is faster than most
    stores take objects, and without this bound a rebuild would hold every feed in memory.
    """

    def __init__(
        self,
        storage: Storage,
        cache_control: str,
        workers: int,
        # Enough to keep every upload thread busy with 1 MB team feeds, no more: a slow disk or
        # store then holds back rendering instead of growing memory.
        max_inflight_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self.storage = storage
        self.cache_control = cache_control
        self.max_inflight_bytes = max_inflight_bytes
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="upload")
        self._pending: list[tuple[int, str, int, Future[None]]] = []
        self._room = threading.Condition()
        self._inflight = 0
        self.uploaded = 0  # calendars
        self.pages = 0  # subscribe pages, counted apart: they are not feeds
        self.bytes = 0

    def submit(self, upload: Upload) -> None:
        size = len(upload.data)
        with self._room:
            while self._inflight and self._inflight + size > self.max_inflight_bytes:
                self._room.wait()
            self._inflight += size
        try:
            future = self._pool.submit(
                self._put, upload.key, upload.data, upload.content_type, size
            )
        except BaseException:
            # A pool that refuses the upload never runs _put: free its share of the budget, or
            # every later submit would wait for room that never comes.
            self._release(size)
            raise
        self._pending.append((upload.feed_id, upload.key, size, future))

    def _put(self, key: str, data: bytes, content_type: str, size: int) -> None:
        try:
            self.storage.put(key, data, content_type=content_type, cache_control=self.cache_control)
        finally:
            self._release(size)

    def _release(self, size: int) -> None:
        with self._room:
            self._inflight -= size
            self._room.notify_all()

    def wait(self) -> dict[int, str]:
        """Wait for every submitted upload; return the errors by feed id."""
        errors: dict[int, str] = {}
        for feed_id, key, size, future in self._pending:
            try:
                future.result()
            except Exception as exc:  # one failed upload never stops the others
                errors[feed_id] = _describe(exc, key)
            else:
                if key.endswith(".html"):
                    self.pages += 1
                else:
                    self.uploaded += 1
                self.bytes += size
        self._pending.clear()
        return errors

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _describe(exc: Exception, key: str) -> str:
    text = str(exc) if isinstance(exc, FeedgenError) else f"{type(exc).__name__}: {exc}"
    return text.replace(key, redact(key))


# A failed delete or purge is retried after 1, 2, 4... minutes, at most an hour apart: a wrong
# distribution id must not be hammered, a brief outage must not leave a revoked feed cached long.
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


def ensure_robots(storage: Storage, cache_control: str) -> None:
    if storage.get(ROBOTS_KEY) != ROBOTS_TXT:
        storage.put(
            ROBOTS_KEY,
            ROBOTS_TXT,
            content_type="text/plain; charset=utf-8",
            cache_control=cache_control,
        )

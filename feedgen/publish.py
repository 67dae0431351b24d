"""Publishing: put changed feeds into storage, delete what no feed owns, purge the CDN.

Policy only; the mechanism is the Storage backend. Uploads run on a bounded thread pool (boto3
clients are thread-safe and keep their connections alive), while the caller goes on rendering.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select, update

from . import state
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
        self.uploaded = 0
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
                self.uploaded += 1
                self.bytes += size
        self._pending.clear()
        return errors

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _describe(exc: Exception, key: str) -> str:
    text = str(exc) if isinstance(exc, FeedgenError) else f"{type(exc).__name__}: {exc}"
    return text.replace(key, redact(key))


def process_deletions(
    conn: Connection, storage: Storage, purger: Purger, now: datetime
) -> tuple[int, int]:
    """Delete the objects of rotated and revoked feeds; keep failures queued for the next cycle."""
    d = state.deletions
    keys = list(conn.execute(select(d.c.object_key).order_by(d.c.object_key)).scalars())
    done, failed = [], 0
    for key in keys:
        try:
            storage.delete(key)
        except Exception as exc:
            failed += 1
            message = _describe(exc, key)
            log.warning("could not delete %s: %s", redact(key), message)
            conn.execute(
                update(d)
                .where(d.c.object_key == key)
                .values(attempts=d.c.attempts + 1, last_error=message)
            )
        else:
            done.append(key)
    if done:
        _purge(purger, done)
        conn.execute(delete(d).where(d.c.object_key.in_(done)))
    return len(done), failed


def _purge(purger: Purger, keys: list[str]) -> None:
    if isinstance(purger, NoopPurger):
        return
    try:
        purger.purge(keys)
    except Exception as exc:  # the object is gone; a stale CDN copy expires with Cache-Control
        log.warning("CDN purge of %d object(s) failed: %s", len(keys), exc)


def clean_storage(storage: Storage, owned: Iterable[str], purger: Purger) -> int:
    """Delete every feedgen-shaped object that no active feed owns (DESIGN invariant 4)."""
    keep = set(owned)
    stray = [key for key in storage.list_keys() if OWNED_KEY.match(key) and key not in keep]
    removed = []
    for key in stray:
        try:
            storage.delete(key)
            removed.append(key)
        except Exception as exc:
            log.warning("could not delete stray %s: %s", redact(key), _describe(exc, key))
    if removed:
        _purge(purger, removed)
    return len(removed)


def ensure_robots(storage: Storage, cache_control: str) -> None:
    if storage.get(ROBOTS_KEY) != ROBOTS_TXT:
        storage.put(
            ROBOTS_KEY,
            ROBOTS_TXT,
            content_type="text/plain; charset=utf-8",
            cache_control=cache_control,
        )


Clock = Callable[[], datetime]

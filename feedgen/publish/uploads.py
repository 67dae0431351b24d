"""Uploading rendered feeds and subscribe pages, and robots.txt.

Policy only; the mechanism is the Storage backend. Uploads run on a bounded thread pool (boto3
clients are thread-safe and keep their connections alive), while the caller goes on rendering."""

from __future__ import annotations

import hashlib
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import FeedgenError
from ..tokens import redact
from .storage import ICS_CONTENT_TYPE, Storage

log = logging.getLogger(__name__)


HTML_CONTENT_TYPE = "text/html; charset=utf-8"


ROBOTS_KEY = "robots.txt"


# Calendar fetchers (Google's among them) obey robots.txt: let every agent in. Nothing is listed
# anywhere, so nothing can be crawled without the secret URL; the pages say noindex themselves.
ROBOTS_TXT = b"User-agent: *\nAllow: /\n"


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


def ensure_robots(storage: Storage, cache_control: str) -> None:
    if storage.get(ROBOTS_KEY) != ROBOTS_TXT:
        storage.put(
            ROBOTS_KEY,
            ROBOTS_TXT,
            content_type="text/plain; charset=utf-8",
            cache_control=cache_control,
        )

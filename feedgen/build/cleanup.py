"""Storage against the feeds, for reconcile: what is missing, what is stray, and whether deleting
the strays is safe.

Reconcile deletes every feedgen-shaped object no active feed owns (DESIGN invariant 4). Pointed at
an empty or wrong database, that would be every live feed: the survey is checked first, and a
clean-up that would remove more than ``worker.max_delete_share`` of the objects, or objects when
there are no active feeds at all, is refused unless forced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, update

from ..db import chunks
from ..publish.storage import Storage
from ..state import tables as state
from ..state.feeds import active_feeds
from ..tokens import OWNED_KEY, keys_of, object_key, page_key

# Up to this many strays are deleted whatever their share: a small deployment with a few
# leftovers must not need --force every night.
ALWAYS_DELETABLE = 10


@dataclass(frozen=True)
class Survey:
    """Storage compared with the active feeds at one moment."""

    active: int
    objects: int  # feedgen-shaped objects in storage
    stray: tuple[str, ...]
    # Active feeds whose calendar or subscribe page is not in storage: reconcile uploads them.
    missing_feeds: tuple[int, ...] = field(default=())
    missing_pages: tuple[int, ...] = field(default=())

    def refusal(self, max_share: float) -> str | None:
        """Why deleting the strays would be unsafe, or None."""
        count = len(self.stray)
        if not count:
            return None
        if self.active == 0:
            return (
                f"there are no active feeds, yet {count} feed object(s) in storage would be "
                "deleted: is database.url the right database?"
            )
        share = count / self.objects
        if count > ALWAYS_DELETABLE and share > max_share:
            return (
                f"{count} of {self.objects} feed objects ({share:.0%}) would be deleted, more than "
                f"worker.max_delete_share ({max_share:.0%}): is database.url the right database?"
            )
        return None


def survey(engine: Engine, storage: Storage) -> Survey:
    """List storage once and compare it with the active feeds."""
    with engine.connect() as conn:
        feeds = active_feeds(conn)
    # Only keys of feedgen's shape count: a shared bucket's other objects are never touched.
    listed = {key for key in storage.list_keys() if OWNED_KEY.match(key)}
    owned = {key for feed in feeds for key in keys_of(feed)}
    return Survey(
        active=len(feeds),
        objects=len(listed),
        stray=tuple(sorted(listed - owned)),
        missing_feeds=tuple(f.id for f in feeds if object_key(f.token) not in listed),
        missing_pages=tuple(f.id for f in feeds if page_key(f.page_token) not in listed),
    )


def mark_missing(conn: Connection, found: Survey) -> None:
    """Make the next build upload what is missing: the recorded hash or page no longer holds."""
    b = state.builds
    for ids, column in ((found.missing_feeds, "content_hash"), (found.missing_pages, "page_key")):
        for part in chunks(list(ids)):
            conn.execute(update(b).where(b.c.feed_id.in_(part)).values({column: None}))

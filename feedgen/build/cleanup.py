"""Storage against the feeds, for reconcile: what is missing, what is stray, and whether deleting
the strays is safe.

Reconcile deletes every feedgen-shaped object no active feed owns (DESIGN invariant 4). Pointed at
an empty or wrong database, that would be every live feed: the survey is checked first, and a
clean-up that would remove more than ``worker.max_delete_share`` of the objects, or objects when
there are no active feeds at all, is refused unless forced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, select, update

from ..db import chunks
from ..publish.storage import Storage
from ..state import tables as state
from ..tokens import OWNED_KEY, object_key, page_key

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
    """List storage once and compare it with the active feeds.

    One set of the listed keys is held (about 120 bytes a key); the feeds are streamed as three
    columns and take their keys out of it, so what is left are the strays. Feed objects and a
    second set of the owned keys made the run's high-water mark grow with the feeds (214 MB at
    103,000 feeds)."""
    # Only keys of feedgen's shape count: a shared bucket's other objects are never touched.
    listed = {key for key in storage.list_keys() if OWNED_KEY.match(key)}
    objects = len(listed)
    active, missing_feeds, missing_pages = 0, list[int](), list[int]()
    f = state.feeds
    query = select(f.c.id, f.c.token, f.c.page_token).where(f.c.revoked_at.is_(None))
    with engine.connect() as conn:
        for feed_id, token, page_token in conn.execute(query.order_by(f.c.id)):
            active += 1
            for key, missing in (
                (object_key(token), missing_feeds),
                (page_key(page_token), missing_pages),
            ):
                if key in listed:
                    listed.discard(key)
                else:
                    missing.append(feed_id)
    return Survey(
        active=active,
        objects=objects,
        stray=tuple(sorted(listed)),
        missing_feeds=tuple(missing_feeds),
        missing_pages=tuple(missing_pages),
    )


def mark_missing(conn: Connection, found: Survey) -> None:
    """Make the next build upload what is missing: the recorded hash or page no longer holds."""
    b = state.builds
    for ids, column in ((found.missing_feeds, "content_hash"), (found.missing_pages, "page_key")):
        for part in chunks(list(ids)):
            conn.execute(update(b).where(b.c.feed_id.in_(part)).values({column: None}))

"""Incremental updates within a batch: the claimed feeds that only activity changes touched are
patched from their last published bytes (``patch.patch_feed``); the others are built in full.

A feed is patchable while everything but its activities is as it was at its last build: same
object, same day (so the same window), a short list of changed activities (``detect.mark_dirty``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from . import changes, source
from .batch import BatchRun, audience_of
from .errors import RenderError
from .feeds import feed_from_row, object_key
from .looks import Looks
from .model import Feed, Window
from .patch import patch_feed
from .publish import content_hash
from .render import RenderedFeed, feed_items
from .storage import Storage
from .tokens import redact

log = logging.getLogger(__name__)


@dataclass
class Patched:
    """A feed's new bytes, ready to publish like a full build's."""

    feed: Feed
    row: Any
    rendered: RenderedFeed
    name: str
    skipped: int  # broken activities the feed leaves out, unchanged ones included


class Patcher:
    def __init__(self, storage: Storage, looks: Looks, max_bytes: int) -> None:
        self.storage = storage
        self.looks = looks
        self.max_bytes = max_bytes

    def patch(self, run: BatchRun, rows: list[Any]) -> tuple[list[Patched], list[RenderError]]:
        """Patch what can be of ``rows``; also return the broken activities met on the way.

        The changed activities of all of them are read at once: a few rows, instead of every
        activity of their users (a whole team's for a team feed).
        """
        run.cache.clear()
        candidates = []
        for row in rows:
            feed = feed_from_row(row)
            pending = patchable(feed, row, run.today)
            if pending is not None:
                candidates.append((feed, row, pending))
        if not candidates:
            return [], []
        windows = [feed.options.window(run.today) for feed, _, _ in candidates]
        window = Window(min(w.start for w in windows), max(w.end for w in windows))
        changed = sorted({i for _, _, pending in candidates for i in pending})
        batch = source.load_activities(run.conn, changed, window, run.users)
        errors = list(batch.errors)
        patched = []
        for feed, row, pending in candidates:
            try:
                result = self._patch_one(run, feed, row, pending, batch)
            except Exception:  # a bug here must cost a full build, not the feed
                log.exception("feed %s (%s) could not be patched", feed.id, redact(feed.token))
                result = None
            if result is not None:
                patched.append(result)
                errors.extend(result.rendered.skipped)
        return patched, errors

    def _patch_one(
        self, run: BatchRun, feed: Feed, row: Any, pending: set[int], batch: source.Batch
    ) -> Patched | None:
        previous = self.storage.get(object_key(feed.token))
        if previous is None or content_hash(previous) != row.content_hash:
            return None  # the object is not what the last build wrote
        shown = audience_of(feed, run.users, run.teams)
        header, view = self.looks.header_and_view(feed, shown, run.users, run.teams)
        changed = [a for a in batch.for_users(shown) if a.id in pending]
        rendered = patch_feed(
            previous,
            header.to_bytes(),
            pending,
            feed_items(changed, view, run.today),
            view,
            run.cache,
            today=run.today,
            max_bytes=self.max_bytes,
            trimmed_state=row.left_out,
        )
        if rendered is None:
            return None
        if row.left_out is not None and not row.left_out.startswith("-"):
            # Events beyond the recorded boundary are not counted here: count them as before.
            rendered.trimmed = max(rendered.trimmed, row.trimmed)
        # Broken activities that did not change are not in the old bytes either: keep their count.
        skipped = max(row.skipped, len(rendered.skipped))
        return Patched(feed, row, rendered, header.name, skipped)


def patchable(feed: Feed, row: Any, today: date) -> set[int] | None:
    """The activities to replace in this feed's last bytes, or None to build it in full."""
    if (
        row.pending_ids is None
        or row.content_hash is None
        or row.stored_key != object_key(feed.token)
        or row.built_at is None
        or row.built_at.date() != today  # the window and "today" moved
        or feed.options.tasks_as_todo  # VTODO comes from icalendar: not parsed back here
    ):
        return None
    pending = {int(part) for part in row.pending_ids.split(",") if part}
    return pending if len(pending) <= changes.MOST_TRACKED else None

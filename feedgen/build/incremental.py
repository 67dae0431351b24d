"""Which claimed feeds to patch instead of building in full, and their new bytes: those that only
activity changes touched are read back from storage and handed to ``render.patch``.

A feed is patchable while everything but its activities is as it was at its last build: same
object, same day (so the same window), a short list of changed activities (``detect.mark_dirty``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from ..crm.activities import Batch, load_activities
from ..crm.index import MOST_TRACKED
from ..errors import RenderError
from ..model import Window
from ..publish.storage import Storage
from ..publish.uploads import content_hash
from ..render.feed import RenderedFeed, feed_items
from ..render.header import Looks
from ..render.patch import patch_feed
from ..tokens import object_key, redact
from .claims import BatchRun, ClaimedFeed, audience_of

log = logging.getLogger(__name__)


@dataclass
class Patched:
    """A feed's new bytes, ready to publish like a full build's."""

    claimed: ClaimedFeed
    rendered: RenderedFeed
    name: str
    skipped: int  # broken activities the feed leaves out, unchanged ones included


class Patcher:
    def __init__(self, storage: Storage, looks: Looks, max_bytes: int) -> None:
        self.storage = storage
        self.looks = looks
        self.max_bytes = max_bytes

    def patch(
        self, run: BatchRun, claimed: list[ClaimedFeed]
    ) -> tuple[list[Patched], list[RenderError]]:
        """Patch what can be of ``claimed``; also return the broken activities met on the way.

        The changed activities of all of them are read at once: a few rows, instead of every
        activity of their users (a whole team's for a team feed).
        """
        run.cache.clear()
        candidates = []
        for item in claimed:
            pending = patchable(item, run.today)
            if pending is not None:
                candidates.append((item, pending))
        if not candidates:
            return [], []
        windows = [item.feed.options.window(run.today) for item, _ in candidates]
        window = Window(min(w.start for w in windows), max(w.end for w in windows))
        changed = sorted({i for _, pending in candidates for i in pending})
        batch = load_activities(run.conn, changed, window, run.users)
        errors = list(batch.errors)
        patched = []
        for item, pending in candidates:
            try:
                result = self._patch_one(run, item, pending, batch)
            except Exception:  # a bug here must cost a full build, not the feed
                feed = item.feed
                log.exception("feed %s (%s) could not be patched", feed.id, redact(feed.token))
                result = None
            if result is not None:
                patched.append(result)
                errors.extend(result.rendered.skipped)
        return patched, errors

    def _patch_one(
        self, run: BatchRun, item: ClaimedFeed, pending: set[int], batch: Batch
    ) -> Patched | None:
        feed = item.feed
        previous = self.storage.get(object_key(feed.token))
        if previous is None or content_hash(previous) != item.content_hash:
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
            trimmed_state=item.left_out,
        )
        if rendered is None:
            return None
        if item.left_out is not None and not item.left_out.startswith("-"):
            # Events beyond the recorded boundary are not counted here: count them as before.
            rendered.trimmed = max(rendered.trimmed, item.trimmed)
        # Broken activities that did not change are not in the old bytes either: keep their count.
        skipped = max(item.skipped, len(rendered.skipped))
        return Patched(item, rendered, header.name, skipped)


def patchable(item: ClaimedFeed, today: date) -> set[int] | None:
    """The activities to replace in this feed's last bytes, or None to build it in full."""
    if (
        item.pending_ids is None
        or item.content_hash is None
        or item.stored_key != object_key(item.feed.token)
        or item.built_at is None
        or item.built_at.date() != today  # the window and "today" moved
        or item.feed.options.tasks_as_todo  # VTODO comes from icalendar: not parsed back here
    ):
        return None
    pending = {int(part) for part in item.pending_ids.split(",") if part}
    return pending if len(pending) <= MOST_TRACKED else None

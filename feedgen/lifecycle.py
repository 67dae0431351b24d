"""The feed URL lifecycle as a CRM's settings page needs it: each call stores or removes the
objects before it returns.

``issue`` and ``rotate`` return a URL that answers at once; ``rotate`` and ``revoke`` delete the
old objects and request their CDN purge before returning. The database change is committed first
and the deletion queued with it, so when storage or the CDN fails the call raises ``NotPublished``
(the CRM's page can say "try again") and the next cycle finishes the work.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from .build import Builder
from .config import Config
from .errors import NotPublished
from .model import Feed, FeedOptions, SubjectKind, utc_now
from .publish.cdn import Purger
from .publish.pages import feed_url, page_url
from .publish.storage import Storage
from .state import feeds
from .tokens import keys_of


class FeedService:
    """Issue, show, rotate and revoke feeds, and change their options, publishing as it goes."""

    def __init__(
        self,
        engine: Engine,
        storage: Storage,
        config: Config,
        purger: Purger | None = None,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.config = config
        self.now = now
        self.builder = Builder(engine, storage, config, purger, now=now)

    def feed_url(self, feed: Feed) -> str:
        """The URL to subscribe to (``https://…/<token>.ics``)."""
        return feed_url(self.config.publish.public_base_url, feed)

    def page_url(self, feed: Feed) -> str:
        """The URL of the feed's subscribe page (buttons per calendar app, a QR code)."""
        return page_url(self.config.publish.public_base_url, feed)

    def get(self, kind: SubjectKind, subject_id: int) -> Feed:
        """The subject's active feed (FeedNotFound when it has none)."""
        with self.engine.connect() as conn:
            return feeds.get_feed(conn, kind, subject_id)

    def issue(self, kind: SubjectKind, subject_id: int, options: FeedOptions | None = None) -> Feed:
        """The subject's active feed, issued if it has none, and published: its URL answers.

        Issuing again returns the same feed and publishes it again: the retry after a failure.
        """
        options = options or self.config.default_options()
        with self.engine.begin() as conn:
            feed = feeds.issue_feed(conn, kind, subject_id, self.now(), options)
        self._check(feed, "issued", self._publish(feed))
        return feed

    def rotate(self, kind: SubjectKind, subject_id: int) -> Feed:
        """A new URL for the subject, published; the old feed and page are deleted first."""
        with self.engine.begin() as conn:
            old, new = feeds.rotate_feed(conn, kind, subject_id, self.now())
        problems = self._remove(keys_of(old)) + self._publish(new)
        self._check(new, "rotated", problems)
        return new

    def revoke(self, kind: SubjectKind, subject_id: int) -> Feed:
        """End the subject's feed: its objects are deleted and purged from the CDN."""
        with self.engine.begin() as conn:
            feed = feeds.revoke_feed(conn, kind, subject_id, self.now())
        self._check(feed, "revoked", self._remove(keys_of(feed)))
        return feed

    def set_options(self, kind: SubjectKind, subject_id: int, options: FeedOptions) -> Feed:
        """Change the feed's options and publish it with them."""
        with self.engine.begin() as conn:
            feed = feeds.set_options(conn, kind, subject_id, options)
        self._check(feed, "changed", self._publish(feed))
        return feed

    def _publish(self, feed: Feed) -> list[str]:
        report = self.builder.publish_now(feed.id)
        if report.errors or report.feeds_built == 0:
            return [f"storing it failed: {report.errors.get(feed.id, 'it was not built')}"]
        return []

    def _remove(self, keys: tuple[str, ...]) -> list[str]:
        removal = self.builder.remove_now(keys)
        return [f"removing the old URL failed: {reason}" for reason in removal.failed]

    @staticmethod
    def _check(feed: Feed, done: str, problems: list[str]) -> None:
        if problems:
            raise NotPublished(
                f"the feed is {done}, but {'; '.join(problems)}; it is retried every cycle, "
                "or try again",
                feed,
            )

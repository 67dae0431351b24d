"""feedgen: pre-rendered iCalendar feeds of CRM activities, published to object storage.

The API a CRM calls, for its "Generate Calendar URL" button and settings page::

    from feedgen import App, SubjectKind

    service = App.from_sources("feedgen.toml").service()
    feed = service.issue(SubjectKind.USER, 42)      # stored before it returns
    url = service.feed_url(feed)                   # https://…/<token>.ics, answers at once
    feed = service.rotate(SubjectKind.USER, 42)     # a new URL; the old one is gone
    service.revoke(SubjectKind.USER, 42)

``FeedService`` takes an engine, a store and a configuration of the caller's own as well. Each call
raises ``NotPublished`` (with ``.feed``) when storage or the CDN failed after the database change
was made ("try again"; the next cycle completes it), ``FeedNotFound`` for an unknown user, team or
feed. ``issue_feed``, ``get_feed``, ``rotate_feed``, ``revoke_feed`` and ``set_options`` are the
same steps on a SQLAlchemy connection, without storage, for a CRM that lets the worker publish.
"""

from __future__ import annotations

from .app import App
from .config import Config, load_config
from .errors import (
    ConfigError,
    FeedgenError,
    FeedNotFound,
    NotPublished,
    SourceError,
    StateError,
    StorageError,
)
from .lifecycle import FeedService
from .model import ActivityKind, Feed, FeedOptions, SubjectKind
from .state.feeds import get_feed, issue_feed, revoke_feed, rotate_feed, set_options

__version__ = "0.1.0"

__all__ = [
    "ActivityKind",
    "App",
    "Config",
    "ConfigError",
    "Feed",
    "FeedNotFound",
    "FeedOptions",
    "FeedService",
    "FeedgenError",
    "NotPublished",
    "SourceError",
    "StateError",
    "StorageError",
    "SubjectKind",
    "__version__",
    "get_feed",
    "issue_feed",
    "load_config",
    "revoke_feed",
    "rotate_feed",
    "set_options",
]

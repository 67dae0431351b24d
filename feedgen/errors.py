"""Errors raised by feedgen.

    FeedgenError
    ├── ConfigError      a configuration key is missing or invalid
    ├── SourceError      the CRM database cannot be read
    ├── StateError       feedgen's own tables are missing, outdated or inconsistent
    ├── FeedNotFound     no active feed or user matches what was asked for
    ├── RenderError      an activity cannot be rendered
    ├── StorageError     the object store refused or failed an operation
    │   └── NotPublished   a feed was issued or rotated, but storage failed to take it
    ├── CleanupRefused   reconcile would delete an unsafe share of storage
    └── Busy             another worker or job holds the SQLite database

Every message says what is wrong and, where it can, what to do about it. Messages never hold a
whole token (see ``tokens.redact``).
"""

from __future__ import annotations


class FeedgenError(Exception):
    """Base class of every error feedgen raises on purpose."""


class ConfigError(FeedgenError):
    """Raised when a configuration key is missing, unknown or has an invalid value."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"config key '{key}': {reason}")


class SourceError(FeedgenError):
    """Raised when the CRM database cannot be reached or does not offer the expected tables."""


class StateError(FeedgenError):
    """Raised when feedgen's own tables are missing or older than this version expects."""


class FeedNotFound(FeedgenError):
    """Raised when no user, team or active feed matches the request."""


class RenderError(FeedgenError):
    """Raised when an activity holds data that cannot become a calendar event."""

    def __init__(self, activity_id: int, reason: str) -> None:
        self.activity_id = activity_id
        self.reason = reason
        super().__init__(f"activity {activity_id}: {reason}")


class StorageError(FeedgenError):
    """Raised when the object store refuses or fails an operation."""


class NotPublished(StorageError):
    """Raised when a feed was issued, rotated or changed in the database but storing it (or
    deleting its old URL) failed. The change stands and the next cycle completes the work; the
    caller may show "try again". ``feed`` is the feed as it now is."""

    def __init__(self, message: str, feed: object) -> None:
        self.feed = feed
        super().__init__(message)


class CleanupRefused(FeedgenError):
    """Raised when reconcile would delete more of storage than is safe
    (``worker.max_delete_share``), or objects while no feed is active: a wrong or empty database."""


class Busy(FeedgenError):
    """Raised when another feedgen process holds a SQLite database's run lock (``runlock``)."""

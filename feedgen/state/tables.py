"""feedgen's own tables: feeds, builds, pending deletions and the change-detection index.

These live beside the CRM's tables (prefixed ``feedgen_``) and are the only tables feedgen
writes. Alembic migrations (``feedgen db upgrade``) create and upgrade them.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

feeds = Table(
    "feedgen_feeds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token", String(64), nullable=False, unique=True),
    # The subscribe page's own random token: its key cannot be derived from the feed's.
    Column("page_token", String(64), nullable=False),
    Column("subject_kind", String(8), nullable=False),
    Column("subject_id", Integer, nullable=False),
    Column("options", Text, nullable=False, default="{}"),
    Column("created_at", DateTime, nullable=False),
    Column("rotated_at", DateTime),
    Column("revoked_at", DateTime),
    UniqueConstraint("page_token", name="uq_feedgen_feeds_page_token"),
    Index("ix_feedgen_feeds_subject", "subject_kind", "subject_id"),
    # One active feed per subject, even when two requests issue one at the same moment.
    Index(
        "ux_feedgen_feeds_active_subject",
        "subject_kind",
        "subject_id",
        unique=True,
        sqlite_where=text("revoked_at IS NULL"),
        postgresql_where=text("revoked_at IS NULL"),
    ),
)

builds = Table(
    "feedgen_builds",
    metadata,
    Column("feed_id", Integer, ForeignKey("feedgen_feeds.id"), primary_key=True),
    # Set when a change touches the feed; cleared by the build that publishes it.
    Column("dirty", Boolean, nullable=False, default=True),
    Column("content_hash", String(64)),
    Column("object_key", String(200)),
    # The subscribe page last uploaded for the feed; a build uploads the page when it differs.
    Column("page_key", String(200)),
    Column("size", Integer),
    Column("event_count", Integer),
    Column("trimmed", Integer, nullable=False, default=0),
    Column("skipped", Integer, nullable=False, default=0),
    Column("built_at", DateTime),
    Column("uploaded_at", DateTime),
    Column("failures", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("last_error_at", DateTime),
    # Team feeds only: the activities changed since the last build, as ",id,id"; NULL when the
    # next build must be a full one (new feed, options, members, a new day...). See ``patch``.
    Column("pending_ids", Text),
    # The first event the size budget left out of the last build (``render.LeftOut``), or NULL.
    Column("left_out", Text),
    Index("ix_feedgen_builds_dirty", "dirty"),
)

# Objects of rotated and revoked feeds on their way out: deleted from storage (``deleted_at``
# set), then purged from the CDN, then forgotten. A failed step is retried from
# ``next_attempt_at`` on, with backoff; ``attempts`` counts the failures of the current step.
deletions = Table(
    "feedgen_deletions",
    metadata,
    Column("object_key", String(200), primary_key=True),
    Column("requested_at", DateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("deleted_at", DateTime),
    Column("next_attempt_at", DateTime),
)

# What feedgen last saw of each CRM activity: its version (``updated_at`` to the microsecond),
# the users whose feeds show it, and the SEQUENCE counted for that version
# (``model.next_sequence``). Lets a cycle find the feeds an edit, a participant change or a hard
# delete leaves behind; builds read the sequence beside each activity.
activity_index = Table(
    "feedgen_activity_index",
    metadata,
    Column("activity_id", Integer, primary_key=True, autoincrement=False),
    Column("version", DateTime, nullable=False),
    Column("user_ids", Text, nullable=False),
    Column("sequence", Integer, nullable=False, default=0, server_default="0"),
)

# Users and teams as last seen (name, zone, members...): rows can change without a timestamp
# and membership rows can be deleted outright, so each cycle compares fingerprints.
subject_index = Table(
    "feedgen_subject_index",
    metadata,
    Column("subject_kind", String(8), primary_key=True),
    Column("subject_id", Integer, primary_key=True, autoincrement=False),
    Column("fingerprint", Text, nullable=False),
)

# Named cursors: the database time the last cycle started, the day its windows were built for.
cursors = Table(
    "feedgen_cursors",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", String(64), nullable=False),
)

# Each worker process: a heartbeat, the job it runs, how many jobs failed in a row (``liveness``).
workers = Table(
    "feedgen_workers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("seen_at", DateTime, nullable=False),
    Column("stopped_at", DateTime),
    Column("job", String(20)),
    Column("job_started_at", DateTime),
    Column("failures", Integer, nullable=False, default=0),
    Column("last_error", Text),
)

# The last cycles, reconciles and builds, the worker's and the commands', for ``feedgen status``.
runs = Table(
    "feedgen_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("worker_id", String(40)),  # NULL: a command
    Column("runner", String(300), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("built", Integer, nullable=False),
    Column("uploaded", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("error", Text),
    Index("ix_feedgen_runs_started_at", "started_at"),
)

# What marks a feed for a full build: dirty, and nothing an incremental update could start from.
FULL_BUILD = {"dirty": True, "pending_ids": None}

STATE_TABLES = (
    feeds,
    builds,
    deletions,
    activity_index,
    subject_index,
    cursors,
    workers,
    runs,
)

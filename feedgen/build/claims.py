"""A claimed batch: the context its steps share (its transaction, the people it shows, the event
cache, the uploads) and the feeds' audiences."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from ..model import Feed, SubjectKind, Team, User
from ..publish.uploads import Publisher
from ..render.events import EventCache
from ..state.feeds import feed_from_row
from ..state.record import BuildResult
from .report import RunReport


@dataclass(frozen=True, slots=True)
class ClaimedFeed:
    """A feed claimed for a build, with what its last build stored."""

    feed: Feed
    content_hash: str | None
    stored_key: str | None
    stored_page_key: str | None
    # The activities changed since the last build (",id,id"); None: build in full.
    pending_ids: str | None
    left_out: str | None
    built_at: datetime | None
    trimmed: int
    skipped: int

    @classmethod
    def from_row(cls, row: Any) -> ClaimedFeed:
        """From a row of the claim's query (``Batches.claim``)."""
        return cls(
            feed_from_row(row),
            row.content_hash,
            row.stored_key,
            row.stored_page_key,
            row.pending_ids,
            row.left_out,
            row.built_at,
            row.trimmed,
            row.skipped,
        )

    @property
    def id(self) -> int:
        return self.feed.id


@dataclass(frozen=True)
class BatchRun:
    """What a batch's steps share: its transaction, the CRM's people it shows, the event cache,
    the uploads and the run's report; and, filled as the batch goes, its results and errors."""

    conn: Connection
    users: Mapping[int, User]
    teams: Mapping[int, Team]
    cache: EventCache
    publisher: Publisher
    report: RunReport
    today: date
    # Upload every feed and page of the batch, changed or not (``Builder.publish_now``).
    force: bool = False
    # The mutable parts: what each feed's build published, and why a feed failed.
    results: dict[int, BuildResult] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)


def subjects_of(feed: Feed, teams: Mapping[int, Team]) -> Iterable[int]:
    """The users a feed is about: its user, or its team's members."""
    if feed.subject_kind == SubjectKind.USER:
        return (feed.subject_id,)
    team = teams.get(feed.subject_id)
    return team.member_ids if team is not None else ()


def audience_of(feed: Feed, users: Mapping[int, User], teams: Mapping[int, Team]) -> list[int]:
    """The active users whose activities a feed shows."""
    return [u for u in subjects_of(feed, teams) if u in users and users[u].active]

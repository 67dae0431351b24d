"""What the steps of one batch of a build share, and whom each feed is about."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection

from .model import Feed, SubjectKind, Team, User
from .publish import Publisher
from .render import EventCache
from .report import RunReport


@dataclass
class BatchRun:
    """One batch's transaction, the CRM's people it shows, the event cache, the uploads, and
    the results to record."""

    conn: Connection
    users: Mapping[int, User]
    teams: Mapping[int, Team]
    cache: EventCache
    publisher: Publisher
    report: RunReport
    today: date
    # Upload every feed and page of the batch, changed or not (``Builder.publish_now``).
    force: bool = False
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
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

"""The naive baseline: what a first, straightforward implementation of feedgen would do.

Per feed: one query per user for their activities in the window, one more per activity for its
participants, an ``icalendar.Calendar`` object tree serialised with ``to_ical()``, and one
sequential upload (a plain file write, or boto3 ``put_object``). No change detection, no render
cache, no thread pool. The events are feedgen's own decisions (``event_content``), so both sides
write the same calendars and the comparison is of the machinery alone. Unlike feedgen, the
baseline neither trims oversized feeds nor fsyncs its files.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.child import REGION, SqlCounter, bench_config
from feedgen.crm import tables as crm
from feedgen.crm.activities import ACTIVITY_COLUMNS, to_activity
from feedgen.crm.people import load_teams, load_users
from feedgen.db import open_engine
from feedgen.errors import RenderError
from feedgen.model import Activity, Feed, Participant, SubjectKind, Team, User, Window
from feedgen.render.content import FeedView, event_content, validate
from feedgen.render.feed import shown
from feedgen.state import tables as state
from feedgen.state.feeds import feed_from_row
from feedgen.tokens import object_key
from tests.render import reference

_a, _p = crm.activities, crm.participants
Put = Callable[[str, bytes], None]


def rebuild(
    db_url: str, storage_url: str, endpoint: str | None, feed_ids: list[int], now: datetime
) -> dict[str, Any]:
    """Build and upload the given feeds the naive way; return the same figures as feedgen's."""
    config = bench_config(db_url, storage_url, endpoint)
    engine = open_engine(db_url)
    counter = SqlCounter(engine)
    put = _uploader(storage_url, endpoint)
    started = time.perf_counter()
    feeds = events = size = 0
    with engine.connect() as conn:
        users = load_users(conn)
        teams = load_teams(conn)
        rows = conn.execute(sa.select(state.feeds).where(state.feeds.c.id.in_(feed_ids)))
        for feed in [feed_from_row(row) for row in rows]:
            data, count = render(conn, feed, users, teams, config, now)
            put(object_key(feed.token), data)
            feeds, events, size = feeds + 1, events + count, size + len(data)
    wall = time.perf_counter() - started
    return {
        "wall": wall,
        "feeds": feeds,
        "events": events,
        "bytes": size,
        "uploads": feeds,
        "failed": 0,
        "sql": counter.count,
    }


def render(
    conn: sa.Connection,
    feed: Feed,
    users: dict[int, User],
    teams: dict[int, Team],
    config: Any,
    now: datetime,
) -> tuple[bytes, int]:
    publish = config.publish
    window = feed.options.window(now.date())
    if feed.subject_kind == SubjectKind.USER:
        user = users[feed.subject_id]
        members = [user.id]
        name = publish.calendar_name.format(name=user.name)
        view = FeedView(feed.options, publish.uid_domain, _url(publish), users)
    else:
        team = teams[feed.subject_id]
        members = [m for m in team.member_ids if users[m].active]
        name = publish.team_calendar_name.format(name=team.name)
        view = FeedView(
            feed.options,
            publish.uid_domain,
            _url(publish),
            users,
            team_id=feed.subject_id,
            team_member_ids=frozenset(members),
        )
    activities: dict[int, Activity] = {}
    for user_id in members:
        for activity in _activities_of(conn, user_id, window, users):
            activities[activity.id] = activity
    ttl = timedelta(minutes=publish.refresh_minutes)
    calendar = reference.calendar_component(name, ttl)
    count = 0
    for activity in sorted(activities.values(), key=lambda a: (a.start or a.due or now, a.id)):
        if not shown(activity, view, window.start, window.end):
            continue
        try:
            validate(activity)
        except RenderError:
            continue
        calendar.add_component(reference.event_component(event_content(activity, view)))
        count += 1
    return calendar.to_ical(), count


def _activities_of(
    conn: sa.Connection, user_id: int, window: Window, users: dict[int, User]
) -> list[Activity]:
    """One query for the user's activities, then one per activity for its participants."""
    shared = sa.select(_p.c.activity_id).where(_p.c.user_id == user_id)
    query = sa.select(*ACTIVITY_COLUMNS).where(
        sa.or_(_a.c.owner_id == user_id, _a.c.id.in_(shared)),
        _a.c.deleted_at.is_(None),
        _a.c.kind != "note",
        sa.or_(
            sa.and_(
                _a.c.starts_at < window.end,
                sa.func.coalesce(_a.c.ends_at, _a.c.starts_at) >= window.start,
            ),
            sa.and_(_a.c.due_at >= window.start, _a.c.due_at < window.end),
        ),
    )
    found = []
    for row in conn.execute(query).all():
        people = conn.execute(
            sa.select(_p.c.user_id, _p.c.name, _p.c.email)
            .where(_p.c.activity_id == row.id)
            .order_by(_p.c.id)
        )
        participants = tuple(_participant(p, users) for p in people)
        try:
            found.append(to_activity(row, participants))
        except RenderError:
            continue
    return found


def _participant(row: Any, users: dict[int, User]) -> Participant:
    colleague = users.get(row.user_id) if row.user_id is not None else None
    if colleague is not None:
        return Participant(colleague.name, colleague.email, colleague.id)
    return Participant(row.name or row.email or "?", row.email, row.user_id)


def _url(publish: Any) -> str:
    return str(publish.crm_base_url + publish.activity_path)


def _uploader(storage_url: str, endpoint: str | None) -> Put:
    scheme, _, rest = storage_url.partition("://")
    if scheme == "file":
        root = Path(rest)
        root.mkdir(parents=True, exist_ok=True)

        def write(key: str, data: bytes) -> None:
            (root / key).write_bytes(data)

        return write
    import boto3

    bucket, _, prefix = rest.partition("/")
    client = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)

    def upload(key: str, data: bytes) -> None:
        client.put_object(
            Bucket=bucket,
            Key=f"{prefix}/{key}",
            Body=data,
            ContentType="text/calendar; charset=utf-8",
        )

    return upload

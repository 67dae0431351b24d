"""One detection pass: bring the indexes up to date and mark the feeds that changes touched.

Runs in one transaction; on PostgreSQL under an advisory lock, so that of several workers one at
a time detects, and the cursor only moves when the feeds it implies are marked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    bindparam,
    insert,
    or_,
    select,
    text,
    update,
)

from ..db import chunks, db_now
from ..model import FeedOptions, SubjectKind, Window
from ..state import tables as state
from ..state.feeds import active_feeds
from . import sweep
from . import tables as crm
from .index import Changes, co_audience, find_vanished, sync_activities
from .people import Teams
from .subjects import sync_changed_users, sync_subjects

CURSOR_CYCLE = "cycle_started_at"


CURSOR_DAY = "window_day"


_a = crm.activities


_p = crm.participants


# Any 64-bit constant: the advisory lock that lets one worker at a time detect changes.
DETECT_LOCK = 0x6665656467656E


# After this many days without a cycle, every feed is rebuilt instead of tracing window edges.
LONGEST_GAP_DAYS = 7


# Past this many changed users (renames, zones, membership) in one pass, every feed is rebuilt.
MOST_REDRAWN = 200


def detect(engine: Engine, today: date, lookback: timedelta, full: bool = False) -> Changes:
    """Find what changed since the last pass (everything when ``full``) and mark those feeds."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": DETECT_LOCK})
        started_at = db_now(conn)
        cursors = get_cursors(conn)
        last = cursors.get(CURSOR_CYCLE)
        since = None if last is None or full else datetime.fromisoformat(last) - lookback
        found = sync_activities(conn, since)
        checks = sweep.plan(conn, cursors)
        if since is None:  # the first pass or a reconcile: every table compared whole
            found.merge(find_vanished(conn))
            subjects = sync_subjects(conn)
        else:
            found.merge(find_vanished(conn, checks.ranges["activities"]))
            subjects = sync_changed_users(conn, since)
            subjects.merge(sync_subjects(conn, checks.ranges["users"], checks.ranges["teams"]))
        checks.save(conn)
        # So many users changed (the first pass: all) that every feed is rebuilt anyway.
        everything = since is None or len(subjects.redrawn) > MOST_REDRAWN
        if not everything:
            # A renamed colleague shows in other users' events too (organizer, participant).
            subjects.redrawn |= co_audience(conn, subjects.redrawn)
            subjects.users |= subjects.redrawn
        found.merge(subjects)
        last_day = cursors.get(CURSOR_DAY)
        if not everything and last_day is not None and date.fromisoformat(last_day) != today:
            old_day = date.fromisoformat(last_day)
            if abs((today - old_day).days) > LONGEST_GAP_DAYS:
                everything = True
            else:
                windows = option_windows(f.options for f in active_feeds(conn))
                edges = window_edges(conn, windows, old_day, today)
                found.users |= edges
                found.redrawn |= edges
        mark_dirty(conn, found, everything)
        set_cursor(conn, CURSOR_CYCLE, started_at.isoformat())
        set_cursor(conn, CURSOR_DAY, today.isoformat())
    return found


def mark_dirty(conn: Connection, found: Changes, everything: bool) -> None:
    """Mark the feeds of the users and teams in ``found`` (and of those users' teams).

    A feed that only activity changes touched keeps the list of those activities, so the build
    can patch it (``patch``); anything else about a user or team (``found.redrawn``, a team in
    ``found.teams``, changes too many to track) marks the feed for a full build.
    """
    b = state.builds
    if everything:
        conn.execute(update(b).values(**state.FULL_BUILD))
        return
    tracked = found.activity_users
    whole = set(found.teams)
    own: dict[int, set[int]] = {}  # user -> the changed activities of their own feeds
    teams: dict[int, set[int]] = {}  # team -> the changed activities of its feed
    if found.users:
        teams_of: dict[int, list[int]] = {}
        for team in Teams(conn).of_members(found.users):
            members = set(team.member_ids)
            if found.redrawn & members or tracked is None:
                whole.add(team.id)
            else:
                teams[team.id] = set()
            for member in members & found.users:
                teams_of.setdefault(member, []).append(team.id)
        for activity_id, users in (tracked or {}).items():
            for user_id in users:
                if user_id not in found.redrawn:
                    own.setdefault(user_id, set()).add(activity_id)
                for team_id in teams_of.get(user_id, ()):
                    if team_id in teams:
                        teams[team_id].add(activity_id)
    whole_users = found.users - own.keys()
    for kind, ids in ((SubjectKind.USER, whole_users), (SubjectKind.TEAM, whole)):
        for part in chunks(sorted(ids)):
            feed_ids = _feeds_of(kind).where(state.feeds.c.subject_id.in_(part))
            conn.execute(update(b).where(b.c.feed_id.in_(feed_ids)).values(**state.FULL_BUILD))
    for kind, pending in ((SubjectKind.USER, own), (SubjectKind.TEAM, teams)):
        if not pending:
            continue
        # Appending to NULL stays NULL: a feed already due for a full build stays due for one.
        subject_feeds = _feeds_of(kind).where(state.feeds.c.subject_id == bindparam("b_subject"))
        conn.execute(
            update(b)
            .where(b.c.feed_id.in_(subject_feeds.scalar_subquery()))
            .values(dirty=True, pending_ids=b.c.pending_ids + bindparam("b_ids")),
            [
                {"b_subject": subject, "b_ids": "".join(f",{i}" for i in sorted(ids))}
                for subject, ids in sorted(pending.items())
            ],
        )


def _feeds_of(kind: SubjectKind) -> Select[tuple[int]]:
    f = state.feeds
    return select(f.c.id).where(f.c.subject_kind == kind.value)


def get_cursors(conn: Connection) -> dict[str, str]:
    c = state.cursors
    return {name: value for name, value in conn.execute(select(c.c.name, c.c.value))}


def set_cursor(conn: Connection, name: str, value: str) -> None:
    c = state.cursors
    if conn.execute(update(c).where(c.c.name == name).values(value=value)).rowcount == 0:
        conn.execute(insert(c).values(name=name, value=value))


def window_edges(
    conn: Connection, windows: Iterable[tuple[int, int]], old_day: date, new_day: date
) -> set[int]:
    """Users with an activity that entered or left a feed window between two days."""
    users: set[int] = set()
    for days_back, days_ahead in windows:
        old = Window.around(old_day, days_back, days_ahead)
        new = Window.around(new_day, days_back, days_ahead)
        edges = [(old.start, new.start), (old.end, new.end)]
        clauses = []
        for low, high in edges:
            low, high = min(low, high), max(low, high)
            for column in (_a.c.starts_at, _a.c.ends_at, _a.c.due_at):
                clauses.append(column.between(low, high))
        ids = select(_a.c.id).where(or_(*clauses))
        users |= set(conn.execute(select(_a.c.owner_id).where(or_(*clauses))).scalars())
        users |= set(
            conn.execute(
                select(_p.c.user_id).where(_p.c.activity_id.in_(ids), _p.c.user_id.is_not(None))
            ).scalars()
        )
    return users


def option_windows(options: Iterator[FeedOptions]) -> set[tuple[int, int]]:
    return {(o.days_back, o.days_ahead) for o in options}

"""One detection pass: bring the indexes up to date and mark the feeds that changes touched.

Runs in one transaction; on PostgreSQL under an advisory lock, so that of several workers one at
a time detects, and the cursor only moves when the feeds it implies are marked.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Connection, Engine, select, text, update

from . import changes, source, state
from .feeds import active_feeds
from .model import SubjectKind

# Any 64-bit constant: the advisory lock that lets one worker at a time detect changes.
DETECT_LOCK = 0x6665656467656E
# After this many days without a cycle, every feed is rebuilt instead of tracing window edges.
LONGEST_GAP_DAYS = 7


def detect(engine: Engine, today: date, lookback: timedelta, full: bool = False) -> changes.Changes:
    """Find what changed since the last pass (everything when ``full``) and mark those feeds."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": DETECT_LOCK})
        started_at = source.db_now(conn)
        last = changes.get_cursor(conn, changes.CURSOR_CYCLE)
        since = None if last is None or full else datetime.fromisoformat(last) - lookback
        found = changes.sync_activities(conn, since)
        found.merge(changes.find_vanished(conn))
        found.merge(changes.sync_subjects(conn))
        everything = since is None
        last_day = changes.get_cursor(conn, changes.CURSOR_DAY)
        if not everything and last_day is not None and date.fromisoformat(last_day) != today:
            old_day = date.fromisoformat(last_day)
            if abs((today - old_day).days) > LONGEST_GAP_DAYS:
                everything = True
            else:
                found.window_moved = True
                windows = changes.option_windows(f.options for f in active_feeds(conn))
                found.users |= changes.window_edges(conn, windows, old_day, today)
        mark_dirty(conn, found, everything)
        changes.set_cursor(conn, changes.CURSOR_CYCLE, started_at.isoformat())
        changes.set_cursor(conn, changes.CURSOR_DAY, today.isoformat())
    return found


def mark_dirty(conn: Connection, found: changes.Changes, everything: bool) -> None:
    """Mark the feeds of the users and teams in ``found`` (and of those users' teams)."""
    b, f = state.builds, state.feeds
    if everything:
        conn.execute(update(b).values(dirty=True))
        return
    teams = set(found.teams)
    if found.users:
        for team in source.load_teams(conn).values():
            if found.users.intersection(team.member_ids):
                teams.add(team.id)
    for kind, ids in ((SubjectKind.USER, found.users), (SubjectKind.TEAM, teams)):
        for part in source.chunks(sorted(ids)):
            feed_ids = select(f.c.id).where(
                f.c.subject_kind == kind.value, f.c.subject_id.in_(part)
            )
            conn.execute(update(b).where(b.c.feed_id.in_(feed_ids)).values(dirty=True))

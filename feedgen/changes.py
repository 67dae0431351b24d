"""Change detection: which feeds a cycle must rebuild.

Holds against a CRM we do not control (DESIGN invariant 3):
- late commits and clock skew: rows are re-read from ``lookback`` before the last cycle's start,
  measured on the database's clock; re-read rows whose version we already know cost nothing;
- participant changes and owner changes: the index remembers whose feeds showed an activity, so the
  feeds it leaves are rebuilt too, not only the feeds it enters;
- rows deleted outright: the index holds as many rows as the CRM's activities table; when the
  counts differ, an anti-join finds the rows that vanished;
- users and team membership: a fingerprint per user and team, compared every cycle;
- the window moving at midnight: only feeds with an activity at the window's edges are touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, or_, select, update

from . import crm, state
from .model import FeedOptions, Window
from .source import as_utc_naive, chunks

PAGE = 20_000
# Past this many changed activities in one pass, team feeds are rebuilt in full rather than patched.
MOST_TRACKED = 5_000
# Rows fetched at a time from queries over every user (server-side on PostgreSQL).
STREAM_ROWS = 2_000
CURSOR_CYCLE = "cycle_started_at"
CURSOR_DAY = "window_day"

_a = crm.activities
_p = crm.participants
_ix = state.activity_index


@dataclass
class Changes:
    users: set[int] = field(default_factory=set)
    teams: set[int] = field(default_factory=set)
    # Users whose own data changed (name, zone, membership, window edges): every team feed that
    # shows them is built in full.
    redrawn: set[int] = field(default_factory=set)
    # The changed activities and the users whose feeds showed or show them; None when too many
    # to track (or a full pass), which builds team feeds in full.
    activity_users: dict[int, set[int]] | None = field(default_factory=dict)
    activities_seen: int = 0
    activities_changed: int = 0
    activities_vanished: int = 0
    window_moved: bool = False

    def merge(self, other: Changes) -> None:
        self.users |= other.users
        self.teams |= other.teams
        self.redrawn |= other.redrawn
        if self.activity_users is None or other.activity_users is None:
            self.activity_users = None
        else:
            self.activity_users.update(other.activity_users)
            if len(self.activity_users) > MOST_TRACKED:
                self.activity_users = None
        self.activities_seen += other.activities_seen
        self.activities_changed += other.activities_changed
        self.activities_vanished += other.activities_vanished


def get_cursor(conn: Connection, name: str) -> str | None:
    c = state.cursors
    return conn.execute(select(c.c.value).where(c.c.name == name)).scalar_one_or_none()


def set_cursor(conn: Connection, name: str, value: str) -> None:
    c = state.cursors
    if conn.execute(update(c).where(c.c.name == name).values(value=value)).rowcount == 0:
        conn.execute(insert(c).values(name=name, value=value))


def _ids_text(ids: Iterable[int]) -> str:
    return ",".join(map(str, sorted(ids)))


def _ids(text: str) -> set[int]:
    return {int(part) for part in text.split(",") if part}


def sync_activities(conn: Connection, since: datetime | None) -> Changes:
    """Bring the index up to date with activities updated at or after ``since`` (None: all).

    Pages through the rows in id order, so memory stays flat even on the first, full pass.
    """
    changes = Changes(activity_users=None if since is None else {})
    after = 0
    while True:
        query = select(_a.c.id, _a.c.owner_id, _a.c.updated_at).where(_a.c.id > after)
        if since is not None:
            query = query.where(_a.c.updated_at >= since)
        rows = conn.execute(query.order_by(_a.c.id).limit(PAGE)).all()
        if not rows:
            return changes
        after = rows[-1].id
        changes.merge(_sync_page(conn, rows))


def _sync_page(conn: Connection, rows: Sequence[Any]) -> Changes:
    changes = Changes(activities_seen=len(rows))
    ids = [row.id for row in rows]
    known = {
        activity_id: (version, user_ids)
        for activity_id, version, user_ids in conn.execute(
            select(_ix.c.activity_id, _ix.c.version, _ix.c.user_ids).where(
                _ix.c.activity_id.in_(ids)
            )
        )
    }
    versions = {row.id: as_utc_naive(row.updated_at) for row in rows}
    changed = [row for row in rows if row.id not in known or known[row.id][0] != versions[row.id]]
    if not changed:
        return changes
    audience: dict[int, set[int]] = {row.id: {row.owner_id} for row in changed}
    for part in chunks([row.id for row in changed]):
        for activity_id, user_id in conn.execute(
            select(_p.c.activity_id, _p.c.user_id).where(
                _p.c.activity_id.in_(part), _p.c.user_id.is_not(None)
            )
        ):
            audience[activity_id].add(user_id)
    inserts, updates = [], []
    touched: dict[int, set[int]] = {}
    for row in changed:
        users = audience[row.id]
        record = {"activity_id": row.id, "version": versions[row.id], "user_ids": _ids_text(users)}
        if row.id in known:
            users = users | _ids(known[row.id][1])
            updates.append(record)
        else:
            inserts.append(record)
        changes.users |= users
        touched[row.id] = users
    changes.activity_users = touched if len(touched) <= MOST_TRACKED else None
    if inserts:
        conn.execute(insert(_ix), inserts)
    if updates:
        conn.execute(
            update(_ix)
            .where(_ix.c.activity_id == bindparam("b_id"))
            .values(version=bindparam("b_version"), user_ids=bindparam("b_users")),
            [
                {"b_id": r["activity_id"], "b_version": r["version"], "b_users": r["user_ids"]}
                for r in updates
            ],
        )
    changes.activities_changed = len(changed)
    return changes


def find_vanished(conn: Connection) -> Changes:
    """Rows deleted outright: compare counts first (cheap), anti-join only when they differ."""
    changes = Changes()
    crm_count = conn.execute(select(func.count()).select_from(_a)).scalar_one()
    index_count = conn.execute(select(func.count()).select_from(_ix)).scalar_one()
    if crm_count == index_count:
        return changes
    gone = conn.execute(
        select(_ix.c.activity_id, _ix.c.user_ids).where(
            ~select(_a.c.id).where(_a.c.id == _ix.c.activity_id).exists()
        )
    ).all()
    for part in chunks([row.activity_id for row in gone]):
        conn.execute(delete(_ix).where(_ix.c.activity_id.in_(part)))
    for row in gone:
        users = _ids(row.user_ids)
        changes.users |= users
        if changes.activity_users is not None:
            changes.activity_users[row.activity_id] = users
    if len(gone) > MOST_TRACKED:
        changes.activity_users = None
    changes.activities_vanished = len(gone)
    return changes


def sync_subjects(conn: Connection) -> Changes:
    """Users and teams whose fingerprint changed since the last cycle, and those that vanished.

    A user's fingerprint is what its feeds show of it (name, e-mail, zone, active); a team's is
    its name and members. Both tables are small: reading them whole each cycle costs little and
    asks nothing of the CRM (no timestamps, no triggers).
    """
    changes = Changes()
    u, t, tm = crm.users, crm.teams, crm.team_members
    si = state.subject_index
    # Users are many: of their stored fingerprints only a hash is kept (compared in this process
    # only), and the CRM's rows are compared as they stream in, so memory stays small at 100,000
    # users. Teams keep their text: a team's old members are read back from it.
    known_users: dict[int, int] = {}
    known_teams: dict[int, str] = {}
    for kind, subject_id, fingerprint in conn.execute(
        select(si.c.subject_kind, si.c.subject_id, si.c.fingerprint)
    ):
        if kind == "user":
            known_users[subject_id] = hash(fingerprint)
        else:
            known_teams[subject_id] = fingerprint
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    users = select(u.c.id, u.c.name, u.c.email, u.c.time_zone, u.c.active)
    for user_id, name, email, zone, active in conn.execute(
        users.execution_options(yield_per=STREAM_ROWS)
    ):
        fingerprint = f"{name}|{email}|{zone}|{bool(active)}"
        old_hash = known_users.pop(user_id, None)
        if old_hash == hash(fingerprint):
            continue
        changes.users.add(user_id)
        changes.redrawn.add(user_id)
        record = {"b_kind": "user", "b_id": user_id, "b_fp": fingerprint}
        (updates if old_hash is not None else inserts).append(record)
    members: dict[int, list[int]] = {}
    for team_id, user_id in conn.execute(select(tm.c.team_id, tm.c.user_id)):
        members.setdefault(team_id, []).append(user_id)
    for team_id, name in conn.execute(select(t.c.id, t.c.name)):
        fingerprint = f"{name}|{_ids_text(members.get(team_id, ()))}"
        old = known_teams.pop(team_id, None)
        if old == fingerprint:
            continue
        changes.teams.add(team_id)
        # Members who joined or left: their own feeds are unchanged, but the team's is not.
        old_members = _ids(old.rsplit("|", 1)[-1]) if old is not None else set()
        moved = old_members ^ _ids(fingerprint.rsplit("|", 1)[-1])
        changes.users |= moved
        changes.redrawn |= moved
        record = {"b_kind": "team", "b_id": team_id, "b_fp": fingerprint}
        (updates if old is not None else inserts).append(record)
    if inserts:
        conn.execute(
            insert(si).values(
                subject_kind=bindparam("b_kind"),
                subject_id=bindparam("b_id"),
                fingerprint=bindparam("b_fp"),
            ),
            inserts,
        )
    if updates:
        conn.execute(
            update(si)
            .where(si.c.subject_kind == bindparam("b_kind"), si.c.subject_id == bindparam("b_id"))
            .values(fingerprint=bindparam("b_fp")),
            updates,
        )
    # What is left of the stored fingerprints vanished from the CRM.
    changes.users |= known_users.keys()
    changes.redrawn |= known_users.keys()
    changes.teams |= known_teams.keys()
    for kind, gone in (("user", known_users), ("team", known_teams)):
        for part in chunks(sorted(gone)):
            conn.execute(delete(si).where(si.c.subject_kind == kind, si.c.subject_id.in_(part)))
    return changes


def co_audience(conn: Connection, user_ids: set[int]) -> set[int]:
    """The users whose feeds show an activity of one of ``user_ids`` (owned or shared).

    Scans the index, so it runs only when users changed (a rename, a new zone), which is rare.
    """
    found: set[int] = set()
    padded = "," + _ix.c.user_ids + ","
    for part in chunks(sorted(user_ids), 100):
        clauses = [padded.like(f"%,{user_id},%") for user_id in part]
        for (text,) in conn.execute(select(_ix.c.user_ids).where(or_(*clauses))):
            found |= _ids(text)
    return found


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


def lookback_start(last_start: datetime | None, lookback: timedelta) -> datetime | None:
    return None if last_start is None else last_start - lookback

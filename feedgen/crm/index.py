"""What feedgen remembers of the CRM, and bringing it up to date: each activity's version and
the users whose feeds show it, each user's and team's fingerprint.

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
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, delete, func, insert, or_, select, update

from ..db import as_utc_naive, chunks
from ..model import next_sequence, sequence_floor
from ..state import tables as state
from . import tables as crm

PAGE = 20_000


# Past this many changed activities in one pass, team feeds are rebuilt in full rather than patched.
MOST_TRACKED = 5_000


# Rows fetched at a time from queries over every user (server-side on PostgreSQL).
STREAM_ROWS = 2_000


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
        query = select(_a.c.id, _a.c.owner_id, _a.c.created_at, _a.c.updated_at).where(
            _a.c.id > after
        )
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
        activity_id: (version, user_ids, sequence)
        for activity_id, version, user_ids, sequence in conn.execute(
            select(_ix.c.activity_id, _ix.c.version, _ix.c.user_ids, _ix.c.sequence).where(
                _ix.c.activity_id.in_(ids)
            )
        )
    }
    # To the microsecond: two saves within one second are two versions.
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
        version = versions[row.id]
        created = as_utc_naive(row.created_at) if row.created_at is not None else version
        old = known.get(row.id)
        record = {
            "activity_id": row.id,
            "version": version,
            "user_ids": _ids_text(users),
            "sequence": next_sequence(
                old[2] if old is not None else None, sequence_floor(created, version)
            ),
        }
        if old is not None:
            users = users | _ids(old[1])
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
            .values(
                version=bindparam("b_version"),
                user_ids=bindparam("b_users"),
                sequence=bindparam("b_sequence"),
            ),
            [
                {
                    "b_id": r["activity_id"],
                    "b_version": r["version"],
                    "b_users": r["user_ids"],
                    "b_sequence": r["sequence"],
                }
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
    its name and members. Reading both tables whole each cycle costs little and asks nothing of
    the CRM (no timestamps, no triggers). The stored fingerprints and the CRM's rows stream side
    by side in id order and are compared as they come: memory does not grow with the CRM.
    """
    changes = Changes()
    u, t, tm = crm.users, crm.teams, crm.team_members
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    vanished: dict[str, list[int]] = {"user": [], "team": []}

    def changed(kind: str, subject_id: int, fingerprint: str, old: str | None) -> None:
        record = {"b_kind": kind, "b_id": subject_id, "b_fp": fingerprint}
        (updates if old is not None else inserts).append(record)

    users = select(u.c.id, u.c.name, u.c.email, u.c.time_zone, u.c.active).order_by(u.c.id)
    rows = _stream(conn, users)
    for user_id, old, (name, email, zone, active) in _merge_by_id(
        _stored(conn, "user"), rows, vanished["user"]
    ):
        fingerprint = f"{name}|{email}|{zone}|{bool(active)}"
        if old != fingerprint:
            changes.users.add(user_id)
            changes.redrawn.add(user_id)
            changed("user", user_id, fingerprint, old)
    teams = _with_members(
        _stream(conn, select(t.c.id, t.c.name).order_by(t.c.id)),
        _stream(conn, select(tm.c.team_id, tm.c.user_id).order_by(tm.c.team_id, tm.c.user_id)),
    )
    for team_id, old, (name, members) in _merge_by_id(
        _stored(conn, "team"), teams, vanished["team"]
    ):
        fingerprint = f"{name}|{_ids_text(members)}"
        if old == fingerprint:
            continue
        changes.teams.add(team_id)
        # Members who joined or left: their own feeds are unchanged, but the team's is not.
        old_members = _ids(old.rsplit("|", 1)[-1]) if old is not None else set()
        moved = old_members ^ set(members)
        changes.users |= moved
        changes.redrawn |= moved
        changed("team", team_id, fingerprint, old)
    _store_fingerprints(conn, inserts, updates, vanished)
    changes.users.update(vanished["user"])
    changes.redrawn.update(vanished["user"])
    changes.teams.update(vanished["team"])
    return changes


def _stream(conn: Connection, query: Select[Any]) -> Iterator[Any]:
    return iter(conn.execute(query.execution_options(yield_per=STREAM_ROWS)))


def _stored(conn: Connection, kind: str) -> Iterator[Any]:
    """The stored fingerprints of one kind of subject, in id order."""
    si = state.subject_index
    query = select(si.c.subject_id, si.c.fingerprint).where(si.c.subject_kind == kind)
    return _stream(conn, query.order_by(si.c.subject_id))


def _with_members(
    teams: Iterator[Any], members: Iterator[Any]
) -> Iterator[tuple[int, str, list[int]]]:
    """Each team (id order) with its members, from memberships in (team id, user id) order."""
    member = next(members, None)
    for team_id, name in teams:
        ids = []
        while member is not None and member[0] < team_id:  # a membership of no team
            member = next(members, None)
        while member is not None and member[0] == team_id:
            ids.append(member[1])
            member = next(members, None)
        yield team_id, name, ids


def _store_fingerprints(
    conn: Connection,
    inserts: list[dict[str, Any]],
    updates: list[dict[str, Any]],
    vanished: dict[str, list[int]],
) -> None:
    si = state.subject_index
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
    for kind, gone in vanished.items():
        for part in chunks(sorted(gone)):
            conn.execute(delete(si).where(si.c.subject_kind == kind, si.c.subject_id.in_(part)))


def _merge_by_id(
    stored: Iterable[Any], rows: Iterable[Any], vanished: list[int]
) -> Iterator[tuple[int, str | None, tuple[Any, ...]]]:
    """Pair each CRM row (id first) with its stored fingerprint (None: new), both in id order;
    stored ids with no row left are added to ``vanished``."""
    pending = iter(stored)
    old = next(pending, None)
    for row in rows:
        row_id = row[0]
        while old is not None and old[0] < row_id:
            vanished.append(old[0])
            old = next(pending, None)
        if old is not None and old[0] == row_id:
            yield row_id, old[1], tuple(row[1:])
            old = next(pending, None)
        else:
            yield row_id, None, tuple(row[1:])
    while old is not None:
        vanished.append(old[0])
        old = next(pending, None)


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

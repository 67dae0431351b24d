"""Users and teams: what feedgen remembers of each (a fingerprint of what feeds show of it), and
bringing it up to date.

A cycle reads the users whose ``updated_at`` moved (through its index) and compares a slice of
each table (``crm.sweep``); the first pass and the nightly reconcile compare every row. The stored
fingerprints and the CRM's rows stream side by side in id order: memory does not grow with the CRM.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, delete, insert, select, update

from ..db import chunks
from ..state import tables as state
from . import tables as crm
from .index import EVERY, Changes, IdRange, ids_text, parse_ids

# Rows fetched at a time from queries over every user (server-side on PostgreSQL).
STREAM_ROWS = 2_000


def sync_subjects(
    conn: Connection, users: IdRange | None = EVERY, teams: IdRange | None = EVERY
) -> Changes:
    """Users and teams among ``users`` and ``teams`` (None: none) whose fingerprint changed since
    the last pass, and those that vanished.

    A user's fingerprint is what its feeds show of it (name, e-mail, zone, active); a team's is
    its name and members. The stored fingerprints and the CRM's rows stream side by side in id
    order and are compared as they come: memory does not grow with the CRM. A cycle compares a
    slice of each table (``crm.sweep``), the first pass and the nightly reconcile all of it.
    """
    changes = Changes()
    u, t, tm = crm.users, crm.teams, crm.team_members
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    vanished: dict[str, list[int]] = {"user": [], "team": []}

    def changed(kind: str, subject_id: int, fingerprint: str, old: str | None) -> None:
        record = {"b_kind": kind, "b_id": subject_id, "b_fp": fingerprint}
        (updates if old is not None else inserts).append(record)

    if users is not None:
        query = select(*_USER_COLUMNS).where(users.clause(u.c.id)).order_by(u.c.id)
        for user_id, old, row in _merge_by_id(
            _stored(conn, "user", users), _stream(conn, query), vanished["user"]
        ):
            fingerprint = _user_fingerprint(row)
            if old != fingerprint:
                changes.users.add(user_id)
                changes.redrawn.add(user_id)
                changed("user", user_id, fingerprint, old)
    if teams is not None:
        rows = _with_members(
            _stream(conn, select(t.c.id, t.c.name).where(teams.clause(t.c.id)).order_by(t.c.id)),
            _stream(
                conn,
                select(tm.c.team_id, tm.c.user_id)
                .where(teams.clause(tm.c.team_id))
                .order_by(tm.c.team_id, tm.c.user_id),
            ),
        )
        for team_id, old, (name, members) in _merge_by_id(
            _stored(conn, "team", teams), rows, vanished["team"]
        ):
            fingerprint = f"{name}|{ids_text(members)}"
            if old == fingerprint:
                continue
            changes.teams.add(team_id)
            # Members who joined or left: their own feeds are unchanged, but the team's is not.
            old_members = parse_ids(old.rsplit("|", 1)[-1]) if old is not None else set()
            moved = old_members ^ set(members)
            changes.users |= moved
            changes.redrawn |= moved
            changed("team", team_id, fingerprint, old)
    _store_fingerprints(conn, inserts, updates, vanished)
    changes.users.update(vanished["user"])
    changes.redrawn.update(vanished["user"])
    changes.teams.update(vanished["team"])
    return changes


_USER_COLUMNS = (
    crm.users.c.id,
    crm.users.c.name,
    crm.users.c.email,
    crm.users.c.time_zone,
    crm.users.c.active,
)


def _user_fingerprint(row: Sequence[Any]) -> str:
    name, email, zone, active = row
    return f"{name}|{email}|{zone}|{bool(active)}"


def sync_changed_users(conn: Connection, since: datetime) -> Changes:
    """Users updated at or after ``since`` whose fingerprint changed (found through the
    updated_at index: a cycle reads the few users that changed, not the table)."""
    changes = Changes()
    si, u = state.subject_index, crm.users
    rows = conn.execute(select(*_USER_COLUMNS).where(u.c.updated_at >= since)).all()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for part in chunks(rows):
        stored = dict(
            conn.execute(
                select(si.c.subject_id, si.c.fingerprint).where(
                    si.c.subject_kind == "user", si.c.subject_id.in_([row[0] for row in part])
                )
            ).all()
        )
        for row in part:
            fingerprint, old = _user_fingerprint(tuple(row[1:])), stored.get(row[0])
            if fingerprint != old:
                changes.users.add(row[0])
                changes.redrawn.add(row[0])
                record = {"b_kind": "user", "b_id": row[0], "b_fp": fingerprint}
                (updates if old is not None else inserts).append(record)
    _store_fingerprints(conn, inserts, updates, {})
    return changes


def _stream(conn: Connection, query: Select[Any]) -> Iterator[Any]:
    return iter(conn.execute(query.execution_options(yield_per=STREAM_ROWS)))


def _stored(conn: Connection, kind: str, ids: IdRange) -> Iterator[Any]:
    """The stored fingerprints of one kind of subject among ``ids``, in id order."""
    si = state.subject_index
    query = select(si.c.subject_id, si.c.fingerprint).where(
        si.c.subject_kind == kind, ids.clause(si.c.subject_id)
    )
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

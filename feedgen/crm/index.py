"""What feedgen remembers of the CRM's activities, and bringing it up to date: each activity's
version and the users whose feeds show it. Users and teams: ``subjects``.

Holds against a CRM we do not control (DESIGN invariant 3):
- late commits and clock skew: rows are re-read from ``lookback`` before the last cycle's start,
  measured on the database's clock, through the updated_at index (a cycle's reads do not grow
  with the table); re-read rows whose version we already know cost nothing;
- participant changes and owner changes: the index remembers whose feeds showed an activity, so the
  feeds it leaves are rebuilt too, not only the feeds it enters;
- rows deleted outright: the count and sum of the ids in a range of the CRM's table and of the
  index are compared (a slice a cycle, ``sweep``; all of it at the first pass and the nightly
  reconcile); when they differ, an anti-join finds the rows that vanished;
- the window moving at midnight: only feeds with an activity at the window's edges are touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    true,
    type_coerce,
    update,
)

from ..db import as_utc_naive, chunks
from ..model import next_sequence, sequence_floor
from ..state import tables as state
from . import tables as crm

PAGE = 20_000


# Past this many changed activities in one pass, team feeds are rebuilt in full rather than patched.
MOST_TRACKED = 5_000


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


@dataclass(frozen=True)
class IdRange:
    """Ids above ``low`` up to ``high`` (None: no bound): the slice of a table one pass compares."""

    low: int | None = None
    high: int | None = None

    def clause(self, column: ColumnElement[int]) -> ColumnElement[bool]:
        bounds = []
        if self.low is not None:
            bounds.append(column > self.low)
        if self.high is not None:
            bounds.append(column <= self.high)
        return and_(true(), *bounds)


EVERY = IdRange()


def same_ids(
    conn: Connection,
    crm_side: tuple[ColumnElement[int], ColumnElement[bool]],
    index_side: tuple[ColumnElement[int], ColumnElement[bool]],
) -> bool:
    """Whether the CRM's ids and feedgen's match by count and sum: one statement, two index
    ranges; a row deleted and another added between two passes still moves the sum."""
    crm_tally, index_tally = (
        select(func.count(column).label("n"), func.coalesce(func.sum(column), 0).label("total"))
        .where(where)
        .subquery()
        for column, where in (crm_side, index_side)
    )
    crm_count, crm_sum, index_count, index_sum = conn.execute(
        select(crm_tally.c.n, crm_tally.c.total, index_tally.c.n, index_tally.c.total).select_from(
            crm_tally.join(index_tally, true())
        )
    ).one()
    return bool(crm_count == index_count and crm_sum == index_sum)


def ids_text(ids: Iterable[int]) -> str:
    return ",".join(map(str, sorted(ids)))


def parse_ids(text: str) -> set[int]:
    return {int(part) for part in text.split(",") if part}


def sync_activities(conn: Connection, since: datetime | None) -> Changes:
    """Bring the index up to date with activities updated at or after ``since`` (None: all).

    Pages through the rows, so memory stays flat even on the first, full pass: in id order when
    reading everything, in (updated_at, id) order otherwise, so that the updated_at index finds
    the few rows a cycle re-reads however large the table (an id walk reads every row).
    """
    changes = Changes(activity_users=None if since is None else {})
    pages = _pages_by_id(conn) if since is None else _pages_since(conn, since)
    for rows in pages:
        changes.merge(_sync_page(conn, rows))
    return changes


_COLUMNS = (_a.c.id, _a.c.owner_id, _a.c.created_at, _a.c.updated_at)


def _pages_by_id(conn: Connection) -> Iterator[Sequence[Any]]:
    after = 0
    while rows := conn.execute(
        select(*_COLUMNS).where(_a.c.id > after).order_by(_a.c.id).limit(PAGE)
    ).all():
        yield rows
        after = rows[-1].id


def _pages_since(conn: Connection, since: datetime) -> Iterator[Sequence[Any]]:
    # The page's last key as the database holds it: SQLite compares the stored text, which need
    # not be the text SQLAlchemy would write for the same time (fewer fraction digits).
    key = (
        _a.c.updated_at
        if conn.dialect.name == "postgresql"
        else type_coerce(_a.c.updated_at, String)
    )
    query = (
        select(*_COLUMNS, key.label("page_key"))
        .where(_a.c.updated_at >= since)
        .order_by(_a.c.updated_at, _a.c.id)
        .limit(PAGE)
    )
    page = query
    while rows := conn.execute(page).all():
        yield rows
        last_key, last_id = rows[-1].page_key, rows[-1].id
        page = query.where(key >= last_key, or_(key > last_key, _a.c.id > last_id))


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
            "user_ids": ids_text(users),
            "sequence": next_sequence(
                old[2] if old is not None else None, sequence_floor(created, version)
            ),
        }
        if old is not None:
            users = users | parse_ids(old[1])
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


def find_vanished(conn: Connection, ids: IdRange = EVERY) -> Changes:
    """Rows deleted outright among ``ids``: compare the count and the sum of the ids on each
    side first (cheap), anti-join only when they differ."""
    changes = Changes()
    index_ids = ids.clause(_ix.c.activity_id)
    if same_ids(conn, (_a.c.id, ids.clause(_a.c.id)), (_ix.c.activity_id, index_ids)):
        return changes
    gone = conn.execute(
        select(_ix.c.activity_id, _ix.c.user_ids).where(
            index_ids, ~select(_a.c.id).where(_a.c.id == _ix.c.activity_id).exists()
        )
    ).all()
    for part in chunks([row.activity_id for row in gone]):
        conn.execute(delete(_ix).where(_ix.c.activity_id.in_(part)))
    for row in gone:
        users = parse_ids(row.user_ids)
        changes.users |= users
        if changes.activity_users is not None:
            changes.activity_users[row.activity_id] = users
    if len(gone) > MOST_TRACKED:
        changes.activity_users = None
    changes.activities_vanished = len(gone)
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
            found |= parse_ids(text)
    return found

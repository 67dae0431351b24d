"""Reads of the CRM: users, teams and the activities of a batch of users, as model values.

Read only (DESIGN invariant 6). Work is done per batch of users, so memory stays flat however large
the CRM: a batch's activities are read with a fixed number of statements and then dropped.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, and_, func, or_, select, text
from sqlalchemy.exc import SQLAlchemyError

from . import crm, state
from .db import REPLACEMENT, warn_replaced
from .errors import RenderError, SourceError
from .model import (
    MAX_SEQUENCE,
    Activity,
    ActivityKind,
    Participant,
    Priority,
    Status,
    Team,
    User,
    Window,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# Bound parameters per IN list: under every backend's limit, large enough to keep round trips few.
CHUNK = 2000

_a = crm.activities
_p = crm.participants
# What ``to_activity`` reads, in this order.
ACTIVITY_COLUMNS = (
    _a.c.id,
    _a.c.kind,
    _a.c.owner_id,
    _a.c.title,
    _a.c.created_at,
    _a.c.updated_at,
    _a.c.description,
    _a.c.location,
    _a.c.starts_at,
    _a.c.ends_at,
    _a.c.due_at,
    _a.c.all_day,
    _a.c.priority,
    _a.c.status,
)
_ix = state.activity_index
# With the version and SEQUENCE feedgen's index holds (NULL: not indexed yet), for builds.
INDEXED_COLUMNS = (*ACTIVITY_COLUMNS, _ix.c.version, _ix.c.sequence)
_INDEXED = _ix.c.activity_id == _a.c.id


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def as_utc_naive(value: Any) -> datetime:
    """A database timestamp as naive UTC, to the microsecond (PostgreSQL may hand back an aware
    value)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    result: datetime = value
    return result


def db_now(conn: Connection) -> datetime:
    """The database's clock: change detection never compares our clock with the CRM's."""
    return as_utc_naive(conn.execute(select(func.current_timestamp())).scalar_one())


def check_schema(conn: Connection) -> None:
    """Raise SourceError naming what is missing when the CRM tables do not match the contract."""
    for table in crm.CRM_TABLES:
        try:
            conn.execute(select(*table.c).limit(0))
        except SQLAlchemyError as exc:
            conn.rollback()
            reason = str(exc.orig if hasattr(exc, "orig") else exc).splitlines()[0]
            raise SourceError(
                f"the CRM table '{table.name}' is missing or lacks a column the contract needs "
                f"({reason}); see the README's CRM contract"
            ) from None


_u = crm.users
_USER_COLUMNS = (_u.c.id, _u.c.name, _u.c.email, _u.c.time_zone, _u.c.active)


def _user(row: Any) -> User:
    user_id, name, email, zone, active = row
    if (
        (name and REPLACEMENT in name)
        or (email and REPLACEMENT in email)
        or (zone and REPLACEMENT in zone)
    ):
        warn_replaced("users", user_id, {"name": name, "email": email, "time_zone": zone})
    return User(user_id, name or "", email, zone or "UTC", bool(active))


def load_users(conn: Connection) -> dict[int, User]:
    """Every user of the CRM (for commands about many users; builds use ``Users``)."""
    return {row[0]: _user(row) for row in conn.execute(select(*_USER_COLUMNS))}


class _ReadOnDemand(Mapping[int, T]):
    """Rows of the CRM as a batch needs them: read in bulk when asked for (``need``), one at a
    time otherwise, and only those; a build never holds a whole table.

    Iterating and ``len`` cover the rows read so far.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._read: dict[int, T | None] = {}  # None: not in the CRM

    def _fetch(self, ids: Sequence[int]) -> Iterable[tuple[int, T]]:
        """The rows of ``ids`` that exist, as (id, value)."""
        raise NotImplementedError

    def need(self, ids: Iterable[int | None]) -> None:
        """Read the rows of ``ids`` not read yet, a few statements for all of them."""
        read = self._read
        missing = sorted({i for i in ids if i is not None and i not in read})
        for part in chunks(missing):
            read.update(self._fetch(part))
            for row_id in part:
                read.setdefault(row_id, None)

    def __getitem__(self, row_id: int) -> T:
        if row_id not in self._read:
            self.need([row_id])
        value = self._read[row_id]
        if value is None:
            raise KeyError(row_id)
        return value

    def __contains__(self, row_id: object) -> bool:
        if not isinstance(row_id, int):
            return False
        if row_id not in self._read:
            self.need([row_id])
        return self._read[row_id] is not None

    def __iter__(self) -> Iterator[int]:
        return (i for i, value in self._read.items() if value is not None)

    def __len__(self) -> int:
        return sum(value is not None for value in self._read.values())


class Users(_ReadOnDemand[User]):
    """The CRM's users that a batch shows (``load_users`` reads them all, for commands)."""

    def _fetch(self, ids: Sequence[int]) -> Iterable[tuple[int, User]]:
        for row in self._conn.execute(select(*_USER_COLUMNS).where(_u.c.id.in_(ids))):
            yield row[0], _user(row)


class Teams(_ReadOnDemand[Team]):
    """The CRM's teams that a batch shows, with their members (``load_teams`` reads them all)."""

    def _fetch(self, ids: Sequence[int]) -> Iterable[tuple[int, Team]]:
        return _read_teams(self._conn, ids)

    def of_members(self, user_ids: Iterable[int]) -> list[Team]:
        """The teams that have any of ``user_ids`` as a member, by id."""
        tm = crm.team_members
        found: set[int] = set()
        for part in chunks(sorted(set(user_ids))):
            found.update(
                self._conn.scalars(select(tm.c.team_id).where(tm.c.user_id.in_(part)).distinct())
            )
        self.need(found)
        return [self[i] for i in sorted(found) if i in self]


def load_teams(conn: Connection) -> dict[int, Team]:
    """Every team of the CRM with its members (for commands about many teams; builds use
    ``Teams``)."""
    return dict(_read_teams(conn, None))


def _read_teams(conn: Connection, ids: Sequence[int] | None) -> Iterator[tuple[int, Team]]:
    """The teams of ``ids`` (every team when None) with their members, as (id, team)."""
    tm, t = crm.team_members, crm.teams
    memberships = select(tm.c.team_id, tm.c.user_id).order_by(tm.c.team_id, tm.c.user_id)
    teams = select(t.c.id, t.c.name)
    if ids is not None:
        memberships = memberships.where(tm.c.team_id.in_(ids))
        teams = teams.where(t.c.id.in_(ids))
    members: dict[int, list[int]] = defaultdict(list)
    for team_id, user_id in conn.execute(memberships):
        members[team_id].append(user_id)
    for row in conn.execute(teams):
        if row.name and REPLACEMENT in row.name:
            warn_replaced("teams", row.id, {"name": row.name})
        yield row.id, Team(row.id, row.name or "", tuple(members.get(row.id, ())))


def _in_window(window: Window) -> Any:
    # Rows with no time at all are read too, so that validation can name them in a warning.
    return or_(
        and_(
            _a.c.starts_at < window.end, func.coalesce(_a.c.ends_at, _a.c.starts_at) >= window.start
        ),
        and_(_a.c.due_at >= window.start, _a.c.due_at < window.end),
        and_(_a.c.starts_at.is_(None), _a.c.due_at.is_(None)),
    )


def _exportable() -> Any:
    return and_(_a.c.deleted_at.is_(None), _a.c.kind != ActivityKind.NOTE.value)


class Batch:
    """The activities shown in the feeds of a set of users, indexed by user."""

    def __init__(self) -> None:
        self.by_user: dict[int, list[Activity]] = defaultdict(list)
        self.errors: list[RenderError] = []
        self.activity_count = 0

    def for_users(self, user_ids: Iterable[int]) -> list[Activity]:
        seen: dict[int, Activity] = {}
        for user_id in user_ids:
            for activity in self.by_user.get(user_id, ()):
                seen[activity.id] = activity
        return list(seen.values())


def load_batch(
    conn: Connection, user_ids: Sequence[int], window: Window, users: Mapping[int, User]
) -> Batch:
    """Every exportable activity in ``window`` that a user in ``user_ids`` owns or takes part in."""
    rows: dict[int, Any] = {}
    audience: dict[int, set[int]] = defaultdict(set)
    wanted = set(user_ids)
    ordered = sorted(wanted)
    for part in chunks(ordered):
        owned = (
            select(*INDEXED_COLUMNS)
            .select_from(_a.outerjoin(_ix, _INDEXED))
            .where(_a.c.owner_id.in_(part), _exportable(), _in_window(window))
        )
        for row in conn.execute(owned):
            rows[row[0]] = row
            audience[row[0]].add(row[2])  # id, owner_id
        shared = (
            select(_p.c.user_id, *INDEXED_COLUMNS)
            .select_from(_p.join(_a, _a.c.id == _p.c.activity_id).outerjoin(_ix, _INDEXED))
            .where(_p.c.user_id.in_(part), _exportable(), _in_window(window))
        )
        for user_id, *values in conn.execute(shared):
            rows[values[0]] = values
            audience[values[0]].add(user_id)
    return _complete(conn, rows, audience, wanted, users)


def load_activities(
    conn: Connection, activity_ids: Sequence[int], window: Window, users: Mapping[int, User]
) -> Batch:
    """The exportable activities among ``activity_ids`` in ``window``, indexed by every user
    who owns or takes part in them."""
    rows: dict[int, Any] = {}
    audience: dict[int, set[int]] = defaultdict(set)
    ids = sorted(set(activity_ids))
    for part in chunks(ids):
        query = (
            select(*INDEXED_COLUMNS)
            .select_from(_a.outerjoin(_ix, _INDEXED))
            .where(_a.c.id.in_(part), _exportable(), _in_window(window))
        )
        for row in conn.execute(query):
            rows[row.id] = row
            audience[row.id].add(row.owner_id)
    return _complete(conn, rows, audience, None, users)


def _complete(
    conn: Connection,
    rows: dict[int, Any],
    audience: dict[int, set[int]],
    wanted: set[int] | None,
    users: Mapping[int, User],
) -> Batch:
    """Read the participants of ``rows`` and index the activities by the wanted users (None:
    by everyone who owns or takes part in them)."""
    people: dict[int, list[Participant]] = defaultdict(list)
    colleagues: dict[int, Participant] = {}
    ids = sorted(rows)
    for part in chunks(ids):
        on_activities = (
            select(_p.c.activity_id, _p.c.user_id, _p.c.name, _p.c.email, _p.c.id)
            .where(_p.c.activity_id.in_(part))
            .order_by(_p.c.activity_id, _p.c.id)
        )
        found = conn.execute(on_activities).all()
        if isinstance(users, Users):  # the owners and colleagues these events name
            users.need([rows[i][2] for i in part] + [row[1] for row in found])
        for activity_id, user_id, name, email, participant_id in found:
            if (name and REPLACEMENT in name) or (email and REPLACEMENT in email):
                warn_replaced("participants", participant_id, {"name": name, "email": email})
            if wanted is None and user_id is not None:
                audience[activity_id].add(user_id)
            people[activity_id].append(_participant(user_id, name, email, users, colleagues))
    batch = Batch()
    for activity_id in ids:
        try:
            activity = to_activity(rows[activity_id], tuple(people.get(activity_id, ())))
        except RenderError as exc:
            batch.errors.append(exc)
            continue
        batch.activity_count += 1
        users_of = audience[activity_id]
        for user_id in users_of if wanted is None else users_of & wanted:
            batch.by_user[user_id].append(activity)
    return batch


def _participant(
    user_id: int | None,
    name: str | None,
    email: str | None,
    users: Mapping[int, User],
    colleagues: dict[int, Participant],
) -> Participant:
    if user_id is not None:
        known = colleagues.get(user_id)
        if known is not None:
            return known
        colleague = users.get(user_id)
        if colleague is not None:
            known = colleagues[user_id] = Participant(colleague.name, colleague.email, user_id)
            return known
    # No name: the content decides what to show (the address only where the feed shows them).
    return Participant(name or "", email, user_id)


_KINDS = {k.value: k for k in ActivityKind}
_STATUSES = {s.value: s for s in Status}
_PRIORITIES = {p.value: p for p in Priority}


def to_activity(row: Sequence[Any], participants: tuple[Participant, ...]) -> Activity:
    """Turn a row of ``ACTIVITY_COLUMNS`` (or ``INDEXED_COLUMNS``) into an Activity; a value
    outside the contract raises RenderError naming it."""
    # By position, and dictionary lookups for the enums: this runs for every row of a batch, and
    # access by name and Enum(value) cost microseconds each.
    (aid, kind, owner_id, title, created, updated, description, location) = row[:8]
    (starts, ends, due, all_day, priority, status) = row[8:14]
    kind_value = _KINDS.get(kind)
    status_value = _STATUSES.get(status or "open")
    priority_value = _PRIORITIES.get(priority) if priority else None
    if kind_value is None or status_value is None or (priority and priority_value is None):
        bad = kind if kind_value is None else status if status_value is None else priority
        raise RenderError(aid, f"unexpected value {bad!r} (see the CRM contract)")
    title = title or ""
    if (
        REPLACEMENT in title
        or (description and REPLACEMENT in description)
        or (location and REPLACEMENT in location)
    ):
        columns = {"title": title, "description": description, "location": location}
        warn_replaced("activities", aid, columns)
    updated = _naive(updated, whole_seconds=False)
    counted = row[15] if len(row) > 15 else None
    if counted is not None and row[14] != updated:
        # A version detection has not seen yet: it will count one more (``next_sequence``).
        counted = min(MAX_SEQUENCE, counted + 1)
    return Activity(
        id=aid,
        kind=kind_value,
        owner_id=owner_id,
        title=title,
        created_at=_naive(created, whole_seconds=False) or updated,  # type: ignore[arg-type]
        updated_at=updated,  # type: ignore[arg-type]
        description=description or "",
        location=location or "",
        start=_naive(starts),
        end=_naive(ends),
        due=_naive(due),
        all_day=bool(all_day),
        priority=priority_value,
        status=status_value,
        participants=participants,
        counted_sequence=counted or 0,
    )


def _naive(value: datetime | None, whole_seconds: bool = True) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    # Event times are written to the second, and patches parse them back from the feed's bytes.
    return value.replace(microsecond=0) if value.microsecond and whole_seconds else value


def ping(conn: Connection) -> None:
    conn.execute(text("SELECT 1"))

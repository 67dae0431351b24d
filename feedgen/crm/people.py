"""Users and teams of the CRM, read as a batch needs them: a build never holds a whole table."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, select

from ..db import chunks
from ..model import Team, User
from ..undecodable import name_rows, replacements
from . import tables as crm

T = TypeVar("T")


_u = crm.users


_USER_COLUMNS = (_u.c.id, _u.c.name, _u.c.email, _u.c.time_zone, _u.c.active)


_USER_TEXT = {"name": 1, "email": 2, "time_zone": 3}


def _user(row: Any) -> User:
    user_id, name, email, zone, active = row
    return User(user_id, name or "", email, zone or "UTC", bool(active))


def _read_users(conn: Connection, ids: Sequence[int] | None) -> Sequence[Any]:
    """The rows of the users of ``ids`` (every user when None)."""
    query = select(*_USER_COLUMNS)
    if ids is not None:
        query = query.where(_u.c.id.in_(ids))
    before = replacements()
    rows = conn.execute(query).all()
    if replacements() != before:
        name_rows("users", rows, 0, _USER_TEXT)
    return rows


def load_users(conn: Connection) -> dict[int, User]:
    """Every user of the CRM (for commands about many users; builds use ``Users``)."""
    return {row[0]: _user(row) for row in _read_users(conn, None)}


_UNREAD = object()  # ``_ReadOnDemand.get``: a row not read yet (None: read, not in the CRM)


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
        value = self.get(row_id)
        if value is None:
            raise KeyError(row_id)
        return value

    def get(self, row_id: int, default: T | None = None) -> T | None:  # type: ignore[override]
        # Asked for every event's owner and colleagues: Mapping.get would go through
        # __getitem__ and a KeyError for each row the CRM does not have.
        value = self._read.get(row_id, _UNREAD)
        if value is _UNREAD:
            self.need([row_id])
            value = self._read.get(row_id)  # still absent: not an id (None, say)
        return default if value is None else value  # type: ignore[return-value]

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
        for row in _read_users(self._conn, ids):
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
    before = replacements()
    rows = conn.execute(teams).all()
    if replacements() != before:
        name_rows("teams", rows, 0, {"name": 1})
    for row in rows:
        yield row.id, Team(row.id, row.name or "", tuple(members.get(row.id, ())))

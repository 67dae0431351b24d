"""The activities of a batch of users, as model values.

Read only (DESIGN invariant 6). Work is done per batch of users, so memory stays flat however large
the CRM: a batch's activities are read with a fixed number of statements and then dropped.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BindParameter, Connection, and_, bindparam, func, or_, select

from ..db import chunks
from ..errors import RenderError
from ..model import (
    Activity,
    ActivityKind,
    Participant,
    Priority,
    Status,
    User,
    Window,
)
from ..state import tables as state
from ..undecodable import name_rows, replacements
from . import tables as crm
from .people import Users

log = logging.getLogger(__name__)


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


# With the SEQUENCE feedgen's index counted (NULL: not indexed yet), for builds.
INDEXED_COLUMNS = (*ACTIVITY_COLUMNS, _ix.c.sequence)


_INDEXED = _ix.c.activity_id == _a.c.id
# The ids of a chunk, bound as one list: a literal list of 2,000 values is coerced value by value
# each time a statement is built (1.5 ms of a 9 ms read); bound, the values go straight through.
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
# Where the text of a row of ``ACTIVITY_COLUMNS`` is, to name it when it was not valid UTF-8.
_ACTIVITY_TEXT = {"title": 3, "description": 6, "location": 7}


def _in_window(window: Window) -> Any:
    # Rows with no time at all are read too, so that validation can name them in a warning.
    return or_(
        and_(
            _a.c.starts_at < window.end, func.coalesce(_a.c.ends_at, _a.c.starts_at) >= window.start
        ),
        and_(_a.c.due_at >= window.start, _a.c.due_at < window.end),
        and_(_a.c.starts_at.is_(None), _a.c.due_at.is_(None)),
    )


def _indexed_rows(which: Any, window: Window) -> Any:
    """``INDEXED_COLUMNS`` of the exportable activities in ``window`` that ``which`` selects."""
    return (
        select(*INDEXED_COLUMNS)
        .select_from(_a.outerjoin(_ix, _INDEXED))
        .where(which, _exportable(), _in_window(window))
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
    before = replacements()
    for part in chunks(ordered):
        for row in conn.execute(_indexed_rows(_a.c.owner_id.in_(_IDS), window), {"ids": part}):
            rows[row[0]] = row
            audience[row[0]].add(row[2])  # id, owner_id
        # Only the ids: with their columns, an activity that several of the batch's users take
        # part in came back once per participant, and one the batch's users own once more.
        shared = (
            select(_p.c.user_id, _p.c.activity_id)
            .select_from(_p.join(_a, _a.c.id == _p.c.activity_id))
            .where(_p.c.user_id.in_(_IDS), _exportable(), _in_window(window))
        )
        for user_id, activity_id in conn.execute(shared, {"ids": part}):
            audience[activity_id].add(user_id)
    # The activities taken part in that no user of the batch owns.
    for part in chunks(sorted(audience.keys() - rows.keys())):
        for row in conn.execute(_indexed_rows(_a.c.id.in_(_IDS), window), {"ids": part}):
            rows[row[0]] = row
    if replacements() != before:
        name_rows("activities", rows.values(), 0, _ACTIVITY_TEXT)
    return _complete(conn, rows, audience, wanted, users)


def load_activities(
    conn: Connection, activity_ids: Sequence[int], window: Window, users: Mapping[int, User]
) -> Batch:
    """The exportable activities among ``activity_ids`` in ``window``, indexed by every user
    who owns or takes part in them."""
    rows: dict[int, Any] = {}
    audience: dict[int, set[int]] = defaultdict(set)
    ids = sorted(set(activity_ids))
    before = replacements()
    for part in chunks(ids):
        for row in conn.execute(_indexed_rows(_a.c.id.in_(part), window)):
            rows[row.id] = row
            audience[row.id].add(row.owner_id)
    if replacements() != before:
        name_rows("activities", rows.values(), 0, _ACTIVITY_TEXT)
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
            .where(_p.c.activity_id.in_(_IDS))
            .order_by(_p.c.activity_id, _p.c.id)
        )
        before = replacements()
        found = conn.execute(on_activities, {"ids": part}).all()
        if replacements() != before:
            name_rows("participants", found, 4, {"name": 2, "email": 3})
        if isinstance(users, Users):  # the owners and colleagues these events name
            users.need([rows[i][2] for i in part] + [row[1] for row in found])
        for activity_id, user_id, name, email, _ in found:
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
    # By position, dictionary lookups for the enums and positional arguments: this runs for every
    # row of a batch, and access by name, Enum(value) and keywords cost microseconds each.
    (aid, kind, owner_id, title, created, updated, description, location) = row[:8]
    (starts, ends, due, all_day, priority, status) = row[8:14]
    kind_value = _KINDS.get(kind)
    status_value = _STATUSES.get(status or "open")
    priority_value = _PRIORITIES.get(priority) if priority else None
    if kind_value is None or status_value is None or (priority and priority_value is None):
        bad = kind if kind_value is None else status if status_value is None else priority
        raise RenderError(aid, f"unexpected value {bad!r} (see the CRM contract)")
    # Versions to the microsecond: two saves within one second are two versions.
    if updated.tzinfo is not None:
        updated = updated.astimezone(UTC).replace(tzinfo=None)
    if created is None:
        created = updated
    elif created.tzinfo is not None:
        created = created.astimezone(UTC).replace(tzinfo=None)
    counted = row[14] if len(row) > 14 else None
    return Activity(
        aid,
        kind_value,
        owner_id,
        title or "",
        created,
        updated,
        description or "",
        location or "",
        _naive(starts),
        _naive(ends),
        _naive(due),
        bool(all_day),
        priority_value,
        status_value,
        participants,
        counted or 0,
    )


def _naive(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    # Event times are written to the second, and patches parse them back from the feed's bytes.
    return value.replace(microsecond=0) if value.microsecond else value

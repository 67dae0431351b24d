"""What only a comparison of whole tables shows, at a bounded cost per cycle.

Activities deleted outright, users changed without a new ``updated_at``, teams renamed and
membership rows inserted or deleted leave no trace a cycle could look up by time. Each cycle
compares a slice of each table's id range with feedgen's index, the next slice the next cycle,
wrapping around (the position is kept in ``feedgen_cursors``): such a change is seen within
``ceil(id span / slice) + 1`` cycles whatever the CRM's size, and the nightly reconcile compares
everything. On PostgreSQL the server's own row counters (``pg_stat_user_tables``) are read first:
when a table's counters moved since the last cycle, that table is compared whole at once. They
lag by up to a few seconds and restart from zero after a crash or ``pg_stat_reset()``; either
only moves them, which costs one whole comparison; the slices still run, so a CRM that serves
views (no counters) or runs with ``track_counts = off`` is covered too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import Connection, func, select, text

from ..state import tables as state
from . import tables as crm
from .index import EVERY, IdRange

# Ids compared per cycle: activities by the count and sum of their ids (an index range each side),
# users and teams by fingerprints (their rows, and the teams' members, read).
SLICE_IDS = {"activities": 25_000, "users": 1_000, "teams": 40}


CURSOR_SLICES = "sweep_positions"


CURSOR_COUNTERS = "crm_row_counters"


# The tables whose row counters stand for each group, and which counters: deletes alone where a
# change is otherwise found by its updated_at.
_COUNTERS = {
    "activities": (("activities", ("n_tup_del",)),),
    "users": (("users", ("n_tup_del",)),),
    "teams": (
        ("teams", ("n_tup_ins", "n_tup_upd", "n_tup_del")),
        ("team_members", ("n_tup_ins", "n_tup_upd", "n_tup_del")),
    ),
}


GROUPS = tuple(SLICE_IDS)


@dataclass
class Sweep:
    """This cycle's slices (EVERY where counters moved) and what to store for the next one."""

    ranges: dict[str, IdRange]
    positions: dict[str, int]
    counters: str | None  # None: not PostgreSQL

    def save(self, conn: Connection) -> None:
        _set(conn, CURSOR_SLICES, encode(self.positions))
        if self.counters is not None:
            _set(conn, CURSOR_COUNTERS, self.counters)


def plan(conn: Connection, cursors: dict[str, str]) -> Sweep:
    """The slices this cycle compares, from the positions and counters the last cycle left."""
    extents = _extents(conn)
    stored = positions(cursors.get(CURSOR_SLICES, ""))
    ranges, moved_to = {}, {}
    for group in GROUPS:
        bottom, top = extents[group]
        ranges[group], moved_to[group] = next_slice(
            stored.get(group, 0), SLICE_IDS[group], bottom, top
        )
    counters = None
    if conn.dialect.name == "postgresql":
        counters = _counters(conn)
        seen = dict(
            part.split(":", 1) for part in cursors.get(CURSOR_COUNTERS, "").split() if ":" in part
        )
        now = dict(part.split(":", 1) for part in counters.split())
        for group in GROUPS:
            if seen.get(group[0]) != now[group[0]]:
                ranges[group] = EVERY
    return Sweep(ranges, moved_to, counters)


def next_slice(
    position: int, size: int, bottom: int | None, top: int | None
) -> tuple[IdRange, int]:
    """The ids after ``position`` (restarting below ``bottom`` once past ``top``), ``size`` of
    them; the last slice is open above, so that ids past the top vanished from the CRM count."""
    if bottom is None or top is None or top - bottom < size:  # one slice holds the table
        return EVERY, 0
    low = position if bottom - 1 <= position < top else bottom - 1
    high = low + size
    if high >= top:
        return IdRange(low, None), top
    return IdRange(low, high), high


def _extents(conn: Connection) -> dict[str, tuple[int | None, int | None]]:
    """Lowest and highest id of each group, in the CRM or in feedgen's index: one statement of
    min/max lookups, each a step down a primary key."""
    si, ix = state.subject_index, state.activity_index
    columns = {
        "activities": ((crm.activities.c.id, None), (ix.c.activity_id, None)),
        "users": ((crm.users.c.id, None), (si.c.subject_id, "user")),
        "teams": ((crm.teams.c.id, None), (si.c.subject_id, "team")),
    }
    lookups = []
    for pairs in columns.values():
        for column, kind in pairs:
            for aggregate in (func.min, func.max):
                query = select(aggregate(column))
                if kind is not None:
                    query = query.where(si.c.subject_kind == kind)
                lookups.append(query.scalar_subquery())
    values = list(conn.execute(select(*lookups)).one())
    extents = {}
    for i, group in enumerate(columns):
        low_crm, high_crm, low_ix, high_ix = values[4 * i : 4 * i + 4]
        lows = [v for v in (low_crm, low_ix) if v is not None]
        highs = [v for v in (high_crm, high_ix) if v is not None]
        extents[group] = (min(lows) if lows else None, max(highs) if highs else None)
    return extents


def encode(positions: dict[str, int]) -> str:
    """The slices' positions for ``feedgen_cursors``: in hex, three 64-bit ids fit its 64
    characters."""
    return " ".join(f"{group[0]}:{positions[group]:x}" for group in GROUPS)


def positions(value: str) -> dict[str, int]:
    """The slices' positions as ``Sweep.save`` stored them (a group missing starts at 0)."""
    initials = {group[0]: group for group in GROUPS}
    found = {}
    for part in value.split():
        initial, _, number = part.partition(":")
        try:
            found[initials[initial]] = int(number, 16)
        except (KeyError, ValueError):
            continue
    return found


def _counters(conn: Connection) -> str:
    """A short digest of each group's row counters; "-" for a table without them (a view)."""
    names = sorted({table for pairs in _COUNTERS.values() for table, _ in pairs})
    rows = conn.execute(
        text(
            "SELECT c.name, s.n_tup_ins, s.n_tup_upd, s.n_tup_del"
            " FROM unnest(CAST(:names AS text[])) AS c(name)"
            " JOIN pg_stat_user_tables s ON s.relid = to_regclass(c.name)"
        ),
        {"names": names},
    ).mappings()
    found = {row["name"]: row for row in rows}
    parts = []
    for group, pairs in _COUNTERS.items():
        values = [
            str(found[table][column]) if table in found else "-"
            for table, columns in pairs
            for column in columns
        ]
        digest = hashlib.sha1(",".join(values).encode()).hexdigest()[:8]
        parts.append(f"{group[0]}:{digest}")
    return " ".join(parts)


def _set(conn: Connection, name: str, value: str) -> None:
    c = state.cursors
    if conn.execute(c.update().where(c.c.name == name).values(value=value)).rowcount == 0:
        conn.execute(c.insert().values(name=name, value=value))

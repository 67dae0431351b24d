"""``build --dry-run``: which feeds a build would rebuild and why, without building, uploading or
marking anything.

The reasons come from the feeds' recorded state (dirty, never built, the activities a change
left to patch) and from a detection pass run inside a transaction that is rolled back: the
same ``crm.detect`` a build starts with, whose marks and cursors are then undone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, select

from ..app import App
from ..build.cleanup import survey
from ..crm import tables as crm
from ..crm.detect import detect
from ..crm.index import Changes
from ..db import chunks
from ..model import SubjectKind, utc_now
from ..state import tables as state


@dataclass
class Planned:
    feed_id: int
    kind: SubjectKind
    subject_id: int
    name: str
    reasons: list[str] = field(default_factory=list)


class _Rehearsal:
    """Stands in for the engine ``detect`` opens its transaction on: hands it a connection
    whose transaction the caller rolls back."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        yield self.conn


def plan_build(app: App, feed_ids: Sequence[int] | None, force: bool) -> list[Planned]:
    """The active feeds a ``build`` would rebuild (all, or ``feed_ids``), each with why it
    changed since its last build (no reason: rebuilt, uploaded only if its bytes differ)."""
    lookback = timedelta(seconds=app.config.worker.lookback_seconds)
    with app.engine.connect() as conn:
        transaction = conn.begin()
        try:
            before = _states(conn, feed_ids)
            found = detect(cast(Engine, _Rehearsal(conn)), utc_now().date(), lookback)
            after = _states(conn, feed_ids)
            names = _names(conn, list(after.values()))
        finally:
            transaction.rollback()
    missing = survey(app.engine, app.storage) if force else None
    planned = []
    for feed_id, row in after.items():
        kind = SubjectKind(row.subject_kind)
        item = Planned(feed_id, kind, row.subject_id, names.get((kind, row.subject_id), "?"))
        item.reasons = _reasons(row, before[feed_id], found)
        if missing is not None:
            if feed_id in missing.missing_feeds or feed_id in missing.missing_pages:
                item.reasons.append("missing in storage")
            item.reasons.append("--force uploads it")
        planned.append(item)
    return planned


def _reasons(row: Any, before: Any, found: Changes) -> list[str]:
    if row.built_at is None:
        return ["never built"]
    reasons = []
    if before.dirty:
        reasons.append(_dirty("marked before this build", before.pending_ids))
    if row.dirty and not before.dirty:
        kind, subject = SubjectKind(row.subject_kind), row.subject_id
        if kind == SubjectKind.USER and subject in found.redrawn:
            reasons.append("the user changed (name, time zone, teams or a day's window)")
        elif kind == SubjectKind.TEAM and subject in found.teams:
            reasons.append("the team changed (name or members)")
        else:
            reasons.append(_dirty("changed since the last cycle", row.pending_ids))
    return reasons


def _dirty(when: str, pending_ids: str | None) -> str:
    if pending_ids is None:
        return f"{when}: a full build (new options, a rotated URL, members, a new day...)"
    count = len({part for part in pending_ids.split(",") if part})
    return f"{when}: {count} activity(ies) changed"


def _states(conn: Connection, feed_ids: Sequence[int] | None) -> dict[int, Any]:
    f, b = state.feeds, state.builds
    query = (
        select(f.c.id, f.c.subject_kind, f.c.subject_id, b.c.dirty, b.c.pending_ids, b.c.built_at)
        .join(b, b.c.feed_id == f.c.id)
        .where(f.c.revoked_at.is_(None))
        .order_by(f.c.id)
    )
    if feed_ids is not None:
        query = query.where(f.c.id.in_(list(feed_ids)))
    return {row.id: row for row in conn.execute(query)}


def _names(conn: Connection, rows: list[Any]) -> dict[tuple[SubjectKind, int], str]:
    names: dict[tuple[SubjectKind, int], str] = {}
    for kind, table in ((SubjectKind.USER, crm.users), (SubjectKind.TEAM, crm.teams)):
        ids = [row.subject_id for row in rows if row.subject_kind == kind.value]
        for part in chunks(ids):
            query = select(table.c.id, table.c.name).where(table.c.id.in_(part))
            names.update(((kind, row.id), row.name) for row in conn.execute(query))
    return names

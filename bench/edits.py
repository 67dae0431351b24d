"""The 1 % change: edits written straight into the CRM's tables, as the CRM itself would write them.

Each chosen user gets one change, in turn: an activity created (with a colleague on it), an
activity's title edited, an activity deleted (soft and hard in turn) or a colleague added to one.
Only activities visible soon (1 to 60 days ahead) are touched, so every change shows in every feed
that shows the activity: the oversized team feeds lose their furthest-future events first, never
these. ``expected`` then names exactly the feeds whose bytes must change.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from feedgen.crm import tables as crm
from feedgen.state import tables as state
from feedgen.tokens import object_key

OPERATIONS = ("create", "edit", "delete", "participant")
_a, _p, _tm = crm.activities, crm.participants, crm.team_members


@dataclass
class Edits:
    users: list[int]
    operations: Counter[str] = field(default_factory=Counter)
    audience: set[int] = field(default_factory=set)
    expected_keys: set[str] = field(default_factory=set)
    team_keys: set[str] = field(default_factory=set)
    hard_deleted: list[int] = field(default_factory=list)  # activity ids


def _crm_now() -> datetime:
    # The real current UTC time, as a CRM stamps its rows; not the bench's fixed clock.
    return datetime.now(UTC).replace(tzinfo=None)


def apply(engine: sa.Engine, fraction: float, today: datetime, seed: int) -> Edits:
    """Change the CRM for ``fraction`` of the users who have a feed; return what must change."""
    rng = random.Random(seed)
    f = state.feeds
    with engine.begin() as conn:
        feeds = {
            (row.subject_kind, row.subject_id): object_key(row.token)
            for row in conn.execute(sa.select(f).where(f.c.revoked_at.is_(None)))
        }
        user_ids = sorted(sid for kind, sid in feeds if kind == "user")
        teams_of: dict[int, set[int]] = defaultdict(set)
        members: dict[int, list[int]] = defaultdict(list)
        for team_id, user_id in conn.execute(sa.select(_tm.c.team_id, _tm.c.user_id)):
            teams_of[user_id].add(team_id)
            members[team_id].append(user_id)
        chosen = rng.sample(user_ids, max(1, round(len(user_ids) * fraction)))
        edits = Edits(sorted(chosen))
        soon = (today + timedelta(days=1), today + timedelta(days=60))
        for i, user_id in enumerate(chosen):
            operation = OPERATIONS[i % len(OPERATIONS)]
            team = sorted(m for t in teams_of[user_id] for m in members[t] if m != user_id)
            colleague = next((m for m in rng.sample(team, len(team)) if ("user", m) in feeds), None)
            if operation == "create":
                edits.audience |= _create(conn, user_id, colleague, soon, rng)
                edits.operations["create"] += 1
                continue
            target = _pick(conn, user_id, soon, rng)
            if target is None:
                edits.operations["skipped"] += 1
                continue
            audience = {user_id} | set(
                conn.execute(
                    sa.select(_p.c.user_id).where(
                        _p.c.activity_id == target, _p.c.user_id.is_not(None)
                    )
                ).scalars()
            )
            if operation == "edit":
                _touch(conn, target, title=_a.c.title + " (edited)")
            elif operation == "delete" and i % 8 < 4:
                _touch(conn, target, deleted_at=_crm_now())
            elif operation == "delete":
                conn.execute(sa.delete(_p).where(_p.c.activity_id == target))
                conn.execute(sa.delete(_a).where(_a.c.id == target))
                edits.hard_deleted.append(target)
            else:
                pool = rng.sample(user_ids, min(50, len(user_ids)))
                outsider = next((u for u in pool if u not in audience), None)
                if outsider is None:
                    edits.operations["skipped"] += 1
                    continue
                conn.execute(sa.insert(_p).values(activity_id=target, user_id=outsider))
                _touch(conn, target)
                audience.add(outsider)
            edits.audience |= audience
            edits.operations[operation] += 1
    # Every active user shown the activity, and the team feed of each one's team(s).
    for user_id in edits.audience:
        if ("user", user_id) in feeds:
            edits.expected_keys.add(feeds["user", user_id])
            edits.team_keys |= {feeds["team", t] for t in teams_of[user_id]}
    edits.expected_keys |= edits.team_keys
    return edits


def _create(
    conn: sa.Connection,
    owner: int,
    colleague: int | None,
    soon: tuple[datetime, datetime],
    rng: random.Random,
) -> set[int]:
    now = _crm_now()
    day = soon[0] + timedelta(days=rng.randrange((soon[1] - soon[0]).days))
    start = day.replace(hour=10, minute=0, second=0, microsecond=0)
    activity_id = conn.execute(
        sa.insert(_a).values(
            kind="meeting",
            title=f"Bench meeting for user {owner}",
            description="Created by the benchmark's 1 % change.",
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            all_day=False,
            status="open",
            owner_id=owner,
            created_at=now,
            updated_at=now,
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    if colleague is None:
        return {owner}
    conn.execute(sa.insert(_p).values(activity_id=activity_id, user_id=colleague))
    return {owner, colleague}


def _pick(
    conn: sa.Connection, owner: int, soon: tuple[datetime, datetime], rng: random.Random
) -> int | None:
    """One of the owner's activities that its feeds show, dated soon."""
    anchor = sa.func.coalesce(_a.c.starts_at, _a.c.due_at)
    ids = conn.execute(
        sa.select(_a.c.id)
        .where(
            _a.c.owner_id == owner,
            _a.c.deleted_at.is_(None),
            _a.c.kind.in_(("meeting", "viewing", "call", "task")),
            _a.c.status != "cancelled",
            anchor >= soon[0],
            anchor < soon[1],
            sa.or_(_a.c.ends_at.is_(None), _a.c.ends_at >= _a.c.starts_at),
        )
        .order_by(_a.c.id)
    ).scalars()
    found = list(ids)
    return rng.choice(found) if found else None


def _touch(conn: sa.Connection, activity_id: int, **values: object) -> None:
    conn.execute(
        sa.update(_a).where(_a.c.id == activity_id).values(updated_at=_crm_now(), **values)
    )


# --- what storage holds ---------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    digests: dict[str, str]
    # (inode, mtime): local storage writes a new file and renames it, so any put changes these.
    stats: dict[str, tuple[int, int]]


def snapshot(folder: Path) -> Snapshot:
    names = sorted(p.name for p in folder.iterdir() if p.suffix == ".ics")

    def digest(name: str) -> tuple[str, str, tuple[int, int]]:
        path = folder / name
        stat = os.stat(path)
        with path.open("rb") as handle:
            value = hashlib.file_digest(handle, "sha256").hexdigest()
        return name, value, (stat.st_ino, stat.st_mtime_ns)

    # hashlib releases the GIL on large buffers: two threads use both cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        rows = list(pool.map(digest, names))
    return Snapshot({n: d for n, d, _ in rows}, {n: s for n, _, s in rows})


def changed(before: Snapshot, after: Snapshot) -> tuple[set[str], set[str]]:
    """Keys whose bytes changed, and keys that were written at all."""
    keys = set(before.digests) | set(after.digests)
    content = {k for k in keys if before.digests.get(k) != after.digests.get(k)}
    written = {k for k in keys if before.stats.get(k) != after.stats.get(k)}
    return content, written

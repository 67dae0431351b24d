"""A cycle with nothing changed costs the same whatever the CRM's size: the queries it sends use
the updated_at indexes and primary-key ranges, never a walk of the activities table, and it sends
as many statements and runs as many SQLite VM steps at 2,000 users as at 200."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from feedgen.build import Builder
from feedgen.config import Config, PublishConfig
from feedgen.crm import index, sweep
from feedgen.crm import tables as crm
from feedgen.crm.detect import detect
from feedgen.publish.storage.memory import MemoryStorage
from tests.conftest import NOW
from tests.crm.test_detect import LOOKBACK, TODAY

CONFIG = Config(publish=PublishConfig(uid_domain="crm.test"))


def grow(engine: sa.Engine, users: int, *, per_user: int = 5, team_size: int = 25) -> None:
    """Add users (in teams of ``team_size``) with ``per_user`` activities each and a colleague on
    every activity, stamped an hour ago: older than a cycle's lookback, as a settled CRM is."""
    stamp = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
    with engine.connect() as conn:
        first = conn.execute(sa.select(sa.func.coalesce(sa.func.max(crm.users.c.id), 0))).scalar()
        first_activity = conn.execute(
            sa.select(sa.func.coalesce(sa.func.max(crm.activities.c.id), 0))
        ).scalar()
    user_ids = range(first + 1, first + users + 1)
    activity_ids = itertools.count(first_activity + 1)
    activities, participants, teams, members = [], [], [], []
    for user_id in user_ids:
        if not teams or len(members) % team_size == 0:
            team_id = first // team_size + len(teams) + 1
            teams.append({"id": team_id, "name": f"Team {team_id}"})
        members.append({"team_id": teams[-1]["id"], "user_id": user_id, "role": "member"})
        for day in range(per_user):
            activity_id = next(activity_ids)
            start = NOW + timedelta(days=day, hours=user_id % 8)
            activities.append(
                {
                    "id": activity_id,
                    "kind": "meeting",
                    "title": f"Viewing {activity_id}, Hauptstraße {user_id % 90}",
                    "description": "Keys at the front desk; bring the floor plan.",
                    "starts_at": start,
                    "ends_at": start + timedelta(hours=1),
                    "owner_id": user_id,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            )
            colleague = user_ids[0] + (user_id - user_ids[0] + 1) % users
            participants.append({"activity_id": activity_id, "user_id": colleague})
    with engine.begin() as conn:
        conn.execute(
            sa.insert(crm.users),
            [
                {"id": u, "name": f"User {u}", "email": f"u{u}@tesoro.example", "updated_at": stamp}
                for u in user_ids
            ],
        )
        conn.execute(sa.insert(crm.teams), teams)
        conn.execute(sa.insert(crm.team_members), members)
        conn.execute(sa.insert(crm.activities), activities)
        conn.execute(sa.insert(crm.participants), participants)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")


@contextmanager
def statements(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


@contextmanager
def vm_steps(engine: sa.Engine) -> Iterator[list[int]]:
    """SQLite's VM instructions run meanwhile (a progress handler called at every one)."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    def attach(dbapi: sqlite3.Connection, *_: Any) -> None:
        dbapi.set_progress_handler(count, 1)

    sa.event.listen(engine, "checkout", attach)
    try:
        yield steps
    finally:
        sa.event.remove(engine, "checkout", attach)
        engine.dispose()


@pytest.fixture
def small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices smaller than both CRMs below, as the defaults are smaller than large CRMs."""
    for group, size in {"activities": 300, "users": 60, "teams": 2}.items():
        monkeypatch.setitem(sweep.SLICE_IDS, group, size)


def idle_cycles(
    engine: sa.Engine, meter: Callable[[sa.Engine], AbstractContextManager[list[Any]]]
) -> list[list[Any]]:
    """What ``meter`` saw of each of three idle cycles, after a full pass over the CRM."""
    builder = Builder(engine, MemoryStorage(), CONFIG, now=lambda: NOW)
    detect(engine, TODAY, LOOKBACK, full=True)
    builder.cycle()
    found = []
    for _ in range(3):
        with meter(engine) as seen:
            builder.cycle()
        found.append(seen)
    return found


@pytest.mark.usefixtures("small_slices")
def test_an_idle_cycle_sends_as_many_statements_at_2000_users_as_at_200(engine: sa.Engine) -> None:
    grow(engine, 200)
    small = [len(seen) for seen in idle_cycles(engine, statements)]
    grow(engine, 1800)
    large = [len(seen) for seen in idle_cycles(engine, statements)]
    assert len(set(small)) == 1 and small == large


@pytest.mark.usefixtures("small_slices")
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_an_idle_cycle_runs_as_many_sqlite_steps_at_2000_users_as_at_200(
    engine: sa.Engine,
) -> None:
    grow(engine, 200)
    small = max(steps for (steps,) in idle_cycles(engine, vm_steps))
    grow(engine, 1800)
    large = max(steps for (steps,) in idle_cycles(engine, vm_steps))
    # The same slices read; a deeper B-tree costs a few steps more.
    assert large <= small * 1.1, (small, large)


def _change_queries(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """The statements of a cycle after a few activities and a user changed, two pages each."""
    monkeypatch.setattr(index, "PAGE", 2)
    monkeypatch.setitem(sweep.SLICE_IDS, "activities", 1_000)
    grow(engine, 1000, per_user=20)
    detect(engine, TODAY, LOOKBACK, full=True)
    stamp = datetime.now(UTC).replace(tzinfo=None)
    a = crm.activities
    with engine.begin() as conn:
        conn.execute(sa.update(a).where(a.c.id.in_([5, 500, 5000])).values(updated_at=stamp))
        conn.execute(sa.update(crm.users).where(crm.users.c.id == 7).values(updated_at=stamp))
    with statements(engine) as seen:
        detect(engine, TODAY, LOOKBACK)
    return [(s, p) for s, p in seen if " activities" in s or "FROM users" in s]


def _plan(engine: sa.Engine, statement: str, parameters: Any) -> str:
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + statement, parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_on_sqlite_the_change_queries_use_the_updated_at_indexes(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries = _change_queries(engine, monkeypatch)
    pages = [(s, p) for s, p in queries if "ORDER BY activities.updated_at" in s]
    users = [(s, p) for s, p in queries if "WHERE users.updated_at >=" in s]
    assert len(pages) >= 2 and len(users) == 1  # the first page, the next ones, the users
    for statement, parameters in pages:
        assert "USING INDEX ix_activities_updated_at" in _plan(engine, statement, parameters)
    assert "USING INDEX ix_users_updated_at" in _plan(engine, *users[0])
    for statement, parameters in queries:  # the slices too: ranges of the primary key
        assert "SCAN activities" not in _plan(engine, statement, parameters), statement


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_on_postgresql_no_change_query_scans_the_activities_table(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries = _change_queries(engine, monkeypatch)
    assert any("ORDER BY activities.updated_at" in s for s, _ in queries)
    for statement, parameters in queries:
        plan = _plan(engine, statement, parameters)
        assert "Seq Scan on activities" not in plan, (statement, plan)

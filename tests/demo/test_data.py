"""The demo CRM generator: shape, realism and determinism of the data, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from feedgen.crm import tables as crm
from feedgen.demo.data import INVALID_ZONE, KINDS, DemoCounts, DemoSpec, seed_crm
from feedgen.errors import FeedgenError

PG_URL = os.environ.get("FEEDGEN_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
NOW = datetime(2025, 6, 15, 9, 30)
SMALL = DemoSpec(users=30, teams=3, activities_per_user=40, seed=7)
BACKENDS = [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres)]

Rows = list[sa.Row[Any]]
Seeded = tuple[sa.Engine, DemoCounts]


@pytest.fixture(scope="session")
def pg_database() -> Iterator[Callable[[str], sa.URL]]:
    """Creates throw-away databases on the test server and drops them all at the end."""
    admin = sa.create_engine(
        PG_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        admin.connect().close()
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(
            f"PostgreSQL at {PG_URL} does not answer ({type(exc.orig).__name__}); "
            "set FEEDGEN_TEST_PG_URL or start the server (make postgres)"
        )
    created: list[str] = []

    def create(label: str) -> sa.URL:
        name = f"feedgen_test_demo_{os.getpid()}_{label}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        created.append(name)
        return sa.make_url(PG_URL).set(database=name)

    yield create
    with admin.connect() as conn:
        for name in created:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _engine(request: pytest.FixtureRequest, backend: str, directory: Path, label: str) -> sa.Engine:
    if backend == "sqlite":
        return sa.create_engine(f"sqlite:///{directory / label}.db")
    return sa.create_engine(request.getfixturevalue("pg_database")(label))


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    """One SMALL demo CRM per backend, shared by the tests that only read it."""
    engine = _engine(request, request.param, tmp_path_factory.mktemp("demo"), "seeded")
    yield engine, seed_crm(engine, SMALL, now=NOW)
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    engine = _engine(request, request.param, tmp_path, "scratch")
    yield engine
    crm.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS keep_me")
    engine.dispose()


def dump(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key))]
            for t in crm.CRM_TABLES
        }


def select(engine: sa.Engine, *what: Any, where: Any = None) -> Rows:
    query = sa.select(*what) if where is None else sa.select(*what).where(where)
    with engine.connect() as conn:
        return list(conn.execute(query))


act = crm.activities.c
par = crm.participants.c


def test_counts_match_the_spec(seeded: Seeded) -> None:
    engine, counts = seeded
    in_db = {t.name: len(select(engine, t)) for t in crm.CRM_TABLES}
    assert in_db == {
        "users": 30,
        "teams": 3,
        "team_members": 30,
        "activities": 30 * 40,
        "participants": counts.participants,
    }
    assert counts.total_activities == 30 * 40
    assert dict(Counter(r.kind for r in select(engine, act.kind))) == counts.activities


def test_participants_average_what_the_spec_asks(seeded: Seeded) -> None:
    _, counts = seeded
    assert 1.8 < counts.participants / counts.total_activities < 2.2


def test_every_kind_is_present(seeded: Seeded) -> None:
    engine, _ = seeded
    assert {r.kind for r in select(engine, act.kind)} == set(KINDS)


def test_notes_have_no_time(seeded: Seeded) -> None:
    engine, _ = seeded
    notes = select(engine, act.starts_at, act.ends_at, act.due_at, where=act.kind == "note")
    assert notes
    assert all(r == (None, None, None) for r in notes)


def test_tasks_have_a_deadline_by_date_or_by_time(seeded: Seeded) -> None:
    engine, _ = seeded
    tasks = select(
        engine,
        act.due_at,
        act.all_day,
        act.priority,
        act.status,
        act.starts_at,
        where=act.kind == "task",
    )
    assert all(t.due_at is not None and t.starts_at is None for t in tasks)
    assert all(t.due_at.time() == time(0) for t in tasks if t.all_day)
    assert {t.all_day for t in tasks} == {True, False}
    assert {t.priority for t in tasks} == {"high", "normal", "low"}
    assert {t.status for t in tasks} == {"open", "done"}


def test_calls_last_15_to_30_minutes(seeded: Seeded) -> None:
    engine, _ = seeded
    calls = select(engine, act.starts_at, act.ends_at, where=act.kind == "call")
    assert {(c.ends_at - c.starts_at) for c in calls} <= {
        timedelta(minutes=m) for m in (15, 20, 25, 30)
    }


def test_viewings_take_place_at_an_address(seeded: Seeded) -> None:
    engine, _ = seeded
    viewings = select(engine, act.location, where=act.kind == "viewing")
    assert viewings
    assert all(v.location and any(ch.isdigit() for ch in v.location) for v in viewings)


def test_all_day_meetings_store_first_and_last_day_at_midnight(seeded: Seeded) -> None:
    engine, _ = seeded
    rows = select(engine, act.starts_at, act.ends_at, where=act.all_day & (act.kind == "meeting"))
    assert all(r.starts_at.time() == r.ends_at.time() == time(0) for r in rows)
    assert any(r.ends_at > r.starts_at for r in rows)


def test_some_meetings_cross_midnight(seeded: Seeded) -> None:
    engine, _ = seeded
    rows = select(
        engine,
        act.starts_at,
        act.ends_at,
        where=(act.kind == "meeting") & ~act.all_day & (act.ends_at > act.starts_at),
    )
    assert any(r.ends_at.date() > r.starts_at.date() for r in rows)


def test_some_activities_are_cancelled_and_some_soft_deleted(seeded: Seeded) -> None:
    engine, _ = seeded
    assert select(engine, act.id, where=act.status == "cancelled")
    deleted = select(engine, act.deleted_at, act.updated_at, where=act.deleted_at.is_not(None))
    assert deleted
    assert all(d.deleted_at == d.updated_at for d in deleted)


def test_created_before_updated_and_nothing_after_now(seeded: Seeded) -> None:
    engine, _ = seeded
    rows = select(engine, act.created_at, act.updated_at)
    assert all(r.created_at <= r.updated_at <= NOW for r in rows)
    assert any(r.created_at < r.updated_at for r in rows)


def test_every_user_is_in_exactly_one_team(seeded: Seeded) -> None:
    engine, _ = seeded
    members = Counter(r.user_id for r in select(engine, crm.team_members.c.user_id))
    assert members == Counter(range(1, 31))


def test_every_team_has_one_manager(seeded: Seeded) -> None:
    engine, _ = seeded
    tm = crm.team_members.c
    managers = Counter(r.team_id for r in select(engine, tm.team_id, where=tm.role == "manager"))
    assert managers == Counter({1: 1, 2: 1, 3: 1})


def test_participants_mix_colleagues_and_outside_contacts(seeded: Seeded) -> None:
    engine, _ = seeded
    rows = select(engine, par.user_id, par.name, par.email)
    colleagues = [r for r in rows if r.user_id is not None]
    contacts = [r for r in rows if r.user_id is None]
    assert 0.3 < len(colleagues) / len(rows) < 0.7
    assert all(c.name for c in contacts)
    assert any(c.email for c in contacts) and any(c.email is None for c in contacts)


def test_colleagues_are_neither_the_owner_nor_repeated(seeded: Seeded) -> None:
    engine, _ = seeded
    rows = select(
        engine,
        par.activity_id,
        par.user_id,
        act.owner_id,
        where=(par.activity_id == act.id) & par.user_id.is_not(None),
    )
    assert all(r.user_id != r.owner_id for r in rows)
    assert len({(r.activity_id, r.user_id) for r in rows}) == len(rows)


def test_colleagues_come_mostly_from_the_owners_team(seeded: Seeded) -> None:
    engine, _ = seeded
    team_of = {
        r.user_id: r.team_id
        for r in select(engine, crm.team_members.c.user_id, crm.team_members.c.team_id)
    }
    rows = select(
        engine,
        par.user_id,
        act.owner_id,
        where=(par.activity_id == act.id) & par.user_id.is_not(None),
    )
    same = sum(team_of[r.user_id] == team_of[r.owner_id] for r in rows)
    assert same / len(rows) > 0.6


def test_broken_rows_are_present_as_specified(seeded: Seeded) -> None:
    engine, counts = seeded
    meetings = select(engine, act.starts_at, act.ends_at, where=act.kind == "meeting")
    backwards = [m for m in meetings if m.starts_at and m.ends_at and m.ends_at < m.starts_at]
    timeless = [m for m in meetings if m.starts_at is None and m.ends_at is None]
    absurd = {m.starts_at.year for m in meetings if m.starts_at and m.starts_at.year in (1, 9999)}
    assert (len(backwards), len(timeless), absurd) == (2, 2, {1, 9999})
    assert counts.broken == 3 * SMALL.broken


def test_names_come_from_several_scripts(seeded: Seeded) -> None:
    engine, _ = seeded
    names = {r.name for r in select(engine, crm.users.c.name)}
    assert {"Zoë Ångström", "Łukasz Wójcik", "李雷", "Nguyễn Thị Ngọc"} <= names
    assert any(any(ord(ch) > 0xFFFF for ch in name) for name in names)  # the emoji


def test_text_holds_separators_newlines_and_long_runs(seeded: Seeded) -> None:
    engine, _ = seeded
    texts = [r.description for r in select(engine, act.description)]
    present = [t for t in texts if t]
    for needle in (",", ";", "\\", "\r\n", "\n", '"'):
        assert any(needle in t for t in present), needle
    assert any(len(t) >= 2048 for t in present)
    assert None in texts and "" in texts


def test_some_titles_are_hostile(seeded: Seeded) -> None:
    engine, _ = seeded
    titles = {r.title for r in select(engine, act.title)}
    assert any("\n" in t for t in titles)
    assert any(not t.isascii() for t in titles)


def test_time_zones_vary_and_one_is_invalid(seeded: Seeded) -> None:
    engine, _ = seeded
    zones = Counter(r.time_zone for r in select(engine, crm.users.c.time_zone))
    assert zones[INVALID_ZONE] == 1
    assert len(zones) >= 5


def test_a_couple_of_users_are_inactive(seeded: Seeded) -> None:
    engine, _ = seeded
    assert len(select(engine, crm.users.c.id, where=~crm.users.c.active)) == 2


def test_stored_times_compare_like_sqlalchemy_writes_them(seeded: Seeded) -> None:
    # On SQLite datetimes are text: a different format would break range queries.
    engine, _ = seeded
    latest = max(r.updated_at for r in select(engine, act.updated_at))
    assert select(engine, act.id, where=act.updated_at >= latest)


def test_same_seed_and_now_give_identical_rows(seeded: Seeded, empty: sa.Engine) -> None:
    seed_crm(empty, SMALL, now=NOW)
    assert dump(empty) == dump(seeded[0])


def test_another_seed_gives_different_rows(seeded: Seeded, empty: sa.Engine) -> None:
    seed_crm(empty, replace(SMALL, seed=8), now=NOW)
    assert dump(empty)["activities"] != dump(seeded[0])["activities"]


def test_an_aware_now_counts_as_its_utc_time(empty: sa.Engine, tmp_path: Path) -> None:
    spec = DemoSpec(users=3, teams=1, activities_per_user=5, broken=0)
    seed_crm(empty, spec, now=NOW.replace(tzinfo=UTC))
    naive = sa.create_engine(f"sqlite:///{tmp_path / 'naive.db'}")
    seed_crm(naive, spec, now=NOW)
    assert dump(empty) == dump(naive)
    naive.dispose()


def test_seeding_over_existing_rows_fails(empty: sa.Engine) -> None:
    seed_crm(empty, SMALL, now=NOW)
    with pytest.raises(FeedgenError, match="reset"):
        seed_crm(empty, SMALL, now=NOW)


def test_reset_replaces_the_data(seeded: Seeded, empty: sa.Engine) -> None:
    seed_crm(empty, replace(SMALL, seed=8, users=50), now=NOW)
    seed_crm(empty, SMALL, now=NOW, reset=True)
    assert dump(empty) == dump(seeded[0])


def test_reset_leaves_other_tables_alone(empty: sa.Engine) -> None:
    with empty.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE keep_me (id INTEGER)")
        conn.exec_driver_sql("INSERT INTO keep_me VALUES (1)")
    seed_crm(empty, SMALL, now=NOW, reset=True)
    with empty.connect() as conn:
        assert conn.exec_driver_sql("SELECT id FROM keep_me").scalar() == 1


def test_rows_added_after_seeding_get_fresh_ids(empty: sa.Engine) -> None:
    seed_crm(empty, SMALL, now=NOW)
    with empty.begin() as conn:
        new_id = conn.execute(
            crm.activities.insert()
            .values(
                kind="note",
                title="added later",
                owner_id=1,
                created_at=NOW,
                updated_at=NOW,
            )
            .returning(act.id)
        ).scalar()
    assert new_id == 30 * 40 + 1


@pytest.mark.postgres
def test_sqlite_and_postgres_hold_the_same_rows(
    pg_database: Callable[[str], sa.URL], tmp_path: Path
) -> None:
    spec = replace(SMALL, users=12, activities_per_user=20)
    engines = [
        sa.create_engine(f"sqlite:///{tmp_path / 'same.db'}"),
        sa.create_engine(pg_database("same")),
    ]
    for engine in engines:
        seed_crm(engine, spec, now=NOW)
    assert dump(engines[0]) == dump(engines[1])
    for engine in engines:
        engine.dispose()


def test_bench_spec_is_ten_thousand_users_and_a_million_activities() -> None:
    spec = DemoSpec.bench()
    assert (spec.users, spec.teams, spec.users * spec.activities_per_user) == (
        10_000,
        400,
        1_000_000,
    )
    assert spec.participants_per_activity == 2.0 and spec.span_days == 365


def test_spec_rejects_more_teams_than_users() -> None:
    with pytest.raises(ValueError, match="teams"):
        DemoSpec(users=3, teams=4)

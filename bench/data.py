"""The benchmark's CRM: seeded once per size, then copied fresh for every run.

A run edits the CRM (the 1 % changes) and fills feedgen's tables, so it works on a copy: a file copy
on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL. The pristine database keeps a small
``bench_meta`` table, written last, that says which spec and clock it was seeded with.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import BENCH_DIR
from feedgen.crm import tables as crm_tables
from feedgen.crm.people import load_teams, load_users
from feedgen.db import open_engine
from feedgen.demo.data import DemoSpec, seed_crm
from feedgen.model import FeedOptions, SubjectKind
from feedgen.state import migrations
from feedgen.state.feeds import issue_feed

META = sa.Table(
    "bench_meta",
    sa.MetaData(),
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

Log = Callable[[str], None]


@dataclass(frozen=True)
class Crm:
    """A working copy of a seeded CRM, ready for feedgen's tables."""

    url: str
    users: int
    # The clock the data was generated around: builds use it as "now", so a CRM reused days later
    # still gives the same windows, feeds and figures.
    now: datetime
    counts: dict[str, Any]
    seed_seconds: float | None  # None: reused
    copy_seconds: float


def prepare(
    users: int,
    postgres: str | None,
    reseed: bool,
    log: Log,
    folder: Path = BENCH_DIR,
    copy: str = "work",
    spec: DemoSpec | None = None,
) -> Crm:
    """Seed the CRM of ``users`` users (``spec``: another shape than the benchmark's) unless a
    matching one is kept, and return a fresh copy (named after ``copy``: measures that run beside
    each other work on copies of their own)."""
    spec = spec or DemoSpec.bench(users)
    if postgres:
        crm = _prepare_postgres(spec, postgres, reseed, log, copy)
    else:
        crm = _prepare_sqlite(spec, reseed, log, folder, copy)
    _contract_indexes(crm.url)
    return crm


def _contract_indexes(url: str) -> None:
    """The indexes the CRM contract asks for, on a CRM seeded before one was added to it."""
    engine = sa.create_engine(url)
    try:
        for table in crm_tables.CRM_TABLES:
            for index in table.indexes:
                index.create(engine, checkfirst=True)
    finally:
        engine.dispose()


def _name(spec: DemoSpec) -> str:
    """The benchmark's CRM by its size; another shape adds its activities per user."""
    if spec == DemoSpec.bench(spec.users):
        return str(spec.users)
    return f"{spec.users}-a{spec.activities_per_user}"


def _wanted(spec: DemoSpec) -> str:
    return json.dumps(asdict(spec), sort_keys=True)


def _read_meta(engine: sa.Engine) -> dict[str, str] | None:
    try:
        with engine.connect() as conn:
            return {r.name: r.value for r in conn.execute(sa.select(META))}
    except sa.exc.SQLAlchemyError:
        return None


def _seed(engine: sa.Engine, spec: DemoSpec, log: Log) -> float:
    # An hour back: the demo's last edits are then older than a cycle's lookback (10 minutes), so
    # a cycle right after seeding does not re-read them and "no change" means none at all.
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(hours=1)
    log(f"seeding a CRM of {spec.users:,} users (once; kept for later runs)...")
    started = time.perf_counter()
    counts = seed_crm(engine, spec, now=now, reset=True)
    seconds = time.perf_counter() - started
    summary = {
        "users": counts.users,
        "teams": counts.teams,
        "activities": counts.total_activities,
        "participants": counts.participants,
        "broken": counts.broken,
    }
    META.create(engine, checkfirst=True)
    with engine.begin() as conn:
        conn.execute(sa.delete(META))
        rows = {"spec": _wanted(spec), "now": now.isoformat(), "counts": json.dumps(summary)}
        conn.execute(sa.insert(META), [{"name": k, "value": v} for k, v in rows.items()])
    log(f"seeded in {seconds:.0f}s: {summary}")
    return seconds


def _prepare_sqlite(spec: DemoSpec, reseed: bool, log: Log, folder: Path, copy: str) -> Crm:
    folder.mkdir(parents=True, exist_ok=True)
    pristine = folder / f"crm-{_name(spec)}.sqlite"
    meta = None
    if pristine.exists() and not reseed:
        engine = sa.create_engine(f"sqlite:///{pristine}")
        meta = _read_meta(engine)
        engine.dispose()
    seeded = None
    if meta is None or meta.get("spec") != _wanted(spec):
        # Seed beside the kept file and rename: an interrupted seed never looks complete.
        tmp = pristine.with_suffix(".tmp")
        _remove_sqlite(tmp)
        engine = open_engine(f"sqlite:///{tmp}")
        seeded = _seed(engine, spec, log)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
        engine.dispose()
        _remove_sqlite(pristine)
        tmp.replace(pristine)
        engine = sa.create_engine(f"sqlite:///{pristine}")
        meta = _read_meta(engine)
        engine.dispose()
    assert meta is not None
    started = time.perf_counter()
    work = folder / f"{copy}-{_name(spec)}.sqlite"
    _remove_sqlite(work)
    shutil.copyfile(pristine, work)
    return _crm(f"sqlite:///{work}", spec, meta, seeded, time.perf_counter() - started)


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _prepare_postgres(spec: DemoSpec, url: str, reseed: bool, log: Log, copy: str) -> Crm:
    base = sa.make_url(url)
    seed_name = f"feedgen_bench_seed_{_name(spec)}"
    work_name = f"feedgen_bench_{'' if copy == 'work' else copy + '_'}{_name(spec)}"
    # CREATE and DROP DATABASE cannot run inside a transaction.
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": seed_name}
            ).first()
        seed_url = base.set(database=seed_name).render_as_string(hide_password=False)
        meta = None
        if exists and not reseed:
            engine = sa.create_engine(seed_url)
            meta = _read_meta(engine)
            engine.dispose()
        seeded = None
        if meta is None or meta.get("spec") != _wanted(spec):
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{seed_name}" WITH (FORCE)')
                conn.exec_driver_sql(f'CREATE DATABASE "{seed_name}"')
            engine = sa.create_engine(seed_url)
            seeded = _seed(engine, spec, log)
            meta = _read_meta(engine)
            engine.dispose()
        assert meta is not None
        started = time.perf_counter()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{work_name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{work_name}" TEMPLATE "{seed_name}"')
    finally:
        admin.dispose()
    work_url = base.set(database=work_name).render_as_string(hide_password=False)
    return _crm(work_url, spec, meta, seeded, time.perf_counter() - started)


def _crm(
    url: str, spec: DemoSpec, meta: dict[str, str], seeded: float | None, copied: float
) -> Crm:
    now = datetime.fromisoformat(meta["now"])
    return Crm(url, spec.users, now, json.loads(meta["counts"]), seeded, copied)


def issue_feeds(engine: sa.Engine, now: datetime, options: FeedOptions) -> dict[str, int]:
    """Create feedgen's tables and a feed for every active user and every team, as the demo does."""
    migrations.upgrade(engine)
    issued = {"user": 0, "team": 0}
    with engine.begin() as conn:
        for user in load_users(conn).values():
            if user.active:
                issue_feed(conn, SubjectKind.USER, user.id, now, options)
                issued["user"] += 1
        for team in load_teams(conn).values():
            issue_feed(conn, SubjectKind.TEAM, team.id, now, options)
            issued["team"] += 1
    return issued


def engine_for(url: str) -> sa.Engine:
    return open_engine(url)

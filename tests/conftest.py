"""Shared fixtures: a CRM database on SQLite and on PostgreSQL, storage doubles, a fixed clock.

Every test that takes ``engine`` runs twice: on SQLite, and on PostgreSQL when a server answers at
FEEDGEN_TEST_PG_URL (``make test`` sets it). Without one, the PostgreSQL half is skipped and the
run says so at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from feedgen.crm import tables as crm
from feedgen.publish.storage.memory import MemoryStorage
from feedgen.state import migrations
from feedgen.state import tables as state
from tests import libical
from tests.factories import Crm
from tests.parsers import unchecked_by_libical

PG_URL = os.environ.get("FEEDGEN_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 11, 24, 9, 30)
_pg_problem: list[str] = []


def _pg_admin() -> sa.Engine | None:
    try:
        engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return engine
    except Exception as exc:  # no driver, no server: the reason goes in the summary
        _pg_problem.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        return None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[sa.URL]:
    """A scratch database for this test session, dropped at the end."""
    admin = _pg_admin()
    if admin is None:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {_pg_problem[-1]}")
    name = f"feedgen_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(PG_URL).set(database=name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _drop_everything(engine: sa.Engine) -> None:
    state.metadata.drop_all(engine)
    crm.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {migrations.VERSION_TABLE}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty database with the CRM tables and feedgen's tables (migrated to head)."""
    if request.param == "sqlite":
        from feedgen.db import open_engine

        eng = open_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    else:
        eng = sa.create_engine(request.getfixturevalue("pg_server"))
        _drop_everything(eng)
    crm.metadata.create_all(eng)
    migrations.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture(name="crm")
def crm_data(engine: sa.Engine) -> Crm:
    """Rows of a CRM on ``engine``, written as the CRM would write them."""
    return Crm(engine, NOW)


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # In CI a green run must have run on PostgreSQL too: a missing server is a failure there.
    if _pg_problem and _in_ci() and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _pg_problem and _in_ci():
        terminalreporter.write_line(
            f"FAILED: CI=true and the PostgreSQL half of the suite was skipped: {_pg_problem[-1]} "
            f"(start a server at {PG_URL} or set FEEDGEN_TEST_PG_URL)",
            red=True,
            bold=True,
        )
    elif _pg_problem:
        terminalreporter.write_line(
            f"NOTE: the PostgreSQL half of the suite was SKIPPED: {_pg_problem[-1]} "
            f"(set FEEDGEN_TEST_PG_URL or start a server at {PG_URL})",
            yellow=True,
            bold=True,
        )
    if unchecked_by_libical[0]:
        terminalreporter.write_line(
            f"NOTE: {unchecked_by_libical[0]} feeds were NOT checked by libical: {libical.PROBLEM}",
            yellow=True,
            bold=True,
        )


class PgDatabase:
    """A scratch database and the admin connection that can cut it off and let it back."""

    def __init__(self, admin: sa.Engine, name: str) -> None:
        self.admin = admin
        self.name = name
        self.url = sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    @contextmanager
    def away(self) -> Iterator[None]:
        """The database refuses connections and drops the open ones, until the block ends."""
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"
                ),
                {"name": self.name},
            )
        try:
            yield
        finally:
            with self.admin.connect() as conn:
                conn.execute(sa.text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true'))


@pytest.fixture
def pg_database(pg_server: sa.URL) -> Iterator[PgDatabase]:
    """A database of the test's own: making it unreachable touches no other test."""
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"feedgen_fault_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PgDatabase(admin, name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

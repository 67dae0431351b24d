"""Deployments for the fault suite: a demo CRM in SQLite (seeded once, copied per test) or in a
PostgreSQL database of the test's own, which the test can make unreachable."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL
from tests.support.deployment import DEMO, Deployment

MakeDeployment = Callable[..., Deployment]


@pytest.fixture(scope="session")
def demo_crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo CRM in SQLite with its feeds built into ``feeds/`` beside it, made once; and
    ``new.sqlite``, the same before any build."""
    root = tmp_path_factory.mktemp("demo")
    seeded = Deployment(root, f"sqlite:///{root / 'crm.sqlite'}", f"file://{root / 'feeds'}")
    result = seeded.feedgen("demo", *DEMO)
    assert result.returncode == 0, result.stderr
    shutil.copy(root / "crm.sqlite", root / "new.sqlite")
    result = seeded.feedgen("build")
    assert result.returncode == 0, result.stderr
    seeded.close()
    return root / "crm.sqlite"


@pytest.fixture
def make_sqlite(demo_crm: Path, tmp_path: Path) -> Iterator[MakeDeployment]:
    """A factory of deployments on a copy of the demo CRM, its feeds published unless ``new``;
    worker keys as keyword arguments."""
    made: list[Deployment] = []

    def make(
        storage_url: str | None = None,
        new: bool = False,
        storage_keys: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        **worker: object,
    ) -> Deployment:
        root = tmp_path / f"deployment{len(made)}"
        root.mkdir()
        if new:
            shutil.copy(demo_crm.with_name("new.sqlite"), root / "crm.sqlite")
        else:
            shutil.copy(demo_crm, root / "crm.sqlite")
            shutil.copytree(demo_crm.parent / "feeds", root / "feeds")
        made.append(
            Deployment(
                root,
                f"sqlite:///{root / 'crm.sqlite'}",
                storage_url or f"file://{root / 'feeds'}",
                worker=worker,
                storage_keys=storage_keys or {},
                env=env or {},
            )
        )
        return made[-1]

    yield make
    for deployment in made:
        deployment.close()


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


@pytest.fixture
def make_pg(pg_database: PgDatabase, tmp_path: Path) -> Iterator[MakeDeployment]:
    """A deployment on the demo CRM in ``pg_database``."""
    made: list[Deployment] = []

    def make(**worker: object) -> Deployment:
        made.append(
            Deployment(tmp_path, pg_database.url, f"file://{tmp_path / 'feeds'}", worker=worker)
        )
        result = made[-1].feedgen("demo", *DEMO)
        assert result.returncode == 0, result.stderr
        return made[-1]

    yield make
    for deployment in made:
        deployment.close()

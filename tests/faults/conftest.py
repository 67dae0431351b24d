"""Deployments for the fault suite: a demo CRM in SQLite (seeded once, copied per test) or in a
PostgreSQL database of the test's own, which the test can make unreachable; feeds in a folder or
in a bucket of a moto S3 server reached through a ``Gate`` the test can close."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import PgDatabase
from tests.support.deployment import DEMO, Deployment
from tests.support.gate import Gate
from tests.support.moto_server import moto_server

MakeDeployment = Callable[..., Deployment]
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}


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


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server, shared by the session; each deployment has a bucket of its own."""
    saved = {name: os.environ.get(name) for name in AWS}
    os.environ.update(AWS)  # for the test process's own look at the buckets
    try:
        with moto_server() as url:
            yield url
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def gate(s3_endpoint: str) -> Iterator[Gate]:
    parts = urlsplit(s3_endpoint)
    opened = Gate((parts.hostname or "127.0.0.1", parts.port or 80))
    yield opened
    opened.shutdown()


def _on_s3(request: pytest.FixtureRequest) -> dict[str, object]:
    """Deployment arguments for a new bucket behind the test's gate."""
    gate: Gate = request.getfixturevalue("gate")
    return {
        "storage_url": f"s3://feeds-{uuid.uuid4().hex[:12]}/feeds",
        "storage_keys": {"region": "us-east-1", "endpoint_url": gate.url},
        "env": AWS,
    }


def _create_bucket(deployment: Deployment, published: Path | None) -> None:
    """The deployment's bucket, holding the objects of ``published`` (a built feeds folder)."""
    deployment.storage.client.create_bucket(Bucket=deployment.storage.bucket)  # type: ignore[attr-defined]
    for path in sorted(published.iterdir()) if published else ():
        html = path.suffix == ".html"
        deployment.storage.put(
            path.name,
            path.read_bytes(),
            content_type="text/html; charset=utf-8" if html else "text/calendar; charset=utf-8",
            cache_control="public, max-age=3600",
        )


@pytest.fixture
def make_sqlite(
    demo_crm: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[MakeDeployment]:
    """A factory of deployments on a copy of the demo CRM, its feeds published unless ``new``,
    in a folder or (``s3``) a bucket; worker keys as keyword arguments."""
    made: list[Deployment] = []

    def make(s3: bool = False, new: bool = False, **worker: object) -> Deployment:
        root = tmp_path / f"deployment{len(made)}"
        root.mkdir()
        shutil.copy(demo_crm.with_name("new.sqlite") if new else demo_crm, root / "crm.sqlite")
        published = None if new else demo_crm.parent / "feeds"
        database = f"sqlite:///{root / 'crm.sqlite'}"
        if s3:
            made.append(Deployment(root, database, worker=worker, **_on_s3(request)))  # type: ignore[arg-type]
            _create_bucket(made[-1], published)
        else:
            made.append(Deployment(root, database, f"file://{root / 'feeds'}", worker=worker))
            if published:
                shutil.copytree(published, root / "feeds")
        return made[-1]

    yield make
    for deployment in made:
        deployment.close()


@pytest.fixture
def make_pg(
    pg_database: PgDatabase, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[MakeDeployment]:
    """A deployment on the demo CRM in ``pg_database``, publishing to a bucket; its feeds
    built."""
    made: list[Deployment] = []

    def make(**worker: object) -> Deployment:
        made.append(Deployment(tmp_path, pg_database.url, worker=worker, **_on_s3(request)))  # type: ignore[arg-type]
        _create_bucket(made[-1], None)
        for command in (["demo", *DEMO], ["build"]):
            result = made[-1].feedgen(*command)
            assert result.returncode == 0, result.stderr
        return made[-1]

    yield make
    for deployment in made:
        deployment.close()

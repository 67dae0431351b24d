from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from feedgen.publish.storage import Storage
from feedgen.publish.storage.local import LocalStorage
from feedgen.publish.storage.memory import MemoryStorage
from feedgen.publish.storage.s3 import S3Storage
from tests.support.moto_server import moto_server

BUCKET = "feedgen-test"
REGION = "us-east-1"


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, and no way for a developer's own profile or config to leak in."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def s3_mock(aws_credentials: None) -> Iterator[None]:
    """An in-process S3, empty."""
    with mock_aws():
        yield


@pytest.fixture
def s3_storage(s3_mock: None) -> Iterator[S3Storage]:
    """An S3Storage under the prefix "feeds/" of a fresh bucket."""
    storage = S3Storage(BUCKET, prefix="feeds", region=REGION)
    # Made with the storage's own client: creating a client costs ~0.1 s, most of a test's time.
    storage.client.create_bucket(Bucket=BUCKET)
    yield storage
    storage.close()


@pytest.fixture(params=["local", "memory", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """Every backend, for the behaviour they must share."""
    backend: Storage
    if request.param == "local":
        backend = LocalStorage(tmp_path / "feeds")
    elif request.param == "memory":
        backend = MemoryStorage()
    else:
        backend = request.getfixturevalue("s3_storage")
    with backend:
        yield backend

"""End to end over real HTTP: CRM → build → moto's standalone S3 server → a calendar app's GET.

boto3 talks to the server through ``endpoint_url`` (the same path as MinIO, R2 or Ceph), so the
request signing, headers and retries are the real ones. The fetch goes through a presigned URL, as
a CDN with origin access would: the objects themselves are private.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from feedgen.build import Builder
from feedgen.config import Config, PublishConfig, StorageConfig
from feedgen.model import FeedOptions, SubjectKind
from feedgen.publish.storage import open_storage
from feedgen.publish.storage.s3 import S3Storage
from feedgen.publish.uploads import ROBOTS_KEY
from feedgen.state import tables as state
from feedgen.state.feeds import issue_feed
from feedgen.tokens import object_key, page_key
from tests.conftest import NOW
from tests.factories import Crm
from tests.parsers import parse_all
from tests.support.moto_server import moto_server

BUCKET = "feeds-e2e"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def s3(endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3Storage:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    config = StorageConfig(url=f"s3://{BUCKET}/feeds", region="us-east-1", endpoint_url=endpoint)
    storage = open_storage(config)
    assert isinstance(storage, S3Storage)
    storage.client.create_bucket(Bucket=BUCKET)
    storage.check()
    return storage


def fetch(storage: S3Storage, key: str, **headers: str) -> requests.Response:
    url = storage.client.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": storage.prefix + key}, ExpiresIn=300
    )
    return requests.get(url, headers={"Accept-Encoding": "gzip", **headers}, timeout=10)


@pytest.fixture
def published(s3: S3Storage, engine: sa.Engine) -> tuple[str, int]:
    crm = Crm(engine, NOW)
    anna = crm.user("Anna Ångström")
    activity = crm.activity(anna, "viewing", "Loft; 2 rooms, garden\nBEGIN:VEVENT")
    with engine.begin() as conn:
        feed = issue_feed(conn, SubjectKind.USER, anna, NOW, FeedOptions())
    token = feed.token
    config = Config(publish=PublishConfig(uid_domain="crm.test", refresh_minutes=30))
    report = Builder(engine, s3, config, now=lambda: NOW).build()
    assert report.failed == 0
    return token, activity


def test_a_calendar_app_reads_the_published_feed(s3: S3Storage, published: tuple[str, int]) -> None:
    token, activity = published
    response = fetch(s3, object_key(token))
    assert response.status_code == 200
    events = parse_all(response.content)
    assert list(events) == [f"activity-{activity}@crm.test"]
    assert events[f"activity-{activity}@crm.test"].summary == (
        "Viewing · Loft; 2 rooms, garden\nBEGIN:VEVENT"
    )


def test_the_feed_is_served_with_calendar_headers(
    s3: S3Storage, published: tuple[str, int]
) -> None:
    response = fetch(s3, object_key(published[0]))
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=1800"
    assert "Content-Encoding" not in response.headers


def test_a_conditional_get_returns_not_modified(s3: S3Storage, published: tuple[str, int]) -> None:
    first = fetch(s3, object_key(published[0]))
    again = fetch(s3, object_key(published[0]), **{"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_the_subscribe_page_and_robots_txt_are_served(
    s3: S3Storage, published: tuple[str, int], engine: sa.Engine
) -> None:
    f = state.feeds
    with engine.connect() as conn:
        page_token = conn.execute(sa.select(f.c.page_token)).scalar_one()
    page = fetch(s3, page_key(page_token))
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    robots = fetch(s3, ROBOTS_KEY)
    assert robots.status_code == 200 and "Allow: /" in robots.text


def test_objects_are_not_public(endpoint: str, s3: S3Storage, published: tuple[str, int]) -> None:
    anonymous = requests.get(f"{endpoint}/{BUCKET}/feeds/{object_key(published[0])}", timeout=10)
    assert anonymous.status_code == 403

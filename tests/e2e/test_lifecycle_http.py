"""The URL lifecycle as a user meets it: the CLI in its own process, then at once a plain HTTP GET
through moto's standalone S3 server (read the way a CDN with origin access reads the bucket), and
CloudFront invalidations recorded by the same server.

Right after ``feed issue`` the URL answers; right after ``feed rotate`` the new one answers and the
old feed and page do not; right after ``feed revoke`` nothing answers. No waiting for a cycle.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
import sqlalchemy as sa

from feedgen.state import tables as state
from tests.conftest import NOW
from tests.factories import Crm
from tests.parsers import parse_all
from tests.support.aws import create_distribution
from tests.support.moto_server import moto_server

BUCKET = "feeds-lifecycle"
BASE_URL = "https://calendar.tesoro.example/feeds"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def aws_env(endpoint: str, tmp_path: Path) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("FEEDGEN_", "AWS_"))
    }
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        # botocore's per-service endpoint: CloudFront calls go to moto's server too.
        AWS_ENDPOINT_URL_CLOUDFRONT=endpoint,
    )
    return env


@pytest.fixture
def clients(endpoint: str, aws_env: dict[str, str]) -> tuple[Any, Any, str]:
    """An S3 bucket and a CloudFront distribution on moto's server."""
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    s3 = session.client("s3", endpoint_url=endpoint)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):  # one server per module
        s3.create_bucket(Bucket=BUCKET)
    cloudfront = session.client("cloudfront", endpoint_url=endpoint)
    return s3, cloudfront, create_distribution(cloudfront, BUCKET)


@pytest.fixture
def config(tmp_path: Path, engine: sa.Engine, endpoint: str, clients: tuple[Any, Any, str]) -> Path:
    return write_config(tmp_path, engine, endpoint, clients[2])


def write_config(tmp_path: Path, engine: sa.Engine, endpoint: str, distribution: str) -> Path:
    path = tmp_path / "feedgen.toml"
    path.write_text(
        f"""
        [database]
        url = "{engine.url.render_as_string(hide_password=False)}"
        [storage]
        url = "s3://{BUCKET}/feeds"
        region = "us-east-1"
        endpoint_url = "{endpoint}"
        [cdn]
        cloudfront_distribution_id = "{distribution}"
        [publish]
        public_base_url = "{BASE_URL}"
        uid_domain = "crm.test"
        """,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def anna(engine: sa.Engine) -> tuple[int, int]:
    crm = Crm(engine, NOW)
    anna = crm.user("Anna Ångström", email="anna@tesoro.example")
    return anna, crm.activity(anna, "viewing", "Loft; 2 rooms, garden")


def feedgen(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedgen", "--config", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def urls(output: str) -> tuple[str, str]:
    """The feed and page URLs a command printed."""
    found = dict(
        line.split(None, 1) for line in output.splitlines() if line[:5] in ("feed:", "page:")
    )
    return found["feed:"].strip(), found["page:"].strip()


def get(s3: Any, url: str) -> requests.Response:
    """GET the object behind a public URL the way the CDN would: signed, straight from S3."""
    key = "feeds/" + url.removeprefix(BASE_URL + "/")
    signed = s3.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=300
    )
    return requests.get(signed, timeout=10)


def invalidated(cloudfront: Any, distribution: str) -> list[str]:
    listing = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"]
    paths = []
    for item in listing.get("Items", []):
        found = cloudfront.get_invalidation(DistributionId=distribution, Id=item["Id"])
        paths += found["Invalidation"]["InvalidationBatch"]["Paths"]["Items"]
    return sorted(paths)


def paths_of(*public_urls: str) -> list[str]:
    return sorted("/feeds/" + url.removeprefix(BASE_URL + "/") for url in public_urls)


@pytest.fixture
def upgraded(config: Path, aws_env: dict[str, str]) -> None:
    result = feedgen(config, aws_env, "db", "upgrade")
    assert result.returncode == 0, result.stderr


def test_an_issued_url_answers_the_moment_it_is_shown(
    config: Path,
    aws_env: dict[str, str],
    clients: tuple[Any, Any, str],
    anna: tuple[int, int],
    upgraded: None,
) -> None:
    user, activity = anna
    issued = feedgen(config, aws_env, "feed", "issue", "--user", str(user))
    assert issued.returncode == 0, issued.stderr
    feed_url, page_url = urls(issued.stdout)
    response = get(clients[0], feed_url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert list(parse_all(response.content)) == [f"activity-{activity}@crm.test"]
    assert get(clients[0], page_url).status_code == 200


def test_after_rotate_the_new_url_answers_and_the_old_ones_do_not(
    config: Path,
    aws_env: dict[str, str],
    clients: tuple[Any, Any, str],
    anna: tuple[int, int],
    upgraded: None,
) -> None:
    s3, cloudfront, distribution = clients
    old = urls(feedgen(config, aws_env, "feed", "issue", "--user", str(anna[0])).stdout)
    rotated = feedgen(config, aws_env, "feed", "rotate", "--user", str(anna[0]))
    assert rotated.returncode == 0, rotated.stderr
    new = urls(rotated.stdout)
    assert [get(s3, url).status_code for url in (*old, *new)] == [404, 404, 200, 200]
    assert f"activity-{anna[1]}@crm.test" in parse_all(get(s3, new[0]).content)
    assert invalidated(cloudfront, distribution) == paths_of(*old)


def test_after_revoke_neither_the_feed_nor_its_page_answers(
    config: Path,
    aws_env: dict[str, str],
    clients: tuple[Any, Any, str],
    anna: tuple[int, int],
    upgraded: None,
) -> None:
    s3, cloudfront, distribution = clients
    issued = urls(feedgen(config, aws_env, "feed", "issue", "--user", str(anna[0])).stdout)
    revoked = feedgen(config, aws_env, "feed", "revoke", "--user", str(anna[0]))
    assert revoked.returncode == 0, revoked.stderr
    assert [get(s3, url).status_code for url in issued] == [404, 404]
    assert invalidated(cloudfront, distribution) == paths_of(*issued)


def test_a_failed_purge_is_shown_and_retried(
    tmp_path: Path,
    engine: sa.Engine,
    endpoint: str,
    aws_env: dict[str, str],
    clients: tuple[Any, Any, str],
    anna: tuple[int, int],
) -> None:
    s3, cloudfront, distribution = clients
    wrong = write_config(tmp_path, engine, endpoint, "EDFDVBD6EXAMPLE")
    assert feedgen(wrong, aws_env, "db", "upgrade").returncode == 0
    issued = urls(feedgen(wrong, aws_env, "feed", "issue", "--user", str(anna[0])).stdout)
    revoked = feedgen(wrong, aws_env, "feed", "revoke", "--user", str(anna[0]))
    assert revoked.returncode == 5
    assert "NoSuchDistribution" in revoked.stderr and len(revoked.stderr.splitlines()) == 1
    assert [get(s3, url).status_code for url in issued] == [404, 404]
    status = feedgen(wrong, aws_env, "status").stdout
    assert "2 object(s) deleted but waiting for a CDN purge" in status
    # An hour later, with the distribution id corrected, the next cycle purges them.
    with engine.begin() as conn:
        conn.execute(sa.update(state.deletions).values(next_attempt_at=NOW))
    right = write_config(tmp_path, engine, endpoint, distribution)
    cycle = feedgen(right, aws_env, "cycle")
    assert cycle.returncode == 0, cycle.stderr
    assert invalidated(cloudfront, distribution) == paths_of(*issued)
    assert (
        "no object waiting for deletion or a CDN purge" in feedgen(right, aws_env, "status").stdout
    )

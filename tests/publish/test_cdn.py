from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from feedgen.config import CdnConfig
from feedgen.errors import StorageError
from feedgen.publish.cdn import (
    MAX_PATHS_PER_INVALIDATION,
    CloudFrontPurger,
    NoopPurger,
    open_purger,
)
from feedgen.tokens import new_token
from tests.support.aws import create_distribution


class StubClient:
    """Records create_invalidation calls; fails with ``error`` when one is set."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.error = error

    def create_invalidation(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error:
            raise self.error
        return {"Invalidation": {"Id": "I1"}}


@pytest.fixture
def cloudfront(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Any, str]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    with mock_aws():
        client = boto3.client("cloudfront")
        yield client, create_distribution(client, "feeds")


def invalidated_paths(client: Any, distribution_id: str) -> list[list[str]]:
    summaries = client.list_invalidations(DistributionId=distribution_id)["InvalidationList"]
    batches = []
    for summary in summaries.get("Items", []):
        invalidation = client.get_invalidation(DistributionId=distribution_id, Id=summary["Id"])
        batches.append(invalidation["Invalidation"]["InvalidationBatch"]["Paths"]["Items"])
    return batches


def test_purge_creates_an_invalidation(cloudfront: tuple[Any, str]) -> None:
    client, distribution_id = cloudfront
    purger = open_purger(CdnConfig(cloudfront_distribution_id=distribution_id), "feeds")
    assert isinstance(purger, CloudFrontPurger)
    purger.purge(["abc.ics", "sub/d e.ics"])
    assert invalidated_paths(client, distribution_id) == [
        ["/feeds/abc.ics", "/feeds/sub/d%20e.ics"]
    ]


def test_purge_of_an_unknown_distribution_raises_storage_error(
    cloudfront: tuple[Any, str],
) -> None:
    token = new_token()
    with pytest.raises(StorageError, match="NoSuchDistribution") as caught:
        CloudFrontPurger("EDFDVBD6EXAMPLE").purge([f"{token}.ics"])
    assert token not in str(caught.value)
    assert caught.value.__cause__ is None


def test_batches_at_the_cloudfront_limit() -> None:
    client = StubClient()
    keys = [f"k{i}.ics" for i in range(2 * MAX_PATHS_PER_INVALIDATION + 1)]
    CloudFrontPurger("D1", client=client).purge(keys + keys[:10])  # repeats are dropped
    sizes = [call["InvalidationBatch"]["Paths"]["Quantity"] for call in client.calls]
    assert MAX_PATHS_PER_INVALIDATION == 3000
    assert sizes == [3000, 3000, 1]
    items = [path for call in client.calls for path in call["InvalidationBatch"]["Paths"]["Items"]]
    assert items == [f"/{key}" for key in keys]
    references = {call["InvalidationBatch"]["CallerReference"] for call in client.calls}
    assert len(references) == 3
    assert {call["DistributionId"] for call in client.calls} == {"D1"}


def test_nothing_to_purge_makes_no_call() -> None:
    client = StubClient()
    CloudFrontPurger("D1", client=client).purge([])
    assert client.calls == []


@pytest.mark.parametrize(
    ("prefix", "path"),
    [("", "/t.ics"), ("/", "/t.ics"), ("feeds", "/feeds/t.ics"), ("/a/b/", "/a/b/t.ics")],
)
def test_path_prefix_is_normalised(prefix: str, path: str) -> None:
    client = StubClient()
    CloudFrontPurger("D1", path_prefix=prefix, client=client).purge(["t.ics"])
    assert client.calls[0]["InvalidationBatch"]["Paths"]["Items"] == [path]


def test_client_errors_are_wrapped_with_redacted_keys() -> None:
    tokens = [new_token() for _ in range(5)]
    error = ClientError(
        {"Error": {"Code": "TooManyInvalidationsInProgress", "Message": f"busy: /{tokens[0]}.ics"}},
        "CreateInvalidation",
    )
    with pytest.raises(StorageError, match=r"TooManyInvalidationsInProgress.*") as caught:
        CloudFrontPurger("D1", client=StubClient(error)).purge([f"{t}.ics" for t in tokens])
    message = str(caught.value)
    assert "and 2 more" in message
    assert not any(token in message for token in tokens)


def test_no_distribution_means_no_purge() -> None:
    purger = open_purger(CdnConfig(), "feeds/")
    assert isinstance(purger, NoopPurger)
    purger.purge(["t.ics"])

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.stub import Stubber

from feedgen.config import StorageConfig
from feedgen.errors import StorageError
from feedgen.publish.storage import ICS_CONTENT_TYPE, open_storage
from feedgen.publish.storage.s3 import S3Storage
from feedgen.tokens import new_token
from tests.publish.storage.conftest import BUCKET, REGION
from tests.support.moto_server import free_port

HEADERS = {"content_type": ICS_CONTENT_TYPE, "cache_control": "public, max-age=3600"}


def one_shot_client(endpoint_url: str | None = None) -> Any:
    """A client that does not retry, so failure tests stay fast."""
    config = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=1)
    return boto3.session.Session().client(
        "s3", region_name=REGION, endpoint_url=endpoint_url, config=config
    )


@pytest.fixture
def s3(s3_storage: S3Storage) -> S3Storage:
    return s3_storage


def test_put_sets_headers_without_content_encoding(s3: S3Storage) -> None:
    s3.put("t.ics", b"BEGIN:VCALENDAR", **HEADERS)
    head = s3.client.head_object(Bucket=BUCKET, Key="feeds/t.ics")
    assert head["ContentType"] == ICS_CONTENT_TYPE
    assert head["CacheControl"] == "public, max-age=3600"
    assert "ContentEncoding" not in head


def test_objects_are_private(s3: S3Storage) -> None:
    s3.put("t.ics", b"x", **HEADERS)
    grants = s3.client.get_object_acl(Bucket=BUCKET, Key="feeds/t.ics")["Grants"]
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]
    assert all(grant["Grantee"]["Type"] == "CanonicalUser" for grant in grants)


@pytest.mark.parametrize(
    ("given", "stored"), [("feeds", "feeds/"), ("/feeds/", "feeds/"), ("a/b", "a/b/"), ("", "")]
)
def test_prefix_is_normalised(s3_mock: None, given: str, stored: str) -> None:
    storage = S3Storage(BUCKET, prefix=given, region=REGION)
    assert storage.prefix == stored
    storage.client.create_bucket(Bucket=BUCKET)
    storage.put("t.ics", b"x", **HEADERS)
    keys = [item["Key"] for item in storage.client.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [f"{stored}t.ics"]
    assert list(storage.list_keys()) == ["t.ics"]


def test_list_keys_ignores_objects_outside_the_prefix(s3: S3Storage) -> None:
    s3.client.put_object(Bucket=BUCKET, Key="other/x.ics", Body=b"x")
    s3.client.put_object(Bucket=BUCKET, Key="feedsx.ics", Body=b"x")
    s3.put("t.ics", b"x", **HEADERS)
    assert list(s3.list_keys()) == ["t.ics"]


def test_list_keys_follows_every_page() -> None:
    pages = [
        {"Contents": [{"Key": "p/a.ics"}, {"Key": "p/b.ics"}], "IsTruncated": True},
        {"Contents": [{"Key": "p/c.ics"}], "IsTruncated": False},
    ]

    class Paginator:
        def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
            assert kwargs == {"Bucket": "b", "Prefix": "p/"}
            yield from pages

    class Client:
        def get_paginator(self, name: str) -> Paginator:
            assert name == "list_objects_v2"
            return Paginator()

    assert list(S3Storage("b", prefix="p", client=Client()).list_keys()) == [
        "a.ics",
        "b.ics",
        "c.ics",
    ]


def test_check_missing_bucket(aws_credentials: None, s3_mock: None) -> None:
    with pytest.raises(StorageError) as caught:
        S3Storage("no-such-bucket", region=REGION).check()
    assert str(caught.value) == (
        "S3 bucket 'no-such-bucket' does not exist; create it or fix storage.url"
    )


def test_check_access_denied(aws_credentials: None) -> None:
    client = one_shot_client()
    with Stubber(client) as stub:
        stub.add_client_error("head_bucket", "403", "Forbidden", http_status_code=403)
        with pytest.raises(
            StorageError, match=r"access to S3 bucket .b. is denied; check the credentials"
        ):
            S3Storage("b", client=client).check()


def test_check_without_credentials(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # else botocore asks the network
    with pytest.raises(StorageError, match="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
        S3Storage("b", region=REGION).check()


def test_check_unreachable_endpoint(aws_credentials: None) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    storage = S3Storage("b", client=one_shot_client(endpoint))
    with pytest.raises(StorageError, match=f"cannot reach the S3 endpoint {endpoint}"):
        storage.check()


def test_errors_name_operation_and_redacted_key(s3_mock: None) -> None:
    token = new_token()
    storage = S3Storage("no-such-bucket", prefix="feeds", region=REGION)
    for call in (
        lambda: storage.put(f"{token}.ics", b"x", **HEADERS),
        lambda: storage.get(f"{token}.ics"),
        lambda: storage.delete(f"{token}.ics"),
    ):
        with pytest.raises(StorageError, match=r"S3 (put|get|delete) of .*NoSuchBucket") as caught:
            call()
        assert token not in str(caught.value)
        assert caught.value.__cause__ is None
    with pytest.raises(StorageError, match="S3 list failed: NoSuchBucket"):
        list(storage.list_keys())


def test_connection_errors_do_not_leak_the_key(aws_credentials: None) -> None:
    # botocore's EndpointConnectionError quotes the request URL, which holds the key.
    token = new_token()
    storage = S3Storage(
        "b", prefix="feeds", client=one_shot_client(f"http://127.0.0.1:{free_port()}")
    )
    with pytest.raises(StorageError, match="S3 put of .* failed: Could not connect") as caught:
        storage.put(f"{token}.ics", b"x", **HEADERS)
    assert token not in str(caught.value)


def test_open_storage_s3_url(aws_credentials: None) -> None:
    storage = open_storage(StorageConfig(url="s3://bucket/some/prefix", region=REGION))
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix) == ("bucket", "some/prefix/")
    storage.close()


def test_end_to_end_over_http(aws_credentials: None, moto_endpoint: str) -> None:
    """What a CDN (or a calendar app) sees when it fetches the object from the store."""
    bucket = "feedgen-e2e"
    admin = boto3.session.Session().client("s3", region_name=REGION, endpoint_url=moto_endpoint)
    admin.create_bucket(Bucket=bucket)
    storage = S3Storage(bucket, prefix="feeds", region=REGION, endpoint_url=moto_endpoint)
    storage.put("tok.ics", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", **HEADERS)

    # Private: an anonymous fetch is refused; the CDN signs its requests, as a presigned URL does.
    anonymous = requests.get(f"{moto_endpoint}/{bucket}/feeds/tok.ics", timeout=5)
    assert anonymous.status_code == 403
    url = storage.client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "feeds/tok.ics"}, ExpiresIn=300
    )
    storage.close()

    response = requests.get(url, headers={"Accept-Encoding": "gzip"}, timeout=5)
    assert response.status_code == 200
    assert response.content == b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"
    assert response.headers["Content-Type"] == ICS_CONTENT_TYPE
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert "Content-Encoding" not in response.headers
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')

    again = requests.get(url, headers={"If-None-Match": etag}, timeout=5)
    assert again.status_code == 304
    assert again.content == b""


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def sent_headers(storage: S3Storage) -> list[dict[str, str]]:
    """The headers of each request the storage's client sends from now on."""
    sent: list[dict[str, str]] = []

    def record(request: Any, **_: Any) -> None:
        sent.append({name.lower(): _text(value) for name, value in request.headers.items()})

    storage.client.meta.events.register("before-send.s3.PutObject", record)
    return sent


def test_aws_s3_keeps_boto3s_default_upload_checksum(s3: S3Storage) -> None:
    sent = sent_headers(s3)
    s3.put("t.ics", b"BEGIN:VCALENDAR", **HEADERS)
    # A CRC32 since boto3 1.36 (an aws-chunked trailer over HTTPS); none before.
    default = "request_checksum_calculation" in Config.OPTION_DEFAULTS
    assert (sent[0].get("x-amz-sdk-checksum-algorithm") == "CRC32") is default


def test_other_stores_get_checksums_only_where_the_api_requires_them(
    aws_credentials: None, moto_endpoint: str
) -> None:
    # boto3's default CRC32 (an aws-chunked trailer over HTTPS) is what Cloudflare R2 refuses.
    bucket = "feedgen-checksums"
    storage = S3Storage(bucket, prefix="feeds", region=REGION, endpoint_url=moto_endpoint)
    storage.client.create_bucket(Bucket=bucket)
    sent = sent_headers(storage)
    storage.put("t.ics", b"BEGIN:VCALENDAR", **HEADERS)
    assert storage.get("t.ics") == b"BEGIN:VCALENDAR"
    storage.close()
    checksums = [name for name in sent[0] if "checksum" in name or name == "x-amz-trailer"]
    assert checksums == []
    assert "aws-chunked" not in sent[0].get("content-encoding", "")

"""Amazon S3 and S3-compatible stores (MinIO, R2, Ceph) through boto3."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

from ...errors import StorageError
from ...tokens import redact
from . import Storage

CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 30
MAX_ATTEMPTS = 5  # standard retry mode: backs off on throttling, 5xx and dropped connections

_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_NO_BUCKET_CODES = {"NoSuchBucket", "404", "NotFound"}
_DENIED_CODES = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled"}


class S3Storage(Storage):
    """Objects in ``bucket`` under ``prefix``; keys passed in and out are relative to the prefix.

    Objects are private (no ACL is sent): the CDN reads them through its own access, the public
    cannot list the bucket. Feeds are stored uncompressed, without Content-Encoding: S3 serves the
    stored bytes whatever the client accepts, so gzip would reach calendar apps that cannot decode
    it; a CDN compresses where the client asks for it.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        region: str | None = None,
        endpoint_url: str | None = None,
        max_connections: int = 10,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        prefix = prefix.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
                max_pool_connections=max_connections,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                read_timeout=READ_TIMEOUT_SECONDS,
                **_compatible_checksums(endpoint_url, Config.OPTION_DEFAULTS),
            )
            # A session of our own: boto3's default session is shared state and not thread-safe;
            # the client made here is, and is shared by every upload thread.
            client = boto3.session.Session().client(
                "s3", region_name=region, endpoint_url=endpoint_url, config=config
            )
        self.client = client

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.prefix + key,
                Body=data,
                ContentType=content_type,
                CacheControl=cache_control,
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._error("put", key, exc) from None

    def get(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            with response["Body"] as body:
                data: bytes = body.read()
            return data
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                return None
            raise self._error("get", key, exc) from None
        except BotoCoreError as exc:
            raise self._error("get", key, exc) from None

    def delete(self, key: str) -> None:
        # S3 answers 204 for a key that is not there, so this is idempotent as it stands.
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except (BotoCoreError, ClientError) as exc:
            raise self._error("delete", key, exc) from None

    def list_keys(self) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", ()):
                    yield item["Key"][len(self.prefix) :]
        except (BotoCoreError, ClientError) as exc:
            raise self._error("list", "", exc) from None

    def check(self) -> None:
        name = f"S3 bucket '{self.bucket}'"
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except NoCredentialsError:
            raise StorageError(
                f"no AWS credentials for {name}; set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE for a profile"
            ) from None
        except EndpointConnectionError:
            endpoint = self.client.meta.endpoint_url
            raise StorageError(
                f"cannot reach the S3 endpoint {endpoint}; check storage.endpoint_url, "
                "storage.region and the network"
            ) from None
        except ClientError as exc:
            code = _code(exc)
            if code in _NO_BUCKET_CODES:
                message = f"{name} does not exist; create it or fix storage.url"
            elif code in _DENIED_CODES:
                # A HEAD response has no body, so a bad key and a missing grant look the same.
                message = (
                    f"access to {name} is denied; check the credentials and grant them "
                    "s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject on it"
                )
            else:
                message = f"{name} cannot be used: {code} {_message(exc)}".rstrip()
            raise StorageError(message) from None
        except BotoCoreError as exc:
            raise StorageError(f"{name} cannot be used: {exc}") from None

    def close(self) -> None:
        self.client.close()

    def _error(self, operation: str, key: str, exc: BotoCoreError | ClientError) -> StorageError:
        """Wrap ``exc`` in a message that names the operation and a redacted key.

        botocore's own messages can hold the full key (EndpointConnectionError quotes the request
        URL), so every form of it is replaced; the original is not chained for the same reason.
        """
        detail = f"{_code(exc)} {_message(exc)}" if isinstance(exc, ClientError) else str(exc)
        if key:
            full = self.prefix + key
            for form in (quote(full, safe="/"), full, quote(key, safe="/"), key):
                detail = detail.replace(form, redact(key))
        target = f" of {redact(key)}" if key else ""
        return StorageError(f"S3 {operation}{target} failed: {detail.strip()}")


def _compatible_checksums(endpoint_url: str | None, known: Any) -> dict[str, str]:
    """Checksums only where the S3 API requires them, for a store other than AWS's.

    boto3 1.36 and later add a CRC32 checksum to every upload by default (over HTTPS as an
    aws-chunked trailer), which S3-compatible stores refuse or mishandle: Cloudflare R2 among
    them, and servers that predate the change. AWS S3 keeps the default; older boto3 sends no
    such checksum and has no such option.
    """
    if endpoint_url is None or "request_checksum_calculation" not in known:
        return {}
    return {
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
    }


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))

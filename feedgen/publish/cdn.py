"""CDN purge: make a rotated or revoked feed disappear from the CDN's cache within one cycle."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import StorageError
from ..tokens import redact

if TYPE_CHECKING:
    from ..config import CdnConfig

# CloudFront allows 3,000 individual (non-wildcard) paths in progress per distribution, so one
# invalidation may carry at most that many.
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/InvalidationLimits.html
MAX_PATHS_PER_INVALIDATION = 3000


class Purger(Protocol):
    def purge(self, keys: Sequence[str]) -> None:
        """Evict ``keys`` (storage keys, relative to the storage prefix) from the CDN's cache."""


class NoopPurger:
    """No CDN configured: nothing is cached in front of the store, so nothing to purge."""

    def purge(self, keys: Sequence[str]) -> None:
        return None


class CloudFrontPurger:
    """Purge through CloudFront invalidations: one path per key, ``<path_prefix><key>``.

    ``path_prefix`` is where the storage keys start in the distribution's URL space: "/" plus the
    storage prefix when the origin is the bucket's root.
    """

    def __init__(self, distribution_id: str, path_prefix: str = "/", client: Any = None) -> None:
        self.distribution_id = distribution_id
        inner = path_prefix.strip("/")
        self.path_prefix = f"/{inner}/" if inner else "/"
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(retries={"mode": "standard", "max_attempts": 5})
            client = boto3.session.Session().client("cloudfront", config=config)
        self.client = client

    def purge(self, keys: Sequence[str]) -> None:
        unique = list(dict.fromkeys(keys))  # a repeated path would count twice against the limit
        for start in range(0, len(unique), MAX_PATHS_PER_INVALIDATION):
            batch = unique[start : start + MAX_PATHS_PER_INVALIDATION]
            paths = [quote(self.path_prefix + key, safe="/") for key in batch]
            try:
                self.client.create_invalidation(
                    DistributionId=self.distribution_id,
                    InvalidationBatch={
                        "Paths": {"Quantity": len(paths), "Items": paths},
                        # Unique per call: CloudFront treats a reused reference as a resubmission.
                        "CallerReference": uuid.uuid4().hex,
                    },
                )
            except (BotoCoreError, ClientError) as exc:
                raise self._error(batch, exc) from None

    def _error(self, batch: list[str], exc: BotoCoreError | ClientError) -> StorageError:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            detail = f"{error.get('Code', '')} {error.get('Message', '')}".strip()
        else:
            detail = str(exc)
        for key in batch:
            detail = detail.replace(key, redact(key))
        shown = ", ".join(redact(key) for key in batch[:3])
        more = f" and {len(batch) - 3} more" if len(batch) > 3 else ""
        return StorageError(
            f"CloudFront invalidation of {shown}{more} on distribution {self.distribution_id} "
            f"failed: {detail}"
        )


def open_purger(cdn_config: CdnConfig, storage_prefix: str) -> Purger:
    """Return the purger ``cdn_config`` asks for; keys are purged under ``/<storage_prefix>``."""
    if cdn_config.cloudfront_distribution_id:
        return CloudFrontPurger(cdn_config.cloudfront_distribution_id, path_prefix=storage_prefix)
    return NoopPurger()

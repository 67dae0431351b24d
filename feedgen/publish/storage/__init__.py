"""Storage backends, chosen by the scheme of ``storage.url``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import ICS_CONTENT_TYPE, Storage

if TYPE_CHECKING:
    from ...config import StorageConfig

__all__ = ["ICS_CONTENT_TYPE", "Storage", "open_storage"]


def open_storage(config: StorageConfig) -> Storage:
    """Return the backend that ``config.url`` names: file://, s3:// or memory://."""
    scheme, _, rest = config.url.partition("://")
    if scheme == "file":
        from .local import LocalStorage

        return LocalStorage(rest)
    if scheme == "s3":
        from .s3 import S3Storage

        bucket, _, prefix = rest.partition("/")
        return S3Storage(
            bucket,
            prefix=prefix,
            region=config.region,
            endpoint_url=config.endpoint_url,
            max_connections=max(10, config.upload_workers * 2),
        )
    if scheme == "memory":
        from .memory import MemoryStorage

        return MemoryStorage()
    raise ValueError(f"unknown storage scheme {scheme!r}")  # config validation prevents this

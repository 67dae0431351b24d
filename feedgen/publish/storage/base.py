"""The storage interface: where rendered feeds are put. Mechanism only; policy lives in publish."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from types import TracebackType

ICS_CONTENT_TYPE = "text/calendar; charset=utf-8"


class Storage(ABC):
    """A flat namespace of objects addressed by key, relative to the backend's own prefix.

    Implementations are thread-safe: publish calls ``put`` and ``delete`` from a thread pool.
    """

    @abstractmethod
    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str) -> None:
        """Store ``data`` under ``key``, replacing it; a reader sees the old or the new, whole."""

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """Return the object's bytes, or None when there is none."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; removing one that is not there is not an error."""

    @abstractmethod
    def list_keys(self) -> Iterator[str]:
        """Yield every key under this backend's prefix, relative to it."""

    def check(self) -> None:
        """Raise StorageError when the store cannot be used (no such bucket, no permission)."""

    def close(self) -> None:
        """Release connections and files."""

    def __enter__(self) -> Storage:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

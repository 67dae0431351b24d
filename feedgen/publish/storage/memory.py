"""An in-memory store: the test double, and ``memory://`` for trying feedgen without a bucket."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ...errors import StorageError
from ...tokens import redact
from . import Storage


@dataclass(frozen=True)
class StoredObject:
    """One object as a real store would keep it: the bytes and the headers it is served with."""

    data: bytes
    content_type: str
    cache_control: str


class MemoryStorage(Storage):
    """A dict behind a lock, with counters and failure injection for tests.

    ``put_count`` and ``delete_count`` count calls (a delete of a missing key counts too), so a
    test can assert that an unchanged feed was not uploaded again. Keys in ``failing_keys`` make
    ``put`` and ``delete`` raise StorageError, as a refused upload would.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, StoredObject] = {}
        self.put_count = 0
        self.delete_count = 0
        self.failing_keys: set[str] = set()

    @property
    def objects(self) -> Mapping[str, StoredObject]:
        """A read-only snapshot of every stored object, by key."""
        with self._lock:
            return MappingProxyType(dict(self._objects))

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str) -> None:
        with self._lock:
            self.put_count += 1
            self._fail_if_asked("put", key)
            self._objects[key] = StoredObject(bytes(data), content_type, cache_control)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            stored = self._objects.get(key)
        return None if stored is None else stored.data

    def delete(self, key: str) -> None:
        with self._lock:
            self.delete_count += 1
            self._fail_if_asked("delete", key)
            self._objects.pop(key, None)

    def list_keys(self) -> Iterator[str]:
        # A snapshot: callers may delete while iterating, as reconcile does.
        with self._lock:
            keys = sorted(self._objects)
        yield from keys

    def _fail_if_asked(self, operation: str, key: str) -> None:
        if key in self.failing_keys:
            raise StorageError(f"memory {operation} of {redact(key)} failed (injected by a test)")

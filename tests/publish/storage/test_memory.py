from __future__ import annotations

import pytest

from feedgen.config import StorageConfig
from feedgen.errors import StorageError
from feedgen.publish.storage import open_storage
from feedgen.publish.storage.memory import MemoryStorage, StoredObject

HEADERS = {"content_type": "text/calendar; charset=utf-8", "cache_control": "max-age=60"}


def test_objects_keep_headers() -> None:
    storage = MemoryStorage()
    storage.put("t.ics", b"x", **HEADERS)
    assert storage.objects == {"t.ics": StoredObject(b"x", **HEADERS)}


def test_objects_is_a_read_only_snapshot() -> None:
    storage = MemoryStorage()
    storage.put("t.ics", b"x", **HEADERS)
    snapshot = storage.objects
    with pytest.raises(TypeError):
        snapshot["u.ics"] = StoredObject(b"y", **HEADERS)  # type: ignore[index]
    storage.delete("t.ics")
    assert "t.ics" in snapshot
    assert storage.objects == {}


def test_counts_calls() -> None:
    storage = MemoryStorage()
    storage.put("t.ics", b"x", **HEADERS)
    storage.put("t.ics", b"x", **HEADERS)
    storage.delete("t.ics")
    storage.delete("missing.ics")
    assert (storage.put_count, storage.delete_count) == (2, 2)


def test_failing_keys_raise_storage_error_with_a_redacted_key() -> None:
    storage = MemoryStorage()
    storage.failing_keys.add("secrettoken.ics")
    with pytest.raises(StorageError) as caught:
        storage.put("secrettoken.ics", b"x", **HEADERS)
    assert "secrettoken" not in str(caught.value)
    storage.put("other.ics", b"x", **HEADERS)  # other keys are unaffected
    assert list(storage.list_keys()) == ["other.ics"]


def test_list_keys_tolerates_deletes_while_iterating() -> None:
    storage = MemoryStorage()
    for key in ("a.ics", "b.ics", "c.ics"):
        storage.put(key, b"x", **HEADERS)
    for key in storage.list_keys():
        storage.delete(key)
    assert storage.objects == {}


def test_open_storage_memory_url() -> None:
    assert isinstance(open_storage(StorageConfig(url="memory://")), MemoryStorage)

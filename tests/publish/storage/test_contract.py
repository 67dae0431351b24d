"""Behaviour every backend shares; the ``storage`` fixture runs each test on each backend."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from feedgen.publish.storage import ICS_CONTENT_TYPE, Storage

HEADERS = {"content_type": ICS_CONTENT_TYPE, "cache_control": "public, max-age=3600"}


def test_get_returns_what_was_put(storage: Storage) -> None:
    storage.put("tok1.ics", b"BEGIN:VCALENDAR\r\n", **HEADERS)
    assert storage.get("tok1.ics") == b"BEGIN:VCALENDAR\r\n"


def test_get_missing_returns_none(storage: Storage) -> None:
    assert storage.get("nothing-here.ics") is None


def test_put_replaces(storage: Storage) -> None:
    storage.put("tok1.ics", b"old", **HEADERS)
    storage.put("tok1.ics", b"new and longer", **HEADERS)
    assert storage.get("tok1.ics") == b"new and longer"
    assert list(storage.list_keys()) == ["tok1.ics"]


def test_empty_object(storage: Storage) -> None:
    storage.put("empty.ics", b"", **HEADERS)
    assert storage.get("empty.ics") == b""


def test_delete_is_idempotent(storage: Storage) -> None:
    storage.put("tok1.ics", b"x", **HEADERS)
    storage.delete("tok1.ics")
    storage.delete("tok1.ics")
    storage.delete("never-existed.ics")
    assert storage.get("tok1.ics") is None
    assert list(storage.list_keys()) == []


def test_list_keys_is_relative_with_slashes(storage: Storage) -> None:
    assert list(storage.list_keys()) == []
    for key in ("b.ics", "sub/a.ics", "sub/deeper/c.ics", "a.ics"):
        storage.put(key, key.encode(), **HEADERS)
    assert sorted(storage.list_keys()) == ["a.ics", "b.ics", "sub/a.ics", "sub/deeper/c.ics"]
    assert storage.get("sub/deeper/c.ics") == b"sub/deeper/c.ics"


def test_keys_are_case_sensitive_and_keep_token_characters(storage: Storage) -> None:
    storage.put("Ab-_9.ics", b"upper", **HEADERS)
    storage.put("ab-_9.ics", b"lower", **HEADERS)
    assert storage.get("Ab-_9.ics") == b"upper"
    assert storage.get("ab-_9.ics") == b"lower"


def test_concurrent_puts_from_a_thread_pool(storage: Storage) -> None:
    keys = [f"t{i:03}.ics" for i in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: storage.put(key, key.encode(), **HEADERS), keys))
    assert sorted(storage.list_keys()) == keys
    assert all(storage.get(key) == key.encode() for key in keys)


def test_check_passes_on_a_usable_store(storage: Storage) -> None:
    storage.check()
    assert list(storage.list_keys()) == []  # check leaves nothing behind

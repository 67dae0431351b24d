from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from feedgen.errors import StorageError
from feedgen.publish.storage.local import TMP_SUFFIX, LocalStorage
from feedgen.tokens import new_token

HEADERS = {"content_type": "text/calendar; charset=utf-8", "cache_control": "max-age=60"}


def test_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    versions = [b"A" * 1_500_000, b"B" * 700_000]
    storage.put("big.ics", versions[0], **HEADERS)
    done = threading.Event()
    reads: list[bytes | None] = []

    def write() -> None:
        try:
            for i in range(40):
                storage.put("big.ics", versions[i % 2], **HEADERS)
        finally:
            done.set()

    def read() -> None:
        while not done.is_set():
            reads.append(storage.get("big.ics"))

    threads = [threading.Thread(target=read), threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(reads) > 5  # the reader really raced the writer
    torn = [len(data or b"") for data in reads if data not in versions]
    assert torn == []
    assert list(storage.list_keys()) == ["big.ics"]


def test_concurrent_writers_to_one_key_leave_one_whole_version(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    payloads = [bytes([65 + i]) * 100_000 for i in range(8)]
    threads = [
        threading.Thread(target=storage.put, args=("same.ics", payload), kwargs=HEADERS)
        for payload in payloads
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert storage.get("same.ics") in payloads
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.ics"]  # no temp files left


@pytest.mark.parametrize(
    "key", ["../x.ics", "a/../../x.ics", "/etc/passwd", "", "a//b.ics", "./a.ics", "sub/", "a\\b"]
)
def test_rejects_keys_that_could_escape_the_root(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "feeds")
    with pytest.raises(ValueError, match="invalid storage key"):
        storage.put(key, b"x", **HEADERS)
    with pytest.raises(ValueError):
        storage.get(key)
    with pytest.raises(ValueError):
        storage.delete(key)
    assert list(tmp_path.iterdir()) == []


def test_dots_inside_a_name_are_fine(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put("a..b.ics", b"x", **HEADERS)
    assert storage.get("a..b.ics") == b"x"


def test_relative_root_is_fixed_at_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    storage = LocalStorage("var/feeds")
    monkeypatch.chdir("/")
    storage.put("t.ics", b"x", **HEADERS)
    assert (tmp_path / "var" / "feeds" / "t.ics").read_bytes() == b"x"


def test_headers_are_not_stored_and_no_sidecar_is_written(tmp_path: Path) -> None:
    LocalStorage(tmp_path).put("t.ics", b"x", **HEADERS)
    assert [p.name for p in tmp_path.iterdir()] == ["t.ics"]


def test_new_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        LocalStorage(tmp_path).put("t.ics", b"x", **HEADERS)
    finally:
        os.umask(old)
    assert (tmp_path / "t.ics").stat().st_mode & 0o777 == 0o644  # readable by a web server


def test_list_keys_skips_leftover_temp_files(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put("sub/t.ics", b"x", **HEADERS)
    (tmp_path / "sub" / f".t.ics.0123{TMP_SUFFIX}").write_bytes(b"half")  # a crash mid-put
    assert list(storage.list_keys()) == ["sub/t.ics"]


def test_missing_root_is_empty_and_created_by_put_and_check(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "a" / "b")
    assert list(storage.list_keys()) == []
    assert storage.get("t.ics") is None
    storage.delete("t.ics")
    storage.check()
    assert (tmp_path / "a" / "b").is_dir()


def test_check_reports_a_root_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    storage = LocalStorage(tmp_path / "file" / "feeds")
    with pytest.raises(StorageError, match=r"cannot be created or written.*storage\.url"):
        storage.check()


def test_errors_name_the_operation_but_not_the_token(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    storage = LocalStorage(tmp_path / "file")
    token = new_token()
    with pytest.raises(StorageError, match="local put of") as caught:
        storage.put(f"{token}.ics", b"x", **HEADERS)
    assert token not in str(caught.value)
    assert caught.value.__cause__ is None

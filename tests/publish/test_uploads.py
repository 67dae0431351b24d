"""Publisher: background uploads under a bounded in-flight budget."""

from __future__ import annotations

import threading

import pytest

from feedgen.publish.storage.memory import MemoryStorage
from feedgen.publish.uploads import Publisher, Upload

FEED = b"BEGIN:VCALENDAR\r\n" + b"X" * 1000 + b"END:VCALENDAR\r\n"


def test_an_upload_the_pool_refuses_frees_its_share_of_the_budget() -> None:
    publisher = Publisher(MemoryStorage(), "max-age=60", 2, max_inflight_bytes=len(FEED))
    publisher._pool.shutdown()  # as at interpreter exit: the pool takes no more work
    with pytest.raises(RuntimeError):
        publisher.submit(Upload(1, "a.ics", FEED))
    outcome: list[BaseException] = []

    def submit_again() -> None:
        try:
            publisher.submit(Upload(2, "b.ics", FEED))
        except BaseException as exc:
            outcome.append(exc)

    # Without the fix this second submit waits for ever for the budget of the first.
    second = threading.Thread(target=submit_again, daemon=True)
    second.start()
    second.join(timeout=10)
    assert not second.is_alive()
    assert isinstance(outcome[0], RuntimeError)


def test_uploads_land_and_are_counted() -> None:
    storage = MemoryStorage()
    publisher = Publisher(storage, "max-age=60", 2, max_inflight_bytes=len(FEED))
    for feed_id in range(5):
        publisher.submit(Upload(feed_id, f"{feed_id}.ics", FEED))
    assert publisher.wait() == {}
    publisher.close()
    assert publisher.uploaded == 5 and storage.get("4.ics") == FEED

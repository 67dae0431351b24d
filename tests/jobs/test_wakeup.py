"""Wake-ups: a notification runs the cycle at once, a burst of them one cycle; on PostgreSQL the
CRM's triggers wake a real worker, whose listener comes back after losing its connection."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
import sqlalchemy as sa

from feedgen.config import WorkerConfig
from jobs import wakeup
from jobs.schedule import make_scheduler
from jobs.wakeup import APPLICATION_NAME, Waker
from tests.conftest import PgDatabase
from tests.support.deployment import DEMO, Deployment

LONG = 3600  # seconds between scheduled cycles: only a wake-up can run a second one in a test


class Cycles:
    """The worker's jobs, counting cycles; ``hold`` keeps a cycle running until released."""

    def __init__(self) -> None:
        self.started = 0
        self.finished = 0
        self.hold = threading.Event()
        self.hold.set()

    def cycle(self) -> None:
        self.started += 1
        self.hold.wait(10)
        self.finished += 1

    def reconcile(self) -> None:
        pass


def wait_until(condition: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def woken() -> Iterator[tuple[Cycles, Waker]]:
    """A running schedule whose first cycle is over, and the Waker of its cycle job."""
    cycles = Cycles()
    scheduler = make_scheduler(cycles, WorkerConfig(cycle_seconds=LONG))  # type: ignore[arg-type]
    waker = Waker(scheduler)
    scheduler.start()
    assert wait_until(lambda: cycles.finished == 1)
    yield cycles, waker
    cycles.hold.set()
    scheduler.shutdown(wait=True)


def test_a_notification_runs_the_cycle_at_once(woken: tuple[Cycles, Waker]) -> None:
    cycles, waker = woken
    notified = time.monotonic()
    waker.notify()
    assert wait_until(lambda: cycles.finished == 2, timeout=2)
    assert time.monotonic() - notified < 1.0  # the debounce, not the hour's interval


def test_a_burst_of_notifications_is_one_cycle(woken: tuple[Cycles, Waker]) -> None:
    cycles, waker = woken
    for _ in range(100):
        waker.notify()
    assert wait_until(lambda: cycles.finished == 2)
    time.sleep(0.5)
    assert cycles.started == 2


def test_notifications_during_a_cycle_make_one_follow_up_cycle(
    woken: tuple[Cycles, Waker],
) -> None:
    cycles, waker = woken
    cycles.hold.clear()
    waker.notify()
    assert wait_until(lambda: cycles.started == 2)
    for _ in range(50):  # saves committed while the cycle runs: it may have read before them
        waker.notify()
    cycles.hold.set()
    assert wait_until(lambda: cycles.finished == 3)
    time.sleep(0.5)
    assert cycles.started == 3


class Unreachable:
    """An engine whose database refuses every connection, counting the attempts."""

    def __init__(self) -> None:
        self.attempts = 0

    def raw_connection(self) -> None:
        self.attempts += 1
        raise sa.exc.OperationalError("connect", {}, Exception("connection refused"))


def test_an_outage_is_one_warning_line_however_many_attempts_fail(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(wakeup, "RETRY_SECONDS", (0.01,))
    engine = Unreachable()
    listener = wakeup.Listener(engine, lambda: None)  # type: ignore[arg-type]
    listener.start()
    assert wait_until(lambda: engine.attempts >= 5)
    listener.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "not listening for NOTIFY feedgen: database error: connection refused "
        "(trying again; cycles still come every interval)"
    ]


# --- a real worker on PostgreSQL -------------------------------------------------------------


class Crm:
    """The demo CRM of a deployment, edited as the CRM's application would edit it."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.engine = deployment.engine
        self.folder = Path(deployment.config.storage.url.removeprefix("file://"))

    def install_triggers(self) -> None:
        sql = resources.files("feedgen.crm").joinpath("notify.sql").read_text(encoding="utf-8")
        with self.engine.begin() as conn:
            conn.exec_driver_sql(sql)
            conn.exec_driver_sql(sql)  # a second run replaces, as the file says

    def shown_activities(self, count: int) -> list[tuple[int, Path]]:
        """Activities shown in their owner's published feed, with that feed's file."""
        query = sa.text(
            "SELECT a.id, b.object_key FROM activities a"
            " JOIN feedgen_feeds f ON f.subject_kind = 'user' AND f.subject_id = a.owner_id"
            " JOIN feedgen_builds b ON b.feed_id = f.id"
            " WHERE a.deleted_at IS NULL AND f.revoked_at IS NULL ORDER BY a.id"
        )
        found = []
        with self.engine.connect() as conn:
            for activity_id, key in conn.execute(query):
                path = self.folder / key
                if f"activity-{activity_id}@".encode() in path.read_bytes():
                    found.append((activity_id, path))
                if len(found) == count:
                    break
        return found

    def retitle(self, *titles: tuple[int, str]) -> None:
        """Save each new title in a transaction of its own, as a CRM's import would."""
        statement = sa.text(
            "UPDATE activities SET title = :title,"
            " updated_at = now() AT TIME ZONE 'UTC' WHERE id = :id"
        )
        with self.engine.connect() as conn:
            for activity_id, title in titles:
                conn.execute(statement, {"title": title, "id": activity_id})
                conn.commit()

    def seconds_until_shown(self, path: Path, text: str, timeout: float = 10) -> float:
        started = time.monotonic()
        assert wait_until(lambda: text.encode() in path.read_bytes(), timeout), (
            f"{text!r} not published within {timeout} s"
        )
        return time.monotonic() - started


@pytest.fixture
def listening(pg_database: PgDatabase, tmp_path: Path) -> Iterator[tuple[Crm, Deployment]]:
    """A worker listening for the CRM's notifications, its first cycle done; cycles hourly."""
    deployment = Deployment(
        tmp_path,
        pg_database.url,
        f"file://{tmp_path / 'feeds'}",
        worker={"cycle_seconds": LONG, "listen": "true"},
    )
    for command in (["demo", *DEMO], ["build"]):
        result = deployment.feedgen(*command)
        assert result.returncode == 0, result.stderr
    crm = Crm(deployment)
    crm.install_triggers()
    try:  # the worker is stopped even when it never gets ready
        worker = deployment.start_worker()
        worker.wait_for_line("cycle: ")
        worker.wait_for_line("listening for NOTIFY feedgen")
        yield crm, deployment
    finally:
        deployment.close()


def cycles_logged(deployment: Deployment) -> int:
    return deployment.processes[0].log.count(" cycle: ")


@pytest.mark.postgres
def test_a_saved_activity_is_published_within_two_seconds(
    listening: tuple[Crm, Deployment],
) -> None:
    crm, _deployment = listening
    [(activity_id, feed)] = crm.shown_activities(1)
    crm.retitle((activity_id, "Viewing moved to 5 Harbour Lane"))
    assert crm.seconds_until_shown(feed, "Viewing moved to 5 Harbour Lane") < 2.0


@pytest.mark.postgres
def test_a_burst_of_saves_is_one_or_two_cycles_and_the_last_save_is_published(
    listening: tuple[Crm, Deployment],
) -> None:
    crm, deployment = listening
    before = cycles_logged(deployment)
    shown = crm.shown_activities(100)
    crm.retitle(*[(id, f"Call back after batch import {n}") for n, (id, _) in enumerate(shown)])
    _last_id, last_feed = shown[-1]
    crm.seconds_until_shown(last_feed, f"Call back after batch import {len(shown) - 1}", timeout=5)
    time.sleep(1.0)  # a follow-up cycle, if any, has been logged
    assert 1 <= cycles_logged(deployment) - before <= 2


@pytest.mark.postgres
def test_the_listener_comes_back_after_its_connection_is_terminated(
    listening: tuple[Crm, Deployment],
) -> None:
    crm, deployment = listening
    with crm.engine.connect() as conn:
        terminated = conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = :name AND datname = current_database()"
            ),
            {"name": APPLICATION_NAME},
        ).scalars()
        assert list(terminated) == [True]
    worker = deployment.processes[0]
    worker.wait_for_line("listening for NOTIFY feedgen again", timeout=10)
    assert worker.log.count("not listening for NOTIFY feedgen") == 1
    [(activity_id, feed)] = crm.shown_activities(1)
    crm.retitle((activity_id, "Meeting after the reconnect"))
    assert crm.seconds_until_shown(feed, "Meeting after the reconnect") < 2.0


@pytest.mark.postgres
def test_a_listening_worker_stops_on_sigterm_as_promptly_as_any(
    listening: tuple[Crm, Deployment],
) -> None:
    _crm, deployment = listening
    code, seconds = deployment.processes[0].stopped_within(signal.SIGTERM, timeout=10)
    assert code == 0
    assert seconds < 3.0  # the listener looks at its stop flag every second

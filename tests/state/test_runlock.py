"""Run locks on SQLite: one worker per database, one job at a time, none left by a dead process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from feedgen.errors import Busy
from feedgen.state.runlock import RunLock


@pytest.fixture
def lock(tmp_path: Path) -> RunLock:
    found = RunLock.for_url(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    assert found is not None
    return found


@pytest.mark.parametrize(
    "url", ["postgresql://feedgen@db.internal/crm", "sqlite://", "sqlite:///:memory:"]
)
def test_only_a_sqlite_file_has_run_locks(url: str) -> None:
    assert RunLock.for_url(url) is None


def test_the_lock_files_lie_beside_the_database(lock: RunLock, tmp_path: Path) -> None:
    assert lock.worker_path == tmp_path / "crm.sqlite.feedgen-worker.lock"
    assert lock.job_path == tmp_path / "crm.sqlite.feedgen-job.lock"


def test_a_second_worker_is_refused_naming_the_first(lock: RunLock) -> None:
    with lock.worker(), pytest.raises(Busy) as raised, lock.worker():
        pass
    message = str(raised.value)
    assert message.startswith(f"a worker (pid {os.getpid()} on ")
    assert "run one worker per SQLite database (several workers need PostgreSQL)" in message


def test_a_worker_can_start_once_the_first_has_stopped(lock: RunLock) -> None:
    with lock.worker():
        pass
    with lock.worker():
        pass


def test_a_job_waits_for_the_running_one(lock: RunLock) -> None:
    heard: list[str] = []
    running = threading.Event()
    done = threading.Event()

    def worker_cycle() -> None:
        with lock.job("the worker's cycle"):
            running.set()
            done.wait(10)

    thread = threading.Thread(target=worker_cycle)
    thread.start()
    running.wait(10)

    def waiting(holder: str) -> None:
        heard.append(holder)
        done.set()  # the cycle ends while the command waits

    with lock.job("`feedgen build`", wait=30, waiting=waiting):
        assert heard and heard[0].startswith("the worker's cycle (pid ")
    thread.join()


def test_a_job_still_running_after_the_wait_is_named(lock: RunLock) -> None:
    busy = pytest.raises(Busy)
    with lock.job("the worker's reconcile"), busy as raised, lock.job("`feedgen cycle`", wait=0.3):
        pass
    message = str(raised.value)
    assert message.startswith("the worker's reconcile (pid ")
    assert message.endswith("holds this SQLite database after 0.3 s; run this again later")


def test_a_stop_ends_the_wait(lock: RunLock) -> None:
    stop = threading.Event()
    stop.set()
    busy = pytest.raises(Busy, match="holds this SQLite database; stopped while waiting$")
    with lock.job("the worker's cycle"), busy, lock.job("x", wait=3600, stop=stop):
        pass


def test_a_killed_holder_leaves_no_lock(lock: RunLock) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path\n"
            "from feedgen.state.runlock import RunLock\n"
            f"lock = RunLock(Path({str(lock.job_path.with_name('crm.sqlite'))!r}))\n"
            "with lock.job('a doomed job'):\n"
            "    print('held', flush=True); time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    with pytest.raises(Busy, match="a doomed job"), lock.job("`feedgen cycle`"):
        pass
    holder.kill()
    holder.wait()
    holder.stdout.close()
    with lock.job("`feedgen cycle`"):
        pass

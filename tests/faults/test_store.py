"""A store that stalls, against a real worker: uploads wait and finish when it comes back; a stop
that cannot finish its batch ends the process at once after a second signal or after
worker.stop_seconds, and the next cycle repairs."""

from __future__ import annotations

import re
import signal
import time

import pytest

from tests.faults.conftest import MakeDeployment
from tests.support.deployment import TGKILL, Deployment, Process
from tests.support.gate import Gate

pytestmark = pytest.mark.slow
needs_tgkill = pytest.mark.skipif(
    TGKILL is None, reason="tgkill's number is known on Linux x86_64, aarch64"
)


def test_uploads_wait_out_a_stalled_store(make_sqlite: MakeDeployment, gate: Gate) -> None:
    deployment = make_sqlite(s3=True, new=True)
    gate.close()
    worker = deployment.start_worker()
    gate.wait_held()
    time.sleep(3)
    gate.open()
    worker.wait_for_line("INFO feedgen.worker: cycle: ", timeout=120)
    line = re.search(r"INFO feedgen\.worker: cycle: .*", worker.log)
    assert line and ", 0 failed," in line[0]
    assert float(line[0].rpartition(" in ")[2].rstrip("s")) >= 3  # it waited out the stall
    assert worker.stopped_within(signal.SIGTERM, timeout=30)[0] == 0
    assert deployment.differences() == []


def stopping_worker(make_sqlite: MakeDeployment, gate: Gate) -> tuple[Deployment, Process]:
    """A worker that got SIGTERM while its batch's uploads wait at the closed gate."""
    deployment = make_sqlite(s3=True, new=True)
    gate.close()
    worker = deployment.start_worker()
    gate.wait_held()
    worker.signal(signal.SIGTERM)
    worker.wait_for_line("SIGTERM: stopping after the batch in hand")
    return deployment, worker


def test_a_second_signal_ends_a_stop_that_waits_for_a_stalled_store(
    make_sqlite: MakeDeployment, gate: Gate
) -> None:
    deployment, worker = stopping_worker(make_sqlite, gate)
    code, seconds = worker.stopped_within(signal.SIGTERM, timeout=30)
    assert code == 128 + signal.SIGTERM and seconds < 10, worker.log
    assert "second signal (SIGTERM): exiting at once with 143" in worker.log
    gate.open()
    assert deployment.feedgen("cycle").returncode == 0
    assert deployment.differences() == []


@needs_tgkill
def test_a_second_signal_on_another_thread_ends_the_stop_at_once(
    make_sqlite: MakeDeployment, gate: Gate
) -> None:
    _, worker = stopping_worker(make_sqlite, gate)
    sent = time.monotonic()
    worker.signal_other_thread(signal.SIGTERM)
    code = worker.process.wait(timeout=30)
    assert code == 128 + signal.SIGTERM and time.monotonic() - sent < 10, worker.log
    assert "second signal (SIGTERM): exiting at once with 143" in worker.log


@needs_tgkill
def test_a_signal_on_another_thread_stops_a_build_that_waits_for_a_stalled_store(
    make_sqlite: MakeDeployment, gate: Gate
) -> None:
    deployment = make_sqlite(s3=True, new=True, stop_seconds=2)
    gate.close()
    build = deployment.start("build", name="build")
    gate.wait_held()
    time.sleep(1)  # the main thread goes on to wait for the uploads; the signal comes then
    sent = time.monotonic()
    build.signal_other_thread(signal.SIGTERM)
    code = build.process.wait(timeout=30)
    assert code == 128 + signal.SIGTERM and time.monotonic() - sent < 10, build.log
    assert "the stop took longer than 2 s: exiting at once with 143" in build.log


def test_a_stop_longer_than_stop_seconds_ends_at_once(
    make_sqlite: MakeDeployment, gate: Gate
) -> None:
    deployment = make_sqlite(s3=True, new=True, stop_seconds=2)
    gate.close()
    worker = deployment.start_worker()
    gate.wait_held()
    code, seconds = worker.stopped_within(signal.SIGINT, timeout=30)
    assert code == 128 + signal.SIGINT and 2 <= seconds < 10, worker.log
    assert "the stop took longer than 2 s: exiting at once with 130" in worker.log
    gate.open()
    assert deployment.feedgen("cycle").returncode == 0
    assert deployment.differences() == []
